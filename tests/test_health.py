"""``GET /health``: what a load balancer or monitor sees when the process can serve, when
its store does not answer, and when a newer ZUGABE migrated the store behind its back.

The answer through Debian's nginx is in test_production.py.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient

from zugabe.services import Services


def test_ready_without_signing_in(app: Flask, anonymous: FlaskClient) -> None:
    answer = anonymous.get("/health")
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.get_json() == {
        "status": "ok",
        "checks": {
            "store": "ok",
            "schema": "current",
            "detection_index": "cold",
            "rendered_projects": "cold",
            "rendered_cases": "cold",
        },
    }
    services: Services = app.extensions["zugabe"]
    services.warm_up()  # what `zugabe serve` does in the background at start
    checks = anonymous.get("/health").get_json()["checks"]
    warmed = ("detection_index", "rendered_projects", "rendered_cases")
    assert [checks[name] for name in warmed] == ["warm"] * 3


def test_a_bad_store_makes_it_unready_without_details(app: Flask, anonymous: FlaskClient) -> None:
    app.extensions["zugabe"].store.close()
    answer = anonymous.get("/health")
    assert answer.status_code == 503
    assert answer.get_json() == {
        "status": "unavailable",
        "checks": {
            "store": "unreachable",
            "schema": "unknown",
            "detection_index": "cold",
            "rendered_projects": "cold",
            "rendered_cases": "cold",
        },
    }
    assert "sqlite" not in answer.get_data(as_text=True).lower()  # no path, no backend


def test_a_store_migrated_by_a_newer_zugabe_makes_it_unready(
    app: Flask, anonymous: FlaskClient
) -> None:
    """Upgrading one server of several: the old processes must leave the rotation."""
    path = app.extensions["zugabe"].settings.instance_path / "zugabe.sqlite"
    with sqlite3.connect(path) as conn:  # what the newer ZUGABE's migration leaves behind
        conn.execute(
            "INSERT INTO zugabe_schema_version (version, description, applied_at) "
            "SELECT max(version) + 1, 'a later step', ? FROM zugabe_schema_version",
            (datetime.now(UTC).isoformat(),),
        )
    conn.close()
    answer = anonymous.get("/health")
    assert answer.status_code == 503
    assert answer.get_json()["checks"] == {
        "store": "ok",
        "schema": "changed",
        "detection_index": "cold",
        "rendered_projects": "cold",
        "rendered_cases": "cold",
    }
