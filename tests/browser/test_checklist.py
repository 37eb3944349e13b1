"""The checklist of a development plan in the real browser: a planner answers an item on the
checklist page (signed in with the session cookie, so the form's CSRF token counts), sees the
score change, switches to English; the fact sheet with the checklist prints on A4."""

from __future__ import annotations

import io
from unicodedata import normalize

from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.browser.conftest import LiveServer, PageGuard, sign_in
from tests.browser.test_webmap import idle
from zugabe.storage.contract import ProjectQuery

A4_POINTS = (595.92, 842.88)


def _plan(server: LiveServer, title_part: str) -> int:
    plans = server.services.store.list_projects(ProjectQuery(measure_types=("development_plan",)))
    return next(p.id for p in plans if title_part in p.attributes.title)


def test_a_planner_answers_an_item_and_sees_the_score_change(
    demo_server: LiveServer, page: Page, page_guard: PageGuard
) -> None:
    plan = _plan(demo_server, "Wohnen am Wiesenbach")  # Bochum's
    url = f"/checklists/projects/{plan}"
    sign_in(page, demo_server, "b.planner", next=url)
    score = page.locator("#checklist-score")
    expect(score).to_have_text("0 %")
    expect(page.locator("#item-green_roofs").get_by_label("keine Antwort")).to_be_checked()
    expect(page.locator("h1")).to_have_text("Checkliste wassersensible Bebauungspläne")
    row = page.locator("#item-green_roofs")
    expect(row.locator(".evidence-value")).to_contain_text("m²")
    row.get_by_label("erfüllt").check()
    row.locator("textarea").fill("Extensive Dachbegrünung, 10 cm Substrat")
    with page.expect_navigation():
        page.click("#checklist-save")
    expect(score).not_to_have_text("0 %")
    first = int(score.inner_text().removesuffix(" %"))
    assert first > 0
    expect(page.locator("#item-green_roofs textarea")).to_have_value(
        "Extensive Dachbegrünung, 10 cm Substrat"
    )
    expect(page.locator("#item-green_roofs .answered")).to_contain_text("Björn Planer")

    # A required item counts twice: the score grows more than it did for the first.
    required = page.locator("tr.relevance-required").first
    required.get_by_label("erfüllt").check()
    with page.expect_navigation():
        page.click("#checklist-save")
    assert int(score.inner_text().removesuffix(" %")) > 2 * first - 1

    # Not applicable needs a reason: the page says so (a 422) and keeps the score.
    page_guard.allow_console_error("status of 422")
    before = score.inner_text()
    page.locator("#item-rainwater_reuse").get_by_label("trifft nicht zu").check()
    with page.expect_navigation():
        page.click("#checklist-save")
    expect(page.locator("#checklist-errors")).to_contain_text("Bitte in der Notiz begründen")
    expect(score).to_have_text(before)
    # What was sent is still there to complete, not lost.
    reuse = page.locator("#item-rainwater_reuse")
    expect(reuse.get_by_label("trifft nicht zu")).to_be_checked()
    expect(page.locator("#item-green_roofs textarea")).to_have_value(
        "Extensive Dachbegrünung, 10 cm Substrat"
    )
    reuse.locator("textarea").fill("Keine Freiflächen für Zisternen")
    with page.expect_navigation():
        page.click("#checklist-save")
    expect(page.locator("#checklist-errors")).to_have_count(0)
    assert int(score.inner_text().removesuffix(" %")) > int(before.removesuffix(" %"))
    before = score.inner_text()

    page.goto(f"{demo_server.url}{url}?lang=en")
    expect(page.locator("#checklist-score")).to_have_text(before)
    expect(page.locator("h1")).to_have_text("Checklist for water-sensitive development plans")
    expect(page.locator("#checklist-save")).to_have_text("Save answers")


def test_the_fact_sheet_of_a_plan_prints_its_checklist_on_a4(
    demo_server: LiveServer, page: Page
) -> None:
    plan = _plan(demo_server, "Wohnen am Wiesenbach")
    url = f"/reports/projects/{plan}"
    sign_in(page, demo_server, "h.viewer", next=url)
    expect(page.locator("#checklist h2")).to_have_text("Checkliste wassersensible Bebauungspläne")
    pdf = PdfReader(io.BytesIO(page.pdf(format="A4")))
    box = pdf.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == tuple(map(round, A4_POINTS))
    assert len(pdf.pages) <= 8, f"{len(pdf.pages)} pages"
    # One space for each run of white space, ligatures ("ﬂ") as their letters.
    text = " ".join(normalize("NFKC", "".join(p.extract_text() for p in pdf.pages)).split())
    assert "Erfüllungsgrad: 0 %" in text
    assert "Gefahrenflächen: 47,5 %" in text  # the evidence, as the layers measure it
    # Every question is on paper (the answer link of the screen is not).
    for item in demo_server.services.checklists.checklist.items:
        opening = " ".join(item.question.de.split()[:5])
        assert opening in text, opening
    assert text.upper().count("ERFORDERLICH") >= 5 and "Checkliste beantworten" not in text
    # No table runs off the paper.
    page.emulate_media(media="print")
    page.set_viewport_size({"width": round((210 - 20) * 96 / 25.4), "height": 1000})
    widths = page.eval_on_selector_all(
        "table.checklist", "ts => ts.map(t => [t.scrollWidth, t.clientWidth])"
    )
    assert widths and all(scroll <= client + 1 for scroll, client in widths), widths


def test_the_map_links_a_plan_to_its_checklist_and_the_overview(
    demo_server: LiveServer, page: Page
) -> None:
    plan = _plan(demo_server, "Brückenfeld-Mitte")
    sign_in(page, demo_server, "h.planner", next="/")
    idle(page)  # the map has set itself up (showProject draws into its layers)
    page.evaluate(f"ZugabeMap.showProject({plan})")
    link = page.locator("#checklist-link")
    expect(link).to_be_visible()
    expect(link).to_have_text("Checkliste")
    expect(link).to_have_attribute("href", f"/checklists/projects/{plan}?lang=de")
    overview = page.locator("#checklist-overview")
    expect(overview).to_have_attribute("href", "/reports/checklists?lang=de")
    expect(overview).to_have_text("Wassersensible Bebauungspläne der Region")
    page.evaluate("ZugabeMap.showProject(1)")  # a road renewal: no checklist
    expect(page.locator("#project-title")).not_to_contain_text("Brückenfeld")
    expect(link).to_be_hidden()
