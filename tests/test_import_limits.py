"""Issue 11, item 6: an import cannot exhaust the machine. A file over ``max_import_rows``
or ``max_import_expanded_bytes`` is refused, before or while it is read, with a message
naming what was found, the limit and the setting; the stored version is kept.

The limits are set low here, so that the files stay small.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from click.testing import CliRunner
from flask import Flask

from tests.conftest import ADMIN, client_as, feature
from zugabe.cli import cli
from zugabe.errors import InvalidInput
from zugabe.io.layer_files import CsvOptions
from zugabe.services import Services
from zugabe.web import create_app

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
TREES = SAMPLE / "layers" / "trees.geojson"
MAX_ROWS = 10
MAX_BYTES = 20_000


@pytest.fixture
def limited(demo_instance: Path) -> Iterator[Flask]:
    """The demo town, served with low import limits."""
    app = create_app(
        {
            "instance_path": demo_instance,
            "max_import_rows": MAX_ROWS,
            "max_import_expanded_bytes": MAX_BYTES,
        }
    )
    app.testing = True
    yield app
    app.extensions["zugabe"].close()


def _services(app: Flask) -> Services:
    services: Services = app.extensions["zugabe"]
    return services


def _stored_trees(services: Services) -> tuple[int, int]:
    info = services.store.get_layer("trees")
    assert info is not None
    return info.version, info.feature_count


def _trees(count: int) -> bytes:
    features = json.loads(TREES.read_text("utf-8"))["features"][:count]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def _zipped_shapefile(folder: Path, points: int) -> tuple[Path, int]:
    """A zipped shapefile of ``points`` trees in Herne and the bytes it expands to."""
    rng = np.random.default_rng(7)
    lonlat = np.column_stack([rng.uniform(7.20, 7.23, points), rng.uniform(51.53, 51.55, points)])
    shapefile = folder / "baeume.shp"
    pyogrio.raw.write(
        shapefile,
        shapely.to_wkb(shapely.points(lonlat)),
        [np.array([f"B-{i}" for i in range(points)], dtype=object)],
        ["tree_id"],
        driver="ESRI Shapefile",
        geometry_type="Point",
        crs="EPSG:4326",
    )
    archive = folder / "baeume.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for member in sorted(folder.glob("baeume.*")):
            if member != archive:
                zipped.write(member, member.name)
    with zipfile.ZipFile(archive) as zipped:
        expanded = sum(info.file_size for info in zipped.infolist())
    return archive, expanded


def test_a_zip_expanding_beyond_the_limit_is_refused_over_the_api(
    limited: Flask, tmp_path: Path
) -> None:
    archive, expanded = _zipped_shapefile(tmp_path, 300)
    assert archive.stat().st_size < MAX_BYTES < expanded  # small to send, too big to read
    before = _stored_trees(_services(limited))
    response = client_as(limited, "steward").post(
        "/api/layers/trees", data={"file": (io.BytesIO(archive.read_bytes()), "baeume.zip")}
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    detail = response.get_json()["detail"]
    assert f"baeume.zip expands to {expanded:,} bytes" in detail
    assert f"at most {MAX_BYTES:,} bytes (setting max_import_expanded_bytes)" in detail
    assert _stored_trees(_services(limited)) == before


def test_a_zip_expanding_beyond_the_limit_is_refused_by_the_cli(
    tmp_path: Path, runner: CliRunner
) -> None:
    base = ["--instance", str(tmp_path / "instance")]
    runner.invoke(
        cli,
        [*base, "users", "add", "gis", "--name", "GIS", "--role", "region_admin", "--no-password"],
    )
    small = tmp_path / "trees.geojson"
    small.write_bytes(_trees(5))
    importing = [*base, "--user", "gis", "layers", "import"]
    stored = runner.invoke(cli, [*importing, str(small), "--layer", "trees"])
    assert stored.exit_code == 0, stored.output
    archive, expanded = _zipped_shapefile(tmp_path, 300)
    refused = subprocess.run(
        [
            str(Path(sys.executable).with_name("zugabe")),
            *importing,
            str(archive),
            "--layer",
            "trees",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"ZUGABE_MAX_IMPORT_EXPANDED_BYTES": str(MAX_BYTES)},
    )
    assert refused.returncode == 2, refused.stderr
    assert f"baeume.zip expands to {expanded:,} bytes" in refused.stderr
    assert "max_import_expanded_bytes" in refused.stderr
    listed = runner.invoke(cli, [*base, "layers", "list"])
    assert "trees.geojson" in listed.output and "baeume.zip" not in listed.output


def test_a_file_with_more_rows_than_the_limit_is_refused_before_reading(limited: Flask) -> None:
    before = _stored_trees(_services(limited))
    steward = client_as(limited, "steward")
    response = steward.post(
        "/api/layers/trees", data={"file": (io.BytesIO(_trees(MAX_ROWS + 1)), "t.geojson")}
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    detail = response.get_json()["detail"]
    assert f"t.geojson holds {MAX_ROWS + 1} features" in detail
    assert f"at most {MAX_ROWS} (setting max_import_rows)" in detail
    assert _stored_trees(_services(limited)) == before
    accepted = steward.post(
        "/api/layers/trees", data={"file": (io.BytesIO(_trees(MAX_ROWS)), "t.geojson")}
    )
    assert accepted.status_code == 201, accepted.get_data(as_text=True)


def test_a_csv_is_counted_while_it_is_read(limited: Flask, tmp_path: Path) -> None:
    """A CSV says nothing about its length: it is refused once a chunk goes over."""
    services = _services(limited)
    before = _stored_trees(services)
    path = tmp_path / "baeume.csv"
    lines = ["tree_id;x;y", *(f"B-{i};7,21{i:02d};51,54" for i in range(MAX_ROWS + 1))]
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(InvalidInput, match=rf"holds more than {MAX_ROWS} features"):
        services.layers.import_file(
            path, "trees", ADMIN, source_crs="EPSG:4326", csv_options=CsvOptions()
        )
    assert _stored_trees(services) == before


def test_a_plain_file_over_the_byte_limit_is_refused(limited: Flask, tmp_path: Path) -> None:
    services = _services(limited)
    before = _stored_trees(services)
    path = tmp_path / "baeume.geojson"
    path.write_bytes(_trees(MAX_ROWS) + b" " * MAX_BYTES)
    with pytest.raises(InvalidInput, match=r"max_import_expanded_bytes") as refused:
        services.layers.import_file(path, "trees", ADMIN)
    assert f"baeume.geojson holds {path.stat().st_size:,} bytes" in refused.value.detail
    assert _stored_trees(services) == before


def test_the_project_import_keeps_the_limits(limited: Flask) -> None:
    projects = [feature(title=f"Maßnahme {i}") for i in range(MAX_ROWS + 1)]
    body = json.dumps({"type": "FeatureCollection", "features": projects}).encode()
    response = client_as(limited, "r.admin").post(
        "/api/projects/import?dry_run=true",
        data={"file": (io.BytesIO(body), "massnahmen.geojson")},
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    detail = response.get_json()["detail"]
    assert f"massnahmen.geojson holds {MAX_ROWS + 1} features" in detail
    assert "max_import_rows" in detail
