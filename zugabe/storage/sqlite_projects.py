"""Projects in the SQLite store: add, read, update, delete, list, count, export columns.

A mixin of ``SqliteStore``. Every write keeps ``projects_rtree`` in step in the same
transaction, and an update or delete with an expected version is guarded by it
(a lost update becomes a ``VersionConflict``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
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
    String,
    delete,
    func,
    insert,
    or_,
    select,
    type_coerce,
    update,
)

from zugabe.domain.project import Project, ProjectAttributes, Status
from zugabe.errors import InvalidInput, NotFound, VersionConflict
from zugabe.storage.contract import PROJECT_TEXT_COLUMNS, NewProject, ProjectColumns, ProjectQuery
from zugabe.storage.sqlite_engine import SqliteBase, area_conditions, paged, spatial_test
from zugabe.storage.sqlite_filter import Target, project_operand, translate
from zugabe.storage.sqlite_schema import projects_rtree_table, projects_table

_INSERT_PROJECT = insert(projects_table)
_INSERT_BOX = insert(projects_rtree_table)


VALUES_PER_QUERY = 500
"""Values asked for in one IN (…): well below SQLite's limit of bound parameters."""


class SqliteProjects(SqliteBase):
    """The ``ProjectStore`` part of ``SqliteStore``."""

    def add_projects(self, projects: Iterable[NewProject]) -> list[Project]:
        stored: list[Project] = []
        with self._write() as conn:
            now = datetime.now(UTC)  # taken under the write lock: commit order
            # The iterable is consumed inside the transaction: if it raises,
            # the exception leaves the block and everything is rolled back.
            for new in projects:
                values = _row_values(new.attributes, new.geometry)
                # Statements built once, values as parameters: an import of
                # thousands of projects should not rebuild SQL per row.
                result = conn.execute(
                    _INSERT_PROJECT,
                    {
                        **values,
                        "created_at": now,
                        "created_by": new.user,
                        "updated_at": now,
                        "updated_by": new.user,
                        "version": 1,
                    },
                )
                project_id = int(result.inserted_primary_key[0])
                conn.execute(_INSERT_BOX, {"id": project_id, **_bounds(values)})
                stored.append(
                    Project(
                        id=project_id,
                        attributes=new.attributes,
                        geometry=new.geometry,
                        created_at=now,
                        created_by=new.user,
                        updated_at=now,
                        updated_by=new.user,
                        version=1,
                    )
                )
        return stored

    def get_project(self, project_id: int) -> Project | None:
        with self._read() as conn:
            row = conn.execute(
                select(projects_table).where(projects_table.c.id == project_id)
            ).first()
        return _project(row) if row is not None else None

    def get_projects(
        self, ids: Sequence[int] = (), external_ids: Sequence[str] = ()
    ) -> list[Project]:
        columns = projects_table.c
        found: dict[int, Project] = {}
        with self._read() as conn:
            for column, values in (
                (columns.id, list(ids)),
                (columns.external_id, list(external_ids)),
            ):
                for start in range(0, len(values), VALUES_PER_QUERY):
                    chunk = values[start : start + VALUES_PER_QUERY]
                    rows = conn.execute(select(projects_table).where(column.in_(chunk))).all()
                    found.update((row.id, _project(row)) for row in rows)
        return [found[key] for key in sorted(found)]

    def update_project(
        self,
        project_id: int,
        attributes: ProjectAttributes,
        geometry: BaseGeometry,
        user: str,
        expected_version: int | None,
    ) -> Project:
        values = _row_values(attributes, geometry)
        with self._write() as conn:
            statement = update(projects_table).where(projects_table.c.id == project_id)
            if expected_version is not None:
                statement = statement.where(projects_table.c.version == expected_version)
            result = conn.execute(
                statement.values(
                    **values,
                    updated_at=datetime.now(UTC),
                    updated_by=user,
                    version=projects_table.c.version + 1,
                )
            )
            if result.rowcount == 0:
                _raise_missing_or_conflict(conn, project_id, expected_version)
            conn.execute(
                update(projects_rtree_table)
                .where(projects_rtree_table.c.id == project_id)
                .values(**_bounds(values))
            )
            row = conn.execute(
                select(projects_table).where(projects_table.c.id == project_id)
            ).one()
        return _project(row)

    def delete_project(self, project_id: int, user: str, expected_version: int | None) -> None:
        # ``user`` is not recorded yet: there is no audit table; the argument
        # keeps the contract ready for one.
        with self._write() as conn:
            statement = delete(projects_table).where(projects_table.c.id == project_id)
            if expected_version is not None:
                statement = statement.where(projects_table.c.version == expected_version)
            if conn.execute(statement).rowcount == 0:
                _raise_missing_or_conflict(conn, project_id, expected_version)
            conn.execute(
                delete(projects_rtree_table).where(projects_rtree_table.c.id == project_id)
            )

    def list_projects(self, query: ProjectQuery) -> list[Project]:
        statement = paged(
            select(projects_table).where(*_conditions(query)),
            projects_table.c.id,
            query.after_id,
            query.limit,
        )
        with self._read() as conn:
            rows = conn.execute(statement).all()
        return [_project(row) for row in rows]

    def count_projects(self, query: ProjectQuery) -> int:
        statement = select(func.count()).select_from(projects_table).where(*_conditions(query))
        with self._read() as conn:
            return int(conn.execute(statement).scalar_one())

    def project_columns(self, query: ProjectQuery) -> ProjectColumns:
        """One query, raw rows from the DBAPI cursor, no object per project (exports)."""
        names = ("id", "geometry", *PROJECT_TEXT_COLUMNS, "cost_eur", "version")
        raw = ("start_date", "end_date", "created_at", "updated_at")  # as stored text
        statement = paged(
            select(
                *(projects_table.c[name] for name in names),
                *(type_coerce(projects_table.c[name], String) for name in raw),
            ).where(*_conditions(query)),
            projects_table.c.id,
            query.after_id,
            query.limit,
        )
        with self._read() as conn:
            result = conn.execute(statement)
            rows = result.cursor.fetchall()  # plain tuples: no per-row result processing
            result.close()
        columns = dict(zip((*names, *raw), zip(*rows, strict=True), strict=True)) if rows else {}

        def column(name: str) -> tuple[Any, ...]:
            return columns.get(name, ())

        return ProjectColumns(
            id=np.array(column("id"), dtype=np.int64),
            wkb=np.array(column("geometry"), dtype=object),
            text={name: np.array(column(name), dtype=object) for name in PROJECT_TEXT_COLUMNS},
            start=_date_column(column("start_date")),
            end=_date_column(column("end_date")),
            cost_eur=np.array(
                [np.nan if v is None else v for v in column("cost_eur")], dtype=float
            ),
            version=np.array(column("version"), dtype=np.int64),
            created_at=_utc_column(column("created_at")),
            updated_at=_utc_column(column("updated_at")),
        )


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
    return Project(
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
        geometry=shapely.from_wkb(row.geometry),
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        version=row.version,
    )


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
    """WHERE terms for the filters of a query (paging is the caller's)."""
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
    if query.area is not None:
        conditions.extend(area_conditions(query.area))
    if query.filter is not None:
        conditions.append(translate(query.filter, _PROJECT_TARGET))
    return conditions


_PROJECT_TARGET = Target(project_operand, spatial_test(projects_table, projects_rtree_table))
