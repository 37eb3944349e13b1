"""The OpenAPI document is valid and describes every route the app serves, and how to sign in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import OpenAPIV30SpecValidator, validate

from zugabe.web import create_app
from zugabe.web.parameters import document_path

METHODS = ("get", "put", "post", "patch", "delete")
SIGNED_IN = [{"bearerAuth": []}, {"cookieAuth": []}]


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_openapi_document_is_valid(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    validate(response.get_json())


def test_anyone_may_read_the_description(anonymous: FlaskClient) -> None:
    response = anonymous.get("/api/openapi.json")
    assert response.status_code == 200
    validate(response.get_json())
    assert anonymous.get("/api/docs").status_code == 200


def test_the_ogc_description_is_openapi_30_with_the_page_size(anonymous: FlaskClient) -> None:
    """GDAL and QGIS read the OGC API's ``service-desc``: valid OpenAPI 3.0, paths relative
    to its server ``/ogc``, ``limit`` with its default and maximum."""
    spec = anonymous.get("/ogc/api").get_json()
    validate(spec, cls=OpenAPIV30SpecValidator)
    assert spec["servers"] == [{"url": "http://localhost/ogc"}]
    items = spec["paths"]["/collections/{collection_id}/items"]["get"]
    limit = next(p for p in items["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 1000
    assert "default 100" in limit["description"]


def test_every_route_is_described(app: Flask, client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    described = {(path, method.upper()) for path, method, _ in operations(spec)}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/static/"):
            continue
        path = document_path(rule.rule)
        served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert {("/api/projects", "POST"), ("/", "GET"), ("/login", "POST")} <= served
    # a path spelt out for one collection (its items with their property parameters) is
    # served by the route of the template it fills in
    adapter = app.url_map.bind("localhost")
    spelt_out = described - served
    for path, method in spelt_out:
        rule, _ = adapter.match(path, method=method, return_rule=True)
        assert (document_path(rule.rule), method) in served
    assert ("/ogc/collections/trees/items", "GET") in spelt_out
    assert served == described - spelt_out


def test_credentials_are_described(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["cookieAuth"]["type"] == "apiKey"
    assert schemes["cookieAuth"]["in"] == "cookie"
    assert schemes["cookieAuth"]["name"] == "zugabe_session"
    assert "X-CSRFToken" in schemes["cookieAuth"]["description"]
    assert spec["security"] == SIGNED_IN
    # The header that named the user before accounts existed is gone for good.
    assert "User" not in spec["components"].get("parameters", {})
    assert "X-Zugabe-User" not in json.dumps(spec)


def test_operations_that_need_an_account_say_401_and_403(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    guarded = 0
    for path, method, operation in operations(spec):
        security = operation.get("security", spec["security"])
        if {} in security:  # open: the description, sign-in, unsubscribe, health, good practice
            open_paths = ("/api/openapi.json", "/api/docs", "/ogc/api", "/health")
            public = ("/login", "/logout", "/unsubscribe/", "/good-practice")
            assert path in open_paths or path.startswith(public), (
                method,
                path,
            )
            continue
        guarded += 1
        responses = operation["responses"]
        assert {"401", "403"} <= set(responses), (method, path)
        assert responses["401"] == {"$ref": "#/components/responses/Unauthorized"}
        assert responses["403"] == {"$ref": "#/components/responses/Forbidden"}
    assert guarded > 30
    for name in ("Unauthorized", "Forbidden"):
        content = spec["components"]["responses"][name]["content"]
        assert "application/problem+json" in content


@pytest.mark.parametrize("public_read", [False, True])
def test_what_the_document_calls_open_is_open(instance_path: Path, public_read: bool) -> None:
    """Anonymous GETs (without path parameters) get 401 exactly where the document says so."""
    app = create_app({"instance_path": instance_path, "public_read": public_read})
    try:
        anonymous = app.test_client()
        spec = anonymous.get("/api/openapi.json").get_json()
        wrong = []
        for path, method, operation in operations(spec):
            if method != "get" or "{" in path:
                continue
            is_open = {} in operation.get("security", spec["security"])
            refused = anonymous.get(path).status_code == 401
            if is_open == refused:
                wrong.append((path, "open" if is_open else "guarded"))
        assert wrong == []
    finally:
        app.extensions["zugabe"].close()


def test_docs_page_lists_operations(client: FlaskClient) -> None:
    page = client.get("/api/docs").get_data(as_text=True)
    for operation in ("listProjects", "createProject", "patchProject", "getVocabulary"):
        assert f'id="{operation}"' in page
    assert "road_renewal" in page
