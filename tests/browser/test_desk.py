"""The coordination desk in the real browser (issue 12, items 1–3 and 8): two people of
two organisations, at two desks, take one case from detection through assignment and
proposal to agreement; their inboxes tell each what is new."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import ADMIN_ACTOR, LiveServer, PageGuard, ensure_account, sign_in
from tests.conftest import VALID_FEATURE
from tests.smtp_server import SmtpServer
from zugabe.web import create_app
from zugabe.web.background import BackgroundServer

VIEW = "#17/51.54085/7.21350"


def shared_case(server: LiveServer) -> int:
    """A Herne road and a Bochum sewer in one street: their one synergy case."""
    services = server.services
    road = copy.deepcopy(VALID_FEATURE)
    services.projects.create(road, ADMIN_ACTOR)
    sewer = copy.deepcopy(VALID_FEATURE)
    sewer["properties"] |= {
        "title": "Kanal Bahnhofstraße",
        "organisation": "bochum",
        "department": "drainage",
        "measure_type": "sewer_rehabilitation",
    }
    created = services.projects.create(sewer, ADMIN_ACTOR)
    [case] = [
        c
        for c in services.cases.of_project(created.id)
        if c.finding.rule_id == "road_works_sewer_bundle"
    ]
    return case.id


def open_desk(page: Page, server: LiveServer, username: str) -> None:
    sign_in(page, server, username, next=f"/{VIEW}")
    expect(page.locator("#panel")).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-loading", "false")


@pytest.fixture
def mail_server(tmp_path: Path, smtp: SmtpServer) -> Iterator[LiveServer]:
    """The app on an empty store, sending its mail to the test's SMTP server."""
    settings = {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "mail_from": "zugabe@example.org",
        "public_url": "https://zugabe.example.org",
    }
    app = create_app({"instance_path": tmp_path / "instance", **settings})
    running = BackgroundServer.start(app)
    try:
        yield LiveServer(running.url, app.extensions["zugabe"], tmp_path / "instance")
    finally:
        running.stop()
        app.extensions["zugabe"].close()


def test_two_organisations_agree_on_one_case(
    mail_server: LiveServer, smtp: SmtpServer, page: Page, new_page: object
) -> None:
    live_server = mail_server
    case_id = shared_case(live_server)
    ensure_account(live_server, "b.planner")  # the person the case is given to
    herne = page
    open_desk(herne, live_server, "h.coordinator")
    bochum = new_page()  # type: ignore[operator]
    open_desk(bochum, live_server, "b.coordinator")

    # Both see the new case in their inbox; the header counts it.
    for desk in (herne, bochum):
        expect(desk.locator("#inbox-count")).to_have_text("1 neu")
    herne.click("#inbox-count")
    item = herne.locator(f"#inbox-list li[data-case-id='{case_id}']")
    expect(item).to_be_visible()
    item.click()
    expect(herne.locator("#case-detail")).to_be_visible()
    expect(herne.locator("#inbox-count")).to_be_hidden()  # seen now
    # Both subjects by name, and whom to talk to about each (issue 12, items 5 and 6).
    expect(herne.locator("#case-data .subjects .subject-0")).to_have_text(
        "Fahrbahnerneuerung Bahnhofstraße"
    )
    expect(herne.locator("#case-data .subjects .subject-1")).to_have_text("Kanal Bahnhofstraße")
    expect(herne.locator("#case-work .contacts")).to_contain_text(
        "Fahrbahnerneuerung Bahnhofstraße: Stadt Herne, Straßenbau/Tiefbau, Tiefbauamt Herne"
    )

    # Herne's coordinator gives it to Bochum's planner and proposes to bundle the works.
    expect(herne.locator("#case-assignee-select option")).not_to_have_count(1)
    herne.select_option("#case-assignee-select", "b.planner")
    herne.click("#case-assign")
    expect(herne.locator("#case-assignee")).to_have_text("Björn Planer")
    expect(herne.locator("#case-data")).to_contain_text("in Abstimmung")
    proposal = herne.locator("#case-proposal")
    proposal.locator("select[name=kind]").select_option("bundle_works")
    proposal.locator("textarea[name=text]").fill("Kanal zuerst, dann die Fahrbahn, eine Baustelle.")
    proposal.locator("textarea[name=measures]").fill(
        "gemeinsame Ausschreibung\neine Verkehrsführung"
    )
    proposal.locator("button[type=submit]").click()
    decision = herne.locator("#case-work .decision")
    expect(decision).to_contain_text("Arbeiten bündeln · wartet auf Stimmen")
    expect(decision).to_contain_text("wartet auf: Stadt Bochum, Stadt Herne")
    herne.click("#case-agree")
    expect(decision).to_contain_text("Stadt Herne: stimmt zu (Jörg Koordinator")
    expect(decision).to_contain_text("wartet auf: Stadt Bochum")
    expect(herne.locator("#case-agree")).to_have_count(0)  # one organisation, one vote

    # At Bochum's desk the case waits for their vote.
    bochum.reload()
    expect(bochum.locator("#inbox-count")).to_have_text("1 neu")
    bochum.click("#inbox-count")
    # The inbox's filters: a relation the case is not of leaves it out.
    bochum.select_option("#inbox-relation", "conflict")
    expect(bochum.locator(f"#inbox-list li[data-case-id='{case_id}']")).to_have_count(0)
    bochum.select_option("#inbox-relation", "synergy")
    expect(bochum.locator(f"#inbox-list li[data-case-id='{case_id}']")).to_have_count(1)
    bochum.check("#inbox-waiting")
    waiting = bochum.locator("#inbox-list li")
    expect(waiting).to_have_count(1)
    waiting.first.click()
    expect(bochum.locator("#case-work .decision")).to_contain_text("Kanal zuerst")
    bochum.fill("#case-vote-reason", "Einverstanden, Ausschreibung im Frühjahr.")
    bochum.click("#case-agree")
    expect(bochum.locator("#case-data")).to_contain_text("vereinbart")
    record = bochum.locator("#case-work .decision")
    expect(record).to_contain_text("Arbeiten bündeln · vereinbart")
    expect(record).to_contain_text("Stadt Bochum: stimmt zu (Birgit Koordinatorin")
    expect(bochum.locator("#case-history")).to_contain_text(
        "vereinbart: alle beteiligten Organisationen haben zugestimmt"
    )
    expect(bochum.locator("#case-proposal")).to_have_count(0)  # agreed: frozen
    expect(bochum.locator("#inbox-list li")).to_have_count(0)  # no longer waiting

    # Herne sees Bochum's vote as new.
    herne.reload()
    expect(herne.locator("#inbox-count")).to_have_text("1 neu")
    stored = live_server.services.cases.get(ADMIN_ACTOR, case_id)
    assert stored.status.value == "agreed"
    assert [v.organisation for v in stored.decisions[-1].votes] == ["herne", "bochum"]

    # The e-mails arrive: the assignment, the request to agree, the votes and the agreement.
    live_server.services.mail.deliver_due(datetime.now(UTC))
    arrived: dict[str, list[str]] = {}
    for mail in smtp.received:
        for to in mail.recipients:
            body = mail.message.get_body(("plain",))
            text = body.get_content() if body is not None else ""
            arrived.setdefault(to, []).append(f"{mail.message['Subject']}\n{text}")
    assert any(
        f"Koordinierungsfall {case_id} zugewiesen" in s for s in arrived["b.planner@example.org"]
    )
    assert any("Bitte um Zustimmung" in s for s in arrived["b.coordinator@example.org"])
    # Bochum's vote and the agreement it made, in one mail to Herne's coordinator.
    assert any(
        "Stadt Bochum stimmt zu" in s and f"Fall {case_id} vereinbart" in s
        for s in arrived["h.coordinator@example.org"]
    )
    assert all(s.startswith("ZUGABE") for subjects in arrived.values() for s in subjects)


def test_an_objection_needs_a_reason_and_sends_the_proposal_back(
    live_server: LiveServer, page: Page, page_guard: PageGuard
) -> None:
    page_guard.allow_console_error(r"status of 422")
    case_id = shared_case(live_server)
    live_server.services.desk.propose(
        case_id, "shared_trench", "Ein Graben.", [], ADMIN_ACTOR, None
    )
    open_desk(page, live_server, "b.coordinator")
    page.click("#inbox-count")
    page.locator(f"#inbox-list li[data-case-id='{case_id}']").click()
    page.click("#case-object")
    # The refusal stands right below the vote's controls.
    error = page.locator("#case-work .vote + #case-work-error")
    expect(error).to_have_text(
        "Ein Einwand braucht eine Begründung. Bitte sagen, was sich am Vorschlag ändern soll."
    )
    page.fill("#case-vote-reason", "Erst 2028.")
    page.click("#case-object")
    expect(page.locator("#case-data")).to_contain_text("in Abstimmung")
    expect(page.locator("#case-history")).to_contain_text(
        "zurück zum Vorschlag: Einwand von Stadt Bochum"
    )
    expect(page.locator("#case-proposal")).to_be_visible()  # a new proposal may follow


def test_a_cases_address_opens_it_on_the_map(live_server: LiveServer, page: Page) -> None:
    case_id = shared_case(live_server)
    sign_in(page, live_server, "b.coordinator", next=f"/#case={case_id}")
    expect(page.locator("#case-detail")).to_be_visible()
    expect(page.locator("#case-title")).to_contain_text(f"Fall {case_id}")
    expect(page.locator("#inbox-count")).to_be_hidden()  # opened, so seen


def test_a_late_answer_does_not_replace_the_filtered_inbox(
    live_server: LiveServer, page: Page
) -> None:
    """Opening the inbox asks for it, and a filter chosen at once asks again: on a slow
    connection the first answer may come last, and must not bring back what the filter
    leaves out (it did, in a clone's test run)."""
    case_id = shared_case(live_server)  # a synergy
    open_desk(page, live_server, "b.coordinator")
    expect(page.locator("#inbox-count")).to_have_text("1 neu")
    held: list[Route] = []
    page.route(
        lambda url: "/api/inbox?" in url and "relation=" not in url,
        lambda route: held.append(route),
    )
    page.click("#inbox-count")  # opens the inbox, which asks for its list: held back
    while not held:
        page.wait_for_timeout(20)
    page.select_option("#inbox-relation", "conflict")
    expect(page.locator("#inbox-summary")).to_have_text("0 Fälle, 1 neu")
    with page.expect_response(lambda response: response.request == held[0].request):
        held[0].continue_()  # the unfiltered list, now
    page.wait_for_timeout(300)  # its answer handled
    expect(page.locator("#inbox-summary")).to_have_text("0 Fälle, 1 neu")
    expect(page.locator(f"#inbox-list li[data-case-id='{case_id}']")).to_have_count(0)
