"""What the SQLite and the PostGIS store do the same way: one base class, ``SqlStore``.

Both stores have the same tables and columns (``sqlite_schema``'s Core tables describe
both), so writing and reading projects, layer versions and cases is the same SQLAlchemy
Core; only the spatial parts differ, and those are the hooks a backend implements: how a
WKB geometry is written (``_geometry``), what else a project write updates (``_project_boxes``:
SQLite's R*Tree), the spatial and CQL2 conditions of each collection, and how a layer's
features are written (``_write_features``: SQLite's packed R*Tree, PostgreSQL's ``COPY``).

The SQLite store still has its own copies of these methods (``zugabe/storage/sqlite.py``,
being split into modules while this base was written); it is to inherit them from here.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)

from zugabe.domain.cases import CoordinationCase
from zugabe.domain.filters import Filter
from zugabe.domain.project import Project, ProjectAttributes
from zugabe.errors import InvalidInput
from zugabe.storage.contract import (
    PROJECT_TEXT_COLUMNS,
    CaseQuery,
    LayerFeature,
    LayerFeatureBatch,
    LayerInfo,
    NewLayerVersion,
    NewProject,
    ProjectColumns,
    ProjectQuery,
    Store,
)
from zugabe.storage.sqlite_accounts import SqliteAccountsAndAudit
from zugabe.storage.sqlite_cases import cases_of_rows
from zugabe.storage.sqlite_desk import SqliteDesk
from zugabe.storage.sqlite_engine import encode_json, encode_row, geometry_array, paged
from zugabe.storage.sqlite_layers import _archive_features, _layer_features, _layer_values
from zugabe.storage.sqlite_mail import SqliteMail
from zugabe.storage.sqlite_notifications import SqliteNotifications
from zugabe.storage.sqlite_projects import (
    _date_column,
    _project,
    _raise_missing_or_conflict,
    _row_values,
    _utc_column,
)
from zugabe.storage.sqlite_schema import (
    cases_table,
    layer_features_table,
    layer_versions_table,
    layers_table,
    projects_table,
)


@dataclass(frozen=True)
class CheckedBatch:
    """A ``LayerFeatureBatch`` checked and encoded for writing, column by column."""

    geometries: npt.NDArray[np.object_]
    bounds: npt.NDArray[np.float64]
    """min_x, min_y, max_x, max_y per feature, all finite."""
    attributes: list[str]
    """JSON text per feature."""
    source_rows: list[int]
    derived: npt.NDArray[np.object_] | None


def check_batch(key: str, batch: LayerFeatureBatch) -> CheckedBatch | None:
    """A batch ready to write (None if empty); ``InvalidInput`` for a feature without a usable
    geometry, ``ValueError``/``TypeError`` for columns of unequal length or non-JSON values."""
    geometries = geometry_array(batch.geometries)
    size = len(geometries)
    source_rows = np.asarray(batch.source_rows, dtype=np.int64)
    derived = batch.derived
    if (
        len(batch.attributes) != size
        or len(source_rows) != size
        or (derived is not None and len(derived) != size)
    ):
        raise ValueError(
            "a LayerFeatureBatch needs as many attributes, source rows and derived "
            f"geometries as geometries ({size})"
        )
    if size == 0:
        return None
    bounds = shapely.bounds(geometries)
    unusable = ~np.isfinite(bounds).all(axis=1)
    if unusable.any():
        row = int(source_rows[int(np.argmax(unusable))])
        raise InvalidInput(
            f"layer '{key}': the feature from source row {row} has no usable "
            "geometry (missing, empty or with coordinates that are not finite numbers)"
        )
    try:
        attributes = [encode_row(values) for values in batch.attributes]
    except (TypeError, ValueError):
        for values, row in zip(batch.attributes, source_rows.tolist(), strict=True):
            encode_json(values, f"layer '{key}': the attributes of source row {row}")
        raise
    return CheckedBatch(
        geometries,
        bounds,
        attributes,
        source_rows.tolist(),
        None if derived is None else geometry_array(derived),
    )


def extent_of(bounds: list[npt.NDArray[np.float64]]) -> tuple[float, float, float, float] | None:
    """The box around the bounds of every batch written (None: nothing written)."""
    if not bounds:
        return None
    joined = np.concatenate(bounds)
    return (
        float(joined[:, 0].min()),
        float(joined[:, 1].min()),
        float(joined[:, 2].max()),
        float(joined[:, 3].max()),
    )


class SqlStore(SqliteAccountsAndAudit, SqliteDesk, SqliteMail, SqliteNotifications, Store):
    """Projects, layers and cases in SQL tables, the spatial parts left to the backend."""

    # -- what a backend does its own way ----------------------------------------

    def _geometry(self, wkb: bytes) -> Any:
        """The value (or SQL expression) a geometry column is written with."""
        return wkb

    def _project_boxes(
        self, conn: Connection, project_id: int, values: dict[str, Any] | None, *, new: bool
    ) -> None:
        """A project was added (``new``), changed, or deleted (``values`` None): keep any
        index of its own in step (none by default)."""

    def _wkb_column(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        """A geometry column as plain WKB when read row by row."""
        return column

    @abstractmethod
    def _project_conditions(self, query: ProjectQuery) -> list[ColumnElement[bool]]:
        """WHERE terms of a project query, area and CQL2 filter included."""

    @abstractmethod
    def _case_conditions(self, query: CaseQuery) -> list[ColumnElement[bool]]:
        """WHERE terms of a case query, area and CQL2 filter included."""

    @abstractmethod
    def _feature_conditions(
        self, conn: Connection, key: str, area: BaseGeometry | None, filter: Filter | None
    ) -> list[ColumnElement[bool]]:
        """WHERE terms for a layer's features meeting ``area`` and ``filter``."""

    @abstractmethod
    def _write_features(
        self, conn: Connection, key: str, batches: Iterable[LayerFeatureBatch]
    ) -> tuple[int, tuple[float, float, float, float] | None]:
        """Replace a layer's features by the batches' (``check_batch`` each); how many were
        written and their extent."""

    # -- projects ------------------------------------------------------------

    def add_projects(self, projects: Iterable[NewProject]) -> list[Project]:
        stored: list[Project] = []
        with self._write() as conn:
            now = datetime.now(UTC)  # taken under the write lock: commit order
            for new in projects:
                values = _row_values(new.attributes, new.geometry)
                values["geometry"] = self._geometry(values["geometry"])
                result = conn.execute(
                    insert(projects_table).values(
                        **values,
                        created_at=now,
                        created_by=new.user,
                        updated_at=now,
                        updated_by=new.user,
                        version=1,
                    )
                )
                project_id = int(result.inserted_primary_key[0])
                self._project_boxes(conn, project_id, values, new=True)
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

    def update_project(
        self,
        project_id: int,
        attributes: ProjectAttributes,
        geometry: BaseGeometry,
        user: str,
        expected_version: int | None,
    ) -> Project:
        values = _row_values(attributes, geometry)
        values["geometry"] = self._geometry(values["geometry"])
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
            self._project_boxes(conn, project_id, values, new=False)
            row = conn.execute(
                select(projects_table).where(projects_table.c.id == project_id)
            ).one()
        return _project(row)

    def delete_project(self, project_id: int, user: str, expected_version: int | None) -> None:
        with self._write() as conn:
            statement = delete(projects_table).where(projects_table.c.id == project_id)
            if expected_version is not None:
                statement = statement.where(projects_table.c.version == expected_version)
            if conn.execute(statement).rowcount == 0:
                _raise_missing_or_conflict(conn, project_id, expected_version)
            self._project_boxes(conn, project_id, None, new=False)

    def project_columns(self, query: ProjectQuery) -> ProjectColumns:
        """One query, raw rows from the DBAPI cursor, no object per project (exports)."""
        names = ("id", "geometry", *PROJECT_TEXT_COLUMNS, "cost_eur", "version")
        raw = ("start_date", "end_date", "created_at", "updated_at")  # as stored
        columns_ = projects_table.c
        statement = paged(
            select(
                columns_.id,
                self._wkb_column(columns_.geometry),
                *(columns_[name] for name in names[2:]),
                *(type_coerce(columns_[name], String) for name in raw),
            ).where(*self._project_conditions(query)),
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

    def list_projects(self, query: ProjectQuery) -> list[Project]:
        statement = paged(
            select(projects_table).where(*self._project_conditions(query)),
            projects_table.c.id,
            query.after_id,
            query.limit,
        )
        with self._read() as conn:
            rows = conn.execute(statement).all()
        return [_project(row) for row in rows]

    def count_projects(self, query: ProjectQuery) -> int:
        statement = (
            select(func.count()).select_from(projects_table).where(*self._project_conditions(query))
        )
        with self._read() as conn:
            return int(conn.execute(statement).scalar_one())

    # -- thematic layers -----------------------------------------------------

    def replace_layer(
        self, version: NewLayerVersion, batches: Iterable[LayerFeatureBatch]
    ) -> LayerInfo:
        if not version.key:
            raise InvalidInput("a layer needs a key")
        report = encode_json(version.report, f"the import report of layer '{version.key}'")
        with self._write() as conn:
            previous = conn.execute(
                select(layers_table.c.version).where(layers_table.c.key == version.key)
            ).scalar_one_or_none()
            if previous is not None:
                _archive_features(conn, version.key, previous, version.keep_earlier)
            # The iterable is consumed inside the transaction: if it raises
            # (or the process dies), nothing of the new version is committed.
            count, extent = self._write_features(conn, version.key, batches)
            info = LayerInfo(
                key=version.key,
                version=(previous or 0) + 1,
                feature_count=count,
                extent=extent,
                source=version.source,
                source_layer=version.source_layer,
                source_crs=version.source_crs,
                transformation=version.transformation,
                imported_at=datetime.now(UTC),  # under the write lock: commit order
                imported_by=version.user,
                report=version.report,
                responsible_organisation=version.responsible_organisation,
            )
            values = _layer_values(info, report)
            if previous is None:
                conn.execute(insert(layers_table).values(**values))
            else:
                conn.execute(
                    update(layers_table).where(layers_table.c.key == info.key).values(**values)
                )
            conn.execute(insert(layer_versions_table).values(**values))
        return info

    def layer_features(
        self,
        key: str,
        area: BaseGeometry | None = None,
        after_id: int | None = None,
        limit: int | None = None,
        filter: Filter | None = None,
    ) -> list[LayerFeature]:
        columns = layer_features_table.c
        with self._read() as conn:
            statement = paged(
                select(columns.id, columns.geometry, columns.attributes)
                .add_columns(columns.source_row, columns.derived)
                .where(*self._feature_conditions(conn, key, area, filter)),
                columns.id,
                after_id,
                limit,
            )
            result = conn.execute(statement)
            rows = result.cursor.fetchall()  # plain tuples: no per-row result processing
            result.close()
        return _layer_features(rows)

    def count_layer_features(
        self, key: str, area: BaseGeometry | None = None, filter: Filter | None = None
    ) -> int:
        with self._read() as conn:
            if area is None and filter is None:
                count = conn.execute(
                    select(layers_table.c.feature_count).where(layers_table.c.key == key)
                ).scalar_one_or_none()
                return int(count or 0)
            statement = (
                select(func.count())
                .select_from(layer_features_table)
                .where(*self._feature_conditions(conn, key, area, filter))
            )
            return int(conn.execute(statement).scalar_one())

    # -- coordination cases --------------------------------------------------

    def list_cases(self, query: CaseQuery) -> list[CoordinationCase]:
        statement = paged(
            select(cases_table).where(*self._case_conditions(query)),
            cases_table.c.id,
            query.after_id,
            query.limit,
        )
        with self._read() as conn:
            return cases_of_rows(conn, conn.execute(statement).all())

    def count_cases(self, query: CaseQuery) -> int:
        statement = (
            select(func.count()).select_from(cases_table).where(*self._case_conditions(query))
        )
        with self._read() as conn:
            return int(conn.execute(statement).scalar_one())
