"""The language of the pages: German by default, English on request, and remembered.

A page asked for with ``?lang=de`` or ``?lang=en`` answers in that language and keeps the
choice in a cookie, so the next page (the map after signing in, a report opened from it)
speaks it too without the parameter. One place for the map, the login page and reports.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from zugabe import messages
from zugabe.services.reports import LANGUAGES, parse_language

COOKIE = "zugabe_lang"
REMEMBERED_DAYS = 365


def page_language() -> str:
    """``?lang=`` if given (a 400 when it is neither de nor en), else the remembered one."""
    asked = request.args.get("lang")
    if asked:
        return parse_language(asked)
    remembered = request.cookies.get(COOKIE)
    return remembered if remembered in LANGUAGES else "de"


def api_language() -> str:
    """The language the API words its messages in (``zugabe.messages``): the one remembered
    by the cookie (chosen on the map), else the first of ours that ``Accept-Language``
    asks for, else English, so that clients that ask for nothing read what they always read.
    The map sends its page's language as ``Accept-Language``."""
    remembered = request.cookies.get(COOKIE)
    if remembered in messages.LANGUAGES:
        return remembered
    return messages.best_language(request.accept_languages) or messages.DEFAULT


def register(app: Flask) -> None:
    @app.after_request
    def _remember(response: Response) -> Response:
        asked = request.args.get("lang")
        if asked in LANGUAGES and asked != request.cookies.get(COOKIE):
            response.set_cookie(
                COOKIE,
                asked,
                max_age=REMEMBERED_DAYS * 24 * 3600,
                httponly=True,
                samesite="Lax",
                secure=current_app.extensions["zugabe"].settings.behind_https,
            )
        return response
