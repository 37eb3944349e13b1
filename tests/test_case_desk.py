"""The coordination desk through the API: two organisations take one case from detection
through assignment and proposal to agreement — one organisation, one vote — and a later
change of a subject reopens it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import client_as, feature
from zugabe.cli import cli

LINE = {"type": "LineString", "coordinates": [[7.2101, 51.5402], [7.2135, 51.5411]]}
MOVED = {"type": "LineString", "coordinates": [[7.2101, 51.5402], [7.2150, 51.5414]]}
DE = {"Accept-Language": "de"}


def created(client: FlaskClient, doc: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/projects", json=doc)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def clients(app: Flask) -> dict[str, FlaskClient]:
    names = ("h.planner", "h.coordinator", "b.planner", "b.coordinator", "r.admin", "h.viewer")
    return {name: client_as(app, name) for name in names}


@pytest.fixture
def shared_case(clients: dict[str, FlaskClient]) -> dict[str, Any]:
    """A Herne road and a Bochum sewer in the same street: one synergy case of both."""
    created(clients["h.planner"], feature(LINE, title="Fahrbahn Ringstraße"))
    sewer = created(
        clients["b.planner"],
        feature(
            LINE,
            title="Kanal Ringstraße",
            organisation="bochum",
            department="drainage",
            measure_type="sewer_rehabilitation",
            start="2027-05-01",
            end="2027-12-31",
        ),
    )
    [case] = [c for c in sewer["cases"] if c["properties"]["rule"] == "road_works_sewer_bundle"]
    assert case["properties"]["organisations"] == ["bochum", "herne"]
    return sewer | {"case_id": case["id"]}


def step(client: FlaskClient, method: str, path: str, body: Any, status: int) -> dict[str, Any]:
    response = client.open(path, method=method, json=body, headers=DE)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_two_organisations_agree_on_a_case(
    clients: dict[str, FlaskClient], shared_case: dict[str, Any]
) -> None:
    url = f"/api/cases/{shared_case['case_id']}"
    h, b = clients["h.coordinator"], clients["b.coordinator"]

    # Herne's coordinator gives it to a Bochum planner: in coordination, due before the start.
    case = step(h, "PUT", f"{url}/assignee", {"assignee": "b.planner"}, 200)
    props = case["properties"]
    assert (props["status"], props["assignee"]) == ("in_coordination", "b.planner")
    assert props["due_date"] == "2027-01-18" and not props["due_date_set"]  # 42 days before
    # Anyone of an organisation involved may take it, a viewer too; nobody else.
    viewer = step(h, "PUT", f"{url}/assignee", {"assignee": "h.viewer"}, 200)
    assert viewer["properties"]["assignee"] == "h.viewer"
    admin = step(h, "PUT", f"{url}/assignee", {"assignee": "r.admin"}, 422)
    assert admin["detail"] == "„r.admin“ gehört zu keiner an Fall 1 beteiligten Organisation."
    case = step(h, "PUT", f"{url}/due-date", {"due_date": "2026-12-20"}, 200)
    assert case["properties"]["due_date"] == "2026-12-20" and case["properties"]["due_date_set"]

    # A proposal waits for both organisations.
    proposal = {
        "kind": "bundle_works",
        "text": "Kanal und Fahrbahn in einer Baustelle, Kanal zuerst.",
        "measures": ["gemeinsame Ausschreibung", "eine Verkehrsführung"],
    }
    case = step(h, "POST", f"{url}/proposal", proposal, 201)
    decision = case["properties"]["decision"]
    assert case["properties"]["status"] == "proposed"
    assert decision["waiting_for"] == ["bochum", "herne"]
    assert decision["measures"] == proposal["measures"]

    # Herne agrees, once; Bochum objects, with a reason: back to the proposal stage.
    case = step(h, "POST", f"{url}/votes", {"vote": "agree"}, 201)
    assert case["properties"]["decision"]["waiting_for"] == ["bochum"]
    again = step(h, "POST", f"{url}/votes", {"vote": "agree"}, 409)
    assert "eine Organisation, eine Stimme" in again["detail"]
    step(b, "POST", f"{url}/votes", {"vote": "object"}, 422)  # an objection needs a reason
    case = step(b, "POST", f"{url}/votes", {"vote": "object", "reason": "Erst 2028."}, 201)
    assert case["properties"]["status"] == "in_coordination"
    assert case["properties"]["decision"] is None
    assert [d["state"] for d in case["decisions"]] == ["sent_back"]

    # A second proposal, agreed by both: the case is agreed and frozen.
    proposal["text"] = "Kanal und Fahrbahn 2028 in einer Baustelle."
    step(b, "POST", f"{url}/proposal", proposal, 201)
    step(b, "POST", f"{url}/votes", {"vote": "agree"}, 201)
    case = step(h, "POST", f"{url}/votes", {"vote": "agree", "reason": "passt"}, 201)
    props = case["properties"]
    assert props["status"] == "agreed"
    record = props["decision"]
    assert record["state"] == "agreed" and record["waiting_for"] == []
    assert [(v["organisation"], v["choice"], v["by"]) for v in record["votes"]] == [
        ("bochum", "agree", "b.coordinator"),
        ("herne", "agree", "h.coordinator"),
    ]
    frozen = step(h, "POST", f"{url}/status", {"status": "open"}, 409)
    assert "kann nicht von agreed zu open wechseln" in frozen["detail"]
    frozen = step(h, "PUT", f"{url}/assignee", {"assignee": None}, 409)
    assert "vereinbart und eingefroren" in frozen["detail"]

    # The history is told in the reader's language, from structured events.
    german = [h["text"] for h in case["history"]]
    assert german[0] == "Fall erkannt"
    assert "zugewiesen an B Planner" in german  # display names, not usernames
    assert "Frist 20.12.2026" in german
    assert "Stadt Bochum: erhebt Einwand – Erst 2028." in german
    assert "zurück zum Vorschlag: Einwand von Stadt Bochum" in german
    assert german[-1] == "vereinbart: alle beteiligten Organisationen haben zugestimmt"
    english = h.get(url, headers={"Accept-Language": "en"}).get_json()["history"]
    assert english[-1]["text"] == "agreed: every organisation involved agreed"
    assert english[-1]["event"] == "agreed"


def test_a_change_of_a_subject_reopens_an_agreed_case(
    clients: dict[str, FlaskClient], shared_case: dict[str, Any]
) -> None:
    url = f"/api/cases/{shared_case['case_id']}"
    h, b = clients["h.coordinator"], clients["b.coordinator"]
    step(h, "POST", f"{url}/proposal", {"kind": "shared_trench", "text": "Ein Graben."}, 201)
    step(h, "POST", f"{url}/votes", {"vote": "agree"}, 201)
    step(b, "POST", f"{url}/votes", {"vote": "agree"}, 201)

    moved = clients["b.planner"].patch(
        f"/api/projects/{shared_case['id']}", json={"geometry": MOVED}
    )
    assert moved.status_code == 200, moved.get_json()
    case = h.get(url, headers=DE).get_json()
    assert case["properties"]["status"] == "open"
    assert case["properties"]["decision"] is None
    assert [d["state"] for d in case["decisions"]] == ["reopened"]
    last = case["history"][-1]
    assert last["event"] == "reopened_after_change"
    assert last["text"].startswith("wieder offen, weil sich ein Beteiligter geändert hat: ")
    assert "Überlappungslänge" in last["text"]
    # The agreement that was is still on record, with its votes.
    assert len(case["decisions"][0]["votes"]) == 2


def test_only_coordinators_of_involved_organisations_vote(
    clients: dict[str, FlaskClient], shared_case: dict[str, Any]
) -> None:
    url = f"/api/cases/{shared_case['case_id']}"
    step(clients["h.coordinator"], "POST", f"{url}/proposal", {"kind": "other", "text": "x"}, 201)
    for name in ("h.planner", "r.admin", "h.viewer"):
        response = clients[name].post(f"{url}/votes", json={"vote": "agree"})
        assert response.status_code == 403, name
    # Withdrawn, the proposal takes no more votes.
    case = step(clients["b.coordinator"], "DELETE", f"{url}/proposal", None, 200)
    assert case["properties"]["status"] == "in_coordination"
    step(clients["h.coordinator"], "POST", f"{url}/votes", {"vote": "agree"}, 409)


def test_assignees_are_people_of_the_organisations_involved(
    clients: dict[str, FlaskClient], shared_case: dict[str, Any]
) -> None:
    url = f"/api/cases/{shared_case['case_id']}"
    people = clients["h.coordinator"].get(f"{url}/assignees").get_json()
    assert {p["organisation"] for p in people} == {"bochum", "herne"}
    assert "r.admin" not in {p["username"] for p in people}
    bad = step(clients["h.coordinator"], "PUT", f"{url}/assignee", {"assignee": "nobody"}, 422)
    assert bad["errors"][0]["pointer"] == "/assignee"


def test_the_inbox_lists_my_organisations_cases_most_urgent_first(
    clients: dict[str, FlaskClient], shared_case: dict[str, Any]
) -> None:
    b = clients["b.coordinator"]
    page = b.get("/api/inbox?limit=500").get_json()
    ids = [f["id"] for f in page["features"]]
    assert shared_case["case_id"] in ids
    assert all("bochum" in f["properties"]["organisations"] for f in page["features"])
    starts = [f["properties"]["window_start"] or "9999" for f in page["features"]]
    assert starts == sorted(starts)
    unread_before = page["unread"]
    assert unread_before >= 1

    # Herne's step makes the case new to Bochum again; Bochum's reading takes it away.
    b.post("/api/inbox/seen", json={"all": True})
    assert b.get("/api/inbox?unread=true").get_json()["numberMatched"] == 0
    url = f"/api/cases/{shared_case['case_id']}"
    step(clients["h.coordinator"], "PUT", f"{url}/assignee", {"assignee": "b.planner"}, 200)
    fresh = b.get("/api/inbox?unread=true").get_json()
    assert [f["id"] for f in fresh["features"]] == [shared_case["case_id"]]
    assert fresh["unread"] == 1
    # Herne's coordinator did it: nothing new for them.
    assert shared_case["case_id"] not in [
        f["id"]
        for f in clients["h.coordinator"].get("/api/inbox?unread=true").get_json()["features"]
    ]
    b.post("/api/inbox/seen", json={"cases": [shared_case["case_id"]]})
    assert b.get("/api/inbox").get_json()["unread"] == 0

    mine = clients["b.planner"].get("/api/inbox?assigned=me").get_json()
    assert [f["id"] for f in mine["features"]] == [shared_case["case_id"]]
    step(clients["h.coordinator"], "POST", f"{url}/proposal", {"kind": "other", "text": "x"}, 201)
    waiting = b.get("/api/inbox?waiting=me").get_json()
    assert [f["id"] for f in waiting["features"]] == [shared_case["case_id"]]
    step(b, "POST", f"{url}/votes", {"vote": "agree"}, 201)
    assert b.get("/api/inbox?waiting=me").get_json()["numberMatched"] == 0
    assert b.get("/api/inbox?status=agreed").get_json()["numberMatched"] == 0


def test_the_inbox_refuses_what_it_does_not_know(clients: dict[str, FlaskClient]) -> None:
    b = clients["b.coordinator"]
    assert b.get("/api/inbox?due=tomorrow").status_code == 400
    assert b.get("/api/inbox?status=obsolete").status_code == 400
    assert b.get("/api/inbox?colour=red").status_code == 400
    assert clients["r.admin"].get("/api/inbox").status_code == 403  # no organisation


def test_zugabe_inbox_prints_the_same_cases(
    app: Flask,
    instance_path: Path,
    clients: dict[str, FlaskClient],
    shared_case: dict[str, Any],
    runner: CliRunner,
) -> None:
    url = f"/api/cases/{shared_case['case_id']}"
    step(clients["h.coordinator"], "PUT", f"{url}/assignee", {"assignee": "b.planner"}, 200)
    api = clients["b.planner"].get("/api/inbox?assigned=me").get_json()
    args = ["--instance", str(instance_path), "--user", "b.planner", "inbox", "--assigned-to-me"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert [int(line.split("\t")[0]) for line in lines] == [f["id"] for f in api["features"]]
    assert lines[0].split("\t")[2:4] == ["in_coordination", "synergy"]
    assert "1 cases, 1 new" in result.stderr
    nobody = runner.invoke(cli, ["--instance", str(instance_path), "inbox"])
    assert nobody.exit_code == 2 and "--user NAME" in nobody.output


def test_a_comment_is_news_to_the_others_not_to_its_author(
    clients: dict[str, FlaskClient], shared_case: dict[str, Any]
) -> None:
    for name in ("b.coordinator", "h.planner"):
        clients[name].post("/api/inbox/seen", json={"all": True})
    url = f"/api/cases/{shared_case['case_id']}"
    said = clients["h.planner"].post(f"{url}/comments", json={"text": "Termin am 12.3."})
    assert said.status_code == 201
    fresh = clients["b.coordinator"].get("/api/inbox?unread=true").get_json()
    assert [f["id"] for f in fresh["features"]] == [shared_case["case_id"]]
    assert clients["h.planner"].get("/api/inbox?unread=true").get_json()["numberMatched"] == 0
