"""Pieces of the OpenAPI document that several modules describe their operations with.

Apart from ``zugabe.web.openapi`` (which imports those modules), so that every listing
describes its filters and paging the same way. The server checks each query parameter
against what is said here (``zugabe.web.parameters``), so these schemas are exact.
"""

from __future__ import annotations

from typing import Any

from zugabe.config import Settings
from zugabe.domain.agreement import VoteChoice
from zugabe.domain.project import Status
from zugabe.services.projects import SEARCH_MAX
from zugabe.services.synergy import MAX_CELL_SIZE_M

PROBLEM = "application/problem+json"
GEOJSON = "application/geo+json"
MAX_ID = 2**63 - 1
"""Ids, versions and cursors are 64-bit integers in every store."""

_LON = r"-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[1-9]?[0-9])(?:\.[0-9]+)?)"
_LAT = r"-?(?:90(?:\.0+)?|[1-8]?[0-9](?:\.[0-9]+)?)"
BBOX_PATTERN = rf"^{_LON},{_LAT},{_LON},{_LAT}$"
"""Four decimal degrees; that min is below max is said in prose (JSON Schema cannot)."""

Schema = dict[str, Any]
_SPACE = r"\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""What Python's ``str.strip`` removes, spelt out: ``\\s`` differs between regex dialects."""
NOT_BLANK: Schema = {"type": "string", "pattern": f"[^{_SPACE}]"}
"""Text with something in it besides white space."""


def vote_body(reason: Schema) -> Schema:
    """One organisation's vote, on a case's proposal or a good-practice example: agree, or
    object with a ``reason`` (which then must not be blank)."""
    return {
        "type": "object",
        "required": ["vote"],
        "additionalProperties": False,
        "properties": {
            "vote": {"type": "string", "enum": [v.value for v in VoteChoice]},
            "reason": reason,
        },
        "if": {"properties": {"vote": {"const": VoteChoice.OBJECT.value}}},
        "then": {"required": ["reason"], "properties": {"reason": NOT_BLANK}},
    }


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def problem(description: str) -> dict[str, Any]:
    """A response with an RFC 9457 problem body."""
    return {"description": description, "content": {PROBLEM: {"schema": ref("Problem")}}}


def query(name: str, description: str, schema: Schema | None = None) -> dict[str, Any]:
    """An optional query parameter (a plain string unless ``schema`` says otherwise)."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def listing(name: str, description: str, values: list[str] | None = None) -> dict[str, Any]:
    """A comma-separated list (``status=open,resolved``), each item one of ``values`` if given."""
    items: Schema = {"type": "string", "enum": values} if values else {"type": "string"}
    parameter = query(name, description, {"type": "array", "items": items})
    return parameter | {"style": "form", "explode": False}


def day(name: str, description: str) -> dict[str, Any]:
    return query(name, description, {"type": "string", "format": "date"})


def period(what: str = "Planned window") -> list[dict[str, Any]]:
    """``from`` and ``to``; a period that ends before it starts is a 400."""
    return [
        day("from", f"{what} meets the period from this day."),
        day("to", f"{what} meets the period until this day (not before `from`)."),
    ]


def bbox(description: str) -> dict[str, Any]:
    return query(
        "bbox",
        f"{description} Each minimum below its maximum.",
        {
            "type": "string",
            "pattern": BBOX_PATTERN,
            "description": "min_lon,min_lat,max_lon,max_lat in WGS84 degrees "
            "(longitude -180..180, latitude -90..90)",
        },
    )


def project_filters(what: str = "Projects") -> list[dict[str, Any]]:
    """The filters of every listing and export of projects (``ProjectFilter``)."""
    return [
        bbox(f"{what} intersecting this box."),
        listing("organisation", "Organisation keys (any of)."),
        listing("department", "Department keys (any of)."),
        listing("measure_type", "Measure type keys (any of)."),
        listing("status", "Project statuses (any of).", [s.value for s in Status]),
        *period(),
        query(
            "q", "Case-insensitive text in the title.", {"type": "string", "maxLength": SEARCH_MAX}
        ),
    ]


def cell_size(description: str) -> dict[str, Any]:
    """A synergy grid's cell size; how many cells fit is said in prose (400 beyond)."""
    return query(
        "cell_size",
        description,
        {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_CELL_SIZE_M},
    )


def paging(settings: Settings) -> list[dict[str, Any]]:
    """``limit`` and ``after`` of every paged listing: one page size rule everywhere."""
    return [
        query(
            "limit",
            f"Page size (default {settings.page_size}).",
            {"type": "integer", "minimum": 1, "maximum": settings.max_page_size},
        ),
        query(
            "after",
            "Cursor: the id after which the page starts (see the `next` link).",
            {"type": "integer", "minimum": 0, "maximum": MAX_ID},
        ),
    ]


LANGUAGE = query(
    "lang", "Language of the page: de (default) or en.", {"type": "string", "enum": ["de", "en"]}
)


PROJECT_PATCH: dict[str, Any] = {
    "required": True,
    "content": {
        "application/merge-patch+json": {"schema": ref("ProjectPatch")},
        "application/json": {"schema": ref("ProjectPatch")},
    },
}
"""A project's JSON merge patch (``/api/projects/{id}``, OGC API Part 4)."""


def json_request(schema: Schema) -> dict[str, Any]:
    """A required JSON request body of this schema."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def ids_or_all(name: str, most: int) -> dict[str, Any]:
    """The body of ``zugabe.web.api.ids_or_all``: ``{name: [ids]}`` or ``{"all": true}``."""
    ids = {
        "type": "array",
        "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        "maxItems": most,
    }
    return json_request(
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {name: ids, "all": {"const": True}},
            "oneOf": [{"required": [name]}, {"required": ["all"]}],
        }
    )
