"""Coordination reports: what a reviewer takes to a meeting, on screen, on paper, in a sheet.

Four reports share one shape: the cases that matter (live cases, grouped by severity and
ordered by date), a map excerpt and a timeline of the windows that meet.

- project fact sheet [Projektkennblatt]: every datum of one project, its live cases;
- organisation and department: every live case involving them, led by the open conflicts
  that need action (``LEADS``);
- area: a district of the ``districts`` layer or a lon/lat box, and a time range.

The case reports (all but the fact sheet) take a ``CaseFilter``: case status, relation,
severity and period, shown on the page as it prints.

``ReportService`` gathers the data (``Report``, language-neutral), and ``page`` and
``case_table`` turn it into German or English words for the HTML templates and the CSV/XLSX
case lists; the pictures are drawn by ``zugabe.io.report_graphics``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import shapely
from markupsafe import Markup
from shapely.geometry.base import BaseGeometry

from zugabe.domain.accounts import Actor
from zugabe.domain.cases import LIVE_STATUSES, CaseStatus, CoordinationCase, Subject
from zugabe.domain.desk_vocabulary import desk_word
from zugabe.domain.palette import department_colors, relation_color
from zugabe.domain.project import FIELD_LABELS, Project, Status
from zugabe.domain.vocabulary import STATUS_LABELS
from zugabe.errors import BadRequest, NotFound
from zugabe.io.report_graphics import (
    QUIET_LABEL,
    Bar,
    Extent,
    MapPicture,
    Overlap,
    Shape,
    padded_extent,
    render_map,
    render_timeline,
    shared_period,
)
from zugabe.io.report_tables import Cell
from zugabe.services.cases import parse_case_query
from zugabe.services.checklists import PLAN_MEASURE_TYPE, checklist_view
from zugabe.services.checklists import TEXTS as CHECKLIST_TEXTS
from zugabe.services.query import BBox, parse_bbox
from zugabe.storage.contract import CaseQuery, ProjectQuery

if TYPE_CHECKING:
    from zugabe.services import Services

LANGUAGES = ("de", "en")
SEVERITY_ORDER = ("high", "medium", "low")
MEASURES = ("overlap_area_m2", "overlap_length_m", "distance_m", "overlap_days", "gap_months")
BACKGROUND_LAYERS = ("districts", "streets")
BACKGROUND_LIMIT = 5000  # features per background layer; more would bloat the page
Period = tuple[date | None, date | None]

TEXTS: dict[str, dict[str, str]] = {
    "de": {
        "report_project": "Projektkennblatt",
        "report_organisation": "Koordinierungsfälle: {name}",
        "report_department": "Koordinierungsfälle des Fachbereichs {name}",
        "report_area": "Gebietsbericht: {name}",
        "area_district": "Stadtteil {name} ({id})",
        "area_bbox": "Ausschnitt {bbox}",
        "generated": "Stand",
        "period": "Zeitraum",
        "any_time": "ohne Einschränkung",
        "data": "Stammdaten",
        "map": "Karte",
        "map_label": "Kartenausschnitt",
        "timeline": "Zeitplan der Maßnahmen, die sich treffen",
        "timeline_note": "Balken: geplanter Zeitraum; farbig markiert: gemeinsame Zeit",
        "no_timeline": "Keine zeitlichen Überschneidungen zwischen Maßnahmen.",
        "cases": "Koordinierungsfälle",
        "cases_count": "{n} Koordinierungsfälle",
        "no_cases": "Keine Koordinierungsfälle.",
        "no_map": "Nichts zu zeigen.",
        "projects": "Maßnahmen",
        "no_projects": "Keine Maßnahmen.",
        "window": "Zeitraum",
        "created": "Angelegt",
        "updated": "Geändert",
        "by": "von",
        "geometry": "Geometrie",
        "length_m": "Länge (m)",
        "area_m2": "Fläche (m²)",
        "centre": "Lage (Länge, Breite)",
        "districts": "Stadtteile",
        "relation": "Beziehung",
        "severity": "Schwere",
        "rule": "Regel",
        "rule_id": "Regel-Nr.",
        "case_status": "Fallstatus",
        "subjects": "Beteiligt",
        "case": "Fall",
        "subject_a": "Gegenstand A",
        "subject_b": "Gegenstand B",
        "message": "Meldung",
        "organisations": "Organisationen",
        "departments": "Fachbereiche",
        "measures": "Kennzahlen",
        "relation_conflict": "Konflikt",
        "relation_synergy": "Synergie",
        "relation_note": "Hinweis",
        "severity_high": "hoch",
        "severity_medium": "mittel",
        "severity_low": "gering",
        "overlap_area_m2": "Überlagerung (m²)",
        "overlap_length_m": "Überlagerung (m)",
        "distance_m": "Abstand (m)",
        "overlap_days": "gemeinsame Tage",
        "gap_months": "Abstand (Monate)",
        "project_ref": "Maßnahme {id}",
        "case_of": "Fall {id}",
        "shared": "gemeinsam {start} – {end}",
        "open": "offen",
        "undated": "ohne Termin",
        "legend": "Legende",
        "unlabelled": "Ohne Beschriftung (kein Platz in der Karte)",
        "this_project": "diese Maßnahme",
        "other_projects": "weitere Maßnahmen",
        "switch_lang": "English",
        "print": "Drucken",
        "download": "Fallliste als",
        "live_only": "Nicht gegenstandslose Fälle, nach Schwere gruppiert und nach Beginn des "
        "gemeinsamen Zeitraums sortiert.",
        "filter": "Filter",
        "filter_none": "keiner (alle nicht gegenstandslosen Fälle)",
        "cases_other": "Weitere Koordinierungsfälle",
        "no_lead_cases": "Keine.",
        "waiting_for": "wartet auf",
        "sheet": "Koordinierungsfälle",
    },
    "en": {
        "report_project": "Project fact sheet",
        "report_organisation": "Coordination cases: {name}",
        "report_department": "Coordination cases of the department {name}",
        "report_area": "Area report: {name}",
        "area_district": "District {name} ({id})",
        "area_bbox": "Box {bbox}",
        "generated": "As of",
        "period": "Period",
        "any_time": "any time",
        "data": "Project data",
        "map": "Map",
        "map_label": "Map excerpt",
        "timeline": "Timeline of the projects that meet",
        "timeline_note": "Bars: planned window; coloured marks: shared time",
        "no_timeline": "No projects whose windows meet.",
        "cases": "Coordination cases",
        "cases_count": "{n} coordination cases",
        "no_cases": "No coordination cases.",
        "no_map": "Nothing to show.",
        "projects": "Projects",
        "no_projects": "No projects.",
        "window": "Period",
        "created": "Created",
        "updated": "Changed",
        "by": "by",
        "geometry": "Geometry",
        "length_m": "Length (m)",
        "area_m2": "Area (m²)",
        "centre": "Location (lon, lat)",
        "districts": "Districts",
        "relation": "Relation",
        "severity": "Severity",
        "rule": "Rule",
        "rule_id": "Rule id",
        "case_status": "Case status",
        "subjects": "Involved",
        "case": "Case",
        "subject_a": "Subject A",
        "subject_b": "Subject B",
        "message": "Message",
        "organisations": "Organisations",
        "departments": "Departments",
        "measures": "Measures",
        "relation_conflict": "Conflict",
        "relation_synergy": "Synergy",
        "relation_note": "Note",
        "severity_high": "high",
        "severity_medium": "medium",
        "severity_low": "low",
        "overlap_area_m2": "Overlap (m²)",
        "overlap_length_m": "Overlap (m)",
        "distance_m": "Distance (m)",
        "overlap_days": "Shared days",
        "gap_months": "Gap (months)",
        "project_ref": "Project {id}",
        "case_of": "Case {id}",
        "shared": "shared {start} – {end}",
        "open": "open",
        "undated": "no dates",
        "legend": "Legend",
        "unlabelled": "Not labelled (no room on the map)",
        "this_project": "this project",
        "other_projects": "other projects",
        "switch_lang": "Deutsch",
        "print": "Print",
        "download": "Case list as",
        "live_only": "Cases that are not obsolete, grouped by severity and ordered by the "
        "start of their shared period.",
        "filter": "Filter",
        "filter_none": "none (every case that is not obsolete)",
        "cases_other": "Other coordination cases",
        "no_lead_cases": "None.",
        "waiting_for": "waiting for",
        "sheet": "Coordination cases",
    },
}
for _lang, _texts in TEXTS.items():
    _texts.update({field: labels[_lang] for field, labels in FIELD_LABELS.items()})


def parse_language(value: str | None) -> str:
    """``de`` (default) or ``en``; anything else is a 400 naming the parameter."""
    if value is None or value == "":
        return "de"
    if value not in LANGUAGES:
        raise BadRequest(f"'lang' must be one of {', '.join(LANGUAGES)}, got {value!r}")
    return value


FILTER_PARAMETERS = ("status", "relation", "severity", "from", "to")
"""The query parameters of a case report's ``CaseFilter`` (as the OpenAPI document names them)."""


@dataclass(frozen=True)
class CaseFilter:
    """What a case report is narrowed to; an empty choice means all (of the live cases).

    Parsed by the case list's own parser (``parse_case_query``), so that ``status=open`` means
    the same in ``/api/cases`` and in a report; obsolete cases are never reported.
    """

    statuses: tuple[CaseStatus, ...] = ()
    relations: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    period: Period = (None, None)

    def __post_init__(self) -> None:
        for status in self.statuses:
            if status not in LIVE_STATUSES:
                live = ", ".join(s.value for s in LIVE_STATUSES)
                raise BadRequest(f"'status' must be one of {live}, got {status.value!r}")

    @property
    def chosen(self) -> bool:
        return self != CaseFilter()

    def narrow(self, query: CaseQuery) -> CaseQuery:
        """The report's case query with this filter's choices (live statuses by default)."""
        return replace(
            query,
            statuses=self.statuses or LIVE_STATUSES,
            relations=self.relations,
            severities=self.severities,
            time_from=self.period[0],
            time_to=self.period[1],
        )


# ----------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class Area:
    """Where an area report looks: a district of the ``districts`` layer, or a lon/lat box."""

    geometry: BaseGeometry  # storage CRS
    district_id: str | None = None
    district_name: str | None = None
    bbox: BBox | None = None


LeadPicker = Callable[
    [list[CoordinationCase], Mapping[int, Project], str | None], list[CoordinationCase]
]
"""Takes the cases not yet listed, the report's projects and the organisation whose report it
is (None for the other kinds)."""


@dataclass(frozen=True)
class Lead:
    """A section that leads a report, before the map: ``pick`` takes the cases not yet
    listed and the report's projects, and returns those of the section in its own order
    (they leave the severity groups below); heading and note by language."""

    key: str
    pick: LeadPicker
    heading: Mapping[str, str]
    note: Mapping[str, str]


@dataclass(frozen=True)
class Section:
    """Cases listed under one heading: a leading section or a severity group."""

    key: str  # the lead's key, or a severity
    cases: list[CoordinationCase]
    lead: Lead | None = None


@dataclass(frozen=True)
class Report:
    """What a report shows, before it is put into words.

    ``cases`` are in report order (severity, then window start, then id); ``sections`` list
    them as the page does: the leading sections first, then the other cases by severity.
    ``projects`` holds every project a case or the report names, by id; ``listed`` the
    projects the report lists (the subject of a fact sheet, the projects of an area).
    """

    kind: str  # project | organisation | department | area
    key: str
    cases: list[CoordinationCase]
    projects: dict[int, Project]
    listed: list[int] = field(default_factory=list)
    area: Area | None = None
    filter: CaseFilter | None = None  # None: the fact sheet, which takes no filter
    sections: list[Section] = field(default_factory=list)
    generated_at: datetime = field(default_factory=lambda: datetime.now().astimezone())

    @property
    def subject(self) -> Project | None:
        """The project of a fact sheet."""
        return self.projects[int(self.key)] if self.kind == "project" else None

    @property
    def period(self) -> Period:
        return self.filter.period if self.filter else (None, None)

    @property
    def in_page_order(self) -> list[CoordinationCase]:
        """Every case once, in the order of the page: the leading sections, then the rest."""
        return [case for section in self.sections for case in section.cases]


def case_order(case: CoordinationCase) -> tuple[int, date, int]:
    """Severity (high first), then the start of the case's window (undated last), then id."""
    f = case.finding
    rank = SEVERITY_ORDER.index(f.severity) if f.severity in SEVERITY_ORDER else 99
    return rank, f.window_start or date.max, case.id


def conflicts_needing_action(
    cases: list[CoordinationCase], projects: Mapping[int, Project], _organisation: str | None
) -> list[CoordinationCase]:
    """Conflicts still open or in coordination, most urgent first: the earlier start of the
    two subjects (a layer feature has none), then severity, then id."""

    def urgency(case: CoordinationCase) -> tuple[date, int, date, int]:
        f = case.finding
        starts = [
            projects[ref].attributes.start
            for ref in (_project_id(f.subject_a), _project_id(f.subject_b))
            if ref is not None and ref in projects
        ]
        first = min((d for d in starts if d is not None), default=date.max)
        rank, window_start, case_id = case_order(case)
        return first, rank, window_start, case_id

    waiting = (CaseStatus.OPEN, CaseStatus.IN_COORDINATION)
    needing = [c for c in cases if c.finding.relation == "conflict" and c.status in waiting]
    return sorted(needing, key=urgency)


NEEDS_ACTION = Lead(
    "action",
    conflicts_needing_action,
    heading={"de": "Offene Konflikte mit Handlungsbedarf", "en": "Open conflicts that need action"},
    note={
        "de": "Konflikte im Status offen oder in Abstimmung, die dringendsten zuerst: nach dem "
        "früheren Beginn der beiden Beteiligten, dann nach Schwere.",
        "en": "Conflicts that are open or in coordination, the most urgent first: by the "
        "earlier start of the two subjects, then by severity.",
    },
)


def agreements_waiting(
    cases: list[CoordinationCase], projects: Mapping[int, Project], organisation: str | None
) -> list[CoordinationCase]:
    """Proposals still waiting for votes — in an organisation's report, those waiting for
    that organisation's — oldest proposal first."""
    waiting = [
        c
        for c in cases
        if c.status is CaseStatus.PROPOSED
        and c.decision is not None
        and (
            organisation is None or organisation in c.decision.waiting_for(c.finding.organisations)
        )
    ]
    return sorted(
        waiting, key=lambda c: (c.decision.proposed_at if c.decision else c.created_at, c.id)
    )


def agreed(
    cases: list[CoordinationCase], projects: Mapping[int, Project], _organisation: str | None
) -> list[CoordinationCase]:
    """Agreed cases, the latest agreement first."""
    done = [c for c in cases if c.status is CaseStatus.AGREED and c.decision is not None]
    return sorted(done, key=lambda c: (-(c.decision.closed_at or c.updated_at).timestamp(), c.id))


WAITING = Lead(
    "waiting",
    agreements_waiting,
    heading={"de": "Vorschläge, die auf Zustimmung warten", "en": "Proposals waiting for votes"},
    note={
        "de": "Jede beteiligte Organisation hat eine Stimme; im Bericht einer Organisation die "
        "Vorschläge, die auf ihre Stimme warten.",
        "en": "Every organisation involved has one vote; in an organisation's report the "
        "proposals waiting for its vote.",
    },
)
AGREED = Lead(
    "agreed",
    agreed,
    heading={"de": "Vereinbarte Entscheidungen", "en": "Agreed decisions"},
    note={
        "de": "Von allen beteiligten Organisationen vereinbart, die jüngste zuerst.",
        "en": "Agreed by every organisation involved, the latest first.",
    },
)
LEADS: dict[str, tuple[Lead, ...]] = {
    "organisation": (NEEDS_ACTION, WAITING, AGREED),
    "department": (NEEDS_ACTION, WAITING, AGREED),
    "area": (WAITING, AGREED),
}
"""The sections that lead the report of a kind, in page order: the one place to add another."""


def sections(
    kind: str, key: str, cases: list[CoordinationCase], projects: Mapping[int, Project]
) -> list[Section]:
    """The leading sections of the kind (shown even when empty: "none" is news on paper),
    then the remaining cases by severity (only the groups that have any)."""
    result, rest = [], list(cases)
    organisation = key if kind == "organisation" else None
    for lead in LEADS.get(kind, ()):
        taken = lead.pick(rest, projects, organisation)
        result.append(Section(lead.key, taken, lead))
        ids = {c.id for c in taken}
        rest = [c for c in rest if c.id not in ids]
    for severity in SEVERITY_ORDER:
        group = [c for c in rest if c.finding.severity == severity]
        if group:
            result.append(Section(severity, group))
    return result


class ReportService:
    """Builds reports from the store; cheap to create, so the web layer makes one per request."""

    def __init__(self, services: Services, actor: Actor) -> None:
        services.projects.policy.require_read(actor)  # reports read the whole region
        self.actor = actor
        self.services = services
        self.store = services.store
        self.vocabulary = services.vocabulary
        self.reprojector = services.projects.reprojector

    # -------------------------------------------------------------- gathering

    def project(self, project_id: int) -> Report:
        """The fact sheet: the project and every live case it is part of."""
        project = self.services.projects.get(self.actor, project_id)
        cases = self.services.cases.of_project(project_id)
        return self._report("project", str(project_id), cases, [project])

    def case_filter(self, params: Mapping[str, str]) -> CaseFilter:
        """A case report's filter from query parameters (``FILTER_PARAMETERS``), read by the
        case list's parser; a malformed value is a 400 naming its parameter."""
        given = {k: params[k] for k in FILTER_PARAMETERS if params.get(k)}
        query = parse_case_query(given, self.reprojector)
        return CaseFilter(
            query.statuses, query.relations, query.severities, (query.time_from, query.time_to)
        )

    def organisation(self, key: str, case_filter: CaseFilter | None = None) -> Report:
        if key not in self.vocabulary.organisations:
            raise NotFound(f"organisation {key!r} does not exist")
        return self._case_report("organisation", key, CaseQuery(organisations=(key,)), case_filter)

    def department(self, key: str, case_filter: CaseFilter | None = None) -> Report:
        if key not in self.vocabulary.departments:
            raise NotFound(f"department {key!r} does not exist")
        return self._case_report("department", key, CaseQuery(departments=(key,)), case_filter)

    def area(
        self,
        *,
        district: str | None = None,
        bbox: BBox | str | None = None,
        case_filter: CaseFilter | None = None,
    ) -> Report:
        """Projects whose geometry and window meet the area and period, and the live cases
        whose overlap lies in the area and which pass the filter."""
        area = self._area(district, bbox)
        chosen = case_filter or CaseFilter()
        start, end = chosen.period
        projects = self.store.list_projects(
            ProjectQuery(area=area.geometry, time_from=start, time_to=end)
        )
        key = area.district_id or ",".join(f"{v:g}" for v in area.bbox or ())
        query = CaseQuery(area=area.geometry)
        return self._case_report("area", key, query, chosen, projects, area=area)

    def _case_report(
        self,
        kind: str,
        key: str,
        query: CaseQuery,
        case_filter: CaseFilter | None,
        listed: list[Project] | None = None,
        **extra: Any,
    ) -> Report:
        """The live cases of ``query`` that pass the filter (none given: every live case)."""
        chosen = case_filter or CaseFilter()
        cases = self.store.list_cases(chosen.narrow(query))
        return self._report(kind, key, cases, listed or [], filter=chosen, **extra)

    def _area(self, district: str | None, bbox: BBox | str | None) -> Area:
        if (district is None) == (bbox is None):
            raise BadRequest("give either 'district' (an id of the districts layer) or 'bbox'")
        if bbox is not None:
            box = parse_bbox(bbox) if isinstance(bbox, str) else bbox
            return Area(self.reprojector.bbox_to_storage(box), bbox=box)
        found = self.services.layers.districts(district)
        name = found[0].attributes.get("name")
        geometry = shapely.union_all([f.geometry for f in found])
        return Area(geometry, district, str(name) if name else district)

    def _report(
        self,
        kind: str,
        key: str,
        cases: list[CoordinationCase],
        listed: list[Project],
        **extra: Any,
    ) -> Report:
        projects = {p.id: p for p in listed}
        for case in cases:
            for subject in (case.finding.subject_a, case.finding.subject_b):
                ref = _project_id(subject)
                if ref is not None and ref not in projects:
                    found = self.store.get_project(ref)
                    if found is not None:
                        projects[ref] = found
        ordered = sorted(cases, key=case_order)
        return Report(
            kind,
            key,
            ordered,
            projects,
            listed=[p.id for p in listed],
            sections=sections(kind, key, ordered, projects),
            **extra,
        )

    # -------------------------------------------------------------- putting into words

    def labels(self, lang: str) -> Labels:
        return Labels(lang, self.services)

    def page(
        self, report: Report, lang: str, url: Callable[[str, str], str | None] | None = None
    ) -> ReportPage:
        """Everything the templates show, in one language; ``url(kind, key)`` links other
        reports (None in a file written by the CLI, where there is no server to link to)."""
        t = self.labels(lang)
        link = url or (lambda _kind, _key: None)
        case_sections = [
            SectionView(
                key=section.key,
                heading=section.lead.heading[t.lang]
                if section.lead
                else f"{t('severity')}: {t(f'severity_{section.key}')}",
                note=section.lead.note[t.lang] if section.lead else None,
                cases=[self._case_view(c, report, t, link) for c in section.cases],
                leads=section.lead is not None,
            )
            for section in report.sections
        ]
        subject = report.subject
        picture = self._map(report, t)
        return ReportPage(
            kind=report.kind,
            lang=lang,
            heading=self._heading(report, t),
            filter=self._filter_text(report.filter, t),
            generated=t.datetime(report.generated_at),
            facts=self._facts(subject, t, link) if subject else [],
            projects=[self._project_row(report.projects[i], t, link) for i in report.listed]
            if report.kind == "area"
            else [],
            leads=[v for v in case_sections if v.leads],
            case_sections=[v for v in case_sections if not v.leads],
            rest_heading=t("cases_other" if LEADS.get(report.kind) else "cases"),
            case_count=len(report.cases),
            map=picture.svg if picture else None,
            unlabelled=", ".join(picture.unlabelled) if picture else "",
            timeline=self._timeline(report, t),
            legend=self._legend(report, t),
            **self._checklist(subject, t, link),
        )

    def _checklist(
        self, subject: Project | None, t: Labels, link: Callable[[str, str], str | None]
    ) -> dict[str, Any]:
        """A development plan's fact sheet shows its checklist (and links its answer page)."""
        if subject is None or subject.attributes.measure_type != PLAN_MEASURE_TYPE:
            return {}
        service = self.services.checklists
        state = service.of_project(self.actor, subject.id)
        view = checklist_view(service.checklist, state, t.lang, self.services.accounts.display_name)
        return {
            "checklist": view,
            "checklist_texts": CHECKLIST_TEXTS[t.lang],
            "checklist_url": link("checklist", str(subject.id)),
        }

    def case_table(self, report: Report, lang: str) -> tuple[list[str], list[list[Cell]]]:
        """The case list as header and rows for CSV and XLSX (dates as dates, numbers as
        numbers), in report order."""
        t = self.labels(lang)
        header = [
            t("id"),
            t("relation"),
            t("severity"),
            t("rule_id"),
            t("rule"),
            t("case_status"),
            t("start"),
            t("end"),
            t("subject_a"),
            t("subject_b"),
            t("organisations"),
            t("departments"),
            t("message"),
            *(t(m) for m in MEASURES),
        ]
        rows: list[list[Cell]] = []
        for case in report.in_page_order:
            f = case.finding
            rows.append(
                [
                    case.id,
                    t(f"relation_{f.relation}"),
                    t(f"severity_{f.severity}"),
                    f.rule_id,
                    t.rule(f.rule_id),
                    t.case_status(case.status.value),
                    f.window_start,
                    f.window_end,
                    t.subject(f.subject_a, report.projects),
                    t.subject(f.subject_b, report.projects),
                    ", ".join(t.organisation(o) for o in f.organisations),
                    ", ".join(t.department(d) for d in f.departments),
                    f.message.get(lang) or f.message.get("de", ""),
                    *(f.measures.get(m) for m in MEASURES),
                ]
            )
        return header, rows

    def filename(self, report: Report, extension: str) -> str:
        """``zugabe-project-12-cases.csv``: only letters, digits, ``-``, ``_`` and ``.``."""
        safe = "".join(
            ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in report.key
        )
        return f"zugabe-{report.kind}-{safe}-cases.{extension}"

    def _heading(self, report: Report, t: Labels) -> str:
        if report.kind == "project":
            assert report.subject is not None
            return f"{t('report_project')}: {report.subject.attributes.title}"
        if report.kind == "organisation":
            return t("report_organisation").format(name=t.organisation(report.key))
        if report.kind == "department":
            return t("report_department").format(name=t.department(report.key))
        assert report.area is not None
        if report.area.district_id is not None:
            name = t("area_district").format(
                name=report.area.district_name, id=report.area.district_id
            )
        else:
            name = t("area_bbox").format(bbox=report.key)
        return t("report_area").format(name=name)

    @staticmethod
    def _filter_text(case_filter: CaseFilter | None, t: Labels) -> str | None:
        """``Fallstatus: offen · Beziehung: Konflikt · Zeitraum: …``; None for a fact sheet."""
        if case_filter is None:
            return None
        if not case_filter.chosen:
            return t("filter_none")
        chosen = [
            (t("case_status"), [t.case_status(s.value) for s in case_filter.statuses]),
            (t("relation"), [t(f"relation_{r}") for r in case_filter.relations]),
            (t("severity"), [t(f"severity_{s}") for s in case_filter.severities]),
        ]
        parts = [f"{label}: {', '.join(values)}" for label, values in chosen if values]
        if case_filter.period != (None, None):
            parts.append(f"{t('period')}: {t.window(*case_filter.period)}")
        return " · ".join(parts)

    def _facts(
        self, project: Project, t: Labels, link: Callable[[str, str], str | None]
    ) -> list[Fact]:
        a = project.attributes
        geometry = project.geometry
        centre = self.reprojector.to_wgs84(geometry.centroid)
        districts = [
            str(f.attributes.get("name") or f.attributes.get("district_id"))
            for f in self.store.layer_features("districts", area=geometry)
        ]
        facts = [
            Fact(t("id"), str(project.id)),
            Fact(t("title"), a.title),
            Fact(
                t("organisation"),
                t.organisation(a.organisation),
                link("organisation", a.organisation),
            ),
            Fact(t("department"), t.department(a.department), link("department", a.department)),
            Fact(t("measure_type"), t.measure_type(a.measure_type)),
            Fact(t("status"), t.project_status(a.status)),
            Fact(t("window"), t.window(a.start, a.end)),
            Fact(t("cost_eur"), t.number(a.cost_eur, 0) if a.cost_eur is not None else "–"),
            Fact(t("contact"), a.contact or "–"),
            Fact(t("description"), a.description or "–"),
            Fact(t("geometry"), geometry.geom_type),
        ]
        if geometry.area > 0:
            facts.append(Fact(t("area_m2"), t.number(geometry.area, 0)))
        elif geometry.length > 0:
            facts.append(Fact(t("length_m"), t.number(geometry.length, 0)))
        facts += [
            Fact(t("centre"), f"{centre.x:.5f}, {centre.y:.5f}"),
            Fact(t("districts"), ", ".join(districts) or "–"),
            Fact(t("version"), str(project.version)),
            Fact(t("created"), f"{t.datetime(project.created_at)} {t('by')} {project.created_by}"),
            Fact(t("updated"), f"{t.datetime(project.updated_at)} {t('by')} {project.updated_by}"),
        ]
        return facts

    def _project_row(
        self, project: Project, t: Labels, link: Callable[[str, str], str | None]
    ) -> ProjectRow:
        a = project.attributes
        return ProjectRow(
            id=project.id,
            title=a.title,
            url=link("project", str(project.id)),
            organisation=t.organisation(a.organisation),
            department=t.department(a.department),
            measure_type=t.measure_type(a.measure_type),
            status=t.project_status(a.status),
            window=t.window(a.start, a.end),
            color=t.department_color(a.department),
        )

    def _case_view(
        self,
        case: CoordinationCase,
        report: Report,
        t: Labels,
        link: Callable[[str, str], str | None],
    ) -> CaseView:
        f = case.finding
        subjects = tuple(
            SubjectRef(
                *t.subject_parts(s, report.projects),
                t.subject(s, report.projects),
                link("project", s.ref) if s.kind == "project" else None,
                report.subject is not None and _project_id(s) == report.subject.id,
            )
            for s in (f.subject_a, f.subject_b)
        )
        measures = tuple(
            (t(m), t.number(f.measures[m], 0 if m in ("overlap_days", "gap_months") else 1))
            for m in MEASURES
            if f.measures.get(m)
        )
        return CaseView(
            id=case.id,
            relation=f.relation,
            relation_label=t(f"relation_{f.relation}"),
            color=relation_color(f.relation),
            severity=f.severity,
            severity_label=t(f"severity_{f.severity}"),
            rule_id=f.rule_id,
            rule=t.rule(f.rule_id),
            status=t.case_status(case.status.value),
            decision=self._decision_view(case, t),
            window=t.window(f.window_start, f.window_end),
            subjects=subjects,
            message=f.message.get(t.lang) or f.message.get("de", ""),
            organisations=tuple(
                (t.organisation(o), link("organisation", o)) for o in f.organisations
            ),
            departments=tuple((t.department(d), link("department", d)) for d in f.departments),
            measures=measures,
        )

    @staticmethod
    def _decision_view(case: CoordinationCase, t: Labels) -> DecisionView | None:
        """A proposal waiting or an agreement in force: what, and each organisation's vote."""
        decision = case.decision
        if decision is None:
            return None
        votes = tuple(
            f"{t.organisation(v.organisation)}: {desk_word(v.choice.value, t.lang)} "
            f"({t.date(v.at.date())})"
            for v in decision.votes
        )
        waiting = tuple(t.organisation(o) for o in decision.waiting_for(case.finding.organisations))
        return DecisionView(
            kind=desk_word(decision.kind.value, t.lang),
            text=decision.text,
            measures=decision.measures,
            votes=votes,
            waiting_for=waiting,
        )

    # -------------------------------------------------------------- pictures

    def _map(self, report: Report, t: Labels) -> MapPicture | None:
        """Background (districts, streets), projects, then the cases' overlaps on top."""
        subject = report.subject
        focus = [p.geometry for p in report.projects.values()]
        overlaps = [c for c in report.cases if c.finding.geometry is not None]
        focus += [c.finding.geometry for c in overlaps]
        if report.area is not None:
            focus = [report.area.geometry]
        if not any(not g.is_empty for g in focus):  # nothing, or a box beyond the storage CRS
            return None
        extent = padded_extent(focus, margin=0.05 if report.area else 0.12)
        box = shapely.box(*extent)
        shapes = self._background(box, extent)
        if report.area is not None:
            shapes.append(
                Shape(
                    report.area.geometry,
                    "#000",
                    2.5,
                    fill="none",
                    dash="8 4",
                    attrs={"class": "area"},
                )
            )
        named = set(report.projects)
        if subject is not None:  # the neighbourhood, faint: what else is planned there
            for other in self.store.list_projects(ProjectQuery(area=box)):
                if other.id not in named:
                    shapes.append(self._project_shape(other, t, faint=True))
        drawn = sorted(report.projects.values(), key=lambda p: -p.geometry.area)
        for project in drawn:
            if subject is None or project.id != subject.id:
                shapes.append(self._project_shape(project, t))
        if subject is not None:
            shapes.append(Shape(subject.geometry, "#000", 7, fill="none", radius=7))
            shapes.append(self._project_shape(subject, t, emphasised=True))
        for case in overlaps:
            f = case.finding
            assert f.geometry is not None
            color = relation_color(f.relation)
            shapes.append(
                Shape(  # a highlighter over the projects: they stay visible beneath
                    f.geometry,
                    color,
                    2 if f.geometry.area > 0 else 10,
                    fill=color,
                    fill_opacity=0.45,
                    opacity=0.55,
                    dash="6 6" if f.relation == "note" else None,
                    radius=6,
                    title=f"{t('case_of').format(id=case.id)}: {t.rule(f.rule_id)} "
                    f"({t(f'relation_{f.relation}')})",
                    attrs={"class": f"case {f.relation}", "data-case": str(case.id)},
                )
            )
        return render_map(shapes, extent, label=f"{t('map_label')}: {self._heading(report, t)}")

    def _background(self, box: BaseGeometry, extent: Extent) -> list[Shape]:
        shapes = []
        for feature in self.store.layer_features("streets", area=box, limit=BACKGROUND_LIMIT):
            main = feature.attributes.get("category") in ("main", "collector")
            shapes.append(
                Shape(feature.geometry, "#c8c8c8", 3.5 if main else 2, attrs={"class": "street"})
            )
        for feature in self.store.layer_features("districts", area=box, limit=BACKGROUND_LIMIT):
            name = feature.attributes.get("name")
            inside = shapely.clip_by_rect(feature.geometry, *extent)
            shapes.append(
                Shape(
                    feature.geometry.boundary,
                    "#7a7a7a",
                    1.2,
                    dash="5 3",
                    title=str(name or ""),
                    label=str(name) if name and not inside.is_empty else None,
                    label_at=inside,
                    label_style=QUIET_LABEL,
                    radius=0,
                    attrs={"class": "district"},
                )
            )
        return shapes

    @staticmethod
    def _project_shape(
        project: Project, t: Labels, *, faint: bool = False, emphasised: bool = False
    ) -> Shape:
        a = project.attributes
        color = "#9e9e9e" if faint else t.department_color(a.department)
        role = "neighbour" if faint else "subject" if emphasised else "project"
        return Shape(
            project.geometry,
            color,
            2 if faint else 4,
            fill=color,
            fill_opacity=0.1 if faint else 0.25,
            opacity=0.7 if faint else 1,
            radius=3 if faint else 5,
            title=f"{t('project_ref').format(id=project.id)}: {a.title} "
            f"({t.department(a.department)}, {t.window(a.start, a.end)})",
            label=None if faint else str(project.id),
            attrs={"class": f"project {role}", "data-project": str(project.id)},
        )

    def _timeline(self, report: Report, t: Labels) -> Markup | None:
        """A bar per project of a project–project case (and the fact sheet's project), the
        shared period of each case marked on both bars in the case's colour."""
        marks: dict[int, list[Overlap]] = {}
        for case in report.cases:
            a, b = (_project_id(s) for s in (case.finding.subject_a, case.finding.subject_b))
            if a is None or b is None or a not in report.projects or b not in report.projects:
                continue
            wa, wb = (_window(report.projects[i]) for i in (a, b))
            shared = shared_period(wa, wb)
            marks.setdefault(a, [])
            marks.setdefault(b, [])
            if shared is not None:
                color = relation_color(case.finding.relation)
                title = f"{t('case_of').format(id=case.id)}: " + t("shared").format(
                    start=t.date(shared[0]), end=t.date(shared[1])
                )
                for side in (a, b):
                    marks[side].append(Overlap(shared[0], shared[1], color, title))
        subject = report.subject
        if subject is not None:
            marks.setdefault(subject.id, [])
        if not marks:
            return None

        def order(project_id: int) -> tuple[bool, date, int]:
            start = report.projects[project_id].attributes.start
            return (subject is None or project_id != subject.id, start or date.min, project_id)

        bars = []
        for project_id in sorted(marks, key=order):
            project = report.projects[project_id]
            a = project.attributes
            bars.append(
                Bar(
                    key=str(project_id),
                    label=f"{project_id} {a.title}",
                    title=f"{t('project_ref').format(id=project_id)}: {a.title} "
                    f"({t.window(a.start, a.end)})",
                    start=a.start,
                    end=a.end,
                    color=t.department_color(a.department),
                    emphasised=subject is not None and project_id == subject.id,
                    overlaps=tuple(marks[project_id]),
                )
            )
        return render_timeline(
            bars, label=t("timeline"), undated=t("undated"), period=report.period
        )

    def _legend(self, report: Report, t: Labels) -> list[tuple[str, str, str]]:
        """(kind, colour, label): relations of the cases shown, departments of the projects."""
        relations = sorted({c.finding.relation for c in report.cases})
        departments = sorted({p.attributes.department for p in report.projects.values()})
        legend = [("case", relation_color(r), t(f"relation_{r}")) for r in relations] + [
            ("project", t.department_color(d), t.department(d)) for d in departments
        ]
        if report.subject is not None:
            legend += [
                ("subject", "#000000", t("this_project")),
                ("neighbour", "#9e9e9e", t("other_projects")),
            ]
        return legend


# ------------------------------------------------------------------------- the words


class Labels:
    """The words of a report in one language: the report's own texts, the vocabulary's
    labels, rule names and layer titles (as the web map shows them)."""

    def __init__(self, lang: str, services: Services) -> None:
        self.lang = parse_language(lang)
        self.texts = TEXTS[self.lang]
        self.vocabulary = services.vocabulary
        self.rules = services.cases.rule_by_id
        self.definitions = services.cases.definitions
        self._colors = department_colors(self.vocabulary.departments)

    def __call__(self, key: str) -> str:
        return self.texts.get(key, key)

    def _term(self, terms: Mapping[str, Any], key: str) -> str:
        term = terms.get(key)
        return getattr(term, self.lang) if term is not None else key

    def organisation(self, key: str) -> str:
        return self._term(self.vocabulary.organisations, key)

    def case_status(self, key: str) -> str:
        return desk_word(key, self.lang)

    def department(self, key: str) -> str:
        return self._term(self.vocabulary.departments, key)

    def measure_type(self, key: str) -> str:
        return self._term(self.vocabulary.measure_types, key)

    def department_color(self, key: str) -> str:
        return self._colors.get(key, "#666666")

    def project_status(self, status: Status) -> str:
        return STATUS_LABELS[status][self.lang]

    def rule(self, rule_id: str) -> str:
        rule = self.rules.get(rule_id)
        return getattr(rule.name, self.lang) if rule is not None else rule_id

    def subject(self, subject: Subject, projects: Mapping[int, Project]) -> str:
        """``Maßnahme 12: Titel`` or ``Bäume BO-B0001``."""
        number, name = self.subject_parts(subject, projects)
        if number is None:
            return name
        ref = self("project_ref").format(id=number)
        return f"{ref}: {name}" if name else ref

    def subject_parts(
        self, subject: Subject, projects: Mapping[int, Project]
    ) -> tuple[int | None, str]:
        """A project's number and title (empty when it is gone), or None and ``Bäume BO-B0001``:
        the case tables print the number in bold rather than repeat ``Maßnahme``."""
        project_id = _project_id(subject)
        if project_id is not None:
            project = projects.get(project_id)
            return project_id, project.attributes.title if project else ""
        definition = self.definitions.get(subject.layer or "")
        layer = getattr(definition.title, self.lang) if definition else subject.layer
        return None, f"{layer} {subject.ref}"

    def date(self, day: date) -> str:
        return day.strftime("%d.%m.%Y") if self.lang == "de" else day.isoformat()

    def datetime(self, moment: datetime) -> str:
        local = moment.astimezone()
        return f"{self.date(local.date())} {local:%H:%M}"

    def window(self, start: date | None, end: date | None) -> str:
        if start is None and end is None:
            return self("undated")
        first = self.date(start) if start else "…"
        return f"{first} – {self.date(end) if end else self('open')}"

    def number(self, value: float, decimals: int) -> str:
        text = f"{value:,.{decimals}f}"
        return text.translate(str.maketrans(",.", ".,")) if self.lang == "de" else text


# ------------------------------------------------------------------------- the views


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    url: str | None = None


@dataclass(frozen=True)
class SubjectRef:
    number: int | None  # a project's
    name: str  # a project's title, or a layer feature's label
    label: str  # the whole: ``Maßnahme 12: Titel``
    url: str | None
    is_subject: bool  # the fact sheet's own project


@dataclass(frozen=True)
class CaseView:
    id: int
    relation: str
    relation_label: str
    color: str
    severity: str
    severity_label: str
    rule_id: str
    rule: str
    status: str
    window: str
    subjects: tuple[SubjectRef, ...]
    message: str
    organisations: tuple[tuple[str, str | None], ...]
    departments: tuple[tuple[str, str | None], ...]
    measures: tuple[tuple[str, str], ...]
    decision: DecisionView | None = None


@dataclass(frozen=True)
class DecisionView:
    """A case's decision as a report prints it: kind, text, agreed measures, the votes cast
    (organisation: choice (date)) and the organisations still to vote."""

    kind: str
    text: str
    measures: tuple[str, ...]
    votes: tuple[str, ...]
    waiting_for: tuple[str, ...]


@dataclass(frozen=True)
class ProjectRow:
    id: int
    title: str
    url: str | None
    organisation: str
    department: str
    measure_type: str
    status: str
    window: str
    color: str


@dataclass(frozen=True)
class SectionView:
    key: str
    heading: str
    note: str | None
    cases: list[CaseView]
    leads: bool


@dataclass(frozen=True)
class ReportPage:
    kind: str
    lang: str
    heading: str
    filter: str | None  # None: a fact sheet, which takes no filter
    generated: str
    facts: list[Fact]
    projects: list[ProjectRow]
    leads: list[SectionView]  # before the map: what needs action
    case_sections: list[SectionView]  # the other cases, by severity
    rest_heading: str
    case_count: int
    map: Markup | None
    unlabelled: str  # labels that found no room on the map, listed below it
    timeline: Markup | None
    legend: list[tuple[str, str, str]]
    checklist: dict[str, Any] | None = None  # a development plan's checklist (fact sheet)
    checklist_texts: dict[str, str] | None = None
    checklist_url: str | None = None


def _project_id(subject: Subject) -> int | None:
    return int(subject.ref) if subject.kind == "project" else None


def _window(project: Project) -> Period:
    return project.attributes.start, project.attributes.end
