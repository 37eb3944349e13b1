"""The production store: PostgreSQL 15+ with PostGIS 3, behind the same contract.

``database_url = "postgresql+psycopg://user@host/zugabe"`` selects it. The tables, columns
and schema versions are those of the SQLite store (``postgis_schema``), so everything that
is plain SQLAlchemy Core is inherited from ``SqlStore`` (``sql_store``), as the SQLite store
inherits it: connections and transactions, projects, layers and cases, the account, audit,
desk, mail and notification mixins, the decoding of rows, the non-spatial filters, and the
case syncer, which applies the case workflow's plans. This module implements their hooks
the PostgreSQL way:

- geometry lives in PostGIS columns in the storage CRS with GiST indexes; area queries,
  CQL2's spatial functions and their counts are ``ST_Intersects``/``ST_Within``/… in the
  same SQL statement as the listing (no R*Tree tables, no Python test per row). Geometries
  are written as WKB through ``ST_GeomFromWKB`` and read back as (E)WKB bytes: a psycopg
  loader turns the server's hex EWKB into bytes, so the shared row decoders see what SQLite
  gives them;
- writers are serialised from the start of their transaction by one advisory lock (the
  contract's "writers are serialised"; SQLite's ``BEGIN IMMEDIATE``), readers read a
  snapshot (``REPEATABLE READ``);
- layer features and new cases are bulk-loaded with ``COPY`` (geometry as hex EWKB); ids
  come from identity columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
import shapely
from psycopg import sql as pg_sql
from psycopg.adapt import Loader
from psycopg.types import TypeInfo
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    column,
    create_engine,
    delete,
    event,
    false,
    func,
    not_,
    select,
    table,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from zugabe.domain.agreement import DecisionState
from zugabe.domain.case_history import HistoryEvent
from zugabe.domain.filters import Filter
from zugabe.errors import ConfigError, StorageError
from zugabe.storage.case_rows import BOX, PAYLOAD, PreparedFindings
from zugabe.storage.contract import (
    CaseQuery,
    LayerFeatureBatch,
    ProjectQuery,
)
from zugabe.storage.feature_batches import check_batch, extent_of
from zugabe.storage.postgis_schema import migrations
from zugabe.storage.sql_store import SqlStore
from zugabe.storage.sqlite_cases import (
    _NEW_CASE_COLUMNS,
    _OPEN_DECISION_STATES,
    _STORED,
    _case_conditions,
    _CaseSyncer,
)
from zugabe.storage.sqlite_changes import SqliteChanges
from zugabe.storage.sqlite_filter import (
    CASE_ANY_OF,
    Target,
    case_operand,
    layer_operand,
    project_operand,
    translate,
)
from zugabe.storage.sqlite_jobs import SqliteJobs
from zugabe.storage.sqlite_projects import _conditions
from zugabe.storage.sqlite_schema import (
    case_decisions_table,
    case_history_table,
    case_involvements_table,
    cases_table,
    layer_features_table,
    migrate,
    projects_table,
)
from zugabe.storage.sqlite_throttle import SqliteThrottle

DEFAULT_SRID = 25832
"""The SRID of a new store's geometry columns when none is given (ETRS89 / UTM 32N)."""

WRITE_LOCK = 0x5A554741
"""The advisory lock every write transaction takes first ("ZUGA")."""

_WRITE_OPTION = "zugabe_write"

ANALYZE_AFTER = 10_000
"""Layer imports of at least this many features refresh the planner's statistics."""

# CQL2's spatial operators (``s_intersects`` also for area queries) as PostGIS functions
# of (stored geometry, area).
_SPATIAL_TESTS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "s_intersects": func.ST_Intersects,
    "s_within": func.ST_Within,  # the stored geometry lies within the area
    "s_contains": func.ST_Contains,  # the stored geometry contains the area
    "s_equals": func.ST_Equals,
    "s_touches": func.ST_Touches,
    "s_overlaps": func.ST_Overlaps,
    "s_crosses": func.ST_Crosses,
}


NO_PARALLEL_QUERY = "SET max_parallel_workers_per_gather = 0"
"""ZUGABE's statements are a map view's rows, a page, one project: with 50,000 projects
PostgreSQL planned a view's case count with a parallel worker, and starting it took 10 ms
of a statement that scans 1.5 ms (the load bench's case lists 80 ms on the server)."""


class _WkbLoader(Loader):
    """PostGIS geometry as EWKB bytes (the server sends hex text): what shapely reads."""

    def load(self, data: Any) -> bytes:
        return bytes.fromhex(bytes(data).decode("ascii"))


def _on_connect(dbapi_conn: psycopg.Connection[Any], _record: Any) -> None:
    """Read geometry columns as bytes on every new connection (once PostGIS is there), and
    plan every statement without parallel workers (``NO_PARALLEL_QUERY``)."""
    info = TypeInfo.fetch(dbapi_conn, "geometry")
    dbapi_conn.execute(NO_PARALLEL_QUERY)
    dbapi_conn.commit()  # the lookup opened a transaction; the setting stays for the session
    if info is not None:
        dbapi_conn.adapters.register_loader(info.oid, _WkbLoader)


def _on_begin(conn: Connection) -> None:
    """Writers queue for the one write lock before anything else (until commit)."""
    if conn.get_execution_options().get(_WRITE_OPTION):
        conn.execute(select(func.pg_advisory_xact_lock(WRITE_LOCK)))


def connect_engine(url: URL | str) -> Engine:
    """An engine whose connections read geometry as WKB and whose writers take the lock."""
    engine = create_engine(url, isolation_level="REPEATABLE READ")
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def writing(engine: Engine) -> Engine:
    """The same engine whose transactions take the write lock at BEGIN (read committed:
    with writers serialised, each statement sees every commit before it)."""
    return engine.execution_options(**{_WRITE_OPTION: True}, isolation_level="READ COMMITTED")


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid storage URL: {exc}") from exc
    if parsed.get_backend_name() != "postgresql" or parsed.get_driver_name() != "psycopg":
        raise ConfigError(
            f"the PostGIS store needs a postgresql+psycopg:// URL, got scheme '{parsed.drivername}'"
        )
    return parsed


class PostgisStore(SqliteChanges, SqliteThrottle, SqliteJobs, SqlStore):
    """Projects, layers, cases and everything else in one PostgreSQL database.

    Migrates the schema when opened. ``srid``: the EPSG code of the storage CRS; a new
    store's geometry columns get it, an existing store must have been created with it.
    """

    def __init__(self, url: str, srid: int | None = None) -> None:
        parsed = _parse(url)
        engine = connect_engine(parsed)
        self._connected(engine, writing(engine), parsed.render_as_string(hide_password=True))
        try:
            self.srid = self._prepare(srid)
            applied = migrate(self._engine, self._writer, migrations(self.srid), where=self.where)
        except DBAPIError as exc:
            self._engine.dispose()
            raise StorageError(f"cannot open the store {self.where}: {exc.orig or exc}") from exc
        except BaseException:
            self._engine.dispose()
            raise
        # Connections made before PostGIS was there read geometry as text: start anew.
        self._engine.dispose()
        self.applied_migrations: tuple[int, ...] = tuple(applied)
        self._targets = _Targets(self.srid)

    def _prepare(self, srid: int | None) -> int:
        """Create PostGIS if missing (needs the right to), and settle the SRID.

        A database with PostGIS is only read, so opening it takes no write lock: a batch
        run's helper processes open the store while the run holds that lock.
        """
        with self._engine.connect() as conn:
            installed = self._has_postgis(conn)
            stored = self._stored_srid(conn) if installed else None
        if not installed:
            with self._writer.begin() as conn:
                if not self._has_postgis(conn):
                    try:
                        with conn.begin_nested():
                            conn.exec_driver_sql("CREATE EXTENSION postgis")
                    except DBAPIError as exc:
                        raise ConfigError(
                            f"the database {self.where} lacks the PostGIS extension and this "
                            "account may not create it: run CREATE EXTENSION postgis; in it "
                            "as its owner or a superuser"
                        ) from exc
                stored = self._stored_srid(conn)
        if stored is None:
            return srid or DEFAULT_SRID
        if srid is not None and srid != stored:
            raise ConfigError(
                f"the store {self.where} keeps geometry in EPSG:{stored}, but storage_crs is "
                f"EPSG:{srid}; set storage_crs to EPSG:{stored} (or copy the instance)"
            )
        return int(stored)

    @staticmethod
    def _has_postgis(conn: Connection) -> bool:
        extensions = table("pg_extension", column("extname"))
        query = select(func.count()).select_from(extensions)
        return bool(conn.execute(query.where(extensions.c.extname == "postgis")).scalar_one())

    @staticmethod
    def _stored_srid(conn: Connection) -> int | None:
        """The SRID of the stored geometry, once the schema is there."""
        if conn.execute(select(func.to_regclass("public.projects"))).scalar() is None:
            return None
        return conn.execute(select(func.Find_SRID("public", "projects", "geometry"))).scalar_one()

    def __repr__(self) -> str:
        return f"PostgisStore({self.where!r})"

    def vacuum(self) -> None:
        """``VACUUM (ANALYZE)`` the database after a bulk load (``zugabe store copy``), as
        PostgreSQL's documentation advises: else autovacuum's first pass over the new rows
        runs while the first users work, and the map answered a quarter slower until it had
        (``bench/bench_load.py``, 50,000 projects). Outside any transaction, as VACUUM must."""
        self._check_open()
        try:
            with self._engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM (ANALYZE)"
                )
        except DBAPIError as exc:
            raise StorageError(f"cannot vacuum the store {self.where}: {exc.orig or exc}") from exc

    def _job_engines(self) -> tuple[Engine, Engine]:
        """Jobs are read and written without the write lock: a job's progress is seen while
        its work still holds the lock (see ``SqliteJobs``)."""
        return self._engine, self._engine

    # -- what PostgreSQL does its own way ----------------------------------

    def _geometry(self, wkb: Any) -> Any:
        return func.ST_GeomFromWKB(wkb, self.srid)

    def _wkb_column(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.ST_AsBinary(column)  # not the loader's EWKB: exports write it as is

    def _write_features(
        self, conn: Connection, key: str, batches: Iterable[LayerFeatureBatch]
    ) -> tuple[int, tuple[float, float, float, float] | None]:
        conn.execute(delete(layer_features_table).where(layer_features_table.c.layer_key == key))
        written = _FeatureCopy(conn, key, self.srid)
        for batch in batches:
            written.add(batch)
        if written.count >= ANALYZE_AFTER:
            # Fresh statistics before the first area query: without them the planner scans
            # the layer by its key instead of asking the GiST index (20 ms, not 2, per query).
            conn.exec_driver_sql("ANALYZE layer_features")
        return written.count, extent_of(written.boxes)

    def _project_conditions(self, query: ProjectQuery) -> list[ColumnElement[bool]]:
        return [
            *_conditions(query),
            *_located(self._targets.projects, query.area, query.filter),
        ]

    def _feature_conditions(
        self, conn: Connection, key: str, area: BaseGeometry | None, filter: Filter | None
    ) -> list[ColumnElement[bool]]:
        return [
            layer_features_table.c.layer_key == key,
            *_located(self._targets.layers, area, filter),
        ]

    def _case_syncer(
        self,
        conn: Connection,
        prepared: PreparedFindings,
        scope: str | None,
        user: str,
        reason: dict[str, Any],
    ) -> _CaseSyncer:
        return _CaseWriter(conn, prepared, scope, user, reason, self.srid)

    def _case_conditions(self, query: CaseQuery) -> list[ColumnElement[bool]]:
        return [
            *_case_conditions(query),
            *_located(self._targets.cases, query.area, query.filter),
        ]


def _located(
    target: Target, area: BaseGeometry | None, filter: Filter | None
) -> list[ColumnElement[bool]]:
    """The WHERE terms of a query's area (``s_intersects``) and CQL2 filter on a collection,
    both answered in SQL with the GiST index."""
    conditions: list[ColumnElement[bool]] = []
    if area is not None:
        conditions.append(target.spatial("s_intersects", area))
    if filter is not None:
        conditions.append(translate(filter, target))
    return conditions


def _spatial_test(rows: Table, srid: int) -> Callable[[str, BaseGeometry], ColumnElement[bool]]:
    """CQL2's spatial functions (and area queries: ``s_intersects``) on a geometry column,
    answered by PostGIS with the GiST index; ``S_DISJOINT`` is the negation of
    ``S_INTERSECTS`` of rows that have a geometry."""

    def spatial(op: str, geometry: BaseGeometry) -> ColumnElement[bool]:
        column = rows.c.geometry
        if geometry.is_empty:
            return and_(column.is_not(None)) if op == "s_disjoint" else false()
        area = func.ST_GeomFromWKB(shapely.to_wkb(geometry), srid)
        if op == "s_disjoint":
            return and_(column.is_not(None), not_(func.ST_Intersects(column, area)))
        return _SPATIAL_TESTS[op](column, area)

    return spatial


class _Targets:
    """The CQL2 targets of the three collections, for one store's SRID."""

    def __init__(self, srid: int) -> None:
        self.projects = Target(project_operand, _spatial_test(projects_table, srid))
        self.cases = Target(case_operand, _spatial_test(cases_table, srid), CASE_ANY_OF)
        self.layers = Target(layer_operand, _spatial_test(layer_features_table, srid))


def _copy_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Append rows with ``COPY`` (geometry as hex EWKB in the store's SRID, ``_ewkb``): bulk
    writes without a statement per row. Names are composed as identifiers, values streamed."""
    statement = pg_sql.SQL("COPY {} ({}) FROM STDIN").format(
        pg_sql.Identifier(table.name), pg_sql.SQL(", ").join(map(pg_sql.Identifier, columns))
    )
    dbapi = conn.connection.driver_connection
    assert isinstance(dbapi, psycopg.Connection)
    try:
        with dbapi.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        raise StorageError(f"cannot write {table.name}: {exc}") from exc


def _ewkb(geometries: npt.NDArray[np.object_], srid: int) -> list[str | None]:
    """Geometries as the hex EWKB that ``COPY`` takes for a column of this SRID."""
    with_srid = shapely.set_srid(geometries, srid)
    return shapely.to_wkb(with_srid, hex=True, include_srid=True).tolist()  # type: ignore[no-any-return]


_FEATURE_COLUMNS = (
    "layer_key",
    "attributes",
    "geometry",
    "derived",
    "source_row",
    "min_x",
    "min_y",
    "max_x",
    "max_y",
)


class _FeatureCopy:
    """Writes batches of one layer with ``COPY`` (geometry as hex EWKB in the store's SRID)."""

    def __init__(self, conn: Connection, key: str, srid: int) -> None:
        self.conn = conn
        self.key = key
        self.srid = srid
        self.count = 0
        self.boxes: list[np.ndarray[Any, Any]] = []

    def add(self, batch: LayerFeatureBatch) -> None:
        checked = check_batch(self.key, batch)
        if checked is None:
            return
        size = len(checked.geometries)
        derived = [None] * size if checked.derived is None else _ewkb(checked.derived, self.srid)
        _copy_rows(
            self.conn,
            layer_features_table,
            _FEATURE_COLUMNS,
            zip(
                [self.key] * size,
                checked.attributes,
                _ewkb(checked.geometries, self.srid),
                derived,
                checked.source_rows,
                *(checked.bounds[:, i].tolist() for i in range(4)),
                strict=True,
            ),
        )
        self.count += size
        self.boxes.append(checked.bounds)


def _stored_case_columns() -> list[ColumnElement[Any]]:
    """What a sync compares, in the form ``PreparedFindings`` has it: WKB, ISO dates."""
    c = cases_table.c
    normalised = {
        "geometry": func.ST_AsBinary(c.geometry),
        "window_start": cast(c.window_start, Text),
        "window_end": cast(c.window_end, Text),
    }
    return [normalised.get(name, c[name]) for name in (*_STORED, *PAYLOAD)]


class _CaseWriter(_CaseSyncer):
    """``sync_cases`` in PostgreSQL: the shared syncer decides (through
    ``case_workflow.found``/``vanished``) what happens to each case; this implements its
    hooks for reading and writing rows (new rows with ``COPY``, changes as Core updates
    with array or executemany parameters; geometry as WKB in the store's SRID)."""

    def __init__(
        self,
        conn: Connection,
        prepared: PreparedFindings,
        scope: str | None,
        user: str,
        reason: dict[str, Any],
        srid: int,
    ) -> None:
        super().__init__(conn, prepared, scope, user, reason)
        self.srid = srid
        self.moment = datetime.fromisoformat(self.stamp)  # the same instant, for Core

    def _stored_cases(self) -> dict[str, tuple[Any, ...]]:
        statement = select(*_stored_case_columns())
        if self.scope is None:
            rows = self.conn.execute(statement).all()
        else:
            rows = self.conn.execute(
                statement.where(
                    (cases_table.c.subject_a_key == self.scope)
                    | (cases_table.c.subject_b_key == self.scope)
                )
            ).all()
            known = {row.pair_key for row in rows}
            missing = [key for key in self.prepared.keys if key not in known]
            if missing:  # one array parameter, however many keys
                keys = bindparam("keys", missing, type_=ARRAY(Text))
                rows.extend(
                    self.conn.execute(statement.where(cases_table.c.pair_key == any_(keys))).all()
                )
        return {row.pair_key: tuple(row) for row in rows}

    def _new_ids(self, count: int) -> list[int]:
        sequence = func.pg_get_serial_sequence(cases_table.name, "id")
        ids = self.conn.execute(
            select(func.nextval(sequence)).select_from(func.generate_series(1, count))
        ).scalars()
        return sorted(int(i) for i in ids)

    def _payload_values(self, at: int) -> dict[str, Any]:
        values = dict(
            zip(
                (*PAYLOAD, *BOX),
                (*self.prepared.payloads[at], *self.prepared.boxes[at]),
                strict=True,
            )
        )
        values["wkb"] = values.pop("geometry")
        return values

    def _insert_cases(self, rows: list[tuple[Any, ...]]) -> None:
        at = _NEW_CASE_COLUMNS.index("geometry")
        wkb = np.array([row[at] for row in rows], dtype=object)
        ewkb = _ewkb(shapely.from_wkb(wkb), self.srid)
        _copy_rows(
            self.conn,
            cases_table,
            _NEW_CASE_COLUMNS,
            (
                (*row[:at], geometry, *row[at + 1 :])
                for row, geometry in zip(rows, ewkb, strict=True)
            ),
        )

    def _involve_created(self, ids: list[int], positions: list[int]) -> None:
        involvements = self.prepared.involvements
        self._insert_involvements(
            [
                (case_id, kind, value)
                for case_id, at in zip(ids, positions, strict=True)
                for kind, value in involvements[at]
            ]
        )

    def _record_created(self, ids: list[int], created: HistoryEvent) -> None:
        event, details = created.kind.value, created.details_json()
        self.history.extend((case_id, self.stamp, self.user, event, details) for case_id in ids)

    def _insert_involvements(self, rows: list[tuple[int, str, str]]) -> None:
        _copy_rows(self.conn, case_involvements_table, ("case_id", "kind", "value"), rows)

    def _delete_involvements(self, rows: list[tuple[str, str, int]]) -> None:
        involved = case_involvements_table.c
        self.conn.execute(
            delete(case_involvements_table).where(
                involved.kind == bindparam("k"),
                involved.value == bindparam("v"),
                involved.case_id == bindparam("c"),
            ),
            [{"k": kind, "v": value, "c": case_id} for kind, value, case_id in rows],
        )

    def _write_payloads(self, updates: list[tuple[int, int]]) -> None:
        c = cases_table.c
        self.conn.execute(
            update(cases_table)
            .where(c.id == bindparam("case_id"))
            .values(
                {
                    **{name: bindparam(name) for name in (*PAYLOAD, *BOX) if name != "geometry"},
                    "geometry": func.ST_GeomFromWKB(bindparam("wkb"), self.srid),
                    "updated_at": self.moment,
                    "version": c.version + 1,
                }
            ),
            [{"case_id": case_id, **self._payload_values(at)} for case_id, at in updates],
        )

    def _write_statuses(self, rows: list[tuple[int, str, str, int]]) -> None:
        c = cases_table.c
        self.conn.execute(
            update(cases_table)
            .where(c.id == bindparam("case_id"))
            .values(
                status=bindparam("new_status"),
                status_reason=bindparam("new_reason"),
                updated_at=self.moment,
                version=c.version + bindparam("bump"),
            ),
            [
                {"case_id": case_id, "new_status": status, "new_reason": reason, "bump": bump}
                for case_id, status, reason, bump in rows
            ],
        )

    def _reopen_decisions(self, case_ids: list[int]) -> None:
        d = case_decisions_table.c
        self.conn.execute(
            update(case_decisions_table)
            .where(
                d.case_id == any_(bindparam("ids", case_ids, ARRAY(BigInteger))),
                d.state.in_(_OPEN_DECISION_STATES),
            )
            .values(state=DecisionState.REOPENED.value, closed_at=self.moment)
        )

    def _update_rtree(self, created: list[Any], moved: list[Any]) -> None:
        """No R*Tree here: the GiST indexes follow by themselves."""

    def _insert_history(self, rows: list[tuple[int, str, str, str, str]]) -> None:
        _copy_rows(
            self.conn, case_history_table, ("case_id", "at", "by_user", "event", "details"), rows
        )
