"""Every kind of bad input gets a 422 problem naming the field, and nothing is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import VALID_FEATURE, client_as, feature
from zugabe.web import create_app

SQUARE = [[7.21, 51.54], [7.22, 51.54], [7.22, 51.55], [7.21, 51.55], [7.21, 51.54]]


def line(*coordinates: Any) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": list(coordinates)}


CASES: list[tuple[str, Any, str, str]] = [
    # (case, body, pointer, words the message must contain)
    ("not a feature", {"type": "FeatureCollection", "features": []}, "/type", "must be 'Feature'"),
    (
        "unknown geometry type",
        feature({"type": "Circle", "coordinates": [7.2, 51.5]}),
        "/geometry/type",
        "unknown geometry type 'Circle'",
    ),
    (
        "geometry collection",
        feature({"type": "GeometryCollection", "geometries": []}),
        "/geometry/type",
        "GeometryCollection is not supported",
    ),
    ("missing geometry", feature() | {"geometry": None}, "/geometry", "geometry is required"),
    (
        "missing coordinates",
        feature({"type": "Point"}),
        "/geometry/coordinates",
        "coordinates are missing",
    ),
    (
        "empty point",
        feature({"type": "Point", "coordinates": []}),
        "/geometry/coordinates",
        "geometry is empty",
    ),
    (
        "empty multipolygon",
        feature({"type": "MultiPolygon", "coordinates": []}),
        "/geometry/coordinates",
        "geometry is empty",
    ),
    (
        "one-point line",
        feature(line([7.21, 51.54])),
        "/geometry/coordinates",
        "at least 2 positions",
    ),
    (
        "wrong nesting",
        feature({"type": "Point", "coordinates": [[7.2, 51.5]]}),
        "/geometry/coordinates",
        "nested too deep",
    ),
    (
        "text coordinate",
        feature(line([7.21, "51.54"], [7.22, 51.55])),
        "/geometry/coordinates/0",
        "[lon, lat] numbers",
    ),
    (
        "self-intersection",
        feature(
            {
                "type": "Polygon",
                "coordinates": [
                    [[7.21, 51.54], [7.23, 51.56], [7.23, 51.54], [7.21, 51.56], [7.21, 51.54]]
                ],
            }
        ),
        "/geometry",
        "self-intersection at lon 7.22, lat 51.55",
    ),
    (
        "unclosed ring",
        feature({"type": "Polygon", "coordinates": [[*SQUARE[:-1], [7.211, 51.541]]]}),
        "/geometry/coordinates/0",
        "ring is not closed",
    ),
    (
        "short ring",
        feature(
            {"type": "Polygon", "coordinates": [[[7.21, 51.54], [7.22, 51.54], [7.21, 51.54]]]}
        ),
        "/geometry/coordinates/0",
        "at least 4 positions",
    ),
    (
        "projected metres",
        feature(line([371000.0, 5710000.0], [371100.0, 5710100.0])),
        "/geometry/coordinates/0",
        "outside the WGS84 range",
    ),
    (
        "swapped lat/lon",
        feature(line([51.54, 7.21], [51.55, 7.22])),
        "/geometry/coordinates/0",
        "looks like [lat, lon]",
    ),
    (
        "outside region",
        feature(line([13.40, 52.52], [13.41, 52.53])),
        "/geometry/coordinates/0",
        "outside the region served",
    ),
    (
        "partly outside region",
        feature(line([7.21, 51.54], [10.0, 51.54])),
        "/geometry/coordinates/1",
        "outside the region served",
    ),
    (
        "z value",
        feature(line([7.21, 51.54, 60.0], [7.22, 51.55, 61.0])),
        "/geometry/coordinates/0",
        "2D",
    ),
    (
        "end before start",
        feature(start="2028-05-01", end="2027-05-01"),
        "/properties/end",
        "end 2027-05-01 is before start 2028-05-01",
    ),
    ("bad date", feature(start="1. März 2027"), "/properties/start", "YYYY-MM-DD"),
    (
        "unknown organisation",
        feature(organisation="berlin"),
        "/properties/organisation",
        "unknown organisation 'berlin'",
    ),
    (
        "unknown department",
        feature(department="police"),
        "/properties/department",
        "unknown department 'police'",
    ),
    (
        "department not of organisation",
        feature(organisation="eglv", department="roads"),
        "/properties/department",
        "for organisation 'eglv'",
    ),
    (
        "unknown measure type",
        feature(measure_type="bridge"),
        "/properties/measure_type",
        "unknown measure_type 'bridge'",
    ),
    (
        "measure type not of department",
        feature(measure_type="tree_planting"),
        "/properties/measure_type",
        "for department 'roads'",
    ),
    (
        "unknown status",
        feature(status="finished"),
        "/properties/status",
        "unknown status 'finished'",
    ),
    (
        "missing title",
        feature()
        | {"properties": {k: v for k, v in VALID_FEATURE["properties"].items() if k != "title"}},
        "/properties/title",
        "'title' is required",
    ),
    ("blank title", feature(title="   "), "/properties/title", "must not be empty"),
    ("title not text", feature(title=42), "/properties/title", "must be a string"),
    ("negative cost", feature(cost_eur=-5), "/properties/cost_eur", "non-negative number"),
    ("unknown property", feature(titel="Tippfehler"), "/properties/titel", "unknown field 'titel'"),
    (
        "properties not an object",
        feature() | {"properties": []},
        "/properties",
        "must be an object",
    ),
]


@pytest.mark.parametrize(
    ("body", "pointer", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_feature_is_refused_with_field_and_reason(
    client: FlaskClient, body: Any, pointer: str, message: str
) -> None:
    response = client.post("/api/projects", json=body)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 422
    details = {e["pointer"]: e["detail"] for e in problem["errors"]}
    assert pointer in details, problem
    assert message in details[pointer]
    assert message in problem["detail"] or len(problem["errors"]) > 3
    assert client.get("/api/projects").get_json()["numberMatched"] == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"type": "Feature", "geometry": ', "invalid JSON at line 1"),
        ("", "invalid JSON at line 1, column 1"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_malformed_json_is_refused(client: FlaskClient, raw: str | bytes, message: str) -> None:
    response = client.post("/api/projects", data=raw, content_type="application/json")
    assert response.status_code == 422
    assert message in response.get_json()["detail"]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_coordinates_are_refused(client: FlaskClient, token: str) -> None:
    raw = json.dumps(VALID_FEATURE).replace("51.5402", token)
    response = client.post("/api/projects", data=raw, content_type="application/json")
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert errors[0]["pointer"] == "/geometry/coordinates/0"
    assert "not a finite number" in errors[0]["detail"]


def test_all_problems_are_reported_at_once(client: FlaskClient) -> None:
    body = feature(line([51.54, 7.21], [51.55, 7.22]), title="", status="finished")
    problem = client.post("/api/projects", json=body).get_json()
    pointers = {e["pointer"] for e in problem["errors"]}
    assert {"/properties/title", "/properties/status", "/geometry/coordinates/0"} <= pointers


def test_vertex_limit_is_configurable(instance_path: Any) -> None:
    app: Flask = create_app({"instance_path": instance_path, "max_vertices": 10})
    try:
        client = client_as(app, "h.planner")
        ok = feature(line(*[[7.21 + i / 1000, 51.54] for i in range(10)]))
        too_many = feature(line(*[[7.21 + i / 1000, 51.54] for i in range(11)]))
        assert client.post("/api/projects", json=ok).status_code == 201
        response = client.post("/api/projects", json=too_many)
        assert response.status_code == 422
        assert "11 vertices; at most 10" in response.get_json()["errors"][0]["detail"]
    finally:
        app.extensions["zugabe"].close()


def test_invalid_update_changes_nothing(client: FlaskClient) -> None:
    created = client.post("/api/projects", json=VALID_FEATURE).get_json()
    url = f"/api/projects/{created['id']}"
    assert client.put(url, json=feature(organisation="berlin")).status_code == 422
    assert client.patch(url, json={"properties": {"end": "2020-01-01"}}).status_code == 422
    assert (
        client.patch(url, json={"geometry": line([51.54, 7.21], [51.55, 7.22])}).status_code == 422
    )
    assert client.get(url).get_json() == created


def test_oversized_body_is_refused(instance_path: Any) -> None:
    app = create_app({"instance_path": instance_path, "max_request_bytes": 2048})
    try:
        body = feature(description="x" * 5000)
        client = client_as(app, "h.planner")
        response = client.post("/api/projects", json=body)
        assert response.status_code == 413
        assert response.mimetype == "application/problem+json"
        assert client.get("/api/projects").get_json()["features"] == []
    finally:
        app.extensions["zugabe"].close()
