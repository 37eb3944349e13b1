"""Smoke tests of the browser-test fixtures, on pages that exist without the web map.

They prove the chain the web-map tests build on: Debian's chromium starts,
the live server answers, the page has the planner's screen and language, the
network cut is enforced, and a page that breaks the rules fails its test with
a screenshot left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    ADMIN_ACTOR,
    ROOT,
    LiveServer,
    OtherSite,
    PageGuard,
    sign_in,
)
from zugabe.services.projects import ProjectFilter


def test_api_docs_render_in_chromium(live_server: LiveServer, page: Page) -> None:
    """The server-rendered API docs show their heading, at 1366×768 in German."""
    response = page.goto(f"{live_server.url}/api/docs")
    assert response is not None and response.ok
    expect(page.get_by_role("heading", level=1)).to_contain_text("ZUGABE API")
    expect(page.locator("#listProjects, .op").first).to_be_visible()
    assert page.evaluate("[navigator.language, innerWidth, innerHeight]") == ["de-DE", 1366, 768]


def test_demo_server_serves_the_demo_town(demo_server: LiveServer, page: Page) -> None:
    """The signed-in page reads the demo town through the API; the test sees the same store."""
    sign_in(page, demo_server, "h.viewer", next="/api/docs")
    matched = page.evaluate(
        "fetch('/api/projects?limit=1').then(r => r.json()).then(c => c.numberMatched)"
    )
    projects = demo_server.services.projects
    stored = projects.list(ADMIN_ACTOR, ProjectFilter(), limit=1).number_matched
    assert matched == stored == 150


REACH_OUT = """async () => {
    const img = new Image();
    const loaded = new Promise(done => { img.onload = img.onerror = e => done(e.type); });
    img.src = 'https://tile.openstreetmap.org/0/0/0.png';
    const fetched = await fetch('https://example.org/').then(() => 'ok', e => e.name);
    return [fetched, await loaded];
}"""


def test_requests_off_the_machine_are_aborted_and_recorded(
    other_site: OtherSite, page: Page, page_guard: PageGuard
) -> None:
    """A CDN script, a tile image and a fetch never leave the machine, and each is recorded.

    Tried from a page without ZUGABE's Content-Security-Policy (which refuses them
    before the network cut sees them: the test below).
    """
    other_site.add("/", "<!DOCTYPE html><title>no CSP</title>")
    page.goto(other_site.url() + "/")
    outcome = page.evaluate(REACH_OUT)
    assert outcome == ["TypeError", "error"]
    blocked = ["https://example.org/", "https://tile.openstreetmap.org/0/0/0.png"]
    assert sorted(page_guard.blocked_requests) == blocked
    # Reported once each (not again as console errors); forgotten here, else
    # this test would fail after its body, as every other test would.
    problems = sorted(page_guard.pop_problems())
    assert problems == [
        f"request to a host other than 127.0.0.1 (network cut): {u}" for u in blocked
    ]


def test_zugabe_pages_refuse_other_hosts_by_their_content_security_policy(
    live_server: LiveServer, page: Page, page_guard: PageGuard
) -> None:
    """On a page of ZUGABE the browser refuses the same requests itself (a console error
    each, which fails any other test): nothing even reaches the network cut."""
    page.goto(f"{live_server.url}/api/docs")
    assert page.evaluate(REACH_OUT) == ["TypeError", "error"]
    page.evaluate("0")  # delivers the console messages
    assert page_guard.blocked_requests == []
    problems = page_guard.pop_problems()
    assert len(problems) >= 2, problems
    assert all("Content Security Policy" in p for p in problems), problems


def test_a_console_error_a_test_expects_can_be_allowed(
    live_server: LiveServer, page: Page, page_guard: PageGuard
) -> None:
    """A test that provokes an error answer (a stale edit's 412, say) declares the console line."""
    page_guard.allow_console_error(r"status of 404")
    page.goto(f"{live_server.url}/api/docs")
    assert page.evaluate("fetch('/no-such-page').then(r => r.status)") == 404
    page.evaluate("console.error('unexpected')")
    assert page_guard.pop_problems() == ["console error: unexpected"]
    [accepted] = page_guard.accepted_console_errors
    assert "the server responded with a status of 404" in accepted


def test_a_page_breaking_the_rules_fails_its_test_with_a_screenshot(tmp_path: Path) -> None:
    """Run a small suite in a second pytest: its offending tests fail, and leave screenshots.

    A second process because a failing test is the behaviour under test, and
    Playwright's sync API cannot start twice in one thread.
    """
    (tmp_path / "conftest.py").write_text("from tests.browser.conftest import *  # noqa: F403\n")
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            """
            def test_breaks_every_rule(other_site, page):
                other_site.add("/", "<!DOCTYPE html><title>no CSP</title>")
                page.goto(other_site.url() + "/")
                page.evaluate("fetch('https://example.org/').catch(() => null)")
                page.evaluate("console.error('broken')")
                page.evaluate("setTimeout(() => { throw new Error('boom') })")
                page.wait_for_timeout(50)

            def test_fails(live_server, page):
                page.goto(live_server.url + "/api/docs")
                assert page.title() == "something else"
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = run.stdout + run.stderr
    assert "2 failed in" in out, out
    assert "network cut): https://example.org/" in out
    assert "console error: broken" in out
    assert "uncaught JavaScript error: Error: boom" in out
    shots = sorted(p.name for p in (tmp_path / "test-artifacts").iterdir())
    assert shots == ["test_breaks_every_rule.png", "test_fails.png"]
    assert f"screenshot: {tmp_path / 'test-artifacts' / 'test_fails.png'}" in out
    png = (tmp_path / "test-artifacts" / "test_fails.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 1000
