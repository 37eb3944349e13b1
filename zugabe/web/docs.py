"""The API documentation, human-readable and as OpenAPI.

The API docs are rendered on the server from the OpenAPI document, so they
work without internet access (no CDN-hosted Swagger UI).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template

from zugabe.web.openapi import build_openapi

blueprint = Blueprint("docs", __name__)


@blueprint.get("/api/openapi.json")
def openapi() -> Response:
    services = current_app.extensions["zugabe"]
    response = jsonify(build_openapi(services.vocabulary, services.settings))
    response.mimetype = "application/vnd.oai.openapi+json"
    return response


@blueprint.get("/api/docs")
def api_docs() -> str:
    services = current_app.extensions["zugabe"]
    spec = build_openapi(services.vocabulary, services.settings)
    return render_template("api_docs.html", spec=spec)
