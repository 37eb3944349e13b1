"""Errors as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, redirect, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from zugabe.errors import Unauthorized, ZugabeError

PROBLEM_JSON = "application/problem+json"


def problem_response(
    status: int,
    title: str,
    detail: str,
    problem_type: str = "about:blank",
    errors: list[dict[str, str]] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": problem_type,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    return response


def register(app: Flask) -> None:
    @app.errorhandler(ZugabeError)
    def zugabe_error(exc: ZugabeError) -> Response | WerkzeugResponse:
        if isinstance(exc, Unauthorized) and _wants_page():
            return redirect(url_for("signin.login_page", next=request.full_path.rstrip("?")))
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            exc.problem_type,
            [e.as_dict() for e in exc.field_errors],
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        response = problem_response(exc.code or 500, exc.name, exc.description or exc.name)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response


def _wants_page() -> bool:
    """A browser asking for a page (the map, a report), not a client of the JSON API."""
    asks_html = "text/html" in request.accept_mimetypes.values()  # said so, not */*
    return request.method == "GET" and asks_html and not request.path.startswith("/api/")
