"""The OpenAPI 3.1 description of the JSON API, built from the live vocabulary.

Kept next to the routes it describes; ``tests/test_openapi.py`` checks that
it is valid and that every route of the app is described.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zugabe import __version__
from zugabe.config import Settings
from zugabe.domain.cases import LIVE_STATUSES, CaseStatus
from zugabe.domain.checklist import Checklist
from zugabe.domain.layers import LayerDefinition
from zugabe.domain.project import (
    CONTACT_MAX,
    EXTERNAL_ID_MAX,
    TEXT_MAX,
    TITLE_MAX,
    Status,
)
from zugabe.domain.queryables import collection_queryables
from zugabe.domain.rules import RELATIONS, SEVERITIES
from zugabe.domain.vocabulary import Vocabulary
from zugabe.io.geojson import READ_ONLY_PROPERTIES
from zugabe.services.cases import COMMENT_MAX
from zugabe.services.ogc import ogc_crs_uris
from zugabe.services.synergy import MAX_CELLS
from zugabe.web import (
    accounts,
    checklists,
    desk,
    exports,
    good_practice,
    health,
    imports,
    inbox,
    jobs,
    notifications,
    ogc,
    reports,
    search,
    signin,
    strategies,
)
from zugabe.web.apidoc import (
    GEOJSON,
    LANGUAGE,
    MAX_ID,
    NOT_BLANK,
    PROJECT_PATCH,
    bbox,
    cell_size,
    listing,
    paging,
    period,
    problem,
    project_filters,
    query,
    ref,
)

_HEX_COLOR = {"type": "string", "pattern": "^#[0-9a-f]{6}$"}
VOCABULARY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "colors": {
            "type": "object",
            "description": "The palette (safe for colour-blind readers; see developers.md).",
            "properties": {
                "relations": {
                    "type": "object",
                    "description": "A case's colour by its relation.",
                    "additionalProperties": _HEX_COLOR,
                },
                "departments": {
                    "type": "object",
                    "description": "A project's colour by its department key.",
                    "additionalProperties": _HEX_COLOR,
                },
                "other": {**_HEX_COLOR, "description": "For a key the palette does not know."},
            },
            "required": ["relations", "departments", "other"],
        }
    },
}


def _feature(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
        "content": {GEOJSON: {"schema": ref("ProjectFeature")}},
    }


def build_openapi(
    vocabulary: Vocabulary,
    definitions: Mapping[str, LayerDefinition],
    rule_ids: Iterable[str],
    checklist: Checklist,
    settings: Settings,
) -> dict[str, Any]:
    """The document for this region's vocabulary, layer types, rules, checklist and
    settings."""
    project_id = {
        "name": "project_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer"},
    }
    if_match = {"$ref": "#/components/parameters/IfMatch"}
    invalid = problem("The input was refused; `errors` names each field. Nothing was stored.")
    stale = problem("If-Match names an outdated version: someone else changed the project.")
    missing = problem("No project with this id.")
    taken = problem("The external_id is another project's already.")
    write_body = {
        "required": True,
        "content": {
            "application/json": {"schema": ref("ProjectFeatureInput")},
            GEOJSON: {"schema": ref("ProjectFeatureInput")},
        },
    }
    case_id = {"name": "case_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    status_change = {
        "type": "object",
        "required": ["status"],
        "additionalProperties": False,
        "properties": {
            "status": {"type": "string", "enum": [s.value for s in LIVE_STATUSES]},
        },
    }
    no_case = problem("No case with this id.")
    layer_key = {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
    no_layer = problem("No layer type with this key.")
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
            "wkt_field": {"type": "string"},
            "delimiter": {"type": "string"},
            "decimal_comma": {"type": "boolean"},
            "encoding": {"type": "string"},
            "accept_partial": {
                "type": "boolean",
                "description": "Store the accepted rows even when more than max_refused_share "
                "of the rows were refused (a file with no accepted row is never stored).",
            },
            "organisation": {
                "type": "string",
                "enum": sorted(vocabulary.organisations),
                "description": "The organisation responsible for the data (default: the "
                "importing account's); involved in the cases of its features and named as "
                "their contact.",
            },
        },
    }
    filters = project_filters()
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
                    "parameters": [*filters, *paging(settings)],
                    "responses": {
                        "200": {
                            "description": "A page of projects, ordered by id.",
                            "content": {GEOJSON: {"schema": ref("ProjectCollection")}},
                        },
                        "400": problem("A query parameter is malformed."),
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
                        "409": taken,
                        "413": problem("The body is larger than allowed."),
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
                    "parameters": filters,
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
                        "400": problem("A query parameter is malformed."),
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
                        "409": taken,
                        "412": stale,
                        "422": invalid,
                    },
                },
                "patch": {
                    "summary": "Change some fields (JSON merge patch on properties and geometry)",
                    "operationId": "patchProject",
                    "parameters": [if_match],
                    "requestBody": PROJECT_PATCH,
                    "responses": {
                        "200": _feature("Stored as a new version."),
                        "404": missing,
                        "409": taken,
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
                    "parameters": [
                        jobs.PREFER_ASYNC,
                        query(
                            "accept_partial",
                            "Same as the form field.",
                            {"type": "boolean", "default": False},
                        ),
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"multipart/form-data": {"schema": upload}},
                    },
                    "responses": {
                        "201": {"description": "Imported; the body carries the import report."},
                        "202": jobs.ACCEPTED,
                        "404": no_layer,
                        "413": problem(
                            f"The file is larger than {settings.max_upload_bytes} bytes."
                        ),
                        "422": problem("The file was refused; the previous version is kept."),
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
                                    "additionalProperties": False,
                                    "properties": {
                                        "version": {
                                            "type": "integer",
                                            "minimum": 1,
                                            "maximum": MAX_ID,
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
                        "404": problem("No such layer, or that version's features are not kept."),
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
                        bbox("Features intersecting this box."),
                        query(
                            "geometry",
                            "'derived' serves the derived geometry (e.g. root-protection zone).",
                            {"type": "string", "enum": ["source", "derived"]},
                        ),
                        *paging(settings),
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of features, ordered by id.",
                            "content": {GEOJSON: {"schema": {"type": "object"}}},
                        },
                        "400": problem("A query parameter is malformed."),
                        "404": no_layer,
                    },
                },
            },
            "/api/cases": {
                "get": {
                    "summary": "List coordination cases",
                    "operationId": "listCases",
                    "parameters": [
                        listing("organisation", "Cases involving any of these organisations."),
                        listing("department", "Cases involving any of these departments."),
                        listing("relation", "Relations (any of).", list(RELATIONS)),
                        listing("severity", "Severities (any of).", list(SEVERITIES)),
                        listing("status", "Statuses (any of).", [s.value for s in CaseStatus]),
                        listing("rule", "Rule ids (any of)."),
                        query("subject", "Cases of one subject, e.g. project:12."),
                        bbox("Cases whose overlap intersects this box."),
                        *period("The cases' window"),
                        *paging(settings),
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of cases (overlap geometry), by id.",
                            "content": {GEOJSON: {"schema": {"type": "object"}}},
                        },
                        "400": problem("A query parameter is malformed."),
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
                    "summary": "Take a case up (in_coordination) or put it back (open)",
                    "operationId": "changeCaseStatus",
                    "parameters": [if_match],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": status_change}},
                    },
                    "responses": {
                        "200": {"description": "The changed case."},
                        "404": no_case,
                        "409": problem("The case cannot go from its status to this one."),
                        "412": problem("If-Match names an outdated version of the case."),
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
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["text"],
                                    "additionalProperties": False,
                                    "properties": {"text": NOT_BLANK | {"maxLength": COMMENT_MAX}},
                                }
                            }
                        },
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
                        cell_size("Square cell size in metres (default from the criteria file)."),
                        query(
                            "cells",
                            "A polygon layer whose features (in the box) are the cells.",
                            {
                                "type": "string",
                                "enum": [
                                    key
                                    for key, definition in definitions.items()
                                    if definition.accepts_geometry("Polygon")
                                ],
                            },
                        ),
                        bbox("The grid covers this box, as far as it lies in the region."),
                    ],
                    "responses": {
                        "200": {
                            "description": "Cells best first with measures, utilities, "
                            "score, rank and attention_area.",
                            "content": {GEOJSON: {"schema": {"type": "object"}}},
                        },
                        "400": problem(
                            f"The grid would have more than {MAX_CELLS:,} cells: larger cells, "
                            "or a smaller box."
                        ),
                        "409": problem("None of the layers the criteria use is stored yet."),
                    },
                }
            },
            "/api/vocab": {
                "get": {
                    "summary": "Organisations, departments, measure types and statuses with labels",
                    "operationId": "getVocabulary",
                    "responses": {
                        "200": {
                            "description": "The vocabulary, with the palette of the map, "
                            "reports and QGIS styles.",
                            "content": {"application/json": {"schema": VOCABULARY}},
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
                    "parameters": [LANGUAGE],
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
                        'The ETag from GET ("v3-1a2b3c4d"), or "v<version>": 412 if the object '
                        "changed since (a project's cases may have changed: they are not edited "
                        "with it), or if the tag is none of its versions. Without it (or with *) "
                        "the write is unconditional."
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
                **_project_schemas(vocabulary, settings),
                "ProjectCollection": {
                    "type": "object",
                    "properties": {
                        "type": {"const": "FeatureCollection"},
                        "features": {"type": "array", "items": ref("ProjectFeature")},
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
                                    "detail": {
                                        "type": "string",
                                        "description": "In the request's language (the "
                                        "`zugabe_lang` cookie, else `Accept-Language`; "
                                        "English by default).",
                                    },
                                    "code": {
                                        "type": "string",
                                        "description": "The message's code, where it has "
                                        "one (`field.required`, `geometry.too_long`, …): the "
                                        "same in every language.",
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    }
    # blueprints that describe their own paths
    spec["paths"] |= (
        reports.openapi_paths()
        | checklists.openapi_paths(checklist)
        | exports.openapi_paths(definitions)
        | imports.openapi_paths()
        | desk.openapi_paths()
        | inbox.openapi_paths(settings)
        | jobs.openapi_paths()
        | search.openapi_paths()
        | accounts.openapi_paths(vocabulary, settings)
        | signin.openapi_paths()
        | health.openapi_paths()
        | strategies.openapi_paths()
        | notifications.openapi_paths(settings, vocabulary, definitions)
        | ogc.openapi_paths(
            settings,
            ogc_crs_uris(settings),
            collection_queryables(
                vocabulary, rule_ids, {key: definitions[key] for key in sorted(definitions)}
            ),
        )
        | good_practice.openapi_paths(vocabulary)
    )
    _declare_security(spec, settings)
    _declare_common_responses(spec)
    return spec


def _years_pattern(first: int, last: int) -> str:
    """A date's year from ``first`` to ``last`` as a pattern (JSON Schema has no range of
    dates): the years spelt out, per century where a whole one is in."""
    parts = []
    year = first
    while year <= last:
        if year % 100 == 0 and year + 99 <= last:
            parts.append(f"{year // 100}[0-9]{{2}}")
            year += 100
        else:
            parts.append(str(year))
            year += 1
    return f"^({'|'.join(parts)})-"


_CONTROL = r"\x00-\x1f\x7f-\x9f"
ONE_LINE = {"type": "string", "pattern": f"^[^{_CONTROL}]*$"}
"""Text without control characters (a report or spreadsheet cannot hold them)."""
MULTILINE = {"type": "string", "pattern": r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"}
"""The same, but for line feeds and tabs."""


def _project_schemas(vocabulary: Vocabulary, settings: Settings) -> dict[str, Any]:
    """Geometry and project schemas, exact as far as JSON Schema goes.

    What it cannot say is said in the descriptions and checked by the server (422): the
    department is one of the organisation's and the measure type one of the department's,
    the cost and the size within the measure type's limits, the end not before the start,
    and the geometry valid (closed rings, no self-intersection).
    """
    min_lon, min_lat, max_lon, max_lat = settings.region_bbox
    position = {
        "type": "array",
        "description": "[lon, lat] inside the region, no height (Z) or measure (M).",
        "prefixItems": [
            {"type": "number", "minimum": min_lon, "maximum": max_lon},
            {"type": "number", "minimum": min_lat, "maximum": max_lat},
        ],
        "minItems": 2,
        "items": False,
    }
    line = {"type": "array", "items": position, "minItems": 2}
    ring = {"type": "array", "items": position, "minItems": 4, "description": "Closed."}
    polygon = {"type": "array", "items": ring, "minItems": 1}
    shapes = {
        "Point": position,
        "LineString": line,
        "Polygon": polygon,
        "MultiPoint": {"type": "array", "items": position, "minItems": 1},
        "MultiLineString": {"type": "array", "items": line, "minItems": 1},
        "MultiPolygon": {"type": "array", "items": polygon, "minItems": 1},
    }
    geometry = {
        "type": "object",
        "description": (
            "RFC 7946 geometry in WGS84 lon/lat, 2D only, valid, at most "
            f"{settings.max_vertices} vertices, inside the region {list(settings.region_bbox)}, "
            "an area (polygons) or length (lines) within the measure type's `max_area_m2` or "
            "`max_length_m` (see /api/vocab)."
        ),
        "required": ["type", "coordinates"],
        "oneOf": [
            {"properties": {"type": {"const": kind}, "coordinates": coordinates}}
            for kind, coordinates in shapes.items()
        ],
    }
    first, last = vocabulary.planning_years
    day = {
        "anyOf": [
            {"type": "null"},
            {"type": "string", "maxLength": 0},
            {"type": "string", "format": "date", "pattern": _years_pattern(first, last)},
        ],
        "description": f"A day in the years {first} to {last} (the vocabulary's "
        'planning_years); null or "" for none.',
    }
    properties = {
        "title": ONE_LINE | {"allOf": [NOT_BLANK], "maxLength": TITLE_MAX},
        "description": _nullable(MULTILINE | {"maxLength": TEXT_MAX}),
        "organisation": {"type": "string", "enum": list(vocabulary.organisations)},
        "department": {
            "type": "string",
            "enum": list(vocabulary.departments),
            "description": "One of the organisation's departments (see /api/vocab).",
        },
        "measure_type": {
            "type": "string",
            "enum": list(vocabulary.measure_types),
            "description": "One of the department's measure types (see /api/vocab).",
        },
        "status": _nullable({"type": "string", "enum": [s.value for s in Status]})
        | {"default": "idea"},
        "start": day,
        "end": day | {"description": f"{day['description']} Not before start."},
        "contact": _nullable(ONE_LINE | {"maxLength": CONTACT_MAX}),
        "external_id": _nullable(ONE_LINE | {"maxLength": EXTERNAL_ID_MAX})
        | {
            "description": "The project's number in the system it comes from; unique. "
            "A bulk import matches rows to projects by it."
        },
        "cost_eur": {
            "type": ["number", "null"],
            "minimum": 0,
            "description": "At most the measure type's `max_cost_eur` (see /api/vocab).",
        },
    }
    ignored = {"description": "Read-only: ignored when sent."}
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
    editable = properties | {name: ignored for name in READ_ONLY_PROPERTIES}
    return {
        "Geometry": geometry,
        "ProjectProperties": {
            "type": "object",
            "required": ["title", "organisation", "department", "measure_type"],
            "properties": editable,
            "additionalProperties": False,
        },
        "ProjectFeatureInput": {
            "type": "object",
            "required": ["type", "geometry", "properties"],
            "properties": {
                "type": {"const": "Feature"},
                "geometry": ref("Geometry"),
                "properties": ref("ProjectProperties"),
            },
        },
        "ProjectPatch": {
            "type": "object",
            "description": "A JSON merge patch (RFC 7396) of the Feature: null removes an "
            "optional property; other members are ignored.",
            "properties": {
                "properties": {
                    "type": "object",
                    "properties": editable,
                    "additionalProperties": False,
                },
                "geometry": ref("Geometry"),
            },
        },
        "ProjectFeature": {
            "type": "object",
            "properties": {
                "type": {"const": "Feature"},
                "id": {"type": "integer"},
                "geometry": ref("Geometry"),
                "properties": {"type": "object", "properties": properties | read_only},
            },
        },
    }


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


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
        "Unauthorized": problem("Not signed in, or a bad bearer token."),
        "Forbidden": problem(
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


def _declare_common_responses(spec: dict[str, Any]) -> None:
    """The answers any operation of its kind may give, where it does not say more.

    Every operation refuses unknown and malformed query parameters (400); one with a path
    parameter may name nothing (404); one with a body may get too large a body (413) or
    one of a media type it does not take (415).
    """
    for item in spec["paths"].values():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation["responses"]
            responses.setdefault(
                "400", problem("A query parameter is unknown, repeated or malformed (named).")
            )
            parameters = item.get("parameters", []) + operation.get("parameters", [])
            if any(p.get("in") == "path" for p in parameters):
                responses.setdefault("404", problem("Nothing has this id or key."))
            if "requestBody" in operation:
                responses.setdefault("413", problem("The body is larger than allowed."))
                responses.setdefault("415", problem("The body is not of a media type taken."))
            operation["responses"] = dict(sorted(responses.items()))


ACCOUNT_ONLY_PREFIXES = (
    "/api/tokens",
    "/api/accounts",
    "/api/audit",
    "/api/notifications",
    "/api/subscriptions",
    "/api/inbox",
)
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
        "/unsubscribe/{token}",
        "/ogc/api",
        "/health",
        # The released good-practice examples: published for everyone (zugabe.web.good_practice).
        "/good-practice",
        "/good-practice/{example_id}",
        "/good-practice.geojson",
        "/good-practice.atom",
        "/good-practice/photos/{photo_id}",
        "/good-practice/photos/{photo_id}/thumbnail",
    }
)
"""What anyone may read, signed in or not: the description of the API itself, whether the
service is up, and what the region publishes."""
