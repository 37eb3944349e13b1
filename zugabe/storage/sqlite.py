"""The embedded default store: one SQLite file, nothing to install but pip.

Python's own sqlite3 module through SQLAlchemy Core, no SpatiaLite: the
bounding boxes live in an R*Tree virtual table kept in step with ``projects``
in the same transaction, and the exact spatial test is a shapely function
registered on every connection, so filtering, counting and paging all stay
in one SQL statement.

Durability and concurrency come from SQLite itself: WAL journal (readers
never block the writer nor each other), ``synchronous=FULL`` (a committed
write survives a power cut), and ``BEGIN IMMEDIATE`` for writes (a writer
takes the write lock up front and waits for it, instead of failing on a
lock upgrade halfway through).
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shapely
import shapely.errors
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    create_engine,
    delete,
    event,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from zugabe.domain.project import Project, ProjectAttributes, Status
from zugabe.errors import ConfigError, InvalidInput, NotFound, StorageError, VersionConflict
from zugabe.storage.contract import NewProject, ProjectQuery, ProjectStore
from zugabe.storage.sqlite_schema import (
    migrate,
    projects_rtree_table,
    projects_table,
    read_version,
)

BUSY_TIMEOUT_MS = 5000
"""How long a writer waits for another writer before giving up."""

_WRITE_OPTION = "zugabe_write"

_INSERT_PROJECT = insert(projects_table)
_INSERT_BOX = insert(projects_rtree_table)


class _IntersectsArea:
    """SQL function ``zugabe_intersects(geometry_wkb, area_wkb)`` → 1 or 0.

    One instance per connection (a connection serves one thread at a time),
    remembering the last decoded and prepared area: a query passes the same
    area for every candidate row, so it is parsed once, not once per row.
    """

    def __init__(self) -> None:
        self._area_wkb: bytes | None = None
        self._area: BaseGeometry | None = None

    def __call__(self, geometry_wkb: bytes | None, area_wkb: bytes | None) -> int:
        if geometry_wkb is None or area_wkb is None:
            return 0
        if self._area is None or area_wkb != self._area_wkb:
            area = shapely.from_wkb(area_wkb)
            shapely.prepare(area)
            self._area_wkb, self._area = area_wkb, area
        geometry = shapely.from_wkb(geometry_wkb)
        try:
            return int(self._area.intersects(geometry))
        except shapely.errors.GEOSException:
            # Invalid input (e.g. a self-intersecting import) can make GEOS
            # give up; answer for the repaired shapes rather than fail the query.
            return int(shapely.make_valid(self._area).intersects(shapely.make_valid(geometry)))


def _switch_to_wal(cursor: sqlite3.Cursor) -> str:
    """Turn on WAL and return the journal mode now in effect.

    Switching a new file to WAL needs an exclusive lock and SQLite does not
    run the busy handler for it, so processes opening a new store together
    would fail with "database is locked"; retry for the busy timeout instead.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return str(cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    """Set up every new DBAPI connection the same way."""
    # Let SQLAlchemy's "begin" hook emit BEGIN instead of sqlite3's legacy
    # transaction control, which skips BEGIN before SELECT and DDL.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        mode = _switch_to_wal(cursor)
        if str(mode).lower() != "wal":
            raise StorageError(
                f"the store cannot use write-ahead logging (journal mode is '{mode}'); "
                "put the store file on a local file system"
            )
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()
    dbapi_conn.create_function("zugabe_intersects", 2, _IntersectsArea(), deterministic=True)


def _on_begin(conn: Connection) -> None:
    """Writers take the write lock at BEGIN; readers read a snapshot."""
    if conn.get_execution_options().get(_WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def connect_engine(url: URL | str) -> Engine:
    """An engine for a store file, every connection set up by ``_on_connect``.

    Public so that tests and tools (backup, migration checks) talk to the
    file exactly as the store does.
    """
    engine = create_engine(url)
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def writing(engine: Engine) -> Engine:
    """The same engine whose transactions take the write lock at BEGIN."""
    return engine.execution_options(**{_WRITE_OPTION: True})


def _database_path(url: str) -> tuple[URL, Path]:
    """Check that the URL names an SQLite file and return it parsed."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid storage URL: {exc}") from exc
    if parsed.get_backend_name() != "sqlite":
        raise ConfigError(
            f"the SQLite store needs a sqlite:/// URL, got scheme '{parsed.drivername}'"
        )
    database = parsed.database or ""
    if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
        raise ConfigError(
            "the SQLite store needs a file, e.g. sqlite:////srv/zugabe/zugabe.sqlite; "
            "in-memory databases are not supported"
        )
    if database.startswith("file:"):
        raise ConfigError("SQLite URI file names are not supported; give a plain path")
    return parsed, Path(database)


class SqliteProjectStore(ProjectStore):
    """Projects in one SQLite file; migrates the schema when opened."""

    def __init__(self, url: str) -> None:
        parsed, self.path = _database_path(url)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create the folder for the store {self.path}: {exc}"
            ) from exc
        self._engine = connect_engine(parsed)
        self._writer = writing(self._engine)
        self._closed = False
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
        return f"SqliteProjectStore({str(self.path)!r})"

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        self._check_open()
        try:
            with self._engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            raise StorageError(f"cannot read the store {self.path}: {exc.orig or exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        self._check_open()
        try:
            with self._writer.begin() as conn:
                yield conn
        except DBAPIError as exc:
            raise StorageError(f"cannot write the store {self.path}: {exc.orig or exc}") from exc

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"the store {self.path} has been closed")

    def add_projects(self, projects: Iterable[NewProject]) -> list[Project]:
        stored: list[Project] = []
        with self._write() as conn:
            now = datetime.now(UTC)  # taken under the write lock: commit order
            # The iterable is consumed inside the transaction: if it raises,
            # the exception leaves the block and everything is rolled back.
            for new in projects:
                values = _row_values(new.attributes, new.geometry)
                # Statements built once, values as parameters: an import of
                # thousands of projects should not rebuild SQL per row.
                result = conn.execute(
                    _INSERT_PROJECT,
                    {
                        **values,
                        "created_at": now,
                        "created_by": new.user,
                        "updated_at": now,
                        "updated_by": new.user,
                        "version": 1,
                    },
                )
                project_id = int(result.inserted_primary_key[0])
                conn.execute(_INSERT_BOX, {"id": project_id, **_bounds(values)})
                stored.append(
                    Project(
                        id=project_id,
                        attributes=new.attributes,
                        geometry=new.geometry,
                        created_at=now,
                        created_by=new.user,
                        updated_at=now,
                        updated_by=new.user,
                        version=1,
                    )
                )
        return stored

    def get_project(self, project_id: int) -> Project | None:
        with self._read() as conn:
            row = conn.execute(
                select(projects_table).where(projects_table.c.id == project_id)
            ).first()
        return _project(row) if row is not None else None

    def update_project(
        self,
        project_id: int,
        attributes: ProjectAttributes,
        geometry: BaseGeometry,
        user: str,
        expected_version: int | None,
    ) -> Project:
        values = _row_values(attributes, geometry)
        with self._write() as conn:
            statement = update(projects_table).where(projects_table.c.id == project_id)
            if expected_version is not None:
                statement = statement.where(projects_table.c.version == expected_version)
            result = conn.execute(
                statement.values(
                    **values,
                    updated_at=datetime.now(UTC),
                    updated_by=user,
                    version=projects_table.c.version + 1,
                )
            )
            if result.rowcount == 0:
                _raise_missing_or_conflict(conn, project_id, expected_version)
            conn.execute(
                update(projects_rtree_table)
                .where(projects_rtree_table.c.id == project_id)
                .values(**_bounds(values))
            )
            row = conn.execute(
                select(projects_table).where(projects_table.c.id == project_id)
            ).one()
        return _project(row)

    def delete_project(self, project_id: int, user: str, expected_version: int | None) -> None:
        # ``user`` is not recorded yet: there is no audit table; the argument
        # keeps the contract ready for one.
        with self._write() as conn:
            statement = delete(projects_table).where(projects_table.c.id == project_id)
            if expected_version is not None:
                statement = statement.where(projects_table.c.version == expected_version)
            if conn.execute(statement).rowcount == 0:
                _raise_missing_or_conflict(conn, project_id, expected_version)
            conn.execute(
                delete(projects_rtree_table).where(projects_rtree_table.c.id == project_id)
            )

    def list_projects(self, query: ProjectQuery) -> list[Project]:
        statement = select(projects_table).where(*_conditions(query)).order_by(projects_table.c.id)
        if query.after_id is not None:
            statement = statement.where(projects_table.c.id > query.after_id)
        if query.limit is not None:
            statement = statement.limit(query.limit)
        with self._read() as conn:
            rows = conn.execute(statement).all()
        return [_project(row) for row in rows]

    def count_projects(self, query: ProjectQuery) -> int:
        statement = select(func.count()).select_from(projects_table).where(*_conditions(query))
        with self._read() as conn:
            return int(conn.execute(statement).scalar_one())

    def schema_version(self) -> int:
        with self._read() as conn:
            return read_version(conn)

    def close(self) -> None:
        self._closed = True
        self._engine.dispose()


def _row_values(attributes: ProjectAttributes, geometry: BaseGeometry) -> dict[str, Any]:
    """Column values for the editable part of a project."""
    if geometry is None or geometry.is_empty:
        raise InvalidInput("a project needs a non-empty geometry")
    min_x, min_y, max_x, max_y = geometry.bounds
    if not all(math.isfinite(v) for v in (min_x, min_y, max_x, max_y)):
        raise InvalidInput("the geometry has coordinates that are not finite numbers")
    return {
        "title": attributes.title,
        "title_folded": attributes.title.casefold(),
        "description": attributes.description,
        "organisation": attributes.organisation,
        "department": attributes.department,
        "measure_type": attributes.measure_type,
        "status": Status(attributes.status).value,
        "start_date": attributes.start,
        "end_date": attributes.end,
        "contact": attributes.contact,
        "cost_eur": attributes.cost_eur,
        "geometry": shapely.to_wkb(geometry),
        "min_x": min_x,
        "min_y": min_y,
        "max_x": max_x,
        "max_y": max_y,
    }


def _bounds(values: dict[str, Any]) -> dict[str, float]:
    return {key: values[key] for key in ("min_x", "max_x", "min_y", "max_y")}


def _project(row: Row[Any]) -> Project:
    return Project(
        id=row.id,
        attributes=ProjectAttributes(
            title=row.title,
            organisation=row.organisation,
            department=row.department,
            measure_type=row.measure_type,
            status=Status(row.status),
            start=row.start_date,
            end=row.end_date,
            description=row.description,
            contact=row.contact,
            cost_eur=row.cost_eur,
        ),
        geometry=shapely.from_wkb(row.geometry),
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        version=row.version,
    )


def _raise_missing_or_conflict(
    conn: Connection, project_id: int, expected_version: int | None
) -> None:
    """Explain why a guarded write matched no row (same transaction)."""
    current = conn.execute(
        select(projects_table.c.version).where(projects_table.c.id == project_id)
    ).scalar_one_or_none()
    if current is None:
        raise NotFound(f"project {project_id} does not exist")
    raise VersionConflict(
        f"project {project_id} was changed by someone else: you edited version "
        f"{expected_version}, the current version is {current}"
    )


def _conditions(query: ProjectQuery) -> list[ColumnElement[bool]]:
    """WHERE terms for the filters of a query (paging is the caller's)."""
    conditions: list[ColumnElement[bool]] = []
    if query.organisations:
        conditions.append(projects_table.c.organisation.in_(query.organisations))
    if query.departments:
        conditions.append(projects_table.c.department.in_(query.departments))
    if query.measure_types:
        conditions.append(projects_table.c.measure_type.in_(query.measure_types))
    if query.statuses:
        conditions.append(projects_table.c.status.in_([Status(s).value for s in query.statuses]))
    if query.time_to is not None:
        conditions.append(
            or_(projects_table.c.start_date.is_(None), projects_table.c.start_date <= query.time_to)
        )
    if query.time_from is not None:
        conditions.append(
            or_(projects_table.c.end_date.is_(None), projects_table.c.end_date >= query.time_from)
        )
    if query.text:
        conditions.append(
            projects_table.c.title_folded.contains(query.text.casefold(), autoescape=True)
        )
    if query.area is not None:
        conditions.extend(_area_conditions(query.area))
    return conditions


def _area_conditions(area: BaseGeometry) -> list[ColumnElement[bool]]:
    """Bounding-box candidates from the R*Tree, then the exact test, last."""
    if area.is_empty:
        return [false()]
    min_x, min_y, max_x, max_y = area.bounds
    candidates = select(projects_rtree_table.c.id).where(
        projects_rtree_table.c.max_x >= min_x,
        projects_rtree_table.c.min_x <= max_x,
        projects_rtree_table.c.max_y >= min_y,
        projects_rtree_table.c.min_y <= max_y,
    )
    return [
        projects_table.c.id.in_(candidates),
        func.zugabe_intersects(projects_table.c.geometry, shapely.to_wkb(area)) == 1,
    ]
