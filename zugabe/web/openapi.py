"""The OpenAPI 3.1 description of the JSON API, built from the live vocabulary.

Kept next to the routes it describes; ``tests/test_openapi.py`` checks that
it is valid and that every route of the app is described.
"""

from __future__ import annotations

from typing import Any

from zugabe import __version__
from zugabe.config import Settings
from zugabe.domain.project import CONTACT_MAX, EXTERNAL_ID_MAX, TEXT_MAX, TITLE_MAX, Status
from zugabe.domain.vocabulary import Vocabulary
from zugabe.web import accounts, exports, imports, jobs, reports, signin

GEOJSON = "application/geo+json"
PROBLEM = "application/problem+json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": _ref("Problem")}}}


def _feature(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
        "content": {GEOJSON: {"schema": _ref("ProjectFeature")}},
    }


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def build_openapi(vocabulary: Vocabulary, settings: Settings) -> dict[str, Any]:
    project_id = {
        "name": "project_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer"},
    }
    if_match = {"$ref": "#/components/parameters/IfMatch"}
    invalid = _problem("The input was refused; `errors` names each field. Nothing was stored.")
    stale = _problem("If-Match names an outdated version: someone else changed the project.")
    missing = _problem("No project with this id.")
    write_body = {
        "required": True,
        "content": {
            "application/json": {"schema": _ref("ProjectFeatureInput")},
            GEOJSON: {"schema": _ref("ProjectFeatureInput")},
        },
    }
    case_id = {"name": "case_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    no_case = _problem("No case with this id.")
    layer_key = {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
    no_layer = _problem("No layer type with this key.")
    upload = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {
                "type": "string",
                "format": "binary",
                "description": "GeoPackage, zipped Shapefile, GeoJSON, CSV or ISYBAU XML.",
            },
            "source_layer": {"type": "string"},
            "source_crs": {"type": "string", "description": "e.g. EPSG:31467"},
            "map": {"type": "array", "items": {"type": "string"}, "description": "FIELD=ATTRIBUTE"},
            "x_field": {"type": "string"},
            "y_field": {"type": "string"},
            "delimiter": {"type": "string"},
            "decimal_comma": {"type": "boolean"},
            "encoding": {"type": "string"},
            "accept_partial": {
                "type": "boolean",
                "description": "Store the accepted rows even when more than max_refused_share "
                "of the rows were refused (a file with no accepted row is never stored).",
            },
        },
    }
    list_params = [
        _query("bbox", "min_lon,min_lat,max_lon,max_lat (WGS84): projects intersecting it."),
        _query("organisation", "Organisation keys, comma-separated (any of)."),
        _query("department", "Department keys, comma-separated (any of)."),
        _query("measure_type", "Measure type keys, comma-separated (any of)."),
        _query("status", "Statuses, comma-separated (any of)."),
        _query(
            "from",
            "Planned window overlaps a period starting at this date.",
            {"type": "string", "format": "date"},
        ),
        _query(
            "to",
            "Planned window overlaps a period ending at this date.",
            {"type": "string", "format": "date"},
        ),
        _query("q", "Case-insensitive text in the title."),
        _query(
            "limit",
            f"Page size (default {settings.page_size}, at most {settings.max_page_size}).",
            {"type": "integer", "minimum": 1, "maximum": settings.max_page_size},
        ),
        _query(
            "after",
            "Cursor: the id after which the page starts (see the `next` link).",
            {"type": "integer"},
        ),
    ]
    properties = {
        "title": {"type": "string", "minLength": 1, "maxLength": TITLE_MAX},
        "description": {"type": "string", "maxLength": TEXT_MAX},
        "organisation": {"type": "string", "enum": list(vocabulary.organisations)},
        "department": {"type": "string", "enum": list(vocabulary.departments)},
        "measure_type": {"type": "string", "enum": list(vocabulary.measure_types)},
        "status": {"type": "string", "enum": [s.value for s in Status], "default": "idea"},
        "start": {"type": ["string", "null"], "format": "date"},
        "end": {"type": ["string", "null"], "format": "date", "description": "Not before start."},
        "contact": {"type": "string", "maxLength": CONTACT_MAX},
        "external_id": {
            "type": "string",
            "maxLength": EXTERNAL_ID_MAX,
            "description": "The project's number in the system it comes from; unique. "
            "A bulk import matches rows to projects by it.",
        },
        "cost_eur": {
            "type": ["number", "null"],
            "minimum": 0,
            "description": "At most the measure type's `max_cost_eur` (see /api/vocab).",
        },
    }
    read_only = {
        "version": {
            "type": "integer",
            "description": "Grows with each change; the ETag is v<version>-<cases digest>.",
        },
        "created_at": {"type": "string", "format": "date-time"},
        "created_by": {"type": "string"},
        "updated_at": {"type": "string", "format": "date-time"},
        "updated_by": {"type": "string"},
    }
    geometry = {
        "type": "object",
        "description": (
            "RFC 7946 geometry in WGS84 lon/lat, 2D only: Point, LineString, Polygon or their "
            f"Multi forms, valid, at most {settings.max_vertices} vertices, inside the region "
            f"{list(settings.region_bbox)}, an area (polygons) or length (lines) within the "
            "measure type's `max_area_m2` or `max_length_m` (see /api/vocab)."
        ),
        "required": ["type", "coordinates"],
        "properties": {
            "type": {
                "type": "string",
                "enum": [
                    "Point",
                    "LineString",
                    "Polygon",
                    "MultiPoint",
                    "MultiLineString",
                    "MultiPolygon",
                ],
            },
            "coordinates": {"type": "array"},
        },
    }
    spec = {
        "openapi": "3.1.0",
        "info": {
            "title": "ZUGABE API",
            "version": __version__,
            "description": (
                "Planning projects (Maßnahmen) of a region's cities, water board and utilities, "
                "as GeoJSON. Errors are RFC 9457 problem details."
            ),
        },
        "paths": {
            "/api/projects": {
                "get": {
                    "summary": "List projects",
                    "operationId": "listProjects",
                    "parameters": list_params,
                    "responses": {
                        "200": {
                            "description": "A page of projects, ordered by id.",
                            "content": {GEOJSON: {"schema": _ref("ProjectCollection")}},
                        },
                        "400": _problem("A query parameter is malformed."),
                    },
                },
                "post": {
                    "summary": "Create a project",
                    "operationId": "createProject",
                    "requestBody": write_body,
                    "responses": {
                        "201": _feature("Stored; `Location` names the new project.")
                        | {
                            "headers": {
                                "ETag": {"$ref": "#/components/headers/ETag"},
                                "Location": {"schema": {"type": "string"}},
                            }
                        },
                        "413": _problem("The body is larger than allowed."),
                        "422": invalid,
                    },
                },
            },
            "/api/projects/points": {
                "get": {
                    "summary": "Projects as points, for clustering on a map",
                    "operationId": "listProjectPoints",
                    "description": (
                        "Every matching project (no paging) as a compact row "
                        "`[id, lon, lat, organisation, department, status]`, the point lying "
                        "on the project's geometry. The web map clusters these when too many "
                        "projects are in view to draw each geometry."
                    ),
                    "parameters": [
                        p for p in list_params if p.get("name") not in ("limit", "after")
                    ],
                    "responses": {
                        "200": {
                            "description": "The points, in id order.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["columns", "points"],
                                        "properties": {
                                            "columns": {
                                                "type": "array",
                                                "items": {"type": "string"},
                                            },
                                            "points": {
                                                "type": "array",
                                                "items": {"type": "array"},
                                            },
                                        },
                                    }
                                }
                            },
                        },
                        "400": _problem("A query parameter is malformed."),
                    },
                },
            },
            "/api/projects/{project_id}": {
                "parameters": [project_id],
                "get": {
                    "summary": "Get one project",
                    "operationId": "getProject",
                    "responses": {
                        "200": _feature("The project."),
                        "304": {"description": "Unchanged since the ETag in If-None-Match."},
                        "404": missing,
                    },
                },
                "put": {
                    "summary": "Replace a project",
                    "operationId": "replaceProject",
                    "parameters": [if_match],
                    "requestBody": write_body,
                    "responses": {
                        "200": _feature("Stored as a new version."),
                        "404": missing,
                        "412": stale,
                        "422": invalid,
                    },
                },
                "patch": {
                    "summary": "Change some fields (JSON merge patch on properties and geometry)",
                    "operationId": "patchProject",
                    "parameters": [if_match],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/merge-patch+json": {"schema": {"type": "object"}},
                            "application/json": {"schema": {"type": "object"}},
                        },
                    },
                    "responses": {
                        "200": _feature("Stored as a new version."),
                        "404": missing,
                        "412": stale,
                        "422": invalid,
                    },
                },
                "delete": {
                    "summary": "Delete a project",
                    "operationId": "deleteProject",
                    "parameters": [if_match],
                    "responses": {"204": {"description": "Deleted."}, "404": missing, "412": stale},
                },
            },
            "/api/layers": {
                "get": {
                    "summary": "Layer types with their definitions and what is stored",
                    "operationId": "listLayers",
                    "responses": {"200": {"description": "Definitions, styles, versions."}},
                }
            },
            "/api/layers/{key}": {
                "parameters": [layer_key],
                "get": {
                    "summary": "One layer: definition, stored version, last import report",
                    "operationId": "getLayer",
                    "responses": {"200": {"description": "The layer."}, "404": no_layer},
                },
                "post": {
                    "summary": "Import a file as the layer's new version (multipart upload)",
                    "operationId": "importLayer",
                    "parameters": [jobs.PREFER_ASYNC],
                    "requestBody": {
                        "required": True,
                        "content": {"multipart/form-data": {"schema": upload}},
                    },
                    "responses": {
                        "201": {"description": "Imported; the body carries the import report."},
                        "202": jobs.ACCEPTED,
                        "404": no_layer,
                        "413": _problem(
                            f"The file is larger than {settings.max_upload_bytes} bytes."
                        ),
                        "422": _problem("The file was refused; the previous version is kept."),
                    },
                },
                "delete": {
                    "summary": "Remove a layer's data",
                    "operationId": "deleteLayer",
                    "responses": {"204": {"description": "Removed."}, "404": no_layer},
                },
            },
            "/api/layers/{key}/versions": {
                "parameters": [layer_key],
                "get": {
                    "summary": "Versions of a layer on record, newest first",
                    "operationId": "listLayerVersions",
                    "responses": {
                        "200": {
                            "description": "Each version's metadata and import report, and "
                            "whether its features are kept (restorable)."
                        },
                        "404": no_layer,
                    },
                },
            },
            "/api/layers/{key}/rollback": {
                "parameters": [layer_key],
                "post": {
                    "summary": "Bring back an earlier version as the layer's new version",
                    "operationId": "rollbackLayer",
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "version": {
                                            "type": "integer",
                                            "minimum": 1,
                                            "description": "Default: the version before the "
                                            "current one.",
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {"description": "The layer; its cases were recomputed."},
                        "404": _problem("No such layer, or that version's features are not kept."),
                        "422": invalid,
                    },
                },
            },
            "/api/layers/{key}/features": {
                "parameters": [layer_key],
                "get": {
                    "summary": "Features of a layer (GeoJSON, paged)",
                    "operationId": "getLayerFeatures",
                    "parameters": [
                        list_params[0],
                        _query(
                            "geometry",
                            "'derived' serves the derived geometry (e.g. root-protection zone).",
                            {"type": "string", "enum": ["source", "derived"]},
                        ),
                        *list_params[-2:],
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of features, ordered by id.",
                            "content": {GEOJSON: {"schema": {"type": "object"}}},
                        },
                        "400": _problem("A query parameter is malformed."),
                        "404": no_layer,
                    },
                },
            },
            "/api/cases": {
                "get": {
                    "summary": "List coordination cases",
                    "operationId": "listCases",
                    "parameters": [
                        _query("organisation", "Cases involving any of these organisations."),
                        _query("department", "Cases involving any of these departments."),
                        _query("relation", "conflict, synergy, note (comma-separated)."),
                        _query("severity", "low, medium, high (comma-separated)."),
                        _query("status", "open, in_coordination, resolved, dismissed, obsolete."),
                        _query("rule", "Rule ids (comma-separated)."),
                        _query("subject", "Cases of one subject, e.g. project:12."),
                        list_params[0],
                        list_params[5],
                        list_params[6],
                        *list_params[-2:],
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of cases (overlap geometry), by id.",
                            "content": {GEOJSON: {"schema": {"type": "object"}}},
                        },
                        "400": _problem("A query parameter is malformed."),
                    },
                }
            },
            "/api/cases/{case_id}": {
                "parameters": [case_id],
                "get": {
                    "summary": "One case with both subjects, comments and history",
                    "operationId": "getCase",
                    "responses": {"200": {"description": "The case."}, "404": no_case},
                },
            },
            "/api/cases/{case_id}/status": {
                "parameters": [case_id],
                "post": {
                    "summary": "Change a case's status (dismissing needs a reason)",
                    "operationId": "changeCaseStatus",
                    "parameters": [if_match],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "responses": {
                        "200": {"description": "The changed case."},
                        "404": no_case,
                        "412": stale,
                        "422": invalid,
                    },
                },
            },
            "/api/cases/{case_id}/comments": {
                "parameters": [case_id],
                "post": {
                    "summary": "Comment on a case",
                    "operationId": "commentCase",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "responses": {
                        "201": {"description": "The case with the comment."},
                        "404": no_case,
                        "422": invalid,
                    },
                },
            },
            "/api/cases/detect": {
                "post": {
                    "summary": "Recompute every case (batch run)",
                    "operationId": "detectAll",
                    "parameters": [jobs.PREFER_ASYNC],
                    "responses": {
                        "200": {"description": "Counts of what changed."},
                        "202": jobs.ACCEPTED,
                    },
                }
            },
            "/api/synergy": {
                "get": {
                    "summary": "Synergy grid (Flächenkulisse): cells scored and ranked",
                    "operationId": "getSynergyGrid",
                    "parameters": [
                        _query(
                            "cell_size",
                            "Square cell size in metres (default from the criteria file).",
                            {"type": "number", "exclusiveMinimum": 0},
                        ),
                        _query("cells", "A polygon layer whose features are the cells."),
                        list_params[0],
                    ],
                    "responses": {
                        "200": {
                            "description": "Cells best first with measures, utilities, "
                            "score, rank and attention_area.",
                            "content": {GEOJSON: {"schema": {"type": "object"}}},
                        },
                        "400": _problem("No data for the grid, or too many cells."),
                    },
                }
            },
            "/api/vocab": {
                "get": {
                    "summary": "Organisations, departments, measure types and statuses with labels",
                    "operationId": "getVocabulary",
                    "responses": {
                        "200": {
                            "description": "The vocabulary.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "getOpenAPI",
                    "responses": {"200": {"description": "OpenAPI 3.1 document."}},
                }
            },
            "/api/docs": {
                "get": {
                    "summary": "This document as a page",
                    "operationId": "getAPIDocs",
                    "responses": {"200": {"description": "HTML.", "content": {"text/html": {}}}},
                }
            },
            "/": {
                "get": {
                    "summary": "The web map (signed out: a redirect to /login)",
                    "operationId": "getMap",
                    "parameters": [_query("lang", "de (default) or en.")],
                    "responses": {
                        "200": {"description": "HTML.", "content": {"text/html": {}}},
                        "302": {"description": "Not signed in: to the login page."},
                    },
                }
            },
        },
        "components": {
            "parameters": {
                "IfMatch": {
                    "name": "If-Match",
                    "in": "header",
                    "required": False,
                    "description": (
                        'ETag from GET ("v3-1a2b3c4d"), or "v<version>"; 412 if the project '
                        "changed since (its cases may have changed: they are not edited here)."
                    ),
                    "schema": {"type": "string"},
                },
            },
            "headers": {
                "ETag": {
                    "description": "The project's version and a digest of its cases' states, "
                    'e.g. "v3-1a2b3c4d": it changes when a case changes, so a cached answer '
                    "is never taken for current.",
                    "schema": {"type": "string"},
                }
            },
            "schemas": {
                "Geometry": geometry,
                "ProjectProperties": {
                    "type": "object",
                    "required": ["title", "organisation", "department", "measure_type"],
                    "properties": properties,
                    "additionalProperties": False,
                },
                "ProjectFeatureInput": {
                    "type": "object",
                    "required": ["type", "geometry", "properties"],
                    "properties": {
                        "type": {"const": "Feature"},
                        "geometry": _ref("Geometry"),
                        "properties": _ref("ProjectProperties"),
                    },
                },
                "ProjectFeature": {
                    "type": "object",
                    "properties": {
                        "type": {"const": "Feature"},
                        "id": {"type": "integer"},
                        "geometry": _ref("Geometry"),
                        "properties": {"type": "object", "properties": properties | read_only},
                    },
                },
                "ProjectCollection": {
                    "type": "object",
                    "properties": {
                        "type": {"const": "FeatureCollection"},
                        "features": {"type": "array", "items": _ref("ProjectFeature")},
                        "numberMatched": {"type": "integer"},
                        "numberReturned": {"type": "integer"},
                        "links": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "Problem": {
                    "type": "object",
                    "description": "RFC 9457 problem details.",
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "instance": {"type": "string"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "pointer": {
                                        "type": "string",
                                        "description": "JSON pointer into the body.",
                                    },
                                    "detail": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    }
    for module in (
        reports,
        exports,
        imports,
        jobs,
        accounts,
        signin,
    ):  # blueprints that describe their paths
        spec["paths"].update(module.openapi_paths())
    _declare_security(spec, settings)
    return spec


def _declare_security(spec: dict[str, Any], settings: Settings) -> None:
    """Security schemes, and 401/403 on every operation: every route asks the policy."""
    components = spec["components"]
    components["securitySchemes"] = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (`zugabe tokens create`, or the map's account "
            "panel): scripts, QGIS, GDAL.",
        },
        "cookieAuth": {
            "type": "apiKey",
            "in": "cookie",
            "name": "zugabe_session",
            "description": "The browser session of `/login`; writes also need the "
            "`X-CSRFToken` header (its value from `GET /api/me`).",
        },
    }
    components["responses"] = {
        "Unauthorized": _problem("Not signed in, or a bad bearer token."),
        "Forbidden": _problem(
            "Signed in, but the account may not do this (the detail says "
            "which role or organisation is needed)."
        ),
    }
    spec["security"] = [{"bearerAuth": []}, {"cookieAuth": []}]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            readable = method == "get" and not path.startswith(ACCOUNT_ONLY_PREFIXES)
            if path in PUBLIC_PATHS or (settings.public_read and readable):
                operation["security"] = [{}, *spec["security"]]
                if path in PUBLIC_PATHS:
                    continue
            responses.setdefault("401", {"$ref": "#/components/responses/Unauthorized"})
            responses.setdefault("403", {"$ref": "#/components/responses/Forbidden"})


ACCOUNT_ONLY_PREFIXES = ("/api/tokens", "/api/accounts", "/api/audit")
"""Never open to anonymous readers, whatever ``public_read`` says."""
HTTP_METHODS = frozenset({"get", "put", "post", "patch", "delete"})
PUBLIC_PATHS = frozenset(
    {
        "/api/openapi.json",
        "/api/docs",
        "/login",
        "/logout",
        "/login/oidc",
        "/login/oidc/callback",
    }
)
"""What anyone may read, signed in or not: the description of the API itself."""
