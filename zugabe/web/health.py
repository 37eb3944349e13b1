"""``GET /health``: whether this process can serve, for load balancers and monitors.

Open to anyone (a probe has no account) and never cached; 503 when not ready, so a
balancer takes the process out of rotation. See ``zugabe.services.health``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from zugabe.services.health import HealthService

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def health() -> Response:
    service: HealthService = current_app.extensions["zugabe_health"]
    state = service.check()
    response = jsonify(state.as_json())
    response.status_code = 200 if state.ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def openapi_paths() -> dict[str, Any]:
    """This module's paths of the OpenAPI document (merged by ``zugabe.web.openapi``)."""
    health = {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "checks": {
                "type": "object",
                "properties": {
                    "store": {
                        "type": "string",
                        "enum": ["ok", "unreachable"],
                        "description": "The store answered a read.",
                    },
                    "schema": {
                        "type": "string",
                        "enum": ["current", "changed", "unknown"],
                        "description": "`changed`: a newer ZUGABE migrated the store since "
                        "this process started; restart it.",
                    },
                    "detection_index": {
                        "type": "string",
                        "enum": ["warm", "cold"],
                        "description": "`cold`: the first save builds it first (seconds in "
                        "a big region); the process is ready all the same.",
                    },
                    "rendered_projects": {
                        "type": "string",
                        "enum": ["warm", "cold"],
                        "description": "`warm`: the projects are rendered for the map (after "
                        "the detection index); `cold`: a map view renders the projects it "
                        "shows first. The process is ready all the same.",
                    },
                    "rendered_cases": {
                        "type": "string",
                        "enum": ["warm", "cold"],
                        "description": "`warm`: the newest cases are rendered for the map "
                        "(after the projects); `cold`: a map view renders the cases it shows "
                        "first. The process is ready all the same.",
                    },
                },
            },
        },
    }
    content = {"application/json": {"schema": health}}
    return {
        "/health": {
            "get": {
                "summary": "Whether this process can serve (for load balancers and monitors)",
                "description": "No sign-in needed, never cached, no version or error details. "
                "Ready: the store answers and has the schema this process opened.",
                "operationId": "getHealth",
                "responses": {
                    "200": {"description": "Ready.", "content": content},
                    "503": {"description": "Not ready (the checks say why).", "content": content},
                },
            }
        }
    }
