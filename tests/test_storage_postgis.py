"""The PostGIS store: the shared contract on a real PostgreSQL 15 + PostGIS 3.

The server is the session's throw-away cluster (``postgis_cluster`` in conftest, started by
the project's own files); each test gets a fresh database copied from a migrated template.
A missing PostgreSQL or PostGIS fails these tests with the packages to install.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import create_engine, text

from zugabe.devtools.pg_cluster import ThrowawayCluster
from zugabe.errors import ConfigError
from zugabe.storage import open_store
from zugabe.storage.postgis import PostgisStore
from zugabe.storage.postgis_schema import LATEST_VERSION, migrations
from zugabe.storage.sqlite_schema import LATEST_VERSION as SQLITE_LATEST_VERSION
from zugabe.storage.sqlite_schema import MIGRATIONS, metadata

pytest.register_assert_rewrite("storage_contract")
from storage_contract import StorageContract  # noqa: E402


@pytest.fixture
def store(postgis_url: str) -> Iterator[PostgisStore]:
    store = PostgisStore(postgis_url)
    yield store
    store.close()


class TestPostgisContract(StorageContract):
    """The shared contract, run against a fresh database per test."""


def test_open_store_picks_postgis_by_the_url(postgis_url: str) -> None:
    store = open_store(postgis_url)
    try:
        assert isinstance(store, PostgisStore)
        assert store.schema_version() == LATEST_VERSION == SQLITE_LATEST_VERSION
    finally:
        store.close()


def test_geometry_columns_are_postgis_with_gist_indexes(store: PostgisStore) -> None:
    engine = create_engine(store._engine.url)
    with engine.connect() as conn:
        columns = conn.execute(
            text("SELECT f_table_name, f_geometry_column, srid FROM geometry_columns ORDER BY 1, 2")
        ).all()
        indexes = conn.execute(
            text("SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%USING gist%'")
        ).scalars()
        assert {name for name in indexes} >= {
            "gix_projects_geometry",
            "gix_layer_features_geometry",
            "gix_cases_geometry",
        }
    engine.dispose()
    assert ("projects", "geometry", 25832) in [tuple(row) for row in columns]
    assert {row[2] for row in columns} == {25832}


def test_statements_are_planned_without_parallel_workers(store: PostgisStore) -> None:
    """Starting a parallel worker took 10 ms of a map view's case count that scans 1.5 ms
    (50,000 projects): the store's connections plan without them, even where PostgreSQL
    would find them cheap."""
    cheap = [
        text("SET parallel_setup_cost = 0"),
        text("SET parallel_tuple_cost = 0"),
        text("SET min_parallel_table_scan_size = 0"),
    ]
    explain = text("EXPLAIN SELECT count(*) FROM cases")
    plain = create_engine(store._engine.url)
    with plain.connect() as conn:
        for setting in cheap:
            conn.execute(setting)
        assert "Gather" in "\n".join(conn.execute(explain).scalars())
    plain.dispose()
    with store._read() as conn:
        for setting in cheap:
            conn.execute(setting)
        assert "Gather" not in "\n".join(conn.execute(explain).scalars())


def test_a_store_refuses_another_storage_crs(postgis_url: str) -> None:
    PostgisStore(postgis_url).close()
    with pytest.raises(ConfigError, match="EPSG:25832"):
        PostgisStore(postgis_url, srid=31467)


def test_the_url_password_stays_out_of_errors() -> None:
    with pytest.raises(Exception) as caught:
        PostgisStore("postgresql+psycopg://someone:s3cret@/nowhere?host=/nonexistent")
    assert "s3cret" not in str(caught.value)


def test_the_tables_are_those_of_the_sqlite_store(store: PostgisStore) -> None:
    """The shared Core tables describe the PostGIS schema too: same tables, same columns."""
    engine = create_engine(store._engine.url)
    listed = text(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = :name"
    )
    try:
        with engine.connect() as conn:
            for name, table in metadata.tables.items():
                if name.endswith("_rtree"):
                    continue  # SQLite's R*Trees; GiST indexes here
                columns = conn.execute(listed, {"name": name}).scalars().all()
                assert sorted(columns) == sorted(table.columns.keys()), name
    finally:
        engine.dispose()
    assert [step.version for step in migrations(25832)] == [step.version for step in MIGRATIONS]


def test_writers_wait_for_each_other(postgis_url: str) -> None:
    """A transaction holds the write lock from its start: a second writer waits for it."""
    first, second = PostgisStore(postgis_url), PostgisStore(postgis_url)
    order: list[str] = []
    try:
        with first.transaction():
            first.seen_desk("a", datetime.now(UTC))
            waiting = threading.Thread(
                target=lambda: (second.seen_desk("b", datetime.now(UTC)), order.append("second"))
            )
            waiting.start()
            waiting.join(0.5)
            order.append("first")
        waiting.join(10)
        assert order == ["first", "second"]
    finally:
        first.close()
        second.close()


def test_a_database_without_postgis_names_the_fix(postgis_cluster: ThrowawayCluster) -> None:
    """An account that may not create the extension is told what to run, as whom."""
    with psycopg.connect(**postgis_cluster.connect_kwargs(), autocommit=True) as conn:
        conn.execute("CREATE ROLE planner LOGIN")
        conn.execute("CREATE DATABASE plain TEMPLATE template0")
    try:
        url = postgis_cluster.url("plain").set(username="planner")
        with pytest.raises(ConfigError, match="CREATE EXTENSION postgis"):
            PostgisStore(url.render_as_string(False))
    finally:
        with psycopg.connect(**postgis_cluster.connect_kwargs(), autocommit=True) as conn:
            conn.execute("DROP DATABASE plain WITH (FORCE)")
            conn.execute("DROP ROLE planner")
