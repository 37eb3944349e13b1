"""Query parameters behave alike on every operation, because one check derived from the
OpenAPI document refuses what the document does not declare (issue 11, item 8).

The operations come from the document, so a new endpoint is covered without a new test.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import default_document
from zugabe.config import Settings
from zugabe.services import RegionSetup
from zugabe.web.parameters import OPEN_QUERY

DOCUMENT = default_document()
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if method != "parameters"
]
SAMPLE_VALUES = {"integer": "1", "string": "trees"}
"""A path value the route matches (``trees``: a layer whose features page)."""


def url(path: str, operation: dict[str, Any]) -> str:
    """The path with a value for each path parameter that the route matches."""
    for parameter in operation.get("parameters", []) + DOCUMENT["paths"][path].get(
        "parameters", []
    ):
        if parameter.get("in") == "path":
            schema = parameter["schema"]
            value = schema["enum"][0] if "enum" in schema else SAMPLE_VALUES[schema["type"]]
            path = path.replace("{" + parameter["name"] + "}", value)
    return path


def declared(path: str, operation: dict[str, Any]) -> list[str]:
    every = operation.get("parameters", []) + DOCUMENT["paths"][path].get("parameters", [])
    return [p["name"] for p in every if p.get("in") == "query"]


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [o for o in OPERATIONS if o[1] not in OPEN_QUERY],
    ids=[f"{o[0]} {o[1]}" for o in OPERATIONS if o[1] not in OPEN_QUERY],
)
def test_an_unknown_parameter_is_refused_and_the_known_ones_named(
    client: FlaskClient, method: str, path: str, operation: dict[str, Any]
) -> None:
    response = client.open(f"{url(path, operation)}?colour=red", method=method)
    assert response.status_code == 400
    problem = response.get_json()
    assert problem["type"] == "/problems/bad-request"
    assert problem["detail"].startswith("unknown query parameter 'colour'; known: ")
    for name in declared(path, operation):
        assert re.search(rf"\b{name}\b", problem["detail"]), (name, problem["detail"])
    assert "400" in operation["responses"]  # and the document says so


def test_the_identity_provider_may_append_what_it_likes(client: FlaskClient) -> None:
    """RFC 6749 lets the provider add parameters to the callback: none is refused there."""
    response = client.get("/login/oidc/callback?code=1&state=2&session_state=3")
    assert response.status_code == 403  # single sign-on is not configured here
    assert "single sign-on is not configured" in response.get_json()["detail"]


def test_a_parameter_given_twice_is_refused(client: FlaskClient) -> None:
    response = client.get("/api/projects?limit=5&limit=500")
    assert response.status_code == 400
    assert response.get_json()["detail"] == "'limit' is given 2 times; give it once"


PAGED = [  # a list that pages has a cursor; the search box's `limit` is only a maximum
    (path, operation)
    for method, path, operation in OPERATIONS
    if "after" in declared(path, operation)
]


LAYER_ITEMS = {f"/ogc/collections/{key}/items" for key in RegionSetup.load(Settings()).definitions}
"""The layers' own items paths: a fresh instance holds no layer, so they answer 404."""


def test_every_list_that_pages_is_found() -> None:
    assert {path for path, _ in PAGED} == {
        "/api/projects",
        "/api/cases",
        "/api/layers/{key}/features",
        "/api/audit",
        "/api/notifications",
        "/ogc/collections/{collection_id}/items",
        "/ogc/collections/projects/items",
        "/ogc/collections/cases/items",
        *LAYER_ITEMS,
    }


@pytest.mark.parametrize(("path", "operation"), PAGED, ids=[path for path, _ in PAGED])
@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc", ""])
def test_paging_limits_are_the_same_everywhere(
    client: FlaskClient, path: str, operation: dict[str, Any], limit: str
) -> None:
    base = url(path, operation)
    response = client.get(f"{base}?limit={limit}")
    assert response.status_code == 400
    detail = response.get_json()["detail"]
    if limit.lstrip("-").isdigit():
        assert detail == f"'limit' must be between 1 and 1000, got '{limit}'"
    else:
        assert detail == f"'limit' must be a whole number, got '{limit}'"
    valid = 404 if path in LAYER_ITEMS else 200
    assert client.get(f"{base}?limit=1000").status_code == valid
    assert client.get(f"{base}?limit=1").status_code == valid


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("status=open,finished", "'status' must be one of open, in_coordination, proposed"),
        ("from=2027-02-30", "'from' must be a date as YYYY-MM-DD, got '2027-02-30'"),
        ("from=20270201", "'from' must be a date as YYYY-MM-DD"),
        ("bbox=7,51", "'bbox' must be min_lon,min_lat,max_lon,max_lat in WGS84 degrees"),
        ("bbox=7.1, 51,7.2,52", "'bbox' must be min_lon,min_lat,max_lon,max_lat"),
        ("after=1.0", "'after' must be a whole number"),
        ("relation=conflict,clash", "'relation' must be one of conflict, synergy, note"),
    ],
)
def test_malformed_values_are_refused_as_the_document_says(
    client: FlaskClient, query: str, detail: str
) -> None:
    response = client.get(f"/api/cases?{query}")
    assert response.status_code == 400
    assert detail in response.get_json()["detail"]


def test_a_box_beyond_the_storage_crs_finds_nothing_instead_of_failing(
    client: FlaskClient,
) -> None:
    """UTM has no answer at 90° from its meridian: the box is cut to where it has."""
    for path in ("/api/projects", "/api/projects/points", "/api/cases", "/reports/area"):
        response = client.get(f"{path}?bbox=100,-90,180,90")
        assert response.status_code == 200, path
