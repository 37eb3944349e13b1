"""The strategies dashboard in chromium: a reader sees the four charts with their bars and maps,
drawn on the server and nothing loaded from elsewhere, switches the page to English, and prints
it on A4 for the annual forum."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.browser.conftest import LiveServer, sign_in

MM = 96 / 25.4  # CSS pixels per millimetre
PRINTABLE_WIDTH = (297 - 2 * 10) * MM  # A4 landscape less the print stylesheet's 10 mm margins
POINT_MM = 25.4 / 72  # millimetres per PDF point
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


def test_the_dashboard_prints_on_a4_landscape(demo_server: LiveServer, page: Page) -> None:
    """Printed as the browser does (the page's own @page size): A4 landscape, every chart
    with its title, the navigation and download links left off, nothing wider than the paper."""
    sign_in(page, demo_server, "h.viewer", next="/strategies")
    pdf = PdfReader(io.BytesIO(page.pdf(prefer_css_page_size=True, print_background=True)))
    assert len(pdf.pages) <= 4, len(pdf.pages)  # at most a page per chart
    for printed in pdf.pages:  # 297 × 210 mm, within a point's rounding
        box = printed.mediabox
        size = (float(box.width) * POINT_MM, float(box.height) * POINT_MM)
        assert abs(size[0] - 297) < 1 and abs(size[1] - 210) < 1, size
    text = "".join(p.extract_text() for p in pdf.pages)
    assert "Strategien der Region auf einen Blick" in text
    assert all(title in text for title in GERMAN), text[:2000]
    assert "Karte:" in text and "Herne" in text  # the maps' captions and the tables
    assert "CSV" not in text  # the download links are for the screen

    page.emulate_media(media="print")
    page.set_viewport_size({"width": round(PRINTABLE_WIDTH), "height": 1000})
    widths: dict[str, Any] = page.evaluate(
        """() => ({
            page: document.documentElement.scrollWidth,
            widest: Math.max(...[...document.querySelectorAll('section, figure, svg, table')]
                .map(e => e.getBoundingClientRect().right)),
            overflowing: [...document.querySelectorAll('td, th')]
                .filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent.trim()),
        })"""
    )
    assert widths["page"] <= PRINTABLE_WIDTH + 0.5, widths
    assert widths["widest"] <= PRINTABLE_WIDTH + 0.5, widths
    assert widths["overflowing"] == [], widths
