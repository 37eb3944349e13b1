"""JSON/GeoJSON API for projects and the vocabulary (``/api``)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Sequence
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, jsonify, request, url_for

from zugabe.domain.cases import CoordinationCase
from zugabe.domain.desk_vocabulary import desk_vocabulary
from zugabe.errors import (
    FieldError,
    InvalidInput,
    UnsupportedMediaType,
    VersionConflict,
    quoted,
)
from zugabe.services import Services
from zugabe.services.projects import ProjectFilter
from zugabe.web.apidoc import GEOJSON, MAX_ID
from zugabe.web.auth import current_actor
from zugabe.web.security import JSON_MEDIA_TYPES

blueprint = Blueprint("api", __name__, url_prefix="/api")
_ETAG = re.compile(r"^v(\d+)(?:-[0-9a-f]{8})?$")


def _services() -> Services:
    return current_app.extensions["zugabe"]


def expected_version() -> int | None:
    """The version named by ``If-Match`` (``"v3"``), None when absent or ``*``.

    A tag that names no version of this object (``"abc"``, ``W/"v3"``, several tags)
    fails the precondition like a stale one (RFC 9110 §13.1.1): 412.
    """
    if_match = request.if_match
    if not if_match or if_match.star_tag:
        return None
    tags = [tag for tag in if_match if isinstance(tag, str)]
    match = _ETAG.match(tags[0]) if len(tags) == 1 else None
    if match is None or int(match[1]) > MAX_ID:
        raise VersionConflict(
            "If-Match must carry exactly one ETag of this object, as returned by GET "
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


def json_object(allowed: Collection[str]) -> dict[str, Any]:
    """The body as a JSON object of these members only: as for projects, an unknown member
    is refused (422 naming it) rather than ignored, so a typo never goes unnoticed."""
    body = json_body()
    if not isinstance(body, dict):
        raise InvalidInput("send a JSON object", field_errors=[FieldError("", "an object")])
    for name in body:
        if name not in allowed:
            raise InvalidInput(
                f"unknown field {quoted(name)}; allowed: {', '.join(allowed)}",
                field_errors=[FieldError(json_pointer(name), "unknown field")],
            )
    return body


def ids_or_all(name: str, most: int) -> list[int] | None:
    """A body ``{name: [ids]}`` (None-free list) or ``{"all": true}`` (None): what to mark
    as seen or read, everywhere the same."""
    body = json_object((name, "all"))
    if (name in body) == ("all" in body) or ("all" in body and body["all"] is not True):
        raise InvalidInput(
            f'send either {{"{name}": [...]}} or {{"all": true}}',
            field_errors=[FieldError("", f"{name} or all")],
        )
    if "all" in body:
        return None
    raw = body[name]
    parsed = [json_id(v) for v in raw] if isinstance(raw, list) else [None]
    if len(parsed) > most or any(i is None for i in parsed):
        raise InvalidInput(
            f"'{name}' must be a list of at most {most} ids",
            field_errors=[FieldError(f"/{name}", "a list of ids")],
        )
    return [i for i in parsed if i is not None]


def json_integer(value: Any) -> int | None:
    """A JSON number that is a whole number (``3`` or ``3.0``, as JSON Schema counts), else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def json_id(value: Any) -> int | None:
    """A JSON number that can be an id (a whole number from 1 to the store's 64 bits), else
    None."""
    number = json_integer(value)
    return number if number is not None and 1 <= number <= MAX_ID else None


def json_pointer(*names: str) -> str:
    """An RFC 6901 pointer to a member (``~`` and ``/`` escaped)."""
    return "".join("/" + n.replace("~", "~0").replace("/", "~1") for n in names)


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
    response.set_etag(project_etag(feature["properties"]["version"], live))
    return response


def project_etag(version: int, live: Sequence[CoordinationCase]) -> str:
    """A project's ETag: its version and a digest of its live cases' states."""
    states = ",".join(f"{c.id}:{c.version}:{c.status.value}" for c in live)
    return f"v{version}-{hashlib.sha256(states.encode()).hexdigest()[:8]}"


@blueprint.get("/projects")
def list_projects() -> Response:
    services = _services()
    project_filter = ProjectFilter.from_params(request.args)
    limit, after = page_params()
    page = services.projects.list_features(
        current_actor(), project_filter, limit=limit, after=after
    )
    return page_response(page.features, page.number_matched, page.next_after)


@blueprint.get("/projects/points")
def project_points() -> Response:
    """Matching projects as compact points for clustering: ``[id, lon, lat, organisation,
    department, status]`` rows, no paging (a row is ~60 bytes: 10,000 are 600 kB)."""
    points = _services().projects.points(current_actor(), ProjectFilter.from_params(request.args))
    rows = [[p.id, p.lon, p.lat, p.organisation, p.department, p.status] for p in points]
    return jsonify(
        {"columns": ["id", "lon", "lat", "organisation", "department", "status"], "points": rows}
    )


def page_response(
    features: Sequence[dict[str, Any] | orjson.Fragment], matched: int, next_after: int | None
) -> Response:
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


def page_params() -> tuple[int, int | None]:
    """``limit`` (the default page size when absent) and ``after`` of a paged listing.

    Both were checked against the operation's document before the view ran
    (``zugabe.web.parameters``), so every listing refuses the same values with the same words.
    """
    limit, after = request.args.get("limit"), request.args.get("after")
    return (
        int(limit) if limit else _services().settings.page_size,
        int(after) if after else None,
    )


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
    return jsonify(services.vocabulary.as_json() | {"case_desk": desk_vocabulary()})
