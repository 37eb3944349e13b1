"""Layer features checked and encoded for writing, batch by batch: the same in both stores.

An import hands a store ``LayerFeatureBatch``es of shapely geometries and attribute dicts;
``check_batch`` refuses a feature without a usable geometry before anything is written and
encodes the columns at once (bounds and JSON text), so each store's bulk writer (SQLite's
``executemany`` and packed R*Tree, PostgreSQL's ``COPY``) only lays them out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from zugabe.errors import InvalidInput
from zugabe.storage.contract import LayerFeatureBatch
from zugabe.storage.sqlite_engine import encode_json, encode_row, geometry_array


@dataclass(frozen=True)
class CheckedBatch:
    """A ``LayerFeatureBatch`` checked and encoded for writing, column by column."""

    geometries: npt.NDArray[np.object_]
    bounds: npt.NDArray[np.float64]
    """min_x, min_y, max_x, max_y per feature, all finite."""
    attributes: list[str]
    """JSON text per feature."""
    source_rows: list[int]
    derived: npt.NDArray[np.object_] | None


def check_batch(key: str, batch: LayerFeatureBatch) -> CheckedBatch | None:
    """A batch ready to write (None if empty); ``InvalidInput`` for a feature without a usable
    geometry, ``ValueError``/``TypeError`` for columns of unequal length or non-JSON values."""
    geometries = geometry_array(batch.geometries)
    size = len(geometries)
    source_rows = np.asarray(batch.source_rows, dtype=np.int64)
    derived = batch.derived
    if (
        len(batch.attributes) != size
        or len(source_rows) != size
        or (derived is not None and len(derived) != size)
    ):
        raise ValueError(
            "a LayerFeatureBatch needs as many attributes, source rows and derived "
            f"geometries as geometries ({size})"
        )
    if size == 0:
        return None
    bounds = shapely.bounds(geometries)
    unusable = ~np.isfinite(bounds).all(axis=1)
    if unusable.any():
        row = int(source_rows[int(np.argmax(unusable))])
        raise InvalidInput(
            f"layer '{key}': the feature from source row {row} has no usable "
            "geometry (missing, empty or with coordinates that are not finite numbers)"
        )
    try:
        attributes = [encode_row(values) for values in batch.attributes]
    except (TypeError, ValueError):
        for values, row in zip(batch.attributes, source_rows.tolist(), strict=True):
            encode_json(values, f"layer '{key}': the attributes of source row {row}")
        raise
    return CheckedBatch(
        geometries,
        bounds,
        attributes,
        source_rows.tolist(),
        None if derived is None else geometry_array(derived),
    )


def extent_of(bounds: list[npt.NDArray[np.float64]]) -> tuple[float, float, float, float] | None:
    """The box around the bounds of every batch written (None: nothing written)."""
    if not bounds:
        return None
    joined = np.concatenate(bounds)
    return (
        float(joined[:, 0].min()),
        float(joined[:, 1].min()),
        float(joined[:, 2].max()),
        float(joined[:, 3].max()),
    )
