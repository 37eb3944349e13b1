"""The inbox over HTTP (``/api/inbox``): one's own cases, most urgent first, and what is new."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from zugabe.config import Settings
from zugabe.domain.cases import LIVE_STATUSES
from zugabe.domain.rules import RELATIONS, SEVERITIES
from zugabe.services import Services
from zugabe.services.inbox import DUE_WINDOWS, SEEN_MAX
from zugabe.web.api import GEOJSON, ids_or_all
from zugabe.web.apidoc import ids_or_all as apidoc_ids_or_all
from zugabe.web.apidoc import listing, paging, problem, query
from zugabe.web.auth import current_actor
from zugabe.web.language import api_language

blueprint = Blueprint("inbox", __name__, url_prefix="/api/inbox")


def _services() -> Services:
    return current_app.extensions["zugabe"]


@blueprint.get("")
def inbox() -> Response:
    services, actor = _services(), current_actor()
    query = services.inbox.query(actor, request.args)
    page = services.inbox.page(actor, query)
    lang = api_language()
    features = services.cases.to_features([case for case, _ in page.cases], lang)
    for feature, (_case, unread) in zip(features, page.cases, strict=True):
        feature["properties"]["unread"] = unread
    links = [{"rel": "self", "type": GEOJSON, "href": request.url}]
    following = query.offset + len(features)
    if following < page.matched:
        params = {k: v for k, v in request.args.items() if k != "offset"}
        href = url_for("inbox.inbox", _external=True, **params, offset=following)
        links.append({"rel": "next", "type": GEOJSON, "href": href})
    response = jsonify(
        {
            "type": "FeatureCollection",
            "features": features,
            "numberMatched": page.matched,
            "numberReturned": len(features),
            "unread": page.unread,
            "links": links,
        }
    )
    response.mimetype = GEOJSON
    return response


@blueprint.post("/seen")
def seen() -> Response:
    """Body ``{"cases": [12, 13]}`` (seen as they are now) or ``{"all": true}``."""
    _services().inbox.seen(current_actor(), ids_or_all("cases", SEEN_MAX))
    return Response(status=204)


def openapi_paths(settings: Settings) -> dict[str, Any]:
    """This module's paths of the OpenAPI document (merged by ``zugabe.web.openapi``)."""
    return {
        "/api/inbox": {
            "get": {
                "summary": "My inbox: live cases of my organisation, most urgent first",
                "description": "Ordered by the earlier start of the two subjects, then "
                "severity. `unread` counts the organisation's live cases changed since you "
                "last saw them, whatever the filters. An account of no organisation has no "
                "inbox (403).",
                "operationId": "getInbox",
                "parameters": [
                    query(
                        "scope",
                        "organisation (default) or department: only cases involving one of "
                        "your departments.",
                        {"type": "string", "enum": ["organisation", "department"]},
                    ),
                    query("assigned", "`me`: cases assigned to you.", {"enum": ["me"]}),
                    listing("status", "Statuses (any of).", [s.value for s in LIVE_STATUSES]),
                    listing("relation", "Relations (any of).", list(RELATIONS)),
                    listing("severity", "Severities (any of).", list(SEVERITIES)),
                    query(
                        "due",
                        "Due: overdue, within a week, within a month.",
                        {"type": "string", "enum": list(DUE_WINDOWS)},
                    ),
                    query("unread", "`true`: only cases new to you.", {"enum": ["true"]}),
                    query(
                        "waiting",
                        "`me`: proposals still waiting for your organisation's vote.",
                        {"enum": ["me"]},
                    ),
                    paging(settings)[0],  # limit, as every listing; paged by offset
                    query(
                        "offset",
                        "Cases to skip (see the `next` link).",
                        {"type": "integer", "minimum": 0, "maximum": 10_000_000},
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "A page of cases, each with `unread`, and the count.",
                        "content": {GEOJSON: {"schema": {"type": "object"}}},
                    },
                    "400": problem("A query parameter is malformed."),
                },
            }
        },
        "/api/inbox/seen": {
            "post": {
                "summary": "Mark cases (or everything) as seen",
                "operationId": "markInboxSeen",
                "requestBody": apidoc_ids_or_all("cases", SEEN_MAX),
                "responses": {"204": {"description": "Marked."}, "422": problem("Bad body.")},
            }
        },
    }
