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


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """What makes a text unfit to store and to print, or None: control characters (a report
    or spreadsheet cannot hold them) and lone surrogates (not Unicode text at all)."""
    allowed = "\n\t" if multiline else ""
    for position, char in enumerate(value):
        category = unicodedata.category(char)
        if category == "Cs":
            return f"holds an invalid character (a lone surrogate) at position {position + 1}"
        if category == "Cc" and char not in allowed:
            return f"holds a control character (U+{ord(char):04X}) at position {position + 1}"
    return None


def parse_attributes(
    values: dict[str, Any], vocabulary: Vocabulary
) -> tuple[ProjectAttributes | None, list[FieldError]]:
    """Check submitted attribute values; return the attributes or every problem.

    Pointers in the errors are relative to the properties object
    (``/title``); the caller prefixes where they sit in its document.
    """
    errors: list[FieldError] = []

    def error(name: str, detail: str) -> None:
        errors.append(FieldError(f"/{name}", detail))

    for name in values:
        if name not in EDITABLE_FIELDS:
            error(name, f"unknown field {quoted(name)}; allowed: {', '.join(EDITABLE_FIELDS)}")

    def text(name: str, limit: int, *, required: bool = False) -> str:
        value = values.get(name)
        if value is None:
            if required:
                error(name, f"'{name}' is required")
            return ""
        if not isinstance(value, str):
            error(name, f"'{name}' must be a string")
            return ""
        value = value.strip()
        if required and not value:
            error(name, f"'{name}' must not be empty")
        if len(value) > limit:  # refused, never cut: the planner decides what to drop
            error(name, f"'{name}' has {len(value):,} characters, more than the {limit:,} allowed")
        if problem := text_problem(value, multiline=name == "description"):
            error(name, f"'{name}' {problem}")
        return value

    def key(name: str, allowed: dict[str, Any] | tuple[str, ...], context: str) -> str:
        value = values.get(name)
        if value is None or value == "":
            error(name, f"'{name}' is required")
            return ""
        if not isinstance(value, str) or value not in allowed:
            shown = ", ".join(sorted(allowed))
            error(name, f"unknown {name} {quoted(value)}{context}; allowed: {shown}")
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
                    f"'{name}' must lie in the years {first} to {last} (planning_years of "
                    f"the vocabulary), got {quoted(value)}",
                )
                return None
        error(name, f"'{name}' must be a date as YYYY-MM-DD, got {quoted(value)}")
        return None

    title = text("title", TITLE_MAX, required=True)
    description = text("description", TEXT_MAX)
    contact = text("contact", CONTACT_MAX)
    external_id = text("external_id", EXTERNAL_ID_MAX)
    organisation = key("organisation", vocabulary.organisations, "")
    department = ""
    if organisation:
        org = vocabulary.organisations[organisation]
        department = key("department", org.departments, f" for organisation '{organisation}'")
    measure_type = ""
    if department:
        dept = vocabulary.departments[department]
        measure_type = key("measure_type", dept.measure_types, f" for department '{department}'")
    status = Status.IDEA
    raw_status = values.get("status")
    if raw_status is not None:
        try:
            status = Status(raw_status)
        except ValueError:
            error(
                "status",
                f"unknown status {quoted(raw_status)}; "
                f"allowed: {', '.join(s.value for s in Status)}",
            )
    start, end = day("start"), day("end")
    if start and end and end < start:
        error("end", f"end {end.isoformat()} is before start {start.isoformat()}")
    cost = values.get("cost_eur")
    if cost is not None and (
        isinstance(cost, bool)
        or not isinstance(cost, int | float)
        or not math.isfinite(cost)
        or cost < 0
    ):
        error("cost_eur", f"'cost_eur' must be a non-negative number of euros, got {quoted(cost)}")
        cost = None
    elif cost is not None and cost > (most := vocabulary.limits_of(measure_type).max_cost_eur):
        error(
            "cost_eur",
            f"'cost_eur' is {_amount(cost, up=True)} €, more than the {_amount(most)} € allowed"
            f"{_for_measure_type(measure_type)}",
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


def size_problem(measure_type: str, geometry: BaseGeometry, vocabulary: Vocabulary) -> str | None:
    """Why a geometry (storage CRS, metres) is too large for one project of the measure type,
    or None. The area of polygons and the length of lines count; a point has no size."""
    limits = vocabulary.limits_of(measure_type)
    dimension = shapely.get_dimensions(geometry)
    if dimension == 2 and geometry.area > limits.max_area_m2:
        measured, most = _area(geometry.area, up=True), _area(limits.max_area_m2)
        what = "area"
    elif dimension == 1 and geometry.length > limits.max_length_m:
        measured, most = _length(geometry.length, up=True), _length(limits.max_length_m)
        what = "length"
    else:
        return None
    return (
        f"the {what} is {measured}, more than the {most} allowed{_for_measure_type(measure_type)}"
    )


def _for_measure_type(measure_type: str) -> str:
    return f" for measure type '{measure_type}'" if measure_type else ""


def _amount(value: float, *, up: bool = False) -> str:
    """A figure as people read it: 31,245 or 0.25; absurd ones (1e+300) in short. A measured
    figure is rounded ``up``, so that 5.001 km never reads as the 5 km allowed."""
    if value >= 1e15:
        return f"{value:.3g}"
    decimals = 0 if value >= 100 else 2
    if up:
        value = math.ceil(value * 10**decimals) / 10**decimals
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if decimals else text


def _area(m2: float, *, up: bool = False) -> str:
    return f"{_amount(m2 / 1e6, up=up)} km²" if m2 >= 1e6 else f"{_amount(m2, up=up)} m²"


def _length(m: float, *, up: bool = False) -> str:
    return f"{_amount(m / 1e3, up=up)} km" if m >= 1e3 else f"{_amount(m, up=up)} m"
