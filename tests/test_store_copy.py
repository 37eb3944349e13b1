"""``zugabe store copy``: the demo town, with a case comment, accounts and the audit chain,
moved from its SQLite file into a fresh PostGIS database of the session's cluster."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import create_engine, text, update

from tests.conftest import client_as
from tests.test_good_practice import CONTENT, _agreed_pair, _release, _upload
from zugabe.cli import cli
from zugabe.io.photos import demo_photo
from zugabe.storage import open_store
from zugabe.storage.contract import CaseQuery
from zugabe.storage.copy import COPIED_TABLES
from zugabe.storage.sqlite_schema import audit_log_table
from zugabe.web import create_app


def _sqlite_url(instance: Path) -> str:
    return f"sqlite:///{instance / 'zugabe.sqlite'}"


def test_the_demo_town_moves_to_postgis_whole(
    demo_instance: Path, postgis_url: str, runner: CliRunner
) -> None:
    app = create_app({"instance_path": demo_instance})
    client = client_as(app, "r.admin")
    case_id = client.get("/api/cases?limit=1").get_json()["features"][0]["id"]
    comment = client.post(f"/api/cases/{case_id}/comments", json={"text": "Bitte abstimmen"})
    assert comment.status_code == 201
    before = {
        path: client.get(path).get_json()
        for path in ("/api/projects?limit=5", f"/api/cases/{case_id}", "/api/layers")
    }
    app.extensions["zugabe"].close()

    # The cluster trusts local connections, so a password is ignored: it must not be shown.
    with_password = postgis_url.replace("postgres@", "postgres:s3cret@")
    result = runner.invoke(cli, ["store", "copy", _sqlite_url(demo_instance), with_password])
    assert result.exit_code == 0, result.output
    assert "audit chain intact" in result.output
    assert "s3cret" not in result.output
    source, target = open_store(_sqlite_url(demo_instance)), open_store(postgis_url)
    try:
        assert target.audit_head() == source.audit_head()
        assert target.count_cases(CaseQuery()) == source.count_cases(CaseQuery())
        assert target.get_case(case_id) == source.get_case(case_id)
    finally:
        source.close()
        target.close()

    copied = create_app({"instance_path": demo_instance, "database_url": postgis_url})
    client = client_as(copied, "r.admin")
    after = {path: client.get(path).get_json() for path in before}
    copied.extensions["zugabe"].close()
    assert after == before


def test_a_copy_is_vacuumed_and_analysed_for_its_first_users(
    demo_instance: Path, postgis_url: str, runner: CliRunner
) -> None:
    """A copy is a bulk load: the target gets its planner statistics and visibility map at
    once, not from autovacuum while the first users work."""
    result = runner.invoke(cli, ["store", "copy", _sqlite_url(demo_instance), postgis_url])
    assert result.exit_code == 0, result.output
    assert "vacuumed and analysed" in result.output
    engine = create_engine(postgis_url)
    try:
        with engine.connect() as conn:
            done = conn.execute(
                text(
                    "SELECT relname, last_vacuum IS NOT NULL, last_analyze IS NOT NULL "
                    "FROM pg_stat_user_tables WHERE relname IN ('projects', 'cases', "
                    "'case_involvements', 'layer_features')"
                )
            ).all()
    finally:
        engine.dispose()
    assert sorted(done) == [
        ("case_involvements", True, True),
        ("cases", True, True),
        ("layer_features", True, True),
        ("projects", True, True),
    ]


def test_a_copy_refuses_a_target_that_is_not_empty(
    demo_instance: Path, postgis_url: str, runner: CliRunner
) -> None:
    source = _sqlite_url(demo_instance)
    assert runner.invoke(cli, ["store", "copy", source, postgis_url]).exit_code == 0
    again = runner.invoke(cli, ["store", "copy", source, postgis_url])
    assert again.exit_code != 0
    assert "not empty" in str(again.exception)


def test_a_tampered_audit_chain_fails_the_copy(
    demo_instance: Path, postgis_url: str, runner: CliRunner
) -> None:
    store = open_store(_sqlite_url(demo_instance))
    with store._write() as conn:  # type: ignore[attr-defined]
        conn.execute(update(audit_log_table).where(audit_log_table.c.seq == 1).values(actor="x"))
    store.close()
    result = runner.invoke(cli, ["store", "copy", _sqlite_url(demo_instance), postgis_url])
    assert result.exit_code != 0
    assert "audit chain is broken" in str(result.exception)


def test_every_table_but_the_index_and_version_records_is_copied() -> None:
    names = {table.name for table in COPIED_TABLES}
    assert {"projects", "layer_features", "cases", "case_history", "audit_log"} <= names
    assert not {name for name in names if name.endswith("_rtree")}


def test_good_practice_photos_move_to_postgis_with_their_example(
    instance_path: Path, postgis_url: str, runner: CliRunner
) -> None:
    """Photos are blobs in the store: the copy carries them byte for byte."""
    app = create_app({"instance_path": instance_path})
    pair = _agreed_pair(app)
    example = (
        pair["h.planner"]
        .post("/api/good-practice", json={"project_id": pair.project, **CONTENT})
        .get_json()
    )
    photo = _upload(pair, example["id"], demo_photo(4, "Kopie")).get_json()["photos"][0]
    _release(pair, example["id"])
    before = pair["anonymous"].get(photo["url"]).data
    app.extensions["zugabe"].close()

    result = runner.invoke(cli, ["store", "copy", _sqlite_url(instance_path), postgis_url])
    assert result.exit_code == 0, result.output
    copied = create_app({"instance_path": instance_path, "database_url": postgis_url})
    try:
        anonymous = copied.test_client()
        assert anonymous.get(photo["url"]).data == before
        titles = [
            f["properties"]["title"]
            for f in anonymous.get("/good-practice.geojson").get_json()["features"]
        ]
        assert titles == [CONTENT["title"]]
    finally:
        copied.extensions["zugabe"].close()
