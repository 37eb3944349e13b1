"""Issue 11, item 6: an import started on the map runs as a job, shows its progress and
says what it stored; the panel offers only what the account may import."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import SAMPLE_DATA, LiveServer, add_account, sign_in
from tests.browser.test_webmap import idle
from zugabe.domain.accounts import Role
from zugabe.storage.contract import ProjectQuery

TREES = SAMPLE_DATA / "layers" / "trees.geojson"


def test_a_data_steward_imports_a_layer_and_sees_it_stored(
    live_server: LiveServer, page: Page
) -> None:
    add_account(
        live_server,
        "gruen.steward",
        display_name="Grete Grün",
        organisation=None,
        roles=frozenset({Role.DATA_STEWARD}),
    )
    sign_in(page, live_server, "gruen.steward")
    idle(page)
    panel = page.locator("#import")
    expect(panel).to_be_visible()
    panel.locator("summary").click()
    expect(page.locator("#import-target option", has_text="Maßnahmenliste")).to_have_count(0)
    page.select_option("#import-target", "trees")
    expect(page.locator("#import-dry-run-label")).to_be_hidden()
    page.set_input_files("#import-file", str(TREES))
    page.click("#import-start")
    expect(page.locator("#import-status")).to_have_text(
        "Bäume: Version 1 mit 1453 Objekten gespeichert (0 Zeilen abgewiesen).", timeout=30_000
    )
    expect(page.locator("#import-progress")).to_be_hidden()
    info = live_server.services.store.get_layer("trees")
    assert info is not None and info.feature_count == 1453 and info.imported_by == "gruen.steward"


def test_a_planner_checks_a_project_list_before_importing_it(
    live_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    sign_in(page, live_server, "h.planner")
    idle(page)
    page.locator("#import summary").click()
    # Only the project list: a planner imports no layers.
    assert page.locator("#import-target option").all_text_contents() == ["Maßnahmenliste"]
    rows = tmp_path / "massnahmen.csv"
    rows.write_text(
        "Bezeichnung;Träger;Fachbereich;Maßnahmenart;Beginn;Ende;Rechtswert;Hochwert\n"
        "Kanal Bahnhofstraße;herne;drainage;sewer_rehabilitation;01.05.2027;31.10.2027;"
        "372000;5712000\n",
        encoding="utf-8",
    )
    page.set_input_files("#import-file", str(rows))
    page.fill("#import-crs", "EPSG:25832")
    page.check("#import-dry-run")
    page.click("#import-start")
    expect(page.locator("#import-status")).to_have_text(
        "Prüfung: 1 neu, 0 geändert, 0 unverändert, 0 Zeilen mit Fehlern; nichts gespeichert.",
        timeout=30_000,
    )
    assert live_server.services.store.list_projects(ProjectQuery()) == []
    page.uncheck("#import-dry-run")
    page.click("#import-start")
    expect(page.locator("#import-status")).to_have_text(
        "Gespeichert: 1 neue, 0 geänderte Maßnahmen (0 unverändert).", timeout=30_000
    )
    [stored] = live_server.services.store.list_projects(ProjectQuery())
    assert stored.created_by == "h.planner"


def test_a_viewer_gets_no_import_panel(live_server: LiveServer, page: Page) -> None:
    sign_in(page, live_server, "h.viewer")
    idle(page)
    expect(page.locator("#import")).to_be_hidden()
