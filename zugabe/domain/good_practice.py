"""Good-practice examples [Gute Beispiele]: finished projects the region shows to others.

A planner or coordinator of an organisation involved proposes a finished project (status
done) with what others want to know — description, costs, lessons learned, contacts, tags by
measure type, photos — and the synergies it realised, taken from its agreed coordination
cases. The proposal is released through the agreement step (``agreement.cast_vote``): a
coordinator of every organisation involved agrees, one organisation one vote; one objection
sends it back. Only released examples are public. Any change of a proposal, a sent-back or a
released example starts a new round of votes (the votes were given on what was before), so
nothing changed is ever public unagreed; a released example can be withdrawn, with a reason.

**Who is involved**: the project's organisation and every organisation of the agreed cases
the example lists as realised synergies (both subjects' organisations, as the case names
them; see ``agreed_decision`` for which agreements count). The list is fixed when a round
starts, so votes are counted against one list.

The functions here plan each step from the example as it is and return an ``ExampleWork``
for the store to write, as ``case_workflow`` does for cases.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from shapely.geometry.base import BaseGeometry

from zugabe.domain.agreement import (
    Ballot,
    Decision,
    DecisionState,
    Vote,
    VoteChoice,
    cast_vote,
    waiting_for,
)
from zugabe.domain.cases import CaseStatus, CoordinationCase
from zugabe.domain.project import Project, Status
from zugabe.errors import Conflict, FieldError, InvalidInput
from zugabe.messages import Message

TITLE_MAX = 200
TEXT_MAX = 5000
NOTE_MAX = 500
TAGS_MAX = 10
CAPTION_MAX = 300
PHOTOS_MAX = 12
"""Photos per example: enough for a fact sheet, few enough for a page that loads fast."""


class ExampleState(StrEnum):
    PROPOSED = "proposed"  # waiting for the votes of every organisation involved
    RELEASED = "released"  # every organisation agreed: public
    SENT_BACK = "sent_back"  # an organisation objected: revise, and it is proposed again
    WITHDRAWN = "withdrawn"  # taken off the public page, with a reason


@dataclass(frozen=True)
class ExampleContent:
    """What the proposers write; ``tags`` are measure-type keys of the vocabulary."""

    title: str
    description: str
    costs_eur: float | None = None
    costs_note: str = ""
    lessons: str = ""
    contacts: str = ""
    tags: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The fields by name (``tags`` as a list): what the API shows and the store keeps."""
        return {name: getattr(self, name) for name in CONTENT_FIELDS} | {"tags": list(self.tags)}


CONTENT_FIELDS = ("title", "description", "costs_eur", "costs_note", "lessons", "contacts", "tags")


@dataclass(frozen=True)
class RealisedSynergy:
    """An agreed case of the project, as the example shows it (a snapshot of the round)."""

    case_id: int
    rule_id: str
    relation: str
    partner: dict[str, str]  # the other subject as people name it, de/en
    organisations: tuple[str, ...]
    decision_kind: str
    decision_text: str

    def as_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "rule_id": self.rule_id,
            "relation": self.relation,
            "partner": self.partner,
            "organisations": list(self.organisations),
            "decision_kind": self.decision_kind,
            "decision_text": self.decision_text,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RealisedSynergy:
        return cls(
            case_id=int(data["case_id"]),
            rule_id=str(data["rule_id"]),
            relation=str(data["relation"]),
            partner=dict(data["partner"]),
            organisations=tuple(data["organisations"]),
            decision_kind=str(data["decision_kind"]),
            decision_text=str(data["decision_text"]),
        )


@dataclass(frozen=True)
class Round:
    """Who votes on this round and on which synergies (fixed when the round starts)."""

    involved: tuple[str, ...]
    synergies: tuple[RealisedSynergy, ...]


@dataclass(frozen=True)
class Photo:
    id: int
    caption: str
    media_type: str  # image/jpeg or image/png, as re-encoded
    width: int
    height: int
    size: int  # bytes of the stored image
    kept_location: bool  # the uploader kept the GPS position on purpose
    added_by: str
    added_at: datetime


@dataclass(frozen=True)
class GoodPractice:
    id: int
    project_id: int
    organisation: str  # the project's
    measure_type: str  # the project's
    geometry: BaseGeometry  # the project's, storage CRS, when proposed or revised
    content: ExampleContent
    state: ExampleState
    round: int  # 1 for the first proposal, one more for each new round of votes
    involved: tuple[str, ...]
    synergies: tuple[RealisedSynergy, ...]
    proposed_by: str  # of the current round
    proposed_at: datetime
    created_at: datetime
    updated_at: datetime
    version: int
    votes: tuple[Vote, ...] = ()  # of the current round
    released_at: datetime | None = None
    withdrawn_by: str | None = None
    withdrawn_at: datetime | None = None
    withdraw_reason: str = ""
    photos: tuple[Photo, ...] = field(default_factory=tuple)

    def waiting_for(self) -> tuple[str, ...]:
        if self.state is not ExampleState.PROPOSED:
            return ()
        return waiting_for(self.votes, self.involved)

    @property
    def public(self) -> bool:
        return self.state is ExampleState.RELEASED


@dataclass(frozen=True)
class ExampleWork:
    """What one step changes, for ``GoodPracticeStore.apply_good_practice_work``.

    ``new_round`` starts a round (round + 1, proposer and time of the acting user, the
    votes so far no longer count); ``vote`` records a vote of the current round.
    """

    action: str  # the audit action, e.g. good_practice.vote
    state: ExampleState | None = None
    content: ExampleContent | None = None
    new_round: Round | None = None
    geometry: BaseGeometry | None = None
    vote: Ballot | None = None
    released: bool = False
    withdraw_reason: str | None = None


@dataclass(frozen=True)
class NewGoodPractice:
    project_id: int
    organisation: str
    measure_type: str
    geometry: BaseGeometry
    content: ExampleContent
    round: Round


# ------------------------------------------------------------------ content


def _text(body: Mapping[str, Any], name: str, limit: int, *, required: bool = False) -> str:
    value = body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(
            message=Message("good_practice.not_text", {"field": name}),
            field_errors=[FieldError.coded(f"/{name}", "good_practice.field.text")],
        )
    value = value.strip()
    if required and not value:
        raise InvalidInput(
            message=Message("good_practice.empty", {"field": name}),
            field_errors=[FieldError.coded(f"/{name}", "case.field.empty")],
        )
    if len(value) > limit:
        raise InvalidInput(
            message=Message("good_practice.too_long", {"field": name, "limit": limit}),
            field_errors=[FieldError.coded(f"/{name}", "case.field.too_long", limit=limit)],
        )
    return value


def parse_content(
    body: Mapping[str, Any], measure_types: Collection[str], base: ExampleContent | None = None
) -> ExampleContent:
    """The content of a request body: every field of ``CONTENT_FIELDS`` (a missing one
    keeps ``base``'s value, so a change names only what changes); refused field by field."""
    unknown = sorted(set(body) - set(CONTENT_FIELDS))
    if unknown:
        raise InvalidInput(
            message=Message(
                "good_practice.unknown_field",
                {"key": unknown[0], "allowed": ", ".join(CONTENT_FIELDS)},
            ),
            field_errors=[
                FieldError.coded(f"/{key}", "good_practice.field.unknown") for key in unknown
            ],
        )
    merged: dict[str, Any] = {}
    if base is not None:
        merged = {
            "title": base.title,
            "description": base.description,
            "costs_eur": base.costs_eur,
            "costs_note": base.costs_note,
            "lessons": base.lessons,
            "contacts": base.contacts,
            "tags": list(base.tags),
        }
    merged.update(body)
    costs = merged.get("costs_eur")
    if costs is not None and (
        isinstance(costs, bool)
        or not isinstance(costs, int | float)
        or not math.isfinite(costs)
        or costs < 0
    ):
        raise InvalidInput(
            message=Message("good_practice.costs", {"value": str(costs)[:30]}),
            field_errors=[FieldError.coded("/costs_eur", "good_practice.field.costs")],
        )
    tags = merged.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidInput(
            message=Message("good_practice.tags", {"allowed": ", ".join(sorted(measure_types))}),
            field_errors=[FieldError.coded("/tags", "good_practice.field.tags")],
        )
    bad = [t for t in tags if t not in measure_types]
    if bad or len(tags) > TAGS_MAX:
        raise InvalidInput(
            message=Message("good_practice.tags", {"allowed": ", ".join(sorted(measure_types))}),
            field_errors=[FieldError.coded("/tags", "good_practice.field.tags")],
        )
    return ExampleContent(
        title=_text(merged, "title", TITLE_MAX, required=True),
        description=_text(merged, "description", TEXT_MAX, required=True),
        costs_eur=float(costs) if costs is not None else None,
        costs_note=_text(merged, "costs_note", NOTE_MAX),
        lessons=_text(merged, "lessons", TEXT_MAX),
        contacts=_text(merged, "contacts", TEXT_MAX),
        tags=tuple(dict.fromkeys(tags)),
    )


# ------------------------------------------------------------------ who is involved


def agreed_decision(case: CoordinationCase) -> Decision | None:
    """The agreement a case reached, if it still stands for what was built.

    An agreed case; or one that became obsolete after its agreement — the rule stopped
    applying, as it does when a project is finished (rules look at planned works) — whose
    last decision every organisation involved had agreed to. An agreement reopened by a
    change of a subject does not count: it was given on what was before.
    """
    if case.status is CaseStatus.AGREED:
        return case.decision
    if case.status is not CaseStatus.OBSOLETE or not case.decisions:
        return None
    last = case.decisions[-1]
    agreeing = {v.organisation for v in last.votes if v.choice is VoteChoice.AGREE}
    if last.state is DecisionState.REOPENED and set(case.finding.organisations) <= agreeing:
        return last
    return None


def agreed_synergies(
    project: Project,
    cases: Sequence[CoordinationCase],
    partner_of: Mapping[int, dict[str, str]],
) -> tuple[RealisedSynergy, ...]:
    """The synergies the project realised: its cases of relation synergy with an
    agreement (``agreed_decision``), oldest case first. ``partner_of`` names, per case id,
    the other subject of the case (de/en)."""
    realised = []
    for case in sorted(cases, key=lambda c: c.id):
        subjects = (case.finding.subject_a, case.finding.subject_b)
        mine = any(s.kind == "project" and s.ref == str(project.id) for s in subjects)
        decision = agreed_decision(case)
        if not mine or decision is None or case.finding.relation != "synergy":
            continue
        realised.append(
            RealisedSynergy(
                case_id=case.id,
                rule_id=case.finding.rule_id,
                relation=case.finding.relation,
                partner=partner_of.get(case.id, {"de": "–", "en": "–"}),
                organisations=tuple(case.finding.organisations),
                decision_kind=decision.kind.value,
                decision_text=decision.text,
            )
        )
    return tuple(realised)


def round_of(project: Project, synergies: tuple[RealisedSynergy, ...]) -> Round:
    involved = {project.attributes.organisation}
    for synergy in synergies:
        involved.update(synergy.organisations)
    return Round(tuple(sorted(involved)), synergies)


# ------------------------------------------------------------------ steps


def propose(
    project: Project, content: ExampleContent, round: Round, existing: GoodPractice | None
) -> NewGoodPractice:
    """A finished project proposed as good practice (one example per project)."""
    if project.attributes.status is not Status.DONE:
        raise Conflict(
            message=Message(
                "good_practice.not_done",
                {"project": project.id, "status": project.attributes.status.value},
            )
        )
    if existing is not None:
        raise Conflict(
            message=Message("good_practice.exists", {"project": project.id, "example": existing.id})
        )
    return NewGoodPractice(
        project_id=project.id,
        organisation=project.attributes.organisation,
        measure_type=project.attributes.measure_type,
        geometry=project.geometry,
        content=content,
        round=round,
    )


def revise(
    example: GoodPractice,
    content: ExampleContent | None,
    round: Round,
    project: Project | None,
    action: str = "good_practice.revise",
) -> ExampleWork:
    """A change of the content or the photos (``content`` None): proposed again, a new
    round of votes on the example as it is now — also when it was released or withdrawn.
    ``round`` is taken from the project's agreed cases as they are now."""
    return ExampleWork(
        action=action,
        state=ExampleState.PROPOSED,
        content=content,
        new_round=round,
        geometry=project.geometry if project is not None else None,
    )


def vote(example: GoodPractice, organisation: str | None, choice: str, reason: str) -> ExampleWork:
    """One organisation's vote on the proposal: the last agreement releases it."""
    if example.state is not ExampleState.PROPOSED:
        raise Conflict(message=Message("good_practice.no_proposal", {"example": example.id}))
    ballot = cast_vote(
        example.votes,
        example.involved,
        organisation,
        choice,
        reason,
        Message(
            "good_practice.vote_not_involved",
            {"example": example.id, "involved": ", ".join(example.involved)},
        ),
    )
    outcome = ballot.outcome.value
    state = {
        "agreed": ExampleState.RELEASED,
        "sent_back": ExampleState.SENT_BACK,
    }.get(outcome)
    return ExampleWork(
        action="good_practice.vote",
        state=state,
        vote=ballot,
        released=state is ExampleState.RELEASED,
    )


def withdraw(example: GoodPractice, reason: str) -> ExampleWork:
    """Take an example off the public page (or a proposal back), saying why."""
    if example.state is ExampleState.WITHDRAWN:
        raise Conflict(message=Message("good_practice.withdrawn_already", {"example": example.id}))
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        raise InvalidInput(
            message=Message("good_practice.withdraw_reason"),
            field_errors=[FieldError.coded("/reason", "case.field.empty")],
        )
    if len(reason) > TEXT_MAX:
        raise InvalidInput(
            message=Message("case.text_too_long", {"limit": TEXT_MAX}),
            field_errors=[FieldError.coded("/reason", "case.field.too_long", limit=TEXT_MAX)],
        )
    return ExampleWork(
        action="good_practice.withdraw", state=ExampleState.WITHDRAWN, withdraw_reason=reason
    )


def parse_caption(caption: object) -> str:
    return _text({"caption": caption}, "caption", CAPTION_MAX)


def photo_allowed(example: GoodPractice) -> None:
    if len(example.photos) >= PHOTOS_MAX:
        raise Conflict(
            message=Message("good_practice.photos_max", {"example": example.id, "max": PHOTOS_MAX})
        )
