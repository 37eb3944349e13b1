"""Coordination cases [Koordinierungsfälle]: one rule firing for one pair of subjects.

A case keeps its identity across recomputations (``pair_key``: rule + the
ordered pair of subjects), so comments, status and history survive when the
projects or layers change; a case whose cause disappeared becomes obsolete
rather than being deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from shapely.geometry.base import BaseGeometry

from zugabe.domain.agreement import OPEN_DECISION_STATES, Decision
from zugabe.domain.case_history import HistoryEvent


class CaseStatus(StrEnum):
    """The coordination desk's life cycle (``zugabe.domain.case_workflow`` moves cases):

    open → in coordination → proposed (a decision waits for every organisation
    involved) → agreed (frozen). An objection or a withdrawal sends a proposal back
    to in coordination; a change of a subject reopens an agreed case.
    ``obsolete`` is set by recomputation, never by a person: the rule no longer
    fires for the pair (a project moved, a window changed).
    """

    OPEN = "open"
    IN_COORDINATION = "in_coordination"
    PROPOSED = "proposed"
    AGREED = "agreed"
    OBSOLETE = "obsolete"


# Which status a coordinator may set by hand, from which; the others are reached by
# proposing, voting and recomputation.
REVIEW_TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.OPEN: frozenset({CaseStatus.IN_COORDINATION}),
    CaseStatus.IN_COORDINATION: frozenset({CaseStatus.OPEN}),
    CaseStatus.PROPOSED: frozenset(),
    CaseStatus.AGREED: frozenset(),
    CaseStatus.OBSOLETE: frozenset(),
}
LIVE_STATUSES = tuple(s for s in CaseStatus if s is not CaseStatus.OBSOLETE)
"""Cases that count: every status but obsolete (lists, summaries, reports, exports)."""


@dataclass(frozen=True)
class Subject:
    """One side of a case: a project, or a feature of a thematic layer.

    ``ref`` is the subject's stable reference as text: a project's id, or a
    layer feature's value of the layer's ``id_attribute`` (e.g. the sewer
    section id), which survives a re-import, where the stored feature id
    would not; layers without one fall back to ``#<feature id>``.
    ``feature_id`` is the stored row of a layer feature when the finder knew
    it: a lookup hint, not part of the identity.
    """

    kind: str  # "project" or "layer"
    ref: str
    layer: str | None = None
    feature_id: int | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        """``project:12`` or ``layer:trees:BO-B0001``: the subject's part of a case identity."""
        return f"project:{self.ref}" if self.kind == "project" else f"layer:{self.layer}:{self.ref}"

    def sort_key(self) -> tuple[int, str, int, str]:
        """Projects first, by number; then layer features by layer and reference."""
        if self.kind == "project":
            return (0, "", int(self.ref), "")
        return (1, self.layer or "", 0, self.ref)


def pair_key(rule_id: str, a: Subject, b: Subject) -> str:
    """A case's identity: the rule and both subjects in a fixed order."""
    if a.kind == "project" and (b.kind != "project" or int(a.ref) <= int(b.ref)):
        first, second = a, b  # already in order, as nearly every finding has them
    else:
        first, second = sorted((a, b), key=Subject.sort_key)
    return f"{rule_id}|{first.key}|{second.key}"


@dataclass(frozen=True)
class CaseFinding:
    """What detection found for one pair, as the case store takes it."""

    pair_key: str
    rule_id: str
    relation: str  # conflict | synergy | note
    severity: str  # low | medium | high
    subject_a: Subject
    subject_b: Subject
    geometry: BaseGeometry | None  # overlap, or connecting line for distance rules
    measures: dict[str, Any]  # overlap_area_m2, overlap_length_m, distance_m, overlap_days, …
    organisations: tuple[str, ...]
    departments: tuple[str, ...]
    message: dict[str, str]  # de/en, rendered from the rule's template
    window_start: date | None = None  # earliest start of the projects involved
    window_end: date | None = None  # latest end; None = open-ended


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    by: str
    event: HistoryEvent


@dataclass(frozen=True)
class Comment:
    id: int
    at: datetime
    by: str
    text: str


@dataclass(frozen=True)
class CoordinationCase:
    id: int
    finding: CaseFinding
    status: CaseStatus
    status_reason: dict[str, Any]  # why it is obsolete (``case_history.word_reason``)
    created_at: datetime
    updated_at: datetime
    version: int
    assignee: str | None = None  # username of a person of an involved organisation
    due_date: date | None = None  # set by hand; None: derived from the start dates
    comments: tuple[Comment, ...] = field(default_factory=tuple)
    history: tuple[HistoryEntry, ...] = field(default_factory=tuple)
    decisions: tuple[Decision, ...] = field(default_factory=tuple)  # oldest first

    @property
    def decision(self) -> Decision | None:
        """The proposal waiting for votes, or the agreement in force."""
        last = self.decisions[-1] if self.decisions else None
        return last if last is not None and last.state in OPEN_DECISION_STATES else None
