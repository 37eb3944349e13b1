"""A case's life cycle: what each step may do, planned here and applied by a store.

Every step — a coordinator's action or a recomputation — is decided by a function of
this module from the case as it is, and returned as a ``CaseWork`` (or a ``Recomputed``
for detection): the new status, assignee, due date, decision and vote, plus the history
events that tell it. Stores only write what they are given, so a second store copies
no rule, and the rules can be read in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from zugabe.domain.accounts import Account
from zugabe.domain.agreement import (
    TEXT_MAX,
    DecisionKind,
    DecisionState,
    VoteChoice,
    VoteOutcome,
    cast_vote,
)
from zugabe.domain.case_history import Event, HistoryEvent
from zugabe.domain.cases import REVIEW_TRANSITIONS, CaseStatus, CoordinationCase
from zugabe.errors import Conflict, FieldError, InvalidInput
from zugabe.messages import Message

MEASURES_MAX = 50
DEFAULT_DUE_DAYS_BEFORE_START = 42
"""Six weeks before the earlier start: time to agree before the street is opened."""


@dataclass(frozen=True)
class NewDecision:
    kind: DecisionKind
    text: str
    measures: tuple[str, ...]


@dataclass(frozen=True)
class NewVote:
    decision_id: int
    organisation: str
    choice: VoteChoice
    reason: str


@dataclass(frozen=True)
class CaseWork:
    """What one step changes in a case, for ``CaseStore.apply_case_work``.

    ``set_assignee``/``set_due`` say whether ``assignee``/``due_date`` are to be
    written (None being a value: nobody, the default). ``decision_state`` applies to
    the case's current decision; ``new_decision`` adds one; ``vote`` adds a vote.
    """

    events: tuple[HistoryEvent, ...]
    status: CaseStatus | None = None
    set_assignee: bool = False
    assignee: str | None = None
    set_due: bool = False
    due_date: date | None = None
    new_decision: NewDecision | None = None
    decision_state: DecisionState | None = None
    vote: NewVote | None = None


# ---------------------------------------------------------------- coordinators' steps


def _not_too_long(pointer: str, text: str) -> None:
    if len(text) > TEXT_MAX:
        raise InvalidInput(
            message=Message("case.text_too_long", {"limit": TEXT_MAX}),
            field_errors=[FieldError.coded(pointer, "case.field.too_long", limit=TEXT_MAX)],
        )


def _not_frozen(case: CoordinationCase, what: str) -> None:
    """``what`` names the step (``case.what.*`` of the message catalogue)."""
    step = Message(f"case.what.{what}")
    if case.status is CaseStatus.AGREED:
        raise Conflict(message=Message("case.frozen", {"case": case.id, "what": step}))
    if case.status is CaseStatus.OBSOLETE:
        raise Conflict(message=Message("case.obsolete", {"case": case.id, "what": step}))


def change_status(case: CoordinationCase, target: str) -> CaseWork:
    """Take a case up (in coordination) or put it back to open."""
    try:
        status = CaseStatus(target)
    except ValueError:
        allowed = ", ".join(s.value for s in CaseStatus if s is not CaseStatus.OBSOLETE)
        raise InvalidInput(
            message=Message("case.unknown_status", {"value": target}),
            field_errors=[FieldError.coded("/status", "case.field.allowed", allowed=allowed)],
        ) from None
    if status not in REVIEW_TRANSITIONS[case.status]:
        allowed = ", ".join(sorted(s.value for s in REVIEW_TRANSITIONS[case.status])) or "none"
        hints = {CaseStatus.PROPOSED: "case.hint_propose", CaseStatus.AGREED: "case.hint_agree"}
        hint = Message(hints[status]) if status in hints else ""
        current = case.status.value
        raise Conflict(  # well formed, but not from this status: a conflict with its state
            message=Message(
                "case.status_not_from",
                {"case": case.id, "current": current, "target": status.value, "hint": hint},
            ),
            field_errors=[
                FieldError.coded("/status", "case.field.from", current=current, allowed=allowed)
            ],
        )
    event = HistoryEvent(Event.STATUS_CHANGED, {"from": case.status.value, "to": status.value})
    return CaseWork(events=(event,), status=status)


def assign(case: CoordinationCase, assignee: Account | None) -> CaseWork:
    """Give the case to a person of an involved organisation (None: to nobody)."""
    _not_frozen(case, "assign")
    if assignee is not None:
        if not assignee.active:
            raise InvalidInput(
                message=Message("case.assignee_disabled", {"username": assignee.username}),
                field_errors=[FieldError.coded("/assignee", "case.field.active")],
            )
        if assignee.organisation not in case.finding.organisations:
            involved = ", ".join(case.finding.organisations) or "–"
            raise InvalidInput(
                message=Message(
                    "case.assignee_not_involved", {"username": assignee.username, "case": case.id}
                ),
                field_errors=[
                    FieldError.coded("/assignee", "case.field.person_of", involved=involved)
                ],
            )
    username = assignee.username if assignee else None
    event = HistoryEvent(Event.ASSIGNED, {"assignee": username, "previous": case.assignee})
    status = CaseStatus.IN_COORDINATION if case.status is CaseStatus.OPEN and username else None
    events = (event,)
    if status is not None:
        events += (HistoryEvent(Event.STATUS_CHANGED, {"from": "open", "to": status.value}),)
    return CaseWork(events=events, set_assignee=True, assignee=username, status=status)


def set_due(case: CoordinationCase, due: date | None) -> CaseWork:
    """A due date by hand, or None to go back to the one derived from the start dates."""
    _not_frozen(case, "due")
    previous = case.due_date.isoformat() if case.due_date else None
    event = HistoryEvent(
        Event.DUE_SET, {"due": due.isoformat() if due else None, "previous": previous}
    )
    return CaseWork(events=(event,), set_due=True, due_date=due)


def due_date(case: CoordinationCase, days_before_start: int) -> date | None:
    """The date set by hand, else ``days_before_start`` before the earlier start."""
    if case.due_date is not None:
        return case.due_date
    start = case.finding.window_start
    return start - timedelta(days=days_before_start) if start else None


def propose(case: CoordinationCase, kind: str, text: str, measures: Sequence[str]) -> CaseWork:
    """Put a decision to every organisation involved."""
    _not_frozen(case, "propose")
    if case.status is CaseStatus.PROPOSED:
        raise Conflict(message=Message("case.proposal_waiting", {"case": case.id}))
    try:
        decision_kind = DecisionKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in DecisionKind)
        raise InvalidInput(
            message=Message("case.unknown_kind", {"value": kind}),
            field_errors=[FieldError.coded("/kind", "case.field.allowed", allowed=allowed)],
        ) from None
    text = text.strip()
    if not text:
        raise InvalidInput(
            message=Message("case.text_empty"),
            field_errors=[FieldError.coded("/text", "case.field.empty")],
        )
    _not_too_long("/text", text)
    cleaned = tuple(m.strip() for m in measures if m.strip())
    if len(cleaned) > MEASURES_MAX or any(len(m) > TEXT_MAX for m in cleaned):
        raise InvalidInput(
            message=Message("case.measures_too_many", {"count": MEASURES_MAX, "limit": TEXT_MAX}),
            field_errors=[FieldError.coded("/measures", "case.field.too_many")],
        )
    event = HistoryEvent(Event.PROPOSED, {"kind": decision_kind.value, "text": text})
    return CaseWork(
        events=(event,),
        status=CaseStatus.PROPOSED,
        new_decision=NewDecision(decision_kind, text, cleaned),
    )


def withdraw(case: CoordinationCase) -> CaseWork:
    """Take a proposal back before every organisation voted."""
    decision = case.decision
    if case.status is not CaseStatus.PROPOSED or decision is None:
        raise Conflict(message=Message("case.no_proposal", {"case": case.id}))
    return CaseWork(
        events=(HistoryEvent(Event.WITHDRAWN, {"decision": decision.id}),),
        status=CaseStatus.IN_COORDINATION,
        decision_state=DecisionState.WITHDRAWN,
    )


def vote(case: CoordinationCase, organisation: str | None, choice: str, reason: str) -> CaseWork:
    """One organisation's vote on the waiting proposal: the last agreement agrees the
    case, an objection sends the proposal back (``agreement.cast_vote`` counts)."""
    decision = case.decision
    if case.status is not CaseStatus.PROPOSED or decision is None:
        raise Conflict(message=Message("case.no_proposal", {"case": case.id}))
    involved = case.finding.organisations
    ballot = cast_vote(
        decision.votes,
        involved,
        organisation,
        choice,
        reason,
        Message(
            "case.vote_not_involved", {"case": case.id, "involved": ", ".join(involved) or "–"}
        ),
    )
    cast = NewVote(decision.id, ballot.organisation, ballot.choice, ballot.reason)
    voted = HistoryEvent(
        Event.VOTED,
        {
            "decision": decision.id,
            "organisation": ballot.organisation,
            "choice": ballot.choice.value,
            "reason": ballot.reason,
        },
    )
    if ballot.outcome is VoteOutcome.SENT_BACK:
        back = HistoryEvent(
            Event.SENT_BACK, {"decision": decision.id, "organisation": ballot.organisation}
        )
        return CaseWork(
            events=(voted, back),
            status=CaseStatus.IN_COORDINATION,
            decision_state=DecisionState.SENT_BACK,
            vote=cast,
        )
    if ballot.outcome is VoteOutcome.AGREED:
        agreed = HistoryEvent(Event.AGREED, {"decision": decision.id})
        return CaseWork(
            events=(voted, agreed),
            status=CaseStatus.AGREED,
            decision_state=DecisionState.AGREED,
            vote=cast,
        )
    return CaseWork(events=(voted,), vote=cast)


# ---------------------------------------------------------------- recomputation


@dataclass(frozen=True)
class Recomputed:
    """What detection does to one stored case (see ``found``/``vanished``)."""

    status: CaseStatus | None = None
    events: tuple[HistoryEvent, ...] = field(default_factory=tuple)
    close_decision: bool = False  # the current decision becomes ``reopened``


def found(status: CaseStatus, changes: list[dict[str, Any]]) -> Recomputed:
    """The rule still fires for a stored case; ``changes`` as ``describe_changes`` says.

    An obsolete case comes back open. A change of an agreed case (or of one whose
    proposal waits for votes) reopens it: the votes were given on what was before.
    """
    if status is CaseStatus.OBSOLETE:
        events = (HistoryEvent(Event.REOPENED),)
        if changes:
            events += (HistoryEvent(Event.UPDATED, {"changes": changes}),)
        return Recomputed(CaseStatus.OPEN, events)
    if not changes:
        return Recomputed()
    if status in (CaseStatus.AGREED, CaseStatus.PROPOSED):
        event = HistoryEvent(
            Event.REOPENED_AFTER_CHANGE, {"changes": changes, "from": status.value}
        )
        back = CaseStatus.OPEN if status is CaseStatus.AGREED else CaseStatus.IN_COORDINATION
        return Recomputed(back, (event,), close_decision=True)
    return Recomputed(None, (HistoryEvent(Event.UPDATED, {"changes": changes}),))


def vanished(status: CaseStatus, reason: dict[str, Any]) -> Recomputed:
    """The rule no longer fires for a stored case: it becomes obsolete, its decision too."""
    if status is CaseStatus.OBSOLETE:
        return Recomputed()
    closes = status in (CaseStatus.AGREED, CaseStatus.PROPOSED)
    event = HistoryEvent(Event.OBSOLETED, {"reason": reason})
    return Recomputed(CaseStatus.OBSOLETE, (event,), close_decision=closes)
