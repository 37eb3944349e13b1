"""The coordination desk in the SQLite store: work on cases, decisions, votes, reads.

A mixin of ``SqlStore``, so of both stores (the SQL is plain Core). It writes what
``zugabe.domain.case_workflow`` planned and decides nothing itself: the status, assignee,
due date, decision and vote of one step, with its history events, in one transaction
guarded by the case's version.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    select,
    update,
)

from zugabe.domain.agreement import DecisionState
from zugabe.domain.case_workflow import CaseWork
from zugabe.domain.cases import LIVE_STATUSES, CaseStatus, CoordinationCase
from zugabe.errors import NotFound, VersionConflict
from zugabe.storage.contract import InboxPage, InboxQuery
from zugabe.storage.sql_connections import StoreConnections
from zugabe.storage.sql_dialect import days_before, greatest, upsert
from zugabe.storage.sqlite_cases import cases_of_rows, load_case
from zugabe.storage.sqlite_schema import (
    case_decisions_table,
    case_history_table,
    case_involvements_table,
    case_reads_table,
    case_votes_table,
    cases_table,
    desk_visits_table,
)

_decisions = case_decisions_table.c
_votes = case_votes_table.c
_cases = cases_table.c
_reads = case_reads_table.c
_SEVERITY_RANK = case((_cases.severity == "high", 0), (_cases.severity == "medium", 1), else_=2)


class SqliteDesk(StoreConnections):
    """The desk part of ``SqliteStore``'s ``CaseStore``."""

    def apply_case_work(
        self, case_id: int, work: CaseWork, user: str, expected_version: int
    ) -> CoordinationCase:
        with self._write() as conn:
            now = datetime.now(UTC)
            current = conn.execute(
                select(cases_table.c.version).where(cases_table.c.id == case_id)
            ).first()
            if current is None:
                raise NotFound(f"case {case_id} does not exist")
            if current.version != expected_version:
                raise VersionConflict(
                    f"case {case_id} was changed by someone else: you saw version "
                    f"{expected_version}, the current version is {current.version}"
                )
            values: dict[str, Any] = {"updated_at": now, "version": cases_table.c.version + 1}
            if work.status is not None:
                values["status"] = work.status.value
            if work.set_assignee:
                values["assignee"] = work.assignee
            if work.set_due:
                values["due_date"] = work.due_date
            conn.execute(update(cases_table).where(cases_table.c.id == case_id).values(values))
            if work.vote is not None:
                conn.execute(
                    insert(case_votes_table).values(
                        decision_id=work.vote.decision_id,
                        organisation=work.vote.organisation,
                        choice=work.vote.choice.value,
                        reason=work.vote.reason,
                        by_user=user,
                        at=now,
                    )
                )
            if work.decision_state is not None:
                conn.execute(
                    update(case_decisions_table)
                    .where(
                        _decisions.case_id == case_id,
                        _decisions.state.in_(
                            [DecisionState.WAITING.value, DecisionState.AGREED.value]
                        ),
                    )
                    .values(state=work.decision_state.value, closed_at=now)
                )
            if work.new_decision is not None:
                conn.execute(
                    insert(case_decisions_table).values(
                        case_id=case_id,
                        kind=work.new_decision.kind.value,
                        text=work.new_decision.text,
                        measures=json.dumps(list(work.new_decision.measures), ensure_ascii=False),
                        proposed_by=user,
                        proposed_at=now,
                        state=DecisionState.WAITING.value,
                    )
                )
            if work.events:
                conn.execute(
                    insert(case_history_table),
                    [
                        {
                            "case_id": case_id,
                            "at": now,
                            "by_user": user,
                            "event": event.kind.value,
                            "details": event.details_json(),
                        }
                        for event in work.events
                    ],
                )
            stored = load_case(conn, case_id)
        assert stored is not None  # written in this transaction
        return stored

    # ------------------------------------------------------------ the inbox

    def inbox(self, query: InboxQuery) -> InboxPage:
        # Driven from the organisation's involvement rows (one contiguous range of the
        # primary key), each joined to its case by id: twice as fast as filtering every
        # live case by "id IN (…)".
        involved = case_involvements_table.c
        mine = and_(involved.kind == "organisation", involved.value == query.organisation)
        live = _cases.status.in_([s.value for s in LIVE_STATUSES])
        unread = _unread(query.username)
        conditions = [mine, *_inbox_filters(query)]
        if query.unread_only:
            conditions.append(unread)
        with_reads = case_involvements_table.join(
            cases_table, _cases.id == involved.case_id
        ).outerjoin(
            case_reads_table,
            and_(_reads.case_id == _cases.id, _reads.username == query.username),
        )
        # The order is found on narrow rows (id, sort keys), then only the page's cases
        # are read whole: sorting ten thousand rows with their geometry costs ten times more.
        page = (
            select(_cases.id, unread.label("unread"))
            .select_from(with_reads)
            .where(*conditions)
            .order_by(_cases.window_start.is_(None), _cases.window_start, _SEVERITY_RANK, _cases.id)
            .offset(query.offset)
            .limit(query.limit)
        )
        with self._read() as conn:
            order = conn.execute(page).all()
            rows = conn.execute(
                select(cases_table).where(_cases.id.in_([row.id for row in order]))
            ).all()
            by_id = {row.id: row for row in rows}
            matched = conn.execute(
                select(func.count()).select_from(with_reads).where(*conditions)
            ).scalar_one()
            unread_count = conn.execute(
                select(func.count()).select_from(with_reads).where(mine, live, unread)
            ).scalar_one()
            cases = cases_of_rows(conn, [by_id[row.id] for row in order])
        return InboxPage(
            [(c, bool(row.unread)) for c, row in zip(cases, order, strict=True)],
            int(matched),
            int(unread_count),
        )

    def seen_cases(self, username: str, case_ids: Sequence[int], at: datetime) -> None:
        if not case_ids:
            return
        rows = [{"username": username, "case_id": case_id, "seen_at": at} for case_id in case_ids]
        with self._write() as conn:
            upsert(conn, case_reads_table, rows, ["username", "case_id"])

    def seen_desk(self, username: str, at: datetime) -> None:
        with self._write() as conn:
            upsert(conn, desk_visits_table, [{"username": username, "seen_at": at}], ["username"])


def _involving(kind: str, values: Sequence[str]) -> ColumnElement[bool]:
    return _cases.id.in_(
        select(case_involvements_table.c.case_id).where(
            case_involvements_table.c.kind == kind,
            case_involvements_table.c.value.in_(list(values)),
        )
    )


def _unread(username: str) -> ColumnElement[bool]:
    """Changed after the person saw the case, and after they last marked all seen."""
    visit = (
        select(desk_visits_table.c.seen_at)
        .where(desk_visits_table.c.username == username)
        .scalar_subquery()
    )
    seen = greatest(func.coalesce(_reads.seen_at, literal("")), func.coalesce(visit, literal("")))
    return _cases.updated_at > seen


def _inbox_filters(query: InboxQuery) -> list[ColumnElement[bool]]:
    statuses = query.statuses or LIVE_STATUSES
    conditions: list[ColumnElement[bool]] = [_cases.status.in_([s.value for s in statuses])]
    if query.departments:
        conditions.append(_involving("department", query.departments))
    if query.assignee is not None:
        conditions.append(_cases.assignee == query.assignee)
    if query.relations:
        conditions.append(_cases.relation.in_(query.relations))
    if query.severities:
        conditions.append(_cases.severity.in_(query.severities))
    if query.due_by is not None:
        derived = days_before(_cases.window_start, bindparam("lead", query.due_days_before_start))
        conditions.append(func.coalesce(_cases.due_date, derived) <= query.due_by)
    if query.waiting_for_vote:
        voted = select(_votes.decision_id).where(_votes.organisation == query.organisation)
        waiting = select(_decisions.case_id).where(
            _decisions.state == DecisionState.WAITING.value, _decisions.id.not_in(voted)
        )
        conditions.append(and_(_cases.status == CaseStatus.PROPOSED.value, _cases.id.in_(waiting)))
    return conditions
