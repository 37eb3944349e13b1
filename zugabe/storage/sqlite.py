"""The embedded default store: one SQLite file, nothing to install but pip.

Python's own sqlite3 module through SQLAlchemy Core, no SpatiaLite: the
bounding boxes live in R*Tree virtual tables kept in step with ``projects``
and ``layer_features`` in the same transaction, and the exact spatial test is
a shapely function registered on every connection, so filtering, counting and
paging all stay in one SQL statement.

Thematic layers are written in bulk (half a million sewer sections in a few
seconds): whole batches go through shapely's vectorised functions and the
DBAPI's ``executemany`` with statements compiled once from Core. Inserting
into an R*Tree costs about 10 µs per row inside SQLite, so a large import
does not insert into it row by row: it rebuilds the whole tree, packed
Sort-Tile-Recursive, straight into the R*Tree's own tables, in the same
transaction (``_RTreePacker``).

Durability and concurrency come from SQLite itself: WAL journal (readers
never block the writer nor each other), ``synchronous=FULL`` (a committed
write survives a power cut), and ``BEGIN IMMEDIATE`` for writes (a writer
takes the write lock up front and waits for it, instead of failing on a
lock upgrade halfway through).
"""

from __future__ import annotations

import functools
import itertools
import json
import json.encoder
import math
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import shapely
import shapely.errors
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Executable,
    Row,
    Table,
    bindparam,
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
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.sql.expression import TableClause

from zugabe.domain.project import Project, ProjectAttributes, Status
from zugabe.errors import ConfigError, InvalidInput, NotFound, StorageError, VersionConflict
from zugabe.storage.contract import (
    LayerFeature,
    LayerFeatureBatch,
    LayerInfo,
    NewLayerVersion,
    NewProject,
    ProjectQuery,
    Store,
)
from zugabe.storage.sqlite_schema import (
    layer_features_rtree_node,
    layer_features_rtree_parent,
    layer_features_rtree_rowid,
    layer_features_rtree_table,
    layer_features_table,
    layer_versions_table,
    layers_table,
    migrate,
    projects_rtree_table,
    projects_table,
    read_version,
    sqlite_sequence,
)

BUSY_TIMEOUT_MS = 5000
"""How long a writer waits for another writer before giving up."""

_WRITE_OPTION = "zugabe_write"

_INSERT_PROJECT = insert(projects_table)
_INSERT_BOX = insert(projects_rtree_table)

IMPORT_CACHE_KIB = 65_536
"""Page cache of a connection while it writes a layer (SQLite's default is
2 MiB): index pages of a big import then stay in memory instead of being
spilled to the WAL and read back."""

RTREE_REBUILD_MIN_CHANGES = 10_000
"""Layer writes touching fewer features update the R*Tree row by row."""

RTREE_REBUILD_SHARE = 4
"""Rebuild the layer R*Tree when the features removed and added, times this,
reach the number of features left: row-by-row updates cost about 10 µs per
feature, a rebuild about 2 µs per feature of all layers."""

LAYER_SCAN_MAX = 5_000
"""Area queries on layers up to this size skip the R*Tree (see ``_feature_conditions``)."""

# Valid JSON only (no NaN), UTF-8 text as it is: attributes and reports are
# read by people in the database too. One encoder, built once.
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=False)


def _row_json_encoder() -> Callable[[Any], str]:
    """``_JSON.encode`` without rebuilding its C encoder for every row.

    ``JSONEncoder.encode`` builds CPython's C accelerator anew on each call,
    which for small attribute dicts costs more than the encoding: half of
    the ~1.2 s that 500,000 rows take. The accelerator is an implementation
    detail of the json module, so it is used only if it exists and answers
    exactly like the public encoder (output, key order, NaN refused);
    otherwise rows go through ``_JSON.encode``.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _JSON.encode
    try:
        accelerated = make(
            None,  # no circular check, as check_circular=False
            _JSON.default,
            json.encoder.encode_basestring,  # ensure_ascii=False
            None,  # indent
            _JSON.key_separator,
            _JSON.item_separator,
            False,  # sort_keys
            False,  # skipkeys
            False,  # allow_nan
        )

        def encode(value: Any) -> str:
            return "".join(accelerated(value, 0))

        sample = {"z": [1, 2.5, None, True, -0.0, 1e300], 7: 'Zeile\n"ü" ✓', "a": {}}
        if encode(sample) != _JSON.encode(sample):
            return _JSON.encode
        try:
            encode({"nan": float("nan")})
        except ValueError:
            return encode
    except Exception:  # any change of the private API: use the public one
        pass
    return _JSON.encode


_encode_row = _row_json_encoder()


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


class SqliteStore(Store):
    """Projects and thematic layers in one SQLite file; migrates the schema when opened."""

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
        return f"SqliteStore({str(self.path)!r})"

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        self._check_open()
        try:
            with self._engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            raise StorageError(f"cannot read the store {self.path}: {exc.orig or exc}") from exc
        except sqlite3.Error as exc:  # from the DBAPI cursor used for bulk reads
            raise StorageError(f"cannot read the store {self.path}: {exc}") from exc

    @contextmanager
    def _write(self, bulk: bool = False) -> Iterator[Connection]:
        """A write transaction; ``bulk`` gives it a big page cache for a layer."""
        self._check_open()
        try:
            if not bulk:
                with self._writer.begin() as conn:
                    yield conn
                return
            with self._writer.connect() as conn, _large_cache(conn), conn.begin():
                yield conn
        except DBAPIError as exc:
            raise StorageError(f"cannot write the store {self.path}: {exc.orig or exc}") from exc
        except sqlite3.Error as exc:  # from the DBAPI cursor used for bulk reads
            raise StorageError(f"cannot write the store {self.path}: {exc}") from exc

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

    # -- thematic layers -----------------------------------------------------

    def replace_layer(
        self, version: NewLayerVersion, batches: Iterable[LayerFeatureBatch]
    ) -> LayerInfo:
        if not version.key:
            raise InvalidInput("a layer needs a key")
        report = _encode_json(version.report, f"the import report of layer '{version.key}'")
        with self._write(bulk=True) as conn:
            previous = conn.execute(
                select(layers_table.c.version).where(layers_table.c.key == version.key)
            ).scalar_one_or_none()
            removed = _remove_features(conn, version.key)
            written = _FeatureWriter(conn, version.key, _next_feature_id(conn))
            # The iterable is consumed inside the transaction: if it raises
            # (or the process dies), nothing of the new version is committed.
            for batch in batches:
                written.add(batch)
            _update_rtree(conn, removed, written)
            # When the version is complete; under the write lock, so in commit order.
            imported_at = datetime.now(UTC)
            info = LayerInfo(
                key=version.key,
                version=(previous or 0) + 1,
                feature_count=written.count,
                extent=written.extent(),
                source=version.source,
                source_layer=version.source_layer,
                source_crs=version.source_crs,
                transformation=version.transformation,
                imported_at=imported_at,
                imported_by=version.user,
                report=version.report,
            )
            values = _layer_values(info, report)
            if previous is None:
                conn.execute(insert(layers_table).values(**values))
            else:
                conn.execute(
                    update(layers_table).where(layers_table.c.key == info.key).values(**values)
                )
            conn.execute(insert(layer_versions_table).values(**values))
        return info

    def list_layers(self) -> list[LayerInfo]:
        with self._read() as conn:
            rows = conn.execute(select(layers_table).order_by(layers_table.c.key)).all()
        return [_layer_info(row) for row in rows]

    def get_layer(self, key: str) -> LayerInfo | None:
        with self._read() as conn:
            row = conn.execute(select(layers_table).where(layers_table.c.key == key)).first()
        return _layer_info(row) if row is not None else None

    def layer_features(
        self,
        key: str,
        area: BaseGeometry | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[LayerFeature]:
        with self._read() as conn:
            statement = (
                select(layer_features_table)
                .where(*_feature_conditions(conn, key, area))
                .order_by(layer_features_table.c.id)
            )
            if after_id is not None:
                statement = statement.where(layer_features_table.c.id > after_id)
            if limit is not None:
                statement = statement.limit(limit)
            rows = conn.execute(statement).all()
        return [_layer_feature(row) for row in rows]

    def count_layer_features(self, key: str, area: BaseGeometry | None = None) -> int:
        with self._read() as conn:
            if area is None:
                # Kept with the layer, so counting half a million features is free.
                count = conn.execute(
                    select(layers_table.c.feature_count).where(layers_table.c.key == key)
                ).scalar_one_or_none()
                return int(count or 0)
            statement = (
                select(func.count())
                .select_from(layer_features_table)
                .where(*_feature_conditions(conn, key, area))
            )
            return int(conn.execute(statement).scalar_one())

    def delete_layer(self, key: str, user: str) -> None:
        # ``user`` is not recorded yet: there is no audit table; the argument
        # keeps the contract ready for one.
        with self._write(bulk=True) as conn:
            exists = conn.execute(
                select(layers_table.c.key).where(layers_table.c.key == key)
            ).first()
            if exists is None:
                raise NotFound(f"layer '{key}' does not exist")
            removed = _remove_features(conn, key)
            nothing_written = _FeatureWriter(conn, key, _next_feature_id(conn))
            _update_rtree(conn, removed, nothing_written)
            conn.execute(delete(layer_versions_table).where(layer_versions_table.c.key == key))
            conn.execute(delete(layers_table).where(layers_table.c.key == key))


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


def _area_conditions(
    area: BaseGeometry, rows: Table = projects_table, rtree: Table = projects_rtree_table
) -> list[ColumnElement[bool]]:
    """Bounding-box candidates from the R*Tree, then the exact test, last."""
    if area.is_empty:
        return [false()]
    min_x, min_y, max_x, max_y = area.bounds
    candidates = select(rtree.c.id).where(
        rtree.c.max_x >= min_x,
        rtree.c.min_x <= max_x,
        rtree.c.max_y >= min_y,
        rtree.c.min_y <= max_y,
    )
    return [
        rows.c.id.in_(candidates),
        func.zugabe_intersects(rows.c.geometry, shapely.to_wkb(area)) == 1,
    ]


# -- thematic layers ---------------------------------------------------------


def _driver_sql(statement: Executable) -> str:
    """SQL text of a Core statement, compiled once for ``exec_driver_sql``.

    Bulk writes pass plain tuples to the DBAPI's ``executemany``: through
    ``Connection.execute`` with one dict per row, SQLAlchemy's per-row
    parameter handling takes several times longer than SQLite itself.
    """
    return str(statement.compile(dialect=sqlite_dialect.dialect(paramstyle="qmark")))


PARAMETERS_PER_INSERT = 640
"""Bulk writes put as many rows into one multi-row INSERT as fit this many
parameters (old SQLite builds allow 999): SQLite then steps once per
statement instead of once per row, which makes inserts about a third faster."""


@functools.cache
def _insert_sql(table: TableClause, rows: int) -> str:
    """INSERT of ``rows`` rows of all columns, as SQL text with positional parameters."""
    if rows == 1:
        return _driver_sql(insert(table))
    values = [{c.name: bindparam(f"{c.name}_{row}") for c in table.columns} for row in range(rows)]
    return _driver_sql(insert(table).values(values))


def _insert_rows(conn: Connection, table: TableClause, rows: list[tuple[Any, ...]]) -> None:
    """Insert plain tuples (all columns, in table order) as fast as the DBAPI allows."""
    per_statement = max(1, PARAMETERS_PER_INSERT // len(table.columns))
    whole = len(rows) - len(rows) % per_statement
    if whole:
        conn.exec_driver_sql(
            _insert_sql(table, per_statement),
            [
                tuple(itertools.chain.from_iterable(rows[start : start + per_statement]))
                for start in range(0, whole, per_statement)
            ],
        )
    if whole < len(rows):
        conn.exec_driver_sql(_insert_sql(table, 1), rows[whole:])


_SELECT_BOXES_SQL = _driver_sql(
    select(
        layer_features_table.c.id,
        layer_features_table.c.min_x,
        layer_features_table.c.max_x,
        layer_features_table.c.min_y,
        layer_features_table.c.max_y,
    ).where(layer_features_table.c.id < bindparam("below"))
)


@contextmanager
def _large_cache(conn: Connection) -> Iterator[None]:
    """Give this pooled connection a big page cache for one bulk write only.

    Set on the DBAPI connection, outside any transaction (through SQLAlchemy
    it would begin one), and restored after the commit.
    """
    dbapi = conn.connection.driver_connection
    assert isinstance(dbapi, sqlite3.Connection)
    before = int(dbapi.execute("PRAGMA cache_size").fetchone()[0])
    dbapi.execute(f"PRAGMA cache_size = {-int(IMPORT_CACHE_KIB):d}")
    try:
        yield
    finally:
        dbapi.execute(f"PRAGMA cache_size = {before:d}")


def _encode_json(value: Any, what: str) -> str:
    """JSON text of attributes or a report; non-JSON values are the caller's bug."""
    try:
        return _JSON.encode(value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(
            f"{what} cannot be stored as JSON ({exc}); pass only str, int, float, bool, "
            "None, lists and dicts with string keys (dates as ISO strings, missing "
            "numbers as None, not NaN)"
        ) from exc


def _next_feature_id(conn: Connection) -> int:
    """First free feature id; the write lock keeps it free until commit.

    Ids are assigned here, not by SQLite, so the R*Tree rows can be built
    from the same arrays; AUTOINCREMENT's counter in ``sqlite_sequence``
    still rules, so ids of deleted features are never handed out again
    (explicit ids above the counter move it on).
    """
    counter = conn.execute(
        select(sqlite_sequence.c.seq).where(sqlite_sequence.c.name == layer_features_table.name)
    ).scalar_one_or_none()
    highest = conn.execute(select(func.max(layer_features_table.c.id))).scalar_one_or_none()
    return max(int(counter or 0), int(highest or 0)) + 1


@dataclass(frozen=True)
class _Removal:
    """What ``_remove_features`` did: how many went, and whether their R*Tree
    rows are still there (then only a rebuild brings the tree in step)."""

    count: int
    rtree_stale: bool


def _count_features(conn: Connection, key: str | None = None) -> int:
    statement = select(func.count()).select_from(layer_features_table)
    if key is not None:
        statement = statement.where(layer_features_table.c.layer_key == key)
    return int(conn.execute(statement).scalar_one())


def _rebuild_pays(changed: int, remaining: int) -> bool:
    return changed >= RTREE_REBUILD_MIN_CHANGES and changed * RTREE_REBUILD_SHARE >= remaining


def _remove_features(conn: Connection, key: str) -> _Removal:
    """Delete a layer's features, and their R*Tree rows unless a rebuild follows anyway."""
    count = _count_features(conn, key)
    if count == 0:
        return _Removal(0, rtree_stale=False)
    # If removing alone makes a rebuild pay, the tree is rebuilt whatever is
    # written next: deleting its rows one by one first would be wasted.
    stale = _rebuild_pays(count, _count_features(conn) - count)
    if not stale:
        conn.execute(
            delete(layer_features_rtree_table).where(
                layer_features_rtree_table.c.id.in_(
                    select(layer_features_table.c.id).where(layer_features_table.c.layer_key == key)
                )
            )
        )
    conn.execute(delete(layer_features_table).where(layer_features_table.c.layer_key == key))
    return _Removal(count, rtree_stale=stale)


@dataclass
class _FeatureWriter:
    """Inserts batches of one layer with consecutive ids from ``first_id``."""

    conn: Connection
    key: str
    first_id: int
    count: int = 0
    boxes: list[npt.NDArray[np.float64]] = field(default_factory=list)
    """Bounds (min_x, min_y, max_x, max_y) per batch, kept for the R*Tree."""

    def add(self, batch: LayerFeatureBatch) -> None:
        geometries = _geometry_array(batch.geometries)
        size = len(geometries)
        source_rows = np.asarray(batch.source_rows, dtype=np.int64)
        derived = batch.derived
        if (
            len(batch.attributes) != size
            or len(source_rows) != size
            or (derived is not None and len(derived) != size)
        ):
            raise ValueError(
                "a LayerFeatureBatch needs as many attributes, source rows and derived "
                f"geometries as geometries ({size})"
            )
        if size == 0:
            return
        bounds = shapely.bounds(geometries)
        unusable = ~np.isfinite(bounds).all(axis=1)
        if unusable.any():
            row = int(source_rows[int(np.argmax(unusable))])
            raise InvalidInput(
                f"layer '{self.key}': the feature from source row {row} has no usable "
                "geometry (missing, empty or with coordinates that are not finite numbers)"
            )
        derived_wkb: list[bytes | None] = (
            [None] * size if derived is None else shapely.to_wkb(_geometry_array(derived)).tolist()
        )
        start = self.first_id + self.count
        rows = list(
            zip(
                range(start, start + size),
                itertools.repeat(self.key, size),
                self._attributes_json(batch.attributes, source_rows),
                shapely.to_wkb(geometries).tolist(),
                derived_wkb,
                source_rows.tolist(),
                *(bounds[:, i].tolist() for i in range(4)),
                strict=True,
            )
        )
        _insert_rows(self.conn, layer_features_table, rows)
        self.count += size
        self.boxes.append(bounds)

    def _attributes_json(
        self, attributes: Sequence[dict[str, Any]], source_rows: npt.NDArray[np.int64]
    ) -> list[str]:
        try:
            return [_encode_row(values) for values in attributes]
        except (TypeError, ValueError):
            for values, row in zip(attributes, source_rows.tolist(), strict=True):
                _encode_json(values, f"layer '{self.key}': the attributes of source row {row}")
            raise

    def bounds(self) -> npt.NDArray[np.float64]:
        if not self.boxes:
            return np.empty((0, 4))
        return np.concatenate(self.boxes)

    def extent(self) -> tuple[float, float, float, float] | None:
        if self.count == 0:
            return None
        bounds = self.bounds()
        return (
            float(bounds[:, 0].min()),
            float(bounds[:, 1].min()),
            float(bounds[:, 2].max()),
            float(bounds[:, 3].max()),
        )


def _geometry_array(geometries: Sequence[BaseGeometry | None]) -> npt.NDArray[np.object_]:
    array = np.empty(len(geometries), dtype=object)
    array[:] = list(geometries)
    return array


def _update_rtree(conn: Connection, removed: _Removal, written: _FeatureWriter) -> None:
    """Bring the layer R*Tree in step after features were removed and written.

    A few changes go through the virtual table; many are cheaper as one
    rebuild of the whole tree from ``layer_features``.
    """
    if removed.rtree_stale or _rebuild_pays(removed.count + written.count, _count_features(conn)):
        _rebuild_rtree(conn, written)
    elif written.count:
        conn.execute(
            insert(layer_features_rtree_table).from_select(
                ["id", "min_x", "max_x", "min_y", "max_y"],
                select(
                    layer_features_table.c.id,
                    layer_features_table.c.min_x,
                    layer_features_table.c.max_x,
                    layer_features_table.c.min_y,
                    layer_features_table.c.max_y,
                ).where(layer_features_table.c.id >= written.first_id),
            )
        )


def _rebuild_rtree(conn: Connection, written: _FeatureWriter) -> None:
    """Replace the layer R*Tree by one packed from all features.

    The features written now are taken from memory; all others have smaller
    ids, so one range scan of the table finds them.
    """
    dbapi = conn.connection.driver_connection
    assert isinstance(dbapi, sqlite3.Connection)
    # The DBAPI cursor: SQLAlchemy's result rows would cost more than the query.
    cursor = dbapi.cursor()
    try:
        rows = cursor.execute(_SELECT_BOXES_SQL, (written.first_id,)).fetchall()
    finally:
        cursor.close()
    stored = np.fromiter(
        itertools.chain.from_iterable(rows), dtype=np.float64, count=5 * len(rows)
    ).reshape(-1, 5)
    new = written.bounds()
    ids = np.concatenate(
        [stored[:, 0].astype(np.int64), np.arange(written.first_id, written.first_id + len(new))]
    )
    # layer_features keeps (min_x, min_y, max_x, max_y); the R*Tree pairs them
    # per dimension: (min_x, max_x, min_y, max_y).
    boxes = np.concatenate([stored[:, 1:], new[:, [0, 2, 1, 3]]])
    node_size = conn.execute(
        select(func.length(layer_features_rtree_node.c.data)).where(
            layer_features_rtree_node.c.nodeno == 1
        )
    ).scalar_one()
    packed = _RTreePacker(int(node_size)).pack(ids, boxes)
    for shadow in (
        layer_features_rtree_node,
        layer_features_rtree_parent,
        layer_features_rtree_rowid,
    ):
        conn.execute(delete(shadow))
    _insert_rows(conn, layer_features_rtree_node, packed.nodes)
    _insert_rows(conn, layer_features_rtree_parent, packed.parents)
    _insert_rows(conn, layer_features_rtree_rowid, packed.rowids)


# SQLite stores R*Tree coordinates as 32-bit floats, rounding each box
# outwards with these factors (rtreeValueDown/rtreeValueUp in rtree.c).
_RND_TOWARDS = 1.0 - 1.0 / 8388608.0
_RND_AWAY = 1.0 + 1.0 / 8388608.0

_RTREE_CELL = np.dtype([("id", ">i8"), ("box", ">f4", (4,))])
"""One entry of an R*Tree node: rowid or child node, then the box, big-endian."""


def _float32_down(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    rounded = values.astype(np.float32)
    over = rounded > values
    scale = np.where(values[over] < 0, _RND_AWAY, _RND_TOWARDS)
    rounded[over] = (values[over] * scale).astype(np.float32)
    return rounded


def _float32_up(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    rounded = values.astype(np.float32)
    under = rounded < values
    scale = np.where(values[under] < 0, _RND_TOWARDS, _RND_AWAY)
    rounded[under] = (values[under] * scale).astype(np.float32)
    return rounded


@dataclass(frozen=True)
class _PackedRTree:
    """Rows of the R*Tree's tables ``_node``, ``_parent`` and ``_rowid``."""

    nodes: list[tuple[int, bytes]]
    parents: list[tuple[int, int]]
    rowids: list[tuple[int, int]]


class _Level(NamedTuple):
    """One level of a packed R*Tree: its entries in node order, and where each sits."""

    entries: npt.NDArray[np.int64]
    boxes: npt.NDArray[np.float32]
    node: npt.NDArray[np.int64]
    slot: npt.NDArray[np.int64]


class _RTreePacker:
    """Builds the tables of an SQLite R*Tree (2-D, no auxiliary columns) at once.

    SQLite's file format for R*Trees is documented and stable (the header of
    ext/rtree/rtree.c): node 1 is the root, every node is a blob of the same
    size holding a 2-byte depth (root only), a 2-byte entry count and the
    entries (8-byte id, 4 float coordinates, all big-endian); ``_parent`` maps
    each other node to its parent, ``_rowid`` each row to its leaf. Boxes
    are rounded outwards to 32-bit floats exactly as SQLite does, so queries
    answer as after row-by-row inserts; ``rtreecheck()`` verifies the result
    in the tests, and SQLite updates the tree row by row afterwards as usual.

    Packing is Sort-Tile-Recursive (Leutenegger et al. 1997): sort the
    boxes by x into vertical slices, each slice by y, fill nodes in that
    order, and repeat one level up until the root holds everything.
    """

    def __init__(self, node_size: int) -> None:
        self.node_size = node_size
        self.capacity = (node_size - 4) // _RTREE_CELL.itemsize
        if self.capacity < 2:
            raise StorageError(f"unexpected R*Tree node size {node_size}")

    def pack(self, ids: npt.NDArray[np.int64], boxes: npt.NDArray[np.float64]) -> _PackedRTree:
        """Tables for entries ``ids`` with boxes (min_x, max_x, min_y, max_y)."""
        rounded = np.empty(boxes.shape, dtype=np.float32)
        rounded[:, 0::2] = _float32_down(boxes[:, 0::2])
        rounded[:, 1::2] = _float32_up(boxes[:, 1::2])
        levels: list[_Level] = []  # leaves first, the root last
        entries, entry_boxes = ids, rounded
        leaf_order = np.arange(len(ids))
        while len(entries) > self.capacity:
            order, node, slot = self._tile(entry_boxes)
            if not levels:
                leaf_order = order
            entries, entry_boxes = entries[order], entry_boxes[order]
            levels.append(_Level(entries, entry_boxes, node, slot))
            starts = np.flatnonzero(np.r_[True, node[1:] != node[:-1]])
            entry_boxes = np.column_stack(
                [
                    np.minimum.reduceat(entry_boxes[:, 0], starts),
                    np.maximum.reduceat(entry_boxes[:, 1], starts),
                    np.minimum.reduceat(entry_boxes[:, 2], starts),
                    np.maximum.reduceat(entry_boxes[:, 3], starts),
                ]
            )
            entries = np.arange(len(starts), dtype=np.int64)  # node index in its level
        levels.append(
            _Level(entries, entry_boxes, np.zeros(len(entries), np.int64), np.arange(len(entries)))
        )
        # Node numbers: the root is 1, the others follow level by level.
        numbers: list[npt.NDArray[np.int64]] = []
        next_number = 2
        for level in levels[:-1]:
            count = int(level.node[-1]) + 1
            numbers.append(np.arange(next_number, next_number + count, dtype=np.int64))
            next_number += count
        numbers.append(np.array([1], dtype=np.int64))

        depth = len(levels) - 1
        nodes: list[tuple[int, bytes]] = []
        parents: list[tuple[int, int]] = []
        for height, level in enumerate(levels):
            node_numbers = numbers[height]
            if height == 0:
                cell_ids = level.entries
            else:
                cell_ids = numbers[height - 1][level.entries]
                parents.extend(
                    zip(cell_ids.tolist(), node_numbers[level.node].tolist(), strict=True)
                )
            blobs = self._blobs(len(node_numbers), level, cell_ids, depth if height == depth else 0)
            nodes.extend(zip(node_numbers.tolist(), blobs, strict=True))
        # The leaf of each entry, in the order of ``ids``: rows appended in
        # rowid order are the cheapest to insert.
        leaf = np.empty(len(ids), dtype=np.int64)
        leaf[leaf_order] = numbers[0][levels[0].node]
        by_id = np.argsort(ids, kind="stable") if np.any(ids[1:] < ids[:-1]) else slice(None)
        rowids = list(zip(ids[by_id].tolist(), leaf[by_id].tolist(), strict=True))
        return _PackedRTree(nodes, parents, rowids)

    def _tile(
        self, boxes: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """STR order of the entries, and the node and slot of each in that order."""
        count = len(boxes)
        node_count = -(-count // self.capacity)
        slices = math.ceil(math.sqrt(node_count))
        per_slice = slices * self.capacity
        centre_x = boxes[:, 0].astype(np.float64) + boxes[:, 1]
        centre_y = boxes[:, 2].astype(np.float64) + boxes[:, 3]
        slice_of = np.empty(count, dtype=np.int64)
        slice_of[np.argsort(centre_x, kind="stable")] = np.arange(count) // per_slice
        order = np.lexsort((centre_y, slice_of))
        position = np.arange(count) - slice_of[order] * per_slice
        # Every slice but the last is full, so node numbers have no gaps.
        node = slice_of[order] * slices + position // self.capacity
        return order, node, position % self.capacity

    def _blobs(
        self, node_count: int, level: _Level, cell_ids: npt.NDArray[np.int64], depth: int
    ) -> list[bytes]:
        """Node images of one level; ``depth`` is written in the root only."""
        node, slot = level.node, level.slot
        cells = np.zeros((node_count, self.capacity), dtype=_RTREE_CELL)
        cells["id"][node, slot] = cell_ids
        cells["box"][node, slot] = level.boxes
        header = np.zeros(node_count, dtype=[("depth", ">u2"), ("count", ">u2")])
        header["depth"] = depth
        header["count"] = np.bincount(node, minlength=node_count)
        padding = self.node_size - 4 - self.capacity * _RTREE_CELL.itemsize
        image = np.concatenate(
            [
                header.view(np.uint8).reshape(node_count, 4),
                cells.view(np.uint8).reshape(node_count, -1),
                np.zeros((node_count, padding), dtype=np.uint8),
            ],
            axis=1,
        )
        return [row.tobytes() for row in image]


def _feature_conditions(
    conn: Connection, key: str, area: BaseGeometry | None
) -> list[ColumnElement[bool]]:
    """WHERE terms for a layer's features, optionally those meeting ``area``.

    The R*Tree holds the boxes of all layers, so for a small layer, or an
    area around all of it, its candidates would mostly belong to other
    layers: then the layer's own rows are scanned, their box columns first.
    """
    conditions = [layer_features_table.c.layer_key == key]
    if area is None:
        return conditions
    if area.is_empty:
        return [false()]
    layer = conn.execute(
        select(
            layers_table.c.feature_count,
            layers_table.c.min_x,
            layers_table.c.min_y,
            layers_table.c.max_x,
            layers_table.c.max_y,
        ).where(layers_table.c.key == key)
    ).first()
    if layer is None or layer.feature_count == 0:
        return [false()]
    min_x, min_y, max_x, max_y = area.bounds
    around_all = (
        min_x <= layer.min_x
        and min_y <= layer.min_y
        and max_x >= layer.max_x
        and max_y >= layer.max_y
    )
    if layer.feature_count > LAYER_SCAN_MAX and not around_all:
        return conditions + _area_conditions(area, layer_features_table, layer_features_rtree_table)
    return [
        *conditions,
        layer_features_table.c.max_x >= min_x,
        layer_features_table.c.min_x <= max_x,
        layer_features_table.c.max_y >= min_y,
        layer_features_table.c.min_y <= max_y,
        func.zugabe_intersects(layer_features_table.c.geometry, shapely.to_wkb(area)) == 1,
    ]


def _layer_values(info: LayerInfo, report: str) -> dict[str, Any]:
    min_x, min_y, max_x, max_y = info.extent if info.extent else (None, None, None, None)
    return {
        "key": info.key,
        "version": info.version,
        "feature_count": info.feature_count,
        "min_x": min_x,
        "min_y": min_y,
        "max_x": max_x,
        "max_y": max_y,
        "source": info.source,
        "source_layer": info.source_layer,
        "source_crs": info.source_crs,
        "transformation": info.transformation,
        "imported_at": info.imported_at,
        "imported_by": info.imported_by,
        "report": report,
    }


def _layer_info(row: Row[Any]) -> LayerInfo:
    extent = None if row.min_x is None else (row.min_x, row.min_y, row.max_x, row.max_y)
    return LayerInfo(
        key=row.key,
        version=row.version,
        feature_count=row.feature_count,
        extent=extent,
        source=row.source,
        source_layer=row.source_layer,
        source_crs=row.source_crs,
        transformation=row.transformation,
        imported_at=row.imported_at,
        imported_by=row.imported_by,
        report=json.loads(row.report),
    )


def _layer_feature(row: Row[Any]) -> LayerFeature:
    return LayerFeature(
        id=row.id,
        geometry=shapely.from_wkb(row.geometry),
        attributes=json.loads(row.attributes),
        source_row=row.source_row,
        derived=shapely.from_wkb(row.derived) if row.derived is not None else None,
    )
