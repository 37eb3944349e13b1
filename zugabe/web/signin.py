"""Signing in and out in the browser (``/login``, ``/logout``), with a password or by
single sign-on through an OpenID Connect provider (Authlib).

A successful sign-in always starts a new session: the signed cookie is cleared and gets
a new random session id (whose hash the store keeps) and a new CSRF token, so a session
id planted before sign-in is worthless afterwards.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import generate_csrf

from zugabe.domain.accounts import Account
from zugabe.errors import Forbidden, InvalidInput, TooManyAttempts, Unauthorized
from zugabe.services import Services
from zugabe.services.accounts import mapped_identity
from zugabe.web import apidoc
from zugabe.web.auth import SESSION_KEY, client_address, current_actor
from zugabe.web.language import page_language
from zugabe.web.security import csrf

blueprint = Blueprint("signin", __name__)

TEXTS = {
    "de": {
        "title": "Anmelden – ZUGABE",
        "heading": "Bei ZUGABE anmelden",
        "username": "Benutzername",
        "password": "Passwort",
        "submit": "Anmelden",
        "or": "oder",
        "sso": "Anmelden mit",
        "switch": "English",
        "refused": "Benutzername oder Passwort ist falsch.",
        "throttled": "Zu viele fehlgeschlagene Anmeldungen für dieses Konto oder von dieser "
        "Adresse. Bitte in {minutes} Minuten erneut versuchen.",
        "sso_failed": "Die Anmeldung über Single Sign-on ist fehlgeschlagen: {detail}",
        "signed_out": "Sie sind abgemeldet.",
    },
    "en": {
        "title": "Sign in – ZUGABE",
        "heading": "Sign in to ZUGABE",
        "username": "Username",
        "password": "Password",
        "submit": "Sign in",
        "or": "or",
        "sso": "Sign in with",
        "switch": "Deutsch",
        "refused": "Unknown username or wrong password.",
        "throttled": "Too many failed sign-ins for this account or from this address. "
        "Please try again in {minutes} minutes.",
        "sso_failed": "Single sign-on failed: {detail}",
        "signed_out": "You are signed out.",
    },
}
OIDC_CLIENT = "oidc"
NEXT_KEY = "next_after_sign_in"


def _services() -> Services:
    return current_app.extensions["zugabe"]


def safe_next(raw: str | None) -> str:
    """Only a path of this site: never an open redirect to another one."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    return raw


def _page(status: int = 200, message: str | None = None, notice: str | None = None) -> Response:
    lang = page_language()
    settings = _services().settings
    html = render_template(
        "login.html",
        lang=lang,
        t=TEXTS[lang],
        csrf_token=generate_csrf(),
        next=safe_next(request.values.get("next")),
        message=message,
        notice=notice,
        sso_label=settings.oidc_label if settings.oidc_issuer else None,
    )
    return Response(html, status=status, mimetype="text/html")


@blueprint.get("/login")
def login_page() -> Response:
    notice = TEXTS[page_language()]["signed_out"] if request.args.get("signed_out") else None
    return _page(notice=notice)


@blueprint.post("/login")
def login() -> Response:
    """The login form: a CSRF token, then the password check (throttled on failures)."""
    csrf.protect()
    t = TEXTS[page_language()]
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    try:
        account = _services().accounts.sign_in(username, password, client_address())
    except TooManyAttempts as exc:
        page = _page(429, t["throttled"].format(minutes=exc.retry_after_s // 60))
        page.headers["Retry-After"] = str(exc.retry_after_s)
        return page
    except Unauthorized:
        return _page(401, t["refused"])
    return _signed_in(account, "password", safe_next(request.form.get("next")))


@blueprint.post("/logout")
def logout() -> Response:
    session_id = session.get(SESSION_KEY)
    if isinstance(session_id, str):
        _services().accounts.end_session(session_id, current_actor())
    session.clear()
    lang = "&lang=en" if page_language() == "en" else ""
    return redirect(url_for("signin.login_page") + "?signed_out=1" + lang, 303)


def _signed_in(account: Account, via: str, target: str) -> Response:
    session.clear()  # a new session: nothing of the anonymous one carries over
    session[SESSION_KEY] = _services().accounts.start_session(account, via)
    session.permanent = True
    g.pop("csrf_token", None)
    generate_csrf()  # in the first cookie: a request racing /api/me cannot lose it
    return redirect(target, 303)


# ------------------------------------------------------------ single sign-on


@blueprint.get("/login/oidc")
def oidc_start() -> Response:
    client = _oidc_client()
    session[NEXT_KEY] = safe_next(request.args.get("next"))
    return client.authorize_redirect(url_for("signin.oidc_callback", _external=True))


@blueprint.get("/login/oidc/callback")
def oidc_callback() -> Response:
    """The provider's answer: the ID token's claims (and userinfo) mapped to an account."""
    client = _oidc_client()
    settings = _services().settings
    t = TEXTS[page_language()]
    try:
        token = client.authorize_access_token()
        claims: dict[str, Any] = dict(token.get("userinfo") or {})
        claims |= dict(client.userinfo(token=token))
        identity = mapped_identity(claims, settings.oidc_issuer, settings)
        account = _services().accounts.sign_in_external(identity, client_address())
    except OAuthError as exc:
        return _page(401, t["sso_failed"].format(detail=exc.error))
    except (Forbidden, InvalidInput) as exc:
        return _page(403, t["sso_failed"].format(detail=exc.detail))
    return _signed_in(account, "oidc", safe_next(session.get(NEXT_KEY)))


def _oidc_client() -> Any:
    client = current_app.extensions["authlib.integrations.flask_client"].create_client(OIDC_CLIENT)
    if client is None:
        raise Forbidden("single sign-on is not configured (setting oidc_issuer)")
    return client


def register(app: Flask) -> None:
    """The blueprint, and the OpenID Connect client when an issuer is configured."""
    settings = app.extensions["zugabe"].settings
    oauth = OAuth(app)
    if settings.oidc_issuer:
        oauth.register(
            OIDC_CLIENT,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            server_metadata_url=settings.oidc_issuer.rstrip("/")
            + "/.well-known/openid-configuration",
            client_kwargs={"scope": settings.oidc_scopes},
        )
    app.register_blueprint(blueprint)


def openapi_paths() -> dict[str, Any]:
    """This module's paths of the OpenAPI document (merged by ``zugabe.web.openapi``)."""
    html = {"text/html": {}}
    form = {
        "type": "object",
        "required": ["username", "password", "csrf_token"],
        "properties": {
            "username": {"type": "string"},
            "password": {"type": "string", "format": "password"},
            "csrf_token": {"type": "string", "description": "From the login page's form."},
            "next": {"type": "string", "description": "Path to go to after signing in."},
        },
    }
    target = apidoc.query("next", "Path to go to after signing in (default `/`).")
    return {
        "/login": {
            "get": {
                "summary": "The login page (German; ?lang=en for English)",
                "operationId": "getLoginPage",
                "parameters": [
                    apidoc.LANGUAGE,
                    target,
                    apidoc.query(
                        "signed_out",
                        "1: say that the visitor signed out.",
                        {"type": "string", "enum": ["1"]},
                    ),
                ],
                "responses": {"200": {"description": "HTML form.", "content": html}},
            },
            "post": {
                "summary": "Sign in with username and password (the login form)",
                "description": "Starts a new session (cookie `zugabe_session`). Failed sign-ins "
                "are limited per account and per address (`login_limit_*` settings).",
                "operationId": "signIn",
                "parameters": [apidoc.LANGUAGE, target],
                "requestBody": {
                    "required": True,
                    "content": {"application/x-www-form-urlencoded": {"schema": form}},
                },
                "responses": {
                    "303": {"description": "Signed in: to `next` (default `/`)."},
                    "401": {"description": "Unknown username or wrong password.", "content": html},
                    "403": apidoc.problem("No valid CSRF token."),
                    "429": {"description": "Too many failed sign-ins.", "content": html},
                },
            },
        },
        "/logout": {
            "post": {
                "summary": "Sign out: the session ends on the server",
                "operationId": "signOut",
                "parameters": [apidoc.LANGUAGE],
                "responses": {"303": {"description": "To the login page."}},
            }
        },
        "/login/oidc": {
            "get": {
                "summary": "Single sign-on: to the OpenID Connect provider",
                "operationId": "startSingleSignOn",
                "parameters": [target],
                "responses": {
                    "302": {"description": "To the provider's sign-in."},
                    "403": apidoc.problem("Single sign-on is not configured."),
                },
            }
        },
        "/login/oidc/callback": {
            "get": {
                "summary": "Single sign-on: the provider's answer",
                "operationId": "finishSingleSignOn",
                "description": "Takes what the provider appends (RFC 6749 §4.1.2), also "
                "parameters not named here.",
                "parameters": [
                    apidoc.query(name, description)
                    for name, description in (
                        ("code", "The authorization code."),
                        ("state", "The state sent to the provider."),
                        ("iss", "The provider (RFC 9207)."),
                        ("error", "Why the provider refused."),
                        ("error_description", "The provider's words."),
                    )
                ],
                "responses": {
                    "303": {"description": "Signed in."},
                    "401": {
                        "description": "The provider refused or the answer is invalid.",
                        "content": html,
                    },
                    "403": {
                        "description": "Not configured (a problem), or the account is disabled "
                        "(the login page).",
                        "content": html | apidoc.problem("")["content"],
                    },
                },
            }
        },
    }
