"""Signing in, what each role is offered on the map, and what other sites cannot do.

The map offers only what the signed-in person may do (``permissions`` of ``GET /api/me``);
the server still checks every request, which the tests here force where the map would not
even offer the button. The page guard stays on: a request off the machine, a console error
(a CSP violation is one) or a JavaScript error fails the test unless it says otherwise.
"""

from __future__ import annotations

import copy
import html
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Response, expect

from tests.browser.conftest import (
    ADMIN_ACTOR,
    PASSWORD,
    ROOT,
    LiveServer,
    OtherSite,
    PageGuard,
    add_account,
    sign_in,
)
from tests.conftest import VALID_FEATURE
from zugabe.domain.accounts import Role
from zugabe.services.projects import ProjectFilter

VIEW = "#17/51.54085/7.21350"  # on the road of VALID_FEATURE, in Herne


def idle(page: Page) -> None:
    """Every request the map started is answered and drawn."""
    expect(page.locator("body")).to_have_attribute("data-loading", "false")


def open_map(page: Page, server: LiveServer, username: str, view: str = VIEW) -> None:
    sign_in(page, server, username, next="/" + view)
    idle(page)


def add_project(server: LiveServer, **properties: Any) -> int:
    doc = copy.deepcopy(VALID_FEATURE)
    doc["properties"].update(properties)
    return server.services.projects.create(doc, ADMIN_ACTOR).id


def project_count(server: LiveServer) -> int:
    return server.services.projects.list(ADMIN_ACTOR, ProjectFilter(), limit=1).number_matched


def stored_title(server: LiveServer, project_id: int) -> str:
    return server.services.projects.get(ADMIN_ACTOR, project_id).attributes.title


# --------------------------------------------------------------------------- signing in


def test_sign_in_with_a_wrong_then_the_right_password_and_sign_out(
    live_server: LiveServer, page: Page, page_guard: PageGuard
) -> None:
    add_account(
        live_server,
        "a.yilmaz",
        display_name="Ayşe Yılmaz",
        organisation="herne",
        roles=frozenset({Role.PLANNER}),
        departments=("roads",),
    )
    # Signed out, the map asks for a sign-in first.
    page.goto(live_server.url + "/")
    assert urlsplit(page.url).path == "/login"
    assert parse_qs(urlsplit(page.url).query)["next"] == ["/"]
    expect(page.get_by_role("heading", level=1)).to_have_text("Bei ZUGABE anmelden")
    # A wrong password: the form again, with the reason in German (a 401 answer).
    page_guard.allow_console_error(r"status of 401")
    page.fill("#username", "a.yilmaz")
    page.fill("#password", "Falsches-Passwort 1")
    page.click("#sign-in")
    expect(page.locator("#login-error")).to_have_text("Benutzername oder Passwort ist falsch.")
    assert page.locator("#account-name").count() == 0
    # The right one: the map, with the display name and a way out.
    page.fill("#username", "a.yilmaz")
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    expect(page.locator("#account-name")).to_have_text("Ayşe Yılmaz")
    assert urlsplit(page.url).path == "/"
    idle(page)
    expect(page.locator("#sign-out")).to_have_text("Abmelden")
    # Signing out ends the session on the server: the login page, and the map asks again.
    page.click("#sign-out")
    expect(page.locator("#login-notice")).to_have_text("Sie sind abgemeldet.")
    assert urlsplit(page.url).path == "/login"
    page.goto(live_server.url + "/")
    assert urlsplit(page.url).path == "/login"
    expect(page.locator("#sign-in")).to_be_visible()
    assert page.evaluate("fetch('/api/me').then(r => r.status)") == 401


def test_an_ended_session_leads_to_the_login_page_and_back_to_the_view(
    live_server: LiveServer, page: Page, page_guard: PageGuard
) -> None:
    open_map(page, live_server, "h.planner")
    view = urlsplit(page.url).fragment
    assert view, page.url
    # An administrator sets a new password: every session of the account ends.
    new_password = "Neues-Passwort 2028"
    live_server.services.accounts.set_password(ADMIN_ACTOR, "h.planner", new_password)
    page_guard.allow_console_error(r"status of 401")
    page.select_option("#filter-status", "planning")  # the map asks the server again: 401
    expect(page.locator("#sign-in")).to_be_visible()
    assert urlsplit(page.url).path == "/login"
    assert parse_qs(urlsplit(page.url).query)["next"] == [f"/#{view}"]
    page.fill("#username", "h.planner")
    page.fill("#password", new_password)
    page.click("#sign-in")
    expect(page.locator("#account-name")).to_have_text("Hanna Müller")
    idle(page)
    assert urlsplit(page.url).fragment == view  # the same place on the map


# --------------------------------------------------------------------------- roles


def test_a_viewer_is_offered_nothing_to_change(live_server: LiveServer, page: Page) -> None:
    road_id = add_project(live_server, title="Fahrbahn Bahnhofstraße")
    add_project(
        live_server,
        title="Kanal Bahnhofstraße",
        department="drainage",
        measure_type="sewer_rehabilitation",
    )
    open_map(page, live_server, "h.viewer")
    expect(page.locator("#account-name")).to_have_text("Vera Leser")
    expect(page.locator(".leaflet-draw")).to_have_count(0)
    expect(page.locator("#hint-text")).to_have_text(
        "Klicken Sie eine Maßnahme oder einen Koordinierungsfall an, um Einzelheiten zu sehen."
    )
    page.evaluate(f"ZugabeMap.showProject({road_id})")
    expect(page.locator("#project-title")).to_have_text("Fahrbahn Bahnhofstraße")
    expect(page.locator("#edit")).to_be_hidden()
    page.locator("#cases li.case").first.click()
    expect(page.locator("#case-detail")).to_be_visible()
    expect(page.locator("#case-review")).to_be_hidden()
    expect(page.locator("#case-commenting")).to_be_hidden()


def test_a_planner_of_bochum_cannot_change_a_herne_project(
    live_server: LiveServer, page: Page, page_guard: PageGuard
) -> None:
    herne_id = add_project(live_server, title="Fahrbahn Bahnhofstraße")
    bochum_id = add_project(live_server, title="Radweg Stadtgrenze", organisation="bochum")
    open_map(page, live_server, "b.planner")
    # A planner draws; the form offers the own organisation only, and starts there.
    expect(page.locator("a.leaflet-draw-draw-polygon")).to_be_visible()
    organisations = page.locator("#project-form select[name=organisation] option")
    expect(organisations).to_have_count(1)
    expect(organisations).to_have_attribute("value", "bochum")
    # Their own organisation's project can be edited, Herne's cannot.
    page.evaluate(f"ZugabeMap.showProject({bochum_id})")
    expect(page.locator("#project-title")).to_have_text("Radweg Stadtgrenze")
    expect(page.locator("#edit")).to_be_visible()
    page.evaluate(f"ZugabeMap.showProject({herne_id})")
    expect(page.locator("#project-title")).to_have_text("Fahrbahn Bahnhofstraße")
    expect(page.locator("#edit")).to_be_hidden()
    # Forced past the map (a valid session and CSRF token): the server refuses.
    page_guard.allow_console_error(r"status of 403")
    status, detail = page.evaluate(
        """async (id) => {
            const me = await (await fetch("/api/me")).json();
            const current = await (await fetch(`/api/projects/${id}`)).json();
            const keep = ["title", "description", "organisation", "department", "measure_type",
                          "status", "start", "end", "contact", "cost_eur"];
            const properties = Object.fromEntries(keep.map((k) => [k, current.properties[k]]));
            properties.title = "Übernommen von Bochum";
            const response = await fetch(`/api/projects/${id}`, {
                method: "PUT",
                headers: {
                    "Content-Type": "application/json",
                    "X-CSRFToken": me.csrf_token,
                    "If-Match": `"v${current.properties.version}"`,
                },
                body: JSON.stringify({ type: "Feature", geometry: current.geometry, properties }),
            });
            return [response.status, (await response.json()).detail];
        }""",
        herne_id,
    )
    assert status == 403, detail
    assert "planner in organisation herne" in detail
    assert stored_title(live_server, herne_id) == "Fahrbahn Bahnhofstraße"


def test_a_refusal_shows_the_servers_reason(
    live_server: LiveServer, page: Page, page_guard: PageGuard
) -> None:
    road_id = add_project(live_server, title="Fahrbahn Bahnhofstraße")
    open_map(page, live_server, "h.planner")
    page.evaluate(f"ZugabeMap.showProject({road_id})")
    page.click("#edit")
    # Meanwhile an administrator takes the planner role away: the server says no.
    live_server.services.accounts.set_roles(ADMIN_ACTOR, "h.planner", {Role.VIEWER})
    page_guard.allow_console_error(r"status of 403")
    page.fill("#project-form [name=title]", "Fahrbahn, neu")
    page.click("#save")
    expect(page.locator("#message")).to_be_visible()
    expect(page.locator("#message-text")).to_contain_text("Nicht erlaubt: ")
    expect(page.locator("#message-text")).to_contain_text("needs the role planner")
    assert stored_title(live_server, road_id) == "Fahrbahn Bahnhofstraße"


# --------------------------------------------------------------------------- other sites


def trees_upload() -> str:
    """A small, valid trees layer: what an attacker would upload in the user's name."""
    layer = json.loads((ROOT / "sample_data" / "layers" / "trees.geojson").read_text("utf-8"))
    return json.dumps({"type": "FeatureCollection", "features": layer["features"][:3]})


def attack_pages(target: str) -> dict[str, str]:
    """Pages of another origin that write to ``target`` with the visitor's cookies.

    Inline script is fine here: ZUGABE's Content-Security-Policy covers its own pages only.
    """
    feature = json.dumps(
        VALID_FEATURE | {"properties": VALID_FEATURE["properties"] | {"title": "Eingeschleust"}}
    )
    head = '<!DOCTYPE html><meta charset="utf-8"><link rel="icon" href="data:,">'
    return {
        # A classic form post: application/x-www-form-urlencoded, no preflight.
        "/form.html": f"""{head}<title>Gewinnspiel</title>
            <form id="attack" method="post" action="{target}/api/projects">
              <input type="hidden" name="feature" value="{html.escape(feature)}">
            </form>
            <script>document.getElementById("attack").submit();</script>""",
        # A "simple" fetch: text/plain needs no preflight; no-cors hides the answer.
        "/fetch.html": f"""{head}<title>Gewinnspiel</title>
            <script>
            fetch("{target}/api/projects", {{
              method: "POST", mode: "no-cors", credentials: "include",
              headers: {{ "Content-Type": "text/plain" }},
              body: JSON.stringify({feature}),
            }}).then(() => {{ document.title = "sent"; }}, (e) => {{ document.title = "failed"; }});
            </script>""",
        # A file upload: multipart/form-data with a file field, as a layer import takes it.
        "/upload.html": f"""{head}<title>Gewinnspiel</title>
            <form id="attack" method="post" enctype="multipart/form-data"
                  action="{target}/api/layers/trees">
              <input type="file" name="file" id="file">
            </form>
            <script>
            const upload = new DataTransfer();
            upload.items.add(new File([{json.dumps(trees_upload())}], "trees.geojson",
                                      {{ type: "application/geo+json" }}));
            document.getElementById("file").files = upload.files;
            document.getElementById("attack").submit();
            </script>""",
    }


@pytest.mark.parametrize(
    "host",
    [
        # Another origin of the same site (another port): the browser sends the session
        # cookie, and the missing CSRF token is what refuses the request.
        "127.0.0.1",
        # Another site: the SameSite=Lax cookie is not even sent.
        "localhost",
    ],
)
def test_another_site_cannot_write_with_the_users_session(
    demo_server: LiveServer,
    page: Page,
    page_guard: PageGuard,
    other_site: OtherSite,
    host: str,
) -> None:
    # The victim: a region admin (who may do everything), signed in on the map.
    open_map(page, demo_server, "r.admin", "")
    expect(page.locator("#account-name")).to_have_text("Regine Öztürk")
    projects_before = project_count(demo_server)
    trees_before = demo_server.services.layers.describe(ADMIN_ACTOR, "trees")["stored"]
    assert trees_before is not None
    for path, body in attack_pages(demo_server.url).items():
        other_site.add(path, body)
    if host != "127.0.0.1":
        page_guard.allow_host(host)
    page_guard.allow_console_error(r"status of 40[13]|status of 415")

    def is_attack(response: Response) -> bool:
        return response.request.method == "POST" and response.url.startswith(demo_server.url)

    # attack page -> whether the session cookie was sent, the status, the problem type
    answers: dict[str, tuple[bool, int, str | None]] = {}
    for path in ("/form.html", "/fetch.html", "/upload.html"):
        with page.expect_response(is_attack) as answer:
            page.goto(other_site.url(host) + path)
        response = answer.value
        cookie = response.request.all_headers().get("cookie", "")
        # The answer to a no-cors fetch is opaque: the browser keeps no body of it.
        opaque = response.request.resource_type == "fetch"
        problem = None if opaque else json.loads(response.text())["type"]
        answers[path] = ("zugabe_session=" in cookie, response.status, problem)
    if host == "127.0.0.1":
        # The cookie came along: the CSRF check refused each one.
        assert answers == {
            "/form.html": (True, 403, "/problems/csrf"),
            "/fetch.html": (True, 403, None),
            "/upload.html": (True, 403, "/problems/csrf"),
        }
    else:
        # No cookie: nobody is signed in for these requests (and a body that is not
        # JSON is refused before it is read).
        assert all(not cookie and status in (401, 415) for cookie, status, _ in answers.values())
        assert answers["/upload.html"][1:] == (401, "/problems/unauthorized")

    # Nothing was stored in the user's name.
    assert project_count(demo_server) == projects_before
    trees_after = demo_server.services.layers.describe(ADMIN_ACTOR, "trees")["stored"]
    assert trees_after["version"] == trees_before["version"]

    # The same session, from ZUGABE's own page with its CSRF token, may write: the
    # refusals above were the defences, not a dead session.
    page.goto(demo_server.url + "/api/docs")
    created = page.evaluate(
        """async (feature) => {
            const me = await (await fetch("/api/me")).json();
            const response = await fetch("/api/projects", {
                method: "POST",
                headers: { "Content-Type": "application/json", "X-CSRFToken": me.csrf_token },
                body: JSON.stringify(feature),
            });
            return response.status;
        }""",
        VALID_FEATURE,
    )
    assert created == 201
    assert project_count(demo_server) == projects_before + 1
