"""The region's strategies at a glance (``/strategies``): four charts and maps drawn on the
server, each also as CSV.

Thin: the figures, words and pictures come from ``StrategyService``; this module picks the
language, renders the template and answers. Like the reports, the page carries no script and
loads nothing from elsewhere (its Content-Security-Policy says so).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, url_for

from zugabe.io.report_tables import CSV_MIMETYPE, write_csv
from zugabe.services.strategies import CHARTS, StrategyService
from zugabe.web import apidoc
from zugabe.web.auth import current_actor
from zugabe.web.language import page_language
from zugabe.web.reports import CSP, page_templates

blueprint = Blueprint("strategies", __name__, url_prefix="/strategies")


def _service() -> StrategyService:
    return current_app.extensions["zugabe"].strategies


@blueprint.get("")
def dashboard_page() -> Response:
    """The dashboard in German (default) or English (``?lang=en``, remembered)."""
    lang = page_language()
    strategies = _service()
    dashboard = strategies.dashboard(current_actor())
    page = strategies.page(dashboard, lang)
    extra = {"lang": "en"} if lang == "en" else {}
    links = {
        "switch": url_for("strategies.dashboard_page", lang="de" if lang == "en" else "en"),
        "csv": {key: url_for("strategies.chart_csv", chart=key, **extra) for key in CHARTS},
    }
    html = page_templates.get_template("strategies.html").render(page=page, links=links)
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CSP
    return response


@blueprint.get("/<chart>.csv")
def chart_csv(chart: str) -> Response:
    """One chart's table: a row per city (or catchment), headers in the page's language."""
    lang = page_language()
    strategies = _service()
    dashboard = strategies.dashboard(current_actor())
    header, rows = strategies.table(strategies.chart(dashboard, chart), lang)
    response = Response(write_csv(header, rows), content_type=f"{CSV_MIMETYPE}; charset=utf-8")
    name = f"zugabe-strategies-{chart}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def openapi_paths() -> dict[str, Any]:
    """This module's paths of the OpenAPI document (merged by ``zugabe.web.openapi``)."""
    text = {"type": "string"}
    return {
        "/strategies": {
            "get": {
                "summary": "The region's strategies at a glance: green roofs, cooling, "
                "rainwater disconnection and attention areas against the projects, as charts "
                "and maps (an HTML page, computed from the store on every visit)",
                "operationId": "getStrategiesPage",
                "parameters": [apidoc.LANGUAGE],
                "responses": {
                    "200": {
                        "description": "The dashboard page, charts and maps as inline SVG.",
                        "content": {"text/html": {"schema": text}},
                    },
                    "400": apidoc.problem("A parameter is malformed; the detail names it."),
                },
            }
        },
        "/strategies/{chart}.csv": {
            "get": {
                "summary": "One chart of the strategies page as CSV: a row per city (per "
                "overflow catchment for disconnection), headers in the page's language",
                "operationId": "getStrategyChartCSV",
                "parameters": [
                    {
                        "name": "chart",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": list(CHARTS)},
                    },
                    apidoc.LANGUAGE,
                ],
                "responses": {
                    "200": {
                        "description": "The chart's table (RFC 4180, UTF-8), as a download.",
                        "headers": {
                            "Content-Disposition": {
                                "description": 'attachment; filename="zugabe-strategies-'
                                '<chart>.csv"',
                                "schema": text,
                            }
                        },
                        "content": {CSV_MIMETYPE: {"schema": text}},
                    },
                    "400": apidoc.problem("A parameter is malformed; the detail names it."),
                    "404": apidoc.problem("No chart of this name."),
                },
            }
        },
    }
