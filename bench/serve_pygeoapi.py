"""Serve pygeoapi under waitress, optionally behind a bearer-token gate; run by its own venv.

pygeoapi is the reference OGC API – Features server of the QGIS tests and of
``bench_ogcapi.py``. It lives in ``bench/.venvs/pygeoapi`` (made by ``ogc_servers.py``), not in
the project's venv, so this script is started with that venv's Python::

    bench/.venvs/pygeoapi/bin/python bench/serve_pygeoapi.py CONFIG.json --port 5001 \
        [--token SECRET] [--threads 8]

It writes pygeoapi's OpenAPI document next to the configuration (pygeoapi needs one before its
app is imported) and serves ``pygeoapi.flask_app.APP`` with waitress, the server ``zugabe serve``
uses, so the bench compares the applications and not the HTTP servers. With ``--token`` every
request without ``Authorization: Bearer SECRET`` gets a 401, as ZUGABE's API answers: the QGIS
tests prove with it that QGIS sends the token on every request.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def bearer_gate(app: WsgiApp, token: str) -> WsgiApp:
    """``app`` answering 401 to any request that lacks the bearer token."""
    expected = f"Bearer {token}"

    def gated(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_AUTHORIZATION") != expected:
            body = b'{"code": "Unauthorized", "description": "send Authorization: Bearer"}'
            start_response(
                "401 Unauthorized",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    ("WWW-Authenticate", "Bearer"),
                ],
            )
            return [body]
        return app(environ, start_response)

    return gated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="pygeoapi configuration (JSON is YAML)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--token", default=None)
    args = parser.parse_args()

    from pygeoapi.openapi import generate_openapi_document

    openapi = args.config.with_suffix(".openapi.json")
    openapi.write_text(generate_openapi_document(args.config, "json"), encoding="utf-8")
    os.environ["PYGEOAPI_CONFIG"] = str(args.config)
    os.environ["PYGEOAPI_OPENAPI"] = str(openapi)

    import waitress
    from pygeoapi.flask_app import APP

    app: WsgiApp = APP
    if args.token:
        app = bearer_gate(app, args.token)
    print(f"pygeoapi on http://127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    waitress.serve(app, host="127.0.0.1", port=args.port, threads=args.threads, ident="")


if __name__ == "__main__":
    main()
