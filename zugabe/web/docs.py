"""The API documentation, human-readable and as OpenAPI.

The API docs are rendered on the server from the OpenAPI document, so they
work without internet access (no CDN-hosted Swagger UI). The document is built once,
when the app is (``create_app``): vocabulary, layer types and settings do not change
while it runs.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template

blueprint = Blueprint("docs", __name__)


@blueprint.get("/api/openapi.json")
def openapi() -> Response:
    response = jsonify(current_app.extensions["zugabe_openapi"])
    response.mimetype = "application/vnd.oai.openapi+json"
    return response


@blueprint.get("/api/docs")
def api_docs() -> str:
    return render_template("api_docs.html", spec=current_app.extensions["zugabe_openapi"])
