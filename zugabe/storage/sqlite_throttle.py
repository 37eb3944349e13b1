"""Failed sign-ins of the SQLite store, counted for the sign-in throttle.

A mixin of both stores (``SqliteStore`` and ``PostgisStore``): every worker process of the
server reads and writes the same rows, so the limits hold for the instance, not per
process. Adding takes the write lock (``BEGIN IMMEDIATE``), so counting and recording are
one step for every process.
"""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select

from zugabe.storage.sql_connections import StoreConnections
from zugabe.storage.sqlite_schema import sign_in_attempts_table

_attempts = sign_in_attempts_table.c


class SqliteThrottle(StoreConnections):
    """The ``ThrottleStore`` part of ``SqliteStore``."""

    def add_attempts(self, key: str, at: float, count: int, limit: int, window: float) -> bool:
        with self._write() as conn:
            conn.execute(
                delete(sign_in_attempts_table).where(
                    _attempts.key == key, _attempts.at <= at - window
                )
            )
            held = conn.execute(select(func.count()).where(_attempts.key == key)).scalar_one()
            if held + count > limit:
                return False
            conn.execute(insert(sign_in_attempts_table), [{"key": key, "at": at}] * count)
        return True

    def attempts_since(self, key: str, since: float) -> tuple[float | None, int]:
        query = select(func.min(_attempts.at), func.count()).where(
            _attempts.key == key, _attempts.at > since
        )
        with self._read() as conn:
            oldest, count = conn.execute(query).one()
        return oldest, int(count)

    def forget_attempts(self, key: str | None = None) -> None:
        statement = delete(sign_in_attempts_table)
        if key is not None:
            statement = statement.where(_attempts.key == key)
        with self._write() as conn:
            conn.execute(statement)
