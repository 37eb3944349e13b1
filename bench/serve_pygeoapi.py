"""Serve pygeoapi under waitress, optionally behind a bearer-token gate; run by its own venv.

pygeoapi is the reference OGC API – Features server of the QGIS tests and of
``bench_ogcapi.py``. It lives in ``bench/.venvs/pygeoapi`` (made by ``ogc_servers.py``), not in
the project's venv, so this script is started with that venv's Python::

    bench/.venvs/pygeoapi/bin/python bench/serve_pygeoapi.py CONFIG.json --port 5001 \
        [--token SECRET] [--threads 8] [--workers 1]

It writes pygeoapi's OpenAPI document next to the configuration (pygeoapi needs one before its
app is imported) and serves ``pygeoapi.flask_app.APP`` under gunicorn with ``gthread`` workers,
as ``zugabe serve`` does, so the bench compares the applications and not the HTTP servers.
Each worker imports the app after the fork: no database connection is shared. With ``--token`` every
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

from gunicorn.app.base import BaseApplication

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


class _Gunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn embedded (its "custom application"); the app is made in each worker."""

    def __init__(self, options: dict[str, Any], token: str | None) -> None:
        self.options = options
        self.token = token
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> WsgiApp:
        from pygeoapi.flask_app import APP

        return bearer_gate(APP, self.token) if self.token else APP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="pygeoapi configuration (JSON is YAML)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--token", default=None)
    args = parser.parse_args()

    from pygeoapi.openapi import generate_openapi_document

    openapi = args.config.with_suffix(".openapi.json")
    openapi.write_text(generate_openapi_document(args.config, "json"), encoding="utf-8")
    os.environ["PYGEOAPI_CONFIG"] = str(args.config)
    os.environ["PYGEOAPI_OPENAPI"] = str(openapi)

    print(f"pygeoapi on http://127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    options = {
        "bind": f"127.0.0.1:{args.port}",
        "workers": args.workers,
        "worker_class": "gthread",
        "threads": args.threads,
        "control_socket_disable": True,
        "loglevel": "warning",
    }
    _Gunicorn(options, args.token).run()


if __name__ == "__main__":
    main()
