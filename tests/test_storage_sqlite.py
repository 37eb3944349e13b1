"""The embedded SQLite store: the shared contract plus what only SQLite has.

Real files in ``tmp_path``, no mocks: migrations, WAL, concurrent engines on
one file, and a writer killed mid-transaction.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from shapely.geometry import Polygon
from sqlalchemy import Connection, inspect

from zugabe.errors import ConfigError, InvalidInput, StorageError
from zugabe.storage import open_store
from zugabe.storage.contract import NewProject, ProjectQuery
from zugabe.storage.sqlite import BUSY_TIMEOUT_MS, SqliteProjectStore, connect_engine, writing
from zugabe.storage.sqlite_schema import (
    LATEST_VERSION,
    MIGRATIONS,
    MigrationStep,
    metadata,
    migrate,
    read_version,
)

# The shared suite lives in a plain module; have pytest rewrite its asserts
# so failures there show values, as in test modules.
pytest.register_assert_rewrite("storage_contract")
from storage_contract import StorageContract, at, attributes, new  # noqa: E402


def url_for(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "instance" / "zugabe.sqlite"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteProjectStore]:
    store = SqliteProjectStore(url_for(db_path))
    yield store
    store.close()


class TestSqliteContract(StorageContract):
    """The shared contract, run against a fresh store file per test."""


def raw(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection, to look at the file behind the store's back."""
    return sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)


def count_rows(path: Path, table: str) -> int:
    with raw(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# -- opening and migrations ----------------------------------------------


def test_fresh_store_is_migrated_to_the_latest_version(db_path: Path) -> None:
    assert not db_path.parent.exists()
    store = SqliteProjectStore(url_for(db_path))
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
    SqliteProjectStore(url_for(db_path)).close()
    with raw(db_path) as conn:
        before = conn.execute("SELECT * FROM zugabe_schema_version").fetchall()
    store = SqliteProjectStore(url_for(db_path))
    try:
        assert store.applied_migrations == ()
        assert store.schema_version() == LATEST_VERSION
    finally:
        store.close()
    with raw(db_path) as conn:
        assert conn.execute("SELECT * FROM zugabe_schema_version").fetchall() == before


def test_reopening_needs_no_write_lock(db_path: Path) -> None:
    """A server restarting while a long import holds the write lock can still open."""
    SqliteProjectStore(url_for(db_path)).close()
    importer = raw(db_path)
    try:
        importer.isolation_level = None
        importer.execute("BEGIN IMMEDIATE")
        importer.execute("INSERT INTO zugabe_schema_version VALUES (100, 'pending', 'x')")
        started = time.monotonic()
        store = SqliteProjectStore(url_for(db_path))
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
    SqliteProjectStore(url_for(db_path)).close()
    newer = LATEST_VERSION + 1
    with raw(db_path) as conn:
        conn.execute(
            "INSERT INTO zugabe_schema_version (version, description, applied_at) "
            "VALUES (?, 'from the future', '2030-01-01T00:00:00+00:00')",
            (newer,),
        )
    with pytest.raises(StorageError) as refused:
        SqliteProjectStore(url_for(db_path))
    message = str(refused.value)
    assert f"schema version {newer}" in message
    assert f"up to {LATEST_VERSION}" in message
    assert "newer" in message
    with raw(db_path) as conn:
        assert conn.execute("SELECT max(version) FROM zugabe_schema_version").fetchone() == (newer,)


def test_failed_migration_step_rolls_back_alone(db_path: Path) -> None:
    SqliteProjectStore(url_for(db_path)).close()
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


def test_core_tables_match_the_migrated_schema(store: SqliteProjectStore, db_path: Path) -> None:
    engine = connect_engine(url_for(db_path))
    try:
        inspector = inspect(engine)
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


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("Dies ist keine Datenbank. " * 200)
    with pytest.raises(StorageError, match="file is not a database"):
        SqliteProjectStore(url_for(path))


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "postgresql://x/y", "nonsense"])
def test_urls_without_a_file_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        SqliteProjectStore(url)


# -- open_store ------------------------------------------------------------


def test_open_store_picks_sqlite(db_path: Path) -> None:
    store = open_store(url_for(db_path))
    try:
        assert isinstance(store, SqliteProjectStore)
        assert store.schema_version() == LATEST_VERSION
    finally:
        store.close()


def test_open_store_names_an_unsupported_scheme_without_the_password() -> None:
    with pytest.raises(ConfigError) as refused:
        open_store("postgresql+psycopg://zugabe:geheim@db.example/zugabe")
    message = str(refused.value)
    assert "postgresql+psycopg" in message
    assert "geheim" not in message


def test_open_store_rejects_a_malformed_url() -> None:
    with pytest.raises(ConfigError, match="invalid storage URL"):
        open_store("not a url")


# -- durability and connection setup ---------------------------------------


def test_data_survives_close_and_reopen(db_path: Path) -> None:
    store = SqliteProjectStore(url_for(db_path))
    added = store.add_projects([new(title=f"bleibt {i}") for i in range(3)])
    updated = store.update_project(added[0].id, attributes(title="geändert"), at(7, 7), "bob", 1)
    store.delete_project(added[1].id, "bob", 1)
    store.close()

    reopened = SqliteProjectStore(url_for(db_path))
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


def test_connections_use_wal_and_durable_settings(store: SqliteProjectStore, db_path: Path) -> None:
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
    finally:
        engine.dispose()


def test_empty_geometry_is_refused(store: SqliteProjectStore) -> None:
    with pytest.raises(InvalidInput, match="non-empty geometry"):
        store.add_projects([new(Polygon())])
    assert store.count_projects(ProjectQuery()) == 0


def test_a_closed_store_refuses_work(db_path: Path) -> None:
    store = SqliteProjectStore(url_for(db_path))
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.list_projects(ProjectQuery())


def test_spatial_index_stays_in_step_with_the_table(
    store: SqliteProjectStore, db_path: Path
) -> None:
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
    writer = SqliteProjectStore(url_for(db_path))
    reader = SqliteProjectStore(url_for(db_path))
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
    stores = [SqliteProjectStore(url_for(db_path)) for _ in range(3)]
    errors: list[BaseException] = []
    counts: list[int] = []
    done = threading.Event()

    def write(store: SqliteProjectStore, name: str) -> None:
        try:
            for n in range(batches):
                store.add_projects([new(title=f"{name} {n}.{i}") for i in range(batch)])
        except BaseException as exc:
            errors.append(exc)

    def read(store: SqliteProjectStore) -> None:
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
from zugabe.storage.sqlite import SqliteProjectStore

store = SqliteProjectStore(sys.argv[1])


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


def test_killed_writer_leaves_a_consistent_store(db_path: Path) -> None:
    url = url_for(db_path)
    store = SqliteProjectStore(url)
    store.add_projects([new(at(i, i), title=f"vorher {i}") for i in range(5)])
    store.close()

    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CRASHING_WRITER), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(120, child.kill)
    watchdog.start()
    try:
        line = child.stdout.readline() if child.stdout else ""
        assert line.strip() == "MIDWAY", child.stderr.read() if child.stderr else ""
        # By now the open transaction has spilled pages into the WAL file.
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

    with raw(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert count_rows(db_path, "projects") == 5
    assert count_rows(db_path, "projects_rtree") == 5

    reopened = SqliteProjectStore(url)
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


def ids_in_area(store: SqliteProjectStore) -> list[int]:
    return [p.id for p in store.list_projects(ProjectQuery(area=at(50, 50).buffer(1)))]


def test_simultaneous_first_opens_migrate_exactly_once(db_path: Path) -> None:
    """Workers of one server starting together on a new file must not clash."""
    openers = 6
    barrier = threading.Barrier(openers)
    opened: list[SqliteProjectStore] = []
    errors: list[BaseException] = []

    def open_it() -> None:
        barrier.wait()
        try:
            opened.append(SqliteProjectStore(url_for(db_path)))
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
