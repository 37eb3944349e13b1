"""Area queries in the SQLite store: the R*Tree's candidates, then the exact test.

SQLite knows no geometry, so a stored geometry meets an area in two steps: the R*Tree
(one per table: ``RTREES``) finds the rows whose bounding box meets the area's, and shapely
decides for those whose box does not lie inside the area (``_inner_box``).

The exact test runs one of two ways:

- as an SQL function (``AREA_TESTS``, registered on every connection by ``sqlite_engine``),
  so any statement (counting, CQL2's spatial functions, a layer's features) can filter,
  count and page in one go;
- after the statement, for the listings a map view asks for on every move (``rows_in_area``:
  the stamps of projects and cases, the project columns behind the points, the count of a
  long list): SQLite calls an SQL function once per row, holding the interpreter lock
  for some 9 µs, while shapely tests the candidates of a view at once in under 1 µs each.
  With 50,000 projects a view's 560 exact tests of cases took a third of its reading.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
import shapely.errors
import shapely.prepared
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    case,
    false,
    func,
    not_,
    null,
    or_,
    select,
    true,
)

from zugabe.storage.paging import ListedRows
from zugabe.storage.sqlite_schema import (
    cases_rtree_table,
    cases_table,
    projects_rtree_table,
    projects_table,
)

RTREES: dict[str, Table] = {
    projects_table.name: projects_rtree_table,
    cases_table.name: cases_rtree_table,
}
"""The R*Tree of each table whose listings ``rows_in_area`` serves."""

CANDIDATES_PER_READ = 5_000
"""Candidates read at a time: a map view's in one statement, a region's in steps."""

AREA_TESTS: dict[str, Callable[[BaseGeometry, BaseGeometry], bool]] = {
    # name of the SQL function → the test of (area, stored geometry)
    "zugabe_intersects": shapely.intersects,
    "zugabe_s_within": shapely.contains,  # the stored geometry lies within the area
    "zugabe_s_contains": shapely.within,  # the stored geometry contains the area
    "zugabe_s_equals": shapely.equals,
    "zugabe_s_touches": shapely.touches,
    "zugabe_s_overlaps": shapely.overlaps,
    "zugabe_s_crosses": shapely.crosses,
}
"""The exact spatial tests a query can ask for (``zugabe_intersects`` for area queries,
the others for CQL2's spatial functions); each implies that the boxes meet."""


class AreaTest:
    """SQL function ``name(geometry_wkb, area_wkb)`` → 1 or 0, one of ``AREA_TESTS``.

    One instance per connection and test (a connection serves one thread at a time),
    remembering the last decoded and prepared area: a query passes the same
    area for every candidate row, so it is parsed once, not once per row.
    """

    def __init__(self, test: Callable[[BaseGeometry, BaseGeometry], bool]) -> None:
        self._test = test
        self._area_wkb: bytes | None = None
        self._area: BaseGeometry | None = None

    def __call__(self, geometry_wkb: bytes | None, area_wkb: bytes | None) -> int:
        if geometry_wkb is None or area_wkb is None:
            return 0
        if self._area is None or area_wkb != self._area_wkb:
            self._area_wkb, self._area = area_wkb, _prepared(area_wkb)
        geometry = shapely.from_wkb(geometry_wkb)
        try:
            return int(self._test(self._area, geometry))
        except shapely.errors.GEOSException:
            # Invalid input (e.g. a self-intersecting import) can make GEOS
            # give up; answer for the repaired shapes rather than fail the query.
            return int(self._test(shapely.make_valid(self._area), shapely.make_valid(geometry)))


def area_conditions(
    area: BaseGeometry,
    rows: Table = projects_table,
    rtree: Table = projects_rtree_table,
    test: str = "zugabe_intersects",
) -> list[ColumnElement[bool]]:
    """Bounding-box candidates from the R*Tree, then the exact ``test``
    (one of ``AREA_TESTS``, each true only where the boxes meet), last."""
    if area.is_empty:
        return [false()]
    exact = getattr(func, test)(rows.c.geometry, shapely.to_wkb(area)) == 1
    if test == "zugabe_intersects":
        # A row whose box lies inside the area meets it: no geometry to decode. With a map
        # view over 10,000 projects that is most of them.
        exact = or_(_inside(area, rows), exact)
    return [_box_candidates(area, rows, rtree), exact]


def rows_in_area(
    conn: Connection,
    rows: Table,
    columns: Sequence[ColumnElement[Any]],
    conditions: Sequence[ColumnElement[bool]],
    area: BaseGeometry,
    after_id: int | None,
    limit: int | None,
) -> ListedRows:
    """The ``columns`` of the ``rows`` that meet ``conditions`` and ``area``, in id order
    after ``after_id``, at most ``limit``: plain tuples from the DBAPI cursor.

    The R*Tree's candidates are read in id order, each with its geometry where its box
    does not lie inside the area, and those are tested at once, in one transaction (the
    page is one state). A first page (no ``after_id``) tests every candidate and tells how
    many meet in all: when the page is not the whole list, that count is asked for next
    (a map view's ``numberMatched``), and it comes for the reading of the rest. A later
    page reads until it is full.
    """
    if area.is_empty:
        return ListedRows([], 0 if after_id is None else None)
    inside = _inside(area, rows)
    to_test = case((inside, null()), else_=rows.c.geometry)
    statement = select(*columns, case((inside, true()), else_=false()), to_test).where(
        *conditions, _box_candidates(area, rows, RTREES[rows.name])
    )
    prepared = _prepared(shapely.to_wkb(area))
    found: list[tuple[Any, ...]] = []
    matched, cursor = 0, after_id
    while True:
        step = statement.order_by(rows.c.id).limit(CANDIDATES_PER_READ)
        if cursor is not None:
            step = step.where(rows.c.id > cursor)
        result = conn.execute(step)
        candidates = result.cursor.fetchall()  # plain tuples: no per-row result processing
        result.close()
        meets = _meets(prepared, [c[-1] for c in candidates], [c[-2] for c in candidates])
        matched += int(meets.sum())
        wanted = len(candidates) if limit is None else limit - len(found)
        if wanted > 0:
            hits = np.flatnonzero(meets)[:wanted]
            found.extend(candidates[i][:-2] for i in hits)
        if len(candidates) < CANDIDATES_PER_READ:
            break
        if after_id is not None and limit is not None and len(found) >= limit:
            break
        cursor = candidates[-1][0]
    return ListedRows(found, matched if after_id is None else None)


def spatial_test(rows: Table, rtree: Table) -> Callable[[str, BaseGeometry], ColumnElement[bool]]:
    """CQL2's spatial functions on ``rows``: the R*Tree's candidates and the exact test;
    ``S_DISJOINT`` is the negation of ``S_INTERSECTS`` (of rows that have a geometry)."""

    def spatial(op: str, geometry: BaseGeometry) -> ColumnElement[bool]:
        if op == "s_disjoint":
            meets = and_(*area_conditions(geometry, rows, rtree))
            return and_(rows.c.geometry.is_not(None), not_(meets))
        test = "zugabe_intersects" if op == "s_intersects" else f"zugabe_{op}"
        return and_(*area_conditions(geometry, rows, rtree, test))

    return spatial


def _box_candidates(area: BaseGeometry, rows: Table, rtree: Table) -> ColumnElement[bool]:
    """The rows whose bounding box (in the R*Tree) meets the area's."""
    min_x, min_y, max_x, max_y = area.bounds
    return rows.c.id.in_(
        select(rtree.c.id).where(
            rtree.c.max_x >= min_x,
            rtree.c.min_x <= max_x,
            rtree.c.max_y >= min_y,
            rtree.c.min_y <= max_y,
        )
    )


def _inside(area: BaseGeometry, rows: Table) -> ColumnElement[bool]:
    """The rows whose bounding box lies inside the area (false if no box is found soon)."""
    inner = _inner_box(area)
    if inner is None:
        return false()
    x0, y0, x1, y1 = inner
    return and_(rows.c.min_x >= x0, rows.c.max_x <= x1, rows.c.min_y >= y0, rows.c.max_y <= y1)


def _inner_box(area: BaseGeometry) -> tuple[float, float, float, float] | None:
    """An axis-aligned box inside ``area``: its bounds shrunk until contained, if that comes
    soon (a reprojected lon/lat box is a slightly turned rectangle; a district is not)."""
    min_x, min_y, max_x, max_y = area.bounds
    prepared = shapely.prepared.prep(area)
    for share in (0.0, 0.005, 0.01, 0.02, 0.05):
        dx, dy = (max_x - min_x) * share, (max_y - min_y) * share
        box = (min_x + dx, min_y + dy, max_x - dx, max_y - dy)
        if prepared.contains(shapely.box(*box)):
            return box
    return None


def _prepared(area_wkb: bytes) -> BaseGeometry:
    """The area decoded anew (a query's own geometry is shared by threads) and prepared."""
    area = shapely.from_wkb(area_wkb)
    shapely.prepare(area)
    return area


def _meets(
    area: BaseGeometry, geometries: Sequence[bytes | None], inside: Sequence[Any]
) -> npt.NDArray[np.bool_]:
    """Which candidates meet the area: those inside it by their box, and those whose
    geometry (WKB, read where the box is not inside) intersects it, tested at once."""
    meets = np.array([bool(i) for i in inside], dtype=bool)
    to_test = np.flatnonzero([g is not None for g in geometries])
    if len(to_test):
        shapes = shapely.from_wkb(np.array([geometries[i] for i in to_test], dtype=object))
        try:
            meets[to_test] = shapely.intersects(area, shapes)
        except shapely.errors.GEOSException:  # as in ``AreaTest``: answer for repaired shapes
            repaired = shapely.make_valid(shapes)
            meets[to_test] = shapely.intersects(shapely.make_valid(area), repaired)
    return meets
