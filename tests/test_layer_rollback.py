"""Issue 11, item 1 (rest): earlier layer versions are kept (``keep_layer_versions``) and
``zugabe layers rollback`` / ``POST /api/layers/<key>/rollback`` bring one back, with
its cases recomputed and the cases of the features that come back keeping their identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from tests.conftest import ADMIN, SAMPLE_DATA, client_as, ensure_account
from zugabe.cli import cli
from zugabe.services import Services
from zugabe.storage.contract import AuditQuery, CaseQuery
from zugabe.web import create_app

TREES = SAMPLE_DATA / "layers" / "trees.geojson"


def _moved(folder: Path, metres_east: int) -> Path:
    """The demo trees moved east (roughly ``metres_east`` m): other cases than the original."""
    data = json.loads(TREES.read_text(encoding="utf-8"))
    for tree in data["features"]:
        tree["geometry"]["coordinates"][0] += metres_east * 0.0000144
    path = folder / f"trees_{metres_east}.geojson"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _content(services: Services) -> list[tuple[int, str, str]]:
    """What a version holds: source row, attributes and geometry of every tree."""
    return sorted(
        (f.source_row, json.dumps(f.attributes, sort_keys=True), f.geometry.wkb_hex)
        for f in services.store.layer_features("trees")
    )


def _live_cases(services: Services) -> dict[str, int]:
    return {
        c.finding.pair_key: c.id
        for c in services.store.list_cases(CaseQuery())
        if ":trees:" in c.finding.pair_key and c.status.value != "obsolete"
    }


@pytest.fixture
def demo(demo_instance: Path, app: Flask) -> Services:
    return app.extensions["zugabe"]


def test_rollback_brings_back_the_features_and_their_cases(
    demo: Services, demo_instance: Path, tmp_path: Path
) -> None:
    original, original_cases = _content(demo), _live_cases(demo)
    demo.layers.import_file(_moved(tmp_path, 30), "trees", ADMIN)
    assert _content(demo) != original
    assert _live_cases(demo).keys() != original_cases.keys()
    demo.close()

    ensure_account(create_app({"instance_path": demo_instance}).extensions["zugabe"], "steward")
    runner = CliRunner()
    base = ["--instance", str(demo_instance), "--user", "steward", "layers"]
    listed = runner.invoke(cli, [*base, "versions", "trees"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines()[1].startswith("v1 ") and "restorable" in listed.output

    result = runner.invoke(cli, [*base, "rollback", "trees"])
    assert result.exit_code == 0, result.output
    assert "layer trees is now version 3 (1453 features)" in result.output

    services = create_app({"instance_path": demo_instance}).extensions["zugabe"]
    try:
        assert _content(services) == original
        assert _live_cases(services) == original_cases  # the same cases, reopened
        assert not services.cases.detect_everything(ADMIN).sync.created  # nothing missing
        (entry,) = services.store.list_audit(AuditQuery(action="layer.rollback"))
        assert entry.event.after is not None and entry.event.after["restored"] == 1
        info = services.store.get_layer("trees")
        assert info is not None and "rollback to version 1" in info.report["notes"][-1]
    finally:
        services.close()


def test_only_keep_layer_versions_earlier_versions_are_restorable(
    demo_instance: Path, tmp_path: Path
) -> None:
    app = create_app({"instance_path": demo_instance, "keep_layer_versions": 1})
    services: Services = app.extensions["zugabe"]
    try:
        for metres in (10, 20):
            services.layers.import_file(_moved(tmp_path, metres), "trees", ADMIN)
        versions = services.layers.versions(ADMIN, "trees")
        assert [(v["version"], v["restorable"]) for v in versions] == [
            (3, True),
            (2, True),
            (1, False),
        ]
        response = client_as(app, "steward").post("/api/layers/trees/rollback", json={"version": 1})
        assert response.status_code == 404
        assert "kept earlier versions: 2 (keep_layer_versions 1)" in response.get_json()["detail"]
        response = client_as(app, "steward").post("/api/layers/trees/rollback", json={"version": 2})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["stored"]["version"] == 4
        assert "version 2" in response.get_json()["stored"]["report"]["notes"][-1]
    finally:
        services.close()


def test_a_rollback_without_an_earlier_version_is_refused(app: Flask) -> None:
    services: Services = app.extensions["zugabe"]
    services.layers.import_file(TREES, "trees", ADMIN)
    response = client_as(app, "steward").post("/api/layers/trees/rollback")
    assert response.status_code == 404
    assert "no kept earlier version" in response.get_json()["detail"]
    response = client_as(app, "steward").post("/api/layers/trees/rollback", json={"version": "1"})
    assert response.status_code == 422
