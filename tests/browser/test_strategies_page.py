"""The strategies dashboard in chromium: a reader sees the four charts with their bars and maps,
drawn on the server and nothing loaded from elsewhere, and switches the page to English."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, sign_in

GERMAN = ["Gründächer", "Kühlung", "Abkopplung", "Aufmerksamkeitsräume"]
ENGLISH = ["Green roofs", "Cooling", "Rainwater disconnection", "Attention areas"]


def test_a_reader_sees_the_charts_and_switches_the_language(
    demo_server: LiveServer, page: Page
) -> None:
    sign_in(page, demo_server, "h.viewer")
    page.locator("#strategies").click()  # the map's header links the dashboard
    page.wait_for_url(f"{demo_server.url}/strategies")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Strategien der Region auf einen Blick"
    )
    expect(page.get_by_role("heading", level=2)).to_have_text(GERMAN)
    for chart in ("green-roofs", "cooling", "disconnection", "attention"):
        section = page.locator(f"section#{chart}")
        bars = section.locator("svg.bar-chart rect.bar-value")
        expect(bars.first).to_be_visible()
        widths = bars.evaluate_all("rs => rs.map(r => r.getBBox().width)")
        assert max(widths) > 100, chart  # the largest bar spans most of the chart
        expect(section.locator("svg.report-map path.unit").first).to_be_visible()
        expect(section.get_by_role("row")).to_have_count(7 if chart == "disconnection" else 3)
    expect(page.locator("section#cooling svg.report-map path.mark.hotspot").first).to_be_attached()
    herne = page.locator("section#green-roofs tbody tr", has_text="Herne")
    expect(herne.locator("td").last).to_have_text("21,5")  # German decimal comma

    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The region's strategies at a glance")
    expect(page.get_by_role("heading", level=2)).to_have_text(ENGLISH)
    expect(herne.locator("td").last).to_have_text("21.5")
    link = page.locator("section#cooling a.csv")
    assert link.get_attribute("href") == "/strategies/cooling.csv?lang=en"
    with page.expect_download() as download:
        link.click()
    text = Path(download.value.path()).read_text("utf-8")
    assert text.splitlines()[0].startswith("City,Hotspot area (m²)")

    page.get_by_role("link", name="Deutsch").click()
    expect(page.get_by_role("heading", level=2)).to_have_text(GERMAN)
