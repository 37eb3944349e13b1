"""Reprojection between the API's WGS84 lon/lat and the metric storage CRS.

Done once at each edge (request in, response out) with pyproj; everything in
between works in metres.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import CRS, Proj, Transformer, datadir
from pyproj.aoi import AreaOfInterest
from pyproj.database import CRSInfo, query_utm_crs_info
from pyproj.transformer import TransformerGroup
from shapely.geometry.base import BaseGeometry

WGS84 = "OGC:CRS84"  # lon/lat axis order, as RFC 7946 GeoJSON
CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CRS84_CRS = CRS("OGC:CRS84")
"""Lon/lat on WGS84: GeoJSON's coordinates, the API's and OGC API's default."""
# Debian's proj-data puts PROJ's grids here, among them BETA2007.gsb, which the
# accurate DHDN (Gauss-Krüger) → ETRS89 transformation needs and the pyproj
# wheel lacks. Appended to PROJ's search path, never replacing it.
SYSTEM_GRID_FOLDERS = (Path("/usr/share/proj"),)
# Plain UTM zones ("ETRS89 / UTM zone 32N"), not their variants with other axis orders.
_UTM_ZONE = re.compile(r"/ UTM zone \d+[NS]$")


@cache
def use_system_grids() -> list[str]:
    """Let PROJ find grids installed by the system (once per process)."""
    added = []
    for folder in SYSTEM_GRID_FOLDERS:
        if folder.is_dir() and any(folder.glob("*.gsb")):
            datadir.append_data_dir(str(folder))
            added.append(str(folder))
    return added


@dataclass(frozen=True)
class Transformation:
    """The transformation chosen between two CRSs, and how good it is."""

    transformer: Transformer
    description: str
    accuracy_m: float | None
    warning: str | None


def choose_transformation(source: CRS, target: CRS) -> Transformation:
    """The most accurate transformation PROJ can run here, saying so when a better one is missing.

    Without its grid, PROJ silently falls back from the BETA2007 grid shift
    (DHDN → ETRS89, centimetres) to a Helmert fit about 3 m off; this names
    the fallback instead of hiding it.
    """
    use_system_grids()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # reported below, in our words
        group = TransformerGroup(source, target, always_xy=True)
    if not group.transformers:
        raise ValueError(f"PROJ knows no transformation from {source.name} to {target.name}")
    best = group.transformers[0]
    accuracy = best.accuracy if best.accuracy >= 0 else None
    warning = None
    if not group.best_available and group.unavailable_operations:
        missing = group.unavailable_operations[0]
        warning = (
            f"the most accurate transformation ({missing.name}) needs a grid file that is not "
            f"installed (Debian package proj-data); used {best.description} instead"
            + (f", accurate to about {accuracy:g} m" if accuracy is not None else "")
        )
    return Transformation(best, best.description, accuracy, warning)


class Reprojector:
    """Transforms shapely geometries between WGS84 lon/lat and ``storage_crs``."""

    def __init__(self, storage_crs: str) -> None:
        self.storage_crs = CRS.from_user_input(storage_crs)
        self._transformers: dict[tuple[str, bool], Transformer] = {}

    @cached_property
    def _to_storage(self) -> Transformer:
        return Transformer.from_crs(WGS84, self.storage_crs, always_xy=True)

    @cached_property
    def _to_wgs84(self) -> Transformer:
        return Transformer.from_crs(self.storage_crs, WGS84, always_xy=True)

    def to_storage(self, geometry: BaseGeometry) -> BaseGeometry:
        return _apply(self._to_storage, geometry)

    def to_wgs84(self, geometry: BaseGeometry) -> BaseGeometry:
        return _apply(self._to_wgs84, geometry)

    def to_crs(self, geometry: BaseGeometry, crs: CRS) -> BaseGeometry:
        """A stored geometry in ``crs``, in that CRS's own axis order (EPSG:4326: lat, lon)."""
        if crs == self.storage_crs:
            return geometry
        transformer = self._to_wgs84 if _is_crs84(crs) else self._transformer(crs, outward=True)
        moved = _apply(transformer, geometry)
        return _swapped(moved) if _latitude_first(crs) else moved

    def many_to_crs(self, geometries: Sequence[BaseGeometry], crs: CRS) -> npt.NDArray[np.object_]:
        """``to_crs`` of a page of geometries at once: one call into PROJ for all their
        coordinates, not one per geometry (a page of 1,000 projects: ten times faster)."""
        array = np.empty(len(geometries), dtype=object)
        array[:] = list(geometries)
        if crs == self.storage_crs or not len(array):
            return array
        transformer = self._to_wgs84 if _is_crs84(crs) else self._transformer(crs, outward=True)
        moved = shapely.transform(array, _coordinates_by(transformer))
        return shapely.transform(moved, lambda c: c[:, ::-1]) if _latitude_first(crs) else moved

    def box_to_storage(self, bbox: tuple[float, float, float, float], crs: CRS) -> BaseGeometry:
        """A box given in ``crs`` (its axis order) as a polygon in the storage CRS.

        Geographic boxes go through ``bbox_to_storage`` (cut to the area of use, edges
        densified); a projected box has its edges densified to 64 steps before it moves.
        """
        if crs == self.storage_crs:
            return shapely.box(*bbox)
        if _latitude_first(crs):
            bbox = (bbox[1], bbox[0], bbox[3], bbox[2])
        if crs.is_geographic:
            return self.bbox_to_storage(bbox)
        box = shapely.box(*bbox)
        step = max(bbox[2] - bbox[0], bbox[3] - bbox[1]) / 64
        return _apply(self._transformer(crs, outward=False), shapely.segmentize(box, step))

    def to_storage_from(self, geometry: BaseGeometry, crs: str) -> BaseGeometry:
        """A geometry whose coordinates are in ``crs``, in its authority's axis order
        (EPSG:4326 latitude first, as OGC APIs take it), in the storage CRS."""
        source = CRS.from_user_input(crs)
        if source == self.storage_crs:
            return geometry
        if _latitude_first(source):
            geometry = _swapped(geometry)
        return _apply(self._transformer(source, outward=False), geometry)

    def _transformer(self, crs: CRS, *, outward: bool) -> Transformer:
        """From the storage CRS to ``crs`` (outward) or back, x/y order; kept per CRS."""
        key = (crs.to_wkt(), outward)
        if key not in self._transformers:
            pair = (self.storage_crs, crs) if outward else (crs, self.storage_crs)
            self._transformers[key] = Transformer.from_crs(*pair, always_xy=True)
        return self._transformers[key]

    def coordinates_to_wgs84(self, xy: np.ndarray) -> np.ndarray:
        """Many (x, y) rows of the storage CRS at once, as (lon, lat) rows."""
        lon, lat = self._to_wgs84.transform(xy[:, 0], xy[:, 1], errcheck=True)
        return np.column_stack([lon, lat])

    def bbox_to_storage(self, bbox: tuple[float, float, float, float]) -> BaseGeometry:
        """A lon/lat box as a polygon in the storage CRS (empty if it misses its area).

        The box is cut to the storage CRS's area of use first: beyond it a projection
        may have no answer (UTM none at 90° from its meridian), and nothing is stored
        there (projects and layer features lie in the region). The edges are densified:
        a straight lon/lat edge is curved in UTM, and a 4-corner polygon would cut off
        features near the edges.
        """
        min_lon, min_lat, max_lon, max_lat = bbox
        area = self.storage_crs.area_of_use
        if area is not None and area.west < area.east:  # not across the antimeridian
            min_lon, min_lat = max(min_lon, area.west), max(min_lat, area.south)
            max_lon, max_lat = min(max_lon, area.east), min(max_lat, area.north)
        if not (min_lon < max_lon and min_lat < max_lat):
            return shapely.Polygon()
        box = shapely.box(min_lon, min_lat, max_lon, max_lat)
        return self.to_storage(shapely.segmentize(box, max_segment_length=0.01))


def _coordinates_by(transformer: Transformer) -> Callable[[np.ndarray], np.ndarray]:
    def transform(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1], errcheck=True)
        return np.column_stack([x, y])

    return transform


def _apply(transformer: Transformer, geometry: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geometry, _coordinates_by(transformer))


def _is_crs84(crs: CRS) -> bool:
    return crs.to_authority() == ("OGC", "CRS84")


def _latitude_first(crs: CRS) -> bool:
    """Whether the CRS's first axis points north or south (EPSG:4326 does; CRS84 not)."""
    return bool(crs.axis_info) and crs.axis_info[0].direction.lower() in ("north", "south")


def _swapped(geometry: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geometry, lambda coords: coords[:, ::-1])


def crs_uri(crs: CRS) -> str:
    """The OGC URI of a CRS (``http://www.opengis.net/def/crs/EPSG/0/25832``)."""
    authority = crs.to_authority()
    if authority is None:
        raise ValueError(f"{crs.name} has no authority code, so no OGC URI")
    name, code = authority
    version = "1.3" if name == "OGC" else "0"
    return f"http://www.opengis.net/def/crs/{name}/{version}/{code}"


def fitting_utm_crs(lon: float, lat: float) -> CRSInfo | None:
    """The UTM zone of a place: ETRS89's in Europe (its official frame), WGS 84's elsewhere."""
    place = AreaOfInterest(lon, lat, lon, lat)
    for datum in ("ETRS89", "WGS 84"):
        zones = query_utm_crs_info(datum_name=datum, area_of_interest=place)
        for zone in zones:
            if _UTM_ZONE.search(zone.name):
                return zone
    return None


def region_crs_warning(
    region_bbox: tuple[float, float, float, float], storage_crs: str
) -> str | None:
    """Why ``storage_crs`` does not fit the region, or None when it does.

    A projected CRS measures true distances only in its area of use; beyond it the scale
    drifts (EPSG:25832 in Britain: lengths 0.6 % long), so rule distances and overlap areas
    would be off. It fits when the centre of ``region_bbox`` lies in the area of use, as NRW
    (a few kilometres west of UTM zone 32) is measured in EPSG:25832 by its survey office.
    """
    crs = CRS.from_user_input(storage_crs)
    area = crs.area_of_use
    if area is None:  # a custom CRS: nothing to compare with
        return None
    min_lon, min_lat, max_lon, max_lat = region_bbox
    lon, lat = (min_lon + max_lon) / 2, (min_lat + max_lat) / 2
    if area.west <= area.east:
        inside_lon = area.west <= lon <= area.east
    else:  # the area of use crosses the antimeridian
        inside_lon = lon >= area.west or lon <= area.east
    if inside_lon and area.south <= lat <= area.north:
        return None
    factors = Proj(crs).get_factors(lon, lat)
    scale = max(abs(factors.meridional_scale - 1), abs(factors.parallel_scale - 1))
    distortion = f"; lengths there are {scale:.1%} off" if np.isfinite(scale) else ""
    zone = fitting_utm_crs(lon, lat)
    advice = (
        f"; fitting: {zone.auth_name}:{zone.code} ({zone.name}) or the national CRS, "
        "set as storage_crs before any data is stored"
        if zone is not None
        else "; choose a projected CRS in metres for the region as storage_crs"
    )
    return (
        f"region_bbox (centre {lon:.2f}, {lat:.2f}) lies outside the area of use of "
        f"storage_crs {storage_crs} ({crs.name}: longitude {area.west:g} to {area.east:g}, "
        f"latitude {area.south:g} to {area.north:g}){distortion}{advice}"
    )
