"""Who is asking: credentials of a request turned into an ``Actor``, once per request.

The web layer only authenticates; what the actor may do is decided by the policy in
the services. A bearer token (``Authorization: Bearer zgb_…``) wins over the session
cookie; without either the actor is anonymous (readable only under ``public_read``).
"""

from __future__ import annotations

from flask import Flask, g, request, session

from zugabe.domain.accounts import Actor
from zugabe.errors import Unauthorized
from zugabe.services import Services
from zugabe.web.security import check_csrf

SESSION_KEY = "sid"
"""Key of the server-side session id in the signed session cookie."""


def current_actor() -> Actor:
    """The actor of this request (set by ``resolve_actor`` before any view runs)."""
    return g.actor


def client_address() -> str | None:
    """The client's address (``proxy_hops`` trusted proxies already unwrapped by ProxyFix)."""
    return request.remote_addr


def resolve_actor(services: Services) -> Actor:
    """Bearer token, else session cookie, else anonymous; 401 for a bad token."""
    address = client_address()
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthorized("send 'Authorization: Bearer <token>' (a ZUGABE API token)")
        g.auth_via = "token"
        return services.accounts.token_actor(credential.strip(), address)
    session_id = session.get(SESSION_KEY)
    if isinstance(session_id, str):
        actor = services.accounts.session_actor(session_id, address)
        if actor is not None:
            g.auth_via = "session"
            return actor
        session.pop(SESSION_KEY, None)  # expired or ended elsewhere
    return Actor.anonymous(address, public_read=services.settings.public_read)


def register(app: Flask) -> None:
    services: Services = app.extensions["zugabe"]

    @app.before_request
    def _authenticate() -> None:
        g.actor = Actor.anonymous(client_address())  # until resolved: a bad token stays anonymous
        if request.endpoint in ("webmap.vendor_file", "webmap.app_file", "webmap.page_script"):
            return
        g.actor = resolve_actor(services)
        check_csrf()
