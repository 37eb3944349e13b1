"""Thematic layers in the SQLite store: bulk feature writes, the layer R*Tree kept in
step, and the rows of layers, versions and the archive kept for a rollback in both stores.

A mixin of ``SqliteStore`` implementing ``SqlStore``'s layer hooks. Layers are written
in bulk (half a million sewer sections in a few seconds): whole batches go through
shapely's vectorised functions and the DBAPI's ``executemany`` with statements compiled
once from Core. Inserting into an R*Tree costs about 10 µs per row inside SQLite, so a
large import does not insert into it row by row: it rebuilds the whole tree,
packed (``sqlite_rtree``), in the same transaction.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    bindparam,
    delete,
    false,
    func,
    insert,
    literal,
    select,
)

from zugabe.domain.filters import Filter
from zugabe.storage.contract import (
    LayerFeature,
    LayerFeatureBatch,
    LayerFeatureColumns,
    LayerInfo,
)
from zugabe.storage.feature_batches import check_batch, extent_of
from zugabe.storage.sqlite_area import area_conditions, spatial_test
from zugabe.storage.sqlite_engine import SqliteBase, driver_sql, insert_rows, next_id
from zugabe.storage.sqlite_filter import Target, layer_operand, translate
from zugabe.storage.sqlite_rtree import rebuild_pays, write_packed_rtree
from zugabe.storage.sqlite_schema import (
    layer_feature_archive_table,
    layer_features_rtree_node,
    layer_features_rtree_parent,
    layer_features_rtree_rowid,
    layer_features_rtree_table,
    layer_features_table,
    layers_table,
)

LAYER_SCAN_MAX = 5_000
"""Area queries on layers up to this size skip the R*Tree (see ``_feature_conditions``)."""


class SqliteLayers(SqliteBase):
    """What layers need of SQLite in ``SqliteStore`` (the rest is ``SqlStore``'s): bulk
    feature writes with the layer R*Tree kept in step, and area conditions that use it."""

    def _write_features(
        self, conn: Connection, key: str, batches: Iterable[LayerFeatureBatch]
    ) -> tuple[int, tuple[float, float, float, float] | None]:
        removed = _remove_features(conn, key)
        written = _FeatureWriter(conn, key, _next_feature_id(conn))
        for batch in batches:
            written.add(batch)
        _update_rtree(conn, removed, written)
        return written.count, extent_of(written.boxes)

    def _feature_conditions(
        self, conn: Connection, key: str, area: BaseGeometry | None, filter: Filter | None
    ) -> list[ColumnElement[bool]]:
        """WHERE terms for a layer's features, optionally those meeting ``area`` and ``filter``.

        The R*Tree holds the boxes of all layers, so for a small layer, or an
        area around all of it, its candidates would mostly belong to other
        layers: then the layer's own rows are scanned, their box columns first.
        """
        conditions = [layer_features_table.c.layer_key == key]
        if filter is not None:
            conditions.append(translate(filter, _LAYER_TARGET))
        if area is None:
            return conditions
        if area.is_empty:
            return [false()]
        layer = conn.execute(
            select(
                layers_table.c.feature_count,
                layers_table.c.min_x,
                layers_table.c.min_y,
                layers_table.c.max_x,
                layers_table.c.max_y,
            ).where(layers_table.c.key == key)
        ).first()
        if layer is None or layer.feature_count == 0:
            return [false()]
        min_x, min_y, max_x, max_y = area.bounds
        around_all = (
            min_x <= layer.min_x
            and min_y <= layer.min_y
            and max_x >= layer.max_x
            and max_y >= layer.max_y
        )
        if layer.feature_count > LAYER_SCAN_MAX and not around_all:
            return conditions + area_conditions(
                area, layer_features_table, layer_features_rtree_table
            )
        return [
            *conditions,
            layer_features_table.c.max_x >= min_x,
            layer_features_table.c.min_x <= max_x,
            layer_features_table.c.max_y >= min_y,
            layer_features_table.c.min_y <= max_y,
            func.zugabe_intersects(layer_features_table.c.geometry, shapely.to_wkb(area)) == 1,
        ]


_LAYER_TARGET = Target(
    layer_operand, spatial_test(layer_features_table, layer_features_rtree_table)
)


_SELECT_BOXES_SQL = driver_sql(
    select(
        layer_features_table.c.id,
        layer_features_table.c.min_x,
        layer_features_table.c.max_x,
        layer_features_table.c.min_y,
        layer_features_table.c.max_y,
    ).where(layer_features_table.c.id < bindparam("below"))
)


def _next_feature_id(conn: Connection) -> int:
    """First free feature id (see ``next_id``)."""
    return next_id(conn, layer_features_table)


@dataclass(frozen=True)
class _Removal:
    """What ``_remove_features`` did: how many went, and whether their R*Tree
    rows are still there (then only a rebuild brings the tree in step)."""

    count: int
    rtree_stale: bool


def _count_features(conn: Connection, key: str | None = None) -> int:
    statement = select(func.count()).select_from(layer_features_table)
    if key is not None:
        statement = statement.where(layer_features_table.c.layer_key == key)
    return int(conn.execute(statement).scalar_one())


def _archive_features(conn: Connection, key: str, current: int, keep: int) -> None:
    """Keep the current version's features for a rollback; drop those beyond ``keep``."""
    archive = layer_feature_archive_table
    if keep > 0:
        features = layer_features_table.c
        conn.execute(
            insert(archive).from_select(
                ["layer_key", "version", "attributes", "geometry", "derived", "source_row"],
                select(
                    features.layer_key,
                    literal(current),
                    features.attributes,
                    features.geometry,
                    features.derived,
                    features.source_row,
                )
                .where(features.layer_key == key)
                .order_by(features.id),
            )
        )
    conn.execute(
        delete(archive).where(archive.c.layer_key == key, archive.c.version <= current - keep)
    )


def _remove_features(conn: Connection, key: str) -> _Removal:
    """Delete a layer's features, and their R*Tree rows unless a rebuild follows anyway."""
    count = _count_features(conn, key)
    if count == 0:
        return _Removal(0, rtree_stale=False)
    # If removing alone makes a rebuild pay, the tree is rebuilt whatever is
    # written next: deleting its rows one by one first would be wasted.
    stale = rebuild_pays(count, _count_features(conn) - count)
    if not stale:
        conn.execute(
            delete(layer_features_rtree_table).where(
                layer_features_rtree_table.c.id.in_(
                    select(layer_features_table.c.id).where(layer_features_table.c.layer_key == key)
                )
            )
        )
    conn.execute(delete(layer_features_table).where(layer_features_table.c.layer_key == key))
    return _Removal(count, rtree_stale=stale)


@dataclass
class _FeatureWriter:
    """Inserts batches of one layer with consecutive ids from ``first_id``."""

    conn: Connection
    key: str
    first_id: int
    count: int = 0
    boxes: list[npt.NDArray[np.float64]] = field(default_factory=list)
    """Bounds (min_x, min_y, max_x, max_y) per batch, kept for the R*Tree."""

    def add(self, batch: LayerFeatureBatch) -> None:
        checked = check_batch(self.key, batch)
        if checked is None:
            return
        size = len(checked.geometries)
        derived_wkb: list[bytes | None] = (
            [None] * size if checked.derived is None else shapely.to_wkb(checked.derived).tolist()
        )
        start = self.first_id + self.count
        rows = list(
            zip(
                range(start, start + size),
                itertools.repeat(self.key, size),
                checked.attributes,
                shapely.to_wkb(checked.geometries).tolist(),
                derived_wkb,
                checked.source_rows,
                *(checked.bounds[:, i].tolist() for i in range(4)),
                strict=True,
            )
        )
        insert_rows(self.conn, layer_features_table, rows)
        self.count += size
        self.boxes.append(checked.bounds)

    def bounds(self) -> npt.NDArray[np.float64]:
        if not self.boxes:
            return np.empty((0, 4))
        return np.concatenate(self.boxes)


def _update_rtree(conn: Connection, removed: _Removal, written: _FeatureWriter) -> None:
    """Bring the layer R*Tree in step after features were removed and written.

    A few changes go through the virtual table; many are cheaper as one
    rebuild of the whole tree from ``layer_features``.
    """
    if removed.rtree_stale or rebuild_pays(removed.count + written.count, _count_features(conn)):
        _rebuild_rtree(conn, written)
    elif written.count:
        conn.execute(
            insert(layer_features_rtree_table).from_select(
                ["id", "min_x", "max_x", "min_y", "max_y"],
                select(
                    layer_features_table.c.id,
                    layer_features_table.c.min_x,
                    layer_features_table.c.max_x,
                    layer_features_table.c.min_y,
                    layer_features_table.c.max_y,
                ).where(layer_features_table.c.id >= written.first_id),
            )
        )


def _rebuild_rtree(conn: Connection, written: _FeatureWriter) -> None:
    """Replace the layer R*Tree by one packed from all features.

    The features written now are taken from memory; all others have smaller
    ids, so one range scan of the table finds them.
    """
    dbapi = conn.connection.driver_connection
    assert isinstance(dbapi, sqlite3.Connection)
    # The DBAPI cursor: SQLAlchemy's result rows would cost more than the query.
    cursor = dbapi.cursor()
    try:
        rows = cursor.execute(_SELECT_BOXES_SQL, (written.first_id,)).fetchall()
    finally:
        cursor.close()
    stored = np.fromiter(
        itertools.chain.from_iterable(rows), dtype=np.float64, count=5 * len(rows)
    ).reshape(-1, 5)
    new = written.bounds()
    ids = np.concatenate(
        [stored[:, 0].astype(np.int64), np.arange(written.first_id, written.first_id + len(new))]
    )
    # layer_features keeps (min_x, min_y, max_x, max_y); the R*Tree pairs them
    # per dimension: (min_x, max_x, min_y, max_y).
    boxes = np.concatenate([stored[:, 1:], new[:, [0, 2, 1, 3]]])
    write_packed_rtree(
        conn,
        (layer_features_rtree_node, layer_features_rtree_parent, layer_features_rtree_rowid),
        ids,
        boxes,
    )


def _layer_values(info: LayerInfo, report: str) -> dict[str, Any]:
    min_x, min_y, max_x, max_y = info.extent if info.extent else (None, None, None, None)
    return {
        "key": info.key,
        "version": info.version,
        "feature_count": info.feature_count,
        "min_x": min_x,
        "min_y": min_y,
        "max_x": max_x,
        "max_y": max_y,
        "source": info.source,
        "source_layer": info.source_layer,
        "source_crs": info.source_crs,
        "transformation": info.transformation,
        "imported_at": info.imported_at,
        "imported_by": info.imported_by,
        "report": report,
        "responsible_organisation": info.responsible_organisation,
    }


def _layer_info(row: Row[Any]) -> LayerInfo:
    extent = None if row.min_x is None else (row.min_x, row.min_y, row.max_x, row.max_y)
    return LayerInfo(
        key=row.key,
        version=row.version,
        feature_count=row.feature_count,
        extent=extent,
        source=row.source,
        source_layer=row.source_layer,
        source_crs=row.source_crs,
        transformation=row.transformation,
        imported_at=row.imported_at,
        imported_by=row.imported_by,
        report=json.loads(row.report),
        responsible_organisation=row.responsible_organisation,
    )


def _layer_columns(rows: Sequence[tuple[Any, ...]]) -> LayerFeatureColumns:
    """(id, geometry, attributes, source_row, derived) tuples as columns, decoded column by
    column: a detection index loads a million of them, and one vectorised WKB decode and
    one JSON parse beat a call per row (3×)."""
    if not rows:
        return LayerFeatureColumns.of(())
    ids, wkb, texts, source_rows, derived_wkb = zip(*rows, strict=True)
    return LayerFeatureColumns(
        ids=np.array(ids, dtype=np.int64),
        geometries=shapely.from_wkb(np.array(wkb, dtype=object)),
        attributes=json.loads("[" + ",".join(texts) + "]"),
        source_rows=source_rows,
        derived=shapely.from_wkb(np.array(derived_wkb, dtype=object)),  # None stays None
    )


def _layer_features(rows: Sequence[tuple[Any, ...]]) -> list[LayerFeature]:
    """The rows of ``_layer_columns`` as features."""
    return _layer_columns(rows).features()
