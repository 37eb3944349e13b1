"""Reprojection between the API's WGS84 lon/lat and the metric storage CRS.

Done once at each edge (request in, response out) with pyproj; everything in
between works in metres.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS, Transformer, datadir
from pyproj.transformer import TransformerGroup
from shapely.geometry.base import BaseGeometry

WGS84 = "OGC:CRS84"  # lon/lat axis order, as RFC 7946 GeoJSON
# Debian's proj-data puts PROJ's grids here, among them BETA2007.gsb, which the
# accurate DHDN (Gauss-Krüger) → ETRS89 transformation needs and the pyproj
# wheel lacks. Appended to PROJ's search path, never replacing it.
SYSTEM_GRID_FOLDERS = (Path("/usr/share/proj"),)


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

    def coordinates_to_wgs84(self, xy: np.ndarray) -> np.ndarray:
        """Many (x, y) rows of the storage CRS at once, as (lon, lat) rows."""
        lon, lat = self._to_wgs84.transform(xy[:, 0], xy[:, 1], errcheck=True)
        return np.column_stack([lon, lat])

    def bbox_to_storage(self, bbox: tuple[float, float, float, float]) -> BaseGeometry:
        """A lon/lat box as a polygon in the storage CRS.

        The edges are densified first: a straight lon/lat edge is curved in
        UTM, and a 4-corner polygon would cut off features near the edges.
        """
        box = shapely.segmentize(shapely.box(*bbox), max_segment_length=0.01)
        return self.to_storage(box)


def _apply(transformer: Transformer, geometry: BaseGeometry) -> BaseGeometry:
    def transform(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1], errcheck=True)
        return np.column_stack([x, y])

    return shapely.transform(geometry, transform)
