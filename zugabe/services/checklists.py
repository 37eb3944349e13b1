"""The checklist of a development plan as a use case: evidence, answers, score, overview.

Every project of measure type ``development_plan`` has the region's checklist
(``zugabe.domain.checklist``). Evidence is measured here on the plan's geometry and the
stored layers (storage CRS, metres); planners of the project's organisation (and department,
where the organisation binds planners to theirs) answer, everybody who may read the project
reads. Answers are written with their audit entry in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import mean
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from zugabe.domain.accounts import Actor
from zugabe.domain.checklist import (
    ANSWERS,
    Checklist,
    ChecklistAnswer,
    ChecklistItem,
    EvidenceSpec,
    is_open,
    score,
)
from zugabe.domain.layers import LayerDefinition, Text
from zugabe.domain.policy import Policy
from zugabe.domain.project import Project
from zugabe.errors import Conflict, FieldError, InvalidInput, NotFound, VersionConflict
from zugabe.messages import Message
from zugabe.services.audit import AuditService, Change
from zugabe.storage.contract import LayerFeature, ProjectQuery, Store

PLAN_MEASURE_TYPE = "development_plan"
NOTE_MAX = 2000
_CACHE_SIZE = 512


@dataclass(frozen=True)
class Breakdown:
    """One class of a broken-down evidence (e.g. depth class 2: 0.30–0.50 m, 12 %)."""

    value: Any
    label: Text
    amount: float


@dataclass(frozen=True)
class Evidence:
    """A measured value for a plan; ``value`` None when the layer is not stored (no data) or,
    for a distance, nothing lies within its search radius."""

    spec: EvidenceSpec
    value: float | None
    stored: bool
    breakdown: tuple[Breakdown, ...] = ()


@dataclass(frozen=True)
class ItemState:
    item: ChecklistItem
    relevance: str
    evidence: Evidence | None
    answer: ChecklistAnswer | None

    @property
    def open(self) -> bool:
        return is_open(self.relevance, self.answer)


@dataclass(frozen=True)
class ProjectChecklist:
    project: Project
    items: tuple[ItemState, ...]
    score: int | None
    etag: str
    may_answer: bool

    @property
    def open_count(self) -> int:
        return sum(1 for state in self.items if state.open)


@dataclass(frozen=True)
class CityRow:
    """One organisation's development plans in the regional overview."""

    organisation: str
    plans: int
    checked: int
    scores: tuple[int, ...]
    open_items: int

    @property
    def mean_score(self) -> int | None:
        return round(mean(self.scores)) if self.scores else None


@dataclass(frozen=True)
class Overview:
    cities: tuple[CityRow, ...]
    plans: tuple[ProjectChecklist, ...]
    open_by_item: tuple[tuple[ChecklistItem, int], ...]


def measure(
    spec: EvidenceSpec, plan: BaseGeometry, features: Sequence[LayerFeature]
) -> float | None:
    """The evidence ``spec`` for the plan area ``plan`` from the layer's features (any that
    do not match the spec's conditions are left out here). Pure geometry: see ``MEASURES``."""
    matching = [f for f in features if spec.matches(f.attributes)]
    if spec.measure == "distance":
        distances = [plan.distance(f.geometry) for f in matching]
        nearest = min(distances, default=None)
        return None if nearest is None or nearest > (spec.within or 0) else round(nearest, 1)
    meeting = [f for f in matching if f.geometry.intersects(plan)]
    if spec.measure == "max":
        values = [f.attributes.get(spec.attribute or "") for f in meeting]
        numbers = [float(v) for v in values if isinstance(v, int | float)]
        return max(numbers, default=None)
    if spec.measure == "sum":
        total = 0.0
        for feature in meeting:
            value = feature.attributes.get(spec.attribute or "")
            if not isinstance(value, int | float) or feature.geometry.area <= 0:
                continue
            inside = feature.geometry.intersection(plan).area / feature.geometry.area
            total += float(value) * inside
        return round(total, 1)
    covered = _covered(plan, meeting)
    if spec.measure == "area":
        return round(covered, 1)
    return round(100 * covered / plan.area, 1) if plan.area > 0 else 0.0


def _covered(plan: BaseGeometry, features: Sequence[LayerFeature]) -> float:
    """The area of the plan covered by the features (overlaps counted once)."""
    if not features:
        return 0.0
    return float(shapely.union_all([f.geometry for f in features]).intersection(plan).area)


class ChecklistService:
    def __init__(
        self,
        store: Store,
        checklist: Checklist,
        definitions: Mapping[str, LayerDefinition],
        policy: Policy,
        audit: AuditService,
    ) -> None:
        self.store = store
        self.checklist = checklist
        self.definitions = definitions
        self.policy = policy
        self.audit = audit
        self._evidence: dict[tuple[int, int, int], dict[str, Evidence]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------ evidence

    def evidence(self, project: Project) -> dict[str, Evidence]:
        """Every declared evidence for the plan, kept until the project or a layer changes."""
        key = (project.id, project.version, self.store.revision())
        with self._lock:
            cached = self._evidence.get(key)
        if cached is not None:
            return cached
        measured = self.evidence_of(project.geometry)
        with self._lock:
            if len(self._evidence) >= _CACHE_SIZE:
                self._evidence.clear()
            self._evidence[key] = measured
        return measured

    def evidence_of(self, plan: BaseGeometry) -> dict[str, Evidence]:
        """Every declared evidence for an area in the storage CRS (one read per layer)."""
        found: dict[str, Evidence] = {}
        features_of: dict[tuple[str, float], list[LayerFeature]] = {}
        for key, spec in self.checklist.evidence.items():
            if self.store.get_layer(spec.layer) is None:
                found[key] = Evidence(spec, None, stored=False)
                continue
            reach = spec.within or 0.0
            if (spec.layer, reach) not in features_of:
                area = plan.buffer(reach) if reach else plan
                features_of[spec.layer, reach] = self.store.layer_features(spec.layer, area=area)
            features = features_of[spec.layer, reach]
            found[key] = Evidence(
                spec, measure(spec, plan, features), True, self._breakdown(spec, plan, features)
            )
        return found

    def _breakdown(
        self, spec: EvidenceSpec, plan: BaseGeometry, features: Sequence[LayerFeature]
    ) -> tuple[Breakdown, ...]:
        definition = self.definitions.get(spec.layer)
        if spec.by is None or definition is None or definition.classify is None:
            return ()
        parts = []
        for cls in definition.classify.classes:
            of_class = [f for f in features if f.attributes.get(spec.by) == cls.value]
            parts.append(Breakdown(cls.value, cls.label, measure(spec, plan, of_class) or 0.0))
        return tuple(parts)

    # ------------------------------------------------------------ reading

    def of_project(self, actor: Actor, project_id: int) -> ProjectChecklist:
        self.policy.require_read(actor)
        project = self._plan(project_id)
        answers = self.store.checklist_answers([project_id]).get(project_id, {})
        return self._assemble(actor, project, answers)

    def _plan(self, project_id: int) -> Project:
        project = self.store.get_project(project_id)
        if project is None:
            raise NotFound(message=Message("project.not_found", {"id": str(project_id)}))
        if project.attributes.measure_type != PLAN_MEASURE_TYPE:
            # The project is there; its measure type has no checklist (it would, changed).
            raise Conflict(message=Message("checklist.not_a_plan", {"id": str(project_id)}))
        return project

    def _assemble(
        self, actor: Actor, project: Project, answers: Mapping[str, ChecklistAnswer]
    ) -> ProjectChecklist:
        evidence = self.evidence(project)
        states = []
        for item in self.checklist.items:
            measured = evidence.get(item.evidence) if item.evidence else None
            relevance = item.relevance(measured.value if measured else None)
            states.append(ItemState(item, relevance, measured, answers.get(item.id)))
        known = {s.item.id: s.answer for s in states if s.answer is not None}
        attributes = project.attributes
        return ProjectChecklist(
            project,
            tuple(states),
            score({s.item.id: s.relevance for s in states}, known),
            checklist_etag(answers),
            self.policy.may_write_project(actor, attributes.organisation, attributes.department),
        )

    # ------------------------------------------------------------ answering

    def answer(
        self,
        actor: Actor,
        project_id: int,
        given: Any,
        *,
        replace: bool = False,
        expected_etag: str | None = None,
    ) -> ProjectChecklist:
        """Answer items: ``given`` maps item ids to ``{"answer": …, "note": …}`` or None (to
        clear). ``replace`` (PUT) clears the items not given. Nothing is written unless every
        answer is valid; unchanged answers keep who gave them and when."""
        self.policy.require_writer(actor)
        with self.store.transaction():
            project = self._plan(project_id)
            attributes = project.attributes
            self.policy.require_project_write(
                actor,
                attributes.organisation,
                attributes.department,
                f"answering the checklist of project {project_id}",
            )
            current = self.store.checklist_answers([project_id]).get(project_id, {})
            if expected_etag is not None and expected_etag != checklist_etag(current):
                raise VersionConflict(
                    f"the checklist of project {project_id} was answered by someone else "
                    "since you read it; read it again"
                )
            wanted = self._parse(given)
            if replace:
                wanted = {item.id: None for item in self.checklist.items} | wanted
            now = datetime.now(UTC)
            written: list[ChecklistAnswer] = []
            cleared: list[str] = []
            for item_id, choice in wanted.items():
                before = current.get(item_id)
                if choice is None:
                    if before is not None:
                        cleared.append(item_id)
                    continue
                answer, note = choice
                if before is not None and (before.answer, before.note) == (answer, note):
                    continue
                written.append(ChecklistAnswer(item_id, answer, note, actor.username, now))
            if written or cleared:
                self.store.save_checklist_answers(project_id, written, cleared)
                changed = [a.item for a in written] + cleared
                self.audit.record(
                    actor,
                    Change(
                        "checklist.answer",
                        "project",
                        str(project_id),
                        _answers_json(current, changed),
                        _answers_json({a.item: a for a in written}, changed),
                    ),
                )
            answers = {k: v for k, v in current.items() if k not in cleared}
            answers |= {a.item: a for a in written}
            return self._assemble(actor, project, answers)

    def _parse(self, given: Any) -> dict[str, tuple[str, str] | None]:
        if not isinstance(given, dict):
            raise InvalidInput(
                "'answers' must be an object of item ids",
                field_errors=[FieldError("/answers", "an object of item ids")],
            )
        errors: list[FieldError] = []
        parsed: dict[str, tuple[str, str] | None] = {}
        for item_id, raw in given.items():
            pointer = "/answers/" + str(item_id).replace("~", "~0").replace("/", "~1")
            if self.checklist.item(item_id) is None:
                errors.append(FieldError.coded(pointer, "checklist.unknown_item", item=item_id))
                continue
            if raw is None:
                parsed[item_id] = None
                continue
            if not isinstance(raw, dict) or set(raw) - {"answer", "note"}:
                errors.append(
                    FieldError.coded(pointer, "checklist.bad_answer", allowed=", ".join(ANSWERS))
                )
                continue
            answer, note = raw.get("answer"), raw.get("note", "")
            if answer not in ANSWERS:
                errors.append(
                    FieldError.coded(
                        pointer + "/answer", "checklist.bad_answer", allowed=", ".join(ANSWERS)
                    )
                )
                continue
            if not isinstance(note, str) or len(note) > NOTE_MAX:
                errors.append(
                    FieldError.coded(pointer + "/note", "checklist.note_too_long", limit=NOTE_MAX)
                )
                continue
            note = note.strip()
            if answer == "not_applicable" and not note:
                errors.append(FieldError.coded(pointer + "/note", "checklist.note_needed"))
                continue
            parsed[item_id] = (answer, note)
        if errors:
            raise InvalidInput(
                message=Message("checklist.not_saved", {"count": len(errors)}),
                field_errors=errors,
            )
        return parsed

    # ------------------------------------------------------------ the region

    def overview(self, actor: Actor) -> Overview:
        """Every development plan of the region with its score, per organisation, and the
        items most often open (relevant but unanswered or only planned)."""
        self.policy.require_read(actor)
        plans = self.store.list_projects(ProjectQuery(measure_types=(PLAN_MEASURE_TYPE,)))
        answers = self.store.checklist_answers([p.id for p in plans])
        checklists = [self._assemble(actor, p, answers.get(p.id, {})) for p in plans]
        by_city: dict[str, list[ProjectChecklist]] = {}
        for checklist in checklists:
            by_city.setdefault(checklist.project.attributes.organisation, []).append(checklist)
        cities = []
        for organisation, own in sorted(by_city.items()):
            checked = [c for c in own if any(s.answer for s in c.items)]
            cities.append(
                CityRow(
                    organisation,
                    len(own),
                    len(checked),
                    tuple(c.score for c in checked if c.score is not None),
                    sum(c.open_count for c in own),
                )
            )
        open_counts = {item.id: 0 for item in self.checklist.items}
        for checklist in checklists:
            for state in checklist.items:
                open_counts[state.item.id] += state.open
        ranked = sorted(self.checklist.items, key=lambda i: -open_counts[i.id])
        return Overview(
            tuple(cities),
            tuple(checklists),
            tuple((item, open_counts[item.id]) for item in ranked if open_counts[item.id]),
        )

    # ------------------------------------------------------------ putting into words

    def to_json(self, checklist: ProjectChecklist) -> dict[str, Any]:
        """The API's form: texts in German and English, evidence with its unit."""
        themes = []
        for theme in self.checklist.themes:
            items = [s for s in checklist.items if s.item.theme == theme.key]
            themes.append(
                {
                    "key": theme.key,
                    "title": theme.title.as_dict(),
                    "items": [_state_json(s) for s in items],
                }
            )
        project = checklist.project
        return {
            "project": {
                "id": project.id,
                "title": project.attributes.title,
                "organisation": project.attributes.organisation,
                "department": project.attributes.department,
            },
            "title": self.checklist.title.as_dict(),
            "score": checklist.score,
            "open": checklist.open_count,
            "may_answer": checklist.may_answer,
            "themes": themes,
        }


def checklist_etag(answers: Mapping[str, ChecklistAnswer]) -> str:
    """An ETag of a plan's answers: a digest of what they are now."""
    state = sorted((a.item, a.answer, a.note, a.answered_at.isoformat()) for a in answers.values())
    return "c" + hashlib.sha256(json.dumps(state).encode()).hexdigest()[:16]


def _answer_json(answer: ChecklistAnswer) -> dict[str, Any]:
    return {
        "answer": answer.answer,
        "note": answer.note,
        "answered_by": answer.answered_by,
        "answered_at": answer.answered_at.isoformat(),
    }


def _answers_json(
    answers: Mapping[str, ChecklistAnswer], items: Sequence[str]
) -> dict[str, Any] | None:
    shown = {
        i: {"answer": answers[i].answer, "note": answers[i].note} for i in items if i in answers
    }
    return shown or None


def _state_json(state: ItemState) -> dict[str, Any]:
    item, evidence = state.item, state.evidence
    return {
        "id": item.id,
        "question": item.question.as_dict(),
        "why": item.why.as_dict(),
        "legal": list(item.legal),
        "relevance": state.relevance,
        "open": state.open,
        "evidence": None
        if evidence is None
        else {
            "key": evidence.spec.key,
            "label": evidence.spec.label.as_dict(),
            "layer": evidence.spec.layer,
            "value": evidence.value,
            "unit": evidence.spec.unit,
            "stored": evidence.stored,
            "breakdown": [
                {"class": b.value, "label": b.label.as_dict(), "value": b.amount}
                for b in evidence.breakdown
            ],
        },
        "answer": None if state.answer is None else _answer_json(state.answer),
    }


# --------------------------------------------------------------------------- pages

TEXTS: dict[str, dict[str, str]] = {
    "de": {
        "checklist": "Checkliste wassersensible Planung",
        "score": "Erfüllungsgrad",
        "no_score": "keine relevanten Punkte",
        "open_items": "offene Punkte",
        "question": "Prüfpunkt",
        "evidence": "Befund aus den Fachlayern",
        "answer": "Antwort",
        "legal": "Rechtsgrundlage",
        "why": "Warum",
        "required": "erforderlich",
        "recommended": "empfohlen",
        "not_relevant": "nicht relevant",
        "fulfilled": "erfüllt",
        "planned": "geplant",
        "not_applicable": "trifft nicht zu",
        "unanswered": "offen",
        "no_data": "keine Daten (Layer nicht geladen)",
        "none_within": "keines innerhalb von {within}",
        "note": "Notiz",
        "save": "Antworten speichern",
        "saved_by": "{who}, {when}",
        "answer_page": "Checkliste beantworten",
        "fact_sheet": "Projektkennblatt",
        "score_note": "Erforderliche Punkte zählen doppelt, empfohlene einfach; erfüllt oder "
        "begründet nicht zutreffend zählt ganz, geplant halb.",
        "overview": "Wassersensible Bebauungspläne in der Region",
        "overview_note": "Wassersensible Pläne als Standortfaktor: wie viele Bebauungspläne je "
        "Organisation geprüft sind, ihr Erfüllungsgrad und die am häufigsten offenen Punkte.",
        "organisation": "Organisation",
        "plans": "Bebauungspläne",
        "checked": "geprüft",
        "mean_score": "mittlerer Erfüllungsgrad",
        "scores": "Erfüllungsgrade",
        "most_open": "Am häufigsten offen",
        "open_in": "offen in",
        "plan": "Bebauungsplan",
        "no_plans": "Keine Bebauungspläne.",
        "switch_lang": "English",
        "csv": "CSV",
        "item": "Punkt",
        "theme": "Thema",
        "relevance": "Relevanz",
        "no_answer": "keine Antwort",
        "problems": "Nicht gespeichert:",
    },
    "en": {
        "checklist": "Checklist for water-sensitive planning",
        "score": "Completion score",
        "no_score": "no relevant items",
        "open_items": "open items",
        "question": "Item",
        "evidence": "Evidence from the layers",
        "answer": "Answer",
        "legal": "Legal basis",
        "why": "Why",
        "required": "required",
        "recommended": "recommended",
        "not_relevant": "not relevant",
        "fulfilled": "fulfilled",
        "planned": "planned",
        "not_applicable": "not applicable",
        "unanswered": "open",
        "no_data": "no data (layer not loaded)",
        "none_within": "none within {within}",
        "note": "Note",
        "save": "Save answers",
        "saved_by": "{who}, {when}",
        "answer_page": "Answer the checklist",
        "fact_sheet": "Project fact sheet",
        "score_note": "Required items count twice, recommended ones once; fulfilled or not "
        "applicable (with a reason) counts in full, planned half.",
        "overview": "Water-sensitive development plans in the region",
        "overview_note": "Water-sensitive plans as a location factor: how many development plans "
        "each organisation has checked, their scores, and the items most often open.",
        "organisation": "Organisation",
        "plans": "Development plans",
        "checked": "checked",
        "mean_score": "mean score",
        "scores": "Scores",
        "most_open": "Most often open",
        "open_in": "open in",
        "plan": "Development plan",
        "no_plans": "No development plans.",
        "switch_lang": "Deutsch",
        "csv": "CSV",
        "item": "Item",
        "theme": "Theme",
        "relevance": "Relevance",
        "no_answer": "no answer",
        "problems": "Not saved:",
    },
}


def number(value: float, lang: str) -> str:
    """A figure as readers of the language write it: 1,234.5 / 1.234,5 (no trailing ,0)."""
    text = f"{value:,.1f}".removesuffix(".0")
    return text.translate(str.maketrans(",.", ".,")) if lang == "de" else text


def evidence_text(evidence: Evidence, lang: str) -> str:
    """The measured value with its unit, e.g. "47,5 %" or "keine Daten"."""
    t = TEXTS[lang]
    if not evidence.stored:
        return t["no_data"]
    spec = evidence.spec
    if evidence.value is None:
        if spec.measure == "distance":
            return t["none_within"].format(within=f"{number(spec.within or 0, lang)} m")
        return "–"
    text = f"{number(evidence.value, lang)} {spec.unit}".strip()
    parts = [
        f"{getattr(b.label, lang)}: {number(b.amount, lang)} {spec.unit}".strip()
        for b in evidence.breakdown
        if b.amount
    ]
    return f"{text} ({'; '.join(parts)})" if parts else text


def checklist_view(
    checklist: Checklist, state: ProjectChecklist, lang: str, name: Callable[[str], str]
) -> dict[str, Any]:
    """A plan's checklist in one language, for the pages and the CLI; ``name`` gives an
    account's display name."""
    t = TEXTS[lang]
    themes = []
    for theme in checklist.themes:
        rows = []
        for s in (s for s in state.items if s.item.theme == theme.key):
            answer = s.answer
            rows.append(
                {
                    "id": s.item.id,
                    "question": getattr(s.item.question, lang),
                    "why": getattr(s.item.why, lang),
                    "legal": ", ".join(s.item.legal),
                    "relevance": s.relevance,
                    "relevance_label": t[s.relevance],
                    "evidence_label": getattr(s.evidence.spec.label, lang) if s.evidence else None,
                    "evidence": evidence_text(s.evidence, lang) if s.evidence else None,
                    "answer": answer.answer if answer else None,
                    "answer_label": t[answer.answer]
                    if answer
                    else "–"
                    if s.relevance == "not_relevant"
                    else t["unanswered"],
                    "note": answer.note if answer else "",
                    "answered": t["saved_by"].format(
                        who=name(answer.answered_by),
                        when=answer.answered_at.astimezone(UTC).strftime("%Y-%m-%d"),
                    )
                    if answer
                    else "",
                    "open": s.open,
                }
            )
        themes.append({"title": getattr(theme.title, lang), "items": rows})
    return {
        "title": getattr(checklist.title, lang),
        "project_id": state.project.id,
        "project_title": state.project.attributes.title,
        "score": state.score,
        "score_text": f"{state.score} %" if state.score is not None else t["no_score"],
        "open": state.open_count,
        "may_answer": state.may_answer,
        "etag": state.etag,
        "themes": themes,
    }
