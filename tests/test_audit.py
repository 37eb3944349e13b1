"""The audit log: every change and sign-in, hash-chained, readable by region admins, and a
verification that names the first entry changed or deleted behind ZUGABE's back."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import ADMIN, VALID_FEATURE, client_as, feature
from zugabe.cli import cli
from zugabe.domain.audit import AuditEntry
from zugabe.services import Services
from zugabe.storage.contract import AuditQuery

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def _entries(app: Flask, **filters: str) -> list[AuditEntry]:
    services: Services = app.extensions["zugabe"]
    return services.store.list_audit(AuditQuery(**filters))  # type: ignore[arg-type]


def test_project_changes_are_recorded_with_before_and_after(app: Flask) -> None:
    planner = client_as(app, "h.planner")
    created = planner.post("/api/projects", json=VALID_FEATURE).get_json()
    pid = created["id"]
    planner.patch(
        f"/api/projects/{pid}",
        json={"properties": {"status": "approved"}},
        headers={"If-Match": '"v1"'},
    )
    planner.delete(f"/api/projects/{pid}")
    entries = _entries(app, action="project.")
    assert [e.event.action for e in entries] == [
        "project.create",
        "project.update",
        "project.delete",
    ]
    create, update, delete = (e.event for e in entries)
    assert {e.actor for e in (create, update, delete)} == {"h.planner"}
    assert create.object_id == update.object_id == delete.object_id == str(pid)
    assert (
        create.after is not None and create.after["title"] == VALID_FEATURE["properties"]["title"]
    )
    assert create.after["geometry"].startswith("LINESTRING")
    assert update.before == {"status": "planning"} and update.after == {"status": "approved"}
    assert delete.before is not None and delete.before["status"] == "approved"
    assert create.address == "127.0.0.1"


def test_a_refused_change_leaves_no_entry(app: Flask) -> None:
    planner = client_as(app, "h.planner")
    pid = planner.post("/api/projects", json=VALID_FEATURE).get_json()["id"]
    stale = planner.patch(
        f"/api/projects/{pid}",
        json={"properties": {"status": "done"}},
        headers={"If-Match": '"v7"'},
    )
    assert stale.status_code == 412
    other = client_as(app, "b.planner").delete(f"/api/projects/{pid}")
    assert other.status_code == 403
    assert [e.event.action for e in _entries(app, action="project.")] == ["project.create"]


def test_cases_layers_accounts_and_tokens_are_recorded(app: Flask, client: FlaskClient) -> None:
    services: Services = app.extensions["zugabe"]
    services.layers.import_file(
        SAMPLE / "layers" / "stormwater_basins.geojson", "stormwater_basins", ADMIN
    )
    a = client.post("/api/projects", json=VALID_FEATURE).get_json()
    client.post(
        "/api/projects",
        json=feature(
            department="drainage", measure_type="sewer_rehabilitation", title="Kanal Bahnhofstraße"
        ),
    )
    case_id = (
        a["cases"][0]["id"]
        if a["cases"]
        else client.get("/api/cases").get_json()["features"][0]["id"]
    )
    client.post(f"/api/cases/{case_id}/comments", json={"text": "=SUMME(A1)"})
    client.post(f"/api/cases/{case_id}/status", json={"status": "in_coordination"})
    client.delete("/api/layers/stormwater_basins")
    client.post("/api/tokens", json={"name": "QGIS"})
    client.patch("/api/accounts/r.admin", json={"roles": ["region_admin", "viewer"]})
    actions = [e.event.action for e in _entries(app)]
    for expected in (
        "layer.import",
        "case.comment",
        "case.status",
        "layer.remove",
        "token.create",
        "account.roles",
    ):
        assert expected in actions, expected
    status = _entries(app, action="case.status")[0].event
    assert status.before == {"status": "open"}
    assert status.after == {"status": "in_coordination"}
    token = _entries(app, action="token.create")[-1].event  # the first is the fixture's
    assert "token" not in (token.after or {}) and token.after["name"] == "QGIS"  # type: ignore[index]


def test_sign_ins_and_failures_are_recorded(app: Flask, anonymous: FlaskClient) -> None:
    import re

    from tests.test_auth import PASSWORD, _person

    _person(app)
    for password in ("wrong-wrong-wrong", PASSWORD):
        page = anonymous.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        anonymous.post(
            "/login", data={"username": "a.yilmaz", "password": password, "csrf_token": token[1]}
        )
    failed, signed_in = _entries(app, action="auth.")
    assert failed.event.action == "auth.sign_in_failed" and failed.event.object_id == "a.yilmaz"
    assert failed.event.address == "127.0.0.1"
    assert signed_in.event.action == "auth.sign_in" and signed_in.event.actor == "a.yilmaz"
    assert PASSWORD not in str([failed, signed_in])


def test_audit_api_is_for_region_admins_with_filters_and_csv(
    app: Flask, client: FlaskClient
) -> None:
    client_as(app, "h.planner").post("/api/projects", json=feature(title='=HYPERLINK("x")'))
    assert client_as(app, "h.viewer").get("/api/audit").status_code == 403
    body = client.get("/api/audit?action=project.&actor=h.planner").get_json()
    assert body["numberMatched"] == 1
    [entry] = body["entries"]
    assert entry["action"] == "project.create" and len(entry["hash"]) == 64
    response = client.get("/api/audit.csv?action=project.")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:5] == ["seq", "at", "actor", "address", "action"]
    assert len(rows) == 2
    # a spreadsheet must not run a title as a formula
    assert all(not cell.startswith("=") for cell in rows[1])


def _instance_with_entries(tmp_path: Path, runner: CliRunner) -> Path:
    instance = tmp_path / "instance"
    base = ["--instance", str(instance)]
    result = runner.invoke(
        cli,
        [
            *base,
            "users",
            "add",
            "r.root",
            "--name",
            "Root",
            "--role",
            "region_admin",
            "--no-password",
        ],
    )
    assert result.exit_code == 0, result.output
    for name in ("q.one", "q.two", "q.three"):
        result = runner.invoke(
            cli,
            [
                *base,
                "--user",
                "r.root",
                "users",
                "add",
                name,
                "--name",
                name,
                "--organisation",
                "herne",
                "--role",
                "viewer",
                "--no-password",
            ],
        )
        assert result.exit_code == 0, result.output
    return instance


def test_audit_verify_names_the_entry_edited_behind_zugabes_back(
    tmp_path: Path, runner: CliRunner
) -> None:
    instance = _instance_with_entries(tmp_path, runner)
    base = ["--instance", str(instance)]
    intact = runner.invoke(cli, [*base, "audit", "verify"])
    assert intact.exit_code == 0, intact.output
    assert "intact: 4 entries" in intact.output
    with sqlite3.connect(instance / "zugabe.sqlite") as conn:
        conn.execute("UPDATE audit_log SET actor = 'someone.else' WHERE seq = 2")
    broken = runner.invoke(cli, [*base, "audit", "verify"])
    assert broken.exit_code == 1
    assert "entry 2" in broken.output and "changed" in broken.output


def test_audit_verify_notices_deleted_entries(tmp_path: Path, runner: CliRunner) -> None:
    instance = _instance_with_entries(tmp_path, runner)
    base = ["--instance", str(instance)]
    with sqlite3.connect(instance / "zugabe.sqlite") as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 4")  # the newest
    newest = runner.invoke(cli, [*base, "audit", "verify"])
    assert newest.exit_code == 1 and "entries 4 to 4 were deleted" in newest.output
    with sqlite3.connect(instance / "zugabe.sqlite") as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 2")  # one in the middle
    middle = runner.invoke(cli, [*base, "audit", "verify"])
    assert middle.exit_code == 1 and "entry 2 is missing" in middle.output


def test_cli_writes_need_an_existing_account(tmp_path: Path, runner: CliRunner) -> None:
    instance = _instance_with_entries(tmp_path, runner)
    base = ["--instance", str(instance)]
    anonymous = runner.invoke(cli, [*base, "users", "disable", "q.one"])
    assert anonymous.exit_code == 2 and "--user" in anonymous.output
    unknown = runner.invoke(cli, [*base, "--user", "ghost", "users", "disable", "q.one"])
    assert unknown.exit_code == 2 and "no active account" in unknown.output
    done = runner.invoke(cli, [*base, "--user", "r.root", "users", "disable", "q.one"])
    assert done.exit_code == 0, done.output
    listed = runner.invoke(cli, [*base, "audit", "list", "--action", "account.disable"])
    assert "r.root" in listed.output and "cli:" in listed.output
