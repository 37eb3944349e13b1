"""Use cases around projects: create, read, change, delete, list, bulk load.

Every use case takes the acting account (``Actor``) and asks the policy first;
every write records its audit entry in the same transaction as the change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from zugabe.config import Settings
from zugabe.domain.accounts import Actor
from zugabe.domain.policy import Policy
from zugabe.domain.project import (
    Project,
    ProjectAttributes,
    Status,
    attributes_to_json,
    size_problem,
)
from zugabe.domain.vocabulary import Vocabulary
from zugabe.errors import BadRequest, Conflict, FieldError, InvalidInput, NotFound, quoted
from zugabe.io.crs import CRS84_CRS, Reprojector
from zugabe.io.geojson import (
    GeometryRules,
    geometries_to_fragments,
    not_saved,
    project_to_feature,
    raise_invalid,
    read_geometry,
    read_project_feature,
    read_properties,
)
from zugabe.messages import Message
from zugabe.services.audit import AuditService, Change
from zugabe.services.query import BBox, matched, parse_bbox
from zugabe.services.rendered_features import FeaturePage, RenderedFeatures, kept_json
from zugabe.storage.contract import NewProject, ProjectQuery, RowStamp, Store

if TYPE_CHECKING:
    from zugabe.services.cases import CaseService, DetectionRun
    from zugabe.services.notifications import NotificationService

SEARCH_MAX = 200
"""Longest title search (``q``): a search, not a document."""
LIST_FILTERS = ("bbox", "organisation", "department", "measure_type", "status", "from", "to", "q")
PROJECTS_KEPT = 60_000
"""Rendered projects kept per process (about 1 kB each: some 60 MB): all of a region's
tens of thousands of projects, so that a map or QGIS panning over the region finds them
rendered. A cache smaller than what is read in turn would keep nothing that is read again
(cases, five times as many, are kept up to the setting ``rendered_cases``)."""


@dataclass(frozen=True)
class ProjectFilter:
    """List filters as the API and CLI take them (bbox in lon/lat)."""

    bbox: BBox | None = None
    organisations: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    measure_types: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = ()
    time_from: date | None = None
    time_to: date | None = None
    text: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ProjectFilter:
        """Parse query parameters; comma-separated values mean 'any of'."""
        problems: list[str] = []

        def many(name: str) -> tuple[str, ...]:
            raw = params.get(name, "")
            return tuple(v.strip() for v in raw.split(",") if v.strip())

        def day(name: str) -> date | None:
            raw = params.get(name)
            if not raw:
                return None
            try:
                return date.fromisoformat(raw)
            except ValueError:
                problems.append(f"'{name}' must be a date as YYYY-MM-DD, got {quoted(raw)}")
                return None

        bbox = None
        if params.get("bbox"):
            try:
                bbox = parse_bbox(params["bbox"])
            except BadRequest as exc:
                problems.append(exc.detail)
        statuses: list[Status] = []
        for raw in many("status"):
            try:
                statuses.append(Status(raw))
            except ValueError:
                problems.append(f"unknown status {quoted(raw)}")
        text = params.get("q") or None
        if text is not None and len(text) > SEARCH_MAX:
            problems.append(f"'q' may have at most {SEARCH_MAX} characters, got {len(text):,}")
        time_from, time_to = day("from"), day("to")
        if time_from and time_to and time_to < time_from:
            problems.append("'to' is before 'from'")
        if problems:
            raise BadRequest("; ".join(problems))
        return cls(
            bbox=bbox,
            organisations=many("organisation"),
            departments=many("department"),
            measure_types=many("measure_type"),
            statuses=tuple(statuses),
            time_from=time_from,
            time_to=time_to,
            text=text,
        )


@dataclass(frozen=True)
class ProjectPage:
    projects: list[Project]
    number_matched: int
    next_after: int | None


@dataclass(frozen=True)
class ProjectPoint:
    id: int
    lon: float
    lat: float
    organisation: str
    department: str
    status: str


class ProjectService:
    def __init__(
        self,
        store: Store,
        vocabulary: Vocabulary,
        settings: Settings,
        policy: Policy,
        audit: AuditService,
        notifications: NotificationService,
        reprojector: Reprojector,
        geometry_rules: GeometryRules,
        cases: CaseService,
    ) -> None:
        self.store = store
        self.vocabulary = vocabulary
        self.settings = settings
        self.policy = policy
        self.audit = audit
        self.notifications = notifications
        self.reprojector = reprojector  # the one of every service: lon/lat <-> storage CRS
        self.rules = geometry_rules
        self.cases = cases  # saving a project runs detection through it
        self._rendered = RenderedFeatures(PROJECTS_KEPT)
        self._rendered_ahead = False

    def create(self, feature: Any, actor: Actor) -> Project:
        """Check a GeoJSON Feature and store it; nothing is stored if any check fails."""
        return self.create_many([feature], actor)[0]

    def create_many(self, features: Sequence[Any], actor: Actor) -> list[Project]:
        """Store many features in one transaction: all of them, or none.

        Every feature is checked first; the errors of all features are
        reported together, pointing at ``/features/<index>/...``.
        """
        self.policy.require_project_creator(actor)
        drafts: list[NewProject] = []
        errors: list[FieldError] = []
        for index, feature in enumerate(features):
            prefix = f"/features/{index}" if len(features) > 1 else ""
            try:
                attributes, geometry = read_project_feature(feature, self.vocabulary, self.rules)
            except InvalidInput as exc:
                errors += [e.under(prefix) for e in exc.field_errors]
                continue
            stored = self.reprojector.to_storage(geometry)
            if problem := size_problem(attributes.measure_type, stored, self.vocabulary):
                errors.append(FieldError.of(f"{prefix}/geometry", problem))
                continue
            drafts.append(NewProject(attributes, stored, actor.username))
        if errors:
            raise_invalid(errors)
        return self.add_checked(drafts, actor)[0]

    def add_checked(
        self, drafts: Sequence[NewProject], actor: Actor, changes: Sequence[ProjectChange] = ()
    ) -> tuple[list[Project], list[Project], DetectionRun | None]:
        """Store drafts and changes that passed every check in one transaction, with their
        cases: the created projects, the changed ones and the detection run.

        Split from ``create_many`` for the bulk import, which checks rows itself (to report
        them by row), reprojects straight from the file's CRS and updates the projects a row
        names (``changes``). Projects, audit entries and cases commit together.
        """
        for draft in drafts:
            organisation, department = draft.attributes.organisation, draft.attributes.department
            self.policy.require_project_write(
                actor, organisation, department, f"creating a project of {organisation}"
            )
        for change in changes:
            self._writable(actor, change.current.id)
            attributes = change.attributes
            self.policy.require_project_write(
                actor,
                attributes.organisation,
                attributes.department,
                f"giving project {change.current.id} to "
                f"{attributes.organisation}/{attributes.department}",
            )
        run = None
        one_new = len(drafts) == 1 and not changes  # checked alone; else a batch run
        with self._writing(), self.store.transaction(bulk=not one_new):
            self._refuse_taken_external_ids(
                [(d.attributes.external_id, None) for d in drafts]
                + [(c.attributes.external_id, c.current.id) for c in changes]
            )
            created = self.store.add_projects(drafts) if drafts else []
            updated = [
                self.store.update_project(
                    c.current.id, c.attributes, c.geometry, actor.username, c.current.version
                )
                for c in changes
            ]
            self.audit.record(
                actor,
                *(
                    Change("project.create", "project", str(p.id), None, project_values(p))
                    for p in created
                ),
                *(_update_change(c.current, p) for c, p in zip(changes, updated, strict=True)),
            )
            written = created + updated
            if one_new:
                run = self.cases.detect_project(created[0], actor)
            elif written:
                run = self.cases.detect_everything(actor)  # one batch run beats many checks
            self.notifications.projects_changed(created, updated, actor)
            if run is not None:
                self.notifications.cases_changed(run.sync, actor)
        return created, updated, run

    def _refuse_taken_external_ids(self, wanted: Sequence[tuple[str, int | None]]) -> None:
        """Each external id names one project: (external id, the project that may keep it)."""
        given = [(ref, own) for ref, own in wanted if ref]
        if not given:
            return
        holders = {
            p.attributes.external_id: p.id
            for p in self.store.get_projects(external_ids=[ref for ref, _own in given])
        }
        seen: set[str] = set()
        errors = []
        for ref, own in given:
            holder = holders.get(ref)
            pointer = "/properties/external_id"
            if ref in seen:
                errors.append(
                    FieldError.coded(pointer, "field.external_id_twice", value=quoted(ref))
                )
            elif holder is not None and holder != own:
                errors.append(
                    FieldError.coded(
                        pointer, "field.external_id_taken", value=quoted(ref), holder=str(holder)
                    )
                )
            seen.add(ref)
        if errors:
            raise Conflict(message=not_saved(errors), field_errors=errors)

    def get(self, actor: Actor, project_id: int) -> Project:
        self.policy.require_read(actor)
        return self._stored(project_id)

    def _stored(self, project_id: int) -> Project:
        project = self.store.get_project(project_id)
        if project is None:
            raise NotFound(message=Message("project.not_found", {"id": str(project_id)}))
        return project

    def replace(
        self, project_id: int, feature: Any, actor: Actor, expected_version: int | None
    ) -> Project:
        """PUT: the feature replaces all attributes and the geometry."""
        current = self._writable(actor, project_id)
        attributes, geometry = read_project_feature(feature, self.vocabulary, self.rules)
        return self._updated(
            current, attributes, self.reprojector.to_storage(geometry), actor, expected_version
        )

    def patch(
        self, project_id: int, patch: Any, actor: Actor, expected_version: int | None
    ) -> Project:
        """PATCH as JSON merge patch (RFC 7396) on a Feature's properties and geometry.

        An unchanged geometry is kept as stored (no lon/lat round trip). Read, merge and
        write happen in one write transaction, so two patches of different fields without
        ``If-Match`` both take effect (neither is merged into an outdated version).
        """
        if not isinstance(patch, dict):
            raise_invalid([FieldError("", "a patch must be a JSON object")])
        with self._writing(), self.store.transaction():
            return self._merged(project_id, patch, actor, expected_version)

    def _merged(
        self, project_id: int, patch: dict[str, Any], actor: Actor, expected_version: int | None
    ) -> Project:
        current = self._writable(actor, project_id)
        errors: list[FieldError] = []
        attributes, geometry = current.attributes, current.geometry
        if "properties" in patch:
            merged = _merge_patch(
                project_to_feature(current, self.reprojector)["properties"], patch["properties"]
            )
            attributes, errors = read_properties(merged, self.vocabulary)
        if "geometry" in patch:
            lonlat, geometry_errors = read_geometry(patch["geometry"], self.rules)
            errors += geometry_errors
            if lonlat is not None:
                geometry = self.reprojector.to_storage(lonlat)
        if errors or attributes is None:
            raise_invalid(errors)
        if expected_version is None:
            expected_version = current.version  # what was merged into, under the write lock
        return self._updated(current, attributes, geometry, actor, expected_version)

    def _writable(self, actor: Actor, project_id: int, what: str = "changing") -> Project:
        """The stored project, if the actor may change it (else 401/403/404)."""
        self.policy.require_project_creator(actor)
        current = self._stored(project_id)
        attributes = current.attributes
        self.policy.require_project_write(
            actor, attributes.organisation, attributes.department, f"{what} project {project_id}"
        )
        return current

    def _updated(
        self,
        current: Project,
        attributes: ProjectAttributes,
        geometry: BaseGeometry,
        actor: Actor,
        expected_version: int | None,
    ) -> Project:
        """Store the new version and bring the project's coordination cases in step."""
        self.policy.require_project_write(
            actor,
            attributes.organisation,
            attributes.department,
            f"giving project {current.id} to {attributes.organisation}/{attributes.department}",
        )
        if problem := size_problem(attributes.measure_type, geometry, self.vocabulary):
            raise_invalid([FieldError.of("/geometry", problem)])
        with self._writing(), self.store.transaction():
            self._refuse_taken_external_ids([(attributes.external_id, current.id)])
            project = self.store.update_project(
                current.id, attributes, geometry, actor.username, expected_version
            )
            self.audit.record(actor, _update_change(current, project))
            self.notifications.project_changed(project, False, actor)
            run = self.cases.detect_project(project, actor)
            self.notifications.cases_changed(run.sync, actor)
        return project

    def delete(self, project_id: int, actor: Actor, expected_version: int | None) -> None:
        current = self._writable(actor, project_id, "deleting")
        with self._writing(), self.store.transaction():
            self.store.delete_project(project_id, actor.username, expected_version)
            self.audit.record(
                actor,
                Change("project.delete", "project", str(project_id), project_values(current)),
            )
            self.cases.project_deleted(project_id, actor)

    def _writing(self) -> AbstractContextManager[None]:
        """See ``CaseService.writing``: a write and its detection, one at a time."""
        return self.cases.writing()

    def list(
        self,
        actor: Actor,
        project_filter: ProjectFilter,
        *,
        limit: int | None = None,
        after: int | None = None,
    ) -> ProjectPage:
        """One page of matching projects in id order, and the cursor for the next."""
        return self.page(actor, self.query(project_filter), limit=limit, after=after)

    def page(
        self, actor: Actor, query: ProjectQuery, *, limit: int | None = None, after: int | None
    ) -> ProjectPage:
        """``list`` for a store query built elsewhere (the OGC API's box in any CRS)."""
        self.policy.require_read(actor)
        limit = self._page_size(limit)
        projects = self.store.list_projects(replace(query, after_id=after, limit=limit + 1))
        has_more = len(projects) > limit
        projects = projects[:limit]
        return ProjectPage(
            projects=projects,
            number_matched=matched(
                projects, after, has_more, lambda: self.store.count_projects(query)
            ),
            next_after=projects[-1].id if has_more else None,
        )

    def list_features(
        self,
        actor: Actor,
        project_filter: ProjectFilter,
        *,
        limit: int | None = None,
        after: int | None = None,
    ) -> FeaturePage:
        """``list`` as the API sends it, each project's Feature as JSON (``page_features``)."""
        return self.page_features(actor, self.query(project_filter), limit=limit, after=after)

    def page_features(
        self,
        actor: Actor,
        query: ProjectQuery,
        *,
        limit: int | None = None,
        after: int | None,
        crs: CRS = CRS84_CRS,
    ) -> FeaturePage:
        """``page`` as a list sends it, each project's Feature (``to_features``, geometry in
        ``crs``) as JSON.

        Only the projects whose stored state (``RowStamp``) changed since this process last
        listed them in ``crs`` are read whole and rendered again (``RenderedFeatures``).
        """
        self.policy.require_read(actor)
        limit = self._page_size(limit)
        return self._rendered.page(
            self.store.project_stamps(replace(query, after_id=after, limit=limit + 1)),
            limit=limit,
            after=after,
            shaped_by=(crs.srs,),
            render=lambda ids: self._rendered_projects(ids, crs),
            count=lambda: self.store.count_projects(query),
        )

    @property
    def rendered_ahead(self) -> bool:
        """Whether the newest projects are rendered (``render_ahead``)."""
        return self._rendered_ahead

    def render_ahead(self) -> None:
        """Render the newest projects, as many as are kept, in lon/lat (the map's and the
        API's default), so the first map views do not pay for them (the server does it at
        start, after the detection index): 50,000 take some seconds."""
        self._rendered.keep_newest(
            self.store.project_stamps(ProjectQuery()).rows,
            lambda ids: self._rendered_projects(ids, CRS84_CRS),
            (CRS84_CRS.srs,),
        )
        self._rendered_ahead = True

    def _rendered_projects(
        self, ids: tuple[int, ...], crs: CRS
    ) -> list[tuple[RowStamp, orjson.Fragment]]:
        """The projects with these ids as they are now, each as a list sends it in ``crs``."""
        fresh = self.store.get_projects(ids)
        return [
            (RowStamp(p.id, p.version, p.updated_at), kept_json(f))
            for p, f in zip(fresh, self.to_features(fresh, crs), strict=True)
        ]

    def _page_size(self, limit: int | None) -> int:
        limit = self.settings.page_size if limit is None else limit
        if not 1 <= limit <= self.settings.max_page_size:
            raise BadRequest(f"'limit' must be between 1 and {self.settings.max_page_size}")
        return limit

    def points(self, actor: Actor, project_filter: ProjectFilter) -> list[ProjectPoint]:
        """Every matching project as one point on it, in id order: what a map shows, as
        clusters, where drawing each geometry would be too much (zoomed out, 10,000 projects).

        Read column by column (``project_shapes``): no project object per row.
        """
        self.policy.require_read(actor)
        shapes = self.store.project_shapes(self.query(project_filter))
        if not len(shapes):
            return []
        inside = shapely.point_on_surface(shapely.from_wkb(shapes.wkb))
        lonlat = self.reprojector.coordinates_to_wgs84(shapely.get_coordinates(inside))
        rows = zip(
            shapes.id.tolist(),
            np.round(lonlat, 6).tolist(),
            shapes.organisation.tolist(),
            shapes.department.tolist(),
            shapes.status.tolist(),
            strict=True,
        )
        return [
            ProjectPoint(pid, lon, lat, organisation, department, status)
            for pid, (lon, lat), organisation, department, status in rows
        ]

    def iterate(self, actor: Actor, project_filter: ProjectFilter) -> Iterator[Project]:
        """Every matching project, page by page (for exports)."""
        after = None
        while True:
            page = self.list(actor, project_filter, limit=self.settings.max_page_size, after=after)
            yield from page.projects
            if page.next_after is None:
                return
            after = page.next_after

    def to_feature(self, project: Project) -> dict[str, Any]:
        return project_to_feature(project, self.reprojector)

    def to_features(
        self, projects: Sequence[Project], crs: CRS = CRS84_CRS
    ) -> list[dict[str, Any]]:
        """A page of projects as Features in ``crs``, reprojected at once, for a list sent
        as JSON (API lists, OGC items): the geometries are GeoJSON text orjson copies."""
        placed = self.reprojector.many_to_crs([p.geometry for p in projects], crs)
        return [
            project_to_feature(p, self.reprojector, g)
            for p, g in zip(projects, geometries_to_fragments(placed), strict=True)
        ]

    def query(self, f: ProjectFilter) -> ProjectQuery:
        """The store query of a filter (lon/lat box to the storage CRS): for other services
        that read projects, such as the exports."""
        return ProjectQuery(
            area=self.reprojector.bbox_to_storage(f.bbox) if f.bbox else None,
            organisations=f.organisations,
            departments=f.departments,
            measure_types=f.measure_types,
            statuses=f.statuses,
            time_from=f.time_from,
            time_to=f.time_to,
            text=f.text,
        )


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: null removes, objects merge, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


@dataclass(frozen=True)
class ProjectChange:
    """A new version of a stored project, checked (a bulk import's row that names it)."""

    current: Project
    attributes: ProjectAttributes
    geometry: BaseGeometry


def _update_change(before: Project, after: Project) -> Change:
    """The audit entry of a new version: only the values that changed."""
    old, new = project_values(before), project_values(after)
    return Change(
        "project.update",
        "project",
        str(after.id),
        {k: v for k, v in old.items() if new.get(k) != v},
        {k: v for k, v in new.items() if old.get(k) != v},
    )


def project_values(project: Project) -> dict[str, Any]:
    """A project's values for the audit log: its attributes and its geometry as WKT
    (storage CRS, to the centimetre)."""
    return attributes_to_json(project.attributes) | {
        "geometry": shapely.to_wkt(project.geometry, rounding_precision=2)
    }
