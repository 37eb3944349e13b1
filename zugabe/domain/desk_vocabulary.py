"""The words of the coordination desk: statuses, decision kinds and votes in German and
English, served to the map (``/api/vocab``) and used to word history entries, so no
client keeps a copy of its own."""

from __future__ import annotations

from zugabe.domain.agreement import DecisionKind, VoteChoice
from zugabe.domain.cases import REVIEW_TRANSITIONS, CaseStatus
from zugabe.domain.i18n import pick

STATUS_LABELS: dict[str, tuple[str, str]] = {
    CaseStatus.OPEN: ("offen", "open"),
    CaseStatus.IN_COORDINATION: ("in Abstimmung", "in coordination"),
    CaseStatus.PROPOSED: ("Entscheidung vorgeschlagen", "decision proposed"),
    CaseStatus.AGREED: ("vereinbart", "agreed"),
    CaseStatus.OBSOLETE: ("gegenstandslos", "obsolete"),
}
LEGACY_STATUS_LABELS: dict[str, tuple[str, str]] = {
    "resolved": ("erledigt", "resolved"),
    "dismissed": ("verworfen", "dismissed"),
}
"""Statuses before the agreement step, still named in older history entries."""

NEEDS_ACTION = frozenset({CaseStatus.OPEN, CaseStatus.IN_COORDINATION, CaseStatus.PROPOSED})
"""Live and not yet agreed: what the map shows unless asked for more."""

DECISION_LABELS: dict[str, tuple[str, str]] = {
    DecisionKind.BUNDLE_WORKS: ("Arbeiten bündeln", "bundle the works"),
    DecisionKind.CHANGE_ORDER: ("Reihenfolge ändern", "change the order"),
    DecisionKind.SHARED_TRENCH: ("gemeinsamer Graben", "shared trench"),
    DecisionKind.NO_ACTION: ("kein Handlungsbedarf", "no action"),
    DecisionKind.OTHER: ("Sonstiges", "other"),
}
VOTE_LABELS: dict[str, tuple[str, str]] = {
    VoteChoice.AGREE: ("stimmt zu", "agrees"),
    VoteChoice.OBJECT: ("erhebt Einwand", "objects"),
}
_ALL = {**STATUS_LABELS, **LEGACY_STATUS_LABELS, **DECISION_LABELS, **VOTE_LABELS}


def desk_word(value: str, lang: str) -> str:
    """A status, decision kind or vote in words; anything else (an organisation key a
    caller did not word) as it is."""
    texts = _ALL.get(value)
    return pick(texts, lang) if texts else value


def desk_vocabulary() -> dict[str, object]:
    """What the map needs to offer the desk's choices, with labels and allowed steps."""
    return {
        "statuses": [
            {
                "key": status.value,
                "de": STATUS_LABELS[status][0],
                "en": STATUS_LABELS[status][1],
                "live": status is not CaseStatus.OBSOLETE,
                "needs_action": status in NEEDS_ACTION,
                "manual_to": sorted(s.value for s in REVIEW_TRANSITIONS[status]),
            }
            for status in CaseStatus
        ],
        "decision_kinds": [
            {"key": k.value, "de": DECISION_LABELS[k][0], "en": DECISION_LABELS[k][1]}
            for k in DecisionKind
        ],
        "votes": [
            {"key": v.value, "de": VOTE_LABELS[v][0], "en": VOTE_LABELS[v][1]} for v in VoteChoice
        ],
    }
