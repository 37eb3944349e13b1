"""Human-readable pages: the start page and the API documentation.

The API docs are rendered on the server from the OpenAPI document, so they
work without internet access (no CDN-hosted Swagger UI).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from zugabe.services.projects import ProjectFilter
from zugabe.web.openapi import build_openapi

blueprint = Blueprint("docs", __name__)

TEXTS = {
    "de": {
        "tagline": "Maßnahmen von Städten, Wasserverband und Versorgern auf einer Karte",
        "projects": "Maßnahmen (GeoJSON)",
        "docs": "API-Dokumentation",
        "vocab": "Vokabular",
        "map_pending": "Die Planungskarte folgt; bis dahin steht die API bereit.",
        "switch": "English",
        "count": "Maßnahmen gespeichert",
    },
    "en": {
        "tagline": "Projects of cities, water board and utilities on one map",
        "projects": "Projects (GeoJSON)",
        "docs": "API documentation",
        "vocab": "Vocabulary",
        "map_pending": "The planning map follows; until then the API is ready.",
        "switch": "Deutsch",
        "count": "projects stored",
    },
}


def _language() -> str:
    return "en" if request.args.get("lang") == "en" else "de"


@blueprint.get("/")
def index() -> str:
    services = current_app.extensions["zugabe"]
    lang = _language()
    count = services.projects.list(ProjectFilter(), limit=1).number_matched
    return render_template("index.html", t=TEXTS[lang], lang=lang, count=count)


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
