"""Coordination cases through the API: found on save, reviewed, kept stable."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient
from shapely.geometry import shape

import zugabe.services.accounts as accounts_service
from tests.conftest import actor_for, client_as, feature
from zugabe.services import Services
from zugabe.services.rendered_features import RenderedFeatures
from zugabe.storage.contract import CaseQuery

LINE = {"type": "LineString", "coordinates": [[7.2101, 51.5402], [7.2135, 51.5411]]}


def save(client: FlaskClient, doc: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/projects", json=doc)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def road_and_sewer(client: FlaskClient) -> tuple[dict[str, Any], dict[str, Any]]:
    road = save(client, feature(LINE, title="Fahrbahnerneuerung Ringstraße"))
    sewer = save(
        client,
        feature(
            LINE,
            title="Kanalsanierung Ringstraße",
            department="drainage",
            measure_type="sewer_rehabilitation",
            start="2028-03-01",
            end="2028-12-31",
        ),
    )
    return road, sewer


def test_saving_a_project_shows_its_cases_at_once(client: FlaskClient) -> None:
    road, sewer = road_and_sewer(client)
    assert road["cases"] == []
    rules = {c["properties"]["rule"] for c in sewer["cases"]}
    assert "road_works_sewer_bundle" in rules
    case = next(c for c in sewer["cases"] if c["properties"]["rule"] == "road_works_sewer_bundle")
    props = case["properties"]
    assert props["relation"] == "synergy" and props["status"] == "open"
    assert {props["subject_a"]["ref"], props["subject_b"]["ref"]} == {
        str(road["id"]),
        str(sewer["id"]),
    }
    assert "drainage" in props["departments"] and "roads" in props["departments"]
    assert props["message"]["de"] and props["message"]["en"]
    # The road now shows the same case.
    again = client.get(f"/api/projects/{road['id']}").get_json()
    assert case["id"] in [c["id"] for c in again["cases"]]


def test_case_identity_survives_recomputation_and_obsolete_when_cause_goes(
    client: FlaskClient,
) -> None:
    _road, sewer = road_and_sewer(client)
    case_ids = sorted(c["id"] for c in sewer["cases"])
    assert client.post("/api/cases/detect").get_json()["created"] == 0
    assert (
        sorted(c["id"] for c in client.get("/api/projects/" + str(sewer["id"])).get_json()["cases"])
        == case_ids
    )
    # Move the sewer works ten years later: the bundle case loses its cause.
    moved = client.patch(
        f"/api/projects/{sewer['id']}",
        json={"properties": {"start": "2038-01-01", "end": "2038-12-31"}},
    ).get_json()
    assert "road_works_sewer_bundle" not in {c["properties"]["rule"] for c in moved["cases"]}
    bundle = next(
        i
        for i in case_ids
        if client.get(f"/api/cases/{i}").get_json()["properties"]["rule"]
        == "road_works_sewer_bundle"
    )
    detail = client.get(f"/api/cases/{bundle}").get_json()
    assert detail["properties"]["status"] == "obsolete"
    assert detail["history"][-1]["event"] == "obsoleted"
    assert detail["history"][-1]["text"] == "obsolete: the rule no longer applies to this pair"
    assert detail["properties"]["status_reason"] == "the rule no longer applies to this pair"
    # Back to 2028: the same case reopens, no duplicate.
    client.patch(
        f"/api/projects/{sewer['id']}",
        json={"properties": {"start": "2028-03-01", "end": "2028-12-31"}},
    )
    assert client.get(f"/api/cases/{bundle}").get_json()["properties"]["status"] == "open"
    listed = client.get("/api/cases?rule=road_works_sewer_bundle").get_json()
    assert listed["numberMatched"] == 1


def test_review_workflow(app: Flask, client: FlaskClient) -> None:
    _road, sewer = road_and_sewer(client)
    case_id = sewer["cases"][0]["id"]
    url = f"/api/cases/{case_id}"
    response = client_as(app, "h.coordinator").post(
        f"{url}/status", json={"status": "in_coordination"}, headers={"If-Match": '"v1"'}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["properties"]["status"] == "in_coordination"
    stale = client.post(f"{url}/status", json={"status": "open"}, headers={"If-Match": '"v1"'})
    assert stale.status_code == 412
    unknown = client.post(f"{url}/status", json={"status": "dismissed"})
    assert unknown.status_code == 422
    assert unknown.get_json()["errors"][0]["pointer"] == "/status"
    # Agreeing is not a click: it takes a proposal and every organisation's vote.
    bad = client.post(f"{url}/status", json={"status": "agreed"})
    assert bad.status_code == 409  # well formed, but not from this status
    assert "a case is agreed when every organisation involved agreed" in bad.get_json()["detail"]
    back = client.post(f"{url}/status", json={"status": "open"})
    assert back.get_json()["properties"]["status"] == "open"
    commented = client_as(app, "h.planner").post(
        f"{url}/comments", json={"text": "Abstimmung am 12.3. im Tiefbauamt"}
    )
    assert commented.status_code == 201
    detail = commented.get_json()
    assert detail["comments"][-1]["by"] == "h.planner"
    steps = [(h["event"], h["by"], h["text"]) for h in detail["history"]]
    assert steps[1:] == [
        ("status_changed", "h.coordinator", "status open → in coordination"),
        ("status_changed", "r.admin", "status in coordination → open"),
        ("commented", "h.planner", "comment written"),
    ]
    assert client.post(f"{url}/comments", json={"text": "  "}).status_code == 422
    assert client.get("/api/cases/9999").status_code == 404


def test_deleting_a_project_makes_its_cases_obsolete(client: FlaskClient) -> None:
    road, sewer = road_and_sewer(client)
    case_id = sewer["cases"][0]["id"]
    assert client.delete(f"/api/projects/{road['id']}").status_code == 204
    detail = client.get(f"/api/cases/{case_id}").get_json()
    assert detail["properties"]["status"] == "obsolete"
    assert detail["history"][-1]["text"] == f"obsolete: project {road['id']} was deleted"
    german = client.get(f"/api/cases/{case_id}", headers={"Accept-Language": "de"}).get_json()
    assert german["properties"]["status_reason"] == f"Maßnahme {road['id']} wurde gelöscht"


def test_case_filters(client: FlaskClient) -> None:
    road_and_sewer(client)
    assert client.get("/api/cases?relation=synergy").get_json()["numberMatched"] >= 1
    assert (
        client.get("/api/cases?relation=conflict&rule=road_works_sewer_bundle").get_json()[
            "numberMatched"
        ]
        == 0
    )
    assert client.get("/api/cases?department=drainage").get_json()["numberMatched"] >= 1
    assert client.get("/api/cases?organisation=gelsenwasser").get_json()["numberMatched"] == 0
    assert client.get("/api/cases?bbox=7.20,51.53,7.22,51.55").get_json()["numberMatched"] >= 1
    assert client.get("/api/cases?bbox=8.0,52.0,8.1,52.1").get_json()["numberMatched"] == 0
    assert client.get("/api/cases?status=finished").status_code == 400


def test_case_detail_shows_a_layer_feature_with_its_derived_zone(client: FlaskClient) -> None:
    trees = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"Baum-Nr": "HER-0042", "Baumart": "Linde", "Kronenradius": 4.0},
                "geometry": {"type": "Point", "coordinates": [7.2118, 51.54065]},
            }
        ],
    }
    data = {"file": (io.BytesIO(json.dumps(trees).encode()), "trees.geojson")}
    assert client.post("/api/layers/trees", data=data).status_code == 201
    trench = save(
        client,
        feature(
            LINE,
            title="Kanalsanierung Ringstraße",
            department="drainage",
            measure_type="sewer_rehabilitation",
        ),
    )
    [case] = [c for c in trench["cases"] if c["properties"]["rule"] == "excavation_root_protection"]
    detail = client.get(f"/api/cases/{case['id']}").get_json()
    project_side, tree_side = detail["subjects"]
    assert project_side["geometry"]["type"] == "LineString"
    assert tree_side["layer"] == "trees" and tree_side["ref"] == "HER-0042"
    assert tree_side["geometry"] == {"type": "Point", "coordinates": [7.2118, 51.54065]}
    zone = shape(tree_side["derived_geometry"])
    assert zone.geom_type == "Polygon" and zone.contains(shape(tree_side["geometry"]))
    # Removing the layer leaves the case's tree without geometry, not an error.
    assert client.delete("/api/layers/trees").status_code == 204
    gone = client.get(f"/api/cases/{case['id']}").get_json()["subjects"][1]
    assert gone["ref"] == "HER-0042" and gone["geometry"] is None


def test_the_case_list_shows_each_change_at_once_whoever_made_it(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listed case is kept rendered by its stored state (``RenderedFeatures``): a step at
    the desk, a comment, a recomputation and a renamed assignee show in the next list,
    made through this process or another (a second ``Services`` on the store, as a second
    worker)."""
    monkeypatch.setattr(accounts_service, "_NAMES_TTL_S", 0.0)  # names read on every use
    road, sewer = road_and_sewer(client)
    case_id = next(
        c["id"] for c in sewer["cases"] if c["properties"]["rule"] == "road_works_sewer_bundle"
    )

    def listed() -> dict[str, Any]:
        page = client.get("/api/cases?bbox=7.20,51.53,7.22,51.55").get_json()["features"]
        return next(f for f in page if f["id"] == case_id)

    first = listed()
    assert listed() == first  # kept: the same again
    other = Services.open(app.extensions["zugabe"].settings)
    try:
        coordinator = actor_for(other, "h.coordinator")
        other.desk.assign(case_id, "h.coordinator", coordinator, first["properties"]["version"])
        assigned = listed()["properties"]
        assert assigned["assignee"] == "h.coordinator"
        assert assigned["version"] == first["properties"]["version"] + 1
        account = other.store.find_account("h.coordinator")
        assert account is not None
        other.store.update_account(account.id, {"display_name": "Hanna Umbenannt"})
        assert listed()["properties"]["assignee_name"] == "Hanna Umbenannt"
        other.cases.comment(case_id, "Termin steht", coordinator)
        assert listed()["properties"]["updated_at"] > assigned["updated_at"]
    finally:
        other.close()
    # Recomputed here: the road gets another title, which the case's message names.
    road_now = client.get(f"/api/projects/{road['id']}")
    renamed = feature(LINE, title="Fahrbahnerneuerung Ringstraße Nord")
    saved = client.put(
        f"/api/projects/{road['id']}", json=renamed, headers={"If-Match": road_now.headers["ETag"]}
    )
    assert saved.status_code == 200, saved.get_json()
    now = listed()
    assert "Ringstraße Nord" in now["properties"]["message"]["de"]
    assert "Ringstraße Nord" not in first["properties"]["message"]["de"]
    fresh = Services.open(app.extensions["zugabe"].settings)  # renders it anew
    try:
        [case] = fresh.store.list_cases(CaseQuery(ids=(case_id,)))
        assert orjson.loads(orjson.dumps(fresh.cases.to_features([case], "en")[0])) == now
    finally:
        fresh.close()


def test_a_process_keeps_the_cases_it_listed_last_up_to_its_capacity() -> None:
    """The rendered cases are bounded: the least recently listed go first."""
    rendered = RenderedFeatures(capacity=2)
    at = datetime(2026, 12, 6, tzinfo=UTC)
    a, b, c = ((case_id, 1, at, "de", 1) for case_id in (1, 2, 3))
    rendered.put_many([(a, orjson.Fragment(b'"a"')), (b, orjson.Fragment(b'"b"'))])
    assert rendered.get_many([a]) != [None]  # listed again: now the most recent
    rendered.put_many([(c, orjson.Fragment(b'"c"'))])
    kept = rendered.get_many([a, b, c])
    assert [f is not None for f in kept] == [True, False, True]
    assert orjson.dumps(kept) == b'["a",null,"c"]'


def test_the_cases_a_starting_worker_renders_ahead_are_those_the_map_is_sent(
    demo_instance: object, app: Flask, client: FlaskClient
) -> None:
    """``render_ahead`` (what ``zugabe serve`` does at start) renders the newest cases in
    the map's language: the map then gets them as a fresh rendering would word them, and a
    reader in English gets them rendered in English."""
    services: Services = app.extensions["zugabe"]
    services.cases.render_ahead()
    assert services.cases.rendered_ahead

    def listed(lang: str) -> list[dict[str, Any]]:
        answer = client.get("/api/cases?limit=1000", headers={"Accept-Language": lang})
        assert answer.status_code == 200
        return answer.get_json()["features"]

    german, english = listed("de"), listed("en")
    assert len(german) > 100 and [f["id"] for f in german] == [f["id"] for f in english]
    fresh = Services.open(services.settings)
    try:
        cases = fresh.store.list_cases(CaseQuery(ids=tuple(f["id"] for f in german)))
        for lang, sent in (("de", german), ("en", english)):
            assert orjson.loads(orjson.dumps(fresh.cases.to_features(cases, lang))) == sent
    finally:
        fresh.close()
