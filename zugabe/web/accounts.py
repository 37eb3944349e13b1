"""Accounts over HTTP: who am I (``/api/me``), my API tokens, account administration,
and the audit log for region admins (``/api/audit``)."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask_wtf.csrf import generate_csrf

from zugabe.config import Settings
from zugabe.domain.accounts import ALL_THEMES, ORGANISATION_ROLES, USERNAME_PATTERN, Role, Scope
from zugabe.domain.layers import THEMES
from zugabe.domain.vocabulary import Vocabulary
from zugabe.errors import FieldError, InvalidInput, Unauthorized
from zugabe.services import Services
from zugabe.services.accounts import (
    PASSWORD_MAX,
    PASSWORD_MIN,
    TOKEN_NAME_MAX,
    AccountInput,
    account_values,
    parse_roles,
)
from zugabe.services.audit import AuditService, parse_audit_query
from zugabe.web import apidoc
from zugabe.web.api import json_integer, json_object, page_params
from zugabe.web.auth import current_actor

blueprint = Blueprint("accounts", __name__, url_prefix="/api")
ACCOUNT_FIELDS = (*(f.name for f in fields(AccountInput)), "password")
"""The members of a new account's body."""


def _services() -> Services:
    return current_app.extensions["zugabe"]


@blueprint.get("/me")
def me() -> Response:
    """The signed-in account, what the map may offer it, and the CSRF token for its writes."""
    services = _services()
    actor = current_actor()
    services.policy.require_read(actor)
    return jsonify(
        {
            "authenticated": actor.authenticated,
            "username": actor.username,
            "display_name": actor.display_name,
            "organisation": actor.organisation,
            "departments": list(actor.departments),
            "roles": sorted(actor.roles),
            "via": actor.via,
            "scope": actor.scope.value,
            "permissions": services.policy.permissions(actor),
            "csrf_token": generate_csrf() if actor.via == "session" else None,
        }
    )


@blueprint.get("/tokens")
def list_tokens() -> Response:
    services = _services()
    actor = current_actor()
    tokens = services.accounts.list_tokens(actor, request.args.get("account") or None)
    return jsonify({"tokens": [services.accounts.token_json(t) for t in tokens]})


@blueprint.post("/tokens")
def create_token() -> Response:
    """Body ``{"name": "QGIS", "scope": "read", "days": 90}``; the secret is shown once."""
    actor = current_actor()
    body = json_object(("name", "scope", "days", "account"))
    scope = body.get("scope", "read")
    if not isinstance(scope, str) or scope not in {s.value for s in Scope}:
        raise InvalidInput(
            "scope is read or write", field_errors=[FieldError("/scope", "read|write")]
        )
    days = json_integer(body.get("days"))
    if body.get("days") is not None and days is None:
        raise InvalidInput(
            "days must be a whole number", field_errors=[FieldError("/days", "integer")]
        )
    if not actor.authenticated:
        raise Unauthorized("sign in to create a token")
    services = _services()
    account = _text(body, "account") or actor.username
    token, secret = services.accounts.create_token(
        actor, account, _text(body, "name") or "", Scope(scope), days
    )
    response = jsonify(services.accounts.token_json(token) | {"token": secret})
    response.status_code = 201
    return response


@blueprint.delete("/tokens/<int:token_id>")
def revoke_token(token_id: int) -> Response:
    _services().accounts.revoke_token(current_actor(), token_id)
    return Response(status=204)


@blueprint.get("/accounts")
def list_accounts() -> Response:
    accounts = _services().accounts.list(current_actor(), request.args.get("organisation"))
    return jsonify({"accounts": [account_values(a) for a in accounts]})


@blueprint.post("/accounts")
def create_account() -> Response:
    """Body: username, display_name, email, organisation, departments, roles, themes, password."""
    body = json_object(ACCOUNT_FIELDS)
    new = AccountInput(
        username=_text(body, "username") or "",
        display_name=_text(body, "display_name") or "",
        email=_text(body, "email") or "",
        organisation=_text(body, "organisation"),
        departments=tuple(_strings(body, "departments")),
        roles=parse_roles(_strings(body, "roles")),
        themes=tuple(_strings(body, "themes")),
    )
    account = _services().accounts.add(current_actor(), new, _text(body, "password"))
    response = jsonify(account_values(account))
    response.status_code = 201
    return response


@blueprint.patch("/accounts/<username>")
def change_account(username: str) -> Response:
    """Body with any of ``roles`` (and ``themes``), ``active``."""
    services = _services()
    actor = current_actor()
    body = json_object(("roles", "themes", "active"))
    account = services.accounts.get(actor, username)
    if "roles" in body or "themes" in body:
        roles = parse_roles(_strings(body, "roles")) if "roles" in body else account.roles
        themes = _strings(body, "themes") if "themes" in body else None
        account = services.accounts.set_roles(actor, username, roles, themes)
    if "active" in body:
        if not isinstance(body["active"], bool):
            raise InvalidInput(
                "active is true or false", field_errors=[FieldError("/active", "boolean")]
            )
        account = services.accounts.set_active(actor, username, body["active"])
    return jsonify(account_values(account))


@blueprint.get("/audit")
def audit_log() -> Response:
    """Audit entries (region admins), filtered and paged by ``after``/``limit``."""
    services = _services()
    query = parse_audit_query(request.args)
    limit, after = page_params()
    page = replace(query, after_seq=after, limit=limit)
    entries, matched = services.audit.list(current_actor(), page)
    return jsonify(
        {
            "entries": [AuditService.to_json(e) for e in entries],
            "numberMatched": matched,
            "numberReturned": len(entries),
            "next_after": entries[-1].seq if len(entries) == limit else None,
        }
    )


@blueprint.get("/audit.csv")
def audit_csv() -> Response:
    services = _services()
    rows = services.audit.csv_rows(current_actor(), parse_audit_query(request.args))
    first = next(rows)  # the permission is checked before the status line goes out
    response = Response(_chain(first, rows), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = 'attachment; filename="zugabe-audit.csv"'
    return response


def _chain(first: str, rest: Any) -> Any:
    yield first
    yield from rest


def _text(body: dict[str, Any], name: str) -> str | None:
    """A text member, None when absent or null (422 for any other kind of value)."""
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{name} is a text", field_errors=[FieldError(f"/{name}", "text")])
    return value


def _strings(body: dict[str, Any], name: str) -> list[str]:
    """A list of texts, empty when absent or null (422 for any other kind of value)."""
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(
            f"{name} is a list of texts", field_errors=[FieldError(f"/{name}", "list of texts")]
        )
    return value


def openapi_paths(vocabulary: Vocabulary, settings: Settings) -> dict[str, Any]:
    """This module's paths of the OpenAPI document (merged by ``zugabe.web.openapi``)."""
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    obj = {"application/json": {"schema": {"type": "object"}}}
    text = {"type": "string"}
    texts = {"type": "array", "items": text}
    account = {
        "type": "object",
        "properties": {
            "username": text,
            "display_name": text,
            "email": text,
            "organisation": {"type": ["string", "null"]},
            "departments": texts,
            "roles": texts,
            "themes": texts,
            "active": {"type": "boolean"},
            "single_sign_on": {"type": "boolean"},
        },
    }
    new_account = {
        "type": "object",
        "required": ["username", "display_name"],
        "additionalProperties": False,
        "properties": {
            "username": {
                "type": "string",
                "pattern": USERNAME_PATTERN.pattern,
                "description": "2-64 lower-case letters, digits or . _ @ -; not taken yet.",
            },
            "display_name": apidoc.NOT_BLANK | {"maxLength": 200},
            "email": {"type": ["string", "null"], "maxLength": 254, "pattern": "^$|@"},
            "organisation": {"type": ["string", "null"], "enum": [*vocabulary.organisations, None]},
            "departments": {"type": ["array", "null"], "items": text},
            "roles": {"type": ["array", "null"], "items": {"type": "string", "enum": list(Role)}},
            "themes": {
                "type": ["array", "null"],
                "items": {"type": "string", "enum": [*THEMES, ALL_THEMES]},
            },
            "password": {
                "type": ["string", "null"],
                "minLength": PASSWORD_MIN,
                "maxLength": PASSWORD_MAX,
                "description": "Not the username; none (null) for single sign-on only.",
            },
        },
        # The departments are the organisation's; some roles need an organisation.
        "anyOf": [
            {
                "required": ["organisation"],
                "properties": {
                    "organisation": {"const": key},
                    "departments": {"items": {"enum": list(organisation.departments)}},
                },
            }
            for key, organisation in vocabulary.organisations.items()
        ]
        + [
            {
                "properties": {
                    "organisation": {"type": "null"},
                    "roles": {"items": {"not": {"enum": sorted(ORGANISATION_ROLES)}}},
                }
            }
        ],
    }
    account_change = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "roles": new_account["properties"]["roles"],
            "themes": new_account["properties"]["themes"],
            "active": {"type": "boolean", "description": "false: disabled (never yourself)."},
        },
    }

    def path(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": schema}

    def answer(code: str, description: str, content: Any = obj) -> dict[str, Any]:
        return {code: {"description": description, "content": content}}

    moment = {
        "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
        "description": "a day (YYYY-MM-DD) or an RFC 3339 time",
    }
    audit_filters = [
        apidoc.query("actor", "Entries by this username."),
        apidoc.query("action", "Entries of this action, e.g. project.create."),
        apidoc.query("object_type", "Entries about this kind of object, e.g. project."),
        apidoc.query("object_id", "Entries about the object with this id."),
        apidoc.query("from", "Entries from this day or moment (RFC 3339).", moment),
        apidoc.query("to", "Entries until this day or moment (RFC 3339).", moment),
    ]
    invalid = answer("422", "Invalid input; nothing stored.", problem)
    unsupported = answer("415", "The body is not JSON.", problem)
    return {
        "/api/me": {
            "get": {
                "summary": "The signed-in account, its permissions and CSRF token",
                "operationId": "getMe",
                "responses": answer("200", "The account as the map uses it."),
            }
        },
        "/api/tokens": {
            "get": {
                "summary": "My API tokens (admins: ?account=NAME)",
                "operationId": "listTokens",
                "parameters": [apidoc.query("account", "Another account's username (admins).")],
                "responses": answer("200", "Tokens without their secrets.")
                | answer("404", "No account with this username.", problem),
            },
            "post": {
                "summary": "Create an API token; the secret is in the answer, once",
                "operationId": "createToken",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name"],
                                "additionalProperties": False,
                                "properties": {
                                    "name": apidoc.NOT_BLANK | {"maxLength": TOKEN_NAME_MAX},
                                    "scope": {
                                        "type": "string",
                                        "enum": [s.value for s in Scope],
                                        "default": "read",
                                    },
                                    "days": {
                                        "type": ["integer", "null"],
                                        "minimum": 1,
                                        "maximum": settings.token_max_days,
                                        "default": settings.token_days,
                                    },
                                    "account": {
                                        "type": ["string", "null"],
                                        "description": "Whose token (default: your own).",
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": answer("201", "The token; `token` holds the secret.")
                | answer("404", "No account with this username.", problem)
                | invalid
                | unsupported,
            },
        },
        "/api/tokens/{token_id}": {
            "delete": {
                "summary": "Revoke a token",
                "operationId": "revokeToken",
                "parameters": [
                    {
                        "name": "token_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
                "responses": {"204": {"description": "Revoked."}}
                | answer("404", "Unknown.", problem),
            }
        },
        "/api/accounts": {
            "get": {
                "summary": "Accounts (org admins: of their organisation)",
                "operationId": "listAccounts",
                "parameters": [apidoc.query("organisation", "Accounts of this organisation.")],
                "responses": answer("200", "Accounts ordered by username."),
            },
            "post": {
                "summary": "Create an account",
                "operationId": "createAccount",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": new_account}},
                },
                "responses": answer("201", "Stored.", {"application/json": {"schema": account}})
                | answer("409", "The username is taken.", problem)
                | invalid
                | unsupported,
            },
        },
        "/api/accounts/{username}": {
            "patch": {
                "summary": "Change an account's roles, themes or active flag",
                "operationId": "changeAccount",
                "parameters": [
                    {"name": "username", "in": "path", "required": True, "schema": text}
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": account_change}},
                },
                "responses": answer("200", "Changed.", {"application/json": {"schema": account}})
                | answer("404", "Unknown account.", problem)
                | invalid
                | unsupported,
            }
        },
        "/api/audit": {
            "get": {
                "summary": "The audit log (region admins)",
                "operationId": "listAudit",
                "parameters": [*audit_filters, *apidoc.paging(settings)],
                "responses": answer("200", "Entries in order, with their hashes."),
            }
        },
        "/api/audit.csv": {
            "get": {
                "summary": "The audit log as CSV (region admins)",
                "operationId": "exportAudit",
                "parameters": audit_filters,
                "responses": answer("200", "CSV.", {"text/csv": {}}),
            }
        },
    }
