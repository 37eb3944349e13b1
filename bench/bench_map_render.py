"""Benchmark: the web map's first complete render with 10,000 projects in view.

Target (issue 5, deliverable 9): the time to a complete first render of the map page (``/``)
with 10,000 projects in view, in headless chromium, and the ratio against a naive folium page
that embeds the same 10,000 features as GeoJSON, measured in the same run.

Data: the seeded synthetic region of ``bench_detection.py`` (same generator and ``--seed``;
30 × 30 km of EPSG:25832, no layer features) with ``--projects`` projects, written into the
embedded store of a temporary instance folder. No layers, so the page shows no base layers;
no cases (detection is not run). The app runs under waitress on a free local port.

The browser is signed in, as a person using the map would be: a region admin account
(``bench.admin``, created through the account service) signs in once through the login
form (``/login``, not measured), and every measured context starts with that session
cookie (and nothing else: its HTTP cache is cold).

The view is the whole region: the largest zoom at which it fits the map (1366×768 window
minus the 380 px side panel), opened through the address (``/#zoom/lat/lon``), so all
projects are in view and the page draws them as clusters.

- ZUGABE: from navigation start (``performance``'s time origin) to the moment the page sets
  ``document.body.dataset.loading`` to ``"false"`` for the last time (every request answered
  and the clusters built), then two ``requestAnimationFrame``s so that painting is included.
  The moment is taken inside the page (a ``MutationObserver`` calls ``performance.now()``).
  The run checks that ``#project-count`` says all projects are in view and clustered.
- naive: what a developer writes first: a folium map (Leaflet's default SVG renderer, no
  tiles) with one ``folium.GeoJson`` of all projects as RFC 7946 features (as the API gives
  them), styled per department (``style_function``) with a ``GeoJsonTooltip`` of the title.
  It is a ``LocalMap`` like the map page: the same vendored Leaflet from the same server,
  folium's other CDN assets (jQuery, Bootstrap, …) dropped, so it is leaner than a real
  first attempt and neither page reaches the internet; its scripts stay inline (its
  Content-Security-Policy is the app's with ``'unsafe-inline'`` scripts). Built once in
  Python (time printed, not part of the figure) and served by the same app; measured from
  navigation start to the ``load`` event plus two ``requestAnimationFrame``s. The run
  checks that 10,000 SVG paths are drawn.

Every run opens a new browser context, so the HTTP cache is cold; the server is warmed up by
one unmeasured run of each page. The pages alternate, ``--runs`` times each. An extra line
gives ZUGABE at zoom 13 in the centre, where ~1,000 projects are drawn as geometries.

    .venv/bin/python bench/bench_map_render.py            # 10,000 projects, 5 runs per page
    .venv/bin/python bench/bench_map_render.py --runs 9                # steadier medians
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import secrets
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import folium
from bench_detection import SIZE, X0, Y0, synthetic_region
from branca.element import Element
from flask import Response
from playwright.sync_api import Browser, Page, sync_playwright
from pyproj import Transformer

from zugabe.domain.accounts import Actor, Role
from zugabe.services import Services
from zugabe.services.accounts import AccountInput
from zugabe.storage.contract import NewProject
from zugabe.web import create_app
from zugabe.web.background import BackgroundServer
from zugabe.web.security import content_security_policy
from zugabe.web.webmap import LocalMap

VIEWPORT = {"width": 1366, "height": 768}
PANEL = 380  # px, the side panel of the map page (zugabe-map.css, --panel)
HIGH_ZOOM = 13  # ~1,000 of 10,000 projects in view: drawn as geometries
# The script itself (creating the account): a system actor; the browser signs in as USERNAME.
SYSTEM = Actor.system("bench", roles=frozenset({Role.REGION_ADMIN}))
USERNAME = "bench.admin"
# The app script's palette, given to departments in vocabulary order (zugabe-map.js).
DEPARTMENT_COLORS = [
    "#1f78b4", "#8c510a", "#33a02c", "#e7298a", "#ff7f00",
    "#6a3d9a", "#b15928", "#01665e", "#a6761d", "#666666",
]  # fmt: skip

# Installed before any page script: timestamps taken inside the page, in performance time.
PROBE = """
(() => {
  const bench = { log: [], load: null, loadPainted: null };
  window.__bench = bench;
  const twoFrames = (done) => requestAnimationFrame(() => requestAnimationFrame(done));
  new MutationObserver(() => {
    const value = document.body && document.body.dataset.loading;
    const entry = { value, t: performance.now(), painted: null };
    bench.log.push(entry);
    if (value === "false") twoFrames(() => { entry.painted = performance.now(); });
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-loading"] });
  addEventListener("load", () => {
    bench.load = performance.now();
    twoFrames(() => { bench.loadPainted = performance.now(); });
  });
})();
"""

# Sizes and times of what the page loaded (cold cache: transferSize is what came over the wire).
RESOURCES = """
() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  return {
    html: nav.decodedBodySize,
    dcl: nav.domContentLoadedEventEnd,
    transferred: nav.transferSize + resources.reduce((s, r) => s + r.transferSize, 0),
    requests: 1 + resources.length,
    api: resources.filter((r) => r.name.includes("/api/")).map((r) => ({
      path: new URL(r.name).pathname, start: r.startTime, end: r.responseEnd,
      bytes: r.transferSize,
    })),
  };
}
"""

ZUGABE_DONE = """
() => document.body !== null && document.body.dataset.loading === "false"
  && document.getElementById("project-count").textContent.trim() !== ""
  && window.__bench.log.length > 0 && window.__bench.log.at(-1).painted !== null
"""

CLUSTERS = """
() => {
  const icons = [...document.querySelectorAll(".marker-cluster span")];
  return { clusters: icons.length, held: icons.reduce((s, n) => s + Number(n.textContent), 0) };
}
"""


@dataclass
class Run:
    """One page load, times in ms from navigation start."""

    ready: float  # ZUGABE: loading=false for the last time; naive: the load event
    painted: float  # two animation frames later: the figure
    dcl: float
    html: int
    transferred: int
    requests: int
    api: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


# --------------------------------------------------------------------------- server


# --------------------------------------------------------------------------- the pages


def whole_region_view(map_width: int, map_height: int) -> tuple[int, float, float]:
    """The largest zoom (and the centre) at which the region fits the map, with a margin."""
    to_wgs84 = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
    to_mercator = Transformer.from_crs("EPSG:25832", "EPSG:3857", always_xy=True)
    lon, lat = to_wgs84.transform(X0 + SIZE / 2, Y0 + SIZE / 2)
    xs, ys = to_mercator.transform([X0, X0 + SIZE, X0, X0 + SIZE], [Y0, Y0, Y0 + SIZE, Y0 + SIZE])
    width, height = max(xs) - min(xs), max(ys) - min(ys)
    zoom = 0
    while zoom < 19:
        metres_per_px = 2 * math.pi * 6_378_137 / (256 * 2 ** (zoom + 1))
        if width / metres_per_px > 0.95 * map_width or height / metres_per_px > 0.95 * map_height:
            break
        zoom += 1
    return zoom, lat, lon


def naive_page(features: list[dict], departments: list[str], zoom: int, centre: tuple) -> str:
    """The folium page a developer writes first: every feature embedded as GeoJSON."""
    colors = {d: DEPARTMENT_COLORS[i % len(DEPARTMENT_COLORS)] for i, d in enumerate(departments)}

    def style(feature: dict) -> dict:
        color = colors.get(feature["properties"]["department"], "#333")
        return {
            "color": color,
            "weight": 4,
            "opacity": 0.9,
            "fillColor": color,
            "fillOpacity": 0.25,
        }

    page = LocalMap(location=centre, zoom_start=zoom, tiles=None)
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name="projects",
        style_function=style,
        tooltip=folium.GeoJsonTooltip(fields=["title"]),
    ).add_to(page)
    # No favicon request (a 404 in the console), as on the map page.
    page.get_root().header.add_child(Element('<link rel="icon" href="data:,">'))
    return page.get_root().render()


# --------------------------------------------------------------------------- measuring


def sign_in(browser: Browser, base: str, username: str, password: str) -> dict[str, Any]:
    """Sign in through the login form once; the context's cookies (the session) to reuse."""
    context = browser.new_context(viewport=VIEWPORT, locale="de-DE", service_workers="block")
    try:
        page = context.new_page()
        page.goto(f"{base}/login?next=/api/me")
        page.fill("#username", username)
        page.fill("#password", password)
        with page.expect_navigation(url=f"{base}/api/me"):
            page.click("#sign-in")
        me = page.evaluate("() => JSON.parse(document.body.innerText)")
        if not me.get("authenticated") or me.get("username") != username:
            raise RuntimeError(f"signing in as {username} failed: {me}")
        return context.storage_state()
    finally:
        context.close()


def open_page(browser: Browser, url: str, state: dict[str, Any]) -> tuple[Any, Page, list[str]]:
    """A page in a new context (cold HTTP cache, signed-in session cookie) with the probe
    installed; errors recorded."""
    context = browser.new_context(
        viewport=VIEWPORT, locale="de-DE", service_workers="block", storage_state=state
    )
    context.add_init_script(PROBE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: None if r.url.startswith((url, "data:")) else errors.append(r.url))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return context, page, errors


def zugabe_run(browser: Browser, base: str, state: dict[str, Any], fragment: str) -> Run:
    """The map page until everything is drawn (and painted), plus its checks' material."""
    context, page, errors = open_page(browser, base, state)
    try:
        page.goto(f"{base}/#{fragment}", wait_until="commit")
        deadline = time.monotonic() + 60
        while True:  # done, and still done half a second later: no later request or redraw
            page.wait_for_function(ZUGABE_DONE, polling=50, timeout=60_000)
            settled = page.evaluate("window.__bench.log.length")
            page.wait_for_timeout(500)
            log = page.evaluate("window.__bench.log")
            if len(log) == settled and log[-1]["value"] == "false" and log[-1]["painted"]:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the page did not settle within 60 s: {log}")
        info = page.evaluate(RESOURCES)
        note = page.locator("#project-count").inner_text()
        clusters = page.evaluate(CLUSTERS)
    finally:
        context.close()
    if errors:
        raise RuntimeError(f"the ZUGABE page had errors or left the server: {errors[:5]}")
    note += f" | {clusters['clusters']} clusters on screen holding {clusters['held']} projects"
    return Run(
        log[-1]["t"],
        log[-1]["painted"],
        info["dcl"],
        info["html"],
        info["transferred"],
        info["requests"],
        info["api"],
        note,
    )


def naive_run(browser: Browser, base: str, state: dict[str, Any]) -> Run:
    """The naive page until its load event and two frames later."""
    context, page, errors = open_page(browser, base, state)
    try:
        page.goto(f"{base}/bench/naive", wait_until="load", timeout=120_000)
        # A function, not an expression: Playwright polls an expression with eval, which
        # the Content-Security-Policy forbids.
        page.wait_for_function("() => window.__bench.loadPainted !== null", polling=50)
        timing = page.evaluate("({load: window.__bench.load, painted: window.__bench.loadPainted})")
        info = page.evaluate(RESOURCES)
        paths = page.evaluate("document.querySelectorAll('.leaflet-overlay-pane path').length")
    finally:
        context.close()
    if errors:
        raise RuntimeError(f"the naive page had errors or left the server: {errors[:5]}")
    return Run(
        timing["load"],
        timing["painted"],
        info["dcl"],
        info["html"],
        info["transferred"],
        info["requests"],
        note=f"{paths} SVG paths drawn",
    )


def measure(label: str, runs: list[Run]) -> str:
    """One summary line: median and min of the figure."""
    painted = [r.painted for r in runs]
    return (
        f"{label}: median {statistics.median(painted):7.0f} ms, min {min(painted):7.0f} ms"
        f"  (runs: {', '.join(f'{p:.0f}' for p in painted)})"
    )


def phases(runs: list[Run], ready_label: str) -> str:
    """Medians of the milestones on the way to the figure."""
    dcl = statistics.median(r.dcl for r in runs)
    ready = statistics.median(r.ready for r in runs)
    line = f"    median DOMContentLoaded {dcl:.0f} ms, {ready_label} {ready:.0f} ms"
    points = [[a["end"] for a in r.api if a["path"] == "/api/projects/points"] for r in runs]
    if all(points):
        answered = statistics.median(max(p) for p in points)
        line += f", last /api/projects/points answered at {answered:.0f} ms"
    return line


def sizes(run: Run) -> str:
    return (
        f"    HTML {run.html / 1e6:.2f} MB, transferred {run.transferred / 1e6:.2f} MB "
        f"in {run.requests} requests (cold cache)"
    )


def api_lines(run: Run) -> list[str]:
    """The API requests of one run, in order, with their times: why the page took as long."""
    return [
        f"      {a['path']:<22} {a['start']:6.0f} → {a['end']:6.0f} ms, {a['bytes'] / 1e3:7.1f} kB"
        for a in sorted(run.api, key=lambda a: a["start"])
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5, help="measured loads of each page")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    executable = shutil.which("chromium")
    if executable is None:
        raise SystemExit("chromium is not installed: run `make browser`")

    with tempfile.TemporaryDirectory(prefix="zugabe-bench-") as instance:
        app = create_app({"instance_path": instance})
        services: Services = app.extensions["zugabe"]
        started = time.perf_counter()
        projects, _ = synthetic_region(
            args.seed, args.projects, 0, services.vocabulary, services.layers.definitions
        )
        generated = time.perf_counter() - started
        started = time.perf_counter()
        services.store.add_projects(NewProject(p.attributes, p.geometry, "bench") for p in projects)
        written = time.perf_counter() - started
        password = secrets.token_urlsafe(18)
        services.accounts.add(
            SYSTEM,
            AccountInput(
                username=USERNAME,
                display_name="Benchmark region admin",
                roles=frozenset({Role.REGION_ADMIN}),
            ),
            password,
        )
        print(
            f"store: {args.projects:,} projects, no layers "
            f"(generated {generated:.1f} s, written {written:.1f} s; not measured)"
        )

        zoom, lat, lon = whole_region_view(VIEWPORT["width"] - PANEL, VIEWPORT["height"])
        started = time.perf_counter()
        features = [services.projects.to_feature(p) for p in projects]
        html = naive_page(features, list(services.vocabulary.departments), zoom, (lat, lon))
        built = time.perf_counter() - started
        del features
        # folium writes inline scripts, which the app's Content-Security-Policy forbids (the
        # map page moves its own into files): the naive page gets the same policy with
        # inline scripts allowed, as it would have on a server of its own.
        naive_policy = content_security_policy(services.settings).replace(
            "script-src 'self'", "script-src 'self' 'unsafe-inline'"
        )
        app.add_url_rule(
            "/bench/naive",
            "bench_naive",
            lambda: Response(
                html, mimetype="text/html", headers={"Content-Security-Policy": naive_policy}
            ),
        )
        print(
            f"naive page: folium built it in {built:.1f} s (served prebuilt; not measured), "
            f"{len(html.encode()) / 1e6:.1f} MB"
        )

        load_before = os.getloadavg()[0]
        # A page's parallel requests queue briefly: waitress would warn about each.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        running = BackgroundServer.start(app)
        whole = f"{zoom}/{lat:.5f}/{lon:.5f}"
        close = f"{HIGH_ZOOM}/{lat:.5f}/{lon:.5f}"
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=executable, headless=True, args=["--no-sandbox"]
                )
                print(
                    f"chromium {browser.version} headless, window {VIEWPORT['width']}×"
                    f"{VIEWPORT['height']}; view #{whole} (the whole region); {args.runs} runs "
                    "per page, alternating, each in a new context (cold HTTP cache), after one "
                    "unmeasured warm-up of each"
                )
                state = sign_in(browser, running.url, USERNAME, password)
                print(f"signed in as {USERNAME} (region admin) through /login; session reused")
                zugabe_run(browser, running.url, state, whole)
                naive_run(browser, running.url, state)
                zugabe: list[Run] = []
                naive: list[Run] = []
                for _ in range(args.runs):
                    zugabe.append(zugabe_run(browser, running.url, state, whole))
                    naive.append(naive_run(browser, running.url, state))
                zugabe_run(browser, running.url, state, close)
                geometries = [
                    zugabe_run(browser, running.url, state, close) for _ in range(args.runs)
                ]
                browser.close()
        finally:
            running.stop()
            services.close()

    wanted = (str(args.projects), f"{args.projects:,}".replace(",", "."))
    for run in zugabe:
        if not any(w in run.note for w in wanted) or "zusammengefasst" not in run.note:
            raise RuntimeError(f"not all projects in view, or not clustered: {run.note}")
    for run in naive:
        if not run.note.startswith(f"{args.projects} "):
            raise RuntimeError(f"the naive page did not draw every project: {run.note}")
    for run in geometries:
        if "zusammengefasst" in run.note:
            raise RuntimeError(f"clustered at zoom {HIGH_ZOOM}: {run.note}")

    print()
    print(
        f"load average (1 min) before / after the runs: {load_before:.1f} / "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (chromium and the server share them)"
    )
    print(measure("ZUGABE map page, first complete render", zugabe))
    print(phases(zugabe, "loading=false (requests done, clusters built)"))
    print(sizes(zugabe[0]))
    print(f"    check: {zugabe[0].note}")
    print("    API requests of the first measured run (start → end):")
    print("\n".join(api_lines(zugabe[0])))
    print(measure("naive folium GeoJson page, drawn     ", naive))
    print(phases(naive, "load event"))
    print(sizes(naive[0]))
    print(f"    check: {naive[0].note}")
    ratio = statistics.median(r.painted for r in naive) / statistics.median(
        r.painted for r in zugabe
    )
    print(f"ratio naive / ZUGABE (medians): {ratio:.1f}×")
    print()
    print(measure(f"ZUGABE at #{close}, geometries", geometries))
    print(phases(geometries, "loading=false"))
    print(sizes(geometries[0]))
    print(f"    check: {geometries[0].note}")


if __name__ == "__main__":
    main()
