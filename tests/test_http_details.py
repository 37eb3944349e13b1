"""Issue 11, item 13: small things with big effects, as a client meets them."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import VALID_FEATURE, client_as, feature

ZUGABE = str(Path(sys.executable).with_name("zugabe"))


def test_a_project_etag_changes_when_its_cases_change(app: Flask) -> None:
    """A cached 304 must not show a reviewer a case status that is no longer true."""
    planner = client_as(app, "h.planner")
    road = planner.post("/api/projects", json=VALID_FEATURE).get_json()
    planner.post(
        "/api/projects",
        json=feature(department="drainage", measure_type="sewer_rehabilitation", title="Kanal"),
    )
    url = f"/api/projects/{road['id']}"
    first = planner.get(url)
    [case, *_] = first.get_json()["cases"]
    assert planner.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    coordinator = client_as(app, "h.coordinator")
    changed = coordinator.post(
        f"/api/cases/{case['id']}/status", json={"status": "in_coordination"}
    )
    assert changed.status_code == 200
    again = planner.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200  # not the cached answer
    assert again.headers["ETag"] != first.headers["ETag"]
    assert again.get_json()["properties"]["version"] == 1  # the project itself is unchanged
    statuses = {c["id"]: c["properties"]["status"] for c in again.get_json()["cases"]}
    assert statuses[case["id"]] == "in_coordination"
    # If-Match still guards the project's own version, in either form.
    patched = planner.patch(
        url, json={"properties": {"contact": "A"}}, headers={"If-Match": again.headers["ETag"]}
    )
    assert patched.get_json()["properties"]["version"] == 2
    patched = planner.patch(
        url, json={"properties": {"contact": "B"}}, headers={"If-Match": '"v2"'}
    )
    assert patched.get_json()["properties"]["version"] == 3
    stale = planner.patch(url, json={"properties": {"contact": "C"}}, headers={"If-Match": '"v2"'})
    assert stale.status_code == 412


def test_csv_answers_name_their_charset_once(client: FlaskClient) -> None:
    client.post("/api/projects", json=VALID_FEATURE)
    for url in (
        "/api/export/projects.csv",
        "/api/export/cases.csv",
        "/api/audit.csv",
        "/reports/organisations/herne/cases.csv",
    ):
        content_type = client.get(url).headers["Content-Type"]
        assert content_type == "text/csv; charset=utf-8", url


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [ZUGABE, "--instance", str(tmp_path / "i"), "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"zugabe: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_demo_summary_counts_live_cases_only(tmp_path: Path) -> None:
    """An obsolete case (its project was deleted) is history, not a live case."""
    from click.testing import CliRunner

    from tests.conftest import ADMIN
    from zugabe.cli import cli
    from zugabe.domain.cases import LIVE_STATUSES
    from zugabe.storage.contract import CaseQuery
    from zugabe.web import create_app

    sample = Path(__file__).resolve().parents[1] / "sample_data"
    base = ["--instance", str(tmp_path / "i"), "demo", "--source", str(sample)]
    assert CliRunner().invoke(cli, base).exit_code == 0
    app = create_app({"instance_path": tmp_path / "i", "demo_instance": True})
    services = app.extensions["zugabe"]
    busiest = max(range(1, 151), key=lambda pid: len(services.cases.of_project(pid)))
    services.projects.delete(busiest, ADMIN, None)
    live = services.cases.list(ADMIN, CaseQuery(statuses=LIVE_STATUSES, limit=1))[1]
    everything = services.cases.list(ADMIN, CaseQuery(limit=1))[1]
    services.close()
    assert live < everything
    again = CliRunner().invoke(cli, base)
    assert f"coordination cases: {live} live" in again.output
