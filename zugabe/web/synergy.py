"""The synergy grid over HTTP (``/api/synergy``), as GeoJSON."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from zugabe.services.query import parse_bbox
from zugabe.web.api import GEOJSON
from zugabe.web.auth import current_actor

blueprint = Blueprint("synergy", __name__, url_prefix="/api/synergy")


@blueprint.get("")
def synergy_grid() -> Response:
    """Cells with criteria measures, utilities, score, rank and attention flag, best first."""
    synergy = current_app.extensions["zugabe"].synergy
    raw_size = request.args.get("cell_size")  # a positive number, as the document says
    cell_size = float(raw_size) if raw_size else None
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
