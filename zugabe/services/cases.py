"""Use cases around coordination: detect, keep cases in step, review them.

Detection itself is pure (``zugabe.engine``); this service feeds it the
stored projects and layer features, turns findings into cases with a stable
identity (``CaseStore.sync_cases``) and applies the review workflow.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import orjson
from shapely.geometry.base import BaseGeometry

from zugabe.detection_shares import (
    DetectionProcesses,
    ShareRequest,
    helpers_detecting,
    load_index,
    prepared_findings,
    responsible_for,
    share_out,
    work_of,
)
from zugabe.domain.accounts import Actor
from zugabe.domain.agreement import Decision
from zugabe.domain.case_history import (
    OBSOLETE_RULE,
    Event,
    HistoryEvent,
    project_deleted,
    word_event,
    word_reason,
)
from zugabe.domain.case_workflow import due_date
from zugabe.domain.cases import (
    LIVE_STATUSES,
    CaseFinding,
    CaseStatus,
    CoordinationCase,
    Subject,
)
from zugabe.domain.desk_vocabulary import desk_word
from zugabe.domain.layers import LayerDefinition
from zugabe.domain.policy import Policy
from zugabe.domain.project import Project
from zugabe.domain.rules import Rule
from zugabe.domain.vocabulary import Vocabulary
from zugabe.engine import (
    DetectionIndex,
    RuleFindings,
    detect_every_rule,
    detect_for_project,
    findings_by_rule,
)
from zugabe.engine.case_findings import case_findings
from zugabe.errors import BadRequest, FieldError, InvalidInput, NotFound
from zugabe.io.crs import CRS84_CRS, Reprojector
from zugabe.io.geojson import PlacedGeometry, geometries_to_fragments, geometry_to_json
from zugabe.services.audit import AuditService, Change
from zugabe.services.case_subjects import SubjectDescriber
from zugabe.services.collector_pause import collector_paused
from zugabe.services.notifications import NotificationService
from zugabe.services.projects import ProjectFilter
from zugabe.services.query import matched
from zugabe.services.rendered_features import FeaturePage, RenderedFeatures, kept_json
from zugabe.storage.contract import (
    CaseQuery,
    CaseSync,
    ProjectQuery,
    RowStamp,
    Store,
    StoreChange,
)

COMMENT_MAX = 5000
MAP_LANGUAGE = "de"
"""The language the map asks in unless its user switched: the cases rendered ahead."""


@dataclass(frozen=True)
class CasePage:
    cases: list[CoordinationCase]
    number_matched: int
    next_after: int | None


@dataclass(frozen=True)
class DetectionRun:
    findings: int
    sync: CaseSync


@dataclass(frozen=True)
class _LiveIndex:
    """The detection index kept between saves, the store revision it reflects and the
    layers whose features it holds (those a stored project may meet under some rule)."""

    index: DetectionIndex
    revision: int
    layers: frozenset[str]
    responsible: Mapping[str, str]
    """Layer key → the organisation responsible for its data, where one is recorded."""


class CaseService:
    def __init__(
        self,
        store: Store,
        rules: Sequence[Rule],
        definitions: Mapping[str, LayerDefinition],
        reprojector: Reprojector,
        policy: Policy,
        audit: AuditService,
        display_name: Callable[[str], str],
        names_generation: Callable[[], int],
        vocabulary: Vocabulary,
        due_days_before_start: int,
        notifications: NotificationService,
        rendered_cases: int,
        processes: DetectionProcesses,
    ) -> None:
        self.store = store
        self.notifications = notifications
        self.vocabulary = vocabulary
        self.due_days_before_start = due_days_before_start
        self.subjects = SubjectDescriber(store, definitions)
        self.policy = policy
        self.audit = audit
        self.display_name = display_name  # username -> the name histories show
        self.names_generation = names_generation  # grows when display names change
        self._rendered = RenderedFeatures(rendered_cases)
        self._rendered_ahead = False
        self.rules = tuple(rules)
        self.rule_by_id = {rule.id: rule for rule in rules}
        self.definitions = definitions
        self.reprojector = reprojector
        self.processes = processes
        self._lock = threading.RLock()
        self._live: _LiveIndex | None = None

    # ------------------------------------------------------------ detection

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold around the transaction that writes data and brings its cases in step.

        Data and cases commit together, so no crash leaves one without the other. Inside it
        the live index catches up with the store (``_current_index``), our own write
        included. A write that fails is rolled back, and so is the index: it may hold what
        was never committed.

        A built index first catches up with the other processes' writes here, before the
        transaction takes the store's write lock: under it, only what was written in
        between is left, so the other writers do not wait for a catch-up.
        """
        with self._lock:
            if self._live is not None:
                self._current_index()
            try:
                yield
            except BaseException:
                self._live = None
                raise

    @property
    def index_warm(self) -> bool:
        """Whether the live index is built (else the next save builds it first)."""
        return self._live is not None

    @property
    def rendered_ahead(self) -> bool:
        """Whether the newest cases are rendered (``render_ahead``)."""
        return self._rendered_ahead

    def build_index(self) -> None:
        """Build the live index now (the server does it at start, in the background), so
        the first save does not pay for loading every project and layer feature."""
        self._current_index()

    def render_ahead(self) -> None:
        """Render the newest cases, as many as are kept, in the map's language (German), so
        the first map views do not pay for them (the server does it at start, after the
        index): a dense view's page of 1,000 cases takes a tenth of a second to render,
        and one kept, a hundredth."""
        self._rendered.keep_newest(
            self.store.case_stamps(CaseQuery()).rows,
            lambda ids: self._rendered_cases(ids, MAP_LANGUAGE),
            (MAP_LANGUAGE, self.names_generation()),
        )
        self._rendered_ahead = True

    def _current_index(self) -> DetectionIndex:
        """The live index, brought up to the store's last revision first."""
        with self._lock:
            live = self._live
            if live is None:
                return self._rebuild()
            changes = self.store.changes_since(live.revision)
            return self._caught_up(live, changes) if changes else live.index

    def _caught_up(self, live: _LiveIndex, changes: Sequence[StoreChange]) -> DetectionIndex:
        """The live index with the projects changed since it was made reloaded by id (by
        this process or any other: workers of one server, the CLI); a deleted one leaves it.

        A layer change, a log trimmed past the index's revision or a changed project that
        may meet a layer not loaded means a rebuild.
        """
        if changes[0].revision != live.revision + 1 or any(c.kind != "project" for c in changes):
            return self._rebuild()
        ids = {int(change.ref) for change in changes}
        saved = self.store.get_projects(sorted(ids))
        if any(self._meets_unloaded_layer(project, live) for project in saved):
            return self._rebuild()
        index = live.index.updated(saved=saved, removed=ids - {p.id for p in saved})
        self._live = _LiveIndex(index, changes[-1].revision, live.layers, live.responsible)
        return index

    @collector_paused()  # millions of objects, none in a cycle
    def _rebuild(self) -> DetectionIndex:
        """Every stored project, and the features of the layers they may meet
        (``load_index``); a later save of a project that can meet a layer not loaded loads it."""
        revision = self.store.revision()  # read first: a change while loading is caught up
        index, layer_keys = load_index(self.store, self.rules, self.definitions)
        responsible = responsible_for(self.store.list_layers())
        self._live = _LiveIndex(index, revision, layer_keys, responsible)
        return index

    def _meets_unloaded_layer(self, project: Project, live: _LiveIndex) -> bool:
        return any(
            rule.layer and rule.layer not in live.layers and rule.a.matches(project.attributes)
            for rule in self.rules
        )

    def detect_project(self, project: Project, actor: Actor) -> DetectionRun:
        """Check one saved project and bring its cases in step (incremental)."""
        index = self._current_index()
        findings = detect_for_project(project, index, self.rules)
        scope = Subject("project", str(project.id)).key
        sync = self.store.sync_cases(
            self._case_findings(findings_by_rule(findings, index, self.rules)),
            scope,
            actor.username,
            OBSOLETE_RULE,
        )
        return DetectionRun(len(findings), sync)

    def project_deleted(self, project_id: int, actor: Actor) -> CaseSync:
        """A deleted project's cases become obsolete; their history stays."""
        with self._lock:
            if self._live is not None:
                self._current_index()
        scope = Subject("project", str(project_id)).key
        return self.store.sync_cases([], scope, actor.username, project_deleted(project_id))

    def batch_run(self, actor: Actor) -> DetectionRun:
        """The batch run as a use case of its own (``POST /api/cases/detect``): region admins."""
        self.policy.require_region_admin(actor, "the batch detection run")
        # A bulk write: every case may be written, with its involvements and history.
        with self.writing(), self.store.transaction(bulk=True):
            # Nothing is written yet in this transaction: helper processes, which read
            # what is committed, see what it sees.
            run = self._detect_shared(actor)
            self.audit.record(
                actor,
                Change("cases.detect_all", "cases", "*", None, sync_counts(run)),
            )
        return run

    @collector_paused()
    def _detect_shared(self, actor: Actor) -> DetectionRun:
        """``detect_everything`` with the rules shared out over processes, where there is
        enough work for more than one (``detection_shares``)."""
        layers = self.store.list_layers()
        work = work_of(layers, self.store.count_projects(ProjectQuery()))
        needed = sum(work.get(key, 0) for key in {None, *(rule.layer for rule in self.rules)})
        if self.processes.processes < 2 or needed < self.processes.from_weight:
            return self.detect_everything(actor)
        own, *others = share_out(self.rules, work, self.processes.processes)
        if not others:
            return self.detect_everything(actor)
        responsible = responsible_for(layers)
        revision = self.store.revision()
        requests = [
            ShareRequest(
                self.processes.store_url,
                self.processes.srid,
                revision,
                share,
                dict(self.definitions),
                responsible,
            )
            for share in others
        ]
        with helpers_detecting(requests) as helpers:
            # A built index serves this share as it is; else only what it needs is loaded,
            # and not kept: the next save builds the whole live index.
            index = (
                self._current_index()
                if self._live
                else load_index(self.store, own, self.definitions)[0]
            )
            own_found = prepared_findings(index, own, self.definitions, responsible)
            # Ours are written while the helpers still detect; theirs as each is done.
            parts = itertools.chain([own_found], (helper.result() for helper in helpers))
            sync = self.store.sync_case_parts(parts, actor.username, OBSOLETE_RULE)
        # Each finding is one case: created, or a stored one updated, unchanged or reopened.
        found = len(sync.created) + len(sync.updated) + len(sync.unchanged) + len(sync.reopened)
        return DetectionRun(found, sync)

    def recheck_project(self, actor: Actor, project_id: int) -> DetectionRun:
        """Detection for one stored project on demand (``zugabe detect --project``)."""
        self.policy.require_region_admin(actor, "a detection run")
        project = self.store.get_project(project_id)
        if project is None:
            raise NotFound(f"project {project_id} does not exist")
        with self.writing():
            return self.detect_project(project, actor)

    @collector_paused()
    def detect_everything(self, actor: Actor) -> DetectionRun:
        """Every pair under every rule; cases created, updated, obsoleted (after a layer
        import or a bulk import, whose own permission was checked; inside their
        transaction, within ``writing``)."""
        index = self._current_index()  # rebuilt when the store changed (an import did)
        found = self._case_findings(detect_every_rule(index, self.rules))
        sync = self.store.sync_cases(found, None, actor.username, OBSOLETE_RULE)
        return DetectionRun(len(found), sync)

    def _case_findings(self, groups: Sequence[RuleFindings]) -> list[CaseFinding]:
        responsible = self._live.responsible if self._live else {}
        return case_findings(groups, self.definitions, responsible)

    # ------------------------------------------------------------ review

    def of_project(self, project_id: int) -> list[CoordinationCase]:
        """The live (not obsolete) cases a project is part of."""
        query = CaseQuery(subject=Subject("project", str(project_id)).key, statuses=LIVE_STATUSES)
        return self.store.list_cases(query)

    def get(self, actor: Actor, case_id: int) -> CoordinationCase:
        self.policy.require_read(actor)
        return self._stored(case_id)

    def _stored(self, case_id: int) -> CoordinationCase:
        case = self.store.get_case(case_id)
        if case is None:
            raise NotFound(f"case {case_id} does not exist")
        return case

    def list(self, actor: Actor, query: CaseQuery) -> tuple[list[CoordinationCase], int]:
        self.policy.require_read(actor)
        return self.store.list_cases(query), self.store.count_cases(query)

    def page(self, actor: Actor, query: CaseQuery, *, limit: int, after: int | None) -> CasePage:
        """One page of matching cases in id order, how many match, and the next cursor."""
        self.policy.require_read(actor)
        cases = self.store.list_cases(replace(query, after_id=after, limit=limit + 1))
        has_more = len(cases) > limit
        cases = cases[:limit]
        return CasePage(
            cases,
            matched(cases, after, has_more, lambda: self.store.count_cases(query)),
            cases[-1].id if has_more else None,
        )

    def page_features(
        self, actor: Actor, query: CaseQuery, *, limit: int, after: int | None, lang: str
    ) -> FeaturePage:
        """``page`` as the list sends it, each case's Feature (``to_features``) as JSON.

        Only the cases whose stored state (``RowStamp``) or shown display names changed
        since this process last listed them are read whole and rendered again
        (``RenderedFeatures``); the others are taken as rendered then.
        """
        self.policy.require_read(actor)
        return self._rendered.page(
            self.store.case_stamps(replace(query, after_id=after, limit=limit + 1)),
            limit=limit,
            after=after,
            shaped_by=(lang, self.names_generation()),
            render=lambda ids: self._rendered_cases(ids, lang),
            count=lambda: self.store.count_cases(query),
        )

    def _rendered_cases(
        self, ids: tuple[int, ...], lang: str
    ) -> list[tuple[RowStamp, orjson.Fragment]]:
        """The cases with these ids as they are now, each as the list sends it."""
        fresh = self.store.list_cases(CaseQuery(ids=ids))
        return [
            (RowStamp(c.id, c.version, c.updated_at), kept_json(f))
            for c, f in zip(fresh, self.to_features(fresh, lang), strict=True)
        ]

    def comment(self, case_id: int, text: Any, actor: Actor) -> None:
        self.policy.require_writer(actor)
        case = self._stored(case_id)
        self.policy.require_case_comment(
            actor, case.finding.organisations, f"commenting on case {case_id}"
        )
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(
                "a comment needs text", field_errors=[FieldError("/text", "must not be empty")]
            )
        if len(text) > COMMENT_MAX:
            raise InvalidInput(
                f"a comment has at most {COMMENT_MAX} characters",
                field_errors=[FieldError("/text", f"longer than {COMMENT_MAX} characters")],
            )
        with self.store.transaction():
            comment = self.store.add_case_comment(case_id, text.strip(), actor.username)
            self.audit.record(
                actor,
                Change(
                    "case.comment",
                    "case",
                    str(case_id),
                    None,
                    {"comment": comment.id, "text": comment.text},
                ),
            )
            self.notifications.case_step(
                case, (HistoryEvent(Event.COMMENTED, {"comment": comment.id}),), actor
            )
            self.store.seen_cases(actor.username, [case_id], comment.at)  # not news to its author

    # ------------------------------------------------------------ output

    def word(self, value: str, lang: str) -> str:
        """An organisation, status, decision kind or vote in the reader's language."""
        organisation = self.vocabulary.organisations.get(value)
        if organisation is not None:
            return organisation.en if lang == "en" else organisation.de
        return desk_word(value, lang)

    def to_features(
        self, cases: Sequence[CoordinationCase], lang: str = "en"
    ) -> list[dict[str, Any]]:
        """A page of cases as Features (``to_json``) for a list sent as JSON, their
        geometries reprojected at once (one call into PROJ for the page, not one per case)
        as GeoJSON text that orjson copies."""
        shown = [_shown_geometry(c) for c in cases]
        placed = geometries_to_fragments(
            self.reprojector.many_to_crs([g for g in shown if g is not None], CRS84_CRS)
        )
        geometries = iter(placed)
        return [
            self.to_json(case, lang=lang, geometry=next(geometries) if g is not None else None)
            for case, g in zip(cases, shown, strict=True)
        ]

    def to_json(
        self,
        case: CoordinationCase,
        *,
        detail: bool = False,
        lang: str = "en",
        geometry: PlacedGeometry | None = None,
    ) -> dict[str, Any]:
        """A case as GeoJSON Feature: the overlap geometry, lon/lat, with its desk state
        (assignee, due date, the decision and its votes); detail adds both subjects'
        geometries, comments, every decision and the history worded in ``lang``.
        ``geometry``: the GeoJSON geometry where the caller placed it already (a page)."""
        f = case.finding
        rule = self.rule_by_id.get(f.rule_id)
        due = due_date(case, self.due_days_before_start)
        if geometry is None and (shown := _shown_geometry(case)) is not None:
            geometry = geometry_to_json(self.reprojector.to_wgs84(shown))
        body: dict[str, Any] = {
            "type": "Feature",
            "id": case.id,
            "geometry": geometry,
            "properties": {
                "rule": f.rule_id,
                "rule_name": {"de": rule.name.de, "en": rule.name.en} if rule else None,
                "relation": f.relation,
                "severity": f.severity,
                "status": case.status.value,
                "status_reason": word_reason(case.status_reason, lang),
                "subject_a": _subject_json(f.subject_a),
                "subject_b": _subject_json(f.subject_b),
                "message": f.message,
                "measures": f.measures,
                "organisations": list(f.organisations),
                "departments": list(f.departments),
                "window_start": f.window_start.isoformat() if f.window_start else None,
                "window_end": f.window_end.isoformat() if f.window_end else None,
                "assignee": case.assignee,
                "assignee_name": self.display_name(case.assignee) if case.assignee else None,
                "due_date": due.isoformat() if due else None,
                "due_date_set": case.due_date is not None,
                "decision": self._decision_json(case.decision, f.organisations)
                if case.decision
                else None,
                "version": case.version,
                "created_at": case.created_at.isoformat(),
                "updated_at": case.updated_at.isoformat(),
            },
        }
        if detail:
            body["subjects"] = [self._subject_geometry(s) for s in (f.subject_a, f.subject_b)]
            body["comments"] = [
                {
                    "id": c.id,
                    "at": c.at.isoformat(),
                    "by": c.by,
                    "by_name": self.display_name(c.by),
                    "text": c.text,
                }
                for c in case.comments
            ]
            body["decisions"] = [self._decision_json(d, f.organisations) for d in case.decisions]
            body["history"] = [
                {
                    "at": h.at.isoformat(),
                    "by": h.by,
                    "by_name": self.display_name(h.by),
                    "event": h.event.kind.value,
                    "details": dict(h.event.details),
                    "text": word_event(h.event, lang, self.word, self.display_name),
                }
                for h in case.history
            ]
        return body

    def _decision_json(self, decision: Decision, organisations: Sequence[str]) -> dict[str, Any]:
        """A decision with its votes and whom it still waits for: the decision record."""
        return {
            "id": decision.id,
            "kind": decision.kind.value,
            "text": decision.text,
            "measures": list(decision.measures),
            "proposed_by": decision.proposed_by,
            "proposed_by_name": self.display_name(decision.proposed_by),
            "proposed_at": decision.proposed_at.isoformat(),
            "state": decision.state.value,
            "closed_at": decision.closed_at.isoformat() if decision.closed_at else None,
            "votes": [
                {
                    "organisation": v.organisation,
                    "choice": v.choice.value,
                    "reason": v.reason,
                    "by": v.by,
                    "by_name": self.display_name(v.by),
                    "at": v.at.isoformat(),
                }
                for v in decision.votes
            ],
            "waiting_for": list(decision.waiting_for(organisations)),
        }

    def _subject_geometry(self, subject: Subject) -> dict[str, Any]:
        """A subject with its current geometry (and a layer feature's derived one, such as
        a tree's root-protection zone; None where it no longer exists), its name and whom
        to talk to about it."""
        geometry = derived = project = feature = None
        if subject.kind == "project":
            project = self.store.get_project(int(subject.ref))
            geometry = project.geometry if project else None
        elif subject.layer is not None:
            feature = self._current_index().feature_by_ref(subject.layer, subject.ref)
            if feature is not None:
                geometry, derived = feature.geometry, feature.derived
        body = (
            _subject_json(subject)
            | {"geometry": self._lonlat(geometry)}
            | self.subjects.describe(subject, project, feature)
        )
        if derived is not None:
            body["derived_geometry"] = self._lonlat(derived)
        return body

    def _lonlat(self, geometry: BaseGeometry | None) -> dict[str, Any] | None:
        return geometry_to_json(self.reprojector.to_wgs84(geometry)) if geometry else None


def _subject_json(subject: Subject) -> dict[str, Any]:
    return {"kind": subject.kind, "ref": subject.ref, "layer": subject.layer, "key": subject.key}


def parse_case_query(params: Mapping[str, str], reprojector: Reprojector) -> CaseQuery:
    """API/CLI filters of the case list; comma-separated values mean 'any of'."""

    def many(name: str) -> tuple[str, ...]:
        return tuple(v.strip() for v in params.get(name, "").split(",") if v.strip())

    statuses = []
    for raw in many("status"):
        try:
            statuses.append(CaseStatus(raw))
        except ValueError:
            raise BadRequest(f"unknown case status {raw!r}") from None
    window = ProjectFilter.from_params(
        {k: params[k] for k in ("bbox", "from", "to") if k in params}
    )
    return CaseQuery(
        organisations=many("organisation"),
        departments=many("department"),
        relations=many("relation"),
        severities=many("severity"),
        statuses=tuple(statuses),
        rule_ids=many("rule"),
        subject=params.get("subject") or None,
        area=reprojector.bbox_to_storage(window.bbox) if window.bbox else None,
        time_from=window.time_from,
        time_to=window.time_to,
    )


def sync_counts(run: DetectionRun) -> dict[str, int]:
    """What a detection run found and changed, as the API and the audit log tell it."""
    sync = run.sync
    return {
        "findings": run.findings,
        "created": len(sync.created),
        "updated": len(sync.updated),
        "unchanged": len(sync.unchanged),
        "reopened": len(sync.reopened),
        "obsoleted": len(sync.obsoleted),
    }


def _shown_geometry(case: CoordinationCase) -> BaseGeometry | None:
    """The overlap geometry a case is drawn with; None where it has none."""
    geometry = case.finding.geometry
    return None if geometry is None or geometry.is_empty else geometry
