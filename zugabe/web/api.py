"""JSON/GeoJSON API for projects and the vocabulary (``/api``)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from zugabe.errors import (
    BadRequest,
    FieldError,
    InvalidInput,
    UnsupportedMediaType,
    VersionConflict,
)
from zugabe.services import Services
from zugabe.services.projects import ProjectFilter
from zugabe.web.auth import current_actor
from zugabe.web.security import JSON_MEDIA_TYPES

blueprint = Blueprint("api", __name__, url_prefix="/api")

GEOJSON = "application/geo+json"
MAX_ID = 2**63 - 1
"""Ids, versions and cursors are 64-bit integers in every store."""
_ETAG = re.compile(r"^v(\d+)(?:-[0-9a-f]{8})?$")


def _services() -> Services:
    return current_app.extensions["zugabe"]


def expected_version() -> int | None:
    """The version named by ``If-Match`` (``"v3"``), None when absent or ``*``."""
    if_match = request.if_match
    if not if_match or if_match.star_tag:
        return None
    tags = [tag for tag in if_match if isinstance(tag, str)]
    match = _ETAG.match(tags[0]) if len(tags) == 1 else None
    if match is None or int(match[1]) > MAX_ID:
        raise VersionConflict(
            "If-Match must carry exactly one ETag of this project, as returned by GET "
            '(e.g. "v3-1a2b3c4d", or "v3")'
        )
    return int(match[1])


def json_body() -> Any:
    """The request body as JSON, or a 422 that says where parsing failed.

    Only JSON media types are taken (415 otherwise): a form or ``text/plain`` post from
    another site is refused before its body is even read.
    """
    if request.mimetype not in JSON_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"send the body as {', '.join(sorted(JSON_MEDIA_TYPES))}, "
            f"not {request.mimetype or 'no Content-Type'}"
        )
    try:
        text = request.get_data(cache=False).decode("utf-8")
    except UnicodeDecodeError as exc:
        detail = f"the body is not UTF-8 text (byte {exc.start})"
        raise InvalidInput(detail, field_errors=[FieldError("", detail)]) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        detail = f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise InvalidInput(detail, field_errors=[FieldError("", detail)]) from exc
    except RecursionError:
        detail = "the JSON is nested too deeply"
        raise InvalidInput(detail, field_errors=[FieldError("", detail)]) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        detail = f"the JSON holds a value that cannot be read: {str(exc)[:120]}"
        raise InvalidInput(detail, field_errors=[FieldError("", detail)]) from None


def feature_response(feature: dict[str, Any], status: int = 200) -> Response:
    """A project Feature with its live coordination cases (a foreign member ``cases``).

    The ETag names the project's version and a digest of its cases' states, so a cached
    answer is not taken for current once a case changed (``If-Match`` reads the version).
    """
    cases = _services().cases
    live = cases.of_project(int(feature["id"]))
    feature["cases"] = [cases.to_json(c) for c in live]
    response = jsonify(feature)
    response.status_code = status
    response.mimetype = GEOJSON
    states = ",".join(f"{c.id}:{c.version}:{c.status.value}" for c in live)
    digest = hashlib.sha256(states.encode()).hexdigest()[:8]
    response.set_etag(f"v{feature['properties']['version']}-{digest}")
    return response


@blueprint.get("/projects")
def list_projects() -> Response:
    services = _services()
    project_filter = ProjectFilter.from_params(request.args)
    limit = int_param("limit")
    after = int_param("after")
    page = services.projects.list(current_actor(), project_filter, limit=limit, after=after)
    features = [services.projects.to_feature(p) for p in page.projects]
    return page_response(features, page.number_matched, page.next_after)


@blueprint.get("/projects/points")
def project_points() -> Response:
    """Matching projects as compact points for clustering: ``[id, lon, lat, organisation,
    department, status]`` rows, no paging (a row is ~60 bytes: 10,000 are 600 kB)."""
    points = _services().projects.points(current_actor(), ProjectFilter.from_params(request.args))
    rows = [[p.id, p.lon, p.lat, p.organisation, p.department, p.status] for p in points]
    return jsonify(
        {"columns": ["id", "lon", "lat", "organisation", "department", "status"], "points": rows}
    )


def page_response(features: list[dict[str, Any]], matched: int, next_after: int | None) -> Response:
    """A page of a listing as a FeatureCollection with OGC-style ``self``/``next`` links.

    The ``next`` link repeats the request's own parameters with the cursor
    moved, so every listing pages the same way.
    """
    links = [{"rel": "self", "type": GEOJSON, "href": request.url}]
    if next_after is not None:
        params = {k: v for k, v in request.args.items() if k != "after"}
        view_args = request.view_args or {}
        href = url_for(
            request.endpoint or "", _external=True, **view_args, **params, after=next_after
        )
        links.append({"rel": "next", "type": GEOJSON, "href": href})
    response = jsonify(
        {
            "type": "FeatureCollection",
            "features": features,
            "numberMatched": matched,
            "numberReturned": len(features),
            "links": links,
        }
    )
    response.mimetype = GEOJSON
    return response


def limit_param() -> int:
    """``limit`` of a listing: the default page size, or 1 to ``max_page_size`` (else 400)."""
    settings = _services().settings
    limit = int_param("limit")
    if limit is None:
        return settings.page_size
    if not 1 <= limit <= settings.max_page_size:
        raise BadRequest(f"'limit' must be between 1 and {settings.max_page_size}")
    return limit


def int_param(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_ID:
        raise BadRequest(f"'{name}' must be a whole number below 2^63, got {raw[:200]!r}")
    return int(raw)


@blueprint.post("/projects")
def create_project() -> Response:
    services = _services()
    project = services.projects.create(json_body(), current_actor())
    response = feature_response(services.projects.to_feature(project), 201)
    response.headers["Location"] = url_for("api.get_project", project_id=project.id)
    return response


@blueprint.get("/projects/<int:project_id>")
def get_project(project_id: int) -> Response:
    services = _services()
    project = services.projects.get(current_actor(), project_id)
    response = feature_response(services.projects.to_feature(project))
    return response.make_conditional(request)


@blueprint.put("/projects/<int:project_id>")
def replace_project(project_id: int) -> Response:
    services = _services()
    project = services.projects.replace(
        project_id, json_body(), current_actor(), expected_version()
    )
    return feature_response(services.projects.to_feature(project))


@blueprint.patch("/projects/<int:project_id>")
def patch_project(project_id: int) -> Response:
    services = _services()
    project = services.projects.patch(project_id, json_body(), current_actor(), expected_version())
    return feature_response(services.projects.to_feature(project))


@blueprint.delete("/projects/<int:project_id>")
def delete_project(project_id: int) -> Response:
    _services().projects.delete(project_id, current_actor(), expected_version())
    return Response(status=204)


@blueprint.get("/vocab")
def vocabulary() -> Response:
    services = _services()
    services.policy.require_read(current_actor())
    return jsonify(services.vocabulary.as_json())
