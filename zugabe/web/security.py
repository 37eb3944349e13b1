"""Protection every response gets: CSRF for cookie-authenticated writes, JSON media types,
trusted hosts, security headers, the access log.

Cross-site requests: the session cookie is SameSite=Lax, and every write that a browser
authenticates with it must also carry the CSRF token (flask-wtf) in an ``X-CSRFToken``
header or a ``csrf_token`` form field, which a page of another origin cannot read.
Bearer-token clients (scripts, QGIS) need none: a browser never sends that header
across sites by itself.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from flask import Flask, Response, g, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from zugabe.config import Settings, secret_key
from zugabe.web.problems import problem_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
JSON_MEDIA_TYPES = frozenset(
    {"application/json", "application/geo+json", "application/merge-patch+json"}
)
access_log = logging.getLogger("zugabe.access")
csrf = CSRFProtect()


def configure(app: Flask, settings: Settings) -> None:
    """Cookie, host and CSRF settings of the app, and the hooks below."""
    app.config.update(
        SECRET_KEY=secret_key(settings),
        SESSION_COOKIE_NAME="zugabe_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.behind_https,
        PERMANENT_SESSION_LIFETIME=settings.session_hours * 3600,
        TRUSTED_HOSTS=list(settings.allowed_hosts),
        WTF_CSRF_CHECK_DEFAULT=False,  # checked below, for cookie-authenticated writes only
        WTF_CSRF_TIME_LIMIT=None,  # bound to the session, which expires by itself
        WTF_CSRF_SSL_STRICT=settings.behind_https,
    )
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.proxy_hops,
            x_proto=settings.proxy_hops,
            x_host=settings.proxy_hops,
        )
    csrf.init_app(app)
    csp = content_security_policy(settings)

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.errorhandler(CSRFError)
    def _csrf_refused(exc: CSRFError) -> Response:
        return problem_response(
            403,
            "Forbidden",
            "the request lacks a valid CSRF token (send the X-CSRFToken header of "
            f"GET /api/me): {exc.description}",
            "/problems/csrf",
        )

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["X-Frame-Options"] = "DENY"
        headers.setdefault("Content-Security-Policy", csp)  # a page may set a stricter one
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if settings.behind_https:
            headers["Strict-Transport-Security"] = "max-age=31536000"
        if not request.path.startswith("/static/"):
            headers["Cache-Control"] = "no-store"
        headers.pop("Server", None)
        if settings.access_log:
            _log(response)
        return response


def check_csrf() -> None:
    """Refuse a cookie-authenticated write without the session's CSRF token (403)."""
    if request.method not in SAFE_METHODS and g.get("auth_via") == "session":
        csrf.protect()


def content_security_policy(settings: Settings) -> str:
    """No inline script anywhere; images also from the configured base map's origin."""
    images = ["'self'", "data:", "blob:"]
    if settings.basemap_url:
        parts = urlsplit(settings.basemap_url)
        images.append(f"{parts.scheme}://{parts.netloc}")
    forms = ["'self'"]
    if settings.oidc_issuer:
        parts = urlsplit(settings.oidc_issuer)
        forms.append(f"{parts.scheme}://{parts.netloc}")
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src " + " ".join(images),
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action " + " ".join(forms),
            "frame-ancestors 'none'",
        ]
    )


def _log(response: Response) -> None:
    """One line per request: no query string, no header, no body (no secret)."""
    actor = g.get("actor")
    elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    access_log.info(
        '%s %s "%s %s" %d %.1fms',
        request.remote_addr or "-",
        actor.username if actor is not None and actor.authenticated else "-",
        request.method,
        request.path,
        response.status_code,
        elapsed,
    )


def setup_access_log() -> None:
    """Send access lines to stderr unless the host application configured logging."""
    if not access_log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False
