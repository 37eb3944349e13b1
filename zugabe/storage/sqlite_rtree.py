"""A packed R*Tree, written straight into the tables of an SQLite R*Tree.

Inserting into an R*Tree costs about 10 µs per row inside SQLite; when a write
changes many entries (``rebuild_pays``), the whole tree is rebuilt instead,
packed Sort-Tile-Recursive (``_RTreePacker``), in the same transaction. Used for
the trees of layer features and of cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, delete, func, select
from sqlalchemy.sql.expression import TableClause

from zugabe.errors import StorageError
from zugabe.storage.sqlite_engine import insert_rows

RTREE_REBUILD_MIN_CHANGES = 10_000
"""Layer writes touching fewer features update the R*Tree row by row."""

RTREE_REBUILD_SHARE = 4
"""Rebuild the layer R*Tree when the features removed and added, times this,
reach the number of features left: row-by-row updates cost about 10 µs per
feature, a rebuild about 2 µs per feature of all layers."""


def rebuild_may_pay(changed: int) -> bool:
    """Whether so many changes can make a rebuild pay at all (before counting the rest)."""
    return changed >= RTREE_REBUILD_MIN_CHANGES


def rebuild_pays(changed: int, remaining: int) -> bool:
    return rebuild_may_pay(changed) and changed * RTREE_REBUILD_SHARE >= remaining


def write_packed_rtree(
    conn: Connection,
    shadows: tuple[TableClause, TableClause, TableClause],
    ids: npt.NDArray[np.int64],
    boxes: npt.NDArray[np.float64],
) -> None:
    """Replace an R*Tree's content by entries ``ids`` with boxes (min_x, max_x, min_y, max_y).

    ``shadows`` are the tree's ``_node``, ``_parent`` and ``_rowid`` tables.
    """
    node_table, parent_table, rowid_table = shadows
    node_size = conn.execute(
        select(func.length(node_table.c.data)).where(node_table.c.nodeno == 1)
    ).scalar_one()
    packed = _RTreePacker(int(node_size)).pack(ids, boxes)
    for shadow in shadows:
        conn.execute(delete(shadow))
    insert_rows(conn, node_table, packed.nodes)
    insert_rows(conn, parent_table, packed.parents)
    insert_rows(conn, rowid_table, packed.rowids)


# SQLite stores R*Tree coordinates as 32-bit floats, rounding each box
# outwards with these factors (rtreeValueDown/rtreeValueUp in rtree.c).
_RND_TOWARDS = 1.0 - 1.0 / 8388608.0
_RND_AWAY = 1.0 + 1.0 / 8388608.0

_RTREE_CELL = np.dtype([("id", ">i8"), ("box", ">f4", (4,))])
"""One entry of an R*Tree node: rowid or child node, then the box, big-endian."""


def _float32_down(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    rounded = values.astype(np.float32)
    over = rounded > values
    scale = np.where(values[over] < 0, _RND_AWAY, _RND_TOWARDS)
    rounded[over] = (values[over] * scale).astype(np.float32)
    return rounded


def _float32_up(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    rounded = values.astype(np.float32)
    under = rounded < values
    scale = np.where(values[under] < 0, _RND_TOWARDS, _RND_AWAY)
    rounded[under] = (values[under] * scale).astype(np.float32)
    return rounded


@dataclass(frozen=True)
class _PackedRTree:
    """Rows of the R*Tree's tables ``_node``, ``_parent`` and ``_rowid``."""

    nodes: list[tuple[int, bytes]]
    parents: list[tuple[int, int]]
    rowids: list[tuple[int, int]]


class _Level(NamedTuple):
    """One level of a packed R*Tree: its entries in node order, and where each sits."""

    entries: npt.NDArray[np.int64]
    boxes: npt.NDArray[np.float32]
    node: npt.NDArray[np.int64]
    slot: npt.NDArray[np.int64]


class _RTreePacker:
    """Builds the tables of an SQLite R*Tree (2-D, no auxiliary columns) at once.

    SQLite's file format for R*Trees is documented and stable (the header of
    ext/rtree/rtree.c): node 1 is the root, every node is a blob of the same
    size holding a 2-byte depth (root only), a 2-byte entry count and the
    entries (8-byte id, 4 float coordinates, all big-endian); ``_parent`` maps
    each other node to its parent, ``_rowid`` each row to its leaf. Boxes
    are rounded outwards to 32-bit floats exactly as SQLite does, so queries
    answer as after row-by-row inserts; ``rtreecheck()`` verifies the result
    in the tests, and SQLite updates the tree row by row afterwards as usual.

    Packing is Sort-Tile-Recursive (Leutenegger et al. 1997): sort the
    boxes by x into vertical slices, each slice by y, fill nodes in that
    order, and repeat one level up until the root holds everything.
    """

    def __init__(self, node_size: int) -> None:
        self.node_size = node_size
        self.capacity = (node_size - 4) // _RTREE_CELL.itemsize
        if self.capacity < 2:
            raise StorageError(f"unexpected R*Tree node size {node_size}")

    def pack(self, ids: npt.NDArray[np.int64], boxes: npt.NDArray[np.float64]) -> _PackedRTree:
        """Tables for entries ``ids`` with boxes (min_x, max_x, min_y, max_y)."""
        rounded = np.empty(boxes.shape, dtype=np.float32)
        rounded[:, 0::2] = _float32_down(boxes[:, 0::2])
        rounded[:, 1::2] = _float32_up(boxes[:, 1::2])
        levels: list[_Level] = []  # leaves first, the root last
        entries, entry_boxes = ids, rounded
        leaf_order = np.arange(len(ids))
        while len(entries) > self.capacity:
            order, node, slot = self._tile(entry_boxes)
            if not levels:
                leaf_order = order
            entries, entry_boxes = entries[order], entry_boxes[order]
            levels.append(_Level(entries, entry_boxes, node, slot))
            starts = np.flatnonzero(np.r_[True, node[1:] != node[:-1]])
            entry_boxes = np.column_stack(
                [
                    np.minimum.reduceat(entry_boxes[:, 0], starts),
                    np.maximum.reduceat(entry_boxes[:, 1], starts),
                    np.minimum.reduceat(entry_boxes[:, 2], starts),
                    np.maximum.reduceat(entry_boxes[:, 3], starts),
                ]
            )
            entries = np.arange(len(starts), dtype=np.int64)  # node index in its level
        levels.append(
            _Level(entries, entry_boxes, np.zeros(len(entries), np.int64), np.arange(len(entries)))
        )
        # Node numbers: the root is 1, the others follow level by level.
        numbers: list[npt.NDArray[np.int64]] = []
        next_number = 2
        for level in levels[:-1]:
            count = int(level.node[-1]) + 1
            numbers.append(np.arange(next_number, next_number + count, dtype=np.int64))
            next_number += count
        numbers.append(np.array([1], dtype=np.int64))

        depth = len(levels) - 1
        nodes: list[tuple[int, bytes]] = []
        parents: list[tuple[int, int]] = []
        for height, level in enumerate(levels):
            node_numbers = numbers[height]
            if height == 0:
                cell_ids = level.entries
            else:
                cell_ids = numbers[height - 1][level.entries]
                parents.extend(
                    zip(cell_ids.tolist(), node_numbers[level.node].tolist(), strict=True)
                )
            blobs = self._blobs(len(node_numbers), level, cell_ids, depth if height == depth else 0)
            nodes.extend(zip(node_numbers.tolist(), blobs, strict=True))
        # The leaf of each entry, in the order of ``ids``: rows appended in
        # rowid order are the cheapest to insert.
        leaf = np.empty(len(ids), dtype=np.int64)
        leaf[leaf_order] = numbers[0][levels[0].node]
        by_id = np.argsort(ids, kind="stable") if np.any(ids[1:] < ids[:-1]) else slice(None)
        rowids = list(zip(ids[by_id].tolist(), leaf[by_id].tolist(), strict=True))
        return _PackedRTree(nodes, parents, rowids)

    def _tile(
        self, boxes: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """STR order of the entries, and the node and slot of each in that order."""
        count = len(boxes)
        node_count = -(-count // self.capacity)
        slices = math.ceil(math.sqrt(node_count))
        per_slice = slices * self.capacity
        centre_x = boxes[:, 0].astype(np.float64) + boxes[:, 1]
        centre_y = boxes[:, 2].astype(np.float64) + boxes[:, 3]
        slice_of = np.empty(count, dtype=np.int64)
        slice_of[np.argsort(centre_x, kind="stable")] = np.arange(count) // per_slice
        order = np.lexsort((centre_y, slice_of))
        position = np.arange(count) - slice_of[order] * per_slice
        # Every slice but the last is full, so node numbers have no gaps.
        node = slice_of[order] * slices + position // self.capacity
        return order, node, position % self.capacity

    def _blobs(
        self, node_count: int, level: _Level, cell_ids: npt.NDArray[np.int64], depth: int
    ) -> list[bytes]:
        """Node images of one level; ``depth`` is written in the root only."""
        node, slot = level.node, level.slot
        cells = np.zeros((node_count, self.capacity), dtype=_RTREE_CELL)
        cells["id"][node, slot] = cell_ids
        cells["box"][node, slot] = level.boxes
        header = np.zeros(node_count, dtype=[("depth", ">u2"), ("count", ">u2")])
        header["depth"] = depth
        header["count"] = np.bincount(node, minlength=node_count)
        padding = self.node_size - 4 - self.capacity * _RTREE_CELL.itemsize
        image = np.concatenate(
            [
                header.view(np.uint8).reshape(node_count, 4),
                cells.view(np.uint8).reshape(node_count, -1),
                np.zeros((node_count, padding), dtype=np.uint8),
            ],
            axis=1,
        )
        return [row.tobytes() for row in image]
