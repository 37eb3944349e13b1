"""The Flask application: thin adapters over ``zugabe.services``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from zugabe.config import load_settings
from zugabe.services import Services
from zugabe.web import (
    api,
    cases,
    docs,
    exports,
    imports,
    layers,
    problems,
    reports,
    synergy,
    webmap,
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; ``config`` overrides file and environment settings.

    Raises ``ConfigError`` before anything is served when the settings or
    the vocabulary are invalid.
    """
    settings = load_settings(config)
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__, instance_path=str(settings.instance_path.resolve()))
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    app.extensions["zugabe"] = Services.open(settings)
    problems.register(app)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(layers.blueprint)
    app.register_blueprint(cases.blueprint)
    app.register_blueprint(synergy.blueprint)
    app.register_blueprint(docs.blueprint)
    app.register_blueprint(webmap.blueprint)
    app.register_blueprint(reports.blueprint)
    app.register_blueprint(exports.blueprint)
    app.register_blueprint(imports.blueprint)
    return app


def services_of(app: Flask) -> Services:
    return app.extensions["zugabe"]
