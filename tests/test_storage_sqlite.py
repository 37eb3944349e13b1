"""The embedded SQLite store: the shared contract plus what only SQLite has.

Real files in ``tmp_path``, no mocks: migrations, WAL, concurrent engines on
one file, and a writer killed mid-transaction.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, insert, inspect

import zugabe.storage.sql_store as sql_store
import zugabe.storage.sqlite as sqlite_backend
import zugabe.storage.sqlite_area as sqlite_area
import zugabe.storage.sqlite_cases as sqlite_cases
import zugabe.storage.sqlite_layers as sqlite_layers
import zugabe.storage.sqlite_rtree as sqlite_rtree
from zugabe.domain.agreement import DecisionKind, DecisionState
from zugabe.domain.case_history import Event, HistoryEvent
from zugabe.domain.cases import CaseFinding, CaseStatus, pair_key
from zugabe.errors import ConfigError, InvalidInput, StorageError
from zugabe.storage import open_store
from zugabe.storage.contract import (
    CaseQuery,
    InboxQuery,
    LayerFeatureBatch,
    NewProject,
    ProjectQuery,
)
from zugabe.storage.sqlite import SqliteStore
from zugabe.storage.sqlite_engine import BUSY_TIMEOUT_MS, MMAP_BYTES, connect_engine, writing
from zugabe.storage.sqlite_schema import (
    LATEST_VERSION,
    MIGRATIONS,
    MigrationStep,
    metadata,
    migrate,
    projects_rtree_table,
    projects_table,
    read_version,
)

# The shared suite lives in a plain module; have pytest rewrite its asserts
# so failures there show values, as in test modules.
pytest.register_assert_rewrite("storage_contract")
from storage_contract import (  # noqa: E402
    P1,
    P2,
    P3,
    P4,
    SEWER,
    X0,
    Y0,
    CaseStorageContract,
    LayerStorageContract,
    StorageContract,
    all_features,
    at,
    attributes,
    everything,
    feature,
    feature_ids,
    finding,
    layer_version,
    new,
    project,
    square,
    worded,
)
from storage_contract import batch as layer_batch  # noqa: E402
from storage_contract import sync as case_sync  # noqa: E402


def url_for(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "instance" / "zugabe.sqlite"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(url_for(db_path))
    yield store
    store.close()
    assert_spatial_indexes_sound(db_path)


class TestSqliteContract(StorageContract):
    """The shared contract, run against a fresh store file per test."""


def test_another_process_changes_are_seen_in_the_revision(
    store: SqliteStore, db_path: Path
) -> None:
    other = SqliteStore(url_for(db_path))
    try:
        before = other.revision()
        store.add_projects([new(at(5, 5)), new(at(6, 6))])
        assert other.revision() == before + 2
    finally:
        other.close()


class TestSqliteLayersRebuildingTheIndex(LayerStorageContract):
    """The layer contract again, every layer write rebuilding the packed R*Tree
    and every area query (but those around a whole layer) going through it."""

    @pytest.fixture
    def store(self, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqliteStore]:
        monkeypatch.setattr(sqlite_rtree, "RTREE_REBUILD_MIN_CHANGES", 0)
        monkeypatch.setattr(sqlite_rtree, "RTREE_REBUILD_SHARE", 10**9)
        monkeypatch.setattr(sqlite_layers, "LAYER_SCAN_MAX", -1)
        store = SqliteStore(url_for(db_path))
        yield store
        store.close()
        assert_spatial_indexes_sound(db_path)


class TestSqliteCasesPackedAndInSmallChunks(CaseStorageContract):
    """The case contract again, every sync packing the case R*Tree anew and
    looking up cases outside its scope two pair keys at a time."""

    @pytest.fixture
    def store(self, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqliteStore]:
        monkeypatch.setattr(sqlite_rtree, "RTREE_REBUILD_MIN_CHANGES", 0)
        monkeypatch.setattr(sqlite_rtree, "RTREE_REBUILD_SHARE", 10**9)
        monkeypatch.setattr(sqlite_cases, "PAIR_KEYS_PER_QUERY", 2)
        monkeypatch.setattr(sql_store, "CASE_BULK_MIN", 0)
        store = SqliteStore(url_for(db_path))
        yield store
        store.close()
        assert_spatial_indexes_sound(db_path)


class TestSqliteLayersUpdatingTheIndexRowByRow(LayerStorageContract):
    """The layer contract again, the R*Tree never rebuilt and always queried."""

    @pytest.fixture
    def store(self, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqliteStore]:
        monkeypatch.setattr(sqlite_rtree, "RTREE_REBUILD_MIN_CHANGES", 10**12)
        monkeypatch.setattr(sqlite_layers, "LAYER_SCAN_MAX", -1)
        store = SqliteStore(url_for(db_path))
        yield store
        store.close()
        assert_spatial_indexes_sound(db_path)


class _AreaListingsInSmallReads:
    """A contract again, SQLite's area listings reading two candidates at a time."""

    @pytest.fixture
    def store(self, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqliteStore]:
        monkeypatch.setattr(sqlite_area, "CANDIDATES_PER_READ", 2)
        store = SqliteStore(url_for(db_path))
        yield store
        store.close()


class TestSqliteAreaListingsInSmallReads(_AreaListingsInSmallReads, StorageContract):
    """The project contract, area listings reading two candidates at a time."""


class TestSqliteCaseAreaListingsInSmallReads(_AreaListingsInSmallReads, CaseStorageContract):
    """The case contract, area listings reading two candidates at a time."""


@pytest.mark.parametrize("per_read", [3, 5_000])
def test_area_listings_tested_after_the_statement_find_what_meets_the_area(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, per_read: int
) -> None:
    """Stamps, columns and counts of an area (the exact test after the statement, read in
    steps) list exactly the projects that meet it, on every page, with a filter."""
    monkeypatch.setattr(sqlite_area, "CANDIDATES_PER_READ", per_read)
    rng = np.random.default_rng(7)
    shapes: list[BaseGeometry] = []
    for x, y in rng.uniform(0, 400, (120, 2)):
        kind = len(shapes) % 3
        if kind == 0:
            shapes.append(at(x, y))
        elif kind == 1:  # long diagonal lines: their boxes meet the area, many lines do not
            shapes.append(shapely.LineString([at(x, y), at(x + 150, y - 150)]))
        else:
            shapes.append(square(x, y, x + 30, y + 5))
    status = ["idea", "planning"]
    added = store.add_projects(
        [new(shape, status=status[i % 2]) for i, shape in enumerate(shapes)]  # type: ignore[arg-type]
    )
    turned = shapely.affinity.rotate(square(100, 100, 300, 300), 20)  # inner box: not all
    for area in (turned, square(100, 100, 300, 300), square(1000, 1000, 1001, 1001)):
        meets = shapely.intersects(area, shapes)
        boxes_meet = shapely.intersects(area, shapely.envelope(shapes))
        if area is turned:
            assert (boxes_meet & ~meets).sum() > 5  # the exact test decides
        for statuses in ((), ("planning",)):
            wanted = [
                p.id
                for i, (p, hit) in enumerate(zip(added, meets, strict=True))
                if hit and (not statuses or status[i % 2] in statuses)
            ]
            query = ProjectQuery(area=area, statuses=statuses)  # type: ignore[arg-type]
            assert store.count_projects(query) == len(wanted)
            assert list(store.project_columns(query).id) == wanted
            first = store.project_stamps(replace(query, limit=7))
            assert first.matched == len(wanted)
            listed, after = [s.id for s in first.rows], None
            while len(listed) % 7 == 0 and listed:
                after = listed[-1]
                page = store.project_stamps(replace(query, after_id=after, limit=7))
                assert page.matched is None  # a later page does not count
                if not page.rows:
                    break
                listed += [s.id for s in page.rows]
            assert listed == wanted


def raw(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection, to look at the file behind the store's back."""
    return sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)


def count_rows(path: Path, table: str) -> int:
    with raw(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def assert_spatial_indexes_sound(path: Path) -> None:
    """Each R*Tree is well-formed and holds exactly the rows of its table, boxed.

    Cases without an overlap geometry (no box) have no entry.
    """
    with raw(path) as conn:
        for table, rtree, boxed in (
            ("projects", "projects_rtree", "1"),
            ("layer_features", "layer_features_rtree", "1"),
            ("cases", "cases_rtree", "t.min_x IS NOT NULL"),
        ):
            assert conn.execute(f"SELECT rtreecheck('{rtree}')").fetchone() == ("ok",)
            unboxed = conn.execute(
                f"SELECT count(*) FROM {table} t LEFT JOIN {rtree} r ON r.id = t.id "
                f"WHERE {boxed} AND (r.id IS NULL OR r.min_x > t.min_x OR r.max_x < t.max_x "
                "OR r.min_y > t.min_y OR r.max_y < t.max_y)"
            ).fetchone()[0]
            assert unboxed == 0, f"{table} rows without their box in {rtree}"
            expected = conn.execute(f"SELECT count(*) FROM {table} t WHERE {boxed}").fetchone()[0]
            assert count_rows(path, rtree) == expected


# -- opening and migrations ----------------------------------------------


def test_fresh_store_is_migrated_to_the_latest_version(db_path: Path) -> None:
    assert not db_path.parent.exists()
    store = SqliteStore(url_for(db_path))
    try:
        assert db_path.is_file()
        assert store.applied_migrations == tuple(step.version for step in MIGRATIONS)
        assert store.schema_version() == LATEST_VERSION
    finally:
        store.close()
    with raw(db_path) as conn:
        rows = conn.execute(
            "SELECT version, description FROM zugabe_schema_version ORDER BY version"
        ).fetchall()
    assert rows == [(step.version, step.description) for step in MIGRATIONS]


def test_reopening_applies_nothing(db_path: Path) -> None:
    SqliteStore(url_for(db_path)).close()
    with raw(db_path) as conn:
        before = conn.execute("SELECT * FROM zugabe_schema_version").fetchall()
    store = SqliteStore(url_for(db_path))
    try:
        assert store.applied_migrations == ()
        assert store.schema_version() == LATEST_VERSION
    finally:
        store.close()
    with raw(db_path) as conn:
        assert conn.execute("SELECT * FROM zugabe_schema_version").fetchall() == before


def test_reopening_needs_no_write_lock(db_path: Path) -> None:
    """A server restarting while a long import holds the write lock can still open."""
    SqliteStore(url_for(db_path)).close()
    importer = raw(db_path)
    try:
        importer.isolation_level = None
        importer.execute("BEGIN IMMEDIATE")
        importer.execute("INSERT INTO zugabe_schema_version VALUES (100, 'pending', 'x')")
        started = time.monotonic()
        store = SqliteStore(url_for(db_path))
        try:
            assert time.monotonic() - started < BUSY_TIMEOUT_MS / 1000 / 2
            assert store.applied_migrations == ()
            assert store.count_projects(ProjectQuery()) == 0
        finally:
            store.close()
    finally:
        importer.execute("ROLLBACK")
        importer.close()


def test_store_from_a_newer_zugabe_is_refused(db_path: Path) -> None:
    SqliteStore(url_for(db_path)).close()
    newer = LATEST_VERSION + 1
    with raw(db_path) as conn:
        conn.execute(
            "INSERT INTO zugabe_schema_version (version, description, applied_at) "
            "VALUES (?, 'from the future', '2030-01-01T00:00:00+00:00')",
            (newer,),
        )
    with pytest.raises(StorageError) as refused:
        SqliteStore(url_for(db_path))
    message = str(refused.value)
    assert f"schema version {newer}" in message
    assert f"up to {LATEST_VERSION}" in message
    assert "newer" in message
    with raw(db_path) as conn:
        assert conn.execute("SELECT max(version) FROM zugabe_schema_version").fetchone() == (newer,)


def test_failed_migration_step_rolls_back_alone(db_path: Path) -> None:
    SqliteStore(url_for(db_path)).close()
    engine = connect_engine(url_for(db_path))
    writer = writing(engine)

    def half_done(conn: Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("step broke")

    try:
        broken = (*MIGRATIONS, MigrationStep(LATEST_VERSION + 1, "broken", half_done))
        with pytest.raises(RuntimeError, match="step broke"):
            migrate(engine, writer, broken)
        with engine.connect() as conn:
            assert read_version(conn) == LATEST_VERSION
        # DDL is transactional: the table of the failed step is gone too.
        assert "half_done" not in inspect(engine).get_table_names()

        def fixed(conn: Connection) -> None:
            conn.exec_driver_sql("CREATE TABLE half_done (x INTEGER)")

        good = (*MIGRATIONS, MigrationStep(LATEST_VERSION + 1, "fixed", fixed))
        assert migrate(engine, writer, good) == [LATEST_VERSION + 1]
        assert migrate(engine, writer, good) == []
        assert "half_done" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_migration_steps_must_be_numbered_in_order(db_path: Path) -> None:
    engine = connect_engine(url_for(db_path))
    try:
        skipping = (MIGRATIONS[0], MigrationStep(3, "skips 2", lambda conn: None))
        with pytest.raises(ValueError, match="numbered"):
            migrate(engine, writing(engine), skipping)
    finally:
        engine.dispose()


def test_core_tables_match_the_migrated_schema(store: SqliteStore, db_path: Path) -> None:
    engine = connect_engine(url_for(db_path))
    try:
        inspector = inspect(engine)
        accounts = {"accounts", "api_tokens", "sessions", "audit_log", "audit_head"}  # step 7
        assert accounts <= set(inspector.get_table_names()) & set(metadata.tables)
        for table in metadata.sorted_tables:
            actual = {column["name"] for column in inspector.get_columns(table.name)}
            assert actual == set(table.columns.keys()), table.name
        indexed = {tuple(index["column_names"]) for index in inspector.get_indexes("projects")}
        assert {("organisation",), ("department",), ("status",)} <= indexed
    finally:
        engine.dispose()
    with raw(db_path) as conn:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'projects'").fetchone()[0]
        assert "AUTOINCREMENT" in sql
        sql = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'projects_rtree'"
        ).fetchone()[0]
        assert "USING rtree" in sql
        sql = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'layer_features'"
        ).fetchone()[0]
        assert "AUTOINCREMENT" in sql
        sql = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'layer_features_rtree'"
        ).fetchone()[0]
        assert "USING rtree" in sql
        indexes = conn.execute("PRAGMA index_list('layer_features')").fetchall()
        assert "ix_layer_features_layer_key" in {row[1] for row in indexes}
        for name, unique in (("accounts", "username"), ("api_tokens", "token_hash")):
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
            assert f"{unique} TEXT NOT NULL UNIQUE" in sql[0], name
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'audit_head'").fetchone()
        assert "CHECK (id = 1)" in sql[0]  # one head row: the last entry's number and hash
        primary_key = conn.execute("PRAGMA table_info('layer_versions')").fetchall()
        assert [row[1] for row in sorted(primary_key, key=lambda r: r[5]) if row[5]] == [
            "key",
            "version",
        ]


def test_case_tables_have_their_keys_and_indexes(store: SqliteStore, db_path: Path) -> None:
    with raw(db_path) as conn:

        def sql_of(name: str) -> str:
            return conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[
                0
            ]

        def indexed(table: str) -> dict[tuple[str, ...], bool]:
            """Indexed column tuples of a table, and whether each index is unique."""
            found = {}
            for _, name, unique, *_ in conn.execute(f"PRAGMA index_list('{table}')"):
                columns = conn.execute(f"PRAGMA index_info('{name}')").fetchall()
                found[tuple(column[2] for column in columns)] = bool(unique)
            return found

        assert "AUTOINCREMENT" in sql_of("cases")
        assert "AUTOINCREMENT" in sql_of("case_comments")
        assert "USING rtree" in sql_of("cases_rtree")
        assert "WITHOUT ROWID" in sql_of("case_involvements")
        cases = indexed("cases")
        assert cases[("pair_key",)] is True
        for column in ("subject_a_key", "subject_b_key", "status", "rule_id"):
            assert cases[(column,)] is False
        # The primary key of the involvements serves "kind = ? AND value IN (…)".
        assert indexed("case_involvements")[("kind", "value", "case_id")] is True
        assert ("case_id",) in indexed("case_comments")
        assert ("case_id",) in indexed("case_history")
        plan = " ".join(
            row[3]
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT case_id FROM case_involvements "
                "WHERE kind = 'organisation' AND value IN ('a', 'b')"
            )
        )
        assert "SEARCH" in plan


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("Dies ist keine Datenbank. " * 200)
    with pytest.raises(StorageError, match="file is not a database"):
        SqliteStore(url_for(path))


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "postgresql://x/y", "nonsense"])
def test_urls_without_a_file_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        SqliteStore(url)


# -- open_store ------------------------------------------------------------


def test_open_store_picks_sqlite(db_path: Path) -> None:
    store = open_store(url_for(db_path))
    try:
        assert isinstance(store, SqliteStore)
        assert store.schema_version() == LATEST_VERSION
    finally:
        store.close()


def test_open_store_names_an_unsupported_scheme_without_the_password() -> None:
    with pytest.raises(ConfigError) as refused:
        open_store("mysql+pymysql://zugabe:geheim@db.example/zugabe")
    message = str(refused.value)
    assert "mysql+pymysql" in message
    assert "geheim" not in message


def test_open_store_rejects_a_malformed_url() -> None:
    with pytest.raises(ConfigError, match="invalid storage URL"):
        open_store("not a url")


# -- durability and connection setup ---------------------------------------


def test_data_survives_close_and_reopen(db_path: Path) -> None:
    store = SqliteStore(url_for(db_path))
    added = store.add_projects([new(title=f"bleibt {i}") for i in range(3)])
    updated = store.update_project(added[0].id, attributes(title="geändert"), at(7, 7), "bob", 1)
    store.delete_project(added[1].id, "bob", 1)
    store.close()

    reopened = SqliteStore(url_for(db_path))
    try:
        assert reopened.applied_migrations == ()
        assert reopened.list_projects(ProjectQuery()) == [
            updated,
            reopened.get_project(added[2].id),
        ]
        assert reopened.get_project(added[0].id) == updated
        assert reopened.get_project(added[1].id) is None
        [found] = reopened.list_projects(ProjectQuery(area=at(7, 7).buffer(1)))
        assert found.id == added[0].id
    finally:
        reopened.close()


def test_connections_use_wal_and_durable_settings(store: SqliteStore, db_path: Path) -> None:
    with raw(db_path) as conn:
        # WAL is a property of the file, so any connection sees it.
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    engine = connect_engine(url_for(db_path))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
            assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == MMAP_BYTES
    finally:
        engine.dispose()


def test_empty_geometry_is_refused(store: SqliteStore) -> None:
    with pytest.raises(InvalidInput, match="non-empty geometry"):
        store.add_projects([new(Polygon())])
    assert store.count_projects(ProjectQuery()) == 0


def test_a_closed_store_refuses_work(db_path: Path) -> None:
    store = SqliteStore(url_for(db_path))
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.list_projects(ProjectQuery())


def test_spatial_index_stays_in_step_with_the_table(store: SqliteStore, db_path: Path) -> None:
    added = store.add_projects([new(at(i * 10, 0).buffer(2)) for i in range(5)])
    store.update_project(added[0].id, attributes(), at(500, 500).buffer(3), "bob", 1)
    store.delete_project(added[1].id, "bob", 1)
    with raw(db_path) as conn:
        table = conn.execute(
            "SELECT id, min_x, max_x, min_y, max_y FROM projects ORDER BY id"
        ).fetchall()
        index = conn.execute(
            "SELECT id, min_x, max_x, min_y, max_y FROM projects_rtree ORDER BY id"
        ).fetchall()
    assert [row[0] for row in index] == [row[0] for row in table]
    for (_, *bounds), (_, *boxed) in zip(table, index, strict=True):
        # The R*Tree stores 32-bit floats, rounded outwards.
        min_x, max_x, min_y, max_y = bounds
        assert boxed[0] <= min_x and boxed[1] >= max_x
        assert boxed[2] <= min_y and boxed[3] >= max_y
        assert max(abs(a - b) for a, b in zip(bounds, boxed, strict=True)) < 1.0


# -- concurrency -------------------------------------------------------------


def test_one_store_reads_while_another_writes(db_path: Path) -> None:
    writer = SqliteStore(url_for(db_path))
    reader = SqliteStore(url_for(db_path))
    try:
        writer.add_projects([new(title="vorher")])
        seen_during_write: list[int] = []

        def projects() -> Iterator[NewProject]:
            for i in range(3):
                yield new(title=f"neu {i}")
            # The write transaction is open and holds the write lock here;
            # with WAL the other engine still reads the last committed state.
            seen_during_write.append(reader.count_projects(ProjectQuery()))
            seen_during_write.append(len(reader.list_projects(ProjectQuery(text="neu"))))
            yield new(title="neu 3")

        writer.add_projects(projects())
        assert seen_during_write == [1, 0]
        assert reader.count_projects(ProjectQuery()) == 5
    finally:
        writer.close()
        reader.close()


def test_readers_see_only_whole_batches_while_writers_work(db_path: Path) -> None:
    """Two writer engines and a reader engine on one file, all at once."""
    batch, batches = 5, 20
    stores = [SqliteStore(url_for(db_path)) for _ in range(3)]
    errors: list[BaseException] = []
    counts: list[int] = []
    done = threading.Event()

    def write(store: SqliteStore, name: str) -> None:
        try:
            for n in range(batches):
                store.add_projects([new(title=f"{name} {n}.{i}") for i in range(batch)])
        except BaseException as exc:
            errors.append(exc)

    def read(store: SqliteStore) -> None:
        try:
            while not done.is_set():
                counts.append(store.count_projects(ProjectQuery()))
        except BaseException as exc:
            errors.append(exc)

    writers = [
        threading.Thread(target=write, args=(stores[0], "a")),
        threading.Thread(target=write, args=(stores[1], "b")),
    ]
    reader = threading.Thread(target=read, args=(stores[2],))
    try:
        reader.start()
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join(timeout=120)
        done.set()
        reader.join(timeout=30)
        assert errors == []
        assert counts, "the reader never got to read"
        assert all(count % batch == 0 for count in counts)
        assert counts == sorted(counts)
        assert stores[2].count_projects(ProjectQuery()) == 2 * batches * batch
    finally:
        done.set()
        for store in stores:
            store.close()


# -- a writer killed halfway -------------------------------------------------

CRASHING_WRITER = """
import sys
import time

from shapely.geometry import Point

from zugabe.domain.project import ProjectAttributes
from zugabe.storage.contract import NewProject
from zugabe.storage.sqlite import SqliteStore

store = SqliteStore(sys.argv[1])


def projects():
    for i in range(100_000):
        yield NewProject(
            ProjectAttributes(
                title=f"halb {i}",
                organisation="o",
                department="d",
                measure_type="m",
                description="x" * 4000,
            ),
            Point(370_000 + i, 5_710_000).buffer(5),
            "writer",
        )
        if i == 1_000:
            print("MIDWAY", flush=True)
            time.sleep(120)


store.add_projects(projects())
print("FINISHED", flush=True)
"""


def kill_writer_midway(script: str, url: str, db_path: Path) -> None:
    """Run ``script`` as a writer process and SIGKILL it once it prints MIDWAY.

    By then its open transaction has spilled more than 1 MB into the WAL
    file, so the kill really lands in the middle of a write.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(120, child.kill)
    watchdog.start()
    try:
        line = child.stdout.readline() if child.stdout else ""
        assert line.strip() == "MIDWAY", child.stderr.read() if child.stderr else ""
        wal = db_path.with_name(db_path.name + "-wal")
        assert wal.exists() and wal.stat().st_size > 1_000_000
        child.kill()  # SIGKILL: no cleanup, no rollback, no atexit
        child.wait(timeout=30)
    finally:
        watchdog.cancel()
        child.kill()
        child.wait(timeout=30)
        for stream in (child.stdout, child.stderr):
            if stream:
                stream.close()
    assert child.returncode != 0


def test_killed_writer_leaves_a_consistent_store(db_path: Path) -> None:
    url = url_for(db_path)
    store = SqliteStore(url)
    store.add_projects([new(at(i, i), title=f"vorher {i}") for i in range(5)])
    store.close()

    kill_writer_midway(CRASHING_WRITER, url, db_path)

    with raw(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert count_rows(db_path, "projects") == 5
    assert count_rows(db_path, "projects_rtree") == 5

    reopened = SqliteStore(url)
    try:
        assert reopened.count_projects(ProjectQuery()) == 5
        assert reopened.count_projects(ProjectQuery(text="halb")) == 0
        [added] = reopened.add_projects([new(at(50, 50), title="danach")])
        loaded = reopened.get_project(added.id)
        assert loaded is not None and loaded.attributes.title == "danach"
        assert reopened.count_projects(ProjectQuery()) == 6
        assert ids_in_area(reopened) == [added.id]
    finally:
        reopened.close()
    assert count_rows(db_path, "projects_rtree") == 6


def ids_in_area(store: SqliteStore) -> list[int]:
    return [p.id for p in store.list_projects(ProjectQuery(area=at(50, 50).buffer(1)))]


def test_simultaneous_first_opens_migrate_exactly_once(db_path: Path) -> None:
    """Workers of one server starting together on a new file must not clash."""
    openers = 6
    barrier = threading.Barrier(openers)
    opened: list[SqliteStore] = []
    errors: list[BaseException] = []

    def open_it() -> None:
        barrier.wait()
        try:
            opened.append(SqliteStore(url_for(db_path)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        applied = sorted(v for store in opened for v in store.applied_migrations)
        assert applied == [step.version for step in MIGRATIONS]
        assert all(store.schema_version() == LATEST_VERSION for store in opened)
    finally:
        for store in opened:
            store.close()


# -- thematic layers -----------------------------------------------------------


def test_migration_from_a_version_2_store_keeps_the_projects(db_path: Path) -> None:
    url = url_for(db_path)
    db_path.parent.mkdir(parents=True)
    engine = connect_engine(url)
    geometry = square(0, 0, 20, 10)
    try:
        assert migrate(engine, writing(engine), MIGRATIONS[:2]) == [1, 2]
        with writing(engine).begin() as conn:
            project_id = conn.execute(
                insert(projects_table).values(
                    title="Kanal alt",
                    title_folded="kanal alt",
                    description="",
                    organisation="stadt-herne",
                    department="entwaesserung",
                    measure_type="kanalsanierung",
                    status="planning",
                    contact="",
                    geometry=shapely.to_wkb(geometry),
                    min_x=X0,
                    min_y=Y0,
                    max_x=X0 + 20,
                    max_y=Y0 + 10,
                    created_at=datetime(2025, 5, 1, tzinfo=UTC),
                    created_by="alice",
                    updated_at=datetime(2025, 5, 1, tzinfo=UTC),
                    updated_by="alice",
                    version=1,
                )
            ).inserted_primary_key[0]
            conn.execute(
                insert(projects_rtree_table).values(
                    id=project_id, min_x=X0, max_x=X0 + 20, min_y=Y0, max_y=Y0 + 10
                )
            )
    finally:
        engine.dispose()

    store = SqliteStore(url)
    try:
        assert store.applied_migrations == tuple(range(3, LATEST_VERSION + 1))
        assert store.schema_version() == LATEST_VERSION
        project = store.get_project(project_id)
        assert project is not None
        assert project.attributes.title == "Kanal alt"
        assert project.geometry.equals_exact(geometry, 0.0)
        found = store.list_projects(ProjectQuery(area=square(5, 5, 6, 6)))
        assert [p.id for p in found] == [project_id]
        assert store.list_layers() == []
        store.replace_layer(layer_version(), [layer_batch([at(5, 5)])])
        assert store.count_layer_features("sewer_sections", area=square(0, 0, 10, 10)) == 1
        [added] = store.add_projects([new(at(1, 1))])
        assert added.id > project_id
    finally:
        store.close()
    assert_spatial_indexes_sound(db_path)


class _Before:
    """A row of a store before a column was added, as the code of today reads it: the
    column's default in place of the missing value."""

    def __init__(self, row: Any, column: str, default: Any) -> None:
        self._row, self._column, self._default = row, column, default

    def __getattr__(self, name: str) -> Any:
        return self._default if name == self._column else getattr(self._row, name)


def test_migration_from_a_version_3_store_keeps_projects_and_layers(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = url_for(db_path)
    # The store of the release before cases: this code, its migrations cut at 3.
    monkeypatch.setattr(
        sqlite_backend,
        "migrate",
        lambda reader, writer, where="": migrate(reader, writer, MIGRATIONS[:3], where),
    )
    # ... which knew no external ids of projects (step 9): it wrote and read no such column.
    # (Patched where the shared ``SqlStore`` looks them up.)
    row_values, project_of = sql_store._row_values, sql_store._project
    monkeypatch.setattr(
        sql_store,
        "_row_values",
        lambda *args: {k: v for k, v in row_values(*args).items() if k != "external_id"},
    )
    monkeypatch.setattr(
        sql_store, "_project", lambda row: project_of(_Before(row, "external_id", ""))
    )
    # Nor did layers record their responsible organisation (step 12).
    layer_values, layer_info = sql_store._layer_values, sql_store._layer_info
    monkeypatch.setattr(
        sql_store,
        "_layer_values",
        lambda *args: {
            k: v for k, v in layer_values(*args).items() if k != "responsible_organisation"
        },
    )
    monkeypatch.setattr(
        sql_store,
        "_layer_info",
        lambda row: layer_info(_Before(row, "responsible_organisation", None)),
    )
    old = SqliteStore(url)
    try:
        assert old.schema_version() == 3
        [kept] = old.add_projects([new(square(0, 0, 20, 10), title="Kanal alt")])
        layer = old.replace_layer(layer_version(), [layer_batch([at(5, 5), at(500, 500)])])
        features = all_features(old, "sewer_sections")
    finally:
        old.close()
    with raw(db_path) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "cases" not in names
    monkeypatch.undo()

    store = SqliteStore(url)
    try:
        assert store.applied_migrations == tuple(range(4, LATEST_VERSION + 1))
        assert store.schema_version() == LATEST_VERSION
        assert store.get_project(kept.id) == kept
        assert store.list_projects(ProjectQuery(area=square(5, 5, 6, 6))) == [kept]
        assert store.get_layer("sewer_sections") == layer
        assert all_features(store, "sewer_sections") == features
        assert store.count_layer_features("sewer_sections", area=square(0, 0, 10, 10)) == 1
        assert store.list_cases(CaseQuery()) == []
        [case_id] = case_sync(store, [finding(project(kept.id), SEWER)]).created
        assert store.list_cases(CaseQuery(area=square(0, 0, 1, 1)))[0].id == case_id
        [added] = store.add_projects([new(at(1, 1))])
        assert added.id > kept.id
    finally:
        store.close()
    assert_spatial_indexes_sound(db_path)


@dataclass(frozen=True)
class OldCase:
    """A case as a store of before step 11 held it: status and reason as text, history
    as sentences ``(by, at, what)``."""

    finding: CaseFinding
    status: str = "open"
    reason: str = ""
    history: tuple[tuple[str, datetime, str], ...] = ()
    pair_key: str | None = None  # as stored, when not today's format


def store_of_version(db_path: Path, version: int) -> None:
    """An empty store as the release of schema ``version`` made it."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    engine = connect_engine(url_for(db_path))
    try:
        assert migrate(engine, writing(engine), MIGRATIONS[:version]) == list(range(1, version + 1))
    finally:
        engine.dispose()


def write_old_cases(db_path: Path, scratch: Path, cases: list[OldCase]) -> list[int]:
    """Write cases into an older store (its tables of before step 11) as that release did.

    Today's store computes the rows (geometry, measures and boxes encoded exactly as a
    sync encodes them, so the same finding is unchanged afterwards); the columns the old
    ``cases`` table has are copied, with the old status, reason and history sentences.
    """
    today = SqliteStore(url_for(scratch))
    try:
        ids = list(case_sync(today, [c.finding for c in cases]).created)
    finally:
        today.close()
    with raw(scratch) as source, raw(db_path) as target:
        columns = [row[1] for row in target.execute("PRAGMA table_info(cases)")]
        assert "assignee" not in columns
        listed = ", ".join(columns)
        marks = ", ".join("?" * len(columns))
        for case_id, old in zip(ids, cases, strict=True):
            row = dict(
                zip(
                    columns,
                    source.execute(
                        f"SELECT {listed} FROM cases WHERE id = ?", (case_id,)
                    ).fetchone(),
                    strict=True,
                )
            )
            row.update(status=old.status, status_reason=old.reason)
            row["pair_key"] = old.pair_key or row["pair_key"]
            target.execute(f"INSERT INTO cases ({listed}) VALUES ({marks})", list(row.values()))
            for table in ("case_involvements", "cases_rtree"):
                key = "case_id" if table == "case_involvements" else "id"
                rows = source.execute(f"SELECT * FROM {table} WHERE {key} = ?", (case_id,))
                for values in rows.fetchall():
                    places = ", ".join("?" * len(values))
                    target.execute(f"INSERT INTO {table} VALUES ({places})", values)
            target.executemany(
                "INSERT INTO case_history (case_id, at, by_user, what) VALUES (?, ?, ?, ?)",
                [
                    (case_id, at.isoformat(timespec="microseconds"), by, what)
                    for by, at, what in old.history
                    or (("engine", datetime(2025, 5, 1, tzinfo=UTC), "created"),)
                ],
            )
    return ids


def test_migration_from_a_version_4_store_keeps_cases_and_counts_changes(db_path: Path) -> None:
    store_of_version(db_path, 4)
    # As the release before wrote them: the layer feature first in the pair key.
    findings = [
        finding(project(12), SEWER, rule="r", pair_key="r|project/12|layer/sewer_sections/H-1"),
        finding(project(10), project(9), rule="s", pair_key="s|project/9|project/10"),
    ]
    created = write_old_cases(
        db_path,
        db_path.parent / "scratch.sqlite",
        [
            OldCase(
                replace(f, pair_key=pair_key(f.rule_id, f.subject_a, f.subject_b)),
                pair_key=f.pair_key,
            )
            for f in findings
        ],
    )

    store = SqliteStore(url_for(db_path))
    try:
        assert store.applied_migrations == tuple(range(5, LATEST_VERSION + 1))
        assert store.revision() == 0
        store.add_projects([new(at(1, 1))])
        assert store.revision() == 1
        # The same findings in today's key format are the same cases, not new ones.
        today = [
            replace(f, pair_key=pair_key(f.rule_id, f.subject_a, f.subject_b)) for f in findings
        ]
        result = case_sync(store, today)
        assert result.created == () and sorted(result.unchanged) == sorted(created)
        for case_id in created:
            case = store.get_case(case_id)
            assert case is not None
            assert (case.status, case.status_reason, case.decisions) == (CaseStatus.OPEN, {}, ())
            assert [(h.by, h.event) for h in case.history] == [
                ("engine", HistoryEvent(Event.CREATED))
            ]
        assert store.count_cases(CaseQuery(area=square(0, 0, 1, 1))) == 2
    finally:
        store.close()
    assert_spatial_indexes_sound(db_path)


def moment(day: int, hour: int = 9) -> datetime:
    return datetime(2025, 5, day, hour, tzinfo=UTC)


def test_migration_from_a_version_10_store_brings_cases_to_the_desk(db_path: Path) -> None:
    store_of_version(db_path, 10)
    created = ("engine", moment(1), "created")
    resolved, dismissed, obsolete, waiting, untouched = write_old_cases(
        db_path,
        db_path.parent / "scratch.sqlite",
        [
            OldCase(
                finding(P1, P2),
                "resolved",
                history=(created, ("anna", moment(2), "status open → resolved")),
            ),
            OldCase(
                finding(P1, P3),
                "dismissed",
                "Doppelt erfasst",
                history=(
                    created,
                    ("anna", moment(2), "status open → in_coordination"),
                    ("bert", moment(3), "status in_coordination → dismissed: Doppelt erfasst"),
                    ("bert", moment(4), "comment"),
                ),
            ),
            OldCase(
                finding(P1, P4, severity="high"),
                "obsolete",
                "project 3 was deleted",
                history=(
                    created,
                    ("batch", moment(2), "obsolete: the rule no longer applies to this pair"),
                    ("batch", moment(3), "reopened: the rule applies again"),
                    ("batch", moment(3), "updated: severity low → high"),
                    ("carl", moment(4), "obsolete: project 3 was deleted"),
                ),
            ),
            OldCase(
                finding(P2, P3),
                "in_coordination",
                "Termin am 3.",
                history=(
                    created,
                    ("anna", moment(2), "status open → in_coordination: Termin am 3."),
                ),
            ),
            OldCase(finding(P3, P4)),
        ],
    )

    store = SqliteStore(url_for(db_path))
    try:
        assert store.applied_migrations == tuple(range(11, LATEST_VERSION + 1))

        # Closed by one click before agreements existed: agreed, with a decision that says so.
        case = store.get_case(resolved)
        assert case is not None
        assert (case.status, case.status_reason) == (CaseStatus.AGREED, {})
        [decision] = case.decisions
        assert case.decision == decision
        assert (decision.kind, decision.text, decision.measures, decision.votes) == (
            DecisionKind.OTHER,
            "resolved",
            (),
            (),
        )
        assert (decision.state, decision.proposed_by) == (DecisionState.AGREED, "anna")
        assert decision.proposed_at == decision.closed_at == moment(2)
        assert [(h.by, h.at, h.event) for h in case.history] == [
            ("engine", moment(1), HistoryEvent(Event.CREATED)),
            (
                "anna",
                moment(2),
                HistoryEvent(
                    Event.STATUS_CHANGED, {"from": "open", "to": "resolved", "reason": ""}
                ),
            ),
        ]
        assert worded(case) == ["case detected", "status open → resolved"]

        case = store.get_case(dismissed)
        assert case is not None
        assert (case.status, case.status_reason) == (CaseStatus.AGREED, {})
        [decision] = case.decisions
        assert (decision.kind, decision.text, decision.state, decision.votes) == (
            DecisionKind.NO_ACTION,
            "Doppelt erfasst",
            DecisionState.AGREED,
            (),
        )
        # Dismissed by the last status change, not the first.
        assert (decision.proposed_by, decision.proposed_at) == ("bert", moment(3))
        assert [(h.by, h.event.kind) for h in case.history] == [
            ("engine", Event.CREATED),
            ("anna", Event.STATUS_CHANGED),
            ("bert", Event.STATUS_CHANGED),
            ("bert", Event.COMMENTED),
        ]
        assert dict(case.history[2].event.details) == {
            "from": "in_coordination",
            "to": "dismissed",
            "reason": "Doppelt erfasst",
        }
        assert worded(case, "de")[1:] == [
            "Status open → in_coordination",
            "Status in_coordination → dismissed: Doppelt erfasst",
            "Kommentar geschrieben",
        ]

        case = store.get_case(obsolete)
        assert case is not None
        assert (case.status, case.status_reason, case.decisions) == (
            CaseStatus.OBSOLETE,
            {"code": "project_deleted", "project": 3},
            (),
        )
        assert [h.event for h in case.history] == [
            HistoryEvent(Event.CREATED),
            HistoryEvent(Event.OBSOLETED, {"reason": {"code": "rule_no_longer_applies"}}),
            HistoryEvent(Event.REOPENED),
            HistoryEvent(Event.LEGACY, {"text": "updated: severity low → high"}),
            HistoryEvent(Event.OBSOLETED, {"reason": {"code": "project_deleted", "project": 3}}),
        ]
        assert worded(case)[1:] == [
            "obsolete: the rule no longer applies to this pair",
            "reopened: the rule applies again",
            "updated: severity low → high",
            "obsolete: project 3 was deleted",
        ]
        assert worded(case, "de")[3:] == [
            "updated: severity low → high",
            "gegenstandslos: Maßnahme 3 wurde gelöscht",
        ]

        # Only obsolete cases keep a reason.
        case = store.get_case(waiting)
        assert case is not None
        assert (case.status, case.status_reason, case.decisions) == (
            CaseStatus.IN_COORDINATION,
            {},
            (),
        )
        assert dict(case.history[-1].event.details) == {
            "from": "open",
            "to": "in_coordination",
            "reason": "Termin am 3.",
        }
        case = store.get_case(untouched)
        assert case is not None
        assert (case.status, case.status_reason, case.assignee, case.due_date) == (
            CaseStatus.OPEN,
            {},
            None,
            None,
        )

        # The desk works on what was migrated: an agreed case is reopened by a change ...
        result = case_sync(store, [finding(P1, P2, severity="high")], scope="project:0")
        assert result.updated == (resolved,)
        case = store.get_case(resolved)
        assert case is not None
        assert case.status is CaseStatus.OPEN
        assert [d.state for d in case.decisions] == [DecisionState.REOPENED]
        # ... and the inbox lists the live ones.
        page = store.inbox(InboxQuery("anna", "stadt-bottrop"))
        assert sorted(c.id for c, _ in page.cases) == sorted(
            (resolved, dismissed, waiting, untouched)
        )
    finally:
        store.close()
    assert_spatial_indexes_sound(db_path)


def test_a_migrated_status_change_still_says_why(db_path: Path) -> None:
    store_of_version(db_path, 10)
    [case_id] = write_old_cases(
        db_path,
        db_path.parent / "scratch.sqlite",
        [
            OldCase(
                finding(),
                "in_coordination",
                "Termin am 3.",
                history=(
                    ("engine", moment(1), "created"),
                    ("anna", moment(2), "status open → in_coordination: Termin am 3."),
                ),
            )
        ],
    )
    store = SqliteStore(url_for(db_path))
    try:
        case = store.get_case(case_id)
        assert case is not None
        # Before step 11 the history said "status open → in_coordination: Termin am 3.";
        # the case's reason is gone (only obsolete cases keep one), so this is the only
        # place left where a reader could see it.
        assert "Termin am 3." in worded(case)[-1]
    finally:
        store.close()


def versions_of(path: Path, key: str) -> list[tuple[object, ...]]:
    with raw(path) as conn:
        return conn.execute(
            "SELECT version, feature_count, source, imported_by, report FROM layer_versions "
            "WHERE key = ? ORDER BY version",
            (key,),
        ).fetchall()


def test_every_version_is_kept_in_the_history(store: SqliteStore, db_path: Path) -> None:
    store.replace_layer(
        layer_version(source="a.gpkg", user="anna", report={"accepted": 1, "Prüfung": "ok"}),
        [layer_batch([at(1, 1)])],
    )
    store.replace_layer(
        layer_version(source="b.gpkg", user="bert", report={"accepted": 2}),
        [layer_batch([at(1, 1), at(2, 2)])],
    )

    def failing() -> Iterator[LayerFeatureBatch]:
        yield layer_batch([at(3, 3)])
        raise RuntimeError("abgebrochen")

    with pytest.raises(RuntimeError):
        store.replace_layer(layer_version(source="c.gpkg"), failing())
    store.replace_layer(layer_version("trees", report={}), [layer_batch([at(1, 1)])])

    assert versions_of(db_path, "sewer_sections") == [
        (1, 1, "a.gpkg", "anna", '{"accepted": 1, "Prüfung": "ok"}'),
        (2, 2, "b.gpkg", "bert", '{"accepted": 2}'),
    ]
    with raw(db_path) as conn:
        current = conn.execute(
            "SELECT l.version, l.imported_at, l.min_x FROM layers l WHERE key = 'sewer_sections'"
        ).fetchone()
        last = conn.execute(
            "SELECT version, imported_at, min_x FROM layer_versions "
            "WHERE key = 'sewer_sections' AND version = 2"
        ).fetchone()
    assert current == last

    store.delete_layer("sewer_sections", "anna")
    assert versions_of(db_path, "sewer_sections") == []
    assert [row[0] for row in versions_of(db_path, "trees")] == [1]
    # With its history gone, a new layer of that key starts again at 1.
    assert store.replace_layer(layer_version(), [layer_batch([at(1, 1)])]).version == 1


def test_feature_ids_are_never_reused(store: SqliteStore) -> None:
    store.replace_layer(layer_version(), [layer_batch([at(i, 0) for i in range(5)])])
    first = feature_ids(all_features(store, "sewer_sections"))
    store.delete_layer("sewer_sections", "anna")
    store.replace_layer(layer_version("trees"), [layer_batch([at(1, 1)])])
    [tree] = all_features(store, "trees")
    assert tree.id > max(first)
    reopened = SqliteStore(url_for(store.path))
    try:
        reopened.replace_layer(layer_version("trees"), [layer_batch([at(1, 1)])])
        [again] = all_features(reopened, "trees")
        assert again.id > tree.id
    finally:
        reopened.close()


def test_readers_see_the_previous_version_during_an_import(db_path: Path) -> None:
    writer = SqliteStore(url_for(db_path))
    reader = SqliteStore(url_for(db_path))
    try:
        writer.replace_layer(layer_version(source="alt.gpkg"), [layer_batch([at(1, 1)])])
        old = all_features(reader, "sewer_sections")
        seen: list[object] = []

        def batches() -> Iterator[LayerFeatureBatch]:
            yield layer_batch([at(50 + i, 50) for i in range(30)], first_row=1)
            info = reader.get_layer("sewer_sections")
            seen.append((info.version, info.source) if info else None)
            seen.append(all_features(reader, "sewer_sections") == old)
            seen.append(reader.count_layer_features("sewer_sections", area=square(0, 0, 100, 100)))
            yield layer_batch([at(60, 60)], first_row=31)

        writer.replace_layer(layer_version(source="neu.gpkg"), batches())
        assert seen == [(1, "alt.gpkg"), True, 1]
        info = reader.get_layer("sewer_sections")
        assert info is not None and (info.version, info.feature_count) == (2, 31)
    finally:
        writer.close()
        reader.close()


@pytest.mark.parametrize(
    "geometry",
    [Polygon(), None, Point(float("nan"), 5.0)],
    ids=["empty", "missing", "nan"],
)
def test_features_without_usable_geometry_are_refused(
    store: SqliteStore, geometry: BaseGeometry | None
) -> None:
    kept = store.replace_layer(layer_version(), [layer_batch([at(1, 1)])])
    broken = LayerFeatureBatch(
        geometries=[at(2, 2), geometry],  # type: ignore[list-item]
        attributes=[{}, {}],
        source_rows=[40, 41],
    )
    with pytest.raises(InvalidInput, match="source row 41 has no usable geometry"):
        store.replace_layer(layer_version(), [layer_batch([at(3, 3)]), broken])
    assert store.get_layer("sewer_sections") == kept
    assert len(all_features(store, "sewer_sections")) == 1


def test_attributes_must_be_json_values(store: SqliteStore) -> None:
    kept = store.replace_layer(layer_version(), [layer_batch([at(1, 1)])])
    dated = layer_batch([at(1, 1), at(2, 2)], [{"year": 2020}, {"built": date(1965, 1, 1)}], 7)
    with pytest.raises(TypeError, match=r"attributes of source row 8 .*ISO strings"):
        store.replace_layer(layer_version(), [dated])
    not_a_number = layer_batch([at(1, 1)], [{"depth": float("nan")}], 3)
    with pytest.raises(ValueError, match=r"attributes of source row 3 .*not NaN"):
        store.replace_layer(layer_version(), [not_a_number])
    with pytest.raises(TypeError, match="import report of layer 'sewer_sections'"):
        store.replace_layer(layer_version(report={"at": datetime.now(UTC)}), [])
    assert store.get_layer("sewer_sections") == kept


def test_batch_columns_must_have_one_length(store: SqliteStore) -> None:
    uneven = LayerFeatureBatch(geometries=[at(1, 1), at(2, 2)], attributes=[{}], source_rows=[1, 2])
    with pytest.raises(ValueError, match="as many attributes"):
        store.replace_layer(layer_version(), [uneven])
    assert store.get_layer("sewer_sections") is None


def random_lines(count: int, seed: int, spread: float = 5_000.0) -> list[BaseGeometry]:
    """Short lines scattered around the origin, some with negative coordinates."""
    rng = np.random.default_rng(seed)
    starts = rng.uniform([-spread, -spread], [spread, spread], size=(count, 2))
    steps = rng.normal(0, 15, size=(count, 3, 2)).cumsum(axis=1)
    coordinates = np.concatenate([starts[:, None, :], starts[:, None, :] + steps], axis=1)
    # Around (0, 0) for sign changes, around X0/Y0 where 32-bit floats round by 0.5 m.
    coordinates[count // 2 :] += (X0, Y0)
    return list(shapely.linestrings(coordinates))


def rtree_rows(path: Path) -> list[tuple[object, ...]]:
    with raw(path) as conn:
        return conn.execute("SELECT * FROM layer_features_rtree ORDER BY id").fetchall()


def rtree_depth(path: Path) -> int:
    with raw(path) as conn:
        data = conn.execute(
            "SELECT data FROM layer_features_rtree_node WHERE nodeno = 1"
        ).fetchone()[0]
    return int.from_bytes(data[:2], "big")


def test_packed_rtree_equals_the_one_sqlite_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same boxes, same answers, whether packed at once or inserted row by row."""
    lines = random_lines(6_000, seed=7)
    paths = {}
    for way, min_changes in (("packed", 0), ("row by row", 10**12)):
        monkeypatch.setattr(sqlite_rtree, "RTREE_REBUILD_MIN_CHANGES", min_changes)
        monkeypatch.setattr(sqlite_rtree, "RTREE_REBUILD_SHARE", 10**9)
        paths[way] = tmp_path / way / "zugabe.sqlite"
        store = SqliteStore(url_for(paths[way]))
        try:
            store.replace_layer(layer_version("trees"), [layer_batch([at(-3, -3), at(0.1, 0.7)])])
            store.replace_layer(
                layer_version(),
                [layer_batch(lines[i : i + 1_000], first_row=i) for i in range(0, 6_000, 1_000)],
            )
        finally:
            store.close()
        assert_spatial_indexes_sound(paths[way])
    assert rtree_rows(paths["packed"]) == rtree_rows(paths["row by row"])
    # 6,000 entries at 51 per node: leaves, one level of inner nodes, the root.
    assert rtree_depth(paths["packed"]) == 2

    monkeypatch.setattr(sqlite_layers, "LAYER_SCAN_MAX", -1)
    stores = {way: SqliteStore(url_for(path)) for way, path in paths.items()}
    try:
        rng = np.random.default_rng(3)
        for _ in range(25):
            x, y = rng.uniform(-5_000, 5_000, 2) + np.array([X0, Y0]) * rng.integers(0, 2)
            area = shapely.Point(x, y).buffer(rng.uniform(5, 800))
            expected = [i for i, geometry in enumerate(lines) if geometry.intersects(area)]
            for store in stores.values():
                found = store.layer_features("sewer_sections", area=area)
                assert [f.source_row for f in found] == expected
                assert store.count_layer_features("sewer_sections", area=area) == len(expected)
    finally:
        for store in stores.values():
            store.close()


def test_row_by_row_updates_work_on_a_packed_rtree(
    store: SqliteStore, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_layers, "LAYER_SCAN_MAX", -1)
    lines = random_lines(12_000, seed=11)
    store.replace_layer(layer_version(), [layer_batch(lines)])  # big: packed
    assert_spatial_indexes_sound(db_path)
    assert rtree_depth(db_path) == 2
    packed_nodes = count_rows(db_path, "layer_features_rtree_node")

    # Small layers written and removed next to it go row by row into that tree.
    for seed in range(4):
        trees = random_lines(300, seed=100 + seed)
        store.replace_layer(layer_version("trees"), [layer_batch(trees)])
        assert_spatial_indexes_sound(db_path)
        area = square(-800, -800, 800, 800)
        expected = [i + 1 for i, geometry in enumerate(trees) if geometry.intersects(area)]
        found = store.layer_features("trees", area=area)
        assert [f.source_row for f in found] == expected
    assert count_rows(db_path, "layer_features_rtree_node") != packed_nodes
    store.delete_layer("trees", "anna")
    assert_spatial_indexes_sound(db_path)

    # A big removal rebuilds; what stays is still found.
    store.replace_layer(layer_version("trees"), [layer_batch([at(1, 1)])])
    store.delete_layer("sewer_sections", "anna")
    assert_spatial_indexes_sound(db_path)
    assert count_rows(db_path, "layer_features_rtree") == 1
    assert rtree_depth(db_path) == 0
    assert len(store.layer_features("trees", area=square(0, 0, 2, 2))) == 1


def test_an_open_reader_follows_rebuilds_of_the_rtree(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connections that already used the R*Tree see the packed one that replaced it."""
    monkeypatch.setattr(sqlite_layers, "LAYER_SCAN_MAX", -1)
    writer = SqliteStore(url_for(db_path))
    reader = SqliteStore(url_for(db_path))
    area = square(-800, -800, 800, 800)
    try:
        for round_ in range(2):
            small = random_lines(40, seed=round_)
            writer.replace_layer(layer_version("trees"), [layer_batch(small)])
            expected = [i + 1 for i, line in enumerate(small) if line.intersects(area)]
            found = reader.layer_features("trees", area=area)
            assert [f.source_row for f in found] == expected
            big = random_lines(12_000, seed=20 + round_)
            writer.replace_layer(layer_version(), [layer_batch(big)])
            assert rtree_depth(db_path) == 2
            expected = [i + 1 for i, line in enumerate(big) if line.intersects(area)]
            found = reader.layer_features("sewer_sections", area=area)
            assert [f.source_row for f in found] == expected
            writer.delete_layer("sewer_sections", "anna")
            assert rtree_depth(db_path) == 0
            assert reader.layer_features("sewer_sections", area=area) == []
            assert reader.count_layer_features("trees", area=area) == len(
                [line for line in small if line.intersects(area)]
            )
    finally:
        writer.close()
        reader.close()
    assert_spatial_indexes_sound(db_path)


CRASHING_LAYER_IMPORT = """
import sys
import time

import numpy as np
import shapely

import zugabe.storage.sqlite as backend
import zugabe.storage.sqlite_engine as engine
from zugabe.storage.contract import LayerFeatureBatch, NewLayerVersion

# A small page cache, so the open transaction spills pages into the WAL file.
engine.BULK_CACHE_KIB = 1024
store = backend.SqliteStore(sys.argv[1])


def batches():
    rng = np.random.default_rng(1)
    for n in range(100):
        starts = rng.uniform(0, 10_000, size=(20_000, 2)) + (370_000, 5_710_000)
        ends = starts + rng.normal(0, 20, size=(20_000, 2))
        yield LayerFeatureBatch(
            geometries=shapely.linestrings(np.stack([starts, ends], axis=1)),
            attributes=[{"name": "halb", "text": "x" * 200}] * 20_000,
            source_rows=range(n * 20_000, (n + 1) * 20_000),
        )
        if n == 3:
            print("MIDWAY", flush=True)
            time.sleep(120)


version = NewLayerVersion("sewer_sections", "neu.gpkg", None, "EPSG:25832", "none", "writer", {})
store.replace_layer(version, batches())
print("FINISHED", flush=True)
"""


def test_killed_layer_import_leaves_the_previous_version(db_path: Path) -> None:
    url = url_for(db_path)
    store = SqliteStore(url)
    kept = store.replace_layer(
        layer_version(source="alt.gpkg"), [layer_batch([at(i, i) for i in range(5)])]
    )
    kept_features = all_features(store, "sewer_sections")
    store.close()

    kill_writer_midway(CRASHING_LAYER_IMPORT, url, db_path)

    with raw(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert_spatial_indexes_sound(db_path)
    assert count_rows(db_path, "layer_features") == 5
    assert count_rows(db_path, "layer_features_rtree") == 5

    reopened = SqliteStore(url)
    try:
        assert reopened.get_layer("sewer_sections") == kept
        assert all_features(reopened, "sewer_sections") == kept_features
        assert reopened.count_layer_features("sewer_sections", area=square(-1, -1, 10, 10)) == 5
        again = reopened.replace_layer(layer_version(), [layer_batch([at(50, 50)])])
        assert again.version == 2
    finally:
        reopened.close()
    assert_spatial_indexes_sound(db_path)


def test_a_bulk_writes_pages_reach_the_store_file_without_waiting_for_the_next_commit(
    db_path: Path,
) -> None:
    """The commit of a bulk write does not copy its WAL into the file itself (the batch
    run's caller waited 0.6 s for that): the store does it on a thread of its own, so the
    file holds the new pages soon after, with no other commit and the store still open."""
    store = SqliteStore(url_for(db_path))
    try:
        before = db_path.stat().st_size
        rows = [at(i % 300, i // 300) for i in range(20_000)]
        store.replace_layer(layer_version(), [layer_batch(rows)])
        wal = db_path.with_name(db_path.name + "-wal")
        assert wal.stat().st_size > 2 * 1024 * 1024  # the write went into the WAL first
        deadline = time.monotonic() + 30
        while db_path.stat().st_size < before + 1024 * 1024 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert db_path.stat().st_size >= before + 1024 * 1024
        assert count_rows(db_path, "layer_features") == 20_000
    finally:
        store.close()
    with raw(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


# -- coordination cases ------------------------------------------------------------

CASE_TABLES = ("cases", "case_involvements", "case_comments", "case_history", "cases_rtree")


def case_table_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with raw(path) as conn:
        return {
            name: conn.execute(f"SELECT * FROM {name} ORDER BY 1, 2, 3").fetchall()
            for name in CASE_TABLES
        }


@pytest.mark.parametrize("failing", ["_set_statuses", "_update_rtree"])
def test_a_sync_failing_midway_changes_nothing(
    store: SqliteStore, db_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """Rows already written in the transaction go when a later step fails."""
    case_sync(store, [finding(P1, P2), finding(P1, P3), finding(P1, P4)])
    store.add_case_comment(1, "bleibt", "anna")
    before, rows_before = everything(store), case_table_rows(db_path)

    def broken(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(sqlite_cases._CaseSyncer, failing, broken)
    findings = [
        finding(P1, P2, geometry=square(50, 50, 60, 60), organisations=("stadt-essen",)),
        finding(P1, SEWER, rule="excavation_sewer"),
        finding(P1, P4),
    ]  # update, create, keep, and P1 × P3 would become obsolete
    with pytest.raises(RuntimeError, match="disk on fire"):
        case_sync(store, findings)
    monkeypatch.undo()
    assert everything(store) == before
    assert case_table_rows(db_path) == rows_before
    result = case_sync(store, findings)
    assert (len(result.created), len(result.updated), len(result.obsoleted)) == (1, 1, 1)


def random_findings(count: int, seed: int) -> list[CaseFinding]:
    """Small overlaps scattered over 10 km, three cases per project."""
    rng = np.random.default_rng(seed)
    corners = rng.uniform(0, 10_000, size=(count, 2)) + np.array([X0, Y0])
    sizes = rng.uniform(0.5, 30, size=(count, 2))
    boxes = shapely.box(*corners.T, *(corners + sizes).T)
    return [
        finding(
            project(i // 3),
            feature("sewer_sections", f"H-{i}"),
            f"rule-{i % 4}",
            geometry=boxes[i] if i % 50 else None,
            measures={"overlap_area_m2": float(sizes[i].prod()), "distance_m": 0.0},
            organisations=(f"stadt-{i % 16}", "emschergenossenschaft"),
            departments=(("strassenbau", "gruen", "entwaesserung")[i % 3],),
        )
        for i in range(count)
    ]


def case_indexes(path: Path) -> list[tuple[str, str]]:
    with raw(path) as conn:
        return conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases' "
            "ORDER BY name"
        ).fetchall()


def case_rtree_depth(path: Path) -> int:
    with raw(path) as conn:
        data = conn.execute("SELECT data FROM cases_rtree_node WHERE nodeno = 1").fetchone()[0]
    return int.from_bytes(data[:2], "big")


def test_a_big_batch_sync(store: SqliteStore, db_path: Path) -> None:
    """Bulk paths: a packed R*Tree, page-sized pair-key lookups, many changes at once."""
    count = 12_000  # above CASE_BULK_MIN and RTREE_REBUILD_MIN_CHANGES
    findings = random_findings(count, seed=5)
    indexes_before = case_indexes(db_path)
    result = case_sync(store, findings)
    ids = result.created
    assert len(ids) == count
    assert ids == tuple(range(ids[0], ids[0] + count))
    assert_spatial_indexes_sound(db_path)
    # Built again after the bulk insert (the UNIQUE pair key's kept), holding every new case.
    assert case_indexes(db_path) == indexes_before
    with raw(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert store.count_cases(CaseQuery(rule_ids=("rule-1",))) == count // 4
    assert store.count_cases(CaseQuery(statuses=(CaseStatus.OPEN,))) == count
    assert case_rtree_depth(db_path) == 2  # packed, 12,000 boxes at 51 per node

    rng = np.random.default_rng(8)
    for _ in range(10):
        x, y = rng.uniform(0, 10_000, 2) + np.array([X0, Y0])
        area = Point(x, y).buffer(rng.uniform(10, 600))
        expected = [
            case_id
            for case_id, found in zip(ids, findings, strict=True)
            if found.geometry is not None and found.geometry.intersects(area)
        ]
        assert [c.id for c in store.list_cases(CaseQuery(area=area))] == expected
    assert store.count_cases(CaseQuery(organisations=("stadt-3",))) == count // 16

    # Recompute: every 10th moved, every 20th gone, the rest as it was.
    again = [
        replace(found, geometry=at(-1_000, -1_000)) if i % 10 == 0 else found
        for i, found in enumerate(findings)
        if i % 20 != 5
    ]
    result = case_sync(store, again, reason="recomputed")
    assert len(result.updated) == count // 10
    assert len(result.obsoleted) == count // 20
    assert len(result.unchanged) == count - count // 10 - count // 20
    assert_spatial_indexes_sound(db_path)
    moved = store.list_cases(CaseQuery(area=square(-1_001, -1_001, -999, -999)))
    assert [c.id for c in moved] == [ids[i] for i in range(0, count, 10)]

    # An incremental check naming many cases outside its scope finds them
    # all (in several lookups by pair key) and duplicates none.
    outside = again[:1_500]
    result = case_sync(store, outside, scope="project:none")
    assert result.created == ()
    assert len(result.unchanged) == len(outside)
    assert store.count_cases(CaseQuery()) == count


def test_a_failed_big_sync_leaves_the_case_indexes(
    store: SqliteStore, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The indexes dropped for a bulk insert come back with the rollback."""
    before = case_indexes(db_path)
    real_insert = sqlite_cases.insert_rows

    def insert_then_fail(conn: Connection, table: Any, rows: list[tuple[Any, ...]]) -> None:
        real_insert(conn, table, rows)
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(sqlite_cases, "insert_rows", insert_then_fail)
    with pytest.raises(RuntimeError, match="disk is full"):
        case_sync(store, random_findings(12_000, seed=6))
    assert case_indexes(db_path) == before
    assert store.count_cases(CaseQuery()) == 0


def test_the_change_log_keeps_its_last_ten_thousand_entries(store: SqliteStore) -> None:
    start = store.revision()
    store.add_projects([new(at(i % 100, i // 100)) for i in range(10_005)])
    changes = store.changes_since(0)
    assert len(changes) == 10_000
    assert changes[0].revision == start + 6 and changes[-1].revision == store.revision()


# -- the writers' queue ----------------------------------------------------

HOLDING_WRITER = """
import sys

from shapely.geometry import Point

from zugabe.domain.project import ProjectAttributes
from zugabe.storage.contract import NewProject
from zugabe.storage.sqlite import SqliteStore

store = SqliteStore(sys.argv[1])
attributes = ProjectAttributes(title="anderer Prozess", organisation="o", department="d",
                               measure_type="m")
with store.transaction():
    store.add_projects([NewProject(attributes, Point(370_000, 5_710_000).buffer(5), "writer")])
    print("HOLDING", flush=True)
    sys.stdin.readline()  # until the test says so
store.close()
"""


@contextmanager
def writer_in_another_process(url: str) -> Iterator[subprocess.Popen[str]]:
    """A process inside a write transaction of the store until its stdin gets a line."""
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDING_WRITER), url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline() if child.stdout else ""
        assert line.strip() == "HOLDING", child.stderr.read() if child.stderr else ""
        yield child
    finally:
        child.kill()
        child.communicate(timeout=30)


def test_a_writer_waits_for_another_process_and_writes_once_it_is_done(db_path: Path) -> None:
    url = url_for(db_path)
    store = SqliteStore(url)
    done: list[object] = []
    try:
        with writer_in_another_process(url) as child:
            writer = threading.Thread(
                target=lambda: done.append(store.add_projects([new(at(5, 5), title="hier")]))
            )
            writer.start()
            writer.join(timeout=1.0)
            assert writer.is_alive() and done == []  # queued behind the other process
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.wait(timeout=30) == 0
            writer.join(timeout=30)
        assert len(done) == 1
        titles = {p.attributes.title for p in store.list_projects(ProjectQuery())}
        assert titles == {"anderer Prozess", "hier"}
    finally:
        store.close()


def test_a_writer_gives_up_after_the_busy_timeout_and_writes_nothing(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = url_for(db_path)
    store = SqliteStore(url)
    monkeypatch.setattr(store._writers, "timeout", 0.3)
    try:
        with writer_in_another_process(url), pytest.raises(StorageError) as refused:
            store.add_projects([new(at(5, 5), title="hier")])
        assert str(refused.value) == (
            "cannot write the store: another writer has held it for more than 0.3 s"
        )
        assert [p.attributes.title for p in store.list_projects(ProjectQuery())] == []
    finally:
        store.close()


def test_a_forked_process_queues_behind_its_parent(db_path: Path) -> None:
    """A worker forked from a process that had written takes the queue's lock through a
    descriptor of its own: one inherited would share the parent's lock."""
    store = SqliteStore(url_for(db_path))
    store.add_projects([new(at(1, 1))])  # the parent has opened the lock file
    store._writers.timeout = 0.3
    fork = multiprocessing.get_context("fork")
    answers, go = fork.SimpleQueue(), fork.Event()

    def child() -> None:
        go.wait(30)
        try:
            with store._writers.turn():
                answers.put("took it")
        except StorageError:
            answers.put("waited")

    try:
        forked = fork.Process(target=child)
        forked.start()  # forked while nobody writes: its own threads' lock is free
        with store._writers.turn():
            go.set()
            forked.join(timeout=30)
        assert answers.get() == "waited"
        go.clear()
        forked = fork.Process(target=child)
        forked.start()
        go.set()
        forked.join(timeout=30)
        assert answers.get() == "took it"
    finally:
        store.close()
