"""The synergy grid [Flächenkulisse]: weighted utility analysis per cell.

Pure functions on shapely arrays: no storage, no Flask. The service picks
the features of each criterion; this module measures them per cell, maps
measures to utilities, weights them and ranks the cells.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from zugabe.domain.synergy import Criterion, Utility


@dataclass(frozen=True)
class CriterionInput:
    """The features a criterion measures: geometries (metric CRS) and, for
    ``max_value``, their attribute values as floats (NaN where missing)."""

    geometries: np.ndarray
    values: np.ndarray | None = None


@dataclass(frozen=True)
class SynergyResult:
    cells: np.ndarray
    measures: dict[str, np.ndarray]
    utilities: dict[str, np.ndarray]
    score: np.ndarray  # weighted mean utility, 0..1
    rank: np.ndarray  # 1 = best cell
    attention: np.ndarray  # the attention areas [Aufmerksamkeitsräume]


def square_grid(bounds: tuple[float, float, float, float], cell_size: float) -> np.ndarray:
    """Square cells covering ``bounds``, aligned to multiples of ``cell_size``
    so the same place always gets the same cell."""
    min_x, min_y, max_x, max_y = bounds
    xs = np.arange(np.floor(min_x / cell_size), np.ceil(max_x / cell_size)) * cell_size
    ys = np.arange(np.floor(min_y / cell_size), np.ceil(max_y / cell_size)) * cell_size
    grid_x, grid_y = np.meshgrid(xs, ys)
    x0, y0 = grid_x.ravel(), grid_y.ravel()
    return shapely.box(x0, y0, x0 + cell_size, y0 + cell_size)


def utility_of(utility: Utility, measures: np.ndarray) -> np.ndarray:
    """Map measures to utilities 0..1 (NaN measures, i.e. nothing there, give 0)."""
    xs = np.array([x for x, _u in utility.points])
    us = np.array([u for _x, u in utility.points])
    if utility.kind == "linear":
        result = np.interp(measures, xs, us)
    else:
        index = np.searchsorted(xs, measures, side="right")
        result = np.where(index < len(us), us[np.minimum(index, len(us) - 1)], us[-1])
    return np.where(np.isnan(measures), 0.0, result)


def measure_cells(cells: np.ndarray, criterion: Criterion, data: CriterionInput) -> np.ndarray:
    """The criterion's measure for every cell."""
    result = (
        np.zeros(len(cells)) if criterion.measure != "max_value" else np.full(len(cells), np.nan)
    )
    if len(data.geometries) == 0:
        return result
    tree = shapely.STRtree(data.geometries)
    cell_index, feature_index = tree.query(cells, predicate="intersects")
    if criterion.measure == "count":
        return np.bincount(cell_index, minlength=len(cells)).astype(float)
    if criterion.measure == "max_value":
        values = (
            data.values if data.values is not None else np.full(len(data.geometries), np.nan)
        )[feature_index]
        np.fmax.at(result, cell_index, values)
        return result
    parts = shapely.intersection(cells[cell_index], data.geometries[feature_index])
    if criterion.measure == "length":
        return np.bincount(cell_index, weights=shapely.length(parts), minlength=len(cells))
    covered = np.bincount(cell_index, weights=shapely.area(parts), minlength=len(cells))
    return np.minimum(covered / shapely.area(cells), 1.0)


def synergy_grid(
    cells: np.ndarray,
    criteria: Sequence[Criterion],
    inputs: Mapping[str, CriterionInput],
    attention_share: float,
) -> SynergyResult:
    """Score and rank cells; the best ``attention_share`` of scored cells are attention areas."""
    if not criteria:
        raise ValueError("the synergy grid needs at least one criterion")
    measures = {c.key: measure_cells(cells, c, inputs[c.key]) for c in criteria}
    utilities = {c.key: utility_of(c.utility, measures[c.key]) for c in criteria}
    weights = np.array([c.weight for c in criteria])
    stacked = np.vstack([utilities[c.key] for c in criteria])
    score = (weights[:, None] * stacked).sum(axis=0) / weights.sum()
    order = np.lexsort((np.arange(len(cells)), -score))  # best first, ties by cell order
    rank = np.empty(len(cells), dtype=int)
    rank[order] = np.arange(1, len(cells) + 1)
    scored = int((score > 0).sum())
    attention = (rank <= int(np.ceil(scored * attention_share))) & (score > 0)
    return SynergyResult(cells, measures, utilities, score, rank, attention)
