"""Use cases of the coordination desk: take up, assign, set a due date, propose, vote.

Each step checks the acting account, reads the case, lets ``case_workflow`` plan the
change from the case as it is, and has the store write it — guarded by the version the
plan was made from, with its audit entry in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from zugabe.domain import case_workflow
from zugabe.domain.accounts import Account, Actor
from zugabe.domain.case_workflow import CaseWork
from zugabe.domain.cases import CoordinationCase
from zugabe.domain.policy import Policy
from zugabe.errors import FieldError, InvalidInput, NotFound, VersionConflict, quoted
from zugabe.messages import Message
from zugabe.services.audit import AuditService, Change
from zugabe.services.notifications import NotificationService
from zugabe.storage.contract import Store

VOTE_ATTEMPTS = 5
"""Votes are cast on the case as it is: when another organisation's vote came in between,
the vote is planned again (the last agreement must see all the others)."""


@dataclass(frozen=True)
class DeskStep:
    """One kind of step, as the audit log names it and what it records before and after."""

    action: str
    summary: Callable[[CoordinationCase], dict[str, Any]]


def _status(case: CoordinationCase) -> dict[str, Any]:
    return {"status": case.status.value}


def _assignee(case: CoordinationCase) -> dict[str, Any]:
    return {"assignee": case.assignee, "status": case.status.value}


def _due(case: CoordinationCase) -> dict[str, Any]:
    return {"due_date": case.due_date.isoformat() if case.due_date else None}


def _decision(case: CoordinationCase) -> dict[str, Any]:
    last = case.decisions[-1] if case.decisions else None
    return {
        "status": case.status.value,
        "decision": None
        if last is None
        else {
            "id": last.id,
            "kind": last.kind.value,
            "text": last.text,
            "state": last.state.value,
            "votes": {v.organisation: v.choice.value for v in last.votes},
        },
    }


STATUS = DeskStep("case.status", _status)
ASSIGN = DeskStep("case.assign", _assignee)
DUE = DeskStep("case.due", _due)
PROPOSE = DeskStep("case.propose", _decision)
WITHDRAW = DeskStep("case.withdraw", _decision)
VOTE = DeskStep("case.vote", _decision)


class DeskService:
    def __init__(
        self,
        store: Store,
        policy: Policy,
        audit: AuditService,
        notifications: NotificationService,
    ) -> None:
        self.store = store
        self.policy = policy
        self.audit = audit
        self.notifications = notifications

    def change_status(
        self, case_id: int, status: str, actor: Actor, expected_version: int | None
    ) -> CoordinationCase:
        """Take a case up (in coordination) or put it back (open)."""
        return self._review_step(
            case_id,
            actor,
            expected_version,
            STATUS,
            "changing the status of",
            lambda case: case_workflow.change_status(case, status),
        )

    def assign(
        self, case_id: int, username: str | None, actor: Actor, expected_version: int | None
    ) -> CoordinationCase:
        """Give the case to a person of an involved organisation (None: to nobody)."""

        def plan(case: CoordinationCase) -> CaseWork:
            account = None
            if username:
                account = self.store.find_account(username)
                if account is None:
                    raise InvalidInput(
                        message=Message("case.unknown_account", {"username": username}),
                        field_errors=[FieldError.coded("/assignee", "case.field.unknown_account")],
                    )
            return case_workflow.assign(case, account)

        return self._review_step(case_id, actor, expected_version, ASSIGN, "assigning", plan)

    def set_due(
        self, case_id: int, due: str | None, actor: Actor, expected_version: int | None
    ) -> CoordinationCase:
        """A due date (ISO 8601) by hand; None goes back to the one from the start dates."""
        day = None
        if due:
            try:
                day = date.fromisoformat(due)
            except ValueError:
                raise InvalidInput(
                    message=Message("case.due_format", {"value": quoted(due)}),
                    field_errors=[FieldError.coded("/due_date", "case.field.date")],
                ) from None
        return self._review_step(
            case_id,
            actor,
            expected_version,
            DUE,
            "setting the due date of",
            lambda case: case_workflow.set_due(case, day),
        )

    def propose(
        self,
        case_id: int,
        kind: str,
        text: str,
        measures: Sequence[str],
        actor: Actor,
        expected_version: int | None,
    ) -> CoordinationCase:
        """Put a decision to every organisation involved."""
        return self._review_step(
            case_id,
            actor,
            expected_version,
            PROPOSE,
            "proposing a decision on",
            lambda case: case_workflow.propose(case, kind, text, measures),
        )

    def withdraw(
        self, case_id: int, actor: Actor, expected_version: int | None
    ) -> CoordinationCase:
        return self._review_step(
            case_id,
            actor,
            expected_version,
            WITHDRAW,
            "withdrawing the proposal of",
            case_workflow.withdraw,
        )

    def vote(self, case_id: int, choice: str, reason: str, actor: Actor) -> CoordinationCase:
        """The acting coordinator's organisation agrees or objects (one vote each)."""
        self.policy.require_writer(actor)
        for _attempt in range(VOTE_ATTEMPTS):
            case = self._stored(case_id)
            self.policy.require_case_vote(
                actor, case.finding.organisations, f"voting on case {case_id}"
            )
            work = case_workflow.vote(case, actor.organisation, choice, reason)
            try:
                return self._apply(case, work, actor, VOTE)
            except VersionConflict:
                continue
        raise VersionConflict(f"case {case_id} keeps changing; vote again in a moment")

    def assignable(self, case_id: int, actor: Actor) -> list[Account]:
        """Whom a coordinator may give the case to: active accounts of its organisations."""
        self.policy.require_writer(actor)
        case = self._stored(case_id)
        self.policy.require_case_review(
            actor, case.finding.organisations, f"assigning case {case_id}"
        )
        people = [
            account
            for organisation in case.finding.organisations
            for account in self.store.list_accounts(organisation)
            if account.active
        ]
        return sorted(people, key=lambda a: (a.organisation or "", a.display_name.casefold()))

    # ------------------------------------------------------------ helpers

    def _stored(self, case_id: int) -> CoordinationCase:
        case = self.store.get_case(case_id)
        if case is None:
            raise NotFound(f"case {case_id} does not exist")
        return case

    def _review_step(
        self,
        case_id: int,
        actor: Actor,
        expected_version: int | None,
        step: DeskStep,
        what: str,
        plan: Callable[[CoordinationCase], CaseWork],
    ) -> CoordinationCase:
        self.policy.require_writer(actor)
        case = self._stored(case_id)
        self.policy.require_case_review(actor, case.finding.organisations, f"{what} case {case_id}")
        if expected_version is not None and case.version != expected_version:
            raise VersionConflict(
                f"case {case_id} was changed by someone else: you saw version "
                f"{expected_version}, the current version is {case.version}"
            )
        return self._apply(case, plan(case), actor, step)

    def _apply(
        self, case: CoordinationCase, work: CaseWork, actor: Actor, step: DeskStep
    ) -> CoordinationCase:
        with self.store.transaction():
            changed = self.store.apply_case_work(case.id, work, actor.username, case.version)
            self.audit.record(
                actor,
                Change(
                    step.action, "case", str(case.id), step.summary(case), step.summary(changed)
                ),
            )
            self.notifications.case_step(changed, work.events, actor)
            # One's own step is nothing new to oneself: in the step's own transaction.
            self.store.seen_cases(actor.username, [case.id], changed.updated_at)
        return changed
