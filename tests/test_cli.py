"""The zugabe command works through the same services as the API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import client_as, feature
from zugabe.cli import cli
from zugabe.web import create_app

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"


def test_init_creates_the_store(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["--instance", str(tmp_path / "inst"), "init"])
    assert result.exit_code == 0, result.output
    assert "schema version" in result.output
    assert (tmp_path / "inst" / "zugabe.sqlite").is_file()


WITHOUT_POSTGIS_EXTRA = """
import sys

sys.modules["psycopg"] = None  # not installed: importing it fails, as after `make run`
from click.testing import CliRunner

from zugabe.cli import cli
from zugabe.web import create_app

result = CliRunner().invoke(cli, ["--instance", sys.argv[1], "init"])
assert result.exit_code == 0, result.output
create_app({"instance_path": sys.argv[1]})
print("served without psycopg")
"""


def test_the_shell_and_the_server_start_without_the_postgis_extra(tmp_path: Path) -> None:
    """``make run`` installs ZUGABE without the PostGIS extra: no command, and not the
    server, may need psycopg before a PostGIS store is chosen (``zugabe store copy``
    once imported it for every command)."""
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_POSTGIS_EXTRA, str(tmp_path / "inst")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "served without psycopg" in done.stdout


def test_demo_loads_once(runner: CliRunner, tmp_path: Path) -> None:
    args = ["--instance", str(tmp_path), "demo", "--source", str(SAMPLE_DATA)]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    expected = len(json.loads((SAMPLE_DATA / "projects.geojson").read_text())["features"])
    assert f"demo town loaded: {expected} projects" in first.output
    assert "demo checklists: 2 development plans answered" in first.output
    again = runner.invoke(cli, args)
    assert again.exit_code == 0
    assert "not loaded again" in again.output
    assert "demo layer" not in again.output
    assert "demo checklists" not in again.output  # answered once, not again
    listed = runner.invoke(cli, ["--instance", str(tmp_path), "projects", "list"])
    assert listed.output.strip().endswith(f"{expected} projects")


def test_demo_generates_the_same_town_as_sample_data(runner: CliRunner, tmp_path: Path) -> None:
    generated = runner.invoke(cli, ["--instance", str(tmp_path / "a"), "demo"])
    assert generated.exit_code == 0, generated.output
    from_files = runner.invoke(
        cli, ["--instance", str(tmp_path / "b"), "demo", "--source", str(SAMPLE_DATA)]
    )
    exports = [
        json.loads(
            runner.invoke(cli, ["--instance", str(tmp_path / name), "projects", "export"]).output
        )
        for name in ("a", "b")
    ]
    assert from_files.exit_code == 0
    strip = [[f["geometry"] for f in e["features"]] for e in exports]
    assert strip[0] == strip[1]


def test_list_filters_and_export_geojson(runner: CliRunner, tmp_path: Path) -> None:
    app = create_app({"instance_path": tmp_path})
    client = client_as(app, "h.planner")
    client.post("/api/projects", json=feature(title="Fahrbahnerneuerung Ringstraße"))
    client.post(
        "/api/projects",
        json=feature(
            title="Kanalsanierung Ringstraße",
            department="drainage",
            measure_type="sewer_rehabilitation",
        ),
    )
    app.extensions["zugabe"].close()

    listed = runner.invoke(
        cli, ["--instance", str(tmp_path), "projects", "list", "--department", "drainage"]
    )
    assert listed.exit_code == 0, listed.output
    assert "Kanalsanierung Ringstraße" in listed.output
    assert "Fahrbahnerneuerung" not in listed.output

    out = tmp_path / "export.geojson"
    exported = runner.invoke(
        cli,
        ["--instance", str(tmp_path), "projects", "export", "--format", "geojson", "-o", str(out)],
    )
    assert exported.exit_code == 0, exported.output
    collection = json.loads(out.read_text())
    assert collection["type"] == "FeatureCollection"
    assert sorted(f["properties"]["title"] for f in collection["features"]) == [
        "Fahrbahnerneuerung Ringstraße",
        "Kanalsanierung Ringstraße",
    ]


def test_bad_filter_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        cli, ["--instance", str(tmp_path), "projects", "list", "--status", "finished"]
    )
    assert result.exit_code != 0
    assert "unknown status 'finished'" in str(result.exception)


def test_layers_import_list_remove(runner: CliRunner, tmp_path: Path, shared_data: Path) -> None:
    basins = shared_data / "nrw_rur_wasser" / "regenbecken.geojson"
    instance = ["--instance", str(tmp_path), "--user", "wasserverband"]
    admin = ["users", "add", "r.admin", "--name", "Regions-Admin", "--role", "region_admin"]
    added = runner.invoke(cli, [*instance[:2], *admin, "--no-password"])
    assert added.exit_code == 0, added.output
    steward = ["users", "add", "wasserverband", "--name", "Wasserverband", "--role", "data_steward"]
    added = runner.invoke(
        cli, [*instance[:2], "--user", "r.admin", *steward, "--theme", "*", "--no-password"]
    )
    assert added.exit_code == 0, added.output
    imported = runner.invoke(
        cli, [*instance, "layers", "import", str(basins), "--layer", "stormwater_basins"]
    )
    assert imported.exit_code == 0, imported.output
    assert "layer stormwater_basins version 1 from regenbecken.geojson" in imported.output
    assert "accepted 70 (repaired 0), refused 0" in imported.output
    assert "transformation:" in imported.output
    listed = runner.invoke(cli, [*instance, "layers", "list"])
    assert "stormwater_basins" in listed.output and "70 features" in listed.output
    assert "by wasserverband" in listed.output
    removed = runner.invoke(cli, [*instance, "layers", "remove", "stormwater_basins"])
    assert removed.exit_code == 0
    assert "stormwater_basins" not in runner.invoke(cli, [*instance, "layers", "list"]).output


def test_layers_import_refusal_is_a_message(runner: CliRunner, tmp_path: Path) -> None:
    """Through the real entry point: a CSV without CRS gets a message and exit code 2."""
    import subprocess
    import sys

    admin = ["users", "add", "gis", "--name", "GIS", "--role", "region_admin", "--no-password"]
    assert runner.invoke(cli, ["--instance", str(tmp_path), *admin]).exit_code == 0
    csv = tmp_path / "baeume.csv"
    csv.write_text("x;y;art\n377000;5708000;Linde\n")
    zugabe = Path(sys.executable).with_name("zugabe")
    result = subprocess.run(
        [
            str(zugabe),
            "--instance",
            str(tmp_path),
            "--user",
            "gis",
            "layers",
            "import",
            str(csv),
            "--layer",
            "trees",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "give it with source_crs (--source-crs)" in result.stderr
    assert "Traceback" not in result.stderr
