"""The embedded default store: one SQLite file, nothing to install but pip.

Python's own sqlite3 module through SQLAlchemy Core, no SpatiaLite: the
bounding boxes live in R*Tree virtual tables kept in step with ``projects``,
``layer_features`` and ``cases`` in the same transaction, and the exact spatial test is
a shapely function registered on every connection, so filtering, counting and
paging all stay in one SQL statement.

Thematic layers and the coordination cases of a batch run are written in
bulk (half a million sewer sections, or a hundred thousand cases, in a few
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
import threading
import time
from collections import Counter
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
import shapely.prepared
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Executable,
    Row,
    Select,
    String,
    Table,
    and_,
    bindparam,
    column,
    create_engine,
    delete,
    event,
    false,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    table,
    type_coerce,
    update,
)
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.sql.expression import TableClause

from zugabe.domain.agreement import Decision, DecisionState
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
from zugabe.domain.filters import Filter
from zugabe.domain.project import Project, ProjectAttributes, Status
from zugabe.errors import ConfigError, InvalidInput, NotFound, StorageError, VersionConflict
from zugabe.storage.contract import (
    PROJECT_TEXT_COLUMNS,
    CaseQuery,
    CaseSync,
    LayerFeature,
    LayerFeatureBatch,
    LayerInfo,
    NewLayerVersion,
    NewProject,
    ProjectColumns,
    ProjectQuery,
    Store,
)
from zugabe.storage.sqlite_accounts import SqliteAccountsAndAudit
from zugabe.storage.sqlite_desk import SqliteDesk, load_decisions
from zugabe.storage.sqlite_filter import (
    CASE_ANY_OF,
    Target,
    case_operand,
    layer_operand,
    project_operand,
    translate,
)
from zugabe.storage.sqlite_mail import SqliteMail
from zugabe.storage.sqlite_notifications import SqliteNotifications
from zugabe.storage.sqlite_schema import (
    UtcDateTime,
    case_comments_table,
    case_decisions_table,
    case_history_table,
    case_involvements_table,
    cases_rtree_node,
    cases_rtree_parent,
    cases_rtree_rowid,
    cases_rtree_table,
    cases_table,
    layer_feature_archive_table,
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
    store_revision_table,
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

VALUES_PER_QUERY = 500
"""Values asked for in one IN (…): well below SQLite's limit of bound parameters."""

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


AREA_TESTS: dict[str, Callable[[BaseGeometry, BaseGeometry], bool]] = {
    # name of the SQL function → the test of (area, stored geometry)
    "zugabe_intersects": shapely.intersects,
    "zugabe_s_within": shapely.contains,  # the stored geometry lies within the area
    "zugabe_s_contains": shapely.within,  # the stored geometry contains the area
    "zugabe_s_equals": shapely.equals,
    "zugabe_s_touches": shapely.touches,
    "zugabe_s_overlaps": shapely.overlaps,
    "zugabe_s_crosses": shapely.crosses,
}
"""The exact spatial tests a query can ask for (``zugabe_intersects`` for area queries,
the others for CQL2's spatial functions); each implies that the boxes meet."""


class _AreaTest:
    """SQL function ``name(geometry_wkb, area_wkb)`` → 1 or 0, one of ``AREA_TESTS``.

    One instance per connection and test (a connection serves one thread at a time),
    remembering the last decoded and prepared area: a query passes the same
    area for every candidate row, so it is parsed once, not once per row.
    """

    def __init__(self, test: Callable[[BaseGeometry, BaseGeometry], bool]) -> None:
        self._test = test
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
            return int(self._test(self._area, geometry))
        except shapely.errors.GEOSException:
            # Invalid input (e.g. a self-intersecting import) can make GEOS
            # give up; answer for the repaired shapes rather than fail the query.
            return int(self._test(shapely.make_valid(self._area), shapely.make_valid(geometry)))


def _fold(text: object) -> object:
    """SQL function ``zugabe_fold(text)``: Unicode case folding (SQLite's ``lower`` knows
    ASCII only), for CQL2's ``CASEI``."""
    return text.casefold() if isinstance(text, str) else text


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
    for name, test in AREA_TESTS.items():
        dbapi_conn.create_function(name, 2, _AreaTest(test), deterministic=True)
    dbapi_conn.create_function("zugabe_fold", 1, _fold, deterministic=True)


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


def _paged(statement: Select[Any], id_column: Any, after_id: int | None, limit: int | None) -> Any:
    """Order by id and page with a cursor: the same for every listing."""
    statement = statement.order_by(id_column)
    if after_id is not None:
        statement = statement.where(id_column > after_id)
    if limit is not None:
        statement = statement.limit(limit)
    return statement


class SqliteStore(SqliteAccountsAndAudit, SqliteDesk, SqliteMail, SqliteNotifications, Store):
    """Projects, thematic layers and coordination cases in one SQLite file.

    Migrates the schema when opened.
    """

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
        self._ambient = threading.local()  # the connection of ``transaction``, per thread
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
    def transaction(self, *, bulk: bool = False) -> Iterator[None]:
        """This thread's writes and reads in one write transaction (see the contract)."""
        if getattr(self._ambient, "conn", None) is not None:
            yield
            return
        with self._write(bulk) as conn:
            self._ambient.conn = conn
            try:
                yield
            finally:
                self._ambient.conn = None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        self._check_open()
        ambient = getattr(self._ambient, "conn", None)
        if ambient is not None:  # inside ``transaction``: see our own writes
            yield ambient
            return
        try:
            with self._engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            raise StorageError(f"cannot read the store: {exc.orig or exc}") from exc
        except sqlite3.Error as exc:  # from the DBAPI cursor used for bulk reads
            raise StorageError(f"cannot read the store: {exc}") from exc

    @contextmanager
    def _write(self, bulk: bool = False) -> Iterator[Connection]:
        """A write transaction; ``bulk`` gives it a big page cache for a layer.

        Inside ``transaction`` the ambient one is used: it commits (or rolls back) as one.
        """
        self._check_open()
        ambient = getattr(self._ambient, "conn", None)
        if ambient is not None:
            yield ambient
            return
        try:
            if not bulk:
                with self._writer.begin() as conn:
                    yield conn
                return
            with self._writer.connect() as conn, _large_cache(conn), conn.begin():
                yield conn
        except DBAPIError as exc:
            raise StorageError(f"cannot write the store: {exc.orig or exc}") from exc
        except sqlite3.Error as exc:  # from the DBAPI cursor used for bulk reads
            raise StorageError(f"cannot write the store: {exc}") from exc

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

    def get_projects(
        self, ids: Sequence[int] = (), external_ids: Sequence[str] = ()
    ) -> list[Project]:
        columns = projects_table.c
        found: dict[int, Project] = {}
        with self._read() as conn:
            for column, values in (
                (columns.id, list(ids)),
                (columns.external_id, list(external_ids)),
            ):
                for start in range(0, len(values), VALUES_PER_QUERY):
                    chunk = values[start : start + VALUES_PER_QUERY]
                    rows = conn.execute(select(projects_table).where(column.in_(chunk))).all()
                    found.update((row.id, _project(row)) for row in rows)
        return [found[key] for key in sorted(found)]

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
        statement = _paged(
            select(projects_table).where(*_conditions(query)),
            projects_table.c.id,
            query.after_id,
            query.limit,
        )
        with self._read() as conn:
            rows = conn.execute(statement).all()
        return [_project(row) for row in rows]

    def count_projects(self, query: ProjectQuery) -> int:
        statement = select(func.count()).select_from(projects_table).where(*_conditions(query))
        with self._read() as conn:
            return int(conn.execute(statement).scalar_one())

    def project_columns(self, query: ProjectQuery) -> ProjectColumns:
        """One query, raw rows from the DBAPI cursor, no object per project (exports)."""
        names = ("id", "geometry", *PROJECT_TEXT_COLUMNS, "cost_eur", "version")
        raw = ("start_date", "end_date", "created_at", "updated_at")  # as stored text
        statement = _paged(
            select(
                *(projects_table.c[name] for name in names),
                *(type_coerce(projects_table.c[name], String) for name in raw),
            ).where(*_conditions(query)),
            projects_table.c.id,
            query.after_id,
            query.limit,
        )
        with self._read() as conn:
            result = conn.execute(statement)
            rows = result.cursor.fetchall()  # plain tuples: no per-row result processing
            result.close()
        columns = dict(zip((*names, *raw), zip(*rows, strict=True), strict=True)) if rows else {}

        def column(name: str) -> tuple[Any, ...]:
            return columns.get(name, ())

        return ProjectColumns(
            id=np.array(column("id"), dtype=np.int64),
            wkb=np.array(column("geometry"), dtype=object),
            text={name: np.array(column(name), dtype=object) for name in PROJECT_TEXT_COLUMNS},
            start=_date_column(column("start_date")),
            end=_date_column(column("end_date")),
            cost_eur=np.array(
                [np.nan if v is None else v for v in column("cost_eur")], dtype=float
            ),
            version=np.array(column("version"), dtype=np.int64),
            created_at=_utc_column(column("created_at")),
            updated_at=_utc_column(column("updated_at")),
        )

    def schema_version(self) -> int:
        with self._read() as conn:
            return read_version(conn)

    def revision(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(store_revision_table.c.revision)).scalar_one())

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
            if previous is not None:
                _archive_features(conn, version.key, previous, version.keep_earlier)
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
                responsible_organisation=version.responsible_organisation,
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

    def layer_versions(self, key: str) -> list[tuple[LayerInfo, bool]]:
        archive = layer_feature_archive_table.c
        with self._read() as conn:
            rows = conn.execute(
                select(layer_versions_table)
                .where(layer_versions_table.c.key == key)
                .order_by(layer_versions_table.c.version.desc())
            ).all()
            kept = set(
                conn.execute(
                    select(archive.version).distinct().where(archive.layer_key == key)
                ).scalars()
            )
        if not rows:
            raise NotFound(f"layer '{key}' does not exist")
        current = rows[0].version
        return [(_layer_info(row), row.version in kept or row.version == current) for row in rows]

    def archived_layer_features(self, key: str, version: int) -> list[LayerFeature]:
        archive = layer_feature_archive_table.c
        with self._read() as conn:
            result = conn.execute(
                select(archive.id, archive.geometry, archive.attributes)
                .add_columns(archive.source_row, archive.derived)
                .where(archive.layer_key == key, archive.version == version)
                .order_by(archive.id)
            )
            rows = result.cursor.fetchall()
            result.close()
        if not rows:
            raise NotFound(f"the features of version {version} of layer '{key}' are not kept")
        return _layer_features(rows)

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
        filter: Filter | None = None,
    ) -> list[LayerFeature]:
        columns = layer_features_table.c
        with self._read() as conn:
            statement = (
                select(columns.id, columns.geometry, columns.attributes)
                .add_columns(columns.source_row, columns.derived)
                .where(*_feature_conditions(conn, key, area, filter))
                .order_by(columns.id)
            )
            if after_id is not None:
                statement = statement.where(columns.id > after_id)
            if limit is not None:
                statement = statement.limit(limit)
            result = conn.execute(statement)
            rows = result.cursor.fetchall()  # plain tuples: no per-row result processing
            result.close()
        return _layer_features(rows)

    def count_layer_features(
        self, key: str, area: BaseGeometry | None = None, filter: Filter | None = None
    ) -> int:
        with self._read() as conn:
            if area is None and filter is None:
                # Kept with the layer, so counting half a million features is free.
                count = conn.execute(
                    select(layers_table.c.feature_count).where(layers_table.c.key == key)
                ).scalar_one_or_none()
                return int(count or 0)
            statement = (
                select(func.count())
                .select_from(layer_features_table)
                .where(*_feature_conditions(conn, key, area, filter))
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
            conn.execute(
                delete(layer_feature_archive_table).where(
                    layer_feature_archive_table.c.layer_key == key
                )
            )
            conn.execute(delete(layers_table).where(layers_table.c.key == key))

    # -- coordination cases --------------------------------------------------

    def sync_cases(
        self,
        findings: Sequence[CaseFinding],
        scope: str | None,
        user: str,
        reason: dict[str, Any],
    ) -> CaseSync:
        # Checked and encoded before the write lock is taken: a broken finding
        # fails here, and the lock is held only for reading and writing rows.
        prepared = _PreparedFindings.of(findings)
        with self._write(bulk=len(prepared.keys) >= CASE_BULK_MIN) as conn:
            # Existing cases are read under the write lock, so two syncs of
            # the same pair (two web workers) cannot both create it.
            return _CaseSyncer(conn, prepared, scope, user, reason).run()

    def get_case(self, case_id: int) -> CoordinationCase | None:
        with self._read() as conn:
            return load_case(conn, case_id)

    @staticmethod
    def _load_case(conn: Connection, case_id: int) -> CoordinationCase | None:
        return load_case(conn, case_id)

    @staticmethod
    def _cases_of_rows(conn: Connection, rows: Sequence[Row[Any]]) -> list[CoordinationCase]:
        """Listed cases: without comments and history, with the decisions of those that
        have a current one (only proposed and agreed cases do)."""
        decided = [row.id for row in rows if row.status in _DECIDED]
        decisions = load_decisions(conn, decided)
        return [_case(row, decisions=decisions.get(row.id, ())) for row in rows]

    def list_cases(self, query: CaseQuery) -> list[CoordinationCase]:
        statement = _paged(
            select(cases_table).where(*_case_conditions(query)),
            cases_table.c.id,
            query.after_id,
            query.limit,
        )
        with self._read() as conn:
            return self._cases_of_rows(conn, conn.execute(statement).all())

    def count_cases(self, query: CaseQuery) -> int:
        statement = select(func.count()).select_from(cases_table).where(*_case_conditions(query))
        with self._read() as conn:
            return int(conn.execute(statement).scalar_one())

    def add_case_comment(self, case_id: int, text: str, user: str) -> Comment:
        # A comment leaves the case's status and version alone (commenting must not make a
        # colleague's pending step conflict) but is news: ``updated_at`` moves, so the case
        # is unread again for everyone involved (see ``inbox``).
        with self._write() as conn:
            now = datetime.now(UTC)
            exists = conn.execute(
                select(cases_table.c.id).where(cases_table.c.id == case_id)
            ).first()
            if exists is None:
                raise NotFound(f"case {case_id} does not exist")
            comment_id = conn.execute(
                insert(case_comments_table).values(case_id=case_id, at=now, by_user=user, text=text)
            ).inserted_primary_key[0]
            conn.execute(
                update(cases_table).where(cases_table.c.id == case_id).values(updated_at=now)
            )
            commented = HistoryEvent(Event.COMMENTED, {"comment": int(comment_id)})
            conn.execute(
                insert(case_history_table).values(
                    case_id=case_id,
                    at=now,
                    by_user=user,
                    event=commented.kind.value,
                    details=commented.details_json(),
                )
            )
        return Comment(id=int(comment_id), at=now, by=user, text=text)


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
        "external_id": attributes.external_id,
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
            external_id=row.external_id,
        ),
        geometry=shapely.from_wkb(row.geometry),
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        version=row.version,
    )


def _date_column(values: Sequence[str | None]) -> npt.NDArray[np.datetime64]:
    """Stored ISO dates as ``datetime64[D]``, NaT where there is none."""
    return np.array(["NaT" if v is None else v for v in values], dtype="datetime64[D]")


def _utc_column(values: Sequence[str]) -> npt.NDArray[np.datetime64]:
    """Stored ``UtcDateTime`` text (always ``+00:00``) as naive UTC ``datetime64[us]``."""
    if all(v.endswith("+00:00") for v in values):
        return np.array([v[:-6] for v in values], dtype="datetime64[us]")
    moments = [datetime.fromisoformat(v).astimezone(UTC).replace(tzinfo=None) for v in values]
    return np.array(moments, dtype="datetime64[us]")


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
    if query.filter is not None:
        conditions.append(translate(query.filter, _PROJECT_TARGET))
    return conditions


def _area_conditions(
    area: BaseGeometry,
    rows: Table = projects_table,
    rtree: Table = projects_rtree_table,
    test: str = "zugabe_intersects",
) -> list[ColumnElement[bool]]:
    """Bounding-box candidates from the R*Tree, then the exact ``test``
    (one of ``AREA_TESTS``, each true only where the boxes meet), last."""
    if area.is_empty:
        return [false()]
    min_x, min_y, max_x, max_y = area.bounds
    candidates = select(rtree.c.id).where(
        rtree.c.max_x >= min_x,
        rtree.c.min_x <= max_x,
        rtree.c.max_y >= min_y,
        rtree.c.min_y <= max_y,
    )
    exact = getattr(func, test)(rows.c.geometry, shapely.to_wkb(area)) == 1
    inner = _inner_box(area) if test == "zugabe_intersects" else None
    if inner is not None:
        # A row whose box lies inside the area meets it: no geometry to decode. With a map
        # view over 10,000 projects that is most of them.
        x0, y0, x1, y1 = inner
        inside = and_(
            rows.c.min_x >= x0, rows.c.max_x <= x1, rows.c.min_y >= y0, rows.c.max_y <= y1
        )
        exact = or_(inside, exact)
    return [rows.c.id.in_(candidates), exact]


def _spatial_test(rows: Table, rtree: Table) -> Callable[[str, BaseGeometry], ColumnElement[bool]]:
    """CQL2's spatial functions on ``rows``: the R*Tree's candidates and the exact test;
    ``S_DISJOINT`` is the negation of ``S_INTERSECTS`` (of rows that have a geometry)."""

    def spatial(op: str, geometry: BaseGeometry) -> ColumnElement[bool]:
        if op == "s_disjoint":
            meets = and_(*_area_conditions(geometry, rows, rtree))
            return and_(rows.c.geometry.is_not(None), not_(meets))
        test = "zugabe_intersects" if op == "s_intersects" else f"zugabe_{op}"
        return and_(*_area_conditions(geometry, rows, rtree, test))

    return spatial


_PROJECT_TARGET = Target(project_operand, _spatial_test(projects_table, projects_rtree_table))
_CASE_TARGET = Target(case_operand, _spatial_test(cases_table, cases_rtree_table), CASE_ANY_OF)
_LAYER_TARGET = Target(
    layer_operand, _spatial_test(layer_features_table, layer_features_rtree_table)
)


def _inner_box(area: BaseGeometry) -> tuple[float, float, float, float] | None:
    """An axis-aligned box inside ``area``: its bounds shrunk until contained, if that comes
    soon (a reprojected lon/lat box is a slightly turned rectangle; a district is not)."""
    min_x, min_y, max_x, max_y = area.bounds
    prepared = shapely.prepared.prep(area)
    for share in (0.0, 0.005, 0.01, 0.02, 0.05):
        dx, dy = (max_x - min_x) * share, (max_y - min_y) * share
        box = (min_x + dx, min_y + dy, max_x - dx, max_y - dy)
        if prepared.contains(shapely.box(*box)):
            return box
    return None


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
    """First free feature id (see ``_next_id``)."""
    return _next_id(conn, layer_features_table)


def _next_id(conn: Connection, rows: Table) -> int:
    """First free id of an AUTOINCREMENT table; the write lock keeps it free until commit.

    Ids are assigned here, not by SQLite, so the R*Tree rows can be built
    from the same arrays; AUTOINCREMENT's counter in ``sqlite_sequence``
    still rules, so ids of deleted rows are never handed out again
    (explicit ids above the counter move it on).
    """
    counter = conn.execute(
        select(sqlite_sequence.c.seq).where(sqlite_sequence.c.name == rows.name)
    ).scalar_one_or_none()
    highest = conn.execute(select(func.max(rows.c.id))).scalar_one_or_none()
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


def _archive_features(conn: Connection, key: str, current: int, keep: int) -> None:
    """Keep the current version's features for a rollback; drop those beyond ``keep``."""
    archive = layer_feature_archive_table
    if keep > 0:
        features = layer_features_table.c
        conn.execute(
            insert(archive).from_select(
                ["layer_key", "version", "attributes", "geometry", "derived", "source_row"],
                select(
                    features.layer_key,
                    literal(current),
                    features.attributes,
                    features.geometry,
                    features.derived,
                    features.source_row,
                )
                .where(features.layer_key == key)
                .order_by(features.id),
            )
        )
    conn.execute(
        delete(archive).where(archive.c.layer_key == key, archive.c.version <= current - keep)
    )


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
    _write_packed_rtree(
        conn,
        (layer_features_rtree_node, layer_features_rtree_parent, layer_features_rtree_rowid),
        ids,
        boxes,
    )


def _write_packed_rtree(
    conn: Connection,
    shadows: tuple[TableClause, TableClause, TableClause],
    ids: npt.NDArray[np.int64],
    boxes: npt.NDArray[np.float64],
) -> None:
    """Replace an R*Tree's content by entries ``ids`` with boxes (min_x, max_x, min_y, max_y).

    ``shadows`` are the tree's ``_node``, ``_parent`` and ``_rowid`` tables.
    """
    node_table, parent_table, rowid_table = shadows
    node_size = conn.execute(
        select(func.length(node_table.c.data)).where(node_table.c.nodeno == 1)
    ).scalar_one()
    packed = _RTreePacker(int(node_size)).pack(ids, boxes)
    for shadow in shadows:
        conn.execute(delete(shadow))
    _insert_rows(conn, node_table, packed.nodes)
    _insert_rows(conn, parent_table, packed.parents)
    _insert_rows(conn, rowid_table, packed.rowids)


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
    conn: Connection, key: str, area: BaseGeometry | None, filter: Filter | None = None
) -> list[ColumnElement[bool]]:
    """WHERE terms for a layer's features, optionally those meeting ``area`` and ``filter``.

    The R*Tree holds the boxes of all layers, so for a small layer, or an
    area around all of it, its candidates would mostly belong to other
    layers: then the layer's own rows are scanned, their box columns first.
    """
    conditions = [layer_features_table.c.layer_key == key]
    if filter is not None:
        conditions.append(translate(filter, _LAYER_TARGET))
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
        "responsible_organisation": info.responsible_organisation,
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
        responsible_organisation=row.responsible_organisation,
    )


def _layer_features(rows: Sequence[tuple[Any, ...]]) -> list[LayerFeature]:
    """(id, geometry, attributes, source_row, derived) tuples as features, decoded column by
    column: a detection index loads a million of them, and one vectorised WKB decode and
    one JSON parse beat a call per row (3×)."""
    if not rows:
        return []
    ids, wkb, texts, source_rows, derived_wkb = zip(*rows, strict=True)
    geometries = shapely.from_wkb(np.array(wkb, dtype=object))
    derived = shapely.from_wkb(np.array(derived_wkb, dtype=object))  # None stays None
    attributes = json.loads("[" + ",".join(texts) + "]")
    return [
        LayerFeature(*values)
        for values in zip(ids, geometries, attributes, source_rows, derived, strict=True)
    ]


# -- coordination cases --------------------------------------------------------

CASE_BULK_MIN = 10_000
"""Syncs of at least this many findings get the big page cache of a layer import."""

PAIR_KEYS_PER_QUERY = 500
"""Cases outside a sync's scope are looked up by pair key this many at a time
(old SQLite builds allow 999 parameters per statement)."""

_IDENTITY = (
    "rule_id",
    "subject_a_key",
    "subject_a_kind",
    "subject_a_ref",
    "subject_a_layer",
    "subject_b_key",
    "subject_b_kind",
    "subject_b_ref",
    "subject_b_layer",
)
"""What the pair key already says: written when a case is created, never after."""

_PAYLOAD = (
    "relation",
    "severity",
    "geometry",
    "measures",
    "organisations",
    "departments",
    "message",
    "window_start",
    "window_end",
)
"""What recomputation may change, compared as stored (WKB, JSON and ISO text)."""

_BOX = ("min_x", "min_y", "max_x", "max_y")
_REVIEW = ("status", "status_reason", "created_at", "updated_at", "version")
_WORK = ("assignee", "due_date")

if tuple(cases_table.columns.keys()) != (
    "id",
    "pair_key",
    *_IDENTITY,
    *_PAYLOAD,
    *_BOX,
    *_REVIEW,
    *_WORK,
):
    # New cases are written as plain tuples in table order (see ``_insert_rows``).
    raise RuntimeError("cases_table columns are not in the order sync_cases writes them")

_DIALECT = sqlite_dialect.dialect(paramstyle="qmark")
_Box = tuple[float, float, float, float] | tuple[None, None, None, None]
"""min_x, min_y, max_x, max_y of an overlap geometry, or None four times."""
_NO_BOX: _Box = (None, None, None, None)


def _utc_text(moment: datetime) -> str:
    """A timestamp as ``UtcDateTime`` stores it, for rows written as plain tuples."""
    text = UtcDateTime().process_bind_param(moment, _DIALECT)
    assert text is not None
    return text


@dataclass(frozen=True)
class _PreparedFindings:
    """Findings as column values, checked and encoded before the write lock.

    One entry per finding in each list, in the order of the findings.
    """

    keys: list[str]
    identities: list[tuple[Any, ...]]
    """Values of ``_IDENTITY``."""
    payloads: list[tuple[Any, ...]]
    """Values of ``_PAYLOAD``, exactly as stored."""
    boxes: list[_Box]
    involvements: list[list[tuple[str, str]]]
    """(kind, value) to involve, without repeats."""

    @classmethod
    def of(cls, findings: Sequence[CaseFinding]) -> _PreparedFindings:
        keys = [finding.pair_key for finding in findings]
        if len(set(keys)) != len(keys):
            twice = next(key for key, count in Counter(keys).items() if count > 1)
            raise ValueError(f"the findings name case '{twice}' more than once")
        geometries = _geometry_array([finding.geometry for finding in findings])
        _check_finite(geometries, keys)
        wkb = shapely.to_wkb(geometries).tolist()
        bounds = shapely.bounds(geometries)
        boxed = np.isfinite(bounds).all(axis=1).tolist()
        boxes = [
            tuple(box) if ok else _NO_BOX for box, ok in zip(bounds.tolist(), boxed, strict=True)
        ]
        measures = _json_column(keys, [f.measures for f in findings], "measures")
        messages = _json_column(keys, [f.message for f in findings], "message")
        # Few distinct sets of organisations and departments: encoded once each.
        involved: dict[tuple[tuple[str, ...], ...], tuple[str, str, list[tuple[str, str]]]] = {}
        identities = []
        payloads = []
        involvements = []
        for i, finding in enumerate(findings):
            a, b = finding.subject_a, finding.subject_b
            start, end = finding.window_start, finding.window_end
            who = (tuple(finding.organisations), tuple(finding.departments))
            encoded = involved.get(who)
            if encoded is None:
                encoded = involved[who] = _encode_involved(finding)
            organisations, departments, pairs = encoded
            identities.append(
                (
                    finding.rule_id,
                    a.key,
                    a.kind,
                    str(a.ref),
                    a.layer,
                    b.key,
                    b.kind,
                    str(b.ref),
                    b.layer,
                )
            )
            payloads.append(
                (
                    finding.relation,
                    finding.severity,
                    wkb[i],
                    measures[i],
                    organisations,
                    departments,
                    messages[i],
                    start.isoformat() if start is not None else None,
                    end.isoformat() if end is not None else None,
                )
            )
            involvements.append(pairs)
        return cls(keys, identities, payloads, boxes, involvements)


def _encode_involved(finding: CaseFinding) -> tuple[str, str, list[tuple[str, str]]]:
    """JSON of a finding's organisations and departments, and its involvement rows."""
    what = f"case '{finding.pair_key}'"
    organisations = _encode_json(list(finding.organisations), f"the organisations of {what}")
    departments = _encode_json(list(finding.departments), f"the departments of {what}")
    return (
        organisations,
        departments,
        _involvement_pairs(finding.organisations, finding.departments),
    )


def _involvement_pairs(
    organisations: Iterable[str], departments: Iterable[str]
) -> list[tuple[str, str]]:
    return list(
        dict.fromkeys(
            [("organisation", value) for value in organisations]
            + [("department", value) for value in departments]
        )
    )


def _check_finite(geometries: npt.NDArray[np.object_], keys: list[str]) -> None:
    """Refuse NaN or infinite coordinates anywhere, not only at the bounds.

    GEOS skips a NaN vertex when it computes an envelope, so a line with one
    in its middle has finite bounds; every coordinate is checked instead.
    """
    coordinates, index = shapely.get_coordinates(geometries, return_index=True)
    broken = ~np.isfinite(coordinates).all(axis=1)
    if broken.any():
        key = keys[int(index[int(np.argmax(broken))])]
        raise InvalidInput(
            f"case '{key}': the overlap geometry has coordinates that are not finite numbers"
        )


def _json_column(keys: list[str], values: list[Any], what: str) -> list[str]:
    try:
        return [_encode_row(value) for value in values]
    except (TypeError, ValueError):
        for key, value in zip(keys, values, strict=True):
            _encode_json(value, f"the {what} of case '{key}'")
        raise


_STORED = ("id", "pair_key", "status")
"""What a sync reads of each stored case (then ``_PAYLOAD``), as plain tuples."""
_ID, _PAIR_KEY, _STATUS = range(len(_STORED))
_PAYLOAD_AT = len(_STORED)
_GEOMETRY = _PAYLOAD.index("geometry")
_ORGANISATIONS = _PAYLOAD.index("organisations")
_DEPARTMENTS = _PAYLOAD.index("departments")


def _select_stored() -> Select[Any]:
    return select(*(cases_table.c[name] for name in (*_STORED, *_PAYLOAD)))


_SELECT_ALL_CASES_SQL = _driver_sql(_select_stored())
_SELECT_CASES_OF_SUBJECT_SQL = _driver_sql(
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
    return _driver_sql(_select_stored().where(cases_table.c.pair_key.in_(keys)))


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
            **{name: bindparam(f"new_{name}") for name in (*_PAYLOAD, *_BOX)},
            "updated_at": bindparam("new_updated_at"),
            "version": cases_table.c.version + bindparam("bump"),
        }
    ),
    (*(f"new_{name}" for name in (*_PAYLOAD, *_BOX)), "new_updated_at", "bump", "case_id"),
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

_DELETE_CASE_BOX_SQL = _driver_sql(
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
_SELECT_CASE_BOXES_SQL = _driver_sql(
    select(
        cases_table.c.id,
        cases_table.c.min_x,
        cases_table.c.max_x,
        cases_table.c.min_y,
        cases_table.c.max_y,
    ).where(cases_table.c.min_x.is_not(None))
)
_HISTORY_ROWS = table(
    case_history_table.name,
    column("case_id"),
    column("at"),
    column("by_user"),
    column("event"),
    column("details"),
)
"""History rows without their id, which SQLite assigns."""


class _CaseSyncer:
    """One ``sync_cases`` call, inside its write transaction.

    What happens to each stored case is decided by ``case_workflow.found``/``vanished``;
    this class only finds the stored cases and writes those decisions.
    """

    def __init__(
        self,
        conn: Connection,
        prepared: _PreparedFindings,
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

    def run(self) -> CaseSync:
        stored = self._stored_cases()
        new: list[int] = []  # positions in ``prepared``
        changed: list[tuple[int, tuple[Any, ...]]] = []  # position, stored row
        updated: list[int] = []
        unchanged: list[int] = []
        reopened: list[int] = []
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
                reopened.append(case_id)
            elif changes:
                updated.append(case_id)
            else:
                unchanged.append(case_id)
            if changes:
                changed.append((position, row))
        obsolete = self._obsolete_rows(stored)
        created = self._create(new)
        moved = self._update(changed)
        self._set_statuses(changed)
        self._update_rtree(created, moved)
        _insert_rows(self.conn, _HISTORY_ROWS, self.history)
        return CaseSync(
            created=tuple(created),
            updated=tuple(sorted(updated)),
            unchanged=tuple(sorted(unchanged)),
            reopened=tuple(sorted(reopened)),
            obsoleted=tuple(sorted(obsolete)),
        )

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

    def _obsolete_rows(self, stored: dict[str, tuple[Any, ...]]) -> list[int]:
        """Cases in scope that no finding names and that are not obsolete yet.

        ``stored`` holds the cases in scope and those a finding names, so the
        ones no finding names are in scope.
        """
        found_keys = set(self.prepared.keys)
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
        first = _next_id(self.conn, cases_table)
        ids = list(range(first, first + len(positions)))
        prepared = self.prepared
        review = (CaseStatus.OPEN.value, "{}", self.stamp, self.stamp, 1, None, None)
        _insert_rows(
            self.conn,
            cases_table,
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
            ],
        )
        _insert_rows(
            self.conn,
            case_involvements_table,
            [
                (case_id, kind, value)
                for case_id, at in zip(ids, positions, strict=True)
                for kind, value in prepared.involvements[at]
            ],
        )
        created = HistoryEvent(Event.CREATED)
        self.history.extend(
            (case_id, self.stamp, self.user, created.kind.value, created.details_json())
            for case_id in ids
        )
        return ids

    def _update(self, changed: list[tuple[int, tuple[Any, ...]]]) -> list[tuple[int, _Box]]:
        """Write the new payload of changed cases; return those whose geometry changed."""
        if not changed:
            return []
        prepared = self.prepared
        self.conn.exec_driver_sql(
            _UPDATE_PAYLOAD_SQL,
            [
                (*prepared.payloads[at], *prepared.boxes[at], self.stamp, 1, row[_ID])
                for at, row in changed
            ],
        )
        removed: list[tuple[str, str, int]] = []
        added: list[tuple[int, str, str]] = []
        for at, row in changed:
            old, new = row[_PAYLOAD_AT:], prepared.payloads[at]
            if (old[_ORGANISATIONS], old[_DEPARTMENTS]) == (new[_ORGANISATIONS], new[_DEPARTMENTS]):
                continue
            before = set(
                _involvement_pairs(json.loads(old[_ORGANISATIONS]), json.loads(old[_DEPARTMENTS]))
            )
            after = set(prepared.involvements[at])
            removed.extend((kind, value, row[_ID]) for kind, value in before - after)
            added.extend((row[_ID], kind, value) for kind, value in after - before)
        if removed:
            self.conn.exec_driver_sql(_DELETE_INVOLVEMENT_SQL, removed)
        _insert_rows(self.conn, case_involvements_table, added)
        return [
            (row[_ID], prepared.boxes[at])
            for at, row in changed
            if row[_PAYLOAD_AT + _GEOMETRY] != prepared.payloads[at][_GEOMETRY]
        ]

    def _set_statuses(self, changed: list[tuple[int, tuple[Any, ...]]]) -> None:
        """Write the statuses recomputation decided and close the decisions it voided;
        the version grows once per case and sync."""
        bumped = {row[_ID] for _, row in changed}
        reason = _encode_row(self.reason)
        rows = [
            (
                status.value,
                reason if status is CaseStatus.OBSOLETE else "{}",
                self.stamp,
                0 if case_id in bumped else 1,
                case_id,
            )
            for case_id, status in self.statuses
        ]
        if rows:
            self.conn.exec_driver_sql(_SET_STATUS_SQL, rows)
        if self.closed_decisions:
            self.conn.exec_driver_sql(
                _CLOSE_DECISIONS_SQL,
                [
                    (DecisionState.REOPENED.value, self.stamp, case_id, *_OPEN_DECISION_STATES)
                    for case_id in self.closed_decisions
                ],
            )

    def _update_rtree(self, created: list[int], moved: list[tuple[int, _Box]]) -> None:
        """Bring ``cases_rtree`` in step: row by row for a few, packed anew for many."""
        changes = len(created) + len(moved)
        if not changes:
            return
        # Counting the tree's entries scans it: only when a rebuild may pay at all.
        if changes >= RTREE_REBUILD_MIN_CHANGES and _rebuild_pays(
            changes, _count_rows(self.conn, cases_rtree_table)
        ):
            cursor = self._cursor()
            try:
                rows = cursor.execute(_SELECT_CASE_BOXES_SQL).fetchall()
            finally:
                cursor.close()
            boxes = np.fromiter(
                itertools.chain.from_iterable(rows), dtype=np.float64, count=5 * len(rows)
            ).reshape(-1, 5)
            shadows = (cases_rtree_node, cases_rtree_parent, cases_rtree_rowid)
            _write_packed_rtree(self.conn, shadows, boxes[:, 0].astype(np.int64), boxes[:, 1:])
            return
        if moved:
            self.conn.exec_driver_sql(_DELETE_CASE_BOX_SQL, [(case_id,) for case_id, _ in moved])
            _insert_rows(
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
                    ).where(cases_table.c.id >= created[0], cases_table.c.min_x.is_not(None)),
                )
            )


def _count_rows(conn: Connection, rows: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(rows)).scalar_one())


def _decoded(payload: tuple[Any, ...]) -> dict[str, Any]:
    """A stored payload (``_PAYLOAD``) with its JSON decoded, for ``describe_changes``."""
    values = dict(zip(_PAYLOAD, payload, strict=True))
    for name in ("measures", "organisations", "departments", "message"):
        values[name] = json.loads(values[name])
    return values


def _finding(row: Row[Any]) -> CaseFinding:
    """The finding a stored case holds."""
    return CaseFinding(
        pair_key=row.pair_key,
        rule_id=row.rule_id,
        relation=row.relation,
        severity=row.severity,
        subject_a=Subject(row.subject_a_kind, row.subject_a_ref, row.subject_a_layer),
        subject_b=Subject(row.subject_b_kind, row.subject_b_ref, row.subject_b_layer),
        geometry=shapely.from_wkb(row.geometry) if row.geometry is not None else None,
        measures=json.loads(row.measures),
        organisations=tuple(json.loads(row.organisations)),
        departments=tuple(json.loads(row.departments)),
        message=json.loads(row.message),
        window_start=row.window_start,
        window_end=row.window_end,
    )


def _case(
    row: Row[Any],
    comments: tuple[Comment, ...] = (),
    history: tuple[HistoryEntry, ...] = (),
    decisions: tuple[Decision, ...] = (),
) -> CoordinationCase:
    return CoordinationCase(
        id=row.id,
        finding=_finding(row),
        status=CaseStatus(row.status),
        status_reason=json.loads(row.status_reason),
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
        assignee=row.assignee,
        due_date=row.due_date,
        comments=comments,
        history=history,
        decisions=decisions,
    )


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
    return _case(
        row,
        tuple(Comment(id=c.id, at=c.at, by=c.by_user, text=c.text) for c in comments),
        tuple(
            HistoryEntry(at=h.at, by=h.by_user, event=HistoryEvent.stored(h.event, h.details))
            for h in history
        ),
        load_decisions(conn, [case_id]).get(case_id, ()),
    )


def _involves(kind: str, values: tuple[str, ...]) -> ColumnElement[bool]:
    return cases_table.c.id.in_(
        select(case_involvements_table.c.case_id).where(
            case_involvements_table.c.kind == kind,
            case_involvements_table.c.value.in_(values),
        )
    )


def _case_conditions(query: CaseQuery) -> list[ColumnElement[bool]]:
    """WHERE terms for the filters of a case query (paging is the caller's)."""
    conditions: list[ColumnElement[bool]] = []
    if query.organisations:
        conditions.append(_involves("organisation", query.organisations))
    if query.departments:
        conditions.append(_involves("department", query.departments))
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
    if query.area is not None:
        conditions.extend(_area_conditions(query.area, cases_table, cases_rtree_table))
    if query.filter is not None:
        conditions.append(translate(query.filter, _CASE_TARGET))
    return conditions
