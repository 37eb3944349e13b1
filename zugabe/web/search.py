"""Finding streets, districts and projects by name (``/api/search``), for the map's search box."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from zugabe.services.search import QUERY_MAX, SEARCH_LIMIT, SEARCH_LIMIT_MAX
from zugabe.web.apidoc import GEOJSON, query
from zugabe.web.auth import current_actor

blueprint = Blueprint("search", __name__, url_prefix="/api/search")


@blueprint.get("")
def search() -> Response:
    search = current_app.extensions["zugabe"].search
    limit = request.args.get("limit")  # checked against the document before the view ran
    places = search.search(
        current_actor(), request.args.get("q", ""), int(limit) if limit else SEARCH_LIMIT
    )
    response = jsonify(
        {"type": "FeatureCollection", "features": [search.to_feature(p) for p in places]}
    )
    response.mimetype = GEOJSON
    return response


def openapi_paths() -> dict[str, Any]:
    """This module's paths of the OpenAPI document (merged by ``zugabe.web.openapi``)."""
    result = {
        "type": "object",
        "properties": {
            "type": {"const": "Feature"},
            "bbox": {
                "type": "array",
                "items": {"type": "number"},
                "minItems": 4,
                "maxItems": 4,
                "description": "west, south, east, north in WGS84 degrees: zoom here.",
            },
            "geometry": {"type": "object", "description": "The box's centre, a Point."},
            "properties": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": ["district", "street", "project"]},
                    "label": {"type": "string"},
                    "ref": {"type": "string", "description": "The project's id, or the layer."},
                },
            },
        },
    }
    return {
        "/api/search": {
            "get": {
                "summary": "Streets, districts and projects by name (the map's search box)",
                "description": "Districts and streets from the stored `districts` and "
                "`streets` layers (their `name`; a street's segments are one result), then "
                "projects by title or id; names that start with `q` first. Case does not "
                "matter, nor ß against ss. No outside geocoder is asked.",
                "operationId": "search",
                "parameters": [
                    query(
                        "q",
                        "What to look for (not only spaces).",
                        {"type": "string", "minLength": 1, "maxLength": QUERY_MAX},
                    )
                    | {"required": True},
                    query(
                        "limit",
                        f"Most results (default {SEARCH_LIMIT}).",
                        {"type": "integer", "minimum": 1, "maximum": SEARCH_LIMIT_MAX},
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "The places found, best first.",
                        "content": {
                            GEOJSON: {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "type": {"const": "FeatureCollection"},
                                        "features": {"type": "array", "items": result},
                                    },
                                }
                            }
                        },
                    },
                    "400": {
                        "description": "`q` is missing or only spaces, or a parameter is "
                        "malformed.",
                        "content": {
                            "application/problem+json": {
                                "schema": {"$ref": "#/components/schemas/Problem"}
                            }
                        },
                    },
                },
            }
        }
    }
