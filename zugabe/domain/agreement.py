"""Decisions on a case and the votes on them: one organisation, one vote.

The release process of the region's networks: a proposed decision waits for a
coordinator of every organisation involved in the case; each agrees or objects
with a reason. One objection sends the proposal back; when all have agreed the
case is agreed. The record keeps who voted for which organisation, when, and on
what text, so nothing is agreed behind anyone's back.

``cast_vote`` is that rule alone, for whatever is put to the vote: a case's decision
(``case_workflow.vote``) and a good-practice example's release
(``good_practice.vote``) count votes the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from zugabe.errors import Conflict, FieldError, InvalidInput
from zugabe.messages import Message

TEXT_MAX = 5000
"""The longest text of a proposal or a vote's reason."""


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
        return waiting_for(self.votes, organisations)


class VoteOutcome(StrEnum):
    """What one vote does to what is put to the vote."""

    WAITING = "waiting"  # other organisations still have to vote
    AGREED = "agreed"  # the last organisation involved agreed
    SENT_BACK = "sent_back"  # an objection


@dataclass(frozen=True)
class Ballot:
    """A vote found valid, and its outcome: the caller records it and moves its object."""

    organisation: str
    choice: VoteChoice
    reason: str
    outcome: VoteOutcome


def waiting_for(votes: Iterable[Vote], organisations: Iterable[str]) -> tuple[str, ...]:
    """The organisations in ``organisations`` without a vote among ``votes``, in order."""
    voted = {vote.organisation for vote in votes}
    return tuple(o for o in sorted(set(organisations)) if o not in voted)


def cast_vote(
    votes: Sequence[Vote],
    involved: Sequence[str],
    organisation: str | None,
    choice: str,
    reason: str,
    not_involved: Message,
) -> Ballot:
    """One organisation's vote on a waiting proposal: one organisation, one vote; an
    objection needs a reason and sends the proposal back; the last agreement agrees it.

    ``votes`` are those already cast on this proposal, ``involved`` the organisations
    that vote on it; ``not_involved`` is the refusal for an organisation outside them.
    """
    try:
        vote_choice = VoteChoice(choice)
    except ValueError:
        choices = ", ".join(v.value for v in VoteChoice)
        raise InvalidInput(
            message=Message("case.unknown_vote", {"value": choice}),
            field_errors=[FieldError.coded("/vote", "case.field.allowed", allowed=choices)],
        ) from None
    if organisation is None or organisation not in involved:
        raise Conflict(message=not_involved)
    earlier = next((v for v in votes if v.organisation == organisation), None)
    if earlier is not None:
        raise Conflict(
            message=Message(
                "case.voted_already",
                {
                    "organisation": organisation,
                    "choice": earlier.choice.value,
                    "at": f"{earlier.at:%Y-%m-%d %H:%M}",
                },
            )
        )
    reason = reason.strip()
    if vote_choice is VoteChoice.OBJECT and not reason:
        raise InvalidInput(
            message=Message("case.objection_reason"),
            field_errors=[FieldError.coded("/reason", "case.field.reason")],
        )
    if len(reason) > TEXT_MAX:
        raise InvalidInput(
            message=Message("case.text_too_long", {"limit": TEXT_MAX}),
            field_errors=[FieldError.coded("/reason", "case.field.too_long", limit=TEXT_MAX)],
        )
    if vote_choice is VoteChoice.OBJECT:
        outcome = VoteOutcome.SENT_BACK
    elif set(waiting_for(votes, involved)) == {organisation}:
        outcome = VoteOutcome.AGREED
    else:
        outcome = VoteOutcome.WAITING
    return Ballot(organisation, vote_choice, reason, outcome)
