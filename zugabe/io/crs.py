"""Reprojection between the API's WGS84 lon/lat and the metric storage CRS.

Done once at each edge (request in, response out) with pyproj; everything in
between works in metres.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

WGS84 = "OGC:CRS84"  # lon/lat axis order, as RFC 7946 GeoJSON


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
