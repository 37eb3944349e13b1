"""Signing in, sessions, API tokens and the protections around them, as a browser or a
script meets them."""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import ADMIN, VALID_FEATURE, client_as, ensure_account, token_for
from zugabe.domain.accounts import Role, Scope
from zugabe.errors import ConfigError
from zugabe.services import Services
from zugabe.services.accounts import AccountInput, hash_secret
from zugabe.services.projects import ProjectFilter
from zugabe.storage.contract import NewApiToken
from zugabe.web import create_app
from zugabe.web.auth import SESSION_KEY

PASSWORD = "Kanal-und-Straße-2027"


def _services(app: Flask) -> Services:
    return app.extensions["zugabe"]


def _person(app: Flask, username: str = "a.yilmaz", **kwargs: object) -> None:
    """A Herne planner with a password and a Unicode display name."""
    values = {
        "display_name": "Ayşe Yılmaz",
        "organisation": "herne",
        "departments": ("roads",),
        "roles": frozenset({Role.PLANNER}),
    } | kwargs
    _services(app).accounts.add(ADMIN, AccountInput(username, **values), PASSWORD)  # type: ignore[arg-type]


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the login page has no CSRF field"
    return match[1]


def _sign_in(client: FlaskClient, username: str = "a.yilmaz", password: str = PASSWORD):  # type: ignore[no-untyped-def]
    token = _csrf(client.get("/login").get_data(as_text=True))
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
    )


def _cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie("zugabe_session")
    return cookie.value if cookie else None


def _session_id(app: Flask, client: FlaskClient) -> str:
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return serializer.loads(_cookie(client))[SESSION_KEY]


# ------------------------------------------------------------------ password sign-in


def test_sign_in_starts_a_new_session_with_a_safe_cookie(
    app: Flask, anonymous: FlaskClient
) -> None:
    _person(app)
    anonymous.get("/login")
    before = _cookie(anonymous)
    response = _sign_in(anonymous)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    set_cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie
    assert "SameSite=Lax" in set_cookie
    assert "Expires=" in set_cookie
    assert "Secure" not in set_cookie  # plain http here; behind_https adds it
    assert _cookie(anonymous) != before  # a new session, not the anonymous one carried over
    me = anonymous.get("/api/me").get_json()
    assert me["display_name"] == "Ayşe Yılmaz"
    assert me["username"] == "a.yilmaz"
    assert me["permissions"]["create_projects"] is True
    assert me["permissions"]["project_organisations"] == ["herne"]
    assert me["csrf_token"]


def test_secure_cookie_behind_https(instance_path: Path) -> None:
    app = create_app({"instance_path": instance_path, "behind_https": True})
    try:
        _person(app)
        client = app.test_client()
        response = _sign_in(client)
        assert "Secure" in response.headers["Set-Cookie"]
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        _services(app).close()


def test_wrong_password_is_refused_in_german_and_english(
    app: Flask, anonymous: FlaskClient
) -> None:
    _person(app)
    response = _sign_in(anonymous, password="falsch-falsch-falsch")
    assert response.status_code == 401
    assert "Benutzername oder Passwort ist falsch." in response.get_data(as_text=True)
    token = _csrf(anonymous.get("/login?lang=en").get_data(as_text=True))
    response = anonymous.post(
        "/login?lang=en", data={"username": "a.yilmaz", "password": "nope", "csrf_token": token}
    )
    assert "Unknown username or wrong password." in response.get_data(as_text=True)
    assert anonymous.get("/api/me").status_code == 401


def test_unknown_user_and_wrong_password_look_the_same(app: Flask, anonymous: FlaskClient) -> None:
    _person(app)
    unknown = _sign_in(anonymous, username="nobody", password="whatever-whatever")
    wrong = _sign_in(anonymous, password="whatever-whatever")
    assert unknown.status_code == wrong.status_code == 401
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", unknown.get_data(as_text=True)) == strip.sub(
        "", wrong.get_data(as_text=True)
    )


def test_login_form_without_csrf_token_is_refused(app: Flask, anonymous: FlaskClient) -> None:
    _person(app)
    response = anonymous.post("/login", data={"username": "a.yilmaz", "password": PASSWORD})
    assert response.status_code == 403
    assert anonymous.get("/api/me").status_code == 401


def test_disabled_account_cannot_sign_in(app: Flask, anonymous: FlaskClient) -> None:
    _person(app)
    _services(app).accounts.set_active(ADMIN, "a.yilmaz", False)
    assert _sign_in(anonymous).status_code == 401


def test_next_never_leads_to_another_site(app: Flask, anonymous: FlaskClient) -> None:
    _person(app)
    token = _csrf(anonymous.get("/login").get_data(as_text=True))
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = anonymous.post(
            "/login",
            data={
                "username": "a.yilmaz",
                "password": PASSWORD,
                "csrf_token": token,
                "next": target,
            },
        )
        assert response.headers["Location"] == "/"
        token = _csrf(anonymous.get("/login").get_data(as_text=True))


def test_signed_out_pages_redirect_to_login_and_api_says_401(anonymous: FlaskClient) -> None:
    page = anonymous.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login?next=/")
    api = anonymous.get("/api/projects")
    assert api.status_code == 401
    assert api.mimetype == "application/problem+json"


# ------------------------------------------------------------------ sessions


def test_sign_out_ends_the_session_on_the_server(app: Flask, anonymous: FlaskClient) -> None:
    _person(app)
    _sign_in(anonymous)
    stolen = _cookie(anonymous)
    csrf = anonymous.get("/api/me").get_json()["csrf_token"]
    response = anonymous.post("/logout", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?signed_out=1")
    replay = app.test_client()
    replay.set_cookie("zugabe_session", stolen or "")
    assert replay.get("/api/me").status_code == 401  # the old cookie is worthless


def test_idle_session_expires(app: Flask, anonymous: FlaskClient) -> None:
    _person(app)
    _sign_in(anonymous)
    id_hash = hash_secret(_session_id(app, anonymous))
    past = datetime.now(UTC) - timedelta(minutes=1)
    _services(app).store.touch_session(id_hash, past - timedelta(hours=1), past)
    time.sleep(1.1)  # what the service read within the last second it may reuse
    assert anonymous.get("/api/me").status_code == 401


def test_disabling_an_account_ends_its_sessions(app: Flask, anonymous: FlaskClient) -> None:
    _person(app)
    _sign_in(anonymous)
    assert anonymous.get("/api/me").status_code == 200
    _services(app).accounts.set_active(ADMIN, "a.yilmaz", False)
    assert anonymous.get("/api/me").status_code == 401


def test_cookie_writes_need_the_csrf_token(app: Flask, anonymous: FlaskClient) -> None:
    _person(app)
    _sign_in(anonymous)
    refused = anonymous.post("/api/projects", json=VALID_FEATURE)
    assert refused.status_code == 403
    assert "CSRF" in refused.get_json()["detail"]
    csrf = anonymous.get("/api/me").get_json()["csrf_token"]
    stored = anonymous.post("/api/projects", json=VALID_FEATURE, headers={"X-CSRFToken": csrf})
    assert stored.status_code == 201
    assert stored.get_json()["properties"]["created_by"] == "a.yilmaz"
    listed = _services(app).projects.list(ADMIN, ProjectFilter()).number_matched
    assert listed == 1


# ------------------------------------------------------------------ throttling


def test_failed_sign_ins_are_limited_per_account(app: Flask, anonymous: FlaskClient) -> None:
    _person(app)
    for _ in range(5):
        assert _sign_in(anonymous, password="wrong-wrong-wrong").status_code == 401
    blocked = _sign_in(anonymous)  # even the right password now waits
    assert blocked.status_code == 429
    assert "Zu viele fehlgeschlagene Anmeldungen" in blocked.get_data(as_text=True)
    assert int(blocked.headers["Retry-After"]) > 0
    assert _sign_in(anonymous, username="someone.else").status_code == 401  # other accounts not


def test_failed_sign_ins_are_limited_per_address(instance_path: Path) -> None:
    app = create_app({"instance_path": instance_path, "login_limit_address": "3 per minute"})
    try:
        _person(app)
        client = app.test_client()
        for name in ("x.one", "x.two", "x.three"):
            assert _sign_in(client, username=name, password="wrong-wrong").status_code == 401
        assert _sign_in(client).status_code == 429
    finally:
        _services(app).close()


@pytest.mark.parametrize("counted", ["store", "memory://"])
def test_failed_sign_ins_count_for_the_instance_unless_counted_per_process(
    instance_path: Path, counted: str
) -> None:
    """Two apps on one instance, as two worker processes of ``zugabe serve``: in the store
    (the default) their failures add up; in ``memory://`` each counts its own."""
    apps = [
        create_app({"instance_path": instance_path, "rate_limit_storage": counted})
        for _ in range(2)
    ]
    try:
        _person(apps[0])
        for app in (*apps, *apps, apps[0]):
            assert _sign_in(app.test_client(), password="wrong-wrong-wrong").status_code == 401
        blocked = _sign_in(apps[1].test_client()).status_code
        assert blocked == (429 if counted == "store" else 303)  # 303: signed in
    finally:
        for app in apps:
            _services(app).close()


def test_passwords_never_reach_a_log(
    app: Flask, anonymous: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    _person(app)
    with caplog.at_level(logging.DEBUG):
        _sign_in(anonymous, password="geheim-geheim-geheim")
        _sign_in(anonymous)
        anonymous.get("/api/projects?bbox=1,2,3,4&q=do-not-log")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "geheim-geheim-geheim" not in text and PASSWORD not in text
    assert "do-not-log" not in text  # the access log writes paths, not query strings
    assert re.search(r'"GET /api/projects" 200', text)


# ------------------------------------------------------------------ tokens


def test_read_token_reads_but_never_writes(app: Flask) -> None:
    client = client_as(app, "h.planner", Scope.READ)
    assert client.get("/api/projects").status_code == 200
    refused = client.post("/api/projects", json=VALID_FEATURE)
    assert refused.status_code == 403
    assert "only read" in refused.get_json()["detail"]


def test_revoked_expired_and_unknown_tokens_get_401(app: Flask) -> None:
    services = _services(app)
    secret = token_for(app, "h.planner")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/me", headers=headers).status_code == 200
    [token] = [t for t in services.store.list_tokens() if t.prefix == secret[:12]]
    services.accounts.revoke_token(ADMIN, token.id)
    assert client.get("/api/me", headers=headers).status_code == 401
    account = services.store.find_account("h.planner")
    assert account is not None
    services.store.add_token(
        NewApiToken(
            account.id,
            "old",
            hash_secret("zgb_expired-token"),
            "zgb_expired-",
            Scope.WRITE,
            datetime.now(UTC) - timedelta(seconds=1),
        )
    )
    for credential in ("Bearer zgb_expired-token", "Bearer zgb_unknown", "Basic dXNlcjpwdw=="):
        response = client.get("/api/me", headers={"Authorization": credential})
        assert response.status_code == 401, credential


def test_token_is_shown_once_and_stored_hashed(app: Flask, client: FlaskClient) -> None:
    created = client.post("/api/tokens", json={"name": "QGIS", "scope": "read", "days": 30})
    assert created.status_code == 201
    body = created.get_json()
    secret = body["token"]
    assert secret.startswith("zgb_") and len(secret) > 40
    listed = client.get("/api/tokens").get_json()["tokens"]
    assert all("token" not in t for t in listed)
    assert any(t["name"] == "QGIS" and t["scope"] == "read" for t in listed)
    folder = Path(_services(app).settings.instance_path)
    raw = b"".join(f.read_bytes() for f in folder.glob("zugabe.sqlite*"))  # with the WAL
    assert secret.encode() not in raw
    assert hash_secret(secret).encode() in raw


def test_token_life_is_bounded(client: FlaskClient) -> None:
    response = client.post("/api/tokens", json={"name": "x", "days": 5000})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["pointer"] == "/days"


# ------------------------------------------------------------------ accounts


def test_weak_passwords_are_refused(app: Flask) -> None:
    with pytest.raises(Exception) as refused:
        _services(app).accounts.add(
            ADMIN,
            AccountInput("k.kurz", "K", "", "herne", (), frozenset({Role.VIEWER})),
            "kurz",
        )
    assert "at least 12 characters" in str(refused.value)


def test_org_admin_manages_only_own_organisation(app: Flask) -> None:
    admin = client_as(app, "h.orgadmin")
    new = {"username": "h.new", "display_name": "Łukasz Nowak", "organisation": "herne"}
    assert admin.post("/api/accounts", json=new | {"roles": ["planner"]}).status_code == 201
    other = new | {"username": "b.new", "organisation": "bochum", "roles": ["viewer"]}
    refused = admin.post("/api/accounts", json=other)
    assert refused.status_code == 403
    assert "org_admin in organisation bochum" in refused.get_json()["detail"]
    escalate = new | {"username": "h.boss", "roles": ["region_admin"]}
    refused = admin.post("/api/accounts", json=escalate)
    assert refused.status_code == 403
    assert "region_admin" in refused.get_json()["detail"]
    listed = admin.get("/api/accounts").get_json()["accounts"]
    assert {a["organisation"] for a in listed} == {"herne"}


def test_department_bound_organisation_limits_its_planners(tmp_path: Path) -> None:
    text = Path(__file__).resolve().parents[1] / "zugabe" / "domain" / "vocabulary.toml"
    vocabulary = tmp_path / "vocabulary.toml"
    vocabulary.write_text(
        text.read_text("utf-8").replace(
            '[organisations.herne]\nde = "Stadt Herne"',
            '[organisations.herne]\nplanners_by_department = true\nde = "Stadt Herne"',
        ),
        "utf-8",
    )
    app = create_app({"instance_path": tmp_path / "i", "vocabulary_file": vocabulary})
    try:
        ensure_account(_services(app), "h.planner")  # roads and drainage
        planner = client_as(app, "h.planner")
        assert planner.post("/api/projects", json=VALID_FEATURE).status_code == 201
        green = {
            **VALID_FEATURE,
            "properties": VALID_FEATURE["properties"]
            | {"department": "green", "measure_type": "tree_planting"},
        }
        refused = planner.post("/api/projects", json=green)
        assert refused.status_code == 403
        assert "department green" in refused.get_json()["detail"]
    finally:
        _services(app).close()


def test_demo_passwords_stop_a_production_start(instance_path: Path) -> None:
    app = create_app({"instance_path": instance_path})
    _services(app).accounts.add(
        ADMIN,
        AccountInput("demo.user", "Demo", "", "herne", (), frozenset({Role.VIEWER})),
        "demo-password-123",
        demo_password=True,
    )
    _services(app).close()
    with pytest.raises(ConfigError, match="demo password"):
        create_app({"instance_path": instance_path})
    create_app({"instance_path": instance_path, "demo_instance": True}).extensions["zugabe"].close()


def test_public_read_opens_reading_only(instance_path: Path) -> None:
    app = create_app({"instance_path": instance_path, "public_read": True})
    try:
        client = app.test_client()
        assert client.get("/api/projects").status_code == 200
        assert client.get("/", headers={"Accept": "text/html"}).status_code == 200
        assert client.get("/api/me").get_json()["authenticated"] is False
        assert client.post("/api/projects", json=VALID_FEATURE).status_code == 401
        assert client.get("/api/audit").status_code == 401
    finally:
        _services(app).close()


# ------------------------------------------------------------------ request hygiene


def test_json_endpoints_take_only_json(client: FlaskClient) -> None:
    import json

    body = json.dumps(VALID_FEATURE)
    for mimetype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = client.post("/api/projects", data=body, headers={"Content-Type": mimetype})
        assert response.status_code == 415, mimetype
    geo = client.post("/api/projects", data=body, headers={"Content-Type": "application/geo+json"})
    assert geo.status_code == 201
    merge = client.patch(
        f"/api/projects/{geo.get_json()['id']}",
        data=json.dumps({"properties": {"status": "approved"}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert merge.status_code == 200


def test_unknown_host_is_refused(client: FlaskClient) -> None:
    assert client.get("/api/projects", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/api/projects", headers={"Host": "127.0.0.1:5000"}).status_code == 200


def test_security_headers_on_every_response(client: FlaskClient, anonymous: FlaskClient) -> None:
    for response in (
        client.get("/", headers={"Accept": "text/html"}),
        client.get("/api/projects"),
        anonymous.get("/login"),
        anonymous.get("/api/projects"),
    ):
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert (
            "script-src 'self'" in csp
            and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        )
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert "Server" not in headers


def test_map_page_has_no_inline_script(client: FlaskClient) -> None:
    page = client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.DOTALL)
    assert scripts
    for attributes, body in scripts:
        assert "src=" in attributes and not body.strip()
    for src in re.findall(r'<script src="(/static/page/[^"]+)"', page):
        served = client.get(src)
        assert served.status_code == 200 and served.mimetype == "text/javascript"
    assert re.search(r"<[^>]+\son[a-z]+\s*=", page) is None  # no inline event handlers


def test_a_tokens_use_is_written_once_not_on_every_request(app: Flask) -> None:
    """last_used_at is kept to the ten minutes: the requests after the first write nothing
    (the cached token once went on writing it until the cache expired)."""
    services: Services = app.extensions["zugabe"]
    secret = token_for(app, "r.admin")
    used = []
    for _ in range(20):
        services.accounts.token_actor(secret, "127.0.0.1")
        (token,) = services.store.list_tokens(services.store.find_account("r.admin").id)
        used.append(token.last_used_at)
    assert used[0] is not None and len(set(used)) == 1
