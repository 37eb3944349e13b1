"""Use case: compute the synergy grid [Flächenkulisse] from stored layers and projects."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from zugabe.config import Settings
from zugabe.domain.accounts import Actor
from zugabe.domain.project import Status
from zugabe.domain.synergy import PROJECTS, Criterion, SynergyConfig
from zugabe.engine.synergy import CriterionInput, SynergyResult, square_grid, synergy_grid
from zugabe.errors import BadRequest, Conflict
from zugabe.io.geojson import geometry_to_json
from zugabe.services.projects import ProjectFilter, ProjectService
from zugabe.services.query import BBox
from zugabe.storage.contract import Store

MAX_CELLS = 250_000
MAX_CELL_SIZE_M = 100_000.0
"""A cell larger than this (100 km) scores nothing a region could use."""
PLANNED = (Status.IDEA, Status.PLANNING, Status.APPROVED, Status.UNDER_CONSTRUCTION)


class SynergyService:
    def __init__(
        self, store: Store, projects: ProjectService, config: SynergyConfig, settings: Settings
    ) -> None:
        self.store = store
        self.projects = projects
        self.config = config
        self.settings = settings
        self.reprojector = projects.reprojector

    def compute(
        self,
        actor: Actor,
        *,
        cell_size: float | None = None,
        cells_layer: str | None = None,
        bbox: BBox | None = None,
    ) -> SynergyResult:
        """Score cells of a square grid (or the polygons of ``cells_layer``) in ``bbox``.

        Without a bbox the grid covers the stored layers the criteria use.
        """
        self.projects.policy.require_read(actor)
        area = self._grid_area(bbox)
        if area.is_empty:  # the box misses the region: nothing to score
            cells = np.array([], dtype=object)
        elif cells_layer:
            cells = np.array(
                [
                    f.geometry
                    for f in self.store.layer_features(cells_layer, area)
                    if f.geometry.geom_type in ("Polygon", "MultiPolygon")
                ],
                dtype=object,
            )
        else:
            size = cell_size or self.config.cell_size_m
            if not 0 < size <= MAX_CELL_SIZE_M:
                raise BadRequest(f"a cell size is above 0 and at most {MAX_CELL_SIZE_M:g} m")
            min_x, min_y, max_x, max_y = area.bounds
            count = np.ceil((max_x - min_x) / size) * np.ceil((max_y - min_y) / size)
            if count > MAX_CELLS:
                raise BadRequest(
                    f"a {size:g} m grid over this area has {count:,.0f} cells; at most "
                    f"{MAX_CELLS:,}: choose larger cells or a smaller bbox"
                )
            cells = square_grid(area.bounds, size)
            cells = cells[shapely.intersects(area, cells)]
        inputs = {c.key: self._input(actor, c, area) for c in self.config.criteria}
        return synergy_grid(cells, self.config.criteria, inputs, self.config.attention_share)

    def _grid_area(self, bbox: BBox | None) -> shapely.Geometry:
        """The box, or without one the stored layers the criteria use, cut to the region:
        nothing beyond it is stored, so a grid there would only count empty cells."""
        region = self.reprojector.bbox_to_storage(self.settings.region_bbox)
        if bbox is not None:
            return shapely.intersection(self.reprojector.bbox_to_storage(bbox), region)
        sources = {c.source for c in self.config.criteria}
        boxes = [
            shapely.box(*info.extent)
            for info in self.store.list_layers()
            if info.key in sources and info.extent is not None
        ]
        if not boxes:
            raise Conflict("none of the layers the synergy criteria use is stored yet")
        return shapely.intersection(shapely.box(*shapely.total_bounds(boxes)), region)

    def _input(self, actor: Actor, criterion: Criterion, area: shapely.Geometry) -> CriterionInput:
        if criterion.source == PROJECTS:
            lonlat = self.reprojector.to_wgs84(area).bounds
            found = self.projects.iterate(
                actor,
                ProjectFilter(bbox=lonlat, measure_types=criterion.measure_types, statuses=PLANNED),
            )
            return CriterionInput(np.array([p.geometry for p in found], dtype=object))
        features = [
            f
            for f in self.store.layer_features(criterion.source, area)
            if all(c.holds(f.attributes.get(c.attribute)) for c in criterion.conditions)
        ]
        values = None
        if criterion.attribute:
            values = np.array(
                [_number(f.attributes.get(criterion.attribute)) for f in features], dtype=float
            )
        return CriterionInput(np.array([f.geometry for f in features], dtype=object), values)

    def to_geojson(self, result: SynergyResult) -> dict[str, Any]:
        """Cells as a GeoJSON FeatureCollection (lon/lat), best first."""
        criteria = self.config.criteria
        features = self.cell_features(result, np.argsort(result.rank))
        return {
            "type": "FeatureCollection",
            "criteria": [
                {"key": c.key, "label": c.label, "weight": c.weight, "measure": c.measure}
                for c in criteria
            ],
            "features": features,
        }

    def cell_features(
        self,
        result: SynergyResult,
        indices: Iterable[int],
        place: Callable[[BaseGeometry], BaseGeometry] | None = None,
    ) -> list[dict[str, Any]]:
        """The cells of ``indices`` as GeoJSON Features, id = the cell's index in the grid;
        ``place`` moves their geometry (default: to lon/lat)."""
        place = place or self.reprojector.to_wgs84
        features = []
        for index in indices:
            properties: dict[str, Any] = {
                "rank": int(result.rank[index]),
                "score": round(float(result.score[index]), 4),
                "attention_area": bool(result.attention[index]),
            }
            for c in self.config.criteria:
                measure = float(result.measures[c.key][index])
                properties[c.key] = {
                    "measure": None if np.isnan(measure) else round(measure, 3),
                    "utility": round(float(result.utilities[c.key][index]), 4),
                }
            features.append(
                {
                    "type": "Feature",
                    "id": int(index),
                    "geometry": geometry_to_json(place(result.cells[index])),
                    "properties": properties,
                }
            )
        return features


def _number(value: object) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else np.nan
    )
