"""The synergy grid over HTTP (``/api/synergy``), as GeoJSON."""

from __future__ import annotations

import math

from flask import Blueprint, Response, current_app, jsonify, request

from zugabe.errors import BadRequest
from zugabe.services.query import parse_bbox
from zugabe.web.api import GEOJSON
from zugabe.web.auth import current_actor

blueprint = Blueprint("synergy", __name__, url_prefix="/api/synergy")


@blueprint.get("")
def synergy_grid() -> Response:
    """Cells with criteria measures, utilities, score, rank and attention flag, best first."""
    synergy = current_app.extensions["zugabe"].synergy
    raw_size = request.args.get("cell_size")
    try:
        cell_size = float(raw_size) if raw_size else None
    except ValueError:
        cell_size = math.nan
    if cell_size is not None and not (math.isfinite(cell_size) and cell_size > 0):
        raise BadRequest(f"'cell_size' must be a positive number of metres, got {raw_size[:40]!r}")
    bbox = parse_bbox(request.args["bbox"]) if request.args.get("bbox") else None
    result = synergy.compute(
        current_actor(),
        cell_size=cell_size,
        cells_layer=request.args.get("cells") or None,
        bbox=bbox,
    )
    response = jsonify(synergy.to_geojson(result))
    response.mimetype = GEOJSON
    return response
