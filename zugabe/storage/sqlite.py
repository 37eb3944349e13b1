"""The embedded default store: one SQLite file, nothing to install but pip.

``SqliteStore`` opens the file, migrates its schema (``sqlite_schema``) and is made of
one mixin per concept, each in a module of its own on the shared ``SqliteBase``
(``sqlite_engine``: connections, WAL, ``BEGIN IMMEDIATE``, the registered spatial
tests, helpers for bulk writes):

- ``sqlite_projects``: projects;
- ``sqlite_layers``: thematic layers, their versions and bulk imports, with the packed
  R*Tree build in ``sqlite_rtree``;
- ``sqlite_cases``: the sync of coordination cases, reading and listing them;
- ``sqlite_desk``: work on cases, decisions, votes, the inbox;
- ``sqlite_accounts``: accounts, tokens, sessions and the audit log;
- ``sqlite_mail``: the outbox of e-mails; ``sqlite_notifications``: watch areas and
  notifications;
- ``sqlite_changes``: the log of what each revision changed (written by triggers);
- ``sqlite_jobs``: jobs, in a file of their own beside the store file;
- ``sqlite_throttle``: failed sign-ins, counted for the sign-in throttle.

CQL2 filters become SQL in ``sqlite_filter``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from zugabe.errors import StorageError
from zugabe.storage.contract import Store
from zugabe.storage.sqlite_accounts import SqliteAccountsAndAudit
from zugabe.storage.sqlite_cases import SqliteCases
from zugabe.storage.sqlite_changes import SqliteChanges
from zugabe.storage.sqlite_desk import SqliteDesk
from zugabe.storage.sqlite_jobs import SqliteJobs
from zugabe.storage.sqlite_layers import SqliteLayers
from zugabe.storage.sqlite_mail import SqliteMail
from zugabe.storage.sqlite_notifications import SqliteNotifications
from zugabe.storage.sqlite_projects import SqliteProjects
from zugabe.storage.sqlite_schema import migrate, read_version, store_revision_table
from zugabe.storage.sqlite_throttle import SqliteThrottle


class SqliteStore(
    SqliteProjects,
    SqliteLayers,
    SqliteCases,
    SqliteAccountsAndAudit,
    SqliteChanges,
    SqliteDesk,
    SqliteJobs,
    SqliteMail,
    SqliteNotifications,
    SqliteThrottle,
    Store,
):
    """Projects, thematic layers and coordination cases in one SQLite file.

    Migrates the schema when opened.
    """

    def __init__(self, url: str) -> None:
        super().__init__(url)
        try:
            applied = migrate(self._engine, self._writer, where=str(self.path))
        except DBAPIError as exc:
            self._engine.dispose()
            raise StorageError(f"cannot open the store {self.path}: {exc.orig or exc}") from exc
        except BaseException:
            self._engine.dispose()
            raise
        self.applied_migrations: tuple[int, ...] = tuple(applied)
        """Schema versions applied by this open (empty when already current)."""

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    def schema_version(self) -> int:
        with self._read() as conn:
            return read_version(conn)

    def revision(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(store_revision_table.c.revision)).scalar_one())

    def close(self) -> None:
        self._closed = True
        self._engine.dispose()
