"""The web map in chromium: what a planner and a reviewer do, with the mouse.

Every test signs in first (a herne planner draws and edits herne projects, a herne
coordinator reviews cases; see ``ACCOUNTS`` in ``conftest.py``), runs with the network
cut and fails on a console or JavaScript error; a 412 or 422 answer is provoked on purpose
where a test says so. What each role is offered, and what is refused, is tested in
``test_accounts.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    ADMIN_ACTOR,
    LiveServer,
    PageGuard,
    add_account,
    sign_in,
)
from tests.conftest import VALID_FEATURE
from zugabe.domain.accounts import Role
from zugabe.domain.palette import DEPARTMENT_COLORS, RELATION_COLORS
from zugabe.domain.project import ProjectAttributes
from zugabe.services.cases import parse_case_query
from zugabe.services.projects import ProjectFilter
from zugabe.web import create_app
from zugabe.web.background import BackgroundServer

# A road renewal in Herne (lon/lat); the view below is centred on it.
ROAD = VALID_FEATURE
VIEW = "#17/51.54085/7.21350"
XSS = "<img src=x onerror=alert(1)>"


def rgb(color: str) -> str:
    """A ``#rrggbb`` colour as the browser's computed style writes it."""
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def open_map(page: Page, server: LiveServer, username: str, view: str = "") -> None:
    """Sign in as ``username`` and open the map (at ``view``, ``#zoom/lat/lon``), loaded."""
    sign_in(page, server, username, next="/" + view)
    idle(page)


def idle(page: Page) -> None:
    """Wait until every request the map started has been answered and drawn.

    (Not ``wait_for_function``: Playwright evaluates its string with ``eval``, which the
    page's Content-Security-Policy forbids.)
    """
    expect(page.locator("body")).to_have_attribute("data-loading", "false")


def map_point(page: Page, lon: float, lat: float) -> tuple[float, float]:
    """Where (lon, lat) is on the screen: Leaflet's own projection of the folium map."""
    x, y = page.evaluate(
        """([lon, lat]) => {
            const map = window[Object.keys(window).find((k) => /^map_[0-9a-f]+$/.test(k))];
            const p = map.latLngToContainerPoint([lat, lon]);
            const box = map.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""",
        [lon, lat],
    )
    return x, y


def draw_polygon(page: Page, corners: list[tuple[float, float]]) -> None:
    """Click the corners with the polygon tool, then "Fertig", as a planner does.

    Leaflet.draw now and then ignores a click (its pointer marker has not caught up with
    the pointer); like a planner, the test clicks again when no vertex appeared.
    """
    page.click("a.leaflet-draw-draw-polygon")
    vertices = page.locator(".leaflet-editing-icon")
    for placed, (lon, lat) in enumerate(corners, start=1):
        x, y = map_point(page, lon, lat)
        for _attempt in range(3):
            page.mouse.move(x, y, steps=4)
            page.mouse.click(x, y)
            page.wait_for_timeout(150)  # a planner's pace: quicker clicks count as one
            if vertices.count() == placed:
                break
        expect(vertices).to_have_count(placed)
    page.locator(".leaflet-draw-actions a").first.click()  # "Fertig"


def fill_form(page: Page, **values: str) -> None:
    form = page.locator("#project-form")
    for name in ("organisation", "department", "measure_type", "status"):
        if name in values:
            form.locator(f"select[name={name}]").select_option(values[name])
    for name in ("title", "start", "end", "contact", "cost_eur", "description"):
        if name in values:
            form.locator(f"[name={name}]").fill(values[name])


def store_titles(server: LiveServer) -> list[str]:
    page = server.services.projects.list(ADMIN_ACTOR, ProjectFilter(), limit=100)
    return sorted(p.attributes.title for p in page.projects)


def add_road(server: LiveServer, **properties: Any) -> int:
    doc = copy.deepcopy(ROAD)
    doc["properties"].update(properties)
    return server.services.projects.create(doc, ADMIN_ACTOR).id


# --------------------------------------------------------------------------- tests


def test_the_demo_town_opens_with_its_projects_and_base_layers(
    demo_server: LiveServer, page: Page
) -> None:
    open_map(page, demo_server, "h.viewer")  # reading needs any role
    expect(page.locator("#account-name")).to_have_text("Vera Leser")
    expect(page.locator("#project-count")).to_have_text("150 Maßnahmen im Ausschnitt")
    # No base map configured: districts and streets are the background, switched on.
    expect(page.locator("#layer-districts")).to_be_checked()
    expect(page.locator("#layer-streets")).to_be_checked()
    assert page.locator(".leaflet-overlay-pane canvas").count() >= 1
    # The legend shows the palette the server sent with the vocabulary.
    swatches = page.locator("#legend-departments .swatch")
    for index, color in enumerate(DEPARTMENT_COLORS):
        expect(swatches.nth(index)).to_have_css("background-color", rgb(color))
    expect(page.locator("#legend-relations .swatch").first).to_have_css(
        "border-left-color", rgb(RELATION_COLORS["conflict"])
    )
    # Filtering asks the server again: the drainage department's projects only.
    page.select_option("#filter-department", "drainage")
    idle(page)
    drainage = demo_server.services.projects.list(
        ADMIN_ACTOR, ProjectFilter(departments=("drainage",))
    )
    expect(page.locator("#project-count")).to_contain_text(f"{drainage.number_matched} ")
    assert drainage.number_matched < 150


def test_draw_save_see_cases_review_edit_and_delete(
    live_server: LiveServer, page: Page, new_page: Callable[[], Page]
) -> None:
    road_id = add_road(live_server)
    open_map(page, live_server, "h.planner", VIEW)
    page.on("dialog", lambda dialog: dialog.accept())
    expect(page.locator("#account-name")).to_have_text("Hanna Müller")
    # Draw a sewer renewal over the road, fill the form, save.
    draw_polygon(page, [(7.2125, 51.5403), (7.2145, 51.5403), (7.2145, 51.5413), (7.2125, 51.5413)])
    expect(page.locator("#project-form")).to_be_visible()
    expect(page.locator("#form-title")).to_have_text("Neue Maßnahme")
    # The form starts at the planner's organisation and first department.
    expect(page.locator("#project-form select[name=organisation]")).to_have_value("herne")
    expect(page.locator("#project-form select[name=department]")).to_have_value("roads")
    fill_form(
        page,
        title="Kanalsanierung Bahnhofstraße",
        organisation="herne",
        department="drainage",
        measure_type="sewer_rehabilitation",
        start="2027-05-01",
        end="2027-10-31",
    )
    page.click("#save")
    expect(page.locator("#project-title")).to_have_text("Kanalsanierung Bahnhofstraße")
    expect(page.locator("#project-data")).to_contain_text("von h.planner")
    # The cases the server found are listed at once: bundle the works with the road.
    cases = page.locator("#cases li.case")
    expect(cases.first).to_be_visible()
    expect(page.locator("#cases")).to_contain_text("Synergie")
    # The message says which cases the save brought (issue 12, item 6).
    expect(page.locator("#message-text")).to_contain_text("Neue Fälle: Synergie „")
    [sewer] = [
        p
        for p in live_server.services.projects.list(ADMIN_ACTOR, ProjectFilter(), limit=10).projects
        if p.id != road_id
    ]
    assert sewer.geometry.geom_type == "Polygon"
    assert sewer.created_by == "h.planner"
    stored_cases = live_server.services.cases.of_project(sewer.id)
    assert cases.count() == len(stored_cases) >= 1
    # Its fact sheet (a printable report) is one click away.
    sheet = page.locator("#fact-sheet")
    expect(sheet).to_have_attribute("href", f"/reports/projects/{sewer.id}?lang=de")

    # The planner comments on the case; its status is the coordinator's.
    bundle = page.locator("#cases li.case.synergy").first
    expect(bundle).to_have_css("border-left-color", rgb(RELATION_COLORS["synergy"]))
    case_id = int(bundle.get_attribute("data-case-id") or 0)
    bundle.click()
    expect(page.locator("#case-detail")).to_be_visible()
    expect(page.locator("#case-review")).to_be_hidden()
    # Its measures in German number format, those that are zero left out (issue 12, item 6).
    measures = live_server.services.cases.get(ADMIN_ACTOR, case_id).finding.measures
    shown = {k: v for k, v in measures.items() if isinstance(v, int | float) and v}
    assert shown and len(shown) < len(measures)
    for value in shown.values():
        expect(page.locator("#case-data")).to_contain_text(german_number(value))
    expect(page.locator("#case-data")).not_to_contain_text("Abstand (m)")  # they meet: 0 m
    page.fill("#case-comment", "Termin mit dem Tiefbauamt am 12. März.")
    page.click("#case-comment-save")
    # Histories name people by their display name.
    expect(page.locator("#case-comments")).to_contain_text(
        "Hanna Müller: Termin mit dem Tiefbauamt am 12. März."
    )

    # The coordinator, at another desk, sets the case in coordination.
    desk = new_page()
    open_map(desk, live_server, "h.coordinator", VIEW)
    expect(desk.locator(".leaflet-draw")).to_have_count(0)  # no planner: no drawing tools
    desk.evaluate(f"ZugabeMap.showProject({sewer.id})")
    expect(desk.locator("#project-title")).to_have_text("Kanalsanierung Bahnhofstraße")
    expect(desk.locator("#edit")).to_be_hidden()
    desk.locator(f"#cases li.case[data-case-id='{case_id}']").click()
    expect(desk.locator("#case-comments")).to_contain_text("Termin mit dem Tiefbauamt")
    desk.select_option("#case-status", "in_coordination")
    desk.click("#case-status-save")
    expect(desk.locator("#case-data")).to_contain_text("in Abstimmung")
    expect(desk.locator("#case-history")).to_contain_text("Jörg Koordinator")
    assert live_server.services.cases.get(ADMIN_ACTOR, case_id).status.value == "in_coordination"

    # Back at the planner's desk: edit the attributes.
    page.click("#edit")
    expect(page.locator("#form-title")).to_have_text("Maßnahme bearbeiten")
    fill_form(page, title="Kanalsanierung Bahnhofstraße, 2. BA", cost_eur="120000")
    page.click("#save")
    expect(page.locator("#project-title")).to_have_text("Kanalsanierung Bahnhofstraße, 2. BA")
    # Nothing about the cases changed: the message says only that it was saved.
    expect(page.locator("#message-text")).to_have_text(
        "Gespeichert: Kanalsanierung Bahnhofstraße, 2. BA."
    )
    edited = live_server.services.projects.get(ADMIN_ACTOR, sewer.id)
    assert (edited.version, edited.attributes.cost_eur) == (2, 120000)

    # Edit the shape: drag a corner 60 px to the right.
    page.click("#message-close")
    page.click("#edit")
    page.click("#edit-geometry")
    corner = page.locator(".leaflet-editing-icon").first
    expect(corner).to_be_visible()
    box = corner.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 30, y, steps=5)
    page.mouse.move(x + 60, y, steps=5)
    page.mouse.up()
    page.click("#save")
    expect(page.locator("#message")).to_be_visible()
    expect(page.locator("#message-text")).to_contain_text("Gespeichert")
    reshaped = live_server.services.projects.get(ADMIN_ACTOR, sewer.id)
    assert reshaped.version == 3
    moved = reshaped.geometry.symmetric_difference(edited.geometry).area
    assert moved > 0.05 * edited.geometry.area  # one corner 60 px (about 40 m) away

    # Delete, after confirming.
    page.click("#edit")
    page.click("#delete")
    expect(page.locator("#message-text")).to_contain_text("Gelöscht")
    remaining = live_server.services.projects.list(ADMIN_ACTOR, ProjectFilter()).projects
    assert [p.id for p in remaining] == [road_id]


def test_the_form_explains_what_is_wrong_before_and_after_the_server(
    live_server: LiveServer, page: Page, page_guard: PageGuard
) -> None:
    open_map(page, live_server, "h.planner", VIEW)
    draw_polygon(page, [(7.2125, 51.5403), (7.2145, 51.5403), (7.2145, 51.5413), (7.2125, 51.5413)])
    fill_form(page, title="", start="2028-01-01", end="2027-01-01")
    page.click("#save")
    # Checked in the browser: nothing was sent.
    expect(page.locator(".field-error[data-field=title]")).to_be_visible()
    expect(page.locator(".field-error[data-field=end]")).to_contain_text("vor dem Beginn")
    assert store_titles(live_server) == []
    # Checked by the server only: a contact longer than it allows comes back per field.
    page_guard.allow_console_error(r"status of 422")
    fill_form(page, title="Mulde Schulstraße", end="2028-06-30", contact="x" * 200)
    page.evaluate("document.querySelector('[name=contact]').removeAttribute('maxlength')")
    fill_form(page, contact="x" * 1000)
    page.click("#save")
    expect(page.locator(".field-error[data-field=contact]")).to_be_visible()
    expect(page.locator(".field-error[data-field=title]")).to_have_count(0)
    assert store_titles(live_server) == []


def test_a_stale_edit_is_explained_and_can_be_reloaded(
    live_server: LiveServer, page: Page, page_guard: PageGuard
) -> None:
    road_id = add_road(live_server, title="Fahrbahn Bahnhofstraße")
    open_map(page, live_server, "h.planner", VIEW)
    page.evaluate(f"ZugabeMap.showProject({road_id})")
    page.click("#edit")
    # Meanwhile someone else saves a new version.
    road = live_server.services.projects.get(ADMIN_ACTOR, road_id)
    live_server.services.store.update_project(
        road_id,
        ProjectAttributes(**{**road.attributes.__dict__, "title": "Fahrbahn, neu geplant"}),
        road.geometry,
        "kollegin",
        road.version,
    )
    page_guard.allow_console_error(r"status of 412")
    fill_form(page, title="Fahrbahn Bahnhofstraße (meine Änderung)")
    page.click("#save")
    expect(page.locator("#message-text")).to_contain_text("inzwischen von jemand anderem")
    page.click("#reload")
    expect(page.locator("#project-form [name=title]")).to_have_value("Fahrbahn, neu geplant")
    stored = live_server.services.projects.get(ADMIN_ACTOR, road_id)
    assert stored.attributes.title == "Fahrbahn, neu geplant"


def test_a_title_with_markup_shows_as_text_everywhere(live_server: LiveServer, page: Page) -> None:
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    add_road(live_server, title=XSS)
    sewer = copy.deepcopy(ROAD)
    sewer["properties"].update(
        title=XSS, department="drainage", measure_type="sewer_rehabilitation"
    )
    sewer_id = live_server.services.projects.create(sewer, ADMIN_ACTOR).id
    for case in live_server.services.cases.of_project(sewer_id):
        live_server.services.cases.comment(case.id, XSS, ADMIN_ACTOR)
    # A display name is text its owner chose: markup in it stays text too.
    add_account(
        live_server,
        "x.planner",
        display_name=XSS,
        organisation="herne",
        roles=frozenset({Role.PLANNER}),
    )
    open_map(page, live_server, "x.planner", VIEW)
    expect(page.locator("#account-name")).to_have_text(XSS)
    # The tooltip on the map, then a click: the panel, its cases and the case detail.
    page.mouse.move(*map_point(page, 7.2118, 51.54065))
    expect(page.locator(".leaflet-tooltip").first).to_have_text(XSS)
    page.mouse.click(*map_point(page, 7.2118, 51.54065))
    expect(page.locator("#project-title")).to_have_text(XSS)
    expect(page.locator("#cases")).to_contain_text(XSS)
    page.locator("#cases li.case").first.click()
    expect(page.locator("#case-message")).to_contain_text(XSS)
    expect(page.locator("#case-comments")).to_contain_text(f"test.admin: {XSS}")
    assert page.locator("img[src=x]").count() == 0
    assert alerts == []


def test_the_language_switch_keeps_the_view(demo_server: LiveServer, page: Page) -> None:
    open_map(page, demo_server, "h.planner", "#15/51.51500/7.23000")
    expect(page.locator("#filters summary")).to_have_text("Filter")
    expect(page.locator("#sign-out")).to_have_text("Abmelden")
    with page.expect_navigation():
        page.click("#lang-switch")
    idle(page)
    assert "lang=en" in page.url and page.url.endswith("#15/51.51500/7.23000")
    assert page.evaluate("document.documentElement.lang") == "en"
    expect(page.locator("#filters summary")).to_have_text("Filters")
    expect(page.locator("#project-count")).to_contain_text("projects in view")
    expect(page.locator("label[for=layer-trees]")).to_have_text("Trees")
    expect(page.locator("#sign-out")).to_have_text("Sign out")
    expect(page.locator("#account-name")).to_have_text("Hanna Müller")


KARLSRUHE = (8.27, 48.94, 8.55, 49.09)


@pytest.fixture
def karlsruhe_server(tmp_path: Path) -> Iterator[LiveServer]:
    """Another region's empty instance: Karlsruhe's box, no districts to fit the map to."""
    instance = tmp_path / "instance"
    app = create_app({"instance_path": instance, "region_bbox": KARLSRUHE})
    running = BackgroundServer.start(app)
    try:
        yield LiveServer(running.url, app.extensions["zugabe"], instance)
    finally:
        running.stop()
        app.extensions["zugabe"].close()


def test_without_a_view_in_the_address_the_map_opens_on_the_region(
    karlsruhe_server: LiveServer, page: Page
) -> None:
    west, south, east, north = KARLSRUHE
    open_map(page, karlsruhe_server, "h.viewer")
    shown = page.evaluate(
        """() => {
            const map = window[Object.keys(window).find((k) => /^map_[0-9a-f]+$/.test(k))];
            const b = map.getBounds();
            return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
        }"""
    )
    assert shown[0] <= west and shown[1] <= south and shown[2] >= east and shown[3] >= north
    zoom, lat, lon = page.url.split("#")[1].split("/")  # the view the address keeps
    assert int(zoom) >= 11  # the city, not the whole state or the world
    assert south < float(lat) < north and west < float(lon) < east


def test_cases_follow_the_relation_status_and_year_filters(
    demo_server: LiveServer, page: Page
) -> None:
    """Issue 12, item 6: the year filter applies to cases too; relation and status filters."""
    open_map(page, demo_server, "h.viewer")
    services = demo_server.services

    def stored(**params: str) -> int:
        query = parse_case_query(
            {"bbox": shown_bbox(page), "status": "open,in_coordination,proposed"} | params,
            services.projects.reprojector,
        )
        return services.store.count_cases(query)

    count = page.locator("#case-count")
    expect(count).to_have_text(f"{stored()} Koordinierungsfälle im Ausschnitt")
    page.select_option("#filter-relation", "synergy")
    idle(page)
    synergies = stored(relation="synergy")
    assert 0 < synergies < stored()
    expect(count).to_have_text(f"{synergies} Koordinierungsfälle im Ausschnitt")
    page.fill("#filter-from", "2028")
    page.dispatch_event("#filter-from", "change")
    idle(page)
    expect(count).to_have_text(
        f"{stored(relation='synergy', **{'from': '2028-01-01'})} Koordinierungsfälle im Ausschnitt"
    )
    page.select_option("#filter-case-status", "agreed")
    idle(page)
    expect(count).to_have_text("0 Koordinierungsfälle im Ausschnitt")


def shown_bbox(page: Page) -> str:
    """The bbox the map asks the API for (the view, clamped, six decimals)."""
    return page.evaluate(
        """() => {
            const map = Object.values(window).find((v) => v instanceof L.Map);
            const b = map.getBounds();
            const c = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
            return [c(b.getWest(), -180, 180), c(b.getSouth(), -90, 90),
                    c(b.getEast(), -180, 180), c(b.getNorth(), -90, 90)]
                .map((v) => v.toFixed(6)).join(",");
        }"""
    )


def german_number(value: float) -> str:
    """A number as the map writes it in German: decimal comma, thousands dots, one decimal."""
    text = f"{value:,.1f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    return text.removesuffix(",0")


def test_reports_and_exports_are_linked_from_the_map(demo_server: LiveServer, page: Page) -> None:
    """Issue 12, item 6: from the map to the reports and exports, no address typed."""
    open_map(page, demo_server, "b.planner")
    page.locator("#outputs summary").click()
    expect(page.locator("#report-organisation")).to_have_value("bochum")  # one's own first
    expect(page.locator("#report-link")).to_have_attribute(
        "href", "/reports/organisations/bochum?lang=de"
    )
    page.select_option("#report-organisation", "herne")
    expect(page.locator("#report-link")).to_have_attribute(
        "href", "/reports/organisations/herne?lang=de"
    )
    with page.expect_popup() as popup:
        page.click("#report-link")
    report = popup.value
    report.wait_for_load_state()
    expect(report.locator("h1")).to_contain_text("Herne")
    with page.expect_download() as download:
        page.click("#export-projects")
    assert download.value.suggested_filename.endswith(".csv")
