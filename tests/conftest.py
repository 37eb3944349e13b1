"""Shared fixtures: an app on a fresh instance folder, its client, the CLI runner.

Tests that read ../shared/data never skip: a missing folder is a failure.
"""

from __future__ import annotations

import copy
import itertools
import json
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from tests.smtp_server import SmtpServer, free_port
from zugabe.config import Settings
from zugabe.devtools.pg_cluster import ThrowawayCluster
from zugabe.domain.accounts import Actor, Role, Scope
from zugabe.services import RegionSetup, Services
from zugabe.services.accounts import AccountInput
from zugabe.services.demo import load_demo_layers, load_demo_projects
from zugabe.web import create_app
from zugabe.web.openapi import build_openapi

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"

# A road renewal in Herne (lon/lat), valid under the default vocabulary.
VALID_FEATURE: dict[str, Any] = {
    "type": "Feature",
    "geometry": {
        "type": "LineString",
        "coordinates": [[7.2101, 51.5402], [7.2135, 51.5411], [7.2170, 51.5415]],
    },
    "properties": {
        "title": "Fahrbahnerneuerung Bahnhofstraße",
        "description": "Deckschicht und Binder erneuern.",
        "organisation": "herne",
        "department": "roads",
        "measure_type": "road_renewal",
        "status": "planning",
        "start": "2027-03-01",
        "end": "2027-11-30",
        "contact": "Tiefbauamt Herne",
        "cost_eur": 850000,
    },
}


def feature(geometry: dict[str, Any] | None = None, **properties: Any) -> dict[str, Any]:
    """A copy of the valid feature with other geometry and/or properties."""
    doc = copy.deepcopy(VALID_FEATURE)
    if geometry is not None:
        doc["geometry"] = geometry
    doc["properties"].update(properties)
    return doc


def default_document() -> dict[str, Any]:
    """The OpenAPI document of an instance with the default settings and region, as JSON
    gives it: what tests parametrised by operation are collected from."""
    settings = Settings()
    region = RegionSetup.load(settings)
    return json.loads(
        json.dumps(
            build_openapi(
                region.vocabulary,
                region.definitions,
                [rule.id for rule in region.rules.rules],
                region.checklist,
                settings,
            )
        )
    )


ADMIN = Actor.system("test.admin", roles=frozenset({Role.REGION_ADMIN}))
"""A region admin for tests that call the services directly."""

# The accounts tests sign in as: username -> organisation, roles, departments.
TEST_ACCOUNTS: dict[str, tuple[str | None, frozenset[Role], tuple[str, ...]]] = {
    "r.admin": (None, frozenset({Role.REGION_ADMIN}), ()),
    "h.planner": ("herne", frozenset({Role.PLANNER}), ("roads", "drainage")),
    "h.coordinator": ("herne", frozenset({Role.COORDINATOR}), ()),
    "h.viewer": ("herne", frozenset({Role.VIEWER}), ()),
    "h.orgadmin": ("herne", frozenset({Role.ORG_ADMIN}), ()),
    "steward": (None, frozenset({Role.DATA_STEWARD}), ()),
    "b.planner": ("bochum", frozenset({Role.PLANNER}), ("roads", "drainage")),
    "b.coordinator": ("bochum", frozenset({Role.COORDINATOR}), ()),
}


def ensure_account(services: Services, username: str) -> None:
    """One of ``TEST_ACCOUNTS``, created (without a password) if missing."""
    if services.store.find_account(username) is not None:
        return
    organisation, roles, departments = TEST_ACCOUNTS[username]
    themes = ("*",) if Role.DATA_STEWARD in roles else ()
    display = username.replace(".", " ").title()
    services.accounts.add(
        ADMIN, AccountInput(username, display, "", organisation, departments, roles, themes)
    )


def token_for(app: Flask, username: str, scope: Scope = Scope.WRITE) -> str:
    """A bearer token of a ``TEST_ACCOUNTS`` account (created on first use)."""
    services: Services = app.extensions["zugabe"]
    ensure_account(services, username)
    return services.accounts.create_token(ADMIN, username, "tests", scope)[1]


def client_as(app: Flask, username: str | None, scope: Scope = Scope.WRITE) -> FlaskClient:
    """A test client sending the bearer token of ``username`` (None: anonymous)."""
    client = app.test_client()
    if username is not None:
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token_for(app, username, scope)}"
    return client


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings of the developer's shell must not leak into tests."""
    import os

    for name in list(os.environ):
        if name.startswith("ZUGABE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"{SHARED_DATA} is missing: tests of real data must run, not skip")
    return SHARED_DATA


@pytest.fixture
def instance_path(tmp_path: Path) -> Path:
    return tmp_path / "instance"


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance with the demo town's layers and projects, built once per session."""
    path = tmp_path_factory.mktemp("demo-template") / "instance"
    services = create_app({"instance_path": path}).extensions["zugabe"]
    load_demo_layers(services.layers, SAMPLE_DATA, ADMIN)
    load_demo_projects(services.projects, SAMPLE_DATA, ADMIN)
    services.close()
    return path


@pytest.fixture
def demo_instance(demo_template: Path, instance_path: Path) -> Path:
    """This test's own copy of the demo town instance (``app`` then opens it)."""
    shutil.copytree(demo_template, instance_path)
    return instance_path


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store",
        choices=("sqlite", "postgis"),
        default="sqlite",
        help="the store of the `app` fixture: the instance's SQLite file (default), or a fresh "
        "database of the session's throw-away PostGIS cluster (`make test` runs the API "
        "tests both ways)",
    )


@pytest.fixture
def app(instance_path: Path, request: pytest.FixtureRequest) -> Iterator[Flask]:
    if "demo_instance" in request.fixturenames:  # the copy must be there before it opens
        request.getfixturevalue("demo_instance")
    config: dict[str, Any] = {"instance_path": instance_path}
    with ExitStack() as stack:
        if request.config.getoption("store") == "postgis":
            cluster = request.getfixturevalue("postgis_cluster")
            template = POSTGIS_TEMPLATE
            if "demo_instance" in request.fixturenames:
                template = request.getfixturevalue("postgis_demo_template")
            config["database_url"] = stack.enter_context(fresh_database(cluster, template))
            # The CLI of the same instance (``runner``) reads the environment: the same store.
            monkeypatch = request.getfixturevalue("monkeypatch")
            monkeypatch.setenv("ZUGABE_DATABASE_URL", config["database_url"])
        app = create_app(config)
        app.testing = True
        yield app
        app.extensions["zugabe"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Signed in as a region admin (bearer token): may do everything."""
    return client_as(app, "r.admin")


@pytest.fixture
def anonymous(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free local port, keeping what arrives."""
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


POSTGIS_TEMPLATE = "zugabe_template"
_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgis_cluster() -> Iterator[ThrowawayCluster]:
    """One throw-away PostgreSQL + PostGIS server for the session (``make postgis``), with a
    template database migrated once: each test's database is a copy of it."""
    import psycopg
    from psycopg import sql

    from zugabe.storage.postgis import PostgisStore

    with ThrowawayCluster() as cluster:
        with psycopg.connect(**cluster.connect_kwargs(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(POSTGIS_TEMPLATE)))
        PostgisStore(cluster.url(POSTGIS_TEMPLATE).render_as_string(False)).close()
        yield cluster


def create_database(cluster: ThrowawayCluster, name: str, template: str = POSTGIS_TEMPLATE) -> str:
    """A new database copied from a template (by default the migrated empty one); its URL."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(**cluster.connect_kwargs(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return cluster.url(name).render_as_string(False)


@contextmanager
def fresh_database(cluster: ThrowawayCluster, template: str = POSTGIS_TEMPLATE) -> Iterator[str]:
    """The URL of a new database copied from a template, dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"test_{next(_databases)}"
    try:
        yield create_database(cluster, name, template)
    finally:
        with psycopg.connect(**cluster.connect_kwargs(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def postgis_demo_template(postgis_cluster: ThrowawayCluster, demo_template: Path) -> str:
    """A PostGIS database holding the demo town, copied once from its SQLite template with
    ``zugabe store copy``'s code: the template of the PostGIS pass's demo instances."""
    from zugabe.storage.copy import copy_store
    from zugabe.storage.postgis import PostgisStore
    from zugabe.storage.sqlite import SqliteStore

    name = "zugabe_demo"
    source = SqliteStore(f"sqlite:///{demo_template / 'zugabe.sqlite'}")
    target = PostgisStore(create_database(postgis_cluster, name))
    try:
        copy_store(source, target)
    finally:
        source.close()
        target.close()
    return name


@pytest.fixture
def postgis_url(postgis_cluster: ThrowawayCluster) -> Iterator[str]:
    """The URL of a fresh, migrated PostGIS database, dropped after the test."""
    with fresh_database(postgis_cluster) as url:
        yield url


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def actor_for(services: Services, username: str, via: str = "cli") -> Actor:
    """The ``Actor`` of one of ``TEST_ACCOUNTS`` (created if missing), for direct service calls."""
    ensure_account(services, username)
    account = services.store.find_account(username)
    assert account is not None
    return Actor.of(account, via=via, address=None)
