"""Which stored project a row of a bulk import names: new, changed or unchanged.

Re-importing ZUGABE's own export, or the weekly list of another system, must update the
projects it names instead of creating each one again (a re-imported export once doubled
150 projects, and every road/sewer situation became four cases). A row names a project by
its ``external_id`` (the other system's number), else by ZUGABE's ``id`` where the file
is an export of this instance (the ``id`` and ``created_at`` of the project agree); a row
naming nothing, or an id of another instance, is a new project. A named project whose
values are the same is left alone (no new version).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import shapely

from zugabe.domain.project import Project
from zugabe.services.projects import ProjectChange
from zugabe.storage.contract import NewProject, Store

GEOMETRY_TOLERANCE_M = 0.05
"""Coordinates closer than this are the same: an export's lon/lat keeps 7 decimals (~1 cm)."""


@dataclass(frozen=True)
class RowProblem:
    """One problem of one row: the file's row number, the project field, what is wrong."""

    row: int
    field: str
    detail: str
    source_field: str | None = None


@dataclass(frozen=True)
class CheckedRow:
    """A row that passed every check, with the bookkeeping of an export if the file has it."""

    row: int
    draft: NewProject
    file_id: int | None = None
    file_version: int | None = None
    file_created_at: datetime | None = None


@dataclass
class ImportPlan:
    """What applying the rows would do, row by row."""

    new: list[tuple[int, NewProject]] = field(default_factory=list)
    changed: list[tuple[int, ProjectChange]] = field(default_factory=list)
    unchanged: list[tuple[int, Project]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    unknown_ids: int = 0  # rows whose id names no project here (another instance's): new


def plan_import(
    rows: Sequence[CheckedRow], store: Store, may_change: Callable[[Project], bool]
) -> ImportPlan:
    """Sort the rows into new, changed and unchanged projects; name what cannot be done."""
    by_external = {
        p.attributes.external_id: p
        for p in store.get_projects(
            external_ids=[
                r.draft.attributes.external_id for r in rows if r.draft.attributes.external_id
            ]
        )
    }
    by_id = {p.id: p for p in store.get_projects(ids=[r.file_id for r in rows if r.file_id])}
    plan = ImportPlan()
    claimed: dict[int, int] = {}  # project id -> the row that names it
    references: dict[str, int] = {}  # external id -> the row that carries it
    for checked in rows:
        row, draft = checked.row, checked.draft
        reference = draft.attributes.external_id
        if reference in references:
            plan.problems.append(
                RowProblem(
                    row,
                    "external_id",
                    f"row {references[reference]} has the same external_id {reference!r}",
                )
            )
            continue
        if reference:
            references[reference] = row
        current = by_external.get(reference) if reference else None
        if current is None and not reference and checked.file_id is not None:
            current = by_id.get(checked.file_id)
            if current is None or not _same_creation(current, checked.file_created_at):
                current = None
                plan.unknown_ids += 1
        if current is None:
            plan.new.append((row, draft))
            continue
        problem = _problem(checked, current, claimed, may_change)
        if problem is not None:
            plan.problems.append(problem)
            continue
        claimed[current.id] = row
        geometry = draft.geometry
        if shapely.equals_exact(current.geometry, geometry, tolerance=GEOMETRY_TOLERANCE_M):
            geometry = current.geometry
        if draft.attributes == current.attributes and geometry is current.geometry:
            plan.unchanged.append((row, current))
        else:
            plan.changed.append((row, ProjectChange(current, draft.attributes, geometry)))
    return plan


def _problem(
    checked: CheckedRow,
    current: Project,
    claimed: dict[int, int],
    may_change: Callable[[Project], bool],
) -> RowProblem | None:
    """Why the row cannot become the new version of ``current``, or None."""
    row = checked.row
    if current.id in claimed:
        return RowProblem(
            row, "id", f"row {claimed[current.id]} already names project {current.id}"
        )
    if checked.file_version is not None and checked.file_version != current.version:
        return RowProblem(
            row,
            "version",
            f"project {current.id} changed since this file was written (version "
            f"{checked.file_version} in the file, {current.version} stored): export it again",
        )
    if not may_change(current):
        attributes = current.attributes
        return RowProblem(
            row,
            "id",
            f"names project {current.id} of {attributes.organisation}/{attributes.department}, "
            "which you may not change",
        )
    return None


def _same_creation(project: Project, created_at: datetime | None) -> bool:
    """Whether an export's row is this project: the same id alone may be another instance's
    project, or a column 'id' of a file that never came from ZUGABE."""
    if created_at is None:
        return False
    # Files keep milliseconds (GeoPackage), and GDAL rounds to them.
    return abs(project.created_at - created_at) <= timedelta(milliseconds=1)


def moment(value: Any) -> datetime | None:
    """An export's ``created_at`` as files hold it (ISO text; readers give date-times as
    the text the file holds), in UTC."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def whole_number(value: Any) -> int | None:
    """A bookkeeping number as files hold it (12, 12.0, "12"), None if empty or not one."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() and 0 < number < 2**63 else None
