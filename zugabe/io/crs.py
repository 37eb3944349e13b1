"""Reprojection between the API's WGS84 lon/lat and the metric storage CRS.

Done once at each edge (request in, response out) with pyproj; everything in
between works in metres.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS, Proj, Transformer, datadir
from pyproj.aoi import AreaOfInterest
from pyproj.database import CRSInfo, query_utm_crs_info
from pyproj.transformer import TransformerGroup
from shapely.geometry.base import BaseGeometry

WGS84 = "OGC:CRS84"  # lon/lat axis order, as RFC 7946 GeoJSON
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
        self._to_storage_from: dict[str, tuple[Transformer, bool]] = {}

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

    def to_storage_from(self, geometry: BaseGeometry, crs: str) -> BaseGeometry:
        """A geometry whose coordinates are in ``crs``, in its authority's axis order
        (EPSG:4326 latitude first, as OGC APIs take it), in the storage CRS."""
        if crs not in self._to_storage_from:
            source = CRS.from_user_input(crs)
            first_axis = source.axis_info[0].direction if source.axis_info else "east"
            transformer = Transformer.from_crs(source, self.storage_crs, always_xy=True)
            self._to_storage_from[crs] = (transformer, first_axis in ("north", "south"))
        transformer, swapped = self._to_storage_from[crs]
        if swapped:
            geometry = shapely.transform(geometry, lambda xy: xy[:, ::-1])
        return _apply(transformer, geometry)

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


def _apply(transformer: Transformer, geometry: BaseGeometry) -> BaseGeometry:
    def transform(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1], errcheck=True)
        return np.column_stack([x, y])

    return shapely.transform(geometry, transform)


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
