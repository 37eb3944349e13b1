"""Writing a GeoPackage for QGIS: typed layers, descriptions and default styles, all or nothing.

Layers go to GDAL through its Arrow interface (``pyogrio.raw.write_arrow``): each numpy column
becomes an Arrow array by its buffers (``nanoarrow``, a few MB, no pandas, no pyarrow), and GDAL
writes the whole batch in C++. pyogrio's row writer converts every date through a Python
object, which made 100,000 projects twice as slow as ``ogr2ogr``; this way the export keeps
pace with it (``bench/bench_export.py``). The numpy types choose the GeoPackage field types:
``int64`` → INTEGER (Integer64), ``int32`` → MEDIUMINT (Integer), ``float64`` → REAL,
``datetime64[D]`` → DATE, other ``datetime64`` → DATETIME (UTC), ``bool`` → BOOLEAN, objects
→ TEXT; NaN, NaT, None and the entries a column's ``null`` marks are NULL.

Each layer's description and identifier go to ``gpkg_contents``; its QGIS style (QML) to the
``layer_styles`` table that QGIS itself writes and reads, marked as the default, so QGIS opens
the layer styled. The file is written under a temporary name beside the target and moved into
place when complete: a reader never sees half a GeoPackage, and a failed export leaves the
previous file alone.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import nanoarrow as na
import numpy as np
import numpy.typing as npt
from pyogrio.raw import write, write_arrow

# The oldest GeoPackage version with everything used here: every GDAL since 2.2 (QGIS 3.0)
# reads it without the "only partially supported" warning newer versions give older readers.
GPKG_VERSION = "1.2"
GEOMETRY_COLUMN = "geom"  # GDAL's default for GeoPackage
STYLES_TABLE = "layer_styles"

# The geometry families a layer can hold, each written as its Multi type (one type per
# layer keeps QGIS and the GeoPackage specification happy), with the WKB type codes they take.
FAMILY_TYPES = {"points": "MultiPoint", "lines": "MultiLineString", "polygons": "MultiPolygon"}
_FAMILY_CODES = {"points": (1, 4), "lines": (2, 5), "polygons": (3, 6)}


@dataclass(frozen=True)
class Column:
    """One attribute column; ``null`` marks missing values where the dtype has no NaN/NaT."""

    name: str
    values: npt.NDArray[np.generic]
    null: npt.NDArray[np.bool_] | None = None


@dataclass(frozen=True)
class Layer:
    """A feature layer: WKB geometries of one family (storage CRS) and their columns.

    ``fid`` sets the GeoPackage feature ids (a project's id, so "Maßnahme 42" is feature 42
    in QGIS too); None numbers the features from 1.
    """

    name: str
    family: str
    wkb: npt.NDArray[np.object_]
    columns: Sequence[Column]
    identifier: str
    description: str
    style: str | None = None
    fid: npt.NDArray[np.int64] | None = None

    def __len__(self) -> int:
        return len(self.wkb)


@dataclass
class GeoPackage:
    """Write layers into a new GeoPackage at ``target``; complete on leaving the ``with``.

    >>> with GeoPackage(Path("export.gpkg"), crs="EPSG:25832") as gpkg:  # doctest: +SKIP
    ...     gpkg.add(layer)
    """

    target: Path
    crs: str
    written: dict[str, int] = field(default_factory=dict)
    _styles: list[tuple[str, str, str]] = field(default_factory=list)
    _part: Path | None = None

    def __enter__(self) -> GeoPackage:
        # Beside the target (so the final rename stays on one file system), ending in
        # .gpkg (GDAL warns about any other extension), hidden from a casual listing.
        self._part = self.target.with_name(f".{self.target.stem}.{secrets.token_hex(4)}.part.gpkg")
        return self

    def add(self, layer: Layer) -> None:
        """Write one layer (its style is written with the others at the end)."""
        assert self._part is not None, "use GeoPackage in a with statement"
        first = not self._part.exists()
        columns = list(layer.columns)
        if layer.fid is not None:
            # GDAL takes a column named like the FID column as the feature ids.
            columns.insert(0, Column("fid", layer.fid))
        columns.append(Column(GEOMETRY_COLUMN, as_multi(layer.wkb)))
        write_arrow(
            _arrow_stream(columns, len(layer)),
            str(self._part),
            layer=layer.name,
            driver="GPKG",
            geometry_name=GEOMETRY_COLUMN,
            geometry_type=FAMILY_TYPES[layer.family],
            crs=self.crs,
            dataset_options={"VERSION": GPKG_VERSION} if first else None,
            layer_options={
                "IDENTIFIER": layer.identifier,
                "DESCRIPTION": layer.description,
                "SPATIAL_INDEX": "YES",
            },
        )
        self.written[layer.name] = len(layer)
        if layer.style is not None:
            self._styles.append((layer.name, layer.style, layer.description))

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._part is not None
        try:
            if kind is None:
                if self._styles:
                    self._write_styles()
                os.replace(self._part, self.target)
        finally:
            self._part.unlink(missing_ok=True)

    def _write_styles(self) -> None:
        """The ``layer_styles`` table as QGIS creates it (``QgsOgrProviderUtils``), one
        default style per layer."""
        assert self._part is not None
        count = len(self._styles)
        now = np.datetime64(datetime.now(UTC).replace(tzinfo=None), "ms")

        def text(values: Sequence[str]) -> npt.NDArray[np.object_]:
            return np.array(list(values), dtype=object)

        columns = {
            "f_table_catalog": text([""] * count),
            "f_table_schema": text([""] * count),
            "f_table_name": text([name for name, _, _ in self._styles]),
            "f_geometry_column": text([GEOMETRY_COLUMN] * count),
            "styleName": text([name for name, _, _ in self._styles]),
            "styleQML": text([qml for _, qml, _ in self._styles]),
            "styleSLD": text([""] * count),
            "useAsDefault": np.ones(count, dtype=bool),
            "description": text([description for _, _, description in self._styles]),
            "owner": text(["zugabe"] * count),
            "ui": text([""] * count),
            "update_time": np.full(count, now),
        }
        write(
            str(self._part),
            None,
            list(columns.values()),
            list(columns),
            layer=STYLES_TABLE,
            driver="GPKG",
            layer_options={"FID": "id", "DESCRIPTION": "QGIS layer styles"},
        )


def wkb_types(wkb: npt.NDArray[np.object_]) -> npt.NDArray[np.int64]:
    """The geometry type code of each WKB (1 Point ... 6 MultiPolygon; ISO Z/M add 1000s),
    read from its five header bytes without parsing the geometry."""
    if not len(wkb):
        return np.zeros(0, dtype=np.int64)
    heads = np.frombuffer(b"".join(w[:5] for w in wkb.tolist()), dtype=np.uint8).reshape(-1, 5)
    codes = np.ascontiguousarray(heads[:, 1:5])
    little = codes.view("<u4").ravel().astype(np.int64)
    big = codes.view(">u4").ravel().astype(np.int64)
    return np.where(heads[:, 0] == 1, little, big) & 0xFFFF  # EWKB keeps its flags higher up


def geometry_families(wkb: npt.NDArray[np.object_]) -> npt.NDArray[np.str_]:
    """The family (points, lines, polygons) of each WKB geometry; '' for anything else.

    Read from the bytes rather than parsed with shapely: a hundred thousand stored
    geometries pass straight from the store to GDAL.
    """
    codes = wkb_types(wkb) % 1000
    families = np.full(len(codes), "", dtype="<U8")
    for family, accepted in _FAMILY_CODES.items():
        families[np.isin(codes, accepted)] = family
    return families


def as_multi(wkb: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """The geometries as their Multi types (a layer holds one type): a single point, line or
    polygon is wrapped, in WKB itself, as a multi-geometry of one part."""
    codes = wkb_types(wkb)
    single = np.isin(codes % 1000, (1, 2, 3))
    if not single.any():
        return wkb
    wrapped = wkb.copy()
    for index, code in zip(np.flatnonzero(single).tolist(), codes[single].tolist(), strict=True):
        header = b"\x01" + (code + 3).to_bytes(4, "little") + b"\x01\x00\x00\x00"
        wrapped[index] = header + wrapped[index]
    return wrapped


# --------------------------------------------------------------------------- Arrow


def _arrow_stream(columns: Sequence[Column], length: int) -> Any:
    """One record batch of the columns, as the Arrow stream GDAL reads."""
    arrays = [_arrow_array(c, length, binary=c.name == GEOMETRY_COLUMN) for c in columns]
    schema = na.struct(
        {c.name: na.c_schema(a.schema) for c, a in zip(columns, arrays, strict=True)}
    )
    batch = na.c_array_from_buffers(schema, length, [None], children=arrays)
    return na.c_array_stream(batch)


def _arrow_array(column: Column, length: int, binary: bool = False) -> Any:
    """An Arrow array from a numpy column; ``binary``: bytes (WKB) rather than text."""
    values = column.values
    kind = values.dtype.kind
    if kind == "O":
        items = values.tolist()
        if column.null is not None:
            items = [None if n else v for v, n in zip(items, column.null.tolist(), strict=True)]
        # nanoarrow builds text and binary arrays from Python objects in C.
        return na.c_array(items, na.large_binary() if binary else na.large_string())
    null = np.zeros(length, dtype=bool) if column.null is None else column.null.copy()
    if kind == "M":
        null |= np.isnat(values)
        if values.dtype == np.dtype("datetime64[D]"):
            arrow, data = na.date32(), values.astype(np.int64).astype(np.int32)
        else:
            arrow = na.timestamp("ms", timezone="UTC")
            data = values.astype("datetime64[ms]").astype(np.int64)
        data = np.where(null, 0, data).astype(data.dtype)
    elif kind == "f":
        null |= np.isnan(values)
        arrow, data = na.float64(), values.astype(np.float64)
    elif kind == "b":
        arrow, data = na.bool_(), np.packbits(values, bitorder="little")
    elif values.dtype == np.int32:
        arrow, data = na.int32(), values
    elif kind in "iu":
        arrow, data = na.int64(), values.astype(np.int64)
    else:
        raise TypeError(f"column {column.name}: no GeoPackage type for {values.dtype}")
    validity = np.packbits(~null, bitorder="little") if null.any() else None
    return na.c_array_from_buffers(arrow, length, [validity, np.ascontiguousarray(data)])
