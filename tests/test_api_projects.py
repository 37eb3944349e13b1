"""Round trips through /api/projects: create, read, list, change, delete."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import VALID_FEATURE, actor_for, client_as, feature
from zugabe.domain.accounts import Scope
from zugabe.services import Services
from zugabe.storage.contract import ProjectQuery


def create(client: FlaskClient, doc: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/projects", json=doc)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_returns_location_etag_and_stored_feature(app: Flask) -> None:
    client = client_as(app, "h.planner")
    response = client.post("/api/projects", json=VALID_FEATURE)
    assert response.status_code == 201
    assert response.mimetype == "application/geo+json"
    body = response.get_json()
    assert response.headers["Location"] == f"/api/projects/{body['id']}"
    assert re.fullmatch(r'"v1-[0-9a-f]{8}"', response.headers["ETag"])
    props = body["properties"]
    expected = {k: v for k, v in VALID_FEATURE["properties"].items()}
    assert {k: props[k] for k in expected} == expected
    assert props["version"] == 1
    assert props["created_by"] == props["updated_by"] == "h.planner"
    fetched = client.get(response.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.get_json() == body


def test_signed_in_account_is_recorded(client: FlaskClient) -> None:
    assert create(client, VALID_FEATURE)["properties"]["created_by"] == "r.admin"


def test_anonymous_create_is_refused_and_stores_nothing(anonymous: FlaskClient) -> None:
    response = anonymous.post("/api/projects", json=VALID_FEATURE)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert anonymous.get("/api/projects").status_code == 401


def test_malformed_authorization_header_is_refused(app: Flask, client: FlaskClient) -> None:
    bad = app.test_client()
    for header in ("Basic dXNlcjpwdw==", "Bearer", "Bearer zgb_not-a-token", "<x>"):
        response = bad.post("/api/projects", json=VALID_FEATURE, headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["detail"]
    assert client.get("/api/projects").get_json()["features"] == []


def test_read_scope_token_cannot_create(app: Flask, client: FlaskClient) -> None:
    reader = client_as(app, "h.planner", scope=Scope.READ)
    assert reader.get("/api/projects").status_code == 200
    response = reader.post("/api/projects", json=VALID_FEATURE)
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert client.get("/api/projects").get_json()["features"] == []


def test_all_geometry_types_are_stored(client: FlaskClient) -> None:
    geometries = [
        {"type": "Point", "coordinates": [7.21, 51.54]},
        {"type": "MultiPoint", "coordinates": [[7.21, 51.54], [7.22, 51.55]]},
        {
            "type": "MultiLineString",
            "coordinates": [[[7.21, 51.54], [7.22, 51.55]], [[7.23, 51.54], [7.24, 51.55]]],
        },
        {
            "type": "Polygon",
            "coordinates": [[[7.21, 51.54], [7.22, 51.54], [7.22, 51.55], [7.21, 51.54]]],
        },
        {
            "type": "MultiPolygon",
            "coordinates": [
                [[[7.21, 51.54], [7.22, 51.54], [7.22, 51.55], [7.21, 51.54]]],
                [[[7.25, 51.54], [7.26, 51.54], [7.26, 51.55], [7.25, 51.54]]],
            ],
        },
    ]
    for geometry in geometries:
        body = create(client, feature(geometry))
        assert body["geometry"]["type"] == geometry["type"]
        assert client.get(f"/api/projects/{body['id']}").get_json()["geometry"] == body["geometry"]


def test_get_unknown_project_is_a_problem_response(client: FlaskClient) -> None:
    response = client.get("/api/projects/999")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"] == "project 999 does not exist"


def test_wrong_method_is_a_problem_with_allow_header(client: FlaskClient) -> None:
    response = client.post("/api/projects/1", json=VALID_FEATURE)
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert "PUT" in response.headers["Allow"]


def test_if_none_match_gives_not_modified(client: FlaskClient) -> None:
    created = client.post("/api/projects", json=VALID_FEATURE)
    etag = created.headers["ETag"]
    url = f"/api/projects/{created.get_json()['id']}"
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304


def test_put_replaces_and_bumps_version(app: Flask) -> None:
    body = create(client_as(app, "h.planner"), VALID_FEATURE)
    changed = feature(title="Fahrbahnerneuerung Bahnhofstraße, 2. BA", status="approved")
    response = client_as(app, "r.admin").put(
        f"/api/projects/{body['id']}", json=changed, headers={"If-Match": '"v1"'}
    )
    assert response.status_code == 200
    assert re.fullmatch(r'"v2-[0-9a-f]{8}"', response.headers["ETag"])
    props = response.get_json()["properties"]
    assert (props["title"], props["status"], props["version"]) == (
        "Fahrbahnerneuerung Bahnhofstraße, 2. BA",
        "approved",
        2,
    )
    assert (props["created_by"], props["updated_by"]) == ("h.planner", "r.admin")
    assert props["created_at"] == body["properties"]["created_at"]


def test_put_accepts_a_feature_as_returned_by_get(client: FlaskClient) -> None:
    body = create(client, VALID_FEATURE)
    body["properties"]["contact"] = "Frau Schulte"
    response = client.put(f"/api/projects/{body['id']}", json=body, headers={"If-Match": '"v1"'})
    assert response.status_code == 200
    assert response.get_json()["properties"]["contact"] == "Frau Schulte"


def test_patch_changes_only_what_is_sent(client: FlaskClient) -> None:
    body = create(client, VALID_FEATURE)
    response = client.patch(
        f"/api/projects/{body['id']}",
        json={"properties": {"status": "approved", "cost_eur": None}},
        headers={"If-Match": '"v1"'},
    )
    assert response.status_code == 200
    patched = response.get_json()
    assert patched["properties"]["status"] == "approved"
    assert patched["properties"]["cost_eur"] is None
    assert patched["properties"]["title"] == body["properties"]["title"]
    assert patched["geometry"] == body["geometry"]
    assert patched["properties"]["version"] == 2


def test_patch_geometry(client: FlaskClient) -> None:
    body = create(client, VALID_FEATURE)
    point = {"type": "Point", "coordinates": [7.215, 51.541]}
    response = client.patch(f"/api/projects/{body['id']}", json={"geometry": point})
    assert response.status_code == 200
    assert response.get_json()["geometry"] == point


def test_stale_if_match_is_refused_and_changes_nothing(client: FlaskClient) -> None:
    body = create(client, VALID_FEATURE)
    url = f"/api/projects/{body['id']}"
    first = client.patch(
        url, json={"properties": {"status": "approved"}}, headers={"If-Match": '"v1"'}
    )
    assert first.status_code == 200
    # A second planner still holds version 1.
    second = client.patch(
        url, json={"properties": {"status": "cancelled"}}, headers={"If-Match": '"v1"'}
    )
    assert second.status_code == 412
    problem = second.get_json()
    assert "version 1" in problem["detail"] and "version is 2" in problem["detail"]
    assert client.get(url).get_json()["properties"]["status"] == "approved"
    assert client.put(url, json=VALID_FEATURE, headers={"If-Match": '"v1"'}).status_code == 412
    assert client.delete(url, headers={"If-Match": '"v1"'}).status_code == 412
    assert client.get(url).status_code == 200


def test_if_match_that_is_no_version_tag_is_refused(client: FlaskClient) -> None:
    body = create(client, VALID_FEATURE)
    response = client.delete(f"/api/projects/{body['id']}", headers={"If-Match": '"abc"'})
    assert response.status_code == 412


def test_delete(client: FlaskClient) -> None:
    body = create(client, VALID_FEATURE)
    url = f"/api/projects/{body['id']}"
    assert client.delete(url, headers={"If-Match": '"v1"'}).status_code == 204
    assert client.get(url).status_code == 404
    assert client.delete(url).status_code == 404


@pytest.fixture
def town(client: FlaskClient) -> dict[str, int]:
    """Five projects that differ in every filterable attribute."""
    docs = {
        "road": feature(
            title="Fahrbahnerneuerung Bahnhofstraße", start="2026-01-01", end="2026-12-31"
        ),
        "sewer": feature(
            title="Kanalsanierung Äußere Straße",
            department="drainage",
            measure_type="sewer_rehabilitation",
            status="approved",
            start="2028-01-01",
            end="2029-06-30",
        ),
        "swale": feature(
            {"type": "Point", "coordinates": [7.30, 51.50]},
            title="Mulde am Emscherweg",
            organisation="eglv",
            department="water_management",
            measure_type="swale_trench",
            start="2030-01-01",
            end=None,
        ),
        "park": feature(
            {
                "type": "Polygon",
                "coordinates": [[[7.40, 51.45], [7.41, 51.45], [7.41, 51.46], [7.40, 51.45]]],
            },
            title="Grünanlage 100% naturnah",
            organisation="bochum",
            department="green",
            measure_type="green_space",
            status="idea",
            start=None,
            end=None,
        ),
        "cable": feature(
            title="Leitungsbau Bahnhofstraße",
            organisation="gelsenwasser",
            department="utility_network",
            measure_type="utility_line",
            start=None,
            end="2025-06-30",
        ),
    }
    return {name: create(client, doc)["id"] for name, doc in docs.items()}


def ids(client: FlaskClient, query: str) -> list[int]:
    response = client.get(f"/api/projects?{query}")
    assert response.status_code == 200, response.get_json()
    return [f["id"] for f in response.get_json()["features"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["road", "sewer", "swale", "park", "cable"]),
        ("organisation=herne", ["road", "sewer"]),
        ("organisation=eglv,bochum", ["swale", "park"]),
        ("department=drainage", ["sewer"]),
        ("measure_type=utility_line", ["cable"]),
        ("status=approved", ["sewer"]),
        ("status=idea,approved", ["sewer", "park"]),
        # windows overlapping 2027; open ends count as open
        ("from=2027-01-01&to=2027-12-31", ["park"]),
        ("from=2026-12-31&to=2027-12-31", ["road", "park"]),
        ("from=2031-01-01", ["swale", "park"]),
        ("to=2025-12-31", ["park", "cable"]),
        ("q=bahnhofstr", ["road", "cable"]),
        ("q=%C3%A4u%C3%9Fere", ["sewer"]),  # "äußere", case-insensitive
        ("q=100%25", ["park"]),  # "100%": % is literal
        ("bbox=7.29,51.49,7.31,51.51", ["swale"]),
        ("bbox=7.405,51.452,7.406,51.453", ["park"]),
        ("bbox=7.2,51.53,7.25,51.56&department=roads", ["road"]),
        ("bbox=8.0,52.0,8.1,52.1", []),
    ],
)
def test_list_filters(
    client: FlaskClient, town: dict[str, int], query: str, expected: list[str]
) -> None:
    assert ids(client, query) == [town[name] for name in expected]


def test_bbox_finds_a_line_crossing_it_without_vertex_inside(client: FlaskClient) -> None:
    crossing = feature({"type": "LineString", "coordinates": [[7.10, 51.50], [7.20, 51.50]]})
    project_id = create(client, crossing)["id"]
    assert ids(client, "bbox=7.149,51.49,7.151,51.51") == [project_id]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("bbox=1,2,3", "bbox"),
        ("bbox=7.3,51,7.2,52", "bbox"),
        ("status=finished", "'status' must be one of idea, planning"),
        ("from=2027-13-01", "'from' must be a date"),
        ("from=2028-01-01&to=2027-01-01", "'to' is before 'from'"),
        ("limit=0", "'limit' must be between 1 and 1000"),
        ("limit=abc", "'limit' must be a whole number"),
    ],
)
def test_bad_list_parameters_are_explained(client: FlaskClient, query: str, message: str) -> None:
    response = client.get(f"/api/projects?{query}")
    assert response.status_code == 400
    assert message in response.get_json()["detail"]


def test_paging_with_next_links_visits_every_project_once(client: FlaskClient) -> None:
    created = [create(client, feature(title=f"Maßnahme {n}"))["id"] for n in range(7)]
    seen: list[int] = []
    url: str | None = "/api/projects?limit=3&organisation=herne"
    pages = 0
    while url:
        body = client.get(url).get_json()
        assert body["numberMatched"] == 7
        assert body["numberReturned"] == len(body["features"])
        seen += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
        pages += 1
    assert seen == created
    assert pages == 3


def test_vocabulary_has_labels_for_the_map(client: FlaskClient) -> None:
    vocab = client.get("/api/vocab").get_json()
    organisations = {o["key"]: o for o in vocab["organisations"]}
    assert organisations["eglv"]["labels"]["de"] == "Emschergenossenschaft"
    assert organisations["eglv"]["kind"] == "water_board"
    departments = {d["key"]: d for d in vocab["departments"]}
    assert departments["drainage"]["labels"]["de"] == "Stadtentwässerung"
    assert "sewer_rehabilitation" in departments["drainage"]["measure_types"]
    statuses = [s["key"] for s in vocab["statuses"]]
    assert statuses == ["idea", "planning", "approved", "under_construction", "done", "cancelled"]


def test_the_project_list_shows_each_change_at_once_whoever_made_it(app: Flask) -> None:
    """A listed project is kept rendered by its stored state (``RenderedFeatures``): a
    change or a deletion through another process (a second ``Services`` on the store, as a
    second worker) shows in the next list."""
    client = client_as(app, "h.planner")
    kept, changing = create(client, VALID_FEATURE), create(client, feature(title="Alt"))

    def listed() -> dict[int, dict[str, Any]]:
        page = client.get("/api/projects?limit=1000").get_json()["features"]
        return {f["id"]: f for f in page}

    first = listed()
    assert listed() == first  # kept: the same again
    other = Services.open(app.extensions["zugabe"].settings)
    try:
        planner = actor_for(other, "h.planner")
        other.projects.patch(changing["id"], {"properties": {"title": "Neu"}}, planner, 1)
        now = listed()
        assert now[changing["id"]]["properties"]["title"] == "Neu"
        assert now[changing["id"]]["properties"]["version"] == 2
        assert now[kept["id"]] == first[kept["id"]]
        other.projects.delete(changing["id"], planner, 2)
        assert changing["id"] not in listed()
    finally:
        other.close()
    single = client.get(f"/api/projects/{kept['id']}").get_json()
    assert single | {"cases": None} == listed()[kept["id"]] | {"cases": None}


def test_the_projects_a_starting_worker_renders_ahead_are_those_a_list_sends(app: Flask) -> None:
    """``render_ahead`` (what ``zugabe serve`` does at start) keeps every project rendered in
    lon/lat, as a list then finds it, and as a fresh rendering would send it."""
    client = client_as(app, "h.planner")
    for i in range(3):
        create(client, feature(title=f"Vorhaben {i}"))
    services: Services = app.extensions["zugabe"]
    services.projects.render_ahead()
    assert services.projects.rendered_ahead
    stamps = services.store.project_stamps(ProjectQuery()).rows
    kept = services.projects._rendered.get_many([(*s, "OGC:CRS84") for s in stamps])
    assert len(stamps) >= 3 and None not in kept
    listed = client.get("/api/projects?limit=1000").get_json()["features"]
    assert orjson.loads(orjson.dumps(kept)) == listed
    fresh = Services.open(services.settings)
    try:
        projects = fresh.store.get_projects([f["id"] for f in listed])
        assert orjson.loads(orjson.dumps(fresh.projects.to_features(projects))) == listed
    finally:
        fresh.close()
