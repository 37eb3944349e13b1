"""The checklist of a development plan: the API, the page planners answer it on, and the
region's overview (``/api/projects/{id}/checklist``, ``/checklists/projects/{id}``,
``/reports/checklists``).

The pages are server-rendered forms without script (like the reports); the answer form is a
plain POST carrying the CSRF token, which redirects back to the page (303), so the new score
shows after every save.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, request, url_for
from flask_wtf.csrf import generate_csrf
from werkzeug.wrappers import Response as WerkzeugResponse

from zugabe.domain.checklist import ANSWERS, RELEVANCES, Checklist
from zugabe.errors import InvalidInput, VersionConflict
from zugabe.io.report_tables import CSV_MIMETYPE, write_csv
from zugabe.services import Services
from zugabe.services.checklists import (
    NOTE_MAX,
    TEXTS,
    ChecklistService,
    Overview,
    checklist_view,
)
from zugabe.web import apidoc
from zugabe.web.api import json_object
from zugabe.web.auth import current_actor
from zugabe.web.language import page_language
from zugabe.web.reports import CSP, page_templates

blueprint = Blueprint("checklists", __name__)

_ETAG = re.compile(r'^"?(c[0-9a-f]{16})"?$')


def _services() -> Services:
    return current_app.extensions["zugabe"]


def _checklists() -> ChecklistService:
    return _services().checklists


def _expected_etag() -> str | None:
    """The answers' state named by ``If-Match``; a tag of another shape fails (412)."""
    if_match = request.if_match
    if not if_match or if_match.star_tag:
        return None
    tags = [tag for tag in if_match if isinstance(tag, str)]
    match = _ETAG.match(tags[0]) if len(tags) == 1 else None
    if match is None:
        raise VersionConflict('If-Match must carry the ETag of the checklist from GET ("c…")')
    return match[1]


def _answered(checklist: Any) -> Response:
    service = _checklists()
    response = jsonify(service.to_json(checklist))
    response.set_etag(checklist.etag)
    return response


@blueprint.get("/api/projects/<int:project_id>/checklist")
def get_checklist(project_id: int) -> Response:
    return _answered(_checklists().of_project(current_actor(), project_id))


@blueprint.put("/api/projects/<int:project_id>/checklist")
@blueprint.patch("/api/projects/<int:project_id>/checklist")
def answer_checklist(project_id: int) -> Response:
    """PUT: the answers given are all there are; PATCH: only those given change (null
    clears one)."""
    service = _checklists()
    actor = current_actor()
    service.policy.require_writer(actor)
    expected = _expected_etag()
    body = json_object(("answers",))
    checklist = service.answer(
        actor,
        project_id,
        body.get("answers"),
        replace=request.method == "PUT",
        expected_etag=expected,
    )
    return _answered(checklist)


# ------------------------------------------------------------------ pages


def _page(template: str, status: int = 200, **values: Any) -> Response:
    html = page_templates.get_template(template).render(**values)
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CSP + "; form-action 'self'"
    return response


def render_checklist_page(
    project_id: int,
    lang: str,
    errors: list[dict[str, str]] | None = None,
    submitted: dict[str, Any] | None = None,
) -> Response:
    """The page; after a refused form (``submitted``), with what was sent, not lost."""
    services = _services()
    state = services.checklists.of_project(current_actor(), project_id)
    view = checklist_view(
        services.checklists.checklist, state, lang, services.accounts.display_name
    )
    for theme in view["themes"] if submitted is not None else ():
        for row in theme["items"]:
            sent = submitted.get(row["id"])  # type: ignore[union-attr]
            row["answer"], row["note"] = (sent["answer"], sent["note"]) if sent else (None, "")
    extra = {"lang": "en"} if lang == "en" else {}
    nav = {
        "switch": url_for(
            "checklists.checklist_page",
            project_id=project_id,
            **({} if lang == "en" else {"lang": "en"}),
        ),
        "fact_sheet": url_for("reports.project_report", project_id=project_id, **extra),
        "action": url_for("checklists.checklist_page", project_id=project_id, **extra),
    }
    return _page(
        "checklist_page.html",
        422 if errors else 200,
        view=view,
        lang=lang,
        t=TEXTS[lang],
        nav=nav,
        answers=ANSWERS,
        note_max=NOTE_MAX,
        errors=errors or [],
        csrf_token=generate_csrf(),
    )


@blueprint.get("/checklists/projects/<int:project_id>")
def checklist_page(project_id: int) -> Response:
    """The plan's checklist with its evidence; a form for those who may answer."""
    return render_checklist_page(project_id, page_language())


@blueprint.post("/checklists/projects/<int:project_id>")
def answer_checklist_form(project_id: int) -> Response | WerkzeugResponse:
    """The page's form: every item's answer (empty: none) and note; back to the page."""
    lang = page_language()
    service = _checklists()
    actor = current_actor()
    service.policy.require_writer(actor)
    form = request.form
    given: dict[str, Any] = {}
    for item in service.checklist.items:
        answer = form.get(f"answer__{item.id}", "")
        note = form.get(f"note__{item.id}", "")
        given[item.id] = {"answer": answer, "note": note} if answer else None
    try:
        service.answer(
            actor, project_id, given, replace=True, expected_etag=form.get("etag") or None
        )
    except InvalidInput as exc:
        errors = [e.as_dict(lang) for e in exc.field_errors]
        return render_checklist_page(project_id, lang, errors, given)
    extra = {"lang": "en"} if lang == "en" else {}
    return redirect(url_for("checklists.checklist_page", project_id=project_id, **extra), 303)


def _overview_rows(overview: Overview, lang: str) -> dict[str, Any]:
    services = _services()
    t = TEXTS[lang]
    organisations = services.vocabulary.organisations

    def org(key: str) -> str:
        found = organisations.get(key)
        return getattr(found, lang) if found is not None else key

    cities = [
        {
            "organisation": org(row.organisation),
            "plans": row.plans,
            "checked": row.checked,
            "mean_score": f"{row.mean_score} %" if row.mean_score is not None else "–",
            "scores": ", ".join(f"{s} %" for s in row.scores) or "–",
            "open": row.open_items,
        }
        for row in overview.cities
    ]
    plans = [
        {
            "id": p.project.id,
            "title": p.project.attributes.title,
            "organisation": org(p.project.attributes.organisation),
            "score": f"{p.score} %"
            if p.score is not None and any(s.answer for s in p.items)
            else "–",
            "open": p.open_count,
            "url": url_for(
                "checklists.checklist_page",
                project_id=p.project.id,
                **({"lang": "en"} if lang == "en" else {}),
            ),
        }
        for p in overview.plans
    ]
    most_open = [
        {"question": getattr(item.question, lang), "id": item.id, "count": count}
        for item, count in overview.open_by_item
    ]
    return {"cities": cities, "plans": plans, "most_open": most_open, "t": t}


@blueprint.get("/reports/checklists")
def checklist_overview() -> Response:
    """The region's development plans: per organisation how many are checked, their scores,
    and which items are most often open."""
    lang = page_language()
    overview = _checklists().overview(current_actor())
    rows = _overview_rows(overview, lang)
    nav = {
        "switch": url_for(
            "checklists.checklist_overview", **({} if lang == "en" else {"lang": "en"})
        ),
        "csv": url_for(
            "checklists.checklist_overview_csv", **({"lang": "en"} if lang == "en" else {})
        ),
    }
    title = TEXTS[lang]["overview"]
    return _page("checklist_overview.html", lang=lang, nav=nav, title=title, **rows)


@blueprint.get("/reports/checklists.csv")
def checklist_overview_csv() -> Response:
    """One row per development plan: organisation, score, open items, each item's answer."""
    lang = page_language()
    service = _checklists()
    overview = service.overview(current_actor())
    t = TEXTS[lang]
    items = service.checklist.items
    header = [
        "project_id",
        t["plan"],
        t["organisation"],
        t["score"],
        t["open_items"],
        *(item.id for item in items),
    ]
    body = []
    for plan in overview.plans:
        states = {s.item.id: s for s in plan.items}
        body.append(
            [
                plan.project.id,
                plan.project.attributes.title,
                plan.project.attributes.organisation,
                plan.score if any(s.answer for s in plan.items) else None,
                plan.open_count,
                *(
                    states[item.id].answer.answer  # type: ignore[union-attr]
                    if states[item.id].answer
                    else ("-" if states[item.id].relevance == "not_relevant" else "open")
                    for item in items
                ),
            ]
        )
    response = Response(write_csv(header, body), content_type=f"{CSV_MIMETYPE}; charset=utf-8")
    response.headers["Content-Disposition"] = 'attachment; filename="zugabe-checklists.csv"'
    return response


# ------------------------------------------------------------------ description


def openapi_paths(checklist: Checklist) -> dict[str, Any]:
    """This module's paths of the OpenAPI document (merged by ``zugabe.web.openapi``); the
    item ids are those of the region's checklist, loaded and checked at start."""
    project_id = {
        "name": "project_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer"},
    }
    text = {"type": "string"}
    both = {
        "type": "object",
        "properties": {"de": text, "en": text},
        "required": ["de", "en"],
    }
    answer = {
        "type": "object",
        "additionalProperties": False,
        "required": ["answer"],
        "properties": {
            "answer": {"type": "string", "enum": list(ANSWERS)},
            "note": {
                "type": "string",
                "maxLength": NOTE_MAX,
                "description": "Required (not blank) with not_applicable: why it does not apply.",
            },
        },
        "if": {"properties": {"answer": {"const": "not_applicable"}}},
        "then": {"required": ["note"], "properties": {"note": apidoc.NOT_BLANK}},
    }
    body = {
        "type": "object",
        "additionalProperties": False,
        "required": ["answers"],
        "properties": {
            "answers": {
                "type": "object",
                "description": "Item ids of the checklist (GET lists them) to their answer; "
                "null clears an answer.",
                "propertyNames": {"enum": [item.id for item in checklist.items]},
                "additionalProperties": {"oneOf": [answer, {"type": "null"}]},
            }
        },
    }
    item = {
        "type": "object",
        "properties": {
            "id": text,
            "question": both,
            "why": both,
            "legal": {"type": "array", "items": text},
            "relevance": {"type": "string", "enum": list(RELEVANCES)},
            "open": {
                "type": "boolean",
                "description": "Relevant and not yet answered (or only planned).",
            },
            "evidence": {
                "type": ["object", "null"],
                "description": "Measured on the plan's area from a stored layer; value null "
                "when the layer is not stored or nothing lies within the search radius.",
            },
            "answer": {"type": ["object", "null"]},
        },
    }
    checklist = {
        "type": "object",
        "properties": {
            "project": {"type": "object"},
            "title": both,
            "score": {
                "type": ["integer", "null"],
                "description": "Completion in % (required items count twice, recommended once; "
                "planned counts half); null when no item is relevant.",
            },
            "open": {"type": "integer"},
            "may_answer": {"type": "boolean"},
            "themes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "key": text,
                        "title": both,
                        "items": {"type": "array", "items": item},
                    },
                },
            },
        },
    }
    etag = {
        "ETag": {"description": "A digest of the plan's answers, for If-Match.", "schema": text}
    }
    found = {
        "description": "The plan's checklist: items by theme with evidence, answers, score.",
        "headers": etag,
        "content": {"application/json": {"schema": checklist}},
    }
    missing = apidoc.problem("No project with this id.")
    not_a_plan = apidoc.problem("The project is not a development plan: it has no checklist.")
    stale = apidoc.problem("If-Match names answers that changed since.")
    invalid = apidoc.problem("An answer was refused; `errors` names each. Nothing was stored.")
    if_match = {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "description": "The ETag from GET: 412 if the answers changed since.",
        "schema": text,
    }

    def write(summary: str, operation: str) -> dict[str, Any]:
        return {
            "summary": summary,
            "operationId": operation,
            "parameters": [if_match],
            "requestBody": apidoc.json_request(body),
            "responses": {
                "200": found,
                "404": missing,
                "409": not_a_plan,
                "412": stale,
                "422": invalid,
            },
        }

    html = {"text/html": {"schema": text}}
    page = [apidoc.LANGUAGE]
    form = {
        "type": "object",
        "description": "answer__<item id>: one of "
        f"{', '.join(ANSWERS)} or empty (no answer); note__<item id>: its note; etag: the "
        "checklist's state when the page was read; csrf_token: from the page.",
        "additionalProperties": {"type": "string"},
    }
    return {
        "/api/projects/{project_id}/checklist": {
            "parameters": [project_id],
            "get": {
                "summary": "The checklist of a development plan [Checkliste]",
                "operationId": "getProjectChecklist",
                "responses": {"200": found, "404": missing, "409": not_a_plan},
            },
            "put": write(
                "Answer the checklist: the answers given replace all", "replaceProjectChecklist"
            ),
            "patch": write(
                "Answer some items of the checklist (null clears one)", "answerProjectChecklist"
            ),
        },
        "/checklists/projects/{project_id}": {
            "parameters": [project_id],
            "get": {
                "summary": "The checklist page of a development plan, with the answer form",
                "operationId": "getChecklistPage",
                "parameters": page,
                "responses": {
                    "200": {"description": "The page.", "content": html},
                    "404": missing,
                    "409": not_a_plan,
                },
            },
            "post": {
                "summary": "Answer the checklist from its page (all items at once)",
                "operationId": "answerChecklistForm",
                "parameters": page,
                "requestBody": {
                    "required": True,
                    "content": {"application/x-www-form-urlencoded": {"schema": form}},
                },
                "responses": {
                    "303": {"description": "Saved: back to the page."},
                    "404": missing,
                    "409": not_a_plan,
                    "412": stale,
                    "422": {
                        "description": "The page again, naming the refused answers.",
                        "content": html,
                    },
                },
            },
        },
        "/reports/checklists": {
            "get": {
                "summary": "Water-sensitive development plans of the region: per organisation "
                "plans checked, scores, the items most often open",
                "operationId": "getChecklistOverview",
                "parameters": page,
                "responses": {"200": {"description": "The page.", "content": html}},
            }
        },
        "/reports/checklists.csv": {
            "get": {
                "summary": "The region's development plans and their answers, one row per plan",
                "operationId": "getChecklistOverviewCSV",
                "parameters": page,
                "responses": {
                    "200": {
                        "description": "CSV download.",
                        "content": {CSV_MIMETYPE: {"schema": text}},
                    }
                },
            }
        },
    }
