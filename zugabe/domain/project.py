"""The planning project (Maßnahme) and the checks on its attributes.

Geometry is a shapely geometry in the storage CRS (metres); conversion from
and to GeoJSON happens at the edges (``zugabe.io.geojson``).
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import shapely
from shapely.geometry.base import BaseGeometry

from zugabe.errors import FieldError, quoted
from zugabe.messages import Amount, Message, area, length

if TYPE_CHECKING:
    from zugabe.domain.vocabulary import Vocabulary

TITLE_MAX = 200
TEXT_MAX = 10_000
CONTACT_MAX = 200
EXTERNAL_ID_MAX = 100


class Status(StrEnum):
    """Life cycle of a project, in order (cancelled can happen at any time)."""

    IDEA = "idea"
    PLANNING = "planning"
    APPROVED = "approved"
    UNDER_CONSTRUCTION = "under_construction"
    DONE = "done"
    CANCELLED = "cancelled"


# How people read the project fields, for reports, exports and their column headers.
FIELD_LABELS: dict[str, dict[str, str]] = {
    "id": {"de": "Nr.", "en": "No."},
    "title": {"de": "Titel", "en": "Title"},
    "description": {"de": "Beschreibung", "en": "Description"},
    "organisation": {"de": "Organisation", "en": "Organisation"},
    "department": {"de": "Fachbereich", "en": "Department"},
    "measure_type": {"de": "Maßnahmenart", "en": "Measure type"},
    "status": {"de": "Status", "en": "Status"},
    "start": {"de": "Beginn", "en": "Start"},
    "end": {"de": "Ende", "en": "End"},
    "contact": {"de": "Kontakt", "en": "Contact"},
    "cost_eur": {"de": "Kosten (EUR)", "en": "Cost (EUR)"},
    "external_id": {"de": "Externe ID", "en": "External ID"},
    "version": {"de": "Version", "en": "Version"},
}


@dataclass(frozen=True)
class ProjectAttributes:
    """What a planner edits: everything but geometry and bookkeeping."""

    title: str
    organisation: str
    department: str
    measure_type: str
    status: Status = Status.IDEA
    start: date | None = None
    end: date | None = None
    description: str = ""
    contact: str = ""
    cost_eur: float | None = None
    external_id: str = ""
    """The project's number in the system it comes from (a roadworks register): a bulk
    import of that system's list updates the project with this number. Unique; "" for none."""


@dataclass(frozen=True)
class Project:
    """A stored project. ``version`` grows by one with every change."""

    id: int
    attributes: ProjectAttributes
    geometry: BaseGeometry
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    version: int = 1


EDITABLE_FIELDS = (
    "title",
    "description",
    "organisation",
    "department",
    "measure_type",
    "status",
    "start",
    "end",
    "contact",
    "cost_eur",
    "external_id",
)


def attributes_to_json(attributes: ProjectAttributes) -> dict[str, Any]:
    """The editable fields as JSON values (dates as ISO strings)."""
    return {
        "title": attributes.title,
        "description": attributes.description,
        "organisation": attributes.organisation,
        "department": attributes.department,
        "measure_type": attributes.measure_type,
        "status": attributes.status.value,
        "start": attributes.start.isoformat() if attributes.start else None,
        "end": attributes.end.isoformat() if attributes.end else None,
        "contact": attributes.contact,
        "cost_eur": attributes.cost_eur,
        "external_id": attributes.external_id,
    }


def text_problem(value: str, *, multiline: bool = False) -> Message | None:
    """What makes a text unfit to store and to print, or None: control characters (a report
    or spreadsheet cannot hold them) and lone surrogates (not Unicode text at all). The
    message names the field as ``field``; the caller fills it in."""
    allowed = "\n\t" if multiline else ""
    for position, char in enumerate(value):
        category = unicodedata.category(char)
        if category == "Cs":
            return Message("field.surrogate", {"position": position + 1})
        if category == "Cc" and char not in allowed:
            return Message(
                "field.control_character", {"char": f"U+{ord(char):04X}", "position": position + 1}
            )
    return None


def parse_attributes(
    values: dict[str, Any], vocabulary: Vocabulary
) -> tuple[ProjectAttributes | None, list[FieldError]]:
    """Check submitted attribute values; return the attributes or every problem.

    Pointers in the errors are relative to the properties object
    (``/title``); the caller prefixes where they sit in its document. Each error carries
    its message code (``zugabe.messages``), so the web words it in the reader's language.
    """
    errors: list[FieldError] = []

    def error(name: str, code: str, **params: Any) -> None:
        errors.append(FieldError.coded(f"/{name}", code, **params))

    for name in values:
        if name not in EDITABLE_FIELDS:
            error(name, "field.unknown", key=quoted(name), allowed=", ".join(EDITABLE_FIELDS))

    def text(name: str, limit: int, *, required: bool = False) -> str:
        value = values.get(name)
        if value is None:
            if required:
                error(name, "field.required", field=name)
            return ""
        if not isinstance(value, str):
            error(name, "field.not_text", field=name)
            return ""
        value = value.strip()
        if required and not value:
            error(name, "field.empty", field=name)
        if len(value) > limit:  # refused, never cut: the planner decides what to drop
            error(name, "field.too_long", field=name, length=len(value), limit=limit)
        if problem := text_problem(value, multiline=name == "description"):
            error(name, problem.code, field=name, **problem.params)
        return value

    def key(name: str, allowed: dict[str, Any] | tuple[str, ...], context: Message | str) -> str:
        value = values.get(name)
        if value is None or value == "":
            error(name, "field.required", field=name)
            return ""
        if not isinstance(value, str) or value not in allowed:
            shown = ", ".join(sorted(allowed))
            error(
                name,
                "field.unknown_key",
                key=name,
                field=name,
                value=quoted(value),
                context=context,
                allowed=shown,
            )
            return ""
        return value

    def day(name: str) -> date | None:
        value = values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                found = date.fromisoformat(value)
            except ValueError:
                pass
            else:
                first, last = vocabulary.planning_years
                if first <= found.year <= last:
                    return found
                error(
                    name,
                    "field.date_years",
                    field=name,
                    first=str(first),
                    last=str(last),
                    value=quoted(value),
                )
                return None
        error(name, "field.date_format", field=name, value=quoted(value))
        return None

    title = text("title", TITLE_MAX, required=True)
    description = text("description", TEXT_MAX)
    contact = text("contact", CONTACT_MAX)
    external_id = text("external_id", EXTERNAL_ID_MAX)
    organisation = key("organisation", vocabulary.organisations, "")
    department = ""
    if organisation:
        org = vocabulary.organisations[organisation]
        department = key(
            "department",
            org.departments,
            Message("field.for_organisation", {"organisation": organisation}),
        )
    measure_type = ""
    if department:
        dept = vocabulary.departments[department]
        measure_type = key(
            "measure_type",
            dept.measure_types,
            Message("field.for_department", {"department": department}),
        )
    status = Status.IDEA
    raw_status = values.get("status")
    if raw_status is not None:
        try:
            status = Status(raw_status)
        except ValueError:
            error(
                "status",
                "field.unknown_status",
                value=quoted(raw_status),
                allowed=", ".join(s.value for s in Status),
            )
    start, end = day("start"), day("end")
    if start and end and end < start:
        error("end", "field.end_before_start", end=end.isoformat(), start=start.isoformat())
    cost = values.get("cost_eur")
    if cost is not None and (
        isinstance(cost, bool)
        or not isinstance(cost, int | float)
        or not math.isfinite(cost)
        or cost < 0
    ):
        error("cost_eur", "field.cost_invalid", value=quoted(cost))
        cost = None
    elif cost is not None and cost > (most := vocabulary.limits_of(measure_type).max_cost_eur):
        error(
            "cost_eur",
            "field.cost_too_high",
            cost=Amount(cost, "€", up=True),
            most=Amount(most, "€"),
            for_type=_for_measure_type(measure_type),
        )
    if errors:
        return None, errors
    return (
        ProjectAttributes(
            title=title,
            organisation=organisation,
            department=department,
            measure_type=measure_type,
            status=status,
            start=start,
            end=end,
            description=description,
            contact=contact,
            cost_eur=float(cost) if cost is not None else None,
            external_id=external_id,
        ),
        [],
    )


def size_problem(
    measure_type: str, geometry: BaseGeometry, vocabulary: Vocabulary
) -> Message | None:
    """Why a geometry (storage CRS, metres) is too large for one project of the measure type,
    or None. The area of polygons and the length of lines count; a point has no size."""
    limits = vocabulary.limits_of(measure_type)
    dimension = shapely.get_dimensions(geometry)
    if dimension == 2 and geometry.area > limits.max_area_m2:
        code, measured, most = (
            "geometry.too_large",
            area(geometry.area, up=True),
            area(limits.max_area_m2),
        )
    elif dimension == 1 and geometry.length > limits.max_length_m:
        code, measured, most = (
            "geometry.too_long",
            length(geometry.length, up=True),
            length(limits.max_length_m),
        )
    else:
        return None
    return Message(
        code, {"measured": measured, "most": most, "for_type": _for_measure_type(measure_type)}
    )


def _for_measure_type(measure_type: str) -> Message | str:
    if not measure_type:
        return ""
    return Message("field.for_measure_type", {"measure_type": measure_type})
