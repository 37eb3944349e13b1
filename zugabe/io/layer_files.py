"""Read the GIS files departments already have into column-wise tables, chunk by chunk.

GeoPackage, Shapefile (also zipped), GeoJSON and whatever else GDAL reads go
through pyogrio's Arrow stream; CSV with coordinate columns or WKT is read with Python's csv
module because German CSVs write decimal commas that GDAL does not parse; ISYBAU XML
through ``zugabe.io.isybau``. Nothing here checks values: that is the
importer's job, row by row, with reasons.

A file is opened first (``open_source``): its fields, CRS and, where the format says so
cheaply, its feature count are known before any row is read, so a file over the import
limits is refused before it is loaded. Its rows are then read ``CHUNK_ROWS`` at a time and
only the columns asked for, so the raw values of a big file never sit in memory at once.
"""

from __future__ import annotations

import codecs
import csv
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import nanoarrow
import numpy as np
import pyogrio
import shapely
from nanoarrow.iterator import UnregisteredExtensionWarning
from pyproj import CRS
from pyproj.exceptions import CRSError

from zugabe.errors import FieldError, InvalidInput
from zugabe.io.isybau import read_isybau
from zugabe.io.qgis_styles import FAMILIES

CHUNK_ROWS = 50_000
CHUNK_BYTES = 32 * 1024**2
"""Rows read and handed on at a time: at most ``CHUNK_ROWS``, and fewer where that many
would hold more than about ``CHUNK_BYTES`` of the file (big polygons), so that the raw
values of a chunk, their geometries and their reprojected copies take little memory."""

# Zip safety: GDAL reads zipped shapefiles in place (/vsizip/), but a hostile
# archive can still name paths outside any folder or expand enormously; what it
# expands to in total is bounded by the setting max_import_expanded_bytes.
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


class ImportLimits(Protocol):
    """How much one import may read; ``zugabe.config.Settings`` carries both."""

    @property
    def max_import_rows(self) -> int: ...

    @property
    def max_import_expanded_bytes(self) -> int: ...


@dataclass
class SourceTable:
    """A source layer, or a chunk of its rows, as columns: field name → array of raw
    values, plus geometry.

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


Reader = Callable[[list[str]], Iterator[SourceTable]]
"""Reads the rows of a source with the given fields, chunk by chunk."""


@dataclass
class Source:
    """A source layer opened for reading: what is known before its rows are read.

    ``count`` is its number of features where the format tells it without reading them
    (None otherwise); a file with more than ``max_import_rows`` is refused here, before
    anything is loaded. ``notes`` grow while the rows are read (GDAL's warnings).
    """

    source: str
    source_layer: str | None
    crs: CRS | None
    fields: list[str]
    count: int | None
    notes: list[str]
    limits: ImportLimits
    reader: Reader = field(repr=False)

    def __post_init__(self) -> None:
        if self.count is not None and self.count > self.limits.max_import_rows:
            raise _too_many_rows(self.source, f"{self.count:,}", self.limits)

    def chunks(self, columns: Sequence[str] | None = None) -> Iterator[SourceTable]:
        """The rows, at most ``CHUNK_ROWS`` at a time, with only the fields in ``columns``
        (None: all); refused as soon as they are more than ``max_import_rows``."""
        asked = set(self.fields if columns is None else columns)
        read = 0
        for chunk in self.reader([name for name in self.fields if name in asked]):
            read += len(chunk) + len(chunk.refused)
            if read > self.limits.max_import_rows:
                limit = self.limits.max_import_rows
                raise _too_many_rows(self.source, f"more than {limit:,}", self.limits)
            yield chunk

    def read_all(self) -> SourceTable:
        """Every row in one table (a project list, checked as a whole)."""
        chunks = list(self.chunks())

        def joined(arrays: Iterable[np.ndarray], dtype: type = object) -> np.ndarray:
            return np.concatenate([np.empty(0, dtype=dtype), *arrays])

        return SourceTable(
            source=self.source,
            source_layer=self.source_layer,
            crs=self.crs,
            fields={name: joined(c.fields[name] for c in chunks) for name in self.fields},
            geometries=joined(c.geometries for c in chunks),
            rows=joined((c.rows for c in chunks), np.int64),
            notes=list(self.notes),
            refused=[refused for c in chunks for refused in c.refused],
        )


@dataclass(frozen=True)
class CsvOptions:
    """How to read a CSV: the reader guesses what is not given."""

    x_field: str | None = None
    y_field: str | None = None
    delimiter: str | None = None
    decimal_comma: bool | None = None
    encoding: str | None = None
    wkt_field: str | None = None


def open_source(
    path: Path,
    source_layer: str | None = None,
    csv_options: CsvOptions | None = None,
    encoding: str | None = None,
    *,
    limits: ImportLimits,
    feature_ids: bool = False,
) -> Source:
    """Open a GIS file for reading; the format follows from the file name ending.

    A file that expands to more than ``max_import_expanded_bytes`` is refused here.
    ``feature_ids``: a GeoJSON Feature's ``id`` member, which GDAL reads as the feature
    id, becomes the field ``id`` (in ZUGABE's export, the project's number).
    """
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InvalidInput(f"file {path.name} does not exist")
    if suffix == ".zip":
        members = check_zip(path, limits)
        shapefiles = [m for m in members if m.lower().endswith(".shp")]
        if not shapefiles:
            raise InvalidInput(f"{path.name}: the archive holds no shapefile (.shp)")
        if len(shapefiles) > 1 and source_layer is None:
            raise InvalidInput(
                f"{path.name} holds several shapefiles; choose one with "
                f"{option_name('source_layer')}: " + ", ".join(shapefiles)
            )
        inner = source_layer if source_layer in shapefiles else shapefiles[0]
        location = f"/vsizip/{path.resolve()}/{inner}"
        return _open_gdal(location, path.name, None, encoding, limits, sum(members.values()))
    size = _file_size(path, limits)
    if suffix == ".csv":
        return _open_csv(path, csv_options or CsvOptions(encoding=encoding), limits)
    if suffix == ".xml":
        return _open_isybau(path, source_layer, limits)
    geojson_ids = feature_ids and suffix in (".geojson", ".json")
    return _open_gdal(str(path), path.name, source_layer, encoding, limits, size, geojson_ids)


def read_source(
    path: Path,
    source_layer: str | None = None,
    csv_options: CsvOptions | None = None,
    encoding: str | None = None,
    *,
    limits: ImportLimits,
    feature_ids: bool = False,
) -> SourceTable:
    """A whole GIS file in one table, within the import limits (see ``open_source``)."""
    source = open_source(
        path, source_layer, csv_options, encoding, limits=limits, feature_ids=feature_ids
    )
    return source.read_all()


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


def open_parts(
    path: Path, parts: list[str], *, limits: ImportLimits, encoding: str | None = None
) -> Source:
    """Several layers of one GeoPackage as one source (fields missing in a part are empty)."""
    size = _file_size(path, limits)
    sources = [_open_gdal(str(path), path.name, p, encoding, limits, size) for p in parts]
    crs = {source.crs.to_wkt() if source.crs else None for source in sources}
    if len(crs) > 1:
        raise InvalidInput(f"{path.name}: the parts {', '.join(parts)} differ in their CRS")
    counts = [source.count for source in sources]

    def read(columns: list[str]) -> Iterator[SourceTable]:
        """Each part's chunks, with every asked column and the rows numbered across parts."""
        offset = 0  # rows of the parts before
        for source in sources:
            part_rows = 0
            for chunk in source.reader([name for name in columns if name in source.fields]):
                empty = np.full(len(chunk), None, dtype=object)
                yield SourceTable(
                    source=path.name,
                    source_layer=",".join(parts),
                    crs=chunk.crs,
                    fields={name: chunk.fields.get(name, empty) for name in columns},
                    geometries=chunk.geometries,
                    rows=chunk.rows + offset,
                )
                part_rows += len(chunk)
            offset += part_rows

    listed = ", ".join(f"{part} ({count})" for part, count in zip(parts, counts, strict=True))
    return Source(
        source=path.name,
        source_layer=",".join(parts),
        crs=sources[0].crs,
        fields=list(dict.fromkeys(name for source in sources for name in source.fields)),
        count=None if None in counts else sum(c for c in counts if c is not None),
        notes=[f"read as one layer from the parts {listed}; rows are numbered across them"],
        limits=limits,
        reader=read,
    )


def check_zip(path: Path, limits: ImportLimits) -> dict[str, int]:
    """The files of an archive and the bytes each expands to; refuses archives with path
    traversal, too many members, bomb-like ratios, or more expanded bytes than
    ``max_import_expanded_bytes``."""
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
    if total > limits.max_import_expanded_bytes:
        raise _too_large(f"{path.name} expands to {total:,} bytes", limits)
    return {info.filename: info.file_size for info in infos if not info.is_dir()}


def _file_size(path: Path, limits: ImportLimits) -> int:
    """The bytes an import reads of a file (a shapefile's with its .dbf and .shx); refused
    over ``max_import_expanded_bytes``."""
    size = path.stat().st_size
    if path.suffix.lower() == ".shp":
        sidecars = {path.with_suffix(s) for s in (".dbf", ".shx", ".DBF", ".SHX")}
        size += sum(sidecar.stat().st_size for sidecar in sidecars if sidecar.is_file())
    if size > limits.max_import_expanded_bytes:
        raise _too_large(f"{path.name} holds {size:,} bytes", limits)
    return size


def _too_large(found: str, limits: ImportLimits) -> InvalidInput:
    return InvalidInput(
        f"{found}; an import reads at most {limits.max_import_expanded_bytes:,} bytes "
        "(setting max_import_expanded_bytes)",
        field_errors=[FieldError("/file", "too large to import")],
    )


def _too_many_rows(name: str, found: str, limits: ImportLimits) -> InvalidInput:
    return InvalidInput(
        f"{name} holds {found} features; an import takes at most "
        f"{limits.max_import_rows:,} (setting max_import_rows): split the file",
        field_errors=[FieldError("/file", "too many features to import")],
    )


def _open_gdal(
    location: str,
    name: str,
    source_layer: str | None,
    encoding: str | None,
    limits: ImportLimits,
    size: int,
    feature_ids: bool = False,
) -> Source:
    """A layer GDAL reads; ``size`` is the bytes of the file (or of the archive, expanded)."""
    notes: list[str] = []
    with _gdal(location, name, notes, "cannot be read as a GIS file"):
        layers = pyogrio.list_layers(location)
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
    with _gdal(location, name, notes, "cannot be read"):
        info = pyogrio.read_info(location, layer=source_layer, encoding=encoding)
    if info["geometry_type"] is None:
        raise InvalidInput(f"{name}: layer '{source_layer}' has no geometry column")
    crs = CRS.from_user_input(info["crs"]) if info.get("crs") else None
    count = info["features"] if info["features"] >= 0 else None
    fields = [str(n) for n in info["fields"]]
    fid_as_id = feature_ids and "id" not in fields
    if fid_as_id:
        fields.append("id")
    # Rows of about CHUNK_BYTES of the file (the rows' average, where their number is known).
    batch_size = (
        min(CHUNK_ROWS, max(1, CHUNK_BYTES * count // max(size, 1))) if count else CHUNK_ROWS
    )

    def read(columns: list[str]) -> Iterator[SourceTable]:
        """GDAL's Arrow stream in batches of ``batch_size`` rows, the dataset open throughout
        (one pass over the file, whatever the driver)."""
        fids = fid_as_id and "id" in columns
        options: dict[str, Any] = {
            "layer": source_layer,
            "columns": [c for c in columns if not (fid_as_id and c == "id")],
            "return_fids": fids,
        }
        if encoding:
            options["encoding"] = encoding
        first = 1
        with ExitStack() as stack:
            with _gdal(location, name, notes, "cannot be read"):
                meta, stream = stack.enter_context(
                    pyogrio.raw.open_arrow(
                        location, batch_size=batch_size, datetime_as_string=True, **options
                    )
                )
                arrays = nanoarrow.ArrayStream(stream)
            fid_column = meta.get("fid_column") or "OGC_FID"
            names = [
                "id" if fids and child.name == fid_column else child.name
                for child in arrays.schema.fields
            ]
            batches = iter(arrays)
            geometry = names.index(meta["geometry_name"] or "wkb_geometry")
            while True:
                with _gdal(location, name, notes, "cannot be read"):
                    batch = next(batches, None)
                if batch is None:
                    return
                yield _arrow_chunk(batch, names, geometry, first, name, source_layer, crs)
                first += len(batch)

    return Source(
        source=name,
        source_layer=source_layer,
        crs=crs,
        fields=fields,
        count=count,
        notes=notes,
        limits=limits,
        reader=read,
    )


def _arrow_chunk(
    batch: nanoarrow.Array,
    names: list[str],
    geometry: int,
    first: int,
    name: str,
    source_layer: str | None,
    crs: CRS | None,
) -> SourceTable:
    """One Arrow batch as a table of Python values, as GDAL's fields hold them (dates as
    ``date``, date-times as the text the file holds, missing values as None)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnregisteredExtensionWarning)  # geoarrow.wkb: bytes
        columns = [_objects(batch.child(i).to_pylist()) for i in range(len(names))]
    with np.errstate(invalid="ignore"):  # NaN coordinates are refused per row later
        geometries = shapely.from_wkb(columns[geometry], on_invalid="ignore")
    return SourceTable(
        source=name,
        source_layer=source_layer,
        crs=crs,
        fields={n: c for i, (n, c) in enumerate(zip(names, columns, strict=True)) if i != geometry},
        geometries=geometries,
        rows=np.arange(first, first + len(geometries)),
    )


def _objects(values: list[Any]) -> np.ndarray:
    """Values as a one-dimensional object array (lists stay single values)."""
    return np.fromiter(values, dtype=object, count=len(values))


@contextmanager
def _gdal(location: str, name: str, notes: list[str], what: str) -> Iterator[None]:
    """Around each call into GDAL, also each batch of its Arrow stream: its warnings become
    ``notes``, its errors refusals saying the file ``what``; both name the file, not its path.
    """
    try:
        with _gdal_warnings(location, name, notes):
            yield
    except RuntimeError as exc:  # pyogrio's DataSourceError, DataLayerError; nanoarrow's
        raise InvalidInput(f"{name} {what}: {gdal_message(exc, location, name)}") from exc


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


def _open_isybau(path: Path, part: str | None, limits: ImportLimits) -> Source:
    """Sewer sections or manholes of an ISYBAU XML file (``part`` picks which).

    The XML is parsed whole (its size is bounded by ``max_import_expanded_bytes``) and
    handed on as one chunk.
    """
    if part not in ISYBAU_PARTS:
        raise InvalidInput(
            f"{path.name} is ISYBAU XML; choose its part with {option_name('source_layer')}: "
            + ", ".join(ISYBAU_PARTS)
        )
    data = read_isybau(path)
    features = data.sewer_sections if part == "sewer_sections" else data.manholes
    problems = data.section_problems if part == "sewer_sections" else data.manhole_problems
    names = sorted({name for f in features for name in f.attributes})
    crs = CRS.from_user_input(data.crs_hint) if data.crs_hint else None
    version = f"ISYBAU {data.version}" if data.version else "ISYBAU"

    def read(columns: list[str]) -> Iterator[SourceTable]:
        yield SourceTable(
            source=path.name,
            source_layer=part,
            crs=crs,
            fields={
                name: np.array([f.attributes.get(name) for f in features], dtype=object)
                for name in columns
            },
            geometries=np.array([f.geometry for f in features], dtype=object),
            rows=np.array([f.record for f in features], dtype=int),
            refused=[(record, f"{object_id}: {reason}") for record, object_id, reason in problems],
        )

    return Source(
        source=path.name,
        source_layer=part,
        crs=crs,
        fields=names,
        count=len(features) + len(problems),
        notes=[f"read as {version}", *data.warnings],
        limits=limits,
        reader=read,
    )


def _open_csv(path: Path, options: CsvOptions, limits: ImportLimits) -> Source:
    """A CSV's header and how to read it; its rows are read chunk by chunk."""
    encoding = _encoding(path, options.encoding)
    with path.open(encoding=encoding, newline="") as text:
        sample = text.read(20_000)
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
        text.seek(0)
        header = next(_csv_records(csv.reader(text, delimiter=delimiter), path.name), None)
    if header is None:
        raise InvalidInput(f"{path.name} is empty")
    index = {name: i for i, name in enumerate(header)}  # a repeated name: its last column
    wkt_name = options.wkt_field
    if wkt_name is None and not (options.x_field or options.y_field):
        wkt_name = next((h for h in header if h.strip().lower() in WKT_FIELD_NAMES), None)
    if wkt_name is not None:
        _check_columns(header, (wkt_name,), path.name)
        geometry_columns: tuple[str, ...] = (wkt_name,)
        where = f"geometry from WKT in {wkt_name}"
    else:
        x_name = options.x_field or _find_field(header, X_FIELD_NAMES, "x", path.name)
        y_name = options.y_field or _find_field(header, Y_FIELD_NAMES, "y", path.name)
        _check_columns(header, (x_name, y_name), path.name)
        geometry_columns = (x_name, y_name)
        where = f"coordinates {x_name}/{y_name}"

    def read(columns: list[str]) -> Iterator[SourceTable]:
        decimal_comma = options.decimal_comma  # guessed from the first rows, kept for all
        with path.open(encoding=encoding, newline="") as text:
            records = _csv_records(csv.reader(text, delimiter=delimiter), path.name)
            next(records, None)  # the header, row 1
            first = 2
            for chunk in _csv_chunks(records):
                if wkt_name is not None:
                    geometries = _wkt_geometries(_csv_column(chunk, index[wkt_name]))
                else:
                    xs, ys = (_csv_column(chunk, index[name]) for name in geometry_columns)
                    if decimal_comma is None:
                        decimal_comma = any("," in v for v in xs[:100])
                    geometries = _point_geometries(xs, ys, decimal_comma)
                yield SourceTable(
                    source=path.name,
                    source_layer=None,
                    crs=None,
                    fields={name: _csv_column(chunk, index[name]) for name in columns},
                    geometries=geometries,
                    rows=np.arange(first, first + len(chunk)),
                )
                first += len(chunk)

    return Source(
        source=path.name,
        source_layer=None,
        crs=None,
        fields=[name for name in index if name not in geometry_columns],
        count=None,
        notes=[f"CSV read as {encoding}, delimiter {delimiter!r}, {where}"],
        limits=limits,
        reader=read,
    )


def _csv_records(reader: Any, name: str) -> Iterator[list[str]]:  # csv.reader has no public type
    """The records of a CSV reader; a broken one (e.g. a field over the csv module's 131,072
    characters) is refused with its line."""
    try:
        yield from reader
    except csv.Error as exc:
        raise InvalidInput(
            f"{name}, line {reader.line_num}: {exc}",
            field_errors=[FieldError(f"/rows/{reader.line_num}", str(exc))],
        ) from None


def _csv_chunks(records: Iterator[list[str]]) -> Iterator[list[list[str]]]:
    """Records by ``CHUNK_ROWS``, or fewer once they hold ``CHUNK_BYTES`` characters (WKT)."""
    chunk: list[list[str]] = []
    characters = 0
    for record in records:
        chunk.append(record)
        characters += sum(map(len, record))
        if len(chunk) == CHUNK_ROWS or characters >= CHUNK_BYTES:
            yield chunk
            chunk, characters = [], 0
    if chunk:
        yield chunk


def _csv_column(records: list[list[str]], index: int) -> np.ndarray:
    """One column of CSV records; a short record has an empty value there."""
    return np.array([r[index] if index < len(r) else "" for r in records], dtype=object)


def _wkt_geometries(texts: np.ndarray) -> np.ndarray:
    """Geometry from WKT; unreadable WKT gives None."""
    texts = np.array([str(v).strip() or None for v in texts], dtype=object)
    return shapely.from_wkt(texts, on_invalid="ignore")


def _point_geometries(xs: np.ndarray, ys: np.ndarray, decimal_comma: bool) -> np.ndarray:
    """Points from coordinate columns; a row without both numbers has none."""
    x = _numbers(xs, decimal_comma)
    y = _numbers(ys, decimal_comma)
    geometries = shapely.points(x, y)
    geometries[np.isnan(x) | np.isnan(y)] = None
    return geometries


def _encoding(path: Path, given: str | None) -> str:
    """The given encoding (checked), else UTF-8, else Windows-1252 (old Excel exports),
    else Latin-1: the first that decodes the whole file."""
    for candidate in [given] if given else ["utf-8-sig", "cp1252"]:
        try:
            position = _first_undecodable(path, candidate)
        except LookupError as exc:
            raise InvalidInput(f"unknown encoding '{given}'") from exc
        if position is None:
            return candidate
        if given:
            raise InvalidInput(f"{path.name} is not {given} text (byte {position})")
    return "latin-1"


def _first_undecodable(path: Path, encoding: str) -> int | None:
    """Where ``encoding`` first fails on the file (None: nowhere), decoding it in blocks
    without keeping the text."""
    decoder = codecs.getincrementaldecoder(encoding)()
    consumed = 0
    with path.open("rb") as raw:
        while True:
            block = raw.read(1 << 20)
            pending = len(decoder.getstate()[0])  # bytes of a character cut by the last block
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                return consumed - pending + exc.start
            if not block:
                return None
            consumed += len(block)


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
