"""Accounts over HTTP: who am I (``/api/me``), my API tokens, account administration,
and the audit log for region admins (``/api/audit``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask_wtf.csrf import generate_csrf

from zugabe.domain.accounts import Scope
from zugabe.errors import FieldError, InvalidInput, Unauthorized
from zugabe.services import Services
from zugabe.services.accounts import AccountInput, account_values, parse_roles
from zugabe.services.audit import AuditService, parse_audit_query
from zugabe.web.api import int_param, json_body, limit_param
from zugabe.web.auth import current_actor

blueprint = Blueprint("accounts", __name__, url_prefix="/api")


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
    body = _object(json_body())
    scope = body.get("scope", "read")
    if scope not in {s.value for s in Scope}:
        raise InvalidInput(
            "scope is read or write", field_errors=[FieldError("/scope", "read|write")]
        )
    days = body.get("days")
    if days is not None and not isinstance(days, int):
        raise InvalidInput(
            "days must be a whole number", field_errors=[FieldError("/days", "integer")]
        )
    if not actor.authenticated:
        raise Unauthorized("sign in to create a token")
    services = _services()
    account = body.get("account") or actor.username
    token, secret = services.accounts.create_token(
        actor, str(account), str(body.get("name", "")), Scope(scope), days
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
    body = _object(json_body())
    new = AccountInput(
        username=str(body.get("username", "")),
        display_name=str(body.get("display_name", "")),
        email=str(body.get("email", "")),
        organisation=body.get("organisation"),
        departments=tuple(_strings(body, "departments")),
        roles=parse_roles(_strings(body, "roles")),
        themes=tuple(_strings(body, "themes")),
    )
    password = body.get("password")
    account = _services().accounts.add(
        current_actor(), new, str(password) if password is not None else None
    )
    response = jsonify(account_values(account))
    response.status_code = 201
    return response


@blueprint.patch("/accounts/<username>")
def change_account(username: str) -> Response:
    """Body with any of ``roles`` (and ``themes``), ``active``."""
    services = _services()
    actor = current_actor()
    body = _object(json_body())
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
    limit = limit_param()
    page = replace(query, after_seq=int_param("after"), limit=limit)
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


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("send a JSON object", field_errors=[FieldError("", "an object")])
    return body


def _strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(
            f"{name} is a list of texts", field_errors=[FieldError(f"/{name}", "list of texts")]
        )
    return value


def openapi_paths() -> dict[str, Any]:
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
    json_in = {"application/json": {"schema": {"type": "object"}}}

    def path(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": schema}

    def answer(code: str, description: str, content: Any = obj) -> dict[str, Any]:
        return {code: {"description": description, "content": content}}

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
                "parameters": [{"name": "account", "in": "query", "schema": text}],
                "responses": answer("200", "Tokens without their secrets."),
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
                                "properties": {
                                    "name": text,
                                    "scope": {"enum": ["read", "write"], "default": "read"},
                                    "days": {"type": "integer", "minimum": 1},
                                    "account": text,
                                },
                            }
                        }
                    },
                },
                "responses": answer("201", "The token; `token` holds the secret.")
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
                "parameters": [{"name": "organisation", "in": "query", "schema": text}],
                "responses": answer("200", "Accounts ordered by username."),
            },
            "post": {
                "summary": "Create an account",
                "operationId": "createAccount",
                "requestBody": {"required": True, "content": json_in},
                "responses": answer("201", "Stored.", {"application/json": {"schema": account}})
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
                "requestBody": {"required": True, "content": json_in},
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
                "parameters": [
                    {"name": name, "in": "query", "schema": text}
                    for name in ("actor", "action", "object_type", "object_id", "from", "to")
                ]
                + [
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "after", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": answer("200", "Entries in order, with their hashes."),
            }
        },
        "/api/audit.csv": {
            "get": {
                "summary": "The audit log as CSV (region admins)",
                "operationId": "exportAudit",
                "responses": answer("200", "CSV.", {"text/csv": {}}),
            }
        },
    }
