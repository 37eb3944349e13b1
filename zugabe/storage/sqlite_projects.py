"""Projects in the SQLite store, and the rows of projects in both stores.

A mixin of ``SqliteStore`` implementing ``SqlStore``'s project hooks: every write keeps
``projects_rtree`` in step in the same transaction, and area queries ask it for
candidates. The helpers below (a project as column values and back, the guard of a
versioned write, the non-spatial conditions of a query) serve the PostGIS store too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    delete,
    insert,
    or_,
    select,
    update,
)

from zugabe.domain.project import Project, ProjectAttributes, Status
from zugabe.errors import InvalidInput, NotFound, VersionConflict
from zugabe.storage.contract import ProjectQuery
from zugabe.storage.sqlite_area import area_conditions, spatial_test
from zugabe.storage.sqlite_engine import SqliteBase
from zugabe.storage.sqlite_filter import Target, project_operand, translate
from zugabe.storage.sqlite_schema import projects_rtree_table, projects_table

_INSERT_BOX = insert(projects_rtree_table)


VALUES_PER_QUERY = 500
"""Values asked for in one IN (…): well below SQLite's limit of bound parameters."""


class SqliteProjects(SqliteBase):
    """What projects need of SQLite in ``SqliteStore`` (the rest is ``SqlStore``'s): the
    R*Tree kept in step with every write, and area and CQL2 conditions that use it."""

    def _project_boxes(
        self, conn: Connection, project_id: int, values: dict[str, Any] | None, *, new: bool
    ) -> None:
        rtree = projects_rtree_table
        if values is None:
            conn.execute(delete(rtree).where(rtree.c.id == project_id))
        elif new:
            conn.execute(_INSERT_BOX, {"id": project_id, **_bounds(values)})
        else:
            conn.execute(update(rtree).where(rtree.c.id == project_id).values(**_bounds(values)))

    def _project_conditions(self, query: ProjectQuery) -> list[ColumnElement[bool]]:
        conditions = _conditions(query)
        if query.area is not None:
            conditions.extend(area_conditions(query.area))
        if query.filter is not None:
            conditions.append(translate(query.filter, _PROJECT_TARGET))
        return conditions


def _row_values(attributes: ProjectAttributes, geometry: BaseGeometry) -> dict[str, Any]:
    """Column values for the editable part of a project."""
    if geometry is None or geometry.is_empty:
        raise InvalidInput("a project needs a non-empty geometry")
    min_x, min_y, max_x, max_y = geometry.bounds
    if not all(math.isfinite(v) for v in (min_x, min_y, max_x, max_y)):
        raise InvalidInput("the geometry has coordinates that are not finite numbers")
    return {
        "title": attributes.title,
        "title_folded": attributes.title.casefold(),
        "description": attributes.description,
        "organisation": attributes.organisation,
        "department": attributes.department,
        "measure_type": attributes.measure_type,
        "status": Status(attributes.status).value,
        "start_date": attributes.start,
        "end_date": attributes.end,
        "contact": attributes.contact,
        "cost_eur": attributes.cost_eur,
        "external_id": attributes.external_id,
        "geometry": shapely.to_wkb(geometry),
        "min_x": min_x,
        "min_y": min_y,
        "max_x": max_x,
        "max_y": max_y,
    }


def _bounds(values: dict[str, Any]) -> dict[str, float]:
    return {key: values[key] for key in ("min_x", "max_x", "min_y", "max_y")}


def _project(row: Row[Any]) -> Project:
    return _projects([row])[0]


def _projects(rows: Sequence[Row[Any]]) -> list[Project]:
    """Stored projects, their geometries decoded in one vectorised call (a map view's page
    of a few hundred, or every project for the detection index)."""
    geometries = shapely.from_wkb(np.array([row.geometry for row in rows], dtype=object))
    return [
        Project(
            id=row.id,
            attributes=ProjectAttributes(
                title=row.title,
                organisation=row.organisation,
                department=row.department,
                measure_type=row.measure_type,
                status=Status(row.status),
                start=row.start_date,
                end=row.end_date,
                description=row.description,
                contact=row.contact,
                cost_eur=row.cost_eur,
                external_id=row.external_id,
            ),
            geometry=geometry,
            created_at=row.created_at,
            created_by=row.created_by,
            updated_at=row.updated_at,
            updated_by=row.updated_by,
            version=row.version,
        )
        for row, geometry in zip(rows, geometries, strict=True)
    ]


def _date_column(values: Sequence[str | None]) -> npt.NDArray[np.datetime64]:
    """Stored ISO dates as ``datetime64[D]``, NaT where there is none."""
    return np.array(["NaT" if v is None else v for v in values], dtype="datetime64[D]")


def _utc_column(values: Sequence[str]) -> npt.NDArray[np.datetime64]:
    """Stored ``UtcDateTime`` text (always ``+00:00``) as naive UTC ``datetime64[us]``."""
    if all(v.endswith("+00:00") for v in values):
        return np.array([v[:-6] for v in values], dtype="datetime64[us]")
    moments = [datetime.fromisoformat(v).astimezone(UTC).replace(tzinfo=None) for v in values]
    return np.array(moments, dtype="datetime64[us]")


def _raise_missing_or_conflict(
    conn: Connection, project_id: int, expected_version: int | None
) -> None:
    """Explain why a guarded write matched no row (same transaction)."""
    current = conn.execute(
        select(projects_table.c.version).where(projects_table.c.id == project_id)
    ).scalar_one_or_none()
    if current is None:
        raise NotFound(f"project {project_id} does not exist")
    raise VersionConflict(
        f"project {project_id} was changed by someone else: you edited version "
        f"{expected_version}, the current version is {current}"
    )


def _conditions(query: ProjectQuery) -> list[ColumnElement[bool]]:
    """WHERE terms for the non-spatial filters of a query (the area, the CQL2 filter and
    paging are the caller's)."""
    conditions: list[ColumnElement[bool]] = []
    if query.organisations:
        conditions.append(projects_table.c.organisation.in_(query.organisations))
    if query.departments:
        conditions.append(projects_table.c.department.in_(query.departments))
    if query.measure_types:
        conditions.append(projects_table.c.measure_type.in_(query.measure_types))
    if query.statuses:
        conditions.append(projects_table.c.status.in_([Status(s).value for s in query.statuses]))
    if query.time_to is not None:
        conditions.append(
            or_(projects_table.c.start_date.is_(None), projects_table.c.start_date <= query.time_to)
        )
    if query.time_from is not None:
        conditions.append(
            or_(projects_table.c.end_date.is_(None), projects_table.c.end_date >= query.time_from)
        )
    if query.text:
        conditions.append(
            projects_table.c.title_folded.contains(query.text.casefold(), autoescape=True)
        )
    return conditions


_PROJECT_TARGET = Target(project_operand, spatial_test(projects_table, projects_rtree_table))
