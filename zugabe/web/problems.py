"""Errors as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, redirect, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from zugabe.errors import Unauthorized, ZugabeError, problem_title
from zugabe.web.language import api_language

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
    }
    if errors:
        body["errors"] = errors
    return _problem_json(body)


def _problem_json(body: dict[str, Any]) -> Response:
    """A problem body as the response; its words depend on the request's language."""
    response = jsonify(body | {"instance": request.path})
    response.status_code = body["status"]
    response.mimetype = PROBLEM_JSON
    response.vary.update(("Accept-Language", "Cookie"))
    return response


def register(app: Flask) -> None:
    @app.errorhandler(ZugabeError)
    def zugabe_error(exc: ZugabeError) -> Response | WerkzeugResponse:
        if isinstance(exc, Unauthorized) and _wants_page():
            return redirect(url_for("signin.login_page", next=request.full_path.rstrip("?")))
        return _problem_json(exc.problem(api_language()))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        title = problem_title(status, exc.name, api_language())
        response = problem_response(status, title, exc.description or exc.name)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response


def _wants_page() -> bool:
    """A browser asking for a page (the map, a report), not a client of the JSON API."""
    asks_html = "text/html" in request.accept_mimetypes.values()  # said so, not */*
    return request.method == "GET" and asks_html and not request.path.startswith("/api/")
