"""Reports on paper: printed by chromium to A4 PDF, measured in the print layout.

A reviewer prints the report from the browser, so the browser decides: how many pages, whether
a table runs off the paper, whether map labels collide. The demo town's largest area report
(the district with the most cases) must fit on eight A4 pages.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from playwright.sync_api import Page
from pypdf import PdfReader

from tests.browser.conftest import ADMIN_ACTOR, LiveServer, sign_in
from zugabe.domain.cases import LIVE_STATUSES
from zugabe.services.reports import ReportService
from zugabe.storage.contract import CaseQuery

MAX_PAGES = 8
CONDENSED = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf")
MM = 96 / 25.4  # CSS pixels per millimetre
PRINTABLE_WIDTH = (210 - 2 * 10) * MM  # A4 less the print stylesheet's 10 mm side margins
A4_POINTS = (595.92, 842.88)

BOXES = """selector => [...document.querySelectorAll(selector)].map(e => {
    const b = e.getBBox(); return [e.textContent, b.x, b.y, b.x + b.width, b.y + b.height];
})"""


def largest_area(server: LiveServer) -> tuple[str, int]:
    """The district whose area report has the most live cases, and their number."""
    store = server.services.store
    counts = {
        str(f.attributes["district_id"]): len(
            store.list_cases(CaseQuery(area=f.geometry, statuses=LIVE_STATUSES))
        )
        for f in store.layer_features("districts")
    }
    district = max(counts, key=lambda k: counts[k])
    return district, counts[district]


def print_layout(page: Page) -> None:
    """Lay the page out as it prints: print media, a viewport as wide as the paper's text."""
    page.emulate_media(media="print")
    page.set_viewport_size({"width": round(PRINTABLE_WIDTH), "height": 1000})


def test_largest_area_report_prints_on_at_most_eight_a4_pages(
    demo_server: LiveServer, page: Page
) -> None:
    # The printed tables are set in DejaVu Sans Condensed; without it chromium takes a wider
    # face and the count below would fail for a reason it does not name.
    assert CONDENSED.exists(), "install Debian's fonts-dejavu-extra: run `make browser`"
    district, cases = largest_area(demo_server)
    assert cases > 100  # the demo's largest: a real test of the layout
    url = f"/reports/area?district={district}"
    sign_in(page, demo_server, "h.viewer", next=url)
    rows = page.locator("tr.case")
    assert rows.count() == cases

    pdf = PdfReader(io.BytesIO(page.pdf(format="A4")))
    assert len(pdf.pages) <= MAX_PAGES, f"{len(pdf.pages)} pages"
    box = pdf.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == tuple(map(round, A4_POINTS))
    text = "".join(p.extract_text() for p in pdf.pages)
    assert "Filter: keiner" in text
    # Every case is on paper, its number at the start of its row.
    assert all(f"\n{i} " in text for i in rows.evaluate_all("r => r.map(e => e.dataset.case)"))
    # The header row is repeated on every page the case list runs over.
    header = "Nr. Fall Beteiligt Meldung"
    assert sum(header in p.extract_text() for p in pdf.pages) >= len(pdf.pages) - 2

    print_layout(page)
    widths: list[dict[str, Any]] = page.eval_on_selector_all(
        "table",
        """tables => tables.map(t => ({
            name: t.className,
            width: t.getBoundingClientRect().width,
            right: t.getBoundingClientRect().right,
            overflowing: [...t.querySelectorAll('td, th')]
                .filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent.trim()),
            header: t.tHead ? getComputedStyle(t.tHead).display : null,
        }))""",
    )
    assert {w["name"] for w in widths} == {"projects", "cases"}
    for table in widths:
        assert table["width"] <= PRINTABLE_WIDTH + 0.5, table
        assert table["right"] <= PRINTABLE_WIDTH + 0.5, table
        assert table["overflowing"] == [], table  # long words wrap inside their cell
        assert table["header"] == "table-header-group"  # repeated on every page


def busiest_map(server: LiveServer) -> tuple[str, int]:
    """Of the demo's organisation, department and district reports, the address of the one
    whose map has the most labels, and their number (placed or listed below the map)."""
    services = server.services
    reports = ReportService(services, ADMIN_ACTOR)
    candidates = {
        **{
            f"/reports/organisations/{k}": reports.organisation(k)
            for k in services.vocabulary.organisations
        },
        **{
            f"/reports/departments/{k}": reports.department(k)
            for k in services.vocabulary.departments
        },
        **{
            f"/reports/area?district={f.attributes['district_id']}": reports.area(
                district=str(f.attributes["district_id"])
            )
            for f in services.store.layer_features("districts")
        },
    }
    counts = {}
    for url, report in candidates.items():
        shown = reports.page(report, "de")
        placed = str(shown.map or "").count('class="map-label')
        counts[url] = placed + len([u for u in shown.unlabelled.split(", ") if u])
    url = max(counts, key=lambda k: counts[k])
    return url, counts[url]


def overlapping(boxes: list[list[Any]], others: list[list[Any]] | None = None) -> list[str]:
    pairs = (
        [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]]
        if others is None
        else [(a, b) for a in boxes for b in others]
    )
    return [
        f"{a[0]!r} and {b[0]!r}"
        for a, b in pairs
        if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]
    ]


def test_labels_of_the_busiest_report_map_do_not_overlap(
    demo_server: LiveServer, page: Page
) -> None:
    url, labels = busiest_map(demo_server)
    assert labels > 50
    sign_in(page, demo_server, "h.viewer", next=url)
    print_layout(page)
    placed = page.eval_on_selector(
        "svg.report-map", f"svg => ({BOXES})('svg.report-map text.map-label')"
    )
    assert len(placed) > 0.9 * labels  # few go to the list below the map
    assert overlapping(placed) == []
    furniture = page.evaluate(BOXES, "svg.report-map .scale-bar, svg.report-map .north-arrow")
    assert overlapping(placed, furniture) == []
    frame = page.eval_on_selector(
        "svg.report-map", "s => [s.viewBox.baseVal.width, s.viewBox.baseVal.height]"
    )
    assert all(b[1] >= 0 and b[2] >= 0 and b[3] <= frame[0] and b[4] <= frame[1] for b in placed)

    # Every project on the map can be found: by its label, or in the list below the map.
    drawn = set(
        page.eval_on_selector_all(
            "svg.report-map path.project", "ps => ps.map(p => p.dataset.project)"
        )
    )
    listed = page.locator("p.unlabelled").all_inner_texts()
    unplaced = set(listed[0].split(": ", 1)[1].split(", ")) if listed else set()
    assert drawn <= {b[0] for b in placed} | unplaced
