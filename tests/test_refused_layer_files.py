"""Issue 11, item 1: a refused file never replaces a layer; the stored version and the
coordination cases on it stay as they were."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from tests.conftest import ADMIN, client_as
from zugabe.cli import cli
from zugabe.errors import InvalidInput
from zugabe.services import Services
from zugabe.storage.contract import CaseQuery

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
TREES = SAMPLE / "layers" / "trees.geojson"


@pytest.fixture
def demo(demo_instance: Path, app: Flask) -> Services:
    """The demo town (a copy made before ``app`` opens it)."""
    services: Services = app.extensions["zugabe"]
    return services


def _state(services: Services) -> tuple[int, int, list[tuple[int, str, int]]]:
    info = services.store.get_layer("trees")
    assert info is not None
    cases = services.store.list_cases(CaseQuery())
    return info.version, info.feature_count, [(c.id, c.status.value, c.version) for c in cases]


def _trees(features: list[dict]) -> bytes:  # type: ignore[type-arg]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def _tree(lon: float, lat: float, tree_id: str = "X-1") -> dict:  # type: ignore[type-arg]
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"tree_id": tree_id},
    }


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (_trees([_tree(0, 0)]), "none of the 1 rows"),  # one point at [0, 0]: outside the region
        (_trees([]), "holds no features"),  # an empty FeatureCollection
    ],
)
def test_a_file_without_acceptable_rows_is_refused_and_changes_nothing(
    app: Flask, demo: Services, body: bytes, detail: str
) -> None:
    before = _state(demo)
    response = client_as(app, "steward").post(
        "/api/layers/trees", data={"file": (io.BytesIO(body), "trees.geojson")}
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    problem = response.get_json()
    assert detail in problem["detail"] and "stored version" in problem["detail"]
    assert _state(demo) == before  # same version, same features, no case touched


def test_a_wrong_source_crs_refuses_every_row_and_keeps_the_layer(demo: Services) -> None:
    before = _state(demo)
    with pytest.raises(InvalidInput, match="none of the 1453 rows") as refused:
        demo.layers.import_file(TREES, "trees", ADMIN, source_crs="EPSG:25832")
    assert refused.value.field_errors[0].pointer.startswith("/rows/")
    assert _state(demo) == before


def test_too_many_refused_rows_need_accept_partial(app: Flask, demo: Services) -> None:
    features = json.loads(TREES.read_text("utf-8"))["features"][:10]
    for feature in features[:3]:
        feature["geometry"]["coordinates"] = [0, 0]  # 3 of 10 refused: 30 % > 20 %
    body = _trees(features)
    before = _state(demo)
    steward = client_as(app, "steward")
    refused = steward.post("/api/layers/trees", data={"file": (io.BytesIO(body), "t.geojson")})
    assert refused.status_code == 422
    assert "3 of 10 rows" in refused.get_json()["detail"]
    assert "accept_partial (--accept-partial)" in refused.get_json()["detail"]
    assert _state(demo) == before
    accepted = steward.post(
        "/api/layers/trees",
        data={"file": (io.BytesIO(body), "t.geojson"), "accept_partial": "true"},
    )
    assert accepted.status_code == 201
    assert accepted.get_json()["stored"]["feature_count"] == 7


def test_cli_exits_2_and_accept_partial_stores(tmp_path: Path, runner: CliRunner) -> None:
    base = ["--instance", str(tmp_path / "i")]
    runner.invoke(
        cli,
        [*base, "users", "add", "gis", "--name", "GIS", "--role", "region_admin", "--no-password"],
    )
    features = json.loads(TREES.read_text("utf-8"))["features"][:4]
    features[0]["geometry"]["coordinates"] = [0, 0]
    path = tmp_path / "trees.geojson"
    path.write_bytes(_trees(features))
    command = [*base, "--user", "gis", "layers", "import", str(path), "--layer", "trees"]
    zugabe = str(Path(sys.executable).with_name("zugabe"))
    refused = subprocess.run([zugabe, *command], capture_output=True, text=True, check=False)
    assert refused.returncode == 2
    assert "1 of 4 rows" in refused.stderr and "/rows/1: outside" in refused.stderr
    stored = runner.invoke(cli, [*command, "--accept-partial"])
    assert stored.exit_code == 0, stored.output
    assert "accepted 3" in stored.output
