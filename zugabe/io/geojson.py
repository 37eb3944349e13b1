"""GeoJSON (RFC 7946) in and out: checks every input before anything is stored.

Input geometry is WGS84 lon/lat. The checks run on the raw JSON first, so a
message can point at the exact coordinate (``/geometry/coordinates/0/3``),
then on the shapely geometry for topology (self-intersections, with where).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from zugabe.domain.project import Project, ProjectAttributes, attributes_to_json, parse_attributes
from zugabe.domain.vocabulary import Vocabulary
from zugabe.errors import FieldError, InvalidInput
from zugabe.io.crs import Reprojector
from zugabe.messages import Message

# Nesting depth of the coordinates array per geometry type.
COORDINATE_DEPTH = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}
READ_ONLY_PROPERTIES = ("id", "version", "created_at", "created_by", "updated_at", "updated_by")
OUTPUT_DECIMALS = 7  # about 1 cm in lon/lat
MAX_ERRORS = 10  # a geometry with thousands of bad points gets the first few
PlacedGeometry = dict[str, Any] | orjson.Fragment
"""A GeoJSON geometry placed by the caller: a dict, or its text (``geometries_to_fragments``)."""


@dataclass(frozen=True)
class GeometryRules:
    """What the configured region accepts."""

    region_bbox: tuple[float, float, float, float]
    max_vertices: int


@dataclass(frozen=True)
class _Position:
    pointer: str
    lon: float
    lat: float


def read_geometry(
    obj: Any, rules: GeometryRules, pointer: str = "/geometry"
) -> tuple[BaseGeometry | None, list[FieldError]]:
    """Check a GeoJSON geometry object and build it (lon/lat), or list the problems."""
    if not isinstance(obj, dict):
        return None, [FieldError(pointer, "geometry must be a GeoJSON geometry object")]
    geometry_type = obj.get("type")
    if not isinstance(geometry_type, str) or geometry_type not in COORDINATE_DEPTH:
        allowed = ", ".join(COORDINATE_DEPTH)
        if geometry_type == "GeometryCollection":
            detail = f"GeometryCollection is not supported; use one of {allowed}"
        else:
            detail = f"unknown geometry type {geometry_type!r}; allowed: {allowed}"
        return None, [FieldError(f"{pointer}/type", detail)]
    coords_pointer = f"{pointer}/coordinates"
    if "coordinates" not in obj:
        return None, [FieldError(coords_pointer, "coordinates are missing")]
    errors: list[FieldError] = []
    positions: list[_Position] = []
    _walk(obj["coordinates"], COORDINATE_DEPTH[geometry_type], coords_pointer, positions, errors)
    if errors:
        return None, errors[:MAX_ERRORS]
    errors = _check_parts(geometry_type, obj["coordinates"], coords_pointer)
    if not positions:
        errors.append(FieldError(coords_pointer, "geometry is empty"))
    if len(positions) > rules.max_vertices:
        errors.append(
            FieldError(
                coords_pointer,
                f"geometry has {len(positions)} vertices; at most {rules.max_vertices} are allowed",
            )
        )
    errors += _check_ranges(positions, rules.region_bbox)
    if errors:
        return None, errors[:MAX_ERRORS]
    geometry = shape(obj)
    reason = shapely.is_valid_reason(geometry)
    if reason != "Valid Geometry":
        return None, [FieldError.coded(pointer, "geometry.invalid", reason=_explain(reason))]
    return geometry, []


def _walk(
    node: Any, depth: int, pointer: str, positions: list[_Position], errors: list[FieldError]
) -> None:
    if len(errors) >= MAX_ERRORS:
        return
    if not isinstance(node, list):
        errors.append(FieldError(pointer, "expected an array"))
        return
    if depth > 0:
        for index, child in enumerate(node):
            _walk(child, depth - 1, f"{pointer}/{index}", positions, errors)
        return
    if not node:
        return  # an empty Point; reported as an empty geometry
    if any(isinstance(v, list) for v in node):
        errors.append(FieldError(pointer, "arrays nested too deep for this geometry type"))
    elif any(isinstance(v, bool) or not isinstance(v, int | float) for v in node) or len(node) < 2:
        errors.append(FieldError(pointer, "a position must be [lon, lat] numbers"))
    elif len(node) > 2:
        errors.append(
            FieldError(
                pointer,
                f"position has {len(node)} values; ZUGABE stores 2D geometry, "
                "send [lon, lat] without height (Z) or measure (M)",
            )
        )
    elif not all(math.isfinite(v) for v in node):
        errors.append(FieldError(pointer, f"position {node} is not a finite number (NaN/Infinity)"))
    else:
        positions.append(_Position(pointer, float(node[0]), float(node[1])))


def _check_parts(geometry_type: str, coords: list[Any], pointer: str) -> list[FieldError]:
    """Minimum sizes and closed rings, which shapely would otherwise reject vaguely."""
    errors: list[FieldError] = []
    if geometry_type in ("LineString", "MultiLineString"):
        lines = [(pointer, coords)] if geometry_type == "LineString" else _indexed(coords, pointer)
        for line_pointer, line in lines:
            if len(line) < 2:
                errors.append(FieldError(line_pointer, "a line needs at least 2 positions"))
    if geometry_type in ("Polygon", "MultiPolygon"):
        polygons = [(pointer, coords)] if geometry_type == "Polygon" else _indexed(coords, pointer)
        for polygon_pointer, rings in polygons:
            if not rings:
                errors.append(FieldError(polygon_pointer, "a polygon needs an outer ring"))
            for ring_pointer, ring in _indexed(rings, polygon_pointer):
                if len(ring) < 4:
                    errors.append(
                        FieldError(ring_pointer, "a polygon ring needs at least 4 positions")
                    )
                elif ring[0] != ring[-1]:
                    errors.append(
                        FieldError(
                            ring_pointer,
                            f"ring is not closed: it starts at {ring[0]} and ends at {ring[-1]}; "
                            "the last position must repeat the first",
                        )
                    )
    return errors


def _indexed(items: list[Any], pointer: str) -> list[tuple[str, Any]]:
    return [(f"{pointer}/{index}", item) for index, item in enumerate(items)]


def _check_ranges(
    positions: list[_Position], region: tuple[float, float, float, float]
) -> list[FieldError]:
    """WGS84 range, swapped axes and region: one message for the first offender."""
    min_lon, min_lat, max_lon, max_lat = region

    def in_region(lon: float, lat: float) -> bool:
        return min_lon <= lon <= max_lon and min_lat <= lat <= max_lat

    outside = [p for p in positions if not in_region(p.lon, p.lat)]
    if not outside:
        return []
    first = outside[0]
    more = (
        Message("geometry.more_outside", {"count": len(outside), "total": len(positions)})
        if len(outside) > 1
        else None
    )
    more_text = more.text() if more else ""
    if all(in_region(p.lat, p.lon) for p in outside):
        detail = (
            f"position [{first.lon}, {first.lat}] looks like [lat, lon]: "
            f"GeoJSON expects [lon, lat], i.e. [{first.lat}, {first.lon}]{more_text}"
        )
    elif not (-180 <= first.lon <= 180 and -90 <= first.lat <= 90):
        detail = (
            f"position [{first.lon}, {first.lat}] is outside the WGS84 range "
            f"(lon -180..180, lat -90..90); send lon/lat degrees, not projected metres{more_text}"
        )
    else:
        return [
            FieldError.coded(
                first.pointer,
                "geometry.outside_region",
                lon=first.lon,
                lat=first.lat,
                min_lon=min_lon,
                max_lon=max_lon,
                min_lat=min_lat,
                max_lat=max_lat,
                more=more or "",
            )
        ]
    return [FieldError(first.pointer, detail)]


_REASON_WITH_POINT = re.compile(r"^(?P<what>[^\[]+)\[(?P<x>\S+) (?P<y>\S+)\]$")


def _explain(reason: str) -> str:
    """GEOS says 'Self-intersection[7.1 51.5]'; users read '... at lon 7.1, lat 51.5'."""
    match = _REASON_WITH_POINT.match(reason)
    if not match:
        return reason.lower()
    return f"{match['what'].strip().lower()} at lon {match['x']}, lat {match['y']}"


def read_properties(
    properties: Any, vocabulary: Vocabulary, pointer: str = "/properties"
) -> tuple[ProjectAttributes | None, list[FieldError]]:
    """Check a feature's properties; read-only bookkeeping fields are ignored."""
    if not isinstance(properties, dict):
        return None, [FieldError.coded(pointer, "project.properties_not_object")]
    editable = {k: v for k, v in properties.items() if k not in READ_ONLY_PROPERTIES}
    attributes, errors = parse_attributes(editable, vocabulary)
    return attributes, [e.under(pointer) for e in errors]


def read_project_feature(
    doc: Any, vocabulary: Vocabulary, rules: GeometryRules
) -> tuple[ProjectAttributes, BaseGeometry]:
    """A whole project Feature: attributes and lon/lat geometry, or ``InvalidInput``."""
    if not isinstance(doc, dict) or doc.get("type") != "Feature":
        raise InvalidInput(
            message=Message("project.not_a_feature"),
            field_errors=[FieldError.coded("/type", "project.must_be_feature")],
        )
    attributes, errors = read_properties(doc.get("properties"), vocabulary)
    if "geometry" not in doc or doc["geometry"] is None:
        geometry, geometry_errors = None, [FieldError.coded("/geometry", "geometry.required")]
    else:
        geometry, geometry_errors = read_geometry(doc["geometry"], rules)
    errors += geometry_errors
    if errors or attributes is None or geometry is None:
        raise_invalid(errors)
    return attributes, geometry


def raise_invalid(errors: list[FieldError]) -> None:
    """Raise one ``InvalidInput`` whose detail sums up all field errors."""
    raise InvalidInput(message=not_saved(errors), field_errors=errors)


def not_saved(errors: list[FieldError]) -> Message:
    """ "The project was not saved", with the first three field errors, in any language."""
    return Message("project.not_saved", {"summary": _Summary(tuple(errors))})


@dataclass(frozen=True)
class _Summary:
    """The first field errors of a refusal, each worded in the reader's language."""

    errors: tuple[FieldError, ...]

    def text(self, lang: str) -> str:
        shown = [
            f"{e.pointer}: {e.message.text(lang) if e.message else e.detail}"
            for e in self.errors[:3]
        ]
        more = len(self.errors) - 3
        tail = Message("project.more_errors", {"count": more}).text(lang) if more > 0 else ""
        return "; ".join(shown) + tail


def geometry_to_json(geometry: BaseGeometry) -> dict[str, Any]:
    """A lon/lat shapely geometry as a GeoJSON dict, rounded to about 1 cm."""
    [text] = _geojson_texts(np.array([geometry], dtype=object))
    return orjson.loads(text or "null")  # type: ignore[no-any-return]


def geometries_to_fragments(
    geometries: npt.NDArray[np.object_],
) -> list[orjson.Fragment | None]:
    """``geometry_to_json`` of a page that goes out as JSON as it is (a map view's list),
    rounded in one pass: the GeoJSON texts, which orjson copies into the response without
    reading them (reading the floats back cost a map view's page of projects a third of
    its time)."""
    return [None if t is None else orjson.Fragment(t) for t in _geojson_texts(geometries)]


def _geojson_texts(geometries: npt.NDArray[np.object_]) -> list[str | None]:
    """The GeoJSON text of each lon/lat geometry, rounded to about 1 cm.

    Several times faster than shapely's ``mapping``, which builds a tuple per coordinate in
    Python: written type by type from shapely's ragged arrays (one coordinate array and its
    offsets per type), each ring or line a numpy slice that orjson writes in C with the
    shortest digits that read back the same double, as it writes a float anywhere else.
    (GEOS's own GeoJSON writer prints some rounded values with 17 digits,
    51.511555799999996.) What the arrays cannot hold (a collection, an empty geometry, 2D
    and 3D mixed) goes through ``mapping``.
    """
    rounded = shapely.transform(geometries, lambda c: np.round(c, OUTPUT_DECIMALS))
    texts: list[str | None] = [None] * len(rounded)
    type_ids = shapely.get_type_id(rounded)
    for type_id in np.unique(type_ids[type_ids >= 0]):
        where = np.flatnonzero(type_ids == type_id)
        group = rounded[where]
        name = _RAGGED_TYPES.get(int(type_id))
        with_z = shapely.has_z(group)
        if name is None or shapely.is_empty(group).any() or with_z.any() != with_z.all():
            written = [orjson.dumps(mapping(g)).decode() for g in group]
        else:
            _kind, coords, offsets = shapely.to_ragged_array(group, include_z=bool(with_z[0]))
            written = [f'{{"type":"{name}","coordinates":{c}}}' for c in _nested(coords, offsets)]
        for k, text in zip(where, written, strict=True):
            texts[k] = text
    return texts


_RAGGED_TYPES = {0: "Point", 1: "LineString", 3: "Polygon", 4: "MultiPoint"}
_RAGGED_TYPES |= {5: "MultiLineString", 6: "MultiPolygon"}
"""shapely's type ids of the geometries ``to_ragged_array`` writes, and their GeoJSON type."""


def _nested(
    coords: npt.NDArray[np.float64], offsets: tuple[npt.NDArray[np.int64], ...]
) -> list[str]:
    """The coordinates' JSON of each geometry of one type: positions (a point), or each
    line or ring a slice of ``coords``, joined level by level as ``offsets`` nest them."""
    if not offsets:  # points
        return [orjson.dumps(c, option=orjson.OPT_SERIALIZE_NUMPY).decode() for c in coords]
    first = offsets[0]
    level = [
        orjson.dumps(coords[a:b], option=orjson.OPT_SERIALIZE_NUMPY).decode()
        for a, b in itertools.pairwise(first)
    ]
    for outer in offsets[1:]:
        level = ["[" + ",".join(level[a:b]) + "]" for a, b in itertools.pairwise(outer)]
    return level


def project_to_feature(
    project: Project, reprojector: Reprojector, geometry: PlacedGeometry | None = None
) -> dict[str, Any]:
    """A stored project as an RFC 7946 Feature; ``geometry`` as GeoJSON where the caller
    placed it already (a page reprojected at once, another CRS)."""
    properties = attributes_to_json(project.attributes) | {
        "version": project.version,
        "created_at": project.created_at.isoformat(),
        "created_by": project.created_by,
        "updated_at": project.updated_at.isoformat(),
        "updated_by": project.updated_by,
    }
    return {
        "type": "Feature",
        "id": project.id,
        "geometry": geometry
        if geometry is not None
        else geometry_to_json(reprojector.to_wgs84(project.geometry)),
        "properties": properties,
    }
