"""What the SQLite and the PostGIS store do the same way: one base class, ``SqlStore``.

Both stores have the same tables and columns (``sqlite_schema``'s Core tables describe
both), so writing and reading projects, layer versions and cases is the same SQLAlchemy
Core; only the spatial parts differ, and those are the hooks a backend implements: how a
WKB geometry is written (``_geometry``) and read (``_wkb_column``), what else a project
write updates (``_project_boxes``: SQLite's R*Tree), the spatial and CQL2 conditions of
each collection, how a layer's features are written (``_write_features``: SQLite's
executemany and packed R*Tree, PostgreSQL's ``COPY``), and which case syncer writes a
``sync_cases`` (``_case_syncer``: ``sqlite_cases._CaseSyncer`` or PostgreSQL's subclass).
Connections and transactions are ``sql_connections``'; each store connects and migrates
its own way.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)

from zugabe.domain.case_history import Event, HistoryEvent
from zugabe.domain.cases import CaseFinding, Comment, CoordinationCase
from zugabe.domain.filters import Filter
from zugabe.domain.project import Project, ProjectAttributes
from zugabe.errors import InvalidInput, NotFound
from zugabe.storage.case_rows import PreparedFindings
from zugabe.storage.contract import (
    PROJECT_TEXT_COLUMNS,
    CaseQuery,
    CaseSync,
    LayerFeature,
    LayerFeatureBatch,
    LayerFeatureColumns,
    LayerInfo,
    NewLayerVersion,
    NewProject,
    ProjectColumns,
    ProjectQuery,
    ProjectShapes,
    RowStamp,
    Stamps,
    Store,
)
from zugabe.storage.paging import ListedRows, paged
from zugabe.storage.sqlite_accounts import SqliteAccountsAndAudit
from zugabe.storage.sqlite_cases import _CaseSyncer, cases_of_rows, load_case
from zugabe.storage.sqlite_checklists import SqliteChecklists
from zugabe.storage.sqlite_desk import SqliteDesk
from zugabe.storage.sqlite_engine import encode_json
from zugabe.storage.sqlite_good_practice import SqliteGoodPractice
from zugabe.storage.sqlite_layers import (
    _archive_features,
    _layer_columns,
    _layer_features,
    _layer_info,
    _layer_values,
)
from zugabe.storage.sqlite_mail import SqliteMail
from zugabe.storage.sqlite_notifications import SqliteNotifications
from zugabe.storage.sqlite_projects import (
    VALUES_PER_QUERY,
    _date_column,
    _project,
    _projects,
    _raise_missing_or_conflict,
    _row_values,
    _utc_column,
)
from zugabe.storage.sqlite_schema import (
    case_comments_table,
    case_history_table,
    cases_table,
    layer_feature_archive_table,
    layer_features_table,
    layer_versions_table,
    layers_table,
    projects_table,
)

CASE_BULK_MIN = 10_000
"""Syncs of at least this many findings are bulk writes (SQLite: the big page cache of a
layer import)."""


Conditions = Callable[[BaseGeometry | None], list[ColumnElement[bool]]]
"""A listing's WHERE terms with this area instead of the query's (None: no area)."""

Listing = ProjectQuery | CaseQuery
"""A query that lists rows: its area, cursor and limit."""


class SqlStore(
    SqliteAccountsAndAudit,
    SqliteDesk,
    SqliteMail,
    SqliteNotifications,
    SqliteGoodPractice,
    SqliteChecklists,
    Store,
):
    """Projects, layers and cases in SQL tables, the spatial parts left to the backend.

    With the account, desk, mail, notification and good-practice mixins, which are plain
    Core already.
    With the account, desk, mail, notification and checklist mixins, plain Core already.
    """

    # -- what a backend does its own way ----------------------------------------

    def _geometry(self, wkb: Any) -> Any:
        """The value (or SQL expression) a geometry column is written with, from WKB bytes
        or a bind parameter of them."""
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
    def _case_syncer(
        self,
        conn: Connection,
        prepared: PreparedFindings,
        scope: str | None,
        user: str,
        reason: dict[str, Any],
    ) -> _CaseSyncer:
        """The syncer that reads and writes a ``sync_cases`` call's rows in ``conn``."""

    @abstractmethod
    def _write_features(
        self, conn: Connection, key: str, batches: Iterable[LayerFeatureBatch]
    ) -> tuple[int, tuple[float, float, float, float] | None]:
        """Replace a layer's features by the batches' (``check_batch`` each); how many were
        written and their extent. No batches: the layer's features are removed."""

    # -- projects ------------------------------------------------------------

    def add_projects(self, projects: Iterable[NewProject]) -> list[Project]:
        stored: list[Project] = []
        # One statement, values as parameters: an import of thousands of projects should
        # not build SQL per row.
        statement = insert(projects_table).values(geometry=self._geometry(bindparam("wkb")))
        with self._write() as conn:
            now = datetime.now(UTC)  # taken under the write lock: commit order
            # The iterable is consumed inside the transaction: if it raises,
            # the exception leaves the block and everything is rolled back.
            for new in projects:
                values = _row_values(new.attributes, new.geometry)
                values["wkb"] = values.pop("geometry")
                result = conn.execute(
                    statement,
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
                    found.update((p.id, p) for p in _projects(rows))
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
        # ``user`` is not recorded yet: there is no audit table; the argument
        # keeps the contract ready for one.
        with self._write() as conn:
            statement = delete(projects_table).where(projects_table.c.id == project_id)
            if expected_version is not None:
                statement = statement.where(projects_table.c.version == expected_version)
            if conn.execute(statement).rowcount == 0:
                _raise_missing_or_conflict(conn, project_id, expected_version)
            self._project_boxes(conn, project_id, None, new=False)
            self._delete_checklist_answers(conn, project_id)

    def project_columns(self, query: ProjectQuery) -> ProjectColumns:
        """One query, raw rows from the DBAPI cursor, no object per project (exports)."""
        names = ("id", "geometry", *PROJECT_TEXT_COLUMNS, "cost_eur", "version")
        raw = ("start_date", "end_date", "created_at", "updated_at")  # as stored text
        columns_ = projects_table.c
        selected = (
            columns_.id,
            self._wkb_column(columns_.geometry),
            *(columns_[name] for name in names[2:]),
            *(type_coerce(columns_[name], String) for name in raw),
        )
        with self._read() as conn:
            rows = self._listed_rows(
                conn, projects_table, selected, self._project_listing(query), query
            ).rows
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

    def project_shapes(self, query: ProjectQuery) -> ProjectShapes:
        """Five columns, raw rows from the DBAPI cursor (a map's points, on every move)."""
        c = projects_table.c
        selected = (c.id, self._wkb_column(c.geometry), c.organisation, c.department, c.status)
        with self._read() as conn:
            rows = self._listed_rows(
                conn, projects_table, selected, self._project_listing(query), query
            ).rows
        id_, wkb, organisation, department, status = zip(*rows, strict=True) if rows else [()] * 5
        return ProjectShapes(
            np.array(id_, dtype=np.int64),
            *(np.array(column, dtype=object) for column in (wkb, organisation, department, status)),
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
        return _projects(rows)

    def project_stamps(self, query: ProjectQuery) -> Stamps:
        return self._stamps(projects_table, self._project_listing(query), query)

    def _stamps(self, rows: Table, conditions: Conditions, query: Listing) -> Stamps:
        c = rows.c
        selected = (c.id, c.version, type_coerce(c.updated_at, String))  # as stored text
        with self._read() as conn:
            found = self._listed_rows(conn, rows, selected, conditions, query)
        return Stamps(
            [RowStamp(id_, version, datetime.fromisoformat(at)) for id_, version, at in found.rows],
            found.matched,
        )

    def count_projects(self, query: ProjectQuery) -> int:
        with self._read() as conn:
            return self._counted_rows(conn, projects_table, self._project_listing(query), query)

    def _project_listing(self, query: ProjectQuery) -> Conditions:
        return lambda area: self._project_conditions(replace(query, area=area))

    def _listed_rows(
        self,
        conn: Connection,
        rows: Table,
        columns: Sequence[ColumnElement[Any]],
        conditions: Conditions,
        query: Listing,
    ) -> ListedRows:
        """A listing's ``columns`` as plain tuples (no per-row result processing), in id
        order and paged as the query asks, the rows meeting ``conditions(query.area)``.
        SQLite's store tests the area after the statement instead (``SqliteStore``).

        The first page of an area counts its matches on the way (a window count): the
        index finds every row in the area and sorts them by id anyway, so the count costs
        nothing more, where asking ``count`` would find them all again. Without an area
        the id order stops after a page, which a count over all rows would undo.
        """
        counted = query.area is not None and query.after_id is None
        listed = (*columns, func.count().over()) if counted else columns
        statement = paged(
            select(*listed).where(*conditions(query.area)), rows.c.id, query.after_id, query.limit
        )
        result = conn.execute(statement)
        found = result.cursor.fetchall()
        result.close()
        if not counted:
            return ListedRows(found)
        return ListedRows([row[:-1] for row in found], found[0][-1] if found else 0)

    def _counted_rows(
        self, conn: Connection, rows: Table, conditions: Conditions, query: Listing
    ) -> int:
        """How many rows meet ``conditions(query.area)``, paging aside."""
        statement = select(func.count()).select_from(rows).where(*conditions(query.area))
        return int(conn.execute(statement).scalar_one())

    # -- thematic layers -----------------------------------------------------

    def replace_layer(
        self, version: NewLayerVersion, batches: Iterable[LayerFeatureBatch]
    ) -> LayerInfo:
        if not version.key:
            raise InvalidInput("a layer needs a key")
        report = encode_json(version.report, f"the import report of layer '{version.key}'")
        with self._write(bulk=True) as conn:
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
                # When the version is complete; under the write lock, so in commit order.
                imported_at=datetime.now(UTC),
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

    def delete_layer(self, key: str, user: str) -> None:
        # ``user`` is not recorded yet: there is no audit table; the argument
        # keeps the contract ready for one.
        with self._write(bulk=True) as conn:
            exists = conn.execute(
                select(layers_table.c.key).where(layers_table.c.key == key)
            ).first()
            if exists is None:
                raise NotFound(f"layer '{key}' does not exist")
            self._write_features(conn, key, ())
            for table, column in (
                (layer_versions_table, layer_versions_table.c.key),
                (layer_feature_archive_table, layer_feature_archive_table.c.layer_key),
                (layers_table, layers_table.c.key),
            ):
                conn.execute(delete(table).where(column == key))

    def layer_versions(self, key: str) -> list[tuple[LayerInfo, bool]]:
        archive = layer_feature_archive_table.c
        with self._read() as conn:
            rows = conn.execute(
                select(layer_versions_table)
                .where(layer_versions_table.c.key == key)
                .order_by(layer_versions_table.c.version.desc())
            ).all()
            kept = set(
                conn.execute(
                    select(archive.version).distinct().where(archive.layer_key == key)
                ).scalars()
            )
        if not rows:
            raise NotFound(f"layer '{key}' does not exist")
        current = rows[0].version
        return [(_layer_info(row), row.version in kept or row.version == current) for row in rows]

    def archived_layer_features(self, key: str, version: int) -> list[LayerFeature]:
        archive = layer_feature_archive_table.c
        with self._read() as conn:
            result = conn.execute(
                select(archive.id, archive.geometry, archive.attributes)
                .add_columns(archive.source_row, archive.derived)
                .where(archive.layer_key == key, archive.version == version)
                .order_by(archive.id)
            )
            rows = result.cursor.fetchall()
            result.close()
        if not rows:
            raise NotFound(f"the features of version {version} of layer '{key}' are not kept")
        return _layer_features(rows)

    def list_layers(self) -> list[LayerInfo]:
        with self._read() as conn:
            rows = conn.execute(select(layers_table).order_by(layers_table.c.key)).all()
        return [_layer_info(row) for row in rows]

    def get_layer(self, key: str) -> LayerInfo | None:
        with self._read() as conn:
            row = conn.execute(select(layers_table).where(layers_table.c.key == key)).first()
        return _layer_info(row) if row is not None else None

    def layer_features(
        self,
        key: str,
        area: BaseGeometry | None = None,
        after_id: int | None = None,
        limit: int | None = None,
        filter: Filter | None = None,
    ) -> list[LayerFeature]:
        return _layer_features(self._feature_rows(key, area, after_id, limit, filter))

    def layer_feature_columns(self, key: str) -> LayerFeatureColumns:
        return _layer_columns(self._feature_rows(key))

    def _feature_rows(
        self,
        key: str,
        area: BaseGeometry | None = None,
        after_id: int | None = None,
        limit: int | None = None,
        filter: Filter | None = None,
    ) -> list[tuple[Any, ...]]:
        """(id, geometry, attributes, source_row, derived) of a layer's features, by id."""
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
        return rows

    def count_layer_features(
        self, key: str, area: BaseGeometry | None = None, filter: Filter | None = None
    ) -> int:
        with self._read() as conn:
            if area is None and filter is None:
                # Kept with the layer, so counting half a million features is free.
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

    def sync_cases(
        self,
        findings: Sequence[CaseFinding],
        scope: str | None,
        user: str,
        reason: dict[str, Any],
    ) -> CaseSync:
        # Checked and encoded before the write lock is taken: a broken finding
        # fails here, and the lock is held only for reading and writing rows.
        prepared = PreparedFindings.of(findings)
        with self._write(bulk=len(prepared.keys) >= CASE_BULK_MIN) as conn:
            # Existing cases are read under the write lock, so two syncs of
            # the same pair (two web workers) cannot both create it.
            return self._case_syncer(conn, prepared, scope, user, reason).run()

    def sync_case_parts(
        self, parts: Iterable[PreparedFindings], user: str, reason: dict[str, Any]
    ) -> CaseSync:
        remaining = iter(parts)
        first = next(remaining, None) or PreparedFindings.of([])
        with self._write(bulk=True) as conn:
            return self._case_syncer(conn, first, None, user, reason).run(remaining)

    def get_case(self, case_id: int) -> CoordinationCase | None:
        with self._read() as conn:
            return load_case(conn, case_id)

    def list_cases(self, query: CaseQuery) -> list[CoordinationCase]:
        statement = paged(
            select(cases_table).where(*self._case_conditions(query)),
            cases_table.c.id,
            query.after_id,
            query.limit,
        )
        with self._read() as conn:
            return cases_of_rows(conn, conn.execute(statement).all())

    def case_stamps(self, query: CaseQuery) -> Stamps:
        return self._stamps(cases_table, self._case_listing(query), query)

    def count_cases(self, query: CaseQuery) -> int:
        with self._read() as conn:
            return self._counted_rows(conn, cases_table, self._case_listing(query), query)

    def _case_listing(self, query: CaseQuery) -> Conditions:
        return lambda area: self._case_conditions(replace(query, area=area))

    def add_case_comment(self, case_id: int, text: str, user: str) -> Comment:
        # A comment leaves the case's status and version alone (commenting must not make a
        # colleague's pending step conflict) but is news: ``updated_at`` moves, so the case
        # is unread again for everyone involved (see ``inbox``).
        with self._write() as conn:
            now = datetime.now(UTC)
            exists = conn.execute(
                select(cases_table.c.id).where(cases_table.c.id == case_id)
            ).first()
            if exists is None:
                raise NotFound(f"case {case_id} does not exist")
            comment_id = conn.execute(
                insert(case_comments_table).values(case_id=case_id, at=now, by_user=user, text=text)
            ).inserted_primary_key[0]
            conn.execute(
                update(cases_table).where(cases_table.c.id == case_id).values(updated_at=now)
            )
            commented = HistoryEvent(Event.COMMENTED, {"comment": int(comment_id)})
            conn.execute(
                insert(case_history_table).values(
                    case_id=case_id,
                    at=now,
                    by_user=user,
                    event=commented.kind.value,
                    details=commented.details_json(),
                )
            )
        return Comment(id=int(comment_id), at=now, by=user, text=text)
