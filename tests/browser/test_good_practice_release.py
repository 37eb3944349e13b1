"""The good-practice release in the real browser (issue 15, item 2): a Herne planner
proposes a finished project with a photo, the coordinators of Herne and Bochum — the two
organisations whose agreed synergy it realised — each agree at their own desk, and the
example appears on the public page, read without an account."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN_ACTOR, LiveServer, ensure_account, sign_in
from tests.conftest import VALID_FEATURE
from zugabe.domain.accounts import Actor
from zugabe.io.photos import demo_photo

TITLE = "Bahnhofstraße: Kanal und Fahrbahn in einem Zug"


def finished_with_agreed_synergy(server: LiveServer) -> int:
    """A Herne road renewal beside a Bochum sewer, their synergy agreed by both coordinators,
    the road works finished since: the project to propose."""
    services = server.services
    window = {"status": "under_construction", "start": "2026-03-01", "end": "2026-10-31"}
    road = copy.deepcopy(VALID_FEATURE)
    road["properties"] |= window
    project = services.projects.create(road, ADMIN_ACTOR)
    sewer = copy.deepcopy(VALID_FEATURE)
    sewer["properties"] |= window | {
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
    services.desk.propose(case.id, "bundle_works", "Straße einmal öffnen.", [], ADMIN_ACTOR, None)
    for username in ("h.coordinator", "b.coordinator"):
        ensure_account(server, username)
        account = services.store.find_account(username)
        assert account is not None
        services.desk.vote(case.id, "agree", "", Actor.of(account, via="cli", address=None))
    done = {"properties": {"status": "done"}}
    services.projects.patch(project.id, done, ADMIN_ACTOR, None)
    return project.id


def agree(page: Page, server: LiveServer, username: str, example: str, waiting: str) -> None:
    sign_in(page, server, username, next=f"/good-practice/{example}/review")
    page.get_by_role("button", name="Zustimmen").click()
    expect(page.locator("[data-waiting]")).to_have_text(waiting)


def test_two_organisations_release_an_example_that_the_public_then_sees(
    page: Page, new_page: Callable[[], Page], live_server: LiveServer, tmp_path: Path
) -> None:
    project = finished_with_agreed_synergy(live_server)
    photo = tmp_path / "mulde.jpg"
    photo.write_bytes(demo_photo(3, "Mulde"))

    sign_in(page, live_server, "h.planner")  # the map's header links proposing
    page.get_by_role("link", name="Vorschlagen").click()
    page.wait_for_url(f"{live_server.url}/good-practice/propose")
    page.fill("input[name=project_id]", str(project))
    page.fill("input[name=title]", TITLE)
    page.fill("textarea[name=description]", "Die Straße wurde nur einmal geöffnet.")
    page.fill("input[name=costs_eur]", "1250000")
    page.fill("textarea[name=lessons]", "Früh gemeinsam ausschreiben.")
    page.select_option("select[name=tags]", ["road_renewal", "sewer_rehabilitation"])
    page.set_input_files("input[name=file]", str(photo))
    page.fill("input[name=caption]", "Mulde am Straßenrand")
    page.get_by_role("button", name="Vorschlagen").click()
    page.wait_for_url("**/good-practice/*/review")
    example = page.url.rsplit("/", 2)[-2]
    expect(page.locator("[data-state]")).to_have_text("proposed")
    expect(page.locator("[data-waiting]")).to_have_text("bochum, herne")
    expect(page.locator(".photos figcaption")).to_have_text("Mulde am Straßenrand")

    public = new_page()  # nobody signed in
    public.goto(f"{live_server.url}/good-practice")
    expect(public.locator("ul.examples")).not_to_contain_text(TITLE)

    agree(new_page(), live_server, "h.coordinator", example, "bochum")
    public.reload()
    expect(public.locator("ul.examples")).not_to_contain_text(TITLE)
    agree(new_page(), live_server, "b.coordinator", example, "–")

    public.goto(f"{live_server.url}/good-practice")
    expect(public.locator("ul.examples")).to_contain_text(TITLE)
    expect(public.locator("#gp-map")).to_have_attribute("data-loaded", "1")
    public.get_by_role("link", name=TITLE).click()
    expect(public.locator("h1")).to_have_text(TITLE)
    expect(public.locator(".photos img")).to_have_js_property("naturalWidth", 360)
    expect(public.locator("table.facts")).to_contain_text("Früh gemeinsam ausschreiben.")
    expect(public.locator("table.facts")).to_contain_text("Stadt Bochum")

    viewer = new_page()  # may read, not propose: the map links the public page only
    sign_in(viewer, live_server, "h.viewer")
    expect(viewer.locator("#account-name")).to_be_visible()
    expect(viewer.locator("#good-practice-propose")).to_be_hidden()
    viewer.get_by_role("link", name="Gute Beispiele").click()
    viewer.wait_for_url(f"{live_server.url}/good-practice")
    expect(viewer.locator("ul.examples")).to_contain_text(TITLE)


def test_the_map_popup_shows_user_text_as_text(page: Page, live_server: LiveServer) -> None:
    """A title made of markup is shown as those characters in the marker's popup."""
    services = live_server.services
    project = copy.deepcopy(VALID_FEATURE)
    project["properties"] |= {"status": "done", "title": "Mulde"}
    created = services.projects.create(project, ADMIN_ACTOR)
    evil = '<img src="/x-injected" onerror="document.title=1">Mulde'
    body = {"title": evil, "description": "<b>fett</b>"}
    example = services.good_practice.propose(created.id, body, ADMIN_ACTOR)
    ensure_account(live_server, "h.coordinator")
    account = services.store.find_account("h.coordinator")
    assert account is not None
    coordinator = Actor.of(account, via="cli", address=None)
    assert services.good_practice.vote(example.id, "agree", "", coordinator).public

    page.goto(f"{live_server.url}/good-practice?lang=en")
    expect(page.locator("#gp-map")).to_have_attribute("data-loaded", "1")
    page.locator(".leaflet-marker-icon").click()
    popup = page.locator(".leaflet-popup-content")
    expect(popup.locator("a")).to_have_text(evil)
    expect(page.locator("img[src='/x-injected']")).to_have_count(0)
    expect(page.locator("ul.examples")).to_contain_text("<b>fett</b>")
