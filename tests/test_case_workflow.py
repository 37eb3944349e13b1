"""The desk's rules without a store: what each step of ``case_workflow`` plans (and
refuses), what recomputation does to a case, and how ``case_history`` words the events
in German and English."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from zugabe.domain import case_workflow
from zugabe.domain.accounts import Account
from zugabe.domain.agreement import Decision, DecisionKind, DecisionState, Vote, VoteChoice
from zugabe.domain.case_history import (
    OBSOLETE_RULE,
    Event,
    HistoryEvent,
    describe_changes,
    project_deleted,
    word_change,
    word_event,
    word_reason,
)
from zugabe.domain.case_workflow import (
    CaseWork,
    NewDecision,
    NewVote,
    Recomputed,
    found,
    vanished,
)
from zugabe.domain.cases import CaseFinding, CaseStatus, CoordinationCase, Subject
from zugabe.domain.desk_vocabulary import desk_word
from zugabe.domain.i18n import Lang
from zugabe.errors import Conflict, InvalidInput

BOTTROP, EMSCHER, ESSEN = "stadt-bottrop", "emschergenossenschaft", "stadt-essen"
T = datetime(2025, 11, 3, 10, 30, tzinfo=UTC)


def a_case(
    status: CaseStatus = CaseStatus.OPEN,
    organisations: tuple[str, ...] = (BOTTROP, EMSCHER),
    decisions: tuple[Decision, ...] = (),
    **changes: Any,
) -> CoordinationCase:
    a, b = Subject("project", "1"), Subject("project", "2")
    finding = CaseFinding(
        pair_key="road_sewer|project:1|project:2",
        rule_id="road_sewer",
        relation="synergy",
        severity="medium",
        subject_a=a,
        subject_b=b,
        geometry=None,
        measures={"overlap_area_m2": 12.0},
        organisations=organisations,
        departments=("strassenbau",),
        message={"de": "bündeln", "en": "bundle"},
        window_start=date(2026, 3, 1),
        window_end=None,
    )
    case = CoordinationCase(
        id=5,
        finding=finding,
        status=status,
        status_reason={},
        created_at=T,
        updated_at=T,
        version=3,
        decisions=decisions,
    )
    return replace(case, **changes)


def waiting(*votes: tuple[str, str, str]) -> Decision:
    return Decision(
        id=7,
        kind=DecisionKind.BUNDLE_WORKS,
        text="Gemeinsam bauen",
        measures=(),
        proposed_by="anna",
        proposed_at=T,
        state=DecisionState.WAITING,
        votes=tuple(Vote(o, VoteChoice(c), r, "someone", T) for o, c, r in votes),
    )


def proposed(*votes: tuple[str, str, str], **changes: Any) -> CoordinationCase:
    return a_case(CaseStatus.PROPOSED, decisions=(waiting(*votes),), **changes)


def account(username: str = "anna", organisation: str | None = BOTTROP, **changes: Any) -> Account:
    values: dict[str, Any] = {
        "id": 1,
        "username": username,
        "display_name": username.title(),
        "email": f"{username}@example.org",
        "organisation": organisation,
        "departments": (),
        "roles": frozenset(),
        "themes": (),
        "active": True,
        "demo_password": False,
        "external_subject": None,
        "created_at": T,
        "updated_at": T,
        "version": 1,
    } | changes
    return Account(**values)


def event(what: Event, /, **details: Any) -> HistoryEvent:
    return HistoryEvent(what, details)


def pointers(error: InvalidInput | Conflict) -> list[str]:
    return [e.pointer for e in error.field_errors]


FROZEN = [CaseStatus.AGREED, CaseStatus.OBSOLETE]


# -- change_status ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "target"),
    [(CaseStatus.OPEN, "in_coordination"), (CaseStatus.IN_COORDINATION, "open")],
)
def test_a_coordinator_takes_a_case_up_or_puts_it_back(start: CaseStatus, target: str) -> None:
    assert case_workflow.change_status(a_case(start), target) == CaseWork(
        events=(event(Event.STATUS_CHANGED, **{"from": start.value, "to": target}),),
        status=CaseStatus(target),
    )


@pytest.mark.parametrize(
    ("start", "target", "says"),
    [
        (CaseStatus.OPEN, "open", "from open to open"),
        (CaseStatus.OPEN, "proposed", "propose a decision instead"),
        (CaseStatus.IN_COORDINATION, "agreed", "every organisation involved agreed"),
        (CaseStatus.OPEN, "obsolete", "from open to obsolete"),
        (CaseStatus.PROPOSED, "open", "from proposed to open"),
        (CaseStatus.AGREED, "in_coordination", "from agreed to in_coordination"),
        (CaseStatus.OBSOLETE, "open", "from obsolete to open"),
    ],
)
def test_other_status_changes_are_refused(start: CaseStatus, target: str, says: str) -> None:
    with pytest.raises(Conflict, match=says) as refused:
        case_workflow.change_status(a_case(start), target)
    assert pointers(refused.value) == ["/status"]


@pytest.mark.parametrize("target", ["resolved", "dismissed", "", "OPEN"])
def test_unknown_statuses_are_invalid(target: str) -> None:
    with pytest.raises(InvalidInput, match=f"unknown status '{target}'") as refused:
        case_workflow.change_status(a_case(), target)
    assert pointers(refused.value) == ["/status"]
    assert "obsolete" not in refused.value.field_errors[0].detail


# -- assign and due dates ---------------------------------------------------------------


def test_assigning_an_open_case_takes_it_up() -> None:
    assert case_workflow.assign(a_case(), account("anna")) == CaseWork(
        events=(
            event(Event.ASSIGNED, assignee="anna", previous=None),
            event(Event.STATUS_CHANGED, **{"from": "open", "to": "in_coordination"}),
        ),
        status=CaseStatus.IN_COORDINATION,
        set_assignee=True,
        assignee="anna",
    )


@pytest.mark.parametrize("status", [CaseStatus.IN_COORDINATION, CaseStatus.PROPOSED])
def test_assigning_leaves_a_case_beyond_open_in_its_status(status: CaseStatus) -> None:
    work = case_workflow.assign(a_case(status, assignee="anna"), account("emil", EMSCHER))
    assert work == CaseWork(
        events=(event(Event.ASSIGNED, assignee="emil", previous="anna"),),
        set_assignee=True,
        assignee="emil",
    )


def test_unassigning_leaves_the_status() -> None:
    work = case_workflow.assign(a_case(assignee="anna"), None)
    assert work == CaseWork(
        events=(event(Event.ASSIGNED, assignee=None, previous="anna"),),
        set_assignee=True,
        assignee=None,
    )


@pytest.mark.parametrize(
    ("person", "says"),
    [
        (account("carl", ESSEN), "not in an organisation involved"),
        (account("root", None), "not in an organisation involved"),
        (account("anna", active=False), "disabled"),
    ],
)
def test_only_active_people_of_the_organisations_involved_are_assigned(
    person: Account, says: str
) -> None:
    with pytest.raises(InvalidInput, match=says) as refused:
        case_workflow.assign(a_case(), person)
    assert pointers(refused.value) == ["/assignee"]


@pytest.mark.parametrize("status", FROZEN)
def test_frozen_cases_are_neither_assigned_nor_given_a_due_date(status: CaseStatus) -> None:
    frozen = a_case(status)
    with pytest.raises(Conflict, match=status.value):
        case_workflow.assign(frozen, account())
    with pytest.raises(Conflict, match=status.value):
        case_workflow.assign(frozen, None)
    with pytest.raises(Conflict, match=status.value):
        case_workflow.set_due(frozen, date(2026, 1, 1))


def test_an_agreed_case_says_how_it_reopens() -> None:
    with pytest.raises(Conflict, match="reopens by itself when one of its subjects changes"):
        case_workflow.assign(a_case(CaseStatus.AGREED), account())


def test_a_due_date_by_hand_and_back_to_the_default() -> None:
    case = a_case()
    assert case_workflow.set_due(case, date(2026, 1, 15)) == CaseWork(
        events=(event(Event.DUE_SET, due="2026-01-15", previous=None),),
        set_due=True,
        due_date=date(2026, 1, 15),
    )
    assert case_workflow.set_due(replace(case, due_date=date(2026, 1, 15)), None) == CaseWork(
        events=(event(Event.DUE_SET, due=None, previous="2026-01-15"),),
        set_due=True,
        due_date=None,
    )


def test_the_due_date_is_the_one_set_else_derived_from_the_start() -> None:
    case = a_case()  # starts 1 March 2026
    assert case_workflow.due_date(case, 42) == date(2026, 1, 18)
    assert case_workflow.due_date(case, 0) == date(2026, 3, 1)
    assert case_workflow.due_date(replace(case, due_date=date(2026, 5, 1)), 42) == date(2026, 5, 1)
    without_start = replace(case, finding=replace(case.finding, window_start=None))
    assert case_workflow.due_date(without_start, 42) is None


# -- propose and withdraw ---------------------------------------------------------------


@pytest.mark.parametrize("status", [CaseStatus.OPEN, CaseStatus.IN_COORDINATION])
def test_a_proposal(status: CaseStatus) -> None:
    work = case_workflow.propose(
        a_case(status), "shared_trench", "  Ein Graben für beide \n", [" Kanal zuerst ", "", "  "]
    )
    assert work == CaseWork(
        events=(event(Event.PROPOSED, kind="shared_trench", text="Ein Graben für beide"),),
        status=CaseStatus.PROPOSED,
        new_decision=NewDecision(
            DecisionKind.SHARED_TRENCH, "Ein Graben für beide", ("Kanal zuerst",)
        ),
    )


def test_a_proposal_at_its_limits() -> None:
    longest = "x" * case_workflow.TEXT_MAX
    work = case_workflow.propose(a_case(), "other", longest, [longest] * case_workflow.MEASURES_MAX)
    assert work.new_decision is not None
    assert len(work.new_decision.measures) == case_workflow.MEASURES_MAX


@pytest.mark.parametrize(
    ("kind", "text", "measures", "pointer"),
    [
        ("agree_somehow", "Text", [], "/kind"),
        ("resolved", "Text", [], "/kind"),
        ("other", "", [], "/text"),
        ("other", " \n\t", [], "/text"),
        ("other", "x" * (case_workflow.TEXT_MAX + 1), [], "/text"),
        ("other", "Text", ["m"] * (case_workflow.MEASURES_MAX + 1), "/measures"),
        ("other", "Text", ["x" * (case_workflow.TEXT_MAX + 1)], "/measures"),
    ],
)
def test_a_proposal_needs_a_known_kind_a_text_and_few_short_measures(
    kind: str, text: str, measures: list[str], pointer: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        case_workflow.propose(a_case(), kind, text, measures)
    assert pointers(refused.value) == [pointer]


@pytest.mark.parametrize(
    ("case", "says"),
    [
        (proposed(), "already has a proposal waiting for votes; withdraw it first"),
        (a_case(CaseStatus.AGREED), "agreed and frozen"),
        (a_case(CaseStatus.OBSOLETE), "obsolete"),
    ],
)
def test_no_second_proposal_and_none_on_a_frozen_case(case: CoordinationCase, says: str) -> None:
    with pytest.raises(Conflict, match=says):
        case_workflow.propose(case, "other", "Text", [])


def test_withdrawing_a_proposal() -> None:
    assert case_workflow.withdraw(proposed((BOTTROP, "agree", ""))) == CaseWork(
        events=(event(Event.WITHDRAWN, decision=7),),
        status=CaseStatus.IN_COORDINATION,
        decision_state=DecisionState.WITHDRAWN,
    )


@pytest.mark.parametrize(
    "case",
    [
        a_case(CaseStatus.IN_COORDINATION),
        a_case(CaseStatus.AGREED, decisions=(replace(waiting(), state=DecisionState.AGREED),)),
        # Proposed, but its last decision is closed: nothing waits.
        a_case(CaseStatus.PROPOSED, decisions=(replace(waiting(), state=DecisionState.SENT_BACK),)),
    ],
)
def test_nothing_to_withdraw_or_vote_on_without_a_waiting_proposal(case: CoordinationCase) -> None:
    with pytest.raises(Conflict, match="has no proposal waiting for votes"):
        case_workflow.withdraw(case)
    with pytest.raises(Conflict, match="has no proposal waiting for votes"):
        case_workflow.vote(case, BOTTROP, "agree", "")


# -- votes ------------------------------------------------------------------------------


def test_a_first_agreement_waits_for_the_others() -> None:
    assert case_workflow.vote(proposed(), BOTTROP, "agree", "  passt ") == CaseWork(
        events=(
            event(Event.VOTED, decision=7, organisation=BOTTROP, choice="agree", reason="passt"),
        ),
        vote=NewVote(7, BOTTROP, VoteChoice.AGREE, "passt"),
    )


def test_the_last_agreement_agrees_the_case() -> None:
    work = case_workflow.vote(proposed((BOTTROP, "agree", "")), EMSCHER, "agree", "")
    assert work == CaseWork(
        events=(
            event(Event.VOTED, decision=7, organisation=EMSCHER, choice="agree", reason=""),
            event(Event.AGREED, decision=7),
        ),
        status=CaseStatus.AGREED,
        decision_state=DecisionState.AGREED,
        vote=NewVote(7, EMSCHER, VoteChoice.AGREE, ""),
    )


def test_one_organisation_involved_agrees_alone() -> None:
    work = case_workflow.vote(proposed(organisations=(BOTTROP, BOTTROP)), BOTTROP, "agree", "")
    assert work.status is CaseStatus.AGREED


def test_an_objection_sends_the_proposal_back() -> None:
    work = case_workflow.vote(proposed((BOTTROP, "agree", "")), EMSCHER, "object", "erst 2027")
    assert work == CaseWork(
        events=(
            event(
                Event.VOTED, decision=7, organisation=EMSCHER, choice="object", reason="erst 2027"
            ),
            event(Event.SENT_BACK, decision=7, organisation=EMSCHER),
        ),
        status=CaseStatus.IN_COORDINATION,
        decision_state=DecisionState.SENT_BACK,
        vote=NewVote(7, EMSCHER, VoteChoice.OBJECT, "erst 2027"),
    )


@pytest.mark.parametrize("choice", ["agree", "object"])
def test_one_organisation_one_vote(choice: str) -> None:
    case = proposed((BOTTROP, "agree", ""))
    with pytest.raises(
        Conflict,
        match=r"stadt-bottrop has already voted on this proposal \(agree, 2025-11-03 10:30 UTC\)"
        r": one organisation, one vote",
    ):
        case_workflow.vote(case, BOTTROP, choice, "doch nicht")


@pytest.mark.parametrize("organisation", [ESSEN, None, ""])
def test_only_the_organisations_involved_vote(organisation: str | None) -> None:
    with pytest.raises(Conflict, match="only the organisations involved"):
        case_workflow.vote(proposed(), organisation, "agree", "")


@pytest.mark.parametrize("reason", ["", "  \n "])
def test_an_objection_needs_a_reason(reason: str) -> None:
    with pytest.raises(InvalidInput, match="an objection needs a reason") as refused:
        case_workflow.vote(proposed(), EMSCHER, "object", reason)
    assert pointers(refused.value) == ["/reason"]


@pytest.mark.parametrize(
    ("choice", "reason", "pointer"),
    [
        ("yes", "", "/vote"),
        ("AGREE", "", "/vote"),
        ("agree", "x" * (case_workflow.TEXT_MAX + 1), "/reason"),
    ],
)
def test_unknown_votes_and_long_reasons_are_invalid(choice: str, reason: str, pointer: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        case_workflow.vote(proposed(), BOTTROP, choice, reason)
    assert pointers(refused.value) == [pointer]


def test_waiting_for_names_the_organisations_yet_to_vote_in_order() -> None:
    decision = waiting((EMSCHER, "agree", ""))
    assert decision.waiting_for((ESSEN, BOTTROP, EMSCHER, BOTTROP)) == (BOTTROP, ESSEN)
    assert replace(decision, state=DecisionState.AGREED).waiting_for((BOTTROP,)) == ()


# -- recomputation ------------------------------------------------------------------------

CHANGES = [{"field": "severity", "from": "medium", "to": "high"}]


@pytest.mark.parametrize(
    ("status", "changes", "expected"),
    [
        (CaseStatus.OPEN, [], Recomputed()),
        (CaseStatus.AGREED, [], Recomputed()),
        (CaseStatus.OPEN, CHANGES, Recomputed(None, (event(Event.UPDATED, changes=CHANGES),))),
        (
            CaseStatus.IN_COORDINATION,
            CHANGES,
            Recomputed(None, (event(Event.UPDATED, changes=CHANGES),)),
        ),
        (
            CaseStatus.AGREED,
            CHANGES,
            Recomputed(
                CaseStatus.OPEN,
                (event(Event.REOPENED_AFTER_CHANGE, changes=CHANGES, **{"from": "agreed"}),),
                close_decision=True,
            ),
        ),
        (
            CaseStatus.PROPOSED,
            CHANGES,
            Recomputed(
                CaseStatus.IN_COORDINATION,
                (event(Event.REOPENED_AFTER_CHANGE, changes=CHANGES, **{"from": "proposed"}),),
                close_decision=True,
            ),
        ),
        (CaseStatus.OBSOLETE, [], Recomputed(CaseStatus.OPEN, (event(Event.REOPENED),))),
        (
            CaseStatus.OBSOLETE,
            CHANGES,
            Recomputed(
                CaseStatus.OPEN,
                (event(Event.REOPENED), event(Event.UPDATED, changes=CHANGES)),
            ),
        ),
    ],
)
def test_what_a_recomputation_that_finds_the_case_does(
    status: CaseStatus, changes: list[dict[str, Any]], expected: Recomputed
) -> None:
    assert found(status, changes) == expected


@pytest.mark.parametrize(
    ("status", "closes"),
    [
        (CaseStatus.OPEN, False),
        (CaseStatus.IN_COORDINATION, False),
        (CaseStatus.PROPOSED, True),
        (CaseStatus.AGREED, True),
    ],
)
def test_a_vanished_case_becomes_obsolete(status: CaseStatus, closes: bool) -> None:
    assert vanished(status, project_deleted(3)) == Recomputed(
        CaseStatus.OBSOLETE,
        (event(Event.OBSOLETED, reason={"code": "project_deleted", "project": 3}),),
        close_decision=closes,
    )


def test_an_obsolete_case_that_stays_away_is_left_alone() -> None:
    assert vanished(CaseStatus.OBSOLETE, OBSOLETE_RULE) == Recomputed()


def test_changes_name_the_geometry_only_when_no_measure_changed() -> None:
    before = {
        "relation": "synergy",
        "severity": "medium",
        "geometry": b"old",
        "measures": {"overlap_area_m2": 12.0},
        "organisations": [BOTTROP],
        "departments": [],
        "message": {"en": "a"},
        "window_start": "2026-03-01",
        "window_end": None,
    }
    moved = before | {"geometry": b"new"}
    assert describe_changes(before, moved) == [{"field": "geometry"}]
    grown = moved | {"measures": {"overlap_area_m2": 13.0}}
    assert describe_changes(before, grown) == [
        {"measure": "overlap_area_m2", "from": 12.0, "to": 13.0}
    ]
    assert describe_changes(before, dict(before)) == []


# -- wording ------------------------------------------------------------------------------

NAMES = {BOTTROP: ("Stadt Bottrop", "City of Bottrop")}
PEOPLE = {"anna": "Anna Berg"}


def words(value: str, lang: Lang) -> str:
    """As the service words them: organisations by name, the desk's values by label."""
    if value in NAMES:
        return NAMES[value][1] if lang == "en" else NAMES[value][0]
    return desk_word(value, lang)


GROWN = [{"measure": "overlap_area_m2", "from": 12.0, "to": 18.5}]

WORDING: list[tuple[HistoryEvent, str, str]] = [
    (event(Event.CREATED), "Fall erkannt", "case detected"),
    (
        event(Event.UPDATED, changes=GROWN),
        "neu berechnet: Überlappung 12,0 → 18,5 m²",
        "recomputed: overlap 12.0 → 18.5 m²",
    ),
    (event(Event.UPDATED, changes=[]), "neu berechnet: –", "recomputed: –"),
    (
        event(Event.REOPENED),
        "wieder offen: die Regel trifft wieder zu",
        "reopened: the rule applies again",
    ),
    (
        event(Event.OBSOLETED, reason=OBSOLETE_RULE),
        "gegenstandslos: die Regel trifft auf dieses Paar nicht mehr zu",
        "obsolete: the rule no longer applies to this pair",
    ),
    (
        event(Event.OBSOLETED, reason=project_deleted(3)),
        "gegenstandslos: Maßnahme 3 wurde gelöscht",
        "obsolete: project 3 was deleted",
    ),
    (
        event(Event.STATUS_CHANGED, **{"from": "open", "to": "in_coordination"}),
        "Status offen → in Abstimmung",
        "status open → in coordination",
    ),
    (
        event(Event.STATUS_CHANGED, **{"from": "open", "to": "dismissed", "reason": "x"}),
        "Status offen → verworfen: x",
        "status open → dismissed: x",
    ),
    (event(Event.COMMENTED, comment=4), "Kommentar geschrieben", "comment written"),
    (
        event(Event.ASSIGNED, assignee="anna", previous=None),
        "zugewiesen an Anna Berg",
        "assigned to Anna Berg",
    ),
    (
        event(Event.ASSIGNED, assignee=None, previous="anna"),
        "zugewiesen an niemanden",
        "assigned to nobody",
    ),
    (
        event(Event.DUE_SET, due="2026-01-05", previous=None),
        "Frist 05.01.2026",
        "due date 2026-01-05",
    ),
    (
        event(Event.DUE_SET, due=None, previous="2026-01-05"),
        "Frist nach den Startterminen",
        "due date from the start dates",
    ),
    (
        event(Event.PROPOSED, kind="bundle_works", text="Gemeinsam bauen"),
        "Entscheidung vorgeschlagen: Arbeiten bündeln – Gemeinsam bauen",
        "decision proposed: bundle the works – Gemeinsam bauen",
    ),
    (event(Event.WITHDRAWN, decision=7), "Vorschlag zurückgezogen", "proposal withdrawn"),
    (
        event(Event.VOTED, decision=7, organisation=BOTTROP, choice="agree", reason=""),
        "Stadt Bottrop: stimmt zu",
        "City of Bottrop: agrees",
    ),
    (
        event(Event.VOTED, decision=7, organisation=EMSCHER, choice="object", reason="erst 2027"),
        "emschergenossenschaft: erhebt Einwand – erst 2027",
        "emschergenossenschaft: objects – erst 2027",
    ),
    (
        event(Event.AGREED, decision=7),
        "vereinbart: alle beteiligten Organisationen haben zugestimmt",
        "agreed: every organisation involved agreed",
    ),
    (
        event(Event.SENT_BACK, decision=7, organisation=BOTTROP),
        "zurück zum Vorschlag: Einwand von Stadt Bottrop",
        "back to proposal: objection by City of Bottrop",
    ),
    (
        event(Event.REOPENED_AFTER_CHANGE, changes=GROWN, **{"from": "agreed"}),
        "wieder offen, weil sich ein Beteiligter geändert hat: Überlappung 12,0 → 18,5 m²",
        "reopened because a subject changed: overlap 12.0 → 18.5 m²",
    ),
    (
        event(Event.LEGACY, text="updated: severity low → high"),
        "updated: severity low → high",
        "updated: severity low → high",
    ),
]


def test_every_event_kind_has_its_wording_tested() -> None:
    assert {e.kind for e, _, _ in WORDING} == set(Event)


@pytest.mark.parametrize(
    ("stored", "de", "en"),
    WORDING,
    ids=[f"{e.kind.value}-{i}" for i, (e, _, _) in enumerate(WORDING)],
)
def test_events_are_worded_in_the_readers_language(stored: HistoryEvent, de: str, en: str) -> None:
    assert word_event(stored, "de", words, PEOPLE.__getitem__) == de
    assert word_event(stored, "en", words, PEOPLE.__getitem__) == en
    # As stored and read back, the same.
    again = HistoryEvent.stored(stored.kind.value, stored.details_json())
    assert again == stored


@pytest.mark.parametrize(
    ("change", "de", "en"),
    [
        (
            {"measure": "overlap_area_m2", "from": 1234567.891, "to": 0.5},
            "Überlappung 1\u2009234\u2009567,89 → 0,5 m²",
            "overlap 1,234,567.89 → 0.5 m²",
        ),
        (
            {"measure": "overlap_days", "from": 92, "to": None},
            "zeitliche Überschneidung 92 → – Tage",
            "time overlap 92 → – days",
        ),
        (
            {"measure": "gap_months", "from": None, "to": 3},
            "zeitlicher Abstand – → 3 Monate",
            "time gap – → 3 months",
        ),
        (
            {"measure": "distance_m", "from": 4.0, "to": 12.25},
            "Abstand 4,0 → 12,25 m",
            "distance 4.0 → 12.25 m",
        ),
        ({"measure": "crossings", "from": 1, "to": 2}, "crossings 1 → 2", "crossings 1 → 2"),
        (
            {"field": "window", "from": ["2026-03-01", "2027-06-30"], "to": [None, "2027-12-31"]},
            "Zeitraum 01.03.2026 – 30.06.2027 → offen – 31.12.2027",
            "period 2026-03-01 – 2027-06-30 → open – 2027-12-31",
        ),
        (
            {"field": "departments", "from": [], "to": ["gruen", "strassenbau"]},
            "Fachbereiche keine → gruen, strassenbau",
            "departments none → gruen, strassenbau",
        ),
        ({"field": "geometry"}, "Überlappungsfläche", "overlap geometry"),
        ({"field": "message"}, "Meldung", "message"),
    ],
)
def test_changes_in_german_and_english_numbers_and_dates(
    change: dict[str, Any], de: str, en: str
) -> None:
    assert word_change(change, "de") == de
    assert word_change(change, "en") == en


@pytest.mark.parametrize(
    ("reason", "de", "en"),
    [
        (
            OBSOLETE_RULE,
            "die Regel trifft auf dieses Paar nicht mehr zu",
            "the rule no longer applies to this pair",
        ),
        (project_deleted(12), "Maßnahme 12 wurde gelöscht", "project 12 was deleted"),
        # Free text of an older store, as it is.
        ({"code": "text", "text": "Straße gesperrt"}, "Straße gesperrt", "Straße gesperrt"),
        ({}, "", ""),
    ],
)
def test_reasons_in_words(reason: dict[str, Any], de: str, en: str) -> None:
    assert (word_reason(reason, "de"), word_reason(reason, "en")) == (de, en)
