"""Answers to the checklists of development plans, in both stores.

A mixin of ``SqlStore`` (so of the SQLite and the PostGIS store): plain SQLAlchemy Core, one
row per project and checklist item; what an answer means is the domain's
(``zugabe.domain.checklist``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, select

from zugabe.domain.checklist import ChecklistAnswer
from zugabe.storage.sql_connections import StoreConnections
from zugabe.storage.sql_dialect import upsert
from zugabe.storage.sqlite_schema import checklist_answers_table

_answers = checklist_answers_table.c


class SqliteChecklists(StoreConnections):
    """The ``ChecklistStore`` part of both stores."""

    def checklist_answers(
        self, project_ids: Sequence[int]
    ) -> dict[int, dict[str, ChecklistAnswer]]:
        found: dict[int, dict[str, ChecklistAnswer]] = {}
        if not project_ids:
            return found
        query = (
            select(checklist_answers_table)
            .where(_answers.project_id.in_(list(project_ids)))
            .order_by(_answers.project_id, _answers.item)
        )
        with self._read() as conn:
            for row in conn.execute(query):
                found.setdefault(row.project_id, {})[row.item] = ChecklistAnswer(
                    row.item, row.answer, row.note, row.answered_by, row.answered_at
                )
        return found

    def save_checklist_answers(
        self, project_id: int, answers: Sequence[ChecklistAnswer], cleared: Sequence[str] = ()
    ) -> None:
        rows = [
            {
                "project_id": project_id,
                "item": answer.item,
                "answer": answer.answer,
                "note": answer.note,
                "answered_by": answer.answered_by,
                "answered_at": answer.answered_at,
            }
            for answer in answers
        ]
        with self._write() as conn:
            if cleared:
                conn.execute(
                    delete(checklist_answers_table).where(
                        _answers.project_id == project_id, _answers.item.in_(list(cleared))
                    )
                )
            if rows:
                upsert(conn, checklist_answers_table, rows, ("project_id", "item"))

    def _delete_checklist_answers(self, conn: Connection, project_id: int) -> None:
        """A deleted project's answers go with it (called in its delete's transaction)."""
        conn.execute(delete(checklist_answers_table).where(_answers.project_id == project_id))
