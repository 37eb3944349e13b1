"""The OpenAPI document is valid and describes every API route the app serves."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate


def test_openapi_document_is_valid(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    validate(response.get_json())


def test_every_api_route_is_described(app: Flask, client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    described = {
        (path, method.upper())
        for path, item in spec["paths"].items()
        for method in item
        if method != "parameters"
    }
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/", "/reports/")) or rule.rule == "/api/docs":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?(\w+)>", r"{\1}", rule.rule)
        served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == described


def test_docs_page_lists_operations(client: FlaskClient) -> None:
    page = client.get("/api/docs").get_data(as_text=True)
    for operation in ("listProjects", "createProject", "patchProject", "getVocabulary"):
        assert f'id="{operation}"' in page
    assert "road_renewal" in page
