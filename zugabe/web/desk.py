"""The coordination desk over HTTP: assign, set a due date, propose, withdraw, vote.

Each route answers with the case in detail (``case_response``), as the status route does,
so a client shows the outcome of its step — the new status, the vote recorded, whom the
proposal still waits for — without a second request.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from zugabe.domain.agreement import DecisionKind
from zugabe.domain.case_workflow import MEASURES_MAX, TEXT_MAX
from zugabe.errors import FieldError, InvalidInput
from zugabe.services import Services
from zugabe.web.api import expected_version, json_object
from zugabe.web.apidoc import NOT_BLANK, json_request, problem, vote_body
from zugabe.web.auth import current_actor
from zugabe.web.cases import case_response

blueprint = Blueprint("desk", __name__, url_prefix="/api/cases")


def _services() -> Services:
    return current_app.extensions["zugabe"]


def _text(body: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(
            f"'{name}' must be text" + (" and not empty" if required else ""),
            field_errors=[FieldError(f"/{name}", "text" + (", required" if required else ""))],
        )
    return value


def _text_or_null(body: dict[str, Any], name: str) -> str | None:
    if name not in body:
        raise InvalidInput(
            f"send {{{name!r}: …}}", field_errors=[FieldError(f"/{name}", "required")]
        )
    value = body[name]
    if value is not None and not isinstance(value, str):
        raise InvalidInput(
            f"'{name}' must be text or null", field_errors=[FieldError(f"/{name}", "text or null")]
        )
    return value or None


@blueprint.put("/<int:case_id>/assignee")
def assign(case_id: int) -> Response:
    """Body ``{"assignee": "h.coordinator"}`` (or null: nobody)."""
    username = _text_or_null(json_object(("assignee",)), "assignee")
    _services().desk.assign(case_id, username, current_actor(), expected_version())
    return case_response(case_id)


@blueprint.get("/<int:case_id>/assignees")
def assignees(case_id: int) -> Response:
    """The people a case may be given to: active accounts of its organisations."""
    people = _services().desk.assignable(case_id, current_actor())
    return jsonify(
        [
            {"username": a.username, "display_name": a.display_name, "organisation": a.organisation}
            for a in people
        ]
    )


@blueprint.put("/<int:case_id>/due-date")
def set_due(case_id: int) -> Response:
    """Body ``{"due_date": "2027-03-31"}`` (or null: derived from the start dates again)."""
    due = _text_or_null(json_object(("due_date",)), "due_date")
    _services().desk.set_due(case_id, due, current_actor(), expected_version())
    return case_response(case_id)


@blueprint.post("/<int:case_id>/proposal")
def propose(case_id: int) -> Response:
    """Body ``{"kind": "bundle_works", "text": "…", "measures": ["…"]}``."""
    body = json_object(("kind", "text", "measures"))
    measures = body.get("measures", [])
    if not isinstance(measures, list) or not all(isinstance(m, str) for m in measures):
        raise InvalidInput(
            "'measures' must be a list of texts",
            field_errors=[FieldError("/measures", "a list of texts")],
        )
    _services().desk.propose(
        case_id,
        _text(body, "kind", required=True),
        _text(body, "text"),
        measures,
        current_actor(),
        expected_version(),
    )
    return case_response(case_id, 201)


@blueprint.delete("/<int:case_id>/proposal")
def withdraw(case_id: int) -> Response:
    _services().desk.withdraw(case_id, current_actor(), expected_version())
    return case_response(case_id)


@blueprint.post("/<int:case_id>/votes")
def vote(case_id: int) -> Response:
    """Body ``{"vote": "agree"}`` or ``{"vote": "object", "reason": "…"}``, for the acting
    coordinator's organisation."""
    body = json_object(("vote", "reason"))
    _services().desk.vote(
        case_id, _text(body, "vote", required=True), _text(body, "reason"), current_actor()
    )
    return case_response(case_id, 201)


def openapi_paths() -> dict[str, Any]:
    """This module's paths of the OpenAPI document (merged by ``zugabe.web.openapi``)."""
    case_id = {"name": "case_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    if_match = {"$ref": "#/components/parameters/IfMatch"}
    no_case = problem("No case with this id.")
    state = problem("The case's state does not allow this step (e.g. it is agreed and frozen).")
    stale = problem("If-Match names an outdated version of the case.")
    invalid = problem("The input was refused; `errors` names each field. Nothing was stored.")

    def step(
        summary: str, operation: str, ok: int, schema: dict[str, Any] | None
    ) -> dict[str, Any]:
        described: dict[str, Any] = {
            "summary": summary,
            "operationId": operation,
            "parameters": [if_match] if operation != "voteOnCase" else [],
            "responses": {
                str(ok): {"description": "The case in detail, after the step."},
                "404": no_case,
                "409": state,
                "412": stale,
                "422": invalid,
            },
        }
        if schema is not None:
            described["requestBody"] = json_request(schema)
        return described

    def nullable_text(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": [name],
            "additionalProperties": False,
            "properties": {name: {"oneOf": [schema, {"type": "null"}]}},
        }

    text = {"type": "string", "maxLength": TEXT_MAX}
    return {
        "/api/cases/{case_id}/assignee": {
            "parameters": [case_id],
            "put": step(
                "Give the case to a person of an involved organisation (null: nobody)",
                "assignCase",
                200,
                nullable_text("assignee", {"type": "string", "minLength": 1}),
            ),
        },
        "/api/cases/{case_id}/assignees": {
            "parameters": [case_id],
            "get": {
                "summary": "The people the case may be given to",
                "operationId": "listCaseAssignees",
                "responses": {
                    "200": {"description": "Active accounts of the organisations involved."},
                    "404": no_case,
                },
            },
        },
        "/api/cases/{case_id}/due-date": {
            "parameters": [case_id],
            "put": step(
                "Set the due date (null: derived from the start dates again)",
                "setCaseDueDate",
                200,
                nullable_text("due_date", {"type": "string", "format": "date"}),
            ),
        },
        "/api/cases/{case_id}/proposal": {
            "parameters": [case_id],
            "post": step(
                "Propose a decision to every organisation involved",
                "proposeDecision",
                201,
                {
                    "type": "object",
                    "required": ["kind", "text"],
                    "additionalProperties": False,
                    "properties": {
                        "kind": {"type": "string", "enum": [k.value for k in DecisionKind]},
                        "text": NOT_BLANK | {"maxLength": TEXT_MAX},
                        "measures": {"type": "array", "items": text, "maxItems": MEASURES_MAX},
                    },
                },
            ),
            "delete": step("Withdraw the waiting proposal", "withdrawProposal", 200, None),
        },
        "/api/cases/{case_id}/votes": {
            "parameters": [case_id],
            "post": step(
                "Agree or object for your organisation (one organisation, one vote)",
                "voteOnCase",
                201,
                vote_body(text),
            ),
        },
    }
