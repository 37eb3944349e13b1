"""Repairing a geometry the way a GIS user would by hand, and saying what was done.

Real files hold self-intersecting polygons and GeometryCollections of one kind of part
(one city's roadworks list: 8 of 181 works failed only on that). ``make_valid`` fixes the
first, keeping the parts of the geometry's own dimension; the second becomes the Multi
type of its parts. Anything else (a collection of points and polygons, a polygon that
collapses to a line) cannot be repaired without guessing and is left to the user.
"""

from __future__ import annotations

import shapely

GEOMETRY_COLLECTION = 7  # shapely's type id
DIMENSION_NAMES = {0: "points", 1: "lines", 2: "polygons"}
_MULTI = {0: shapely.multipoints, 1: shapely.multilinestrings, 2: shapely.multipolygons}


def is_collection(geometry: shapely.Geometry) -> bool:
    return bool(shapely.get_type_id(geometry) == GEOMETRY_COLLECTION)


def needs_repair(geometry: shapely.Geometry) -> bool:
    """What ``repaired`` is for: a GeometryCollection, or an invalid geometry."""
    return is_collection(geometry) or not shapely.is_valid(geometry)


def repaired(geometry: shapely.Geometry) -> tuple[shapely.Geometry | None, str]:
    """The geometry made valid, or None; and what was done (or why it cannot be)."""
    if is_collection(geometry):
        parts = shapely.get_parts(geometry)
        dimensions = set(shapely.get_dimensions(parts).tolist())
        if len(dimensions) != 1:
            kinds = ", ".join(DIMENSION_NAMES[d] for d in sorted(dimensions))
            return None, f"a GeometryCollection of {kinds} cannot become one geometry type"
        dimension = dimensions.pop()
        geometry = _MULTI[dimension](parts)
        done = f"GeometryCollection made a {geometry.geom_type}"
        if geometry.is_valid:
            return geometry, done
        fixed = _made_valid(geometry, dimension)
        return (fixed, f"{done} and made valid") if fixed is not None else (None, done)
    reason = shapely.is_valid_reason(geometry)
    fixed = _made_valid(geometry, shapely.get_dimensions(geometry))
    if fixed is None:
        return None, f"invalid geometry ({reason}), not repairable without changing its kind"
    return fixed, f"invalid geometry repaired: {reason}"


def _made_valid(geometry: shapely.Geometry, dimension: int) -> shapely.Geometry | None:
    """make_valid, kept only when the result has the same dimension (a polygon stays areal)."""
    valid = shapely.make_valid(geometry)
    if is_collection(valid):  # keep the parts of our dimension
        parts = [p for p in shapely.get_parts(valid) if shapely.get_dimensions(p) == dimension]
        valid = shapely.union_all(parts) if parts else None
    if valid is None or valid.is_empty or shapely.get_dimensions(valid) != dimension:
        return None
    return valid
