"""Coordination cases over HTTP (``/api/cases``): list, detail, status, comments, detection."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from zugabe.errors import FieldError, InvalidInput
from zugabe.services import Services
from zugabe.services.cases import parse_case_query, sync_counts
from zugabe.services.jobs import Progress
from zugabe.web.api import (
    GEOJSON,
    expected_version,
    json_object,
    page_params,
    page_response,
)
from zugabe.web.auth import current_actor
from zugabe.web.jobs import accepted, prefers_async
from zugabe.web.language import api_language

blueprint = Blueprint("cases", __name__, url_prefix="/api/cases")


def _services() -> Services:
    return current_app.extensions["zugabe"]


def case_response(case_id: int, status: int = 200) -> Response:
    """The case in detail, with its version as ETag (the answer of every step on it)."""
    cases = _services().cases
    case = cases.get(current_actor(), case_id)
    response = jsonify(cases.to_json(case, detail=True, lang=api_language()))
    response.status_code = status
    response.mimetype = GEOJSON
    response.set_etag(f"v{case.version}")
    return response


@blueprint.get("")
def list_cases() -> Response:
    services = _services()
    query = parse_case_query(request.args, services.projects.reprojector)
    limit, after = page_params()
    page = services.cases.page_features(
        current_actor(), query, limit=limit, after=after, lang=api_language()
    )
    return page_response(page.features, page.number_matched, page.next_after)


@blueprint.get("/<int:case_id>")
def get_case(case_id: int) -> Response:
    return case_response(case_id)


@blueprint.post("/<int:case_id>/status")
def change_status(case_id: int) -> Response:
    """Body ``{"status": "in_coordination"}``; ``If-Match`` guards stale edits."""
    status = json_object(("status",)).get("status")
    if not isinstance(status, str):
        raise InvalidInput('send {"status": …}', field_errors=[FieldError("/status", "required")])
    _services().desk.change_status(case_id, status, current_actor(), expected_version())
    return case_response(case_id)


@blueprint.post("/<int:case_id>/comments")
def add_comment(case_id: int) -> Response:
    text = json_object(("text",)).get("text")
    _services().cases.comment(case_id, text, current_actor())
    return case_response(case_id, 201)


@blueprint.post("/detect")
def detect_all() -> Response:
    """The batch run over everything; answers with what changed (or, asked to respond
    asynchronously, with its job)."""
    services, actor = _services(), current_actor()
    services.policy.require_region_admin(actor, "the batch detection run")

    def work(_progress: Progress | None = None) -> dict[str, Any]:
        return sync_counts(services.cases.batch_run(actor))

    if prefers_async():
        return accepted(services.jobs.start(actor, "cases.detect_all", "*", work))
    return jsonify(work())
