"""Single sign-on through a real OpenID Connect provider (npm's oidc-provider on node):
a person signs in at the provider and lands on the map as the account its claims map to."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.oidc_provider import ensure_installed, running_provider
from zugabe.services import Services
from zugabe.storage.contract import AuditQuery
from zugabe.web import create_app
from zugabe.web.background import BackgroundServer

CLIENT_ID = "zugabe-test"
CLIENT_SECRET = "a-client-secret-for-the-test-provider"
PERSON = {
    "k.baecker": {
        "password": "Sso-Passwort-2027",
        "claims": {
            "name": "Kerstin Bäcker",
            "email": "k.baecker@eglv.example",
            "preferred_username": "k.baecker",
            "zugabe_org": "EGLV",
            "zugabe_departments": ["water_management"],
            "groups": ["zugabe-coordinators", "canteen"],
        },
    }
}


@dataclass
class SsoServer:
    url: str
    services: Services


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sso_server(tmp_path: Path) -> Iterator[SsoServer]:
    """ZUGABE configured for single sign-on at a provider started for this test."""
    ensure_installed()
    port = _free_port()
    callback = f"http://127.0.0.1:{port}/login/oidc/callback"
    with running_provider(CLIENT_ID, CLIENT_SECRET, [callback], PERSON) as issuer:
        app = create_app(
            {
                "instance_path": tmp_path / "instance",
                "oidc_issuer": issuer,
                "oidc_client_id": CLIENT_ID,
                "oidc_client_secret": CLIENT_SECRET,
                "oidc_label": "Emscher-Login",
                "oidc_organisation_map": {"EGLV": "eglv"},
                "oidc_role_map": {"zugabe-coordinators": "coordinator"},
            }
        )
        running = BackgroundServer.start(app, port=port)
        try:
            yield SsoServer(running.url, app.extensions["zugabe"])
        finally:
            running.stop()
            app.extensions["zugabe"].close()


def _sign_in_at_provider(page: Page, server: SsoServer, password: str) -> None:
    page.goto(f"{server.url}/")
    expect(page).to_have_url(f"{server.url}/login?next=/")
    page.get_by_role("link", name="Anmelden mit Emscher-Login").click()
    page.locator("#login").fill("k.baecker")
    page.locator("#password").fill(password)
    page.locator("#submit").click()


def test_single_sign_on_lands_on_the_map_as_the_mapped_account(
    page: Page, sso_server: SsoServer
) -> None:
    _sign_in_at_provider(page, sso_server, PERSON["k.baecker"]["password"])
    expect(page).to_have_url(re.compile(rf"^{re.escape(sso_server.url)}/(#.*)?$"))  # the map
    expect(page.get_by_text("Kerstin Bäcker")).to_be_visible()
    me = page.request.get(f"{sso_server.url}/api/me").json()
    assert me["username"] == "k.baecker"
    assert me["via"] == "session"
    assert me["organisation"] == "eglv"  # mapped from the claim value EGLV
    assert me["departments"] == ["water_management"]
    assert me["roles"] == ["coordinator"]  # 'canteen' maps to nothing
    account = sso_server.services.store.find_account("k.baecker")
    assert account is not None and account.external_subject is not None
    assert sso_server.services.store.password_hash(account.id) is None
    actions = [
        e.event.action
        for e in sso_server.services.store.list_audit(AuditQuery(action="auth.sign_in"))
    ]
    assert actions == ["auth.sign_in"]


def test_a_wrong_password_at_the_provider_signs_nobody_in(
    page: Page, sso_server: SsoServer
) -> None:
    _sign_in_at_provider(page, sso_server, "not-the-password")
    expect(page.locator("#error")).to_be_visible()
    assert sso_server.services.store.find_account("k.baecker") is None
