"""Browser tests: the real app served by waitress, driven in Debian's chromium by Playwright.

Fixtures (how a test uses them):

- ``live_server``: an empty store, served on a free port; ``live_server.url``
  (no trailing slash) and ``live_server.services`` (the app's ``Services``,
  to arrange data or check what a page stored).
- ``demo_server``: the same with the demo town of ``sample_data/`` loaded
  (layers, 150 projects, their cases); a fresh copy for every test.
- ``page``: a Playwright ``Page`` in a new context (1366×768, de-DE) with the
  network cut: only 127.0.0.1 is reached. After the test body, the test fails
  when the page tried to reach another host, logged a console error, or
  raised an uncaught JavaScript error.
- ``new_page``: another such page in a context of its own (another person, with
  cookies of their own), watched by the same guard.
- ``page_guard``: what the pages recorded; a test that provokes a console
  error on purpose (a 412 or 422 answer logs one) declares it with
  ``page_guard.allow_console_error(regex)``; one that serves a page of its
  own on another local origin allows it with ``page_guard.allow_host(name)``.
- ``browser``: the session's chromium, for tests that need contexts of their own.
- ``other_site``: a tiny static web server of the test's own on another port of
  127.0.0.1 (also reachable as ``localhost``): pages that ZUGABE does not serve,
  without its Content-Security-Policy — an attacker's page, say.

Signing in: the servers need a signed-in user for everything but the login
page and the API docs. ``sign_in(page, server, "h.planner", next="/#17/…")``
creates the account on first use (``ACCOUNTS``: username -> display name,
organisation, roles, departments; password ``PASSWORD``) and signs the page in
through the real login form, landing on ``next``. ``add_account`` creates any
other account; ``ADMIN_ACTOR`` is a region admin for arranging and checking
data through the services directly.

A failing browser test leaves a full-page screenshot in
``test-artifacts/<test name>.png`` under the rootdir and names it in the report.

The tests fail, never skip, when chromium or Playwright is missing: ``make test``
installs both (``make browser``), and CI must not pass without running them.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from flask import Flask

from zugabe.domain.accounts import Account, Actor, Role
from zugabe.services import Services
from zugabe.services.accounts import AccountInput
from zugabe.services.demo import load_demo_layers, load_demo_projects
from zugabe.web import create_app
from zugabe.web.background import BackgroundServer

try:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Error,
        Page,
        Route,
        ViewportSize,
        sync_playwright,
    )
except ImportError as exc:  # a setup problem: say how to fix it
    raise ImportError(
        "Playwright for Python is missing: run `make test` or `.venv/bin/pip install -e '.[dev]'`"
    ) from exc

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DATA = ROOT / "sample_data"
HERE = Path(__file__).resolve().parent

# The only host a page may reach: the live server. Anything else would not
# work on a planner's machine with the network cut (issue 5, item 5).
LOCAL_HOSTS = frozenset({"127.0.0.1"})

VIEWPORT: ViewportSize = {"width": 1366, "height": 768}
LOCALE = "de-DE"
# As root chromium will not start with its sandbox. Playwright adds --no-sandbox
# by default too (unless chromium_sandbox=True); said here so nobody turns it on.
# Its other defaults already switch off background networking and component
# updates, which this machine's closed network would otherwise refuse noisily.
CHROMIUM_ARGS = ["--no-sandbox"]

ADMIN_ACTOR = Actor.system("test.admin", roles=frozenset({Role.REGION_ADMIN}))
"""A region admin for arranging and checking data through the services directly."""

PASSWORD = "Kanal-und-Straße 2027"
"""The password of every account ``sign_in`` creates (long enough for the password rules)."""

# The people the browser tests sign in as: username -> display name, organisation,
# roles, departments. Display names are not ASCII on purpose.
ACCOUNTS: dict[str, tuple[str, str | None, frozenset[Role], tuple[str, ...]]] = {
    "r.admin": ("Regine Öztürk", None, frozenset({Role.REGION_ADMIN}), ()),
    "h.planner": ("Hanna Müller", "herne", frozenset({Role.PLANNER}), ("roads", "drainage")),
    "h.coordinator": ("Jörg Koordinator", "herne", frozenset({Role.COORDINATOR}), ()),
    "h.viewer": ("Vera Leser", "herne", frozenset({Role.VIEWER}), ()),
    "b.planner": ("Björn Planer", "bochum", frozenset({Role.PLANNER}), ("roads", "drainage")),
    "b.coordinator": ("Birgit Koordinatorin", "bochum", frozenset({Role.COORDINATOR}), ()),
}

PAGE_KEY = pytest.StashKey[Page]()
PAGES_KEY = pytest.StashKey[list[Page]]()
GUARD_KEY = pytest.StashKey["PageGuard"]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``browser`` (``-m 'not browser'`` for a quick local run)."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)


# --- the server -----------------------------------------------------------


@dataclass
class LiveServer:
    """The app served over HTTP; ``url`` has no trailing slash."""

    url: str
    services: Services
    instance_path: Path


def _stop(running: BackgroundServer, app: Flask) -> None:
    """Stop the server, its worker threads and the store."""
    stopped = running.stop()
    app.extensions["zugabe"].close()
    if not stopped:
        pytest.fail("the live server did not stop within 10 s")


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The app on an empty store of its own.

    Function-scoped: a test that saves, edits or deletes projects must not
    change what the next one sees, and a fresh store costs ~0.1 s.
    """
    instance = tmp_path / "instance"
    app = create_app({"instance_path": instance})
    running = BackgroundServer.start(app)
    try:
        yield LiveServer(running.url, app.extensions["zugabe"], instance)
    finally:
        _stop(running, app)


@pytest.fixture(scope="session")
def _demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance folder with the demo town loaded, once per session (~1.5 s)."""
    instance = tmp_path_factory.mktemp("demo") / "instance"
    app = create_app({"instance_path": instance})
    services: Services = app.extensions["zugabe"]
    try:
        load_demo_layers(services.layers, SAMPLE_DATA, ADMIN_ACTOR)
        if not load_demo_projects(services.projects, SAMPLE_DATA, ADMIN_ACTOR):
            pytest.fail(f"no demo projects loaded from {SAMPLE_DATA}")
    finally:
        services.close()  # checkpoints the WAL: the folder is one file to copy
    return instance


@pytest.fixture
def demo_server(_demo_template: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """The app on a fresh copy of the demo town (as ``make run`` serves it)."""
    instance = tmp_path / "instance"
    shutil.copytree(_demo_template, instance)
    app = create_app({"instance_path": instance})
    running = BackgroundServer.start(app)
    try:
        yield LiveServer(running.url, app.extensions["zugabe"], instance)
    finally:
        _stop(running, app)


class OtherSite:
    """Static pages on another port of this machine: ``add(path, html)``, ``url(host)``."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                html = pages.get(self.path.split("?")[0])
                body = (html if html is not None else "not found").encode("utf-8")
                self.send_response(200 if html is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the test reports what matters

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, html: str) -> None:
        self.pages[path] = html

    def url(self, host: str = "127.0.0.1") -> str:
        """The site's address, no trailing slash; ``localhost`` makes it another *site*."""
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def other_site() -> Iterator[OtherSite]:
    site = OtherSite()
    try:
        yield site
    finally:
        site.stop()


# --- accounts and signing in ---------------------------------------------


def add_account(
    server: LiveServer,
    username: str,
    *,
    display_name: str,
    organisation: str | None,
    roles: frozenset[Role],
    departments: tuple[str, ...] = (),
    password: str = PASSWORD,
    email: str = "",
) -> Account:
    """A new active account with a known password, created by a region admin."""
    themes = ("*",) if Role.DATA_STEWARD in roles else ()
    new = AccountInput(username, display_name, email, organisation, departments, roles, themes)
    return server.services.accounts.add(ADMIN_ACTOR, new, password)


def ensure_account(server: LiveServer, username: str) -> None:
    """One of ``ACCOUNTS``, created with ``PASSWORD`` and the e-mail address
    ``<username>@example.org`` unless the store has it."""
    if server.services.store.find_account(username) is not None:
        return
    display_name, organisation, roles, departments = ACCOUNTS[username]
    add_account(
        server,
        username,
        display_name=display_name,
        organisation=organisation,
        roles=roles,
        departments=departments,
        email=f"{username}@example.org",
    )


def sign_in(
    page: Page, server: LiveServer, username: str, *, password: str = PASSWORD, next: str = "/"
) -> None:
    """Sign ``page`` in through the login form as ``username`` and land on ``next``.

    A name of ``ACCOUNTS`` is created on first use; any other must exist already.
    ``next`` may carry the map's view (``/#17/51.54085/7.21350``): the login form
    hands it back as the address to go to.
    """
    if username in ACCOUNTS:
        ensure_account(server, username)
    page.goto(f"{server.url}/login?next={quote(next, safe='')}")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("#sign-in")
    # Without the fragment: the map keeps its view there, and may have rewritten it already.
    target = server.url + next.split("#")[0]
    page.wait_for_url(lambda url: url.split("#")[0] == target)


# --- the browser ----------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, one for the session (its start costs ~1 s)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "chromium is not installed: run `make browser` (as root it installs Debian's "
            "chromium package; otherwise install it yourself). Browser tests must not skip.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def is_local(url: str, also: frozenset[str] | set[str] = frozenset()) -> bool:
    """Whether a page may load ``url`` with the network cut (``also``: hosts a test allows)."""
    return urlsplit(url).hostname in LOCAL_HOSTS | also


@dataclass
class PageGuard:
    """What a page did that it must not: reach the internet, log errors, throw."""

    blocked_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    allowed_console_errors: list[re.Pattern[str]] = field(default_factory=list)
    accepted_console_errors: list[str] = field(default_factory=list)  # matched an allowed pattern
    allowed_hosts: set[str] = field(default_factory=set)  # beyond 127.0.0.1, for this test

    def allow_console_error(self, pattern: str) -> None:
        """Accept console errors matching ``pattern`` (e.g. ``r"status of 412"``) in this test."""
        self.allowed_console_errors.append(re.compile(pattern))

    def allow_host(self, host: str) -> None:
        """Let pages reach ``host`` too: only another name of this machine (``localhost``)."""
        if host not in {"localhost", "::1", "[::1]"}:
            raise ValueError(f"{host} is not this machine: the network stays cut")
        self.allowed_hosts.add(host.strip("[]"))

    def on_route(self, route: Route) -> None:
        """Let requests to the live server through; abort and record every other."""
        url = route.request.url
        if is_local(url, self.allowed_hosts):
            route.continue_()
        else:
            self.blocked_requests.append(url)
            route.abort("internetdisconnected")

    def watch(self, page: Page) -> None:
        """Record what ``page`` logs and throws."""
        page.on("console", self.on_console)
        page.on("pageerror", self.on_page_error)
        page.on("websocket", lambda ws: self.on_websocket(ws.url))

    def on_websocket(self, url: str) -> None:
        if not is_local(url, self.allowed_hosts):
            self.blocked_requests.append(url)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        text = message.text
        location = message.location.get("url") or ""
        # A blocked request logs "Failed to load resource: net::ERR_INTERNET_DISCONNECTED";
        # it is reported once, as a blocked request.
        blocked = location in self.blocked_requests
        if location and not is_local(location, self.allowed_hosts) and blocked:
            return
        line = f"{text} ({location})" if location else text
        if any(p.search(text) for p in self.allowed_console_errors):
            self.accepted_console_errors.append(line)
        else:
            self.console_errors.append(line)

    def on_page_error(self, error: Error) -> None:
        self.page_errors.append(error.stack or f"{error.name}: {error.message}")

    def problems(self) -> list[str]:
        """One line per problem, empty when the page behaved."""
        return (
            [
                f"request to a host other than 127.0.0.1 (network cut): {u}"
                for u in self.blocked_requests
            ]
            + [f"console error: {t}" for t in self.console_errors]
            + [f"uncaught JavaScript error: {t}" for t in self.page_errors]
        )

    def pop_problems(self) -> list[str]:
        """Return and forget the problems: only for tests of this guard itself."""
        found = self.problems()
        self.blocked_requests.clear()
        self.console_errors.clear()
        self.page_errors.clear()
        return found


@pytest.fixture
def page_guard() -> PageGuard:
    """The record of the test's ``page``; checked after the test body."""
    return PageGuard()


@pytest.fixture
def new_page(
    browser: Browser, page_guard: PageGuard, request: pytest.FixtureRequest
) -> Iterator[Callable[[], Page]]:
    """Make a fresh page (new context: no cookies or storage of any other) with the network
    cut, watched by ``page_guard``; every context is closed after the test."""
    contexts: list[BrowserContext] = []
    pages: list[Page] = []
    request.node.stash[GUARD_KEY] = page_guard
    request.node.stash[PAGES_KEY] = pages

    def make() -> Page:
        context = browser.new_context(
            viewport=VIEWPORT,
            locale=LOCALE,
            # Requests of a service worker would bypass the route below.
            service_workers="block",
        )
        contexts.append(context)
        context.route("**/*", page_guard.on_route)
        # Fires for new_page() too, and for any popup the test opens.
        context.on("page", page_guard.watch)
        page = context.new_page()
        pages.append(page)
        return page

    try:
        yield make
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def page(
    new_page: Callable[[], Page], page_guard: PageGuard, request: pytest.FixtureRequest
) -> Page:
    """The test's page: the first of ``new_page``, screenshotted when the test fails."""
    page = new_page()
    request.node.stash[PAGE_KEY] = page
    return page


# --- checks and reports ---------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail the test itself (not its teardown) when its page broke the rules.

    Checked here rather than in the fixture's teardown so that the failure is
    the test's, and the screenshot below shows the page as the test left it.
    """
    try:
        result = yield
    except BaseException as exc:
        guard = item.stash.get(GUARD_KEY, None)
        for problem in guard.problems() if guard else []:
            exc.add_note(f"also: {problem}")
        raise
    guard = item.stash.get(GUARD_KEY, None)
    for page in item.stash.get(PAGES_KEY, []):
        if not page.is_closed():
            # A round trip delivers the events chromium sent before it.
            with contextlib.suppress(Error):
                page.evaluate("0")
    if guard is not None and (problems := guard.problems()):
        message = "the page broke the rules of browser tests:\n  " + "\n  ".join(problems)
        pytest.fail(message, pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[pytest.TestReport]:
    """Save a full-page screenshot when a browser test fails, and name it in the report."""
    report: pytest.TestReport = yield
    page = item.stash.get(PAGE_KEY, None)
    if report.failed and report.when in ("setup", "call") and page is not None:
        folder = item.config.rootpath / "test-artifacts"
        folder.mkdir(exist_ok=True)
        path = folder / (re.sub(r"[^\w.-]+", "_", item.name).strip("_") + ".png")
        try:
            page.screenshot(path=str(path), full_page=True)
            note = f"screenshot: {path}"
        except Exception as exc:  # a crashed page must not hide the real failure
            note = f"no screenshot ({type(exc).__name__}: {exc})"
        report.sections.append(("browser", note))
    return report
