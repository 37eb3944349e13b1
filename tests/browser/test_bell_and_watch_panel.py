"""The bell and the watch panel in chromium: the unread count, a notification opening its
project, a link from a mail opening its case, and choosing what to watch with the mouse."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN_ACTOR, LiveServer, ensure_account
from tests.browser.test_webmap import idle, map_point, open_map
from tests.conftest import feature
from zugabe.domain.accounts import Actor
from zugabe.domain.notifications import MailMode
from zugabe.storage.contract import CaseQuery

BRUECKENFELD = "#15/51.5200/7.2100"
STREET = {"type": "LineString", "coordinates": [[7.205, 51.52], [7.21, 51.521]]}
XSS = "<img src=x onerror=alert(1)>"


def _viewer(server: LiveServer) -> Actor:
    ensure_account(server, "h.viewer")
    account = server.services.store.find_account("h.viewer")
    assert account is not None
    return Actor.of(account, via="cli", address=None)


def test_the_bell_counts_and_a_notification_opens_its_project(
    page: Page, demo_server: LiveServer
) -> None:
    services = demo_server.services
    services.notifications.save_subscriptions(
        _viewer(demo_server), {"organisations": ["herne"], "mail": "off"}
    )
    project = services.projects.create(feature(STREET, title=XSS), ADMIN_ACTOR)
    unread = services.store.count_notifications("h.viewer", unread=True)
    assert unread >= 1  # the project, and the cases it brought
    open_map(page, demo_server, "h.viewer", BRUECKENFELD)
    expect(page.locator("#bell-count")).to_have_text(str(unread))
    page.click("#bell")
    items = page.locator("#notification-list .notification")
    expect(items).to_have_count(unread)
    oldest = items.last  # the project came before its cases
    expect(oldest).to_contain_text(f"Neue Maßnahme {project.id}: {XSS}")  # as text
    oldest.click()
    idle(page)
    expect(page.locator("#project-title")).to_have_text(XSS)
    expect(page.locator("#bell-count")).to_have_text(str(unread - 1))
    page.click("#notifications-read-all")
    expect(page.locator("#bell-count")).to_have_text("0")


def test_a_link_from_a_mail_opens_its_case(page: Page, demo_server: LiveServer) -> None:
    case = demo_server.services.store.list_cases(CaseQuery(limit=1))[0]
    open_map(page, demo_server, "h.viewer", f"#case={case.id}")
    expect(page.locator("#case-detail")).to_be_visible()
    expect(page.locator("#case-title")).to_contain_text(f"Fall {case.id}")


def test_the_watch_panel_chooses_a_district_an_area_and_the_mail(
    page: Page, demo_server: LiveServer
) -> None:
    open_map(page, demo_server, "h.viewer", BRUECKENFELD)
    page.click("#watch summary")
    page.check("#watch-districts input[value='05916000-01']")
    page.check("#watch-organisations input[value='bochum']")
    page.check("#watch-layers input[value='trees']")
    page.click("#watch-draw-area")
    corners = [(7.205, 51.518), (7.212, 51.518), (7.212, 51.523)]
    for lon, lat in corners:
        x, y = map_point(page, lon, lat)
        page.mouse.move(x, y, steps=4)
        page.mouse.click(x, y)
        page.wait_for_timeout(200)
    page.locator(".leaflet-editing-icon").first.click()  # back at the first corner: done
    expect(page.locator("#watch-area-state")).to_have_text("Gebiet gezeichnet")
    expect(page.locator("#project-form")).to_be_hidden()  # not a new project's draft
    page.select_option("#watch-mail", "daily")
    page.select_option("#watch-language", "en")
    page.click("#watch-save")
    expect(page.locator("#watch-status")).to_have_text("Gespeichert.")
    chosen = demo_server.services.store.get_subscriptions("h.viewer")
    assert chosen is not None
    assert chosen.districts == ("05916000-01",)
    assert chosen.organisations == ("bochum",) and chosen.layers == ("trees",)
    assert chosen.mail is MailMode.DAILY and chosen.language == "en"
    assert chosen.area is not None and 100_000 < chosen.area.area < 170_000  # m²
