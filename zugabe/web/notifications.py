"""Notifications and subscriptions over HTTP: one's own list and unread count, marking
read, what one watches and how mail comes; and the unsubscribe link of every mail.

The unsubscribe link works without signing in — the signed token is its credential and
grants nothing but turning mail off. Its GET only asks (mail scanners follow links);
the POST of the page's button does it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask_wtf.csrf import generate_csrf

from zugabe.config import Settings
from zugabe.domain.accounts import Account
from zugabe.domain.layers import LayerDefinition
from zugabe.domain.notifications import AREA_VERTICES_MAX, WATCH_MAX, Kind, MailMode
from zugabe.domain.vocabulary import Vocabulary
from zugabe.services import Services
from zugabe.web import apidoc
from zugabe.web.api import ids_or_all, json_object
from zugabe.web.auth import client_address, current_actor
from zugabe.web.language import api_language, page_language

blueprint = Blueprint("notifications", __name__)

TEXTS = {
    "de": {
        "title": "Keine E-Mails mehr von ZUGABE",
        "ask": "Möchten Sie keine E-Mails mehr von ZUGABE erhalten? Ihre Benachrichtigungen "
        "in der Karte bleiben.",
        "button": "E-Mails abbestellen",
        "done": "Erledigt: Sie erhalten keine E-Mails mehr von ZUGABE. In der Karte können "
        "Sie sie unter „Beobachten“ wieder einschalten.",
        "unknown": "Dieser Link ist ungültig.",
    },
    "en": {
        "title": "No more e-mail from ZUGABE",
        "ask": "Stop e-mail from ZUGABE? Your notifications in the map stay.",
        "button": "Unsubscribe",
        "done": "Done: ZUGABE sends you no more e-mail. You can turn it on again in the "
        "map's “Watch” panel.",
        "unknown": "This link is not valid.",
    },
}


def _services() -> Services:
    return current_app.extensions["zugabe"]


def _int_param(name: str) -> int | None:
    raw = request.args.get(name)
    return None if raw is None else int(raw)  # checked against the document before


@blueprint.get("/api/notifications")
def list_notifications() -> Response:
    """One's own notifications, newest first, worded in the reader's language."""
    services = _services()
    page = services.notifications.page(current_actor(), _int_param("limit"), _int_param("after"))
    lang = "en" if api_language() == "en" else "de"
    return jsonify(
        {
            "notifications": [
                {
                    "id": n.id,
                    "kind": n.kind.value,
                    "text": services.notifications.word(n, lang),
                    "case_id": n.case_id,
                    "project_id": n.project_id,
                    "layer": n.layer,
                    "created_at": n.created_at.isoformat(),
                    "read": n.read_at is not None,
                }
                for n in page.notifications
            ],
            "unread": page.unread,
            "total": page.total,
            "next_after": page.next_before,
        }
    )


@blueprint.post("/api/notifications/read")
def mark_read() -> Response:
    """Body ``{"ids": [3, 4]}`` or ``{"all": true}``."""
    ids = ids_or_all("ids", _services().settings.max_page_size)
    unread = _services().notifications.mark_read(current_actor(), ids)
    return jsonify({"unread": unread})


@blueprint.get("/api/subscriptions")
def get_subscriptions() -> Response:
    notifications = _services().notifications
    return jsonify(notifications.subscriptions_json(notifications.subscriptions(current_actor())))


@blueprint.put("/api/subscriptions")
def put_subscriptions() -> Response:
    notifications = _services().notifications
    body = json_object(SUBSCRIPTION_FIELDS)
    saved = notifications.save_subscriptions(current_actor(), body)
    return jsonify(notifications.subscriptions_json(saved))


SUBSCRIPTION_FIELDS = (
    "mail",
    "language",
    "districts",
    "area",
    "organisations",
    "departments",
    "layers",
)


def _unsubscribe_page(state: str, account: Account | None, status: int = 200) -> Response:
    lang = page_language() if request.args.get("lang") or account is None else None
    if lang is None:
        assert account is not None
        chosen = _services().store.get_subscriptions(account.username)
        lang = chosen.language if chosen else "de"
    html = render_template(
        "unsubscribe.html", lang=lang, t=TEXTS[lang], state=state, csrf_token=generate_csrf()
    )
    return Response(html, status=status, mimetype="text/html")


@blueprint.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> Response:
    """Asks, with a button: a GET changes nothing (mail scanners open links)."""
    account = _services().notifications.unsubscribe_owner(token)
    if account is None:
        return _unsubscribe_page("unknown", None, 404)
    return _unsubscribe_page("ask", account)


@blueprint.post("/unsubscribe/<token>")
def unsubscribe(token: str) -> Response:
    notifications = _services().notifications
    account = notifications.unsubscribe_owner(token)
    if account is None:
        return _unsubscribe_page("unknown", None, 404)
    notifications.unsubscribe(account, client_address())
    return _unsubscribe_page("done", account)


def openapi_paths(
    settings: Settings, vocabulary: Vocabulary, definitions: Mapping[str, LayerDefinition]
) -> dict[str, Any]:
    """This module's paths of the OpenAPI document (merged by ``zugabe.web.openapi``)."""

    def keys(values: list[str] | None = None) -> dict[str, Any]:
        items = {"type": "string", "enum": values} if values else {"type": "string"}
        return {"type": "array", "items": items, "maxItems": WATCH_MAX}

    invalid = apidoc.problem("The input was refused; `errors` names each field.")
    subscriptions = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "mail": {"type": "string", "enum": [m.value for m in MailMode]},
            "language": {"type": "string", "enum": ["de", "en"]},
            "districts": keys()
            | {"description": "Ids (`district_id`) of features of the stored `districts` layer."},
            "area": {
                "oneOf": [apidoc.ref("Geometry"), {"type": "null"}],
                "description": "One drawn area: a Polygon or MultiPolygon in lon/lat, at most "
                f"{AREA_VERTICES_MAX} vertices, valid, inside the region.",
            },
            "organisations": keys(list(vocabulary.organisations)),
            "departments": keys(list(vocabulary.departments)),
            "layers": keys(list(definitions)),
        },
    }
    notification = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": [k.value for k in Kind]},
            "text": {"type": "string", "description": "In the language of Accept-Language."},
            "case_id": {"type": ["integer", "null"]},
            "project_id": {"type": ["integer", "null"]},
            "layer": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "read": {"type": "boolean"},
        },
    }
    listing = {
        "type": "object",
        "properties": {
            "notifications": {"type": "array", "items": notification},
            "unread": {"type": "integer"},
            "total": {"type": "integer"},
            "next_after": {
                "type": ["integer", "null"],
                "description": "`after` of the next (older) page; null on the last.",
            },
        },
    }
    json_body = {"application/json": {"schema": subscriptions}}
    token = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
    html = {"text/html": {}}
    page = {
        "200": {"description": "The page.", "content": html},
        "404": {"description": "The link is not valid (the page says so).", "content": html},
    }
    return {
        "/api/notifications": {
            "get": {
                "summary": "Your notifications, newest first, and how many are unread",
                "operationId": "listNotifications",
                "parameters": apidoc.paging(settings),
                "responses": {
                    "200": {
                        "description": "One page; `after` pages to older ones.",
                        "content": {"application/json": {"schema": listing}},
                    }
                },
            }
        },
        "/api/notifications/read": {
            "post": {
                "summary": "Mark some or all of your notifications read",
                "operationId": "markNotificationsRead",
                "requestBody": apidoc.ids_or_all("ids", settings.max_page_size),
                "responses": {
                    "200": {
                        "description": "How many stay unread.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"unread": {"type": "integer"}},
                                }
                            }
                        },
                    },
                    "422": invalid,
                },
            }
        },
        "/api/subscriptions": {
            "get": {
                "summary": "What you watch, and how notifications reach you by mail",
                "operationId": "getSubscriptions",
                "responses": {"200": {"description": "Your settings.", "content": json_body}},
            },
            "put": {
                "summary": "Replace what you watch and your mail settings",
                "description": "A missing list watches nothing; `mail` defaults to "
                "`immediate`, `language` to `de`.",
                "operationId": "putSubscriptions",
                "requestBody": {"required": True, "content": json_body},
                "responses": {
                    "200": {"description": "Saved.", "content": json_body},
                    "422": invalid,
                },
            },
        },
        "/unsubscribe/{token}": {
            "parameters": [token],
            "get": {
                "summary": "The unsubscribe link of a mail: asks, with a button",
                "operationId": "getUnsubscribePage",
                "parameters": [apidoc.LANGUAGE],
                "responses": page,
            },
            "post": {
                "summary": "Turn off mail for the link's account (no sign-in needed)",
                "operationId": "unsubscribe",
                "parameters": [apidoc.LANGUAGE],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "csrf_token": {
                                        "type": "string",
                                        "description": "From the page's form; needed only "
                                        "when a session cookie is sent along.",
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": page,
            },
        },
    }
