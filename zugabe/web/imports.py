"""Bulk import of projects over HTTP (``POST /api/projects/import``), dry run or apply.

The upload goes through the same checks as a layer upload (``received_upload``: size, name
ending, first bytes; zip archives checked by the reader) and the same reading options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from zugabe.services import Services
from zugabe.services.jobs import Progress
from zugabe.services.project_import import ProjectImporter
from zugabe.web.auth import current_actor
from zugabe.web.jobs import ACCEPTED, PREFER_ASYNC, prefers_async, start_with_upload
from zugabe.web.layers import UPLOAD_SIGNATURES, flag, received_upload, upload_options

blueprint = Blueprint("imports", __name__)

# A project list is never ISYBAU XML (that holds sewers).
PROJECT_UPLOADS = {suffix: sig for suffix, sig in UPLOAD_SIGNATURES.items() if suffix != ".xml"}


@blueprint.post("/api/projects/import")
def import_projects() -> Response:
    """Check an uploaded project list row by row; store all rows, or with ``dry_run`` none."""
    services: Services = current_app.extensions["zugabe"]
    actor = current_actor()
    services.policy.require_project_creator(actor)  # before the upload is read
    with received_upload(services.settings.max_upload_bytes, PROJECT_UPLOADS) as path:
        dry_run, repair, options = flag("dry_run"), flag("repair"), upload_options()

        def work(path: Path, _progress: Progress | None = None) -> dict[str, Any]:
            importer = ProjectImporter(services.projects)
            report = importer.import_file(path, actor, dry_run=dry_run, repair=repair, **options)
            return report.as_dict()

        if prefers_async():
            return start_with_upload(actor, "projects.import", path.name, path, work)
        response = jsonify(work(path))
    response.status_code = 200 if dry_run else 201
    return response


def openapi_paths() -> dict[str, Any]:
    """This module's paths of the OpenAPI document (merged by ``zugabe.web.openapi``)."""
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    text = {"type": "string"}
    upload = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {
                "type": "string",
                "format": "binary",
                "description": "GeoPackage, zipped Shapefile, GeoJSON or CSV.",
            },
            "dry_run": {"type": "boolean", "description": "Same as the query parameter."},
            "repair": {
                "type": "boolean",
                "description": "Make invalid geometries valid and GeometryCollections their "
                "Multi type (reported per row).",
            },
            "source_layer": {"type": "string", "description": "Layer of a GeoPackage or zip."},
            "source_crs": {"type": "string", "description": "CRS when the file has none."},
            "map": {
                "type": "array",
                "items": text,
                "description": "FIELD=PROPERTY, e.g. Bezeichnung=title; FIELD= ignores a field.",
            },
            "x_field": text,
            "y_field": text,
            "wkt_field": text,
            "delimiter": text,
            "decimal_comma": {"type": "boolean"},
            "encoding": text,
        },
    }
    problem_row = {
        "type": "object",
        "properties": {
            "row": {"type": "integer", "description": "Row of the file (CSV: line number)."},
            "field": {"type": "string", "description": "Project property, or 'geometry'."},
            "source_field": {"type": ["string", "null"], "description": "Column of the file."},
            "detail": text,
        },
    }
    report = {
        "type": "object",
        "properties": {
            "dry_run": {"type": "boolean"},
            "stored": {"type": "boolean"},
            "rows_read": {"type": "integer"},
            "valid_rows": {"type": "integer"},
            "invalid_rows": {"type": "integer"},
            "problems": {"type": "array", "items": problem_row},
            "field_mapping": {"type": "object", "additionalProperties": text},
            "unmatched_fields": {"type": "array", "items": text},
            "source_crs": text,
            "transformation": text,
            "transformation_accuracy_m": {"type": ["number", "null"]},
            "notes": {"type": "array", "items": text},
            "new_rows": {"type": "integer"},
            "changed_rows": {"type": "integer"},
            "unchanged_rows": {"type": "integer"},
            "rows": {
                "type": "array",
                "description": "[row, new | changed | unchanged, project id] per row.",
                "items": {"type": "array"},
            },
            "repaired": {
                "type": "array",
                "description": "[row, what was repaired] (with repair=true).",
                "items": {"type": "array"},
            },
            "imported": {"type": "integer", "description": "Projects created."},
            "updated": {"type": "integer", "description": "Projects changed (a new version)."},
            "project_ids": {"type": "array", "items": {"type": "integer"}},
            "cases_created": {"type": "integer"},
            "cases_updated": {"type": "integer"},
        },
    }
    return {
        "/api/projects/import": {
            "post": {
                "summary": "Import projects from a file (multipart): dry run or all rows at once",
                "description": (
                    "Every row is checked like `POST /api/projects`. A row with the "
                    "`external_id` of a stored project (or, in ZUGABE's own export, its `id`) "
                    "updates that project; others are new. A dry run returns the per-row "
                    "report (new, changed, unchanged) and stores nothing; otherwise all rows "
                    "are stored in one transaction and the coordination cases are recomputed, "
                    "or, when any row has a problem, nothing is stored (422, `errors` pointing "
                    "at `/rows/<row>/<field>`)."
                ),
                "operationId": "importProjects",
                "parameters": [
                    PREFER_ASYNC,
                    {
                        "name": "dry_run",
                        "in": "query",
                        "required": False,
                        "description": "true: check and report only.",
                        "schema": {"type": "boolean", "default": False},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": upload}},
                },
                "responses": {
                    "200": {
                        "description": "Dry run: the report; nothing stored.",
                        "content": {"application/json": {"schema": report}},
                    },
                    "201": {
                        "description": "Imported: the report with project ids and new cases.",
                        "content": {"application/json": {"schema": report}},
                    },
                    "202": ACCEPTED,
                    "400": {"description": "A malformed option.", "content": problem},
                    "413": {"description": "The file is too large.", "content": problem},
                    "422": {
                        "description": "The file or some rows were refused; nothing stored.",
                        "content": problem,
                    },
                },
            }
        }
    }
