"""The embedded default store: one SQLite file, nothing to install but pip.

``SqliteStore`` opens the file, migrates its schema (``sqlite_schema``) and is the
shared ``SqlStore`` (``sql_store``: projects, layers and cases in plain Core, with the
account, desk, mail and notification mixins) with SQLite's spatial hooks, one mixin per
concept on ``SqliteBase`` (``sqlite_engine``: the file's connections, WAL, ``BEGIN
IMMEDIATE``, the registered spatial tests, helpers for bulk writes):

- ``sqlite_area``: area queries, the R*Tree's candidates and the exact test; a map view's
  listings (``_listed_rows``, ``_counted_rows``) test it after the statement;

- ``sqlite_projects``: the projects R*Tree kept in step, project conditions;
- ``sqlite_layers``: bulk feature writes with the packed R*Tree build of
  ``sqlite_rtree``, feature conditions, deleting a layer;
- ``sqlite_cases``: the sync of coordination cases, case conditions;

and the mixins the PostGIS store shares as they are:

- ``sqlite_changes``: the log of what each revision changed (written by triggers);
- ``sqlite_jobs``: jobs, in a file of their own beside the store file;
- ``sqlite_throttle``: failed sign-ins, counted for the sign-in throttle.

CQL2 filters become SQL in ``sqlite_filter``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table
from sqlalchemy.exc import DBAPIError

from zugabe.errors import StorageError
from zugabe.storage.paging import ListedRows
from zugabe.storage.sql_store import Conditions, Listing, SqlStore
from zugabe.storage.sqlite_area import rows_in_area
from zugabe.storage.sqlite_cases import SqliteCases
from zugabe.storage.sqlite_changes import SqliteChanges
from zugabe.storage.sqlite_jobs import SqliteJobs
from zugabe.storage.sqlite_layers import SqliteLayers
from zugabe.storage.sqlite_projects import SqliteProjects
from zugabe.storage.sqlite_schema import migrate
from zugabe.storage.sqlite_throttle import SqliteThrottle


class SqliteStore(
    SqliteProjects,
    SqliteLayers,
    SqliteCases,
    SqliteChanges,
    SqliteJobs,
    SqliteThrottle,
    SqlStore,
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

    def _listed_rows(
        self,
        conn: Connection,
        rows: Table,
        columns: Sequence[ColumnElement[Any]],
        conditions: Conditions,
        query: Listing,
    ) -> ListedRows:
        if query.area is None:
            return super()._listed_rows(conn, rows, columns, conditions, query)
        return rows_in_area(
            conn, rows, columns, conditions(None), query.area, query.after_id, query.limit
        )

    def _counted_rows(
        self, conn: Connection, rows: Table, conditions: Conditions, query: Listing
    ) -> int:
        if query.area is None:
            return super()._counted_rows(conn, rows, conditions, query)
        listed = rows_in_area(conn, rows, (rows.c.id,), conditions(None), query.area, None, 0)
        assert listed.matched is not None  # a first page counts
        return listed.matched

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"
