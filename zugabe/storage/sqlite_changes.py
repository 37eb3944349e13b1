"""The change log of the SQLite store: what each revision changed.

A mixin of both stores (``SqliteStore`` and ``PostgisStore``). The log is written by
triggers (migration 14), whoever writes; this part only reads it, for processes whose
detection index is behind.
"""

from __future__ import annotations

from sqlalchemy import select

from zugabe.storage.contract import StoreChange
from zugabe.storage.sql_connections import StoreConnections
from zugabe.storage.sqlite_schema import store_changes_table

_log = store_changes_table.c


class SqliteChanges(StoreConnections):
    """The ``changes_since`` part of ``SqliteStore``."""

    def changes_since(self, revision: int) -> list[StoreChange]:
        query = select(_log.revision, _log.kind, _log.ref).where(_log.revision > revision)
        with self._read() as conn:
            rows = conn.execute(query.order_by(_log.revision)).all()
        return [StoreChange(row.revision, row.kind, row.ref) for row in rows]
