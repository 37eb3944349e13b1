"""Decisions on a case and the votes on them: one organisation, one vote.

The release process of the region's networks: a proposed decision waits for a
coordinator of every organisation involved in the case; each agrees or objects
with a reason. One objection sends the proposal back; when all have agreed the
case is agreed. The record keeps who voted for which organisation, when, and on
what text, so nothing is agreed behind anyone's back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class DecisionKind(StrEnum):
    BUNDLE_WORKS = "bundle_works"  # open the street once: works together
    CHANGE_ORDER = "change_order"  # one after the other, in an agreed order
    SHARED_TRENCH = "shared_trench"  # pipes and cables in one trench
    NO_ACTION = "no_action"  # nothing to coordinate (with the reason in the text)
    OTHER = "other"


class DecisionState(StrEnum):
    WAITING = "waiting"  # proposed, votes outstanding
    AGREED = "agreed"  # every organisation involved agreed: in force
    SENT_BACK = "sent_back"  # an organisation objected
    WITHDRAWN = "withdrawn"  # taken back before all had voted
    REOPENED = "reopened"  # a subject changed after the agreement (or while waiting)


OPEN_DECISION_STATES = frozenset({DecisionState.WAITING, DecisionState.AGREED})
"""The states in which a decision is the case's current one."""


class VoteChoice(StrEnum):
    AGREE = "agree"
    OBJECT = "object"


@dataclass(frozen=True)
class Vote:
    organisation: str
    choice: VoteChoice
    reason: str
    by: str  # username of the coordinator who voted
    at: datetime


@dataclass(frozen=True)
class Decision:
    """A proposed decision and, once voting is over, its outcome."""

    id: int
    kind: DecisionKind
    text: str
    measures: tuple[str, ...]  # the agreed measures, one per line
    proposed_by: str
    proposed_at: datetime
    state: DecisionState
    closed_at: datetime | None = None
    votes: tuple[Vote, ...] = field(default_factory=tuple)

    def voted(self) -> frozenset[str]:
        return frozenset(vote.organisation for vote in self.votes)

    def waiting_for(self, organisations: Iterable[str]) -> tuple[str, ...]:
        """The organisations involved whose vote is still outstanding, in order."""
        if self.state is not DecisionState.WAITING:
            return ()
        voted = self.voted()
        return tuple(o for o in sorted(set(organisations)) if o not in voted)
