"""The web map as reviewers and planners found it (issue 12, item 6): what lies under the
pointer, names on the map and the search box, the phone, and errors beside their field.

Run like ``test_webmap.py``: signed in, the network cut, no console errors.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import ADMIN_ACTOR, LiveServer, PageGuard
from tests.browser.test_webmap import (
    ROAD,
    VIEW,
    XSS,
    add_road,
    draw_polygon,
    fill_form,
    idle,
    map_point,
    open_map,
    store_titles,
)
from zugabe.services.projects import ProjectFilter

SECTION = "<b>H-17</b>"
"""A sewer section's id with markup in it: it must show as these characters."""


def add_sewer_section(server: LiveServer, tmp_path: Path) -> None:
    """One sewer section along the road of ``ROAD``, running on beyond its end."""
    line = [*ROAD["geometry"]["coordinates"], [7.2185, 51.5421]]
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": line},
                "properties": {"section_id": SECTION, "condition_class": 1, "diameter": 1200},
            }
        ],
    }
    path = tmp_path / "haltungen.geojson"
    path.write_text(json.dumps(collection), encoding="utf-8")
    server.services.layers.import_file(path, "sewer_sections", ADMIN_ACTOR)


def tooltip(page: Page) -> Locator:
    return page.locator(".leaflet-tooltip")


def test_layer_features_tell_their_attributes_and_cases_lie_above_projects_within_reach(
    live_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    add_sewer_section(live_server, tmp_path)
    add_road(live_server, title=XSS)
    sewer = copy.deepcopy(ROAD)
    sewer["properties"].update(
        title=f"Kanal {XSS}", department="drainage", measure_type="sewer_rehabilitation"
    )
    live_server.services.projects.create(sewer, ADMIN_ACTOR)
    open_map(page, live_server, "h.viewer", VIEW)
    page.click("#layers summary")
    page.check("#layer-sewer_sections")
    idle(page)
    # The conflict's pane is drawn above the projects' pane.
    z = page.evaluate(
        """() => ['projects', 'cases'].map((n) => Number(getComputedStyle(
            document.querySelector(`.leaflet-zugabe-${n}-pane`)).zIndex))"""
    )
    assert z[1] > z[0]
    # Where the sewer runs on alone: its id and key attributes, labelled as layers/ says.
    page.mouse.move(*map_point(page, 7.21775, 51.54180))
    expect(tooltip(page)).to_contain_text(f"Haltungen: {SECTION}")
    expect(tooltip(page)).to_contain_text("Zustandsklasse: ZK 1 – starker Mangel")
    expect(tooltip(page)).to_contain_text("Nennweite / Profilhöhe: 1.200 mm")
    assert page.locator(".leaflet-tooltip b").count() == 0
    page.mouse.click(*map_point(page, 7.21775, 51.54180))
    popup = page.locator(".leaflet-popup-content")
    expect(popup.locator("h3")).to_have_text(f"Haltungen: {SECTION}")
    expect(popup.locator("dl")).to_contain_text("Zustandsklasse")
    page.click(".leaflet-popup-close-button")
    idle(page)
    map_at_rest(page)  # the popup may have panned the map to fit: points move with it
    # On the road: a project (the narrowest line) first, its tooltip only its title ...
    page.mouse.move(*map_point(page, 7.2118, 51.54065))
    expect(tooltip(page)).to_contain_text(XSS)
    hovered = tooltip(page).text_content()
    assert hovered in (XSS, f"Kanal {XSS}")
    # ... a click opens it, and lists the rest that lies there: the other project, the
    # cases drawn above them, and the sewer.
    page.mouse.click(*map_point(page, 7.2118, 51.54065))
    expect(page.locator("#project-title")).to_have_text(hovered)
    also = page.locator(".leaflet-popup-content .also-here button")
    expect(also.filter(has_text="Synergie")).not_to_have_count(0)
    expect(also.filter(has_text=XSS)).to_have_count(1)
    expect(also.filter(has_text=f"Haltungen: {SECTION}")).to_have_count(1)
    also.filter(has_text="Synergie").first.click()
    expect(page.locator("#case-detail")).to_be_visible()
    expect(page.locator("#case-title")).to_contain_text("Synergie")
    assert page.locator("img[src=x]").count() == 0
    # In English, the layer's English labels.
    page.goto(f"{live_server.url}/?lang=en{VIEW}")
    idle(page)
    page.click("#layers summary")
    page.check("#layer-sewer_sections")
    idle(page)
    page.mouse.move(*map_point(page, 7.21775, 51.54180))
    expect(tooltip(page)).to_contain_text(f"Sewer sections: {SECTION}")
    expect(tooltip(page)).to_contain_text("Condition class: Class 1 – major defect")
    expect(tooltip(page)).to_contain_text("1,200 mm")


def map_at_rest(page: Page) -> None:
    """Wait until the map's view stops moving (a popup's pan is animated): two readings of
    its centre 200 ms apart agree."""
    centre = """() => {
        const map = window[Object.keys(window).find((k) => /^map_[0-9a-f]+$/.test(k))];
        const c = map.getCenter();
        return [c.lat, c.lng, map.getZoom()];
    }"""
    last = page.evaluate(centre)
    for _ in range(50):
        page.wait_for_timeout(200)
        now = page.evaluate(centre)
        if now == last:
            return
        last = now
    raise AssertionError("the map kept moving for 10 s")


def boxes_overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def test_street_and_district_names_show_and_the_search_box_finds_places(
    demo_server: LiveServer, page: Page
) -> None:
    [street] = [
        place
        for place in demo_server.services.search.search(ADMIN_ACTOR, "Bahnhofstraße")
        if place.kind == "street"
    ]
    west, south, east, north = demo_server.services.search.to_feature(street)["bbox"]
    open_map(
        page, demo_server, "h.viewer", f"#17/{(south + north) / 2:.5f}/{(west + east) / 2:.5f}"
    )
    streets = page.locator(".zugabe-label.street span")
    expect(streets.filter(has_text="Bahnhofstraße")).to_have_count(1)
    expect(page.locator(".zugabe-label.district span").first).to_be_visible()
    placed = [label.bounding_box() for label in page.locator(".zugabe-label span").all()]
    assert len(placed) >= 2
    for index, box in enumerate(placed):
        assert box is not None
        assert not any(boxes_overlap(box, other) for other in placed[index + 1 :] if other)
    # Zoomed out, the street names go; the districts' stay.
    open_map(page, demo_server, "h.viewer", "#13/51.53000/7.22000")
    expect(page.locator(".zugabe-label.street")).to_have_count(0)
    expect(page.locator(".zugabe-label.district").first).to_be_visible()

    # The search box, away from the street: it takes the map there.
    open_map(page, demo_server, "h.viewer", f"#17/{south - 0.01:.5f}/{west - 0.01:.5f}")
    page.fill("#search-input", "bahnhof")
    result = page.get_by_role("button", name="Bahnhofstraße Straße", exact=True)
    result.click()
    idle(page)
    shown = page.evaluate(
        """() => {
            const map = window[Object.keys(window).find((k) => /^map_[0-9a-f]+$/.test(k))];
            const b = map.getBounds();
            return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
        }"""
    )
    assert shown[0] <= west and shown[1] <= south and east <= shown[2] and north <= shown[3]
    # Zoomed to it, not to the whole town: it fills the view in one direction.
    assert min((shown[2] - shown[0]) / (east - west), (shown[3] - shown[1]) / (north - south)) < 3
    expect(page.locator("#search-results li")).to_have_count(0)
    title = (
        demo_server.services.projects.list(ADMIN_ACTOR, ProjectFilter(), limit=1)
        .projects[0]
        .attributes.title
    )
    page.fill("#search-input", title[:12])
    page.locator("#search-results button", has_text=title).first.click()
    expect(page.locator("#project-title")).to_have_text(title)
    page.fill("#search-input", "Gibt es nicht 42")
    expect(page.locator("#search-results")).to_have_text("Nichts gefunden.")


def test_on_a_phone_the_map_and_the_list_take_turns(live_server: LiveServer, page: Page) -> None:
    add_road(live_server, title="Fahrbahn Bahnhofstraße")
    page.set_viewport_size({"width": 360, "height": 740})
    open_map(page, live_server, "h.viewer", VIEW)
    the_map, panel, toggle = (
        page.locator(".folium-map"),
        page.locator("#panel"),
        page.locator("#view-toggle"),
    )
    # The map first, over the whole screen.
    expect(panel).to_be_hidden()
    box = the_map.bounding_box()
    assert box is not None and (box["x"], box["width"], box["height"]) == (0, 360, 740)
    expect(toggle).to_have_text("Liste")
    toggle.click()
    expect(panel).to_be_visible()
    box = panel.bounding_box()
    assert box is not None and (box["x"], box["width"]) == (0, 360)
    expect(the_map).not_to_be_visible()
    expect(page.locator("#filters summary")).to_be_visible()
    expect(toggle).to_have_text("Karte")
    toggle.click()
    expect(panel).to_be_hidden()
    # A project touched on the map opens in the list.
    page.mouse.click(*map_point(page, 7.2118, 51.54065))
    expect(panel).to_be_visible()
    expect(page.locator("#project-title")).to_have_text("Fahrbahn Bahnhofstraße")
    # Nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_the_servers_errors_stand_beside_their_field_in_the_users_language(
    live_server: LiveServer, page: Page, page_guard: PageGuard
) -> None:
    page_guard.allow_console_error(r"status of 422")
    corners = [(7.2125, 51.5403), (7.2145, 51.5403), (7.2145, 51.5413), (7.2125, 51.5413)]
    open_map(page, live_server, "h.planner", VIEW)
    draw_polygon(page, corners)
    # Only the server knows the measure type's cost limit.
    fill_form(page, title="Mulde Schulstraße", cost_eur="20000000000")
    page.click("#save")
    error = page.locator(".field-error[data-field=cost_eur]")
    expect(error).to_have_text(
        "Die Kosten von 20.000.000.000 € übersteigen die erlaubten 10.000.000.000 € "
        "für die Maßnahmenart „road_renewal“."
    )
    expect(page.locator("#project-form [name=cost_eur]")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-error")).to_have_count(1)
    expect(page.locator("#form-errors")).to_be_hidden()
    page.goto(f"{live_server.url}/?lang=en{VIEW}")
    idle(page)
    draw_polygon(page, corners)
    fill_form(page, title="Swale Schulstraße", cost_eur="20000000000")
    page.click("#save")
    expect(page.locator(".field-error[data-field=cost_eur]")).to_have_text(
        "'cost_eur' is 20,000,000,000 €, more than the 10,000,000,000 € allowed "
        "for measure type 'road_renewal'"
    )
    assert store_titles(live_server) == []
