"""Exports over HTTP: one GeoPackage of everything, projects and cases as GeoJSON and CSV.

Every route takes the same filters (``ExportFilter``). The GeoPackage is written to a
temporary file in the instance folder and sent from there (GDAL cannot write to a stream);
GeoJSON and CSV are streamed page by page, so a large export does not sit in memory.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, request, send_file

from zugabe.domain.layers import LayerDefinition
from zugabe.services.exports import CASE_CHOICES, ExportFilter, ExportService
from zugabe.web.apidoc import GEOJSON, cell_size, listing, problem, project_filters, query
from zugabe.web.auth import current_actor

blueprint = Blueprint("exports", __name__)

GPKG = "application/geopackage+sqlite3"
CSV = "text/csv; charset=utf-8"


def _exports() -> ExportService:
    return ExportService.of(current_app.extensions["zugabe"], current_actor())


def _filter() -> ExportFilter:
    return ExportFilter.from_params(request.args.to_dict())


def _filename(what: str, suffix: str) -> str:
    return f"zugabe-{what}-{date.today():%Y-%m-%d}.{suffix}"


@blueprint.get("/api/export.gpkg")
def geopackage() -> Response:
    """Projects, cases, thematic layers and the synergy grid in one styled GeoPackage."""
    exports, export = _exports(), _filter()
    folder = Path(tempfile.mkdtemp(prefix="export-", dir=current_app.instance_path))
    try:
        path = folder / "zugabe.gpkg"
        summary = exports.write_geopackage(export, path)
        handle = path.open("rb")  # the open file outlives its folder (POSIX)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    response = send_file(
        handle, mimetype=GPKG, as_attachment=True, download_name=_filename("export", "gpkg")
    )
    response.headers["X-Zugabe-Layers"] = ", ".join(
        f"{name}={count}" for name, count in summary.layers.items()
    )
    return response


@blueprint.get("/api/export/projects.geojson")
def projects_geojson() -> Response:
    return _streamed(_exports().projects_geojson(_filter()), GEOJSON, "projects", "geojson")


@blueprint.get("/api/export/projects.csv")
def projects_csv() -> Response:
    return _streamed(_exports().projects_csv(_filter()), CSV, "projects", "csv")


@blueprint.get("/api/export/cases.geojson")
def cases_geojson() -> Response:
    return _streamed(_exports().cases_geojson(_filter()), GEOJSON, "cases", "geojson")


@blueprint.get("/api/export/cases.csv")
def cases_csv() -> Response:
    return _streamed(_exports().cases_csv(_filter()), CSV, "cases", "csv")


def _streamed(pieces: Iterator[str], content_type: str, what: str, suffix: str) -> Response:
    """Send text pieces as they come; the filter was checked before the first one."""
    response = Response((piece.encode("utf-8") for piece in pieces), content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{_filename(what, suffix)}"'
    return response


# --------------------------------------------------------------------------- OpenAPI


def openapi_paths(definitions: Mapping[str, LayerDefinition]) -> dict[str, Any]:
    """This module's paths of the OpenAPI document (merged by ``zugabe.web.openapi``)."""
    common = [
        *project_filters("Projects (and their cases)"),
        query(
            "district",
            "Number or name of a polygon of the `districts` layer.",
            {"type": "string", "minLength": 1},
        ),
        query(
            "cases",
            "Cases of the exported projects: live ones (default), all (obsolete too) or none.",
            {"type": "string", "enum": list(CASE_CHOICES)},
        ),
    ]
    gpkg_only = [
        listing(
            "layers",
            "Thematic layers (default: every stored one), or `none`.",
            ["none", *sorted(definitions)],
        ),
        query("synergy", "Include the synergy grid (default true).", {"type": "boolean"}),
        cell_size("Synergy grid cell size in metres."),
    ]
    bad = problem(
        "A filter is malformed, or the synergy grid would have too many cells (GeoPackage)."
    )
    missing = problem("No district with this number or name (or no districts layer stored).")
    attachment = {
        "Content-Disposition": {
            "description": "attachment; filename=zugabe-….",
            "schema": {"type": "string"},
        }
    }
    binary = {"type": "string", "format": "binary"}
    paths: dict[str, Any] = {
        "/api/export.gpkg": {
            "get": {
                "summary": "Export a styled GeoPackage",
                "operationId": "exportGeoPackage",
                "description": (
                    "One GeoPackage in the storage CRS (EPSG:25832 by default): projects and "
                    "cases as one layer per geometry family (`projects_points`, "
                    "`projects_lines`, `projects_polygons`, `cases_…`), every stored thematic "
                    "layer and the synergy grid, with typed fields, layer descriptions and "
                    "QGIS styles in `layer_styles`."
                ),
                "parameters": common + gpkg_only,
                "responses": {
                    "200": {
                        "description": "The GeoPackage.",
                        "headers": attachment,
                        "content": {GPKG: {"schema": binary}},
                    },
                    "400": bad,
                    "404": missing,
                },
            }
        }
    }
    for what, operation in (("projects", "Projects"), ("cases", "Cases")):
        paths[f"/api/export/{what}.geojson"] = {
            "get": {
                "summary": f"Export {what} as GeoJSON",
                "operationId": f"export{operation}GeoJSON",
                "description": "An RFC 7946 FeatureCollection (lon/lat), features as in the API.",
                "parameters": common,
                "responses": {
                    "200": {
                        "description": "The FeatureCollection, streamed.",
                        "headers": attachment,
                        "content": {GEOJSON: {"schema": {"type": "object"}}},
                    },
                    "400": bad,
                    "404": missing,
                },
            }
        }
        paths[f"/api/export/{what}.csv"] = {
            "get": {
                "summary": f"Export {what} as CSV",
                "operationId": f"export{operation}CSV",
                "description": (
                    "UTF-8, comma-separated, header row; `lon`/`lat` of a point on each "
                    "geometry and the geometry as `wkt`, both WGS84."
                ),
                "parameters": common,
                "responses": {
                    "200": {
                        "description": "The CSV, streamed.",
                        "headers": attachment,
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    "400": bad,
                    "404": missing,
                },
            }
        }
    return paths
