"""The Flask application: thin adapters over ``zugabe.services``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter, Map

from zugabe.config import load_settings
from zugabe.errors import ConfigError
from zugabe.services import Services
from zugabe.services.health import HealthService
from zugabe.services.ogc import OgcService
from zugabe.web import (
    accounts,
    api,
    auth,
    cases,
    checklists,
    desk,
    docs,
    exports,
    good_practice,
    health,
    imports,
    inbox,
    jobs,
    language,
    layers,
    notifications,
    ogc,
    parameters,
    problems,
    reports,
    search,
    security,
    signin,
    strategies,
    synergy,
    webmap,
)
from zugabe.web.apidoc import MAX_ID
from zugabe.web.fast_json import OrjsonProvider
from zugabe.web.openapi import build_openapi


class BoundedInt(IntegerConverter):
    """``<int:…>`` in routes, up to 2^63 - 1: a larger id is a 404, not an overflow.

    The 404 is raised here rather than left to the matcher: a converter that declines the
    value makes Werkzeug try the route's other methods and answer 405 (PUT, DELETE).
    """

    def __init__(self, url_map: Map, **kwargs: Any) -> None:
        super().__init__(url_map, **kwargs)

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise NotFound(f"no object has the id {value[:30]}")
        return number


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; ``config`` overrides file and environment settings.

    Raises ``ConfigError`` before anything is served when the settings or
    the vocabulary are invalid.
    """
    settings = load_settings(config)
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__, instance_path=str(settings.instance_path.resolve()))
    app.json = OrjsonProvider(app)
    app.url_map.converters["int"] = BoundedInt  # before any route: ids in paths too
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    services = Services.open(settings)
    app.extensions["zugabe"] = services
    refuse_demo_passwords(services)
    security.configure(app, settings)
    auth.register(app)
    app.extensions["zugabe_ogc"] = OgcService(services)
    app.extensions["zugabe_health"] = HealthService(
        services.store, services.projects, services.cases
    )
    app.extensions["zugabe_openapi"] = build_openapi(
        services.vocabulary,
        services.layers.definitions,
        services.cases.rule_by_id,
        services.checklists.checklist,
        settings,
    )
    app.extensions["zugabe_ogc_openapi"] = ogc.ogc_document(app.extensions["zugabe_openapi"])
    parameters.register(app, app.extensions["zugabe_openapi"])
    problems.register(app)
    language.register(app)
    signin.register(app)
    app.register_blueprint(accounts.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(layers.blueprint)
    app.register_blueprint(cases.blueprint)
    app.register_blueprint(desk.blueprint)
    app.register_blueprint(inbox.blueprint)
    app.register_blueprint(synergy.blueprint)
    app.register_blueprint(docs.blueprint)
    app.register_blueprint(webmap.blueprint)
    app.register_blueprint(reports.blueprint)
    app.register_blueprint(strategies.blueprint)
    app.register_blueprint(checklists.blueprint)
    app.register_blueprint(exports.blueprint)
    app.register_blueprint(imports.blueprint)
    app.register_blueprint(jobs.blueprint)
    app.register_blueprint(search.blueprint)
    app.register_blueprint(notifications.blueprint)
    app.register_blueprint(ogc.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(good_practice.blueprint)
    return app


def refuse_demo_passwords(services: Services) -> None:
    """Outside a demo instance, accounts with the passwords ``zugabe demo`` printed are a
    door anyone who read the README can open: refuse to start."""
    if services.settings.demo_instance:
        return
    names = services.accounts.demo_passwords_in_use()
    if names:
        services.close()
        raise ConfigError(
            f"{len(names)} account(s) still have a demo password ({', '.join(names[:5])}"
            f"{', …' if len(names) > 5 else ''}): set new passwords with "
            "`zugabe users password NAME`, disable them with `zugabe users disable NAME`, "
            "or set demo_instance = true for a demo"
        )


def services_of(app: Flask) -> Services:
    return app.extensions["zugabe"]
