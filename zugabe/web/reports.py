"""Coordination reports as pages to read and print, and case lists as CSV and XLSX (``/reports``).

The pages are HTML with a print stylesheet (A4) and the map and timeline inlined as SVG drawn
on the server, so they work offline and print crisply; they carry no script at all, and a
Content-Security-Policy says so to the browser. The same rendering serves ``zugabe report``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from zugabe.domain.cases import LIVE_STATUSES
from zugabe.domain.rules import RELATIONS, SEVERITIES
from zugabe.errors import BadRequest
from zugabe.io.report_tables import CSV_MIMETYPE, XLSX_MIMETYPE, write_csv, write_xlsx
from zugabe.services.reports import Report, ReportService
from zugabe.web import apidoc
from zugabe.web.auth import current_actor
from zugabe.web.language import page_language

blueprint = Blueprint("reports", __name__, url_prefix="/reports")

FORMATS = ("html", "csv", "xlsx")
TEMPLATES = Path(__file__).resolve().parent / "templates"
# Reports contain no script; inline styles only. A title that slipped past escaping could
# still not run anything.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"

page_templates = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_report(
    reports: ReportService,
    report: Report,
    lang: str,
    fmt: str,
    url: Callable[[str, str], str | None] | None = None,
    nav: dict[str, Any] | None = None,
) -> tuple[bytes, str]:
    """The report as bytes and its media type: an HTML page, or the case list as CSV/XLSX.

    ``url`` and ``nav`` (language switch, downloads) are given by the web layer; a file
    written by the CLI has neither.
    """
    if fmt == "html":
        page = reports.page(report, lang, url)
        template = "report_project.html" if report.kind == "project" else "report_cases.html"
        html = page_templates.get_template(template).render(
            page=page, t=reports.labels(lang), nav=nav
        )
        return html.encode("utf-8"), "text/html; charset=utf-8"
    header, rows = reports.case_table(report, lang)
    if fmt == "csv":
        return write_csv(header, rows), f"{CSV_MIMETYPE}; charset=utf-8"
    if fmt == "xlsx":
        sheet = reports.labels(lang)("sheet")
        return write_xlsx(header, rows, sheet), XLSX_MIMETYPE
    raise BadRequest(f"'format' must be one of {', '.join(FORMATS)}, got {fmt!r}")


def _reports() -> ReportService:
    return ReportService(current_app.extensions["zugabe"], current_actor())


def _format(fmt: str | None) -> str:
    fmt = fmt or request.args.get("format") or "html"
    if fmt not in FORMATS:
        raise BadRequest(f"'format' must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


def _answer(
    build: Callable[[ReportService], Report], endpoint: str, fmt: str | None, **values: Any
) -> Response:
    """Check ``lang`` and ``format``, build the report, answer in the asked format."""
    lang = page_language()
    fmt = _format(fmt)
    reports = _reports()
    report = build(reports)
    keep = {k: v for k, v in request.args.items() if k not in ("lang", "format")} | values

    extra = {"lang": "en"} if lang == "en" else {}

    def url(kind: str, key: str) -> str:
        if kind == "project":
            return url_for("reports.project_report", project_id=int(key), **extra)
        if kind == "checklist":
            return url_for("checklists.checklist_page", project_id=int(key), **extra)
        return url_for(f"reports.{kind}_report", key=key, **extra)

    nav = {
        "switch": url_for(endpoint, **keep, **({} if lang == "en" else {"lang": "en"})),
        "downloads": [
            (f.upper(), url_for(f"{endpoint}_cases", fmt=f, **keep, **extra))
            for f in ("csv", "xlsx")
        ],
    }
    body, content_type = render_report(reports, report, lang, fmt, url, nav)
    response = Response(body, content_type=content_type)  # its charset said once
    if fmt == "html":
        response.headers["Content-Security-Policy"] = CSP
    else:
        name = reports.filename(report, fmt)
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@blueprint.get("/projects/<int:project_id>")
@blueprint.get(
    "/projects/<int:project_id>/cases.<any(csv, xlsx):fmt>", endpoint="project_report_cases"
)
def project_report(project_id: int, fmt: str | None = None) -> Response:
    """The project fact sheet [Projektkennblatt]."""
    return _answer(
        lambda r: r.project(project_id), "reports.project_report", fmt, project_id=project_id
    )


@blueprint.get("/organisations/<key>")
@blueprint.get(
    "/organisations/<key>/cases.<any(csv, xlsx):fmt>", endpoint="organisation_report_cases"
)
def organisation_report(key: str, fmt: str | None = None) -> Response:
    """Every live case involving an organisation: the open conflicts, then the rest."""
    return _answer(
        lambda r: r.organisation(key, r.case_filter(request.args)),
        "reports.organisation_report",
        fmt,
        key=key,
    )


@blueprint.get("/departments/<key>")
@blueprint.get("/departments/<key>/cases.<any(csv, xlsx):fmt>", endpoint="department_report_cases")
def department_report(key: str, fmt: str | None = None) -> Response:
    """Every live case involving a department: the open conflicts, then the rest."""
    return _answer(
        lambda r: r.department(key, r.case_filter(request.args)),
        "reports.department_report",
        fmt,
        key=key,
    )


@blueprint.get("/area")
@blueprint.get("/area/cases.<any(csv, xlsx):fmt>", endpoint="area_report_cases")
def area_report(fmt: str | None = None) -> Response:
    """Projects and cases of a district (``district=``) or a box (``bbox=``) and period."""
    district, bbox = request.args.get("district") or None, request.args.get("bbox") or None
    return _answer(
        lambda r: r.area(district=district, bbox=bbox, case_filter=r.case_filter(request.args)),
        "reports.area_report",
        fmt,
    )


def openapi_paths() -> dict[str, Any]:
    """This module's paths of the OpenAPI document (merged by ``zugabe.web.openapi``)."""
    text = {"type": "string"}
    binary = {"type": "string", "format": "binary"}
    page_params = [
        apidoc.LANGUAGE,
        apidoc.query(
            "format",
            "html (default): the report page; csv or xlsx: its case list.",
            {"type": "string", "enum": list(FORMATS)},
        ),
    ]
    # The case filter (``CaseFilter``); parameters.py refuses anything else before a view runs.
    case_filter = [
        apidoc.listing(
            "status",
            "Only cases of these statuses (any of; default: all but obsolete).",
            [s.value for s in LIVE_STATUSES],
        ),
        apidoc.listing("relation", "Only cases of these relations (any of).", list(RELATIONS)),
        apidoc.listing("severity", "Only cases of these severities (any of).", list(SEVERITIES)),
        *apidoc.period("Only cases (and, in an area report, projects) whose window"),
    ]
    area = [
        apidoc.query(
            "district",
            "An id (district_id) of the districts layer; or give bbox.",
            {"type": "string", "minLength": 1},
        ),
        apidoc.bbox("The area of the report; or give district."),
    ]
    fmt = {
        "name": "fmt",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": ["csv", "xlsx"]},
    }
    disposition = {
        "Content-Disposition": {
            "description": 'attachment; filename="zugabe-<kind>-<key>-cases.<fmt>"',
            "schema": text,
        }
    }
    table = {
        "description": "The case list (one row per case, in report order), as a download.",
        "headers": disposition,
        "content": {CSV_MIMETYPE: {"schema": text}, XLSX_MIMETYPE: {"schema": binary}},
    }
    reports = {
        "/reports/projects/{project_id}": (
            "Project fact sheet [Projektkennblatt]: data, map, timeline, live cases",
            "getProjectReport",
            [{"name": "project_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "No project with this id.",
        ),
        "/reports/organisations/{key}": (
            "Every live case involving an organisation: the open conflicts, then the rest",
            "getOrganisationReport",
            [{"name": "key", "in": "path", "required": True, "schema": text}, *case_filter],
            "No organisation with this key.",
        ),
        "/reports/departments/{key}": (
            "Every live case involving a department: the open conflicts, then the rest",
            "getDepartmentReport",
            [{"name": "key", "in": "path", "required": True, "schema": text}, *case_filter],
            "No department with this key.",
        ),
        "/reports/area": (
            "Projects and live cases of a district or a box, in a period",
            "getAreaReport",
            [*area, *case_filter],
            "No district with this id (or no districts layer stored).",
        ),
    }
    paths: dict[str, Any] = {}
    for path, (summary, operation, params, missing) in reports.items():
        responses = {
            "400": apidoc.problem("A parameter is malformed; the detail names it."),
            "404": apidoc.problem(missing),
        }
        paths[path] = {
            "get": {
                "summary": summary,
                "operationId": operation,
                "parameters": [*params, *page_params],
                "responses": {
                    "200": {
                        "description": "The report as an HTML page with a print stylesheet "
                        "(map and timeline as inline SVG), or its case list.",
                        "content": {"text/html": {"schema": text}} | table["content"],
                    }
                }
                | responses,
            }
        }
        paths[f"{path}/cases.{{fmt}}"] = {
            "get": {
                "summary": f"Case list of: {summary[0].lower()}{summary[1:]}",
                "operationId": f"{operation}Cases",
                "parameters": [*params, fmt, page_params[0]],
                "responses": {"200": table} | responses,
            }
        }
    return paths
