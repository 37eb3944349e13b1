"""Coordination cases in the SQLite store: the sync of a detection run's findings, and
the conditions of case queries; reading case rows in both stores.

A mixin of ``SqliteStore`` implementing ``SqlStore``'s case hook. A sync writes a hundred
thousand cases in a few seconds: the findings are checked and encoded before the write lock is taken
(``PreparedFindings``), the stored cases are read as plain tuples from the DBAPI
cursor, and rows go in through ``executemany``; what happens to each stored case is
decided by ``zugabe.domain.case_workflow`` (``_CaseSyncer`` only writes it).
``load_case`` and ``cases_of_rows`` serve ``SqlStore`` and the desk (``sqlite_desk``).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import shapely
from sqlalchemy import (
    ColumnElement,
    Connection,
    Executable,
    Row,
    Select,
    Table,
    bindparam,
    column,
    delete,
    func,
    insert,
    or_,
    select,
    table,
    union_all,
    update,
)
from sqlalchemy.dialects import sqlite as sqlite_dialect

from zugabe.domain.agreement import Decision, DecisionKind, DecisionState, Vote, VoteChoice
from zugabe.domain.case_history import Event, HistoryEvent, describe_changes
from zugabe.domain.case_workflow import Recomputed, found, vanished
from zugabe.domain.cases import (
    CaseFinding,
    CaseStatus,
    Comment,
    CoordinationCase,
    HistoryEntry,
    Subject,
)
from zugabe.storage.case_rows import (
    BOX,
    DEPARTMENT,
    IDENTITY,
    ORGANISATION,
    PAYLOAD,
    Box,
    PreparedFindings,
    involvement_pairs,
)
from zugabe.storage.contract import CaseQuery, CaseSync
from zugabe.storage.sqlite_area import area_conditions, spatial_test
from zugabe.storage.sqlite_engine import (
    SqliteBase,
    driver_sql,
    encode_row,
    indexes_rebuilt,
    insert_rows,
    next_id,
)
from zugabe.storage.sqlite_filter import CASE_ANY_OF, Target, case_operand, translate
from zugabe.storage.sqlite_rtree import rebuild_may_pay, rebuild_pays, write_packed_rtree
from zugabe.storage.sqlite_schema import (
    UtcDateTime,
    case_comments_table,
    case_decisions_table,
    case_history_table,
    case_involvements_table,
    case_votes_table,
    cases_rtree_node,
    cases_rtree_parent,
    cases_rtree_rowid,
    cases_rtree_table,
    cases_table,
)

PAIR_KEYS_PER_QUERY = 500
"""Cases outside a sync's scope are looked up by pair key this many at a time
(old SQLite builds allow 999 parameters per statement)."""


class SqliteCases(SqliteBase):
    """What cases need of SQLite in ``SqliteStore`` (the rest is ``SqlStore``'s and the
    desk's): the sync of findings, and area and CQL2 conditions that use the R*Tree."""

    def _case_syncer(
        self,
        conn: Connection,
        prepared: PreparedFindings,
        scope: str | None,
        user: str,
        reason: dict[str, Any],
    ) -> _CaseSyncer:
        return _CaseSyncer(conn, prepared, scope, user, reason)

    def _case_conditions(self, query: CaseQuery) -> list[ColumnElement[bool]]:
        conditions = _case_conditions(query)
        if query.area is not None:
            conditions.extend(area_conditions(query.area, cases_table, cases_rtree_table))
        if query.filter is not None:
            conditions.append(translate(query.filter, _CASE_TARGET))
        return conditions


_REVIEW = ("status", "status_reason", "created_at", "updated_at", "version")
_WORK = ("assignee", "due_date")

if tuple(cases_table.columns.keys()) != (
    "id",
    "pair_key",
    *IDENTITY,
    *PAYLOAD,
    *BOX,
    *_REVIEW,
    *_WORK,
):
    # New cases are written as plain tuples in table order (see ``insert_rows``).
    raise RuntimeError("cases_table columns are not in the order sync_cases writes them")

_DIALECT = sqlite_dialect.dialect(paramstyle="qmark")


def _utc_text(moment: datetime) -> str:
    """A timestamp as ``UtcDateTime`` stores it, for rows written as plain tuples."""
    text = UtcDateTime().process_bind_param(moment, _DIALECT)
    assert text is not None
    return text


_STORED = ("id", "pair_key", "status")
"""What a sync reads of each stored case (then ``PAYLOAD``), as plain tuples."""
_ID, _PAIR_KEY, _STATUS = range(len(_STORED))
_PAYLOAD_AT = len(_STORED)
_GEOMETRY = PAYLOAD.index("geometry")
_ORGANISATIONS = PAYLOAD.index("organisations")
_DEPARTMENTS = PAYLOAD.index("departments")


def _select_stored() -> Select[Any]:
    return select(*(cases_table.c[name] for name in (*_STORED, *PAYLOAD)))


_SELECT_ALL_CASES_SQL = driver_sql(_select_stored())
_SELECT_CASES_OF_SUBJECT_SQL = driver_sql(
    _select_stored().where(
        or_(
            cases_table.c.subject_a_key == bindparam("a_key"),
            cases_table.c.subject_b_key == bindparam("b_key"),
        )
    )
)


@functools.cache
def _select_cases_by_key_sql(count: int) -> str:
    keys = [bindparam(f"key_{i}") for i in range(count)]
    return driver_sql(_select_stored().where(cases_table.c.pair_key.in_(keys)))


def _positional(statement: Executable, names: tuple[str, ...]) -> str:
    """SQL text of a statement whose ``?`` parameters must come in this order."""
    compiled = statement.compile(dialect=_DIALECT)
    if tuple(compiled.positiontup or ()) != names:
        raise RuntimeError(f"unexpected parameter order in {compiled}")
    return str(compiled)


_UPDATE_PAYLOAD_SQL = _positional(
    update(cases_table)
    .where(cases_table.c.id == bindparam("case_id"))
    .values(
        {
            **{name: bindparam(f"new_{name}") for name in (*PAYLOAD, *BOX)},
            "updated_at": bindparam("new_updated_at"),
            "version": cases_table.c.version + bindparam("bump"),
        }
    ),
    (*(f"new_{name}" for name in (*PAYLOAD, *BOX)), "new_updated_at", "bump", "case_id"),
)
"""Parameters: payload, box, updated_at, version increment, id."""

_SET_STATUS_SQL = _positional(
    update(cases_table)
    .where(cases_table.c.id == bindparam("case_id"))
    .values(
        status=bindparam("new_status"),
        status_reason=bindparam("new_reason"),
        updated_at=bindparam("new_updated_at"),
        version=cases_table.c.version + bindparam("bump"),
    ),
    ("new_status", "new_reason", "new_updated_at", "bump", "case_id"),
)
"""Parameters: status, reason, updated_at, version increment, id."""

_CLOSE_DECISIONS_SQL = _positional(
    update(case_decisions_table)
    .where(
        case_decisions_table.c.case_id == bindparam("case_id"),
        or_(
            case_decisions_table.c.state == bindparam("waiting"),
            case_decisions_table.c.state == bindparam("agreed"),
        ),
    )
    .values(state=bindparam("new_state"), closed_at=bindparam("new_closed_at")),
    ("new_state", "new_closed_at", "case_id", "waiting", "agreed"),
)
"""Parameters: state, closed_at, case id, then ``_OPEN_DECISION_STATES``: the case's
current decision is closed."""
_DECIDED = frozenset({CaseStatus.PROPOSED.value, CaseStatus.AGREED.value})
_OPEN_DECISION_STATES = (DecisionState.WAITING.value, DecisionState.AGREED.value)

_DELETE_CASE_BOX_SQL = driver_sql(
    delete(cases_rtree_table).where(cases_rtree_table.c.id == bindparam("case_id"))
)
_DELETE_INVOLVEMENT_SQL = _positional(
    delete(case_involvements_table).where(
        case_involvements_table.c.kind == bindparam("kind"),
        case_involvements_table.c.value == bindparam("value"),
        case_involvements_table.c.case_id == bindparam("case_id"),
    ),
    ("kind", "value", "case_id"),
)
_SELECT_CASE_BOXES_SQL = driver_sql(
    select(
        cases_table.c.id,
        cases_table.c.min_x,
        cases_table.c.max_x,
        cases_table.c.min_y,
        cases_table.c.max_y,
    ).where(cases_table.c.min_x.is_not(None), cases_table.c.id < bindparam("before"))
)
"""The boxes of the cases stored with an id below ``before``."""
_NO_ID_ABOVE = 2**63 - 1  # SQLite's largest integer
_NEW_CASE_COLUMNS = ("id", "pair_key", *IDENTITY, *PAYLOAD, *BOX, *_REVIEW)
"""The columns a sync writes when it creates a case, in table order (no desk work yet)."""
_NEW_CASE_ROWS = table(cases_table.name, *(column(name) for name in _NEW_CASE_COLUMNS))
_HISTORY_ROWS = table(
    case_history_table.name,
    column("case_id"),
    column("at"),
    column("by_user"),
    column("event"),
    column("details"),
)
"""History rows without their id, which SQLite assigns."""


def _involvements_of_new_cases() -> str:
    """INSERT of the involvement rows of the cases with ids from ``first`` to ``last``: an
    'organisation' row per value of their organisations, a 'department' row per value of
    their departments (JSON lists), a repeat once (``involvement_pairs``)."""
    c = cases_table.c
    new = c.id.between(bindparam("first"), bindparam("last"))

    def rows(kind: str, values: ColumnElement[Any]) -> Select[Any]:
        listed = func.json_each(values).table_valued("value")
        named = bindparam(f"{kind}_kind")
        return select(c.id, named, listed.c.value).select_from(cases_table, listed).where(new)

    every = union_all(rows("organisation", c.organisations), rows("department", c.departments))
    return _positional(
        insert(case_involvements_table)
        .prefix_with("OR IGNORE")
        .from_select(["case_id", "kind", "value"], every),
        ("organisation_kind", "first", "last", "department_kind", "first", "last"),
    )


_INVOLVE_NEW_CASES_SQL = _involvements_of_new_cases()
_HISTORY_OF_NEW_CASES_SQL = _positional(
    insert(case_history_table).from_select(
        ["case_id", "at", "by_user", "event", "details"],
        select(
            cases_table.c.id,
            bindparam("at"),
            bindparam("by_user"),
            bindparam("event"),
            bindparam("details"),
        ).where(cases_table.c.id.between(bindparam("first"), bindparam("last"))),
    ),
    ("at", "by_user", "event", "details", "first", "last"),
)
"""Parameters: at, by user, event, details, then the first and last new case id."""


@dataclass
class _Outcome:
    """What a sync did so far, over its parts."""

    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    created_boxes: list[Box] = field(default_factory=list)
    """The boxes of the ``created`` cases, in their order."""
    moved: list[tuple[int, Box]] = field(default_factory=list)
    """Cases whose geometry changed, with their new box."""
    bumped: set[int] = field(default_factory=set)
    """Cases whose version grew with their payload."""


class _CaseSyncer:
    """One ``sync_cases`` call, inside its write transaction.

    What happens to each stored case is decided by ``case_workflow.found``/``vanished``;
    this class only finds the stored cases and writes those decisions. How rows are read
    and written are hooks, here SQLite's (plain tuples through the DBAPI cursor and
    ``executemany``, the R*Tree kept in step), which the PostGIS store's ``_CaseWriter``
    replaces: ``_stored_cases``, ``_new_ids``, ``_insert_cases``, ``_involve_created``,
    ``_record_created``, ``_insert_involvements``,
    ``_delete_involvements``, ``_write_payloads``, ``_write_statuses``,
    ``_reopen_decisions``, ``_update_rtree`` and ``_insert_history``.
    """

    def __init__(
        self,
        conn: Connection,
        prepared: PreparedFindings,
        scope: str | None,
        user: str,
        reason: dict[str, Any],
    ) -> None:
        self.conn = conn
        self.prepared = prepared
        self.scope = scope
        self.user = user
        self.reason = reason
        self.stamp = _utc_text(datetime.now(UTC))  # under the write lock: commit order
        self.history: list[tuple[int, str, str, str, str]] = []
        self.statuses: list[tuple[int, CaseStatus]] = []
        self.closed_decisions: list[int] = []
        self.rebuilding = contextlib.ExitStack()
        """The cases' indexes, dropped for the parts' inserts until all parts are in
        (``_insert_cases``): built once, not once per part."""
        self.rebuilding_indexes = False

    def run(self, more: Iterable[PreparedFindings] = ()) -> CaseSync:
        """Sync the findings, and ``more`` parts of them as they come (a batch run's shares
        detected in other processes, ``sync_case_parts``): each part is written when it
        comes; the cases no part names become obsolete at the end."""
        stored = self._stored_cases()
        found_keys: set[str] = set()
        outcome = _Outcome()
        with self.rebuilding:  # the indexes are built again once all parts are in
            for part in itertools.chain([self.prepared], more):
                self.prepared = part
                if not found_keys.isdisjoint(part.keys):
                    twice = next(key for key in part.keys if key in found_keys)
                    raise ValueError(f"the findings name case '{twice}' more than once")
                found_keys.update(part.keys)
                new, changed = self._recompute(stored, outcome)
                outcome.created += self._create(new)
                outcome.created_boxes += [part.boxes[at] for at in new]
                outcome.moved += self._update(changed)
                outcome.bumped.update(row[_ID] for _, row in changed)
        obsolete = self._obsolete_rows(stored, found_keys)
        self._set_statuses(outcome.bumped)
        self._update_rtree(
            list(zip(outcome.created, outcome.created_boxes, strict=True)), outcome.moved
        )
        self._insert_history(self.history)
        return CaseSync(
            created=tuple(outcome.created),
            updated=tuple(sorted(outcome.updated)),
            unchanged=tuple(sorted(outcome.unchanged)),
            reopened=tuple(sorted(outcome.reopened)),
            obsoleted=tuple(sorted(obsolete)),
        )

    def _recompute(
        self, stored: dict[str, tuple[Any, ...]], outcome: _Outcome
    ) -> tuple[list[int], list[tuple[int, tuple[Any, ...]]]]:
        """Apply what recomputation decides to the stored cases the current part names;
        the positions of its new findings, and of those whose case's payload changed
        (with the stored row)."""
        new: list[int] = []  # positions in ``prepared``
        changed: list[tuple[int, tuple[Any, ...]]] = []
        for position, (key, payload) in enumerate(
            zip(self.prepared.keys, self.prepared.payloads, strict=True)
        ):
            row = stored.get(key)
            if row is None:
                new.append(position)
                continue
            case_id = row[_ID]
            old = row[_PAYLOAD_AT:]
            changes = [] if old == payload else describe_changes(_decoded(old), _decoded(payload))
            status = CaseStatus(row[_STATUS])
            self._apply(case_id, found(status, changes))
            if status is CaseStatus.OBSOLETE:
                outcome.reopened.append(case_id)
            elif changes:
                outcome.updated.append(case_id)
            else:
                outcome.unchanged.append(case_id)
            if changes:
                changed.append((position, row))
        return new, changed

    def _apply(self, case_id: int, step: Recomputed) -> None:
        self.history.extend(
            (case_id, self.stamp, self.user, event.kind.value, event.details_json())
            for event in step.events
        )
        if step.status is not None:
            self.statuses.append((case_id, step.status))
        if step.close_decision:
            self.closed_decisions.append(case_id)

    def _cursor(self) -> sqlite3.Cursor:
        # The DBAPI cursor: a batch run reads every case, and SQLAlchemy's
        # result rows would cost more than the query.
        dbapi = self.conn.connection.driver_connection
        assert isinstance(dbapi, sqlite3.Connection)
        return dbapi.cursor()

    def _stored_cases(self) -> dict[str, tuple[Any, ...]]:
        """Cases in scope, and those outside it that a finding names, by pair key."""
        cursor = self._cursor()
        try:
            if self.scope is None:
                rows = cursor.execute(_SELECT_ALL_CASES_SQL).fetchall()
            else:
                rows = cursor.execute(
                    _SELECT_CASES_OF_SUBJECT_SQL, (self.scope, self.scope)
                ).fetchall()
                known = {row[_PAIR_KEY] for row in rows}
                missing = [key for key in self.prepared.keys if key not in known]
                size = PAIR_KEYS_PER_QUERY
                for start in range(0, len(missing), size):
                    chunk = missing[start : start + size]
                    # Padded with a repeated key: one SQL text serves every chunk.
                    chunk += chunk[:1] * (size - len(chunk))
                    rows.extend(cursor.execute(_select_cases_by_key_sql(size), chunk).fetchall())
        finally:
            cursor.close()
        return {row[_PAIR_KEY]: row for row in rows}

    def _obsolete_rows(self, stored: dict[str, tuple[Any, ...]], found_keys: set[str]) -> list[int]:
        """Cases in scope that no finding names and that are not obsolete yet.

        ``stored`` holds the cases in scope and those a finding names, so the
        ones no finding names are in scope.
        """
        gone = [
            row
            for key, row in stored.items()
            if key not in found_keys and row[_STATUS] != CaseStatus.OBSOLETE.value
        ]
        for row in gone:
            self._apply(row[_ID], vanished(CaseStatus(row[_STATUS]), self.reason))
        return [row[_ID] for row in gone]

    def _create(self, positions: list[int]) -> list[int]:
        if not positions:
            return []
        ids = self._new_ids(len(positions))
        prepared = self.prepared
        review = (CaseStatus.OPEN.value, "{}", self.stamp, self.stamp, 1)
        self._insert_cases(
            [
                (
                    case_id,
                    prepared.keys[at],
                    *prepared.identities[at],
                    *prepared.payloads[at],
                    *prepared.boxes[at],
                    *review,
                )
                for case_id, at in zip(ids, positions, strict=True)
            ]
        )
        self._involve_created(ids, positions)
        self._record_created(ids, HistoryEvent(Event.CREATED))
        return ids

    def _update(self, changed: list[tuple[int, tuple[Any, ...]]]) -> list[tuple[int, Box]]:
        """Write the new payload of changed cases; return those whose geometry changed."""
        if not changed:
            return []
        prepared = self.prepared
        self._write_payloads([(row[_ID], at) for at, row in changed])
        removed: list[tuple[str, str, int]] = []
        added: list[tuple[int, str, str]] = []
        for at, row in changed:
            old, new = row[_PAYLOAD_AT:], prepared.payloads[at]
            if (old[_ORGANISATIONS], old[_DEPARTMENTS]) == (new[_ORGANISATIONS], new[_DEPARTMENTS]):
                continue
            before = set(
                involvement_pairs(json.loads(old[_ORGANISATIONS]), json.loads(old[_DEPARTMENTS]))
            )
            after = set(prepared.involvements[at])
            removed.extend((kind, value, row[_ID]) for kind, value in before - after)
            added.extend((row[_ID], kind, value) for kind, value in after - before)
        if removed:
            self._delete_involvements(removed)
        self._insert_involvements(added)
        return [
            (row[_ID], prepared.boxes[at])
            for at, row in changed
            if row[_PAYLOAD_AT + _GEOMETRY] != prepared.payloads[at][_GEOMETRY]
        ]

    def _set_statuses(self, bumped: set[int]) -> None:
        """Write the statuses recomputation decided and close the decisions it voided;
        the version grows once per case and sync (``bumped``: grown with the payload)."""
        reason = encode_row(self.reason)
        if self.statuses:
            self._write_statuses(
                [
                    (
                        case_id,
                        status.value,
                        reason if status is CaseStatus.OBSOLETE else "{}",
                        0 if case_id in bumped else 1,
                    )
                    for case_id, status in self.statuses
                ]
            )
        if self.closed_decisions:
            self._reopen_decisions(self.closed_decisions)

    # -- how rows are written: SQLite's ----------------------------------------

    def _new_ids(self, count: int) -> list[int]:
        """Ids for this many new cases, ascending and consecutive (see ``next_id``)."""
        first = next_id(self.conn, cases_table)
        return list(range(first, first + count))

    def _insert_cases(self, rows: list[tuple[Any, ...]]) -> None:
        """New cases, as tuples of ``_NEW_CASE_COLUMNS``; with the indexes rebuilt after
        (``indexes_rebuilt``) where a packed R*Tree would pay too (many new ones, and at
        least a quarter as many as stored: a first batch run)."""
        if (
            not self.rebuilding_indexes
            and rebuild_may_pay(len(rows))
            and rebuild_pays(len(rows), _count_rows(self.conn, cases_table))
        ):
            self.rebuilding.enter_context(indexes_rebuilt(self.conn, cases_table))
            self.rebuilding_indexes = True
        insert_rows(self.conn, _NEW_CASE_ROWS, rows)

    def _involve_created(self, ids: list[int], positions: list[int]) -> None:
        """The involvements of the new cases ``ids`` (consecutive, see ``_new_ids``), those
        of the findings at ``positions``: made by SQLite from the organisations and
        departments just stored with them (``_INVOLVE_NEW_CASES_SQL``), as
        ``involvement_pairs`` makes them, without a Python tuple per row."""
        span = (ids[0], ids[-1])
        self.conn.exec_driver_sql(_INVOLVE_NEW_CASES_SQL, (ORGANISATION, *span, DEPARTMENT, *span))

    def _record_created(self, ids: list[int], created: HistoryEvent) -> None:
        """The history entry of each new case (``ids`` consecutive), written by SQLite."""
        self.conn.exec_driver_sql(
            _HISTORY_OF_NEW_CASES_SQL,
            (self.stamp, self.user, created.kind.value, created.details_json(), ids[0], ids[-1]),
        )

    def _insert_involvements(self, rows: list[tuple[int, str, str]]) -> None:
        """(case id, kind, value) rows."""
        insert_rows(self.conn, case_involvements_table, rows)

    def _delete_involvements(self, rows: list[tuple[str, str, int]]) -> None:
        """(kind, value, case id) rows."""
        self.conn.exec_driver_sql(_DELETE_INVOLVEMENT_SQL, rows)

    def _write_payloads(self, updates: list[tuple[int, int]]) -> None:
        """(case id, position in ``prepared``): the case takes that finding's payload and
        box; its version grows by one."""
        prepared = self.prepared
        self.conn.exec_driver_sql(
            _UPDATE_PAYLOAD_SQL,
            [
                (*prepared.payloads[at], *prepared.boxes[at], self.stamp, 1, case_id)
                for case_id, at in updates
            ],
        )

    def _write_statuses(self, rows: list[tuple[int, str, str, int]]) -> None:
        """(case id, status, status reason as JSON, version increment) rows."""
        self.conn.exec_driver_sql(
            _SET_STATUS_SQL,
            [(status, reason, self.stamp, bump, case_id) for case_id, status, reason, bump in rows],
        )

    def _reopen_decisions(self, case_ids: list[int]) -> None:
        """Close the open decision of each of these cases as reopened."""
        self.conn.exec_driver_sql(
            _CLOSE_DECISIONS_SQL,
            [
                (DecisionState.REOPENED.value, self.stamp, case_id, *_OPEN_DECISION_STATES)
                for case_id in case_ids
            ],
        )

    def _insert_history(self, rows: list[tuple[int, str, str, str, str]]) -> None:
        """(case id, at, by user, event, details) rows."""
        insert_rows(self.conn, _HISTORY_ROWS, rows)

    def _update_rtree(self, created: list[tuple[int, Box]], moved: list[tuple[int, Box]]) -> None:
        """Bring ``cases_rtree`` in step with the new cases and those whose geometry moved
        (id and box each): row by row for a few, packed anew for many."""
        changes = len(created) + len(moved)
        if not changes:
            return
        # Counting the tree's entries scans it: only when a rebuild may pay at all.
        if rebuild_may_pay(changes) and rebuild_pays(
            changes, _count_rows(self.conn, cases_rtree_table)
        ):
            self._pack_rtree(created)
            return
        if moved:
            self.conn.exec_driver_sql(_DELETE_CASE_BOX_SQL, [(case_id,) for case_id, _ in moved])
            insert_rows(
                self.conn,
                cases_rtree_table,
                [
                    (case_id, min_x, max_x, min_y, max_y)
                    for case_id, (min_x, min_y, max_x, max_y) in moved
                    if min_x is not None
                ],
            )
        if created:
            self.conn.execute(
                insert(cases_rtree_table).from_select(
                    ["id", "min_x", "max_x", "min_y", "max_y"],
                    select(
                        cases_table.c.id,
                        cases_table.c.min_x,
                        cases_table.c.max_x,
                        cases_table.c.min_y,
                        cases_table.c.max_y,
                    ).where(cases_table.c.id >= created[0][0], cases_table.c.min_x.is_not(None)),
                )
            )

    def _pack_rtree(self, created: list[tuple[int, Box]]) -> None:
        """The tree packed anew from every case's box: the stored ones read back (the
        moved ones' new boxes are stored already), the new ones' from memory (their ids
        follow every stored one's, see ``_new_ids``)."""
        before = created[0][0] if created else _NO_ID_ABOVE
        cursor = self._cursor()
        try:
            rows = cursor.execute(_SELECT_CASE_BOXES_SQL, (before,)).fetchall()
        finally:
            cursor.close()
        rows += [
            (case_id, min_x, max_x, min_y, max_y)
            for case_id, (min_x, min_y, max_x, max_y) in created
            if min_x is not None
        ]
        boxes = np.fromiter(
            itertools.chain.from_iterable(rows), dtype=np.float64, count=5 * len(rows)
        ).reshape(-1, 5)
        shadows = (cases_rtree_node, cases_rtree_parent, cases_rtree_rowid)
        write_packed_rtree(self.conn, shadows, boxes[:, 0].astype(np.int64), boxes[:, 1:])


def _count_rows(conn: Connection, rows: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(rows)).scalar_one())


def _decoded(payload: tuple[Any, ...]) -> dict[str, Any]:
    """A stored payload (``PAYLOAD``) with its JSON decoded, for ``describe_changes``."""
    values = dict(zip(PAYLOAD, payload, strict=True))
    for name in ("measures", "organisations", "departments", "message"):
        values[name] = json.loads(values[name])
    return values


_JSON_COLUMNS = ("measures", "organisations", "departments", "message", "status_reason")


def _cases(
    rows: Sequence[Row[Any]],
    decisions: Mapping[int, tuple[Decision, ...]],
    comments: tuple[Comment, ...] = (),
    history: tuple[HistoryEntry, ...] = (),
) -> list[CoordinationCase]:
    """Stored cases decoded column by column: one WKB decode and one JSON parse per
    column for a page, not one per case and column (a map view lists a few hundred).
    The JSON columns are ZUGABE's own (no number beyond orjson's 64 bits)."""
    if not rows:
        return []
    geometries = shapely.from_wkb(np.array([row.geometry for row in rows], dtype=object))
    decoded = {
        name: orjson.loads("[" + ",".join(getattr(row, name) for row in rows) + "]")
        for name in _JSON_COLUMNS
    }
    return [
        CoordinationCase(
            id=row.id,
            finding=CaseFinding(
                pair_key=row.pair_key,
                rule_id=row.rule_id,
                relation=row.relation,
                severity=row.severity,
                subject_a=Subject(row.subject_a_kind, row.subject_a_ref, row.subject_a_layer),
                subject_b=Subject(row.subject_b_kind, row.subject_b_ref, row.subject_b_layer),
                geometry=geometry,
                measures=measures,
                organisations=tuple(organisations),
                departments=tuple(departments),
                message=message,
                window_start=row.window_start,
                window_end=row.window_end,
            ),
            status=CaseStatus(row.status),
            status_reason=status_reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
            assignee=row.assignee,
            due_date=row.due_date,
            comments=comments,
            history=history,
            decisions=decisions.get(row.id, ()),
        )
        for row, geometry, measures, organisations, departments, message, status_reason in zip(
            rows, geometries, *decoded.values(), strict=True
        )
    ]


def load_case(conn: Connection, case_id: int) -> CoordinationCase | None:
    """A case with its comments, history and decisions, in the order they were written."""
    row = conn.execute(select(cases_table).where(cases_table.c.id == case_id)).first()
    if row is None:
        return None
    comments = conn.execute(
        select(case_comments_table)
        .where(case_comments_table.c.case_id == case_id)
        .order_by(case_comments_table.c.at, case_comments_table.c.id)
    ).all()
    history = conn.execute(
        select(case_history_table)
        .where(case_history_table.c.case_id == case_id)
        .order_by(case_history_table.c.at, case_history_table.c.id)
    ).all()
    return _cases(
        [row],
        load_decisions(conn, [case_id]),
        tuple(Comment(id=c.id, at=c.at, by=c.by_user, text=c.text) for c in comments),
        tuple(
            HistoryEntry(at=h.at, by=h.by_user, event=HistoryEvent.stored(h.event, h.details))
            for h in history
        ),
    )[0]


def cases_of_rows(conn: Connection, rows: Sequence[Row[Any]]) -> list[CoordinationCase]:
    """Listed cases: without comments and history, with the decisions of those that
    have a current one (only proposed and agreed cases do)."""
    decided = [row.id for row in rows if row.status in _DECIDED]
    decisions = load_decisions(conn, decided)
    return _cases(rows, decisions)


_decisions = case_decisions_table.c
_votes = case_votes_table.c


def load_decisions(conn: Connection, case_ids: Sequence[int]) -> dict[int, tuple[Decision, ...]]:
    """The decisions of these cases with their votes, oldest first, by case id."""
    rows = []
    for chunk in _chunks(case_ids):
        rows.extend(
            conn.execute(select(case_decisions_table).where(_decisions.case_id.in_(chunk))).all()
        )
    rows.sort(key=lambda row: row.id)
    votes: dict[int, list[Vote]] = defaultdict(list)
    for chunk in _chunks([row.id for row in rows]):
        for vote in conn.execute(
            select(case_votes_table).where(_votes.decision_id.in_(chunk))
        ).all():
            votes[vote.decision_id].append(
                Vote(vote.organisation, VoteChoice(vote.choice), vote.reason, vote.by_user, vote.at)
            )
    for cast in votes.values():
        cast.sort(key=lambda vote: (vote.at, vote.organisation))
    decisions: dict[int, list[Decision]] = defaultdict(list)
    for row in rows:
        decisions[row.case_id].append(
            Decision(
                id=row.id,
                kind=DecisionKind(row.kind),
                text=row.text,
                measures=tuple(json.loads(row.measures)),
                proposed_by=row.proposed_by,
                proposed_at=row.proposed_at,
                state=DecisionState(row.state),
                closed_at=row.closed_at,
                votes=tuple(votes.get(row.id, ())),
            )
        )
    return {case_id: tuple(items) for case_id, items in decisions.items()}


def _chunks(ids: Sequence[int], size: int = 500) -> list[list[int]]:
    """Ids in pieces small enough for one ``IN`` list."""
    return [list(ids[start : start + size]) for start in range(0, len(ids), size)]


def _involves(kind: str, values: tuple[str, ...]) -> ColumnElement[bool]:
    return cases_table.c.id.in_(
        select(case_involvements_table.c.case_id).where(
            case_involvements_table.c.kind == kind,
            case_involvements_table.c.value.in_(values),
        )
    )


def _case_conditions(query: CaseQuery) -> list[ColumnElement[bool]]:
    """WHERE terms for the non-spatial filters of a case query (the area, the CQL2 filter
    and paging are the caller's)."""
    conditions: list[ColumnElement[bool]] = []
    if query.ids:
        conditions.append(cases_table.c.id.in_(query.ids))
    if query.organisations:
        conditions.append(_involves(ORGANISATION, query.organisations))
    if query.departments:
        conditions.append(_involves(DEPARTMENT, query.departments))
    for column_, values in (
        (cases_table.c.relation, query.relations),
        (cases_table.c.severity, query.severities),
        (cases_table.c.rule_id, query.rule_ids),
    ):
        if values:
            conditions.append(column_.in_(values))
    if query.statuses:
        conditions.append(cases_table.c.status.in_([CaseStatus(s).value for s in query.statuses]))
    if query.subject is not None:
        conditions.append(
            or_(
                cases_table.c.subject_a_key == query.subject,
                cases_table.c.subject_b_key == query.subject,
            )
        )
    if query.time_to is not None:
        conditions.append(
            or_(cases_table.c.window_start.is_(None), cases_table.c.window_start <= query.time_to)
        )
    if query.time_from is not None:
        conditions.append(
            or_(cases_table.c.window_end.is_(None), cases_table.c.window_end >= query.time_from)
        )
    return conditions


_CASE_TARGET = Target(case_operand, spatial_test(cases_table, cases_rtree_table), CASE_ANY_OF)
