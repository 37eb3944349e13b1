"""Query parameters checked against the OpenAPI document, the same way on every route.

The document says which query parameters each operation takes and what each may hold;
this check refuses anything else before a view runs, so the description and the server
cannot drift apart. An unknown name, a parameter given twice, or a value its schema does
not allow is a 400 problem that names the parameter (and, for an unknown one, lists the
known ones). Views then read values that are known to be well formed; what the schema cannot say (a
period that ends before it starts) the services still check.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from flask import Flask, request
from werkzeug.datastructures import MultiDict

from zugabe.errors import BadRequest, quoted
from zugabe.web.apidoc import Schema

OperationKey = tuple[str, str]
"""An operation of the document: its path template and its method in upper case."""

_ROUTE_VARIABLE = re.compile(r"<(?:[^:<>]+:)?(\w+)>")
_INTEGER = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[-+][0-9]{2}:[0-9]{2})"
)
_DIGITS_MAX = 4000
"""Longer integers are read as floats: Python refuses to parse more than 4,300 digits."""
_BOOLEANS = {"true": True, "false": False}
OPEN_QUERY = frozenset({"/login/oidc/callback"})
"""Where the identity provider decides what it appends (RFC 6749 §4.1.2 allows extensions)."""


def document_path(rule: str) -> str:
    """The document's path template of a Flask route (``<int:project_id>`` → ``{project_id}``)."""
    return _ROUTE_VARIABLE.sub(r"{\1}", rule)


def query_parameters(spec: Mapping[str, Any]) -> dict[OperationKey, dict[str, Schema]]:
    """Every operation's query parameters and their schemas, ``$ref`` resolved."""
    components = spec.get("components", {}).get("parameters", {})

    def resolved(parameter: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in parameter:
            return components[parameter["$ref"].rsplit("/", 1)[-1]]
        return parameter

    operations: dict[OperationKey, dict[str, Schema]] = {}
    for path, item in spec["paths"].items():
        shared = [resolved(p) for p in item.get("parameters", [])]
        for method, operation in item.items():
            if method == "parameters":
                continue
            parameters = shared + [resolved(p) for p in operation.get("parameters", [])]
            operations[(path, method.upper())] = {
                p["name"]: p["schema"] for p in parameters if p["in"] == "query"
            }
    return operations


def register(app: Flask, spec: Mapping[str, Any]) -> None:
    """Check the query of every request to a described operation before its view runs."""
    operations = query_parameters(spec)

    @app.before_request
    def _check_parameters() -> None:
        rule = request.url_rule
        if rule is None:  # no route: a 404 or 405 follows
            return
        path = document_path(rule.rule)
        method = "GET" if request.method == "HEAD" else request.method
        # a path the document spells out for these values (/ogc/collections/trees/items)
        # declares more than the template's
        concrete = _filled(path, request.view_args or {})
        declared = operations.get((concrete, method), operations.get((path, method)))
        if declared is not None and path not in OPEN_QUERY:
            check_query(request.args, declared)


def _filled(path: str, values: Mapping[str, Any]) -> str:
    """The path template with the route's values in place of its variables."""
    for name, value in values.items():
        path = path.replace(f"{{{name}}}", str(value))
    return path


def check_query(args: MultiDict[str, str], declared: Mapping[str, Schema]) -> None:
    """Refuse unknown, repeated and malformed parameters (400 naming the first one)."""
    for name in args:
        if name not in declared:
            known = ", ".join(declared) if declared else "none: this operation takes none"
            raise BadRequest(f"unknown query parameter {quoted(name)}; known: {known}")
    for name, schema in declared.items():
        values = args.getlist(name)
        if len(values) > 1:
            raise BadRequest(f"'{name}' is given {len(values)} times; give it once")
        if values:
            check_value(name, schema, values[0])


def check_value(name: str, schema: Schema, raw: str) -> None:
    """One value against its schema: the types, formats and bounds the document uses."""
    if "anyOf" in schema:
        if not any(_holds(name, alternative, raw) for alternative in schema["anyOf"]):
            raise BadRequest(f"'{name}' must be {_said(schema)}, got {quoted(raw)}")
        return
    kind = schema.get("type", "string")
    if kind == "array":
        items = schema["items"]
        for item in raw.split(",") if raw else []:
            check_value(name, items, item)
        return
    if kind == "boolean":
        if raw not in _BOOLEANS:
            raise BadRequest(f"'{name}' must be true or false, got {quoted(raw)}")
        return
    if kind in ("integer", "number"):
        _check_number(name, schema, raw)
        return
    if "enum" in schema and raw not in schema["enum"]:
        raise BadRequest(f"'{name}' must be one of {', '.join(schema['enum'])}, got {quoted(raw)}")
    if schema.get("format") == "date" and not _is_date(raw):
        raise BadRequest(f"'{name}' must be a date as YYYY-MM-DD, got {quoted(raw)}")
    if schema.get("format") == "date-time" and not _is_time(raw):
        raise BadRequest(f"'{name}' must be an RFC 3339 time, got {quoted(raw)}")
    if "pattern" in schema and not re.fullmatch(schema["pattern"], raw):
        raise BadRequest(f"'{name}' must be {_said(schema)}, got {quoted(raw)}")
    if len(raw) > schema.get("maxLength", math.inf):
        raise BadRequest(
            f"'{name}' may have at most {schema['maxLength']} characters, got {len(raw):,}"
        )
    if len(raw) < schema.get("minLength", 0):
        raise BadRequest(f"'{name}' must have at least {schema['minLength']} character(s)")


def _check_number(name: str, schema: Schema, raw: str) -> None:
    whole = schema["type"] == "integer"
    kind = "a whole number" if whole else "a number"
    if not (_INTEGER if whole else _NUMBER).fullmatch(raw):
        raise BadRequest(f"'{name}' must be {kind}, got {quoted(raw)}")
    value = int(raw) if whole and len(raw) <= _DIGITS_MAX else float(raw)  # huge: inf
    low, high = schema.get("minimum"), schema.get("maximum")
    above = schema.get("exclusiveMinimum")
    if low is not None and high is not None:
        bounds = f"between {low} and {high}"
    else:
        said = [
            f"at least {low}" if low is not None else "",
            f"above {above}" if above is not None else "",
            f"at most {high}" if high is not None else "",
        ]
        bounds = " and ".join(s for s in said if s)
    if (
        (low is not None and value < low)
        or (high is not None and value > high)
        or (above is not None and value <= above)
    ):
        raise BadRequest(f"'{name}' must be {bounds}, got {quoted(raw)}")
    if not math.isfinite(value):
        raise BadRequest(f"'{name}' must be {kind}, got {quoted(raw)}")


def _said(schema: Schema) -> str:
    """What a value of a pattern or a choice of schemas is, in the document's words."""
    return schema.get("description") or f"as the document says ({schema.get('pattern', '')})"


def _holds(name: str, schema: Schema, raw: str) -> bool:
    try:
        check_value(name, schema, raw)
    except BadRequest:
        return False
    return True


def _is_date(raw: str) -> bool:
    return _parses(_DATE, date.fromisoformat, raw)


def _is_time(raw: str) -> bool:
    return _parses(_TIME, lambda text: datetime.fromisoformat(text.upper()), raw)  # t, z too


def _parses(shape: re.Pattern[str], parse: Callable[[str], object], raw: str) -> bool:
    """Of the right shape (Python reads more than RFC 3339 allows), and a real day or time."""
    if not shape.fullmatch(raw):
        return False
    try:
        parse(raw)
    except ValueError:
        return False
    return True
