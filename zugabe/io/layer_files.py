"""Read the GIS files departments already have into one column-wise table.

GeoPackage, Shapefile (also zipped), GeoJSON and whatever else GDAL reads go
through pyogrio; CSV with coordinate columns or WKT is read with Python's csv module
because German CSVs write decimal commas that GDAL does not parse; ISYBAU XML
through ``zugabe.io.isybau``. Nothing here checks values: that is the
importer's job, row by row, with reasons.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from zugabe.errors import FieldError, InvalidInput
from zugabe.io.isybau import read_isybau
from zugabe.io.qgis_styles import FAMILIES

# Zip safety: GDAL reads zipped shapefiles in place (/vsizip/), but a hostile
# archive can still expand to gigabytes or name paths outside any folder.
ZIP_MAX_UNCOMPRESSED = 2 * 1024**3
ZIP_MAX_RATIO = 200
ZIP_MAX_MEMBERS = 1000

X_FIELD_NAMES = (
    "x",
    "lon",
    "lng",
    "longitude",
    "laenge",
    "rechtswert",
    "rechts_utm",
    "easting",
    "ost",
    "x_coord",
)
Y_FIELD_NAMES = (
    "y",
    "lat",
    "latitude",
    "breite",
    "hochwert",
    "hoch_utm",
    "northing",
    "nord",
    "y_coord",
)
# A CSV may carry its geometry as WKT (lines and areas do not fit in two coordinate columns).
WKT_FIELD_NAMES = ("wkt", "geometry", "geometrie", "geom", "the_geom", "shape")


def option_name(field: str) -> str:
    """An import option as both doors name it: the API's form field and the CLI's flag."""
    return f"{field} (--{field.replace('_', '-')})"


@dataclass
class SourceTable:
    """A source layer as columns: field name → array of raw values, plus geometry.

    ``geometries`` are shapely objects (None where the row has none) in the
    source's own CRS; ``rows`` are 1-based row numbers for messages.
    """

    source: str
    source_layer: str | None
    crs: CRS | None
    fields: dict[str, np.ndarray]
    geometries: np.ndarray
    rows: np.ndarray
    notes: list[str] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)  # rows the reader could not use

    def __len__(self) -> int:
        return len(self.geometries)


@dataclass(frozen=True)
class CsvOptions:
    """How to read a CSV: the reader guesses what is not given."""

    x_field: str | None = None
    y_field: str | None = None
    delimiter: str | None = None
    decimal_comma: bool | None = None
    encoding: str | None = None
    wkt_field: str | None = None


def read_source(
    path: Path,
    source_layer: str | None = None,
    csv_options: CsvOptions | None = None,
    encoding: str | None = None,
) -> SourceTable:
    """Read a GIS file; the format follows from the file name ending."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InvalidInput(f"file {path.name} does not exist")
    if suffix == ".csv":
        return _read_csv(path, csv_options or CsvOptions(encoding=encoding))
    if suffix == ".xml":
        return _read_isybau(path, source_layer)
    if suffix == ".zip":
        members = check_zip(path)
        shapefiles = [m for m in members if m.lower().endswith(".shp")]
        if not shapefiles:
            raise InvalidInput(f"{path.name}: the archive holds no shapefile (.shp)")
        if len(shapefiles) > 1 and source_layer is None:
            raise InvalidInput(
                f"{path.name} holds several shapefiles; choose one with "
                f"{option_name('source_layer')}: " + ", ".join(shapefiles)
            )
        inner = source_layer if source_layer in shapefiles else shapefiles[0]
        return _read_gdal(f"/vsizip/{path.resolve()}/{inner}", path.name, None, encoding)
    return _read_gdal(str(path), path.name, source_layer, encoding)


def export_parts(path: Path, layer_key: str, source_layer: str | None) -> list[str] | None:
    """The parts to read for ``layer_key`` when ``path`` is ZUGABE's own GeoPackage, which
    writes a layer of several geometry types as ``<key>_points``, ``_lines``, ``_polygons``.

    None for any other file. With no ``source_layer`` every part is read, in one import;
    ``source_layer`` may name parts comma-separated, and naming only some of them is refused
    (it would silently drop the others).
    """
    if path.suffix.lower() != ".gpkg":
        return None
    try:
        with _gdal_warnings(str(path), path.name, []):  # the import reads it again, noting them
            names = [str(row[0]) for row in pyogrio.list_layers(str(path))]
    except pyogrio.errors.DataSourceError:
        return None
    parts = [f"{layer_key}_{family}" for family in FAMILIES]  # as the export names them
    present = [name for name in parts if name in names]
    if not present:
        return None
    if source_layer is None:
        return present
    asked = [name.strip() for name in source_layer.split(",") if name.strip()]
    if not set(asked) <= set(present):
        return None  # other layers of the file: read as asked
    if set(asked) != set(present):
        raise InvalidInput(
            f"{path.name} holds the layer '{layer_key}' in {len(present)} parts "
            f"({', '.join(present)}); importing {', '.join(asked)} alone would drop the "
            f"others: leave out {option_name('source_layer')} to read every part, or name "
            "each part, comma-separated",
            field_errors=[FieldError("/source_layer", "name every part, or none")],
        )
    return present


def read_parts(path: Path, parts: list[str], encoding: str | None = None) -> SourceTable:
    """Several layers of one GeoPackage as one table (fields missing in a part are empty)."""
    tables = [_read_gdal(str(path), path.name, part, encoding) for part in parts]
    crs = {table.crs.to_wkt() if table.crs else None for table in tables}
    if len(crs) > 1:
        raise InvalidInput(f"{path.name}: the parts {', '.join(parts)} differ in their CRS")
    names = list(dict.fromkeys(name for table in tables for name in table.fields))
    fields = {
        name: np.concatenate(
            [
                table.fields[name].astype(object)
                if name in table.fields
                else np.full(len(table), None, dtype=object)
                for table in tables
            ]
        )
        for name in names
    }
    counts = ", ".join(f"{part} ({len(table)})" for part, table in zip(parts, tables, strict=True))
    return SourceTable(
        source=path.name,
        source_layer=",".join(parts),
        crs=tables[0].crs,
        fields=fields,
        geometries=np.concatenate([table.geometries for table in tables]),
        rows=np.arange(1, sum(len(table) for table in tables) + 1),
        notes=[f"read as one layer from the parts {counts}; rows are numbered across them"],
    )


def check_zip(path: Path) -> list[str]:
    """Refuse archives with path traversal, too many members or bomb-like ratios."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise InvalidInput(f"{path.name} is not a valid zip archive: {exc}") from exc
    if len(infos) > ZIP_MAX_MEMBERS:
        raise InvalidInput(f"{path.name} holds {len(infos)} files; at most {ZIP_MAX_MEMBERS}")
    total = 0
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or ".." in Path(name).parts or ":" in name:
            raise InvalidInput(f"{path.name}: refused member '{name}' (path outside the archive)")
        total += info.file_size
        if info.compress_size and info.file_size / info.compress_size > ZIP_MAX_RATIO:
            raise InvalidInput(
                f"{path.name}: member '{name}' expands {info.file_size // info.compress_size}-fold;"
                " refused as a possible zip bomb"
            )
    if total > ZIP_MAX_UNCOMPRESSED:
        raise InvalidInput(f"{path.name} expands to {total} bytes; at most {ZIP_MAX_UNCOMPRESSED}")
    return [info.filename for info in infos if not info.is_dir()]


def _read_gdal(
    location: str, name: str, source_layer: str | None, encoding: str | None
) -> SourceTable:
    notes: list[str] = []
    try:
        with _gdal_warnings(location, name, notes):
            layers = pyogrio.list_layers(location)
    except pyogrio.errors.DataSourceError as exc:
        detail = gdal_message(exc, location, name)
        raise InvalidInput(f"{name} cannot be read as a GIS file: {detail}") from exc
    layer_names = [str(row[0]) for row in layers]
    if source_layer is None:
        if len(layer_names) > 1:
            raise InvalidInput(
                f"{name} holds several layers; choose one with {option_name('source_layer')}: "
                + ", ".join(layer_names)
            )
        source_layer = layer_names[0] if layer_names else None
    elif source_layer not in layer_names:
        raise InvalidInput(
            f"{name} has no layer '{source_layer}'; it has: {', '.join(layer_names)}"
        )
    kwargs: dict[str, Any] = {"layer": source_layer}
    if encoding:
        kwargs["encoding"] = encoding
    try:
        with _gdal_warnings(location, name, notes):
            meta, fids, wkb, columns = pyogrio.raw.read(
                location, return_fids=_feature_ids_are_data(name), **kwargs
            )
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        detail = gdal_message(exc, location, name)
        raise InvalidInput(f"{name} cannot be read: {detail}") from exc
    with np.errstate(invalid="ignore"):  # NaN coordinates are refused per row later
        geometries = shapely.from_wkb(wkb, on_invalid="ignore") if wkb is not None else None
    if geometries is None:
        raise InvalidInput(f"{name}: layer '{source_layer}' has no geometry column")
    crs = CRS.from_user_input(meta["crs"]) if meta.get("crs") else None
    fields = {str(n): np.asarray(c) for n, c in zip(meta["fields"], columns, strict=True)}
    if fids is not None and "id" not in fields:
        fields["id"] = np.asarray(fids)
    return SourceTable(
        source=name,
        source_layer=source_layer,
        crs=crs,
        fields=fields,
        geometries=geometries,
        rows=np.arange(1, len(geometries) + 1),
        notes=notes,
    )


def _feature_ids_are_data(name: str) -> bool:
    """A GeoJSON Feature's ``id`` (GDAL reads it as the feature id) is the file's data, such
    as the project number of ZUGABE's export; elsewhere feature ids only count rows."""
    return name.lower().endswith((".geojson", ".json"))


@contextmanager
def _gdal_warnings(location: str, name: str, notes: list[str]) -> Iterator[None]:
    """GDAL's warnings become notes of the import report, without paths, instead of
    server log lines naming an upload's temporary folder."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        yield
    for warning in caught:
        note = f"GDAL: {gdal_message(Exception(warning.message), location, name)}"
        if note not in notes:
            notes.append(note)


# An absolute path in a GDAL message, as GDAL writes them (also inside /vsizip/…).
_PATH = re.compile(r"(?:/vsi[a-z]+)?(?:/[^/\s'\"`:,;()]+){2,}/?")


def gdal_message(error: Exception, location: str, name: str) -> str:
    """GDAL's message with the file's location (and any other path) replaced by its name:
    an upload's temporary folder, or the server's layout, is nobody's business."""
    return _PATH.sub(name, str(error).replace(location, name))[:300]


ISYBAU_PARTS = ("sewer_sections", "manholes")


def _read_isybau(path: Path, part: str | None) -> SourceTable:
    """Sewer sections or manholes of an ISYBAU XML file (``part`` picks which)."""
    if part not in ISYBAU_PARTS:
        raise InvalidInput(
            f"{path.name} is ISYBAU XML; choose its part with {option_name('source_layer')}: "
            + ", ".join(ISYBAU_PARTS)
        )
    data = read_isybau(path)
    features = data.sewer_sections if part == "sewer_sections" else data.manholes
    problems = data.section_problems if part == "sewer_sections" else data.manhole_problems
    names = sorted({name for f in features for name in f.attributes})
    fields = {
        name: np.array([f.attributes.get(name) for f in features], dtype=object) for name in names
    }
    geometries = np.array([f.geometry for f in features], dtype=object)
    version = f"ISYBAU {data.version}" if data.version else "ISYBAU"
    return SourceTable(
        source=path.name,
        source_layer=part,
        crs=CRS.from_user_input(data.crs_hint) if data.crs_hint else None,
        fields=fields,
        geometries=geometries,
        rows=np.array([f.record for f in features], dtype=int),
        notes=[f"read as {version}", *data.warnings],
        refused=[(record, f"{object_id}: {reason}") for record, object_id, reason in problems],
    )


def _read_csv(path: Path, options: CsvOptions) -> SourceTable:
    raw = path.read_bytes()
    text, encoding = _decode(raw, options.encoding, path.name)
    sample = text[:20_000]
    delimiter = options.delimiter
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=";,\t|").delimiter
        except csv.Error:
            delimiter = ","
    if len(delimiter) != 1:
        raise InvalidInput(
            f"the CSV delimiter must be one character, got {delimiter[:20]!r}",
            field_errors=[FieldError("/delimiter", "one character")],
        )
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
        records = list(reader)
    except StopIteration:
        raise InvalidInput(f"{path.name} is empty") from None
    except csv.Error as exc:  # e.g. a field over the csv module's 131,072 characters
        raise InvalidInput(
            f"{path.name}, line {reader.line_num}: {exc}",
            field_errors=[FieldError(f"/rows/{reader.line_num}", str(exc))],
        ) from None
    columns = {
        name: np.array([r[i] if i < len(r) else "" for r in records], dtype=object)
        for i, name in enumerate(header)
    }
    wkt_name = options.wkt_field
    if wkt_name is None and not (options.x_field or options.y_field):
        wkt_name = next((h for h in header if h.strip().lower() in WKT_FIELD_NAMES), None)
    if wkt_name is not None:
        geometries, where = _wkt_geometries(columns, header, wkt_name, path.name)
    else:
        geometries, where = _point_geometries(columns, header, options, path.name)
    return SourceTable(
        source=path.name,
        source_layer=None,
        crs=None,
        fields=columns,
        geometries=geometries,
        rows=np.arange(2, len(records) + 2),  # row 1 is the header
        notes=[f"CSV read as {encoding}, delimiter {delimiter!r}, {where}"],
    )


def _wkt_geometries(
    columns: dict[str, np.ndarray], header: list[str], wkt_name: str, name: str
) -> tuple[np.ndarray, str]:
    """Geometry from a WKT column (taken out of ``columns``); unreadable WKT gives None."""
    _check_columns(header, (wkt_name,), name)
    texts = np.array([str(v).strip() or None for v in columns.pop(wkt_name)], dtype=object)
    return shapely.from_wkt(texts, on_invalid="ignore"), f"geometry from WKT in {wkt_name}"


def _point_geometries(
    columns: dict[str, np.ndarray], header: list[str], options: CsvOptions, name: str
) -> tuple[np.ndarray, str]:
    """Points from coordinate columns (taken out of ``columns``), found by name if not given."""
    x_name = options.x_field or _find_field(header, X_FIELD_NAMES, "x", name)
    y_name = options.y_field or _find_field(header, Y_FIELD_NAMES, "y", name)
    _check_columns(header, (x_name, y_name), name)
    decimal_comma = options.decimal_comma
    if decimal_comma is None:
        decimal_comma = any("," in v for v in columns[x_name][:100])
    xs = _numbers(columns.pop(x_name), decimal_comma)
    ys = _numbers(columns.pop(y_name), decimal_comma)
    geometries = shapely.points(xs, ys)
    geometries[np.isnan(xs) | np.isnan(ys)] = None
    return geometries, f"coordinates {x_name}/{y_name}"


def _decode(raw: bytes, encoding: str | None, name: str) -> tuple[str, str]:
    """Decode with the given encoding, else UTF-8, else Windows-1252 (old Excel exports)."""
    for candidate in [encoding] if encoding else ["utf-8-sig", "cp1252"]:
        try:
            return raw.decode(candidate), candidate
        except UnicodeDecodeError as exc:
            if encoding:
                raise InvalidInput(f"{name} is not {encoding} text (byte {exc.start})") from exc
        except LookupError as exc:
            raise InvalidInput(f"unknown encoding '{encoding}'") from exc
    return raw.decode("latin-1"), "latin-1"


def _check_columns(header: list[str], given: tuple[str, ...], name: str) -> None:
    for column in given:
        if column not in header:
            raise InvalidInput(
                f"{name} has no column '{column}'; it has: {', '.join(header)}",
                field_errors=[FieldError("/csv", f"unknown column '{column}'")],
            )


def _find_field(header: list[str], candidates: tuple[str, ...], axis: str, name: str) -> str:
    lowered = {h.strip().lower(): h for h in header}
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    raise InvalidInput(
        f"{name}: no {axis} coordinate column found (looked for {', '.join(candidates)}); "
        f"name it with {option_name(axis + '_field')}, "
        f"or give the geometry as WKT ({option_name('wkt_field')})"
    )


def _numbers(values: np.ndarray, decimal_comma: bool) -> np.ndarray:
    out = np.full(len(values), np.nan)
    for index, value in enumerate(values):
        text = str(value).strip()
        if decimal_comma:
            text = text.replace(".", "").replace(",", ".")
        try:
            out[index] = float(text)
        except ValueError:
            continue
    return out


def crs_from_text(text: str) -> CRS:
    """A CRS from user input (``EPSG:31467``, WKT, PROJ string), with a clear error."""
    try:
        return CRS.from_user_input(text)
    except CRSError as exc:
        raise InvalidInput(f"'{text}' is not a CRS PROJ knows: {exc}") from exc
