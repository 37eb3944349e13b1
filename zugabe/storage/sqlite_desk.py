"""The coordination desk in the SQLite store: work on cases, decisions, votes, reads.

A mixin of ``SqliteStore``. It writes what ``zugabe.domain.case_workflow`` planned and
decides nothing itself: the status, assignee, due date, decision and vote of one step,
with its history events, in one transaction guarded by the case's version.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from zugabe.domain.agreement import Decision, DecisionKind, DecisionState, Vote, VoteChoice
from zugabe.domain.case_workflow import CaseWork
from zugabe.domain.cases import CoordinationCase
from zugabe.errors import NotFound, VersionConflict
from zugabe.storage.sqlite_schema import (
    case_decisions_table,
    case_history_table,
    case_votes_table,
    cases_table,
)

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


class SqliteDesk:
    """The desk part of ``SqliteStore``'s ``CaseStore``."""

    if TYPE_CHECKING:  # provided by SqliteStore

        def _write(self, bulk: bool = False) -> AbstractContextManager[Connection]: ...

        def _load_case(self, conn: Connection, case_id: int) -> CoordinationCase | None: ...

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
            stored = self._load_case(conn, case_id)
        assert stored is not None  # written in this transaction
        return stored
