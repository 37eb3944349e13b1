"""OGC API – Features (Parts 1, 2 and 4) under ``/ogc``: parse, call ``OgcService``, render.

Everything a page holds is decided in ``zugabe.services.ogc``; here only the request is
read (``f`` and ``Accept`` choose JSON or HTML) and the answer written with its links.
Part 4 writes go to ``ProjectService`` exactly as ``/api/projects`` does: the same
validation, problems, policy and ETags.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import shapely
import shapely.errors
import shapely.geometry
from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for
from pyproj.exceptions import ProjError

from zugabe.config import Settings
from zugabe.domain.queryables import FILTER_CONFORMANCE, Queryables, queryables_json
from zugabe.errors import BadRequest, FieldError, InvalidInput
from zugabe.io.crs import CRS84_CRS, CRS84_URI
from zugabe.services import Services
from zugabe.services.cql2 import DRAFT_LANGS, FILTER_LANGS, MAX_FILTER_LENGTH
from zugabe.services.ogc import ITEMS_PARAMETERS, SYNERGY, WRITABLE, Collection, OgcService
from zugabe.web.api import expected_version, json_body, page_params, project_etag
from zugabe.web.apidoc import GEOJSON, LANGUAGE, MAX_ID, PROJECT_PATCH, paging, problem, query, ref
from zugabe.web.auth import current_actor
from zugabe.web.language import page_language

blueprint = Blueprint("ogc", __name__, url_prefix="/ogc")

OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
    *FILTER_CONFORMANCE,
]
"""What ZUGABE declares, Part 3's filtering classes included (``FILTER_CONFORMANCE``)."""
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
INT64 = {"minimum": -(2**63), "maximum": 2**63 - 1}
"""What a whole-number property holds in either store."""


def _services() -> Services:
    return current_app.extensions["zugabe"]


def _ogc() -> OgcService:
    return current_app.extensions["zugabe_ogc"]


def _html() -> bool:
    """``f=html``, or no ``f`` and a browser that prefers HTML to JSON."""
    asked = request.args.get("f")
    if asked:
        return asked == "html"
    accept = request.accept_mimetypes
    return accept.best_match(["application/json", GEOJSON, "text/html"]) == "text/html"


def _link(rel: str, href: str, kind: str, title: str | None = None) -> dict[str, str]:
    link = {"rel": rel, "type": kind, "href": href}
    return link | ({"title": title} if title else {})


def _url(endpoint: str, **values: Any) -> str:
    return url_for(endpoint, _external=True, **values)


def _render(body: dict[str, Any], kind: str, media_type: str = "application/json") -> Response:
    """The body as JSON, or as the HTML page of ``kind`` (escaped by Jinja, German unless
    ``lang=en``)."""
    if _html():
        lang = page_language()
        switch = {k: v for k, v in request.args.items() if k != "lang"}
        switch |= {} if lang == "en" else {"lang": "en"}
        page = render_template(
            "ogc.html",
            body=body,
            kind=kind,
            lang=lang,
            switch=url_for(request.endpoint or "", **(request.view_args or {}), **switch),
        )
        return Response(page, mimetype="text/html")
    response = jsonify(body)
    response.mimetype = media_type
    return response


def _self_links(title: str) -> list[dict[str, str]]:
    """``self`` in the format answered and ``alternate`` in the other."""
    args = {k: v for k, v in request.args.items() if k != "f"}
    endpoint, view_args = request.endpoint or "", request.view_args or {}
    json_href = _url(endpoint, **view_args, **args, f="json")
    html_href = _url(endpoint, **view_args, **args, f="html")
    json_link = _link("self", json_href, "application/json", title)
    html_link = _link("alternate", html_href, "text/html", title)
    if _html():
        json_link["rel"], html_link["rel"] = "alternate", "self"
    return [json_link, html_link]


@blueprint.get("")
def landing_page() -> Response:
    _services().policy.require_read(current_actor())
    links = [
        *_self_links("ZUGABE – OGC API Features"),
        _link("service-desc", _url("ogc.api_description"), OPENAPI_30, "API description"),
        _link("service-doc", _url("docs.api_docs"), "text/html", "API documentation"),
        _link("conformance", _url("ogc.conformance"), "application/json", "Conformance"),
        _link("data", _url("ogc.collections"), "application/json", "Collections"),
    ]
    body = {
        "title": "ZUGABE",
        "description": "Projects, coordination cases, thematic layers and the synergy grid "
        "of the region as OGC API – Features.",
        "links": links,
    }
    return _render(body, "landing")


@blueprint.get("/conformance")
def conformance() -> Response:
    _services().policy.require_read(current_actor())
    return _render({"conformsTo": CONFORMANCE}, "conformance")


@blueprint.get("/api")
def api_description() -> Response:
    """The OGC part of the OpenAPI document, as OpenAPI 3.0 with its server at ``/ogc``."""
    document = current_app.extensions["zugabe_ogc_openapi"]
    response = jsonify(document | {"servers": [{"url": _url("ogc.landing_page")}]})
    # the type the landing page's link names, version included: GDAL refuses it without
    response.headers["Content-Type"] = OPENAPI_30
    return response


@blueprint.get("/collections")
def collections() -> Response:
    ogc = _ogc()
    found = [_collection_json(c) for c in ogc.collections(current_actor())]
    return _render(
        {"links": _self_links("Collections"), "collections": found, "crs": ogc.crs_uris},
        "collections",
    )


@blueprint.get("/collections/<collection_id>")
def collection(collection_id: str) -> Response:
    found = _ogc().collection(current_actor(), collection_id)
    return _render(_collection_json(found, own=True), "collection")


def _collection_json(found: Collection, own: bool = False) -> dict[str, Any]:
    ogc = _ogc()
    items = _url("ogc.items", collection_id=found.id)
    links = _self_links(found.title) if own else []
    links += [
        _link("items", items, GEOJSON, "Items"),
        _link("items", f"{items}?f=html", "text/html", "Items (HTML)"),
    ]
    if found.id != SYNERGY:  # computed, not stored: nothing to filter on
        queryables = _url("ogc.queryables", collection_id=found.id)
        links.append(_link(QUERYABLES_REL, queryables, "application/schema+json", "Queryables"))
    if not own:
        links.insert(
            0, _link("self", _url("ogc.collection", collection_id=found.id), "application/json")
        )
    return {
        "id": found.id,
        "title": found.title,
        "description": found.description,
        "itemType": found.item_type,
        "extent": ogc.extent(current_actor(), found),
        "crs": ogc.crs_uris,
        "storageCrs": ogc.storage_crs_uri,
        "links": links,
    }


@blueprint.get("/collections/<collection_id>/queryables")
def queryables(collection_id: str) -> Response:
    """What a CQL2 ``filter`` of the collection may name, as a JSON Schema (Part 3)."""
    ogc = _ogc()
    found = ogc.collection(current_actor(), collection_id)
    body = queryables_json(
        ogc.queryables(found.id),
        schema_id=_url("ogc.queryables", collection_id=found.id),
        title=found.title,
        lang=page_language() if _html() else "en",
    )
    response = _render(body, "queryables")
    if not _html():
        response.mimetype = "application/schema+json"
    return response


@blueprint.get("/collections/<collection_id>/items")
def items(collection_id: str) -> Response:
    """A page of items; the query was checked against the document before (400 else)."""
    ogc = _ogc()
    limit, after = page_params()
    asked = ogc.parse_items(collection_id, request.args, limit, after)
    page = ogc.items(current_actor(), collection_id, asked, as_json=not _html())
    links = _self_links("Items")
    if page.next_after is not None:
        params = {k: v for k, v in request.args.items() if k not in ("after", "f")}
        href = _url("ogc.items", collection_id=collection_id, **params, after=page.next_after)
        links.append(_link("next", href, GEOJSON, "Next page"))
    links.append(
        _link("collection", _url("ogc.collection", collection_id=collection_id), "application/json")
    )
    body = {
        "type": "FeatureCollection",
        "features": page.features,
        "numberMatched": page.matched,
        "numberReturned": len(page.features),
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "links": links,
    }
    response = _render(body, "items", GEOJSON)
    response.headers["Content-Crs"] = f"<{_crs_uri(asked.crs)}>"
    return response


@blueprint.get("/collections/<collection_id>/items/<int:feature_id>")
def item(collection_id: str, feature_id: int) -> Response:
    ogc = _ogc()
    crs = ogc.crs_of(request.args.get("crs"), "crs")
    feature = ogc.item(current_actor(), collection_id, feature_id, crs)
    return _item_response(collection_id, feature, crs).make_conditional(request)


def _item_response(
    collection_id: str, feature: dict[str, Any], crs: Any, status: int = 200
) -> Response:
    """An item with its links; a project's also with its ETag and its live cases (rel
    ``related``), so a client sees what detection found after a write."""
    links = _self_links(f"{collection_id} {feature['id']}")
    links.append(
        _link("collection", _url("ogc.collection", collection_id=collection_id), "application/json")
    )
    etag = None
    if collection_id in WRITABLE:
        live = _services().cases.of_project(int(feature["id"]))
        etag = project_etag(feature["properties"]["version"], live)
        links += [
            _link(
                "related",
                _url("ogc.item", collection_id="cases", feature_id=c.id),
                GEOJSON,
                f"case {c.id}: {c.finding.relation}",
            )
            for c in live
        ]
    response = _render(feature | {"links": links}, "item", GEOJSON)
    response.status_code = status
    response.headers["Content-Crs"] = f"<{_crs_uri(crs)}>"
    if etag is not None:
        response.set_etag(etag)
    return response


def _crs_uri(crs: Any) -> str:
    ogc = _ogc()
    if crs is CRS84_CRS:
        return CRS84_URI
    return next(uri for uri in ogc.crs_uris if ogc.crs_of(uri, "crs") is crs)


# ------------------------------------------------------------ Part 4: projects only


def _lon_lat_body() -> Any:
    """The request body with its geometry in CRS84, as the project services take it: sent
    in another of the collection's CRSs (``Content-Crs``, e.g. EPSG:25832 from a QGIS layer
    in that CRS), it is moved to CRS84 first; a malformed geometry is left for the
    services' checks to name."""
    ogc = _ogc()
    content_crs = request.headers.get("Content-Crs", "").strip("<> ")
    body = json_body()
    if not content_crs or content_crs == CRS84_URI:
        return body
    if content_crs not in ogc.crs_uris:
        raise BadRequest(
            f"'Content-Crs' must be one of {', '.join(ogc.crs_uris)}, got {content_crs[:200]!r}"
        )
    if isinstance(body, dict) and isinstance(body.get("geometry"), dict):
        try:
            geometry = shapely.geometry.shape(body["geometry"])
        except (TypeError, ValueError, AttributeError, KeyError, shapely.errors.GEOSException):
            return body
        reprojector = ogc.reprojector
        try:
            moved = reprojector.to_wgs84(reprojector.to_storage_from(geometry, content_crs))
        except ProjError:
            raise InvalidInput(
                f"the geometry's coordinates are not positions in {content_crs}",
                field_errors=[FieldError("/geometry", f"coordinates in {content_crs}")],
            ) from None
        body = body | {"geometry": json.loads(shapely.to_geojson(moved))}
    return body


@blueprint.post("/collections/projects/items")
def create_item() -> Response:
    services = _services()
    project = services.projects.create(_lon_lat_body(), current_actor())
    feature = _ogc().project_feature(project, None)
    response = _item_response("projects", feature, CRS84_CRS, 201)
    response.headers["Location"] = _url("ogc.item", collection_id="projects", feature_id=project.id)
    return response


@blueprint.put("/collections/projects/items/<int:feature_id>")
def replace_item(feature_id: int) -> Response:
    services = _services()
    project = services.projects.replace(
        feature_id, _lon_lat_body(), current_actor(), expected_version()
    )
    return _item_response("projects", _ogc().project_feature(project, None), CRS84_CRS)


@blueprint.patch("/collections/projects/items/<int:feature_id>")
def patch_item(feature_id: int) -> Response:
    services = _services()
    project = services.projects.patch(
        feature_id, _lon_lat_body(), current_actor(), expected_version()
    )
    return _item_response("projects", _ogc().project_feature(project, None), CRS84_CRS)


@blueprint.delete("/collections/projects/items/<int:feature_id>")
def delete_item(feature_id: int) -> Response:
    _services().projects.delete(feature_id, current_actor(), expected_version())
    return Response(status=204)


# ------------------------------------------------------------ the OpenAPI description

_NUMBER = r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
_MOMENT = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[-+][0-9]{2}:[0-9]{2}))?"
)
_END = rf"(?:{_MOMENT}|\.\.)?"


def openapi_paths(
    settings: Settings, crs_uris: list[str], filterable: Mapping[str, Queryables]
) -> dict[str, Any]:
    """The ``/ogc`` operations, for the one document that ``parameters`` checks against.

    Besides the generic items path, each filterable collection has its own, which also
    declares a parameter per queryable (Part 1's property filter, ``status=planning``):
    how GDAL and QGIS learn what they may ask the server to filter on."""
    fmt = query(
        "f",
        "json (default for clients) or html (default for browsers).",
        {"type": "string", "enum": ["json", "html"]},
    )
    crs = query(
        "crs",
        f"CRS of the answer's geometry (default {CRS84_URI}).",
        {"type": "string", "enum": crs_uris},
    )
    collection_id = {
        "name": "collection_id",
        "in": "path",
        "required": True,
        "description": "projects, cases, synergy, or a layer key (404 until its data is stored).",
        "schema": {"type": "string", "enum": [*filterable, SYNERGY]},
    }
    feature_id = {
        "name": "feature_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    }
    if_match = {"$ref": "#/components/parameters/IfMatch"}
    json_page = {
        "200": {
            "description": "JSON or HTML.",
            "content": {"application/json": {}, "text/html": {}},
        }
    }
    feature = {
        "description": "The project (CRS84) with its live cases as links (rel "
        "`related`), its ETag and Content-Crs.",
        "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
        "content": {GEOJSON: {"schema": ref("ProjectFeature")}},
    }
    write_body = {
        "required": True,
        "content": {
            GEOJSON: {"schema": ref("ProjectFeatureInput")},
            "application/json": {"schema": ref("ProjectFeatureInput")},
        },
    }
    invalid = problem("Refused as by /api/projects; `errors` names each field.")
    stale = problem("If-Match names an outdated version.")

    def read(operation_id: str, summary: str, *parameters: dict[str, Any]) -> dict[str, Any]:
        return {
            "get": {
                "summary": summary,
                "operationId": operation_id,
                "parameters": [*parameters, fmt, LANGUAGE],
                "responses": json_page,
            }
        }

    items = read(
        "getOgcItems",
        "A page of a collection's items (GeoJSON), by id",
        query(
            "bbox",
            "Items meeting this box: minx,miny,maxx,maxy (or six numbers with "
            "heights, which are ignored) in `bbox-crs`, its axis order (EPSG:4326: "
            "latitude first); each minimum not above its maximum.",
            {
                "type": "string",
                "pattern": rf"^{_NUMBER}(?:,{_NUMBER}){{3}}(?:,{_NUMBER},{_NUMBER})?$",
            },
        ),
        query(
            "bbox-crs",
            f"CRS of `bbox` (default {CRS84_URI}).",
            {"type": "string", "enum": crs_uris},
        ),
        crs,
        query(
            "datetime",
            "An instant (a day or an RFC 3339 time: its day) or an interval "
            "`start/end`, `..` for an open end: projects whose planned window, cases whose "
            "window meets it; thematic layers and the synergy grid have no time and ignore it.",
            {"type": "string", "pattern": rf"^(?:{_MOMENT}|{_END}/{_END})$"},
        ),
        query(
            "filter",
            "A CQL2 filter on the collection's queryables (`/queryables`), in `filter-lang`; "
            "comparison, LIKE, IN, BETWEEN, IS NULL, spatial (S_INTERSECTS …) and temporal "
            "(T_INTERSECTS …) predicates, evaluated by the store.",
            {"type": "string", "minLength": 1, "maxLength": MAX_FILTER_LENGTH},
        ),
        query(
            "filter-lang",
            "cql2-text (default) or cql2-json; the drafts' names cql-text and cql-json "
            "(which GDAL sends) are read as these.",
            {"type": "string", "enum": [*FILTER_LANGS, *DRAFT_LANGS]},
        ),
        query(
            "filter-crs",
            f"CRS of the filter's geometries (default {CRS84_URI}).",
            {"type": "string", "enum": crs_uris},
        ),
        *paging(settings),
    )
    items["get"]["description"] = (
        f"`limit`: default {settings.page_size}, at most {settings.max_page_size} (400 above). "
        "The `next` link (type application/geo+json) carries the cursor `after`."
    )
    items["get"]["responses"] = {
        "200": {
            "description": "A FeatureCollection with "
            "numberMatched, numberReturned, timeStamp and links; header Content-Crs.",
            "content": {GEOJSON: {"schema": {"type": "object"}}, "text/html": {}},
        }
    }
    queryables = read("getOgcQueryables", "What a CQL2 filter of the collection may name")
    queryables["get"]["responses"] = {
        "200": {
            "description": "A JSON Schema of the queryables (or HTML).",
            "content": {"application/schema+json": {}, "text/html": {}},
        },
        "404": problem("No such collection, or the synergy grid (computed: nothing to filter)."),
    }
    one = read("getOgcItem", "One item by its ZUGABE id", crs)
    one["get"]["responses"] = {
        "200": {
            "description": "A Feature; a project's with ETag.",
            "content": {GEOJSON: {"schema": {"type": "object"}}, "text/html": {}},
        },
        "304": {"description": "Unchanged since the ETag in If-None-Match."},
    }
    own_items = {
        f"/ogc/collections/{collection}/items": {
            "get": items["get"]
            | {
                "operationId": f"getOgcItemsOf_{collection}",
                "summary": f"A page of {collection}, filtered by property parameters too",
                "parameters": [*items["get"]["parameters"], *_property_parameters(found)],
                "responses": items["get"]["responses"]
                | {"404": problem("A layer type whose data is not stored (yet).")},
            }
        }
        for collection, found in filterable.items()
    }
    projects_items = own_items.pop("/ogc/collections/projects/items")
    return own_items | {
        "/ogc": read("getOgcLandingPage", "OGC API – Features: landing page"),
        "/ogc/conformance": read("getOgcConformance", "Conformance classes declared"),
        "/ogc/api": {
            "get": {
                "summary": "This OGC API as OpenAPI 3.0 (service-desc)",
                "operationId": "getOgcAPIDescription",
                "responses": {
                    "200": {
                        "description": "The description.",
                        "content": {"application/vnd.oai.openapi+json": {}},
                    }
                },
            }
        },
        "/ogc/collections": read("getOgcCollections", "Collections with extents and CRSs"),
        "/ogc/collections/{collection_id}": {
            "parameters": [collection_id],
            **read("getOgcCollection", "One collection"),
        },
        "/ogc/collections/{collection_id}/queryables": {
            "parameters": [collection_id],
            **queryables,
        },
        "/ogc/collections/{collection_id}/items": {"parameters": [collection_id], **items},
        "/ogc/collections/{collection_id}/items/{feature_id}": {
            "parameters": [collection_id, feature_id],
            **one,
        },
        "/ogc/collections/projects/items": projects_items
        | {
            "post": {
                "summary": "Create a project (Part 4); detection runs, the cases are linked",
                "operationId": "createOgcProject",
                "parameters": [],
                "requestBody": write_body,
                "responses": {
                    "201": feature
                    | {
                        "headers": {
                            "ETag": {"$ref": "#/components/headers/ETag"},
                            "Location": {"schema": {"type": "string"}},
                        }
                    },
                    "409": problem("The external_id is another project's already."),
                    "422": invalid,
                },
            }
        },
        "/ogc/collections/projects/items/{feature_id}": {
            "parameters": [feature_id],
            "put": {
                "summary": "Replace a project (Part 4)",
                "operationId": "replaceOgcProject",
                "parameters": [if_match],
                "requestBody": write_body,
                "responses": {
                    "200": feature,
                    "409": problem("external_id taken."),
                    "412": stale,
                    "422": invalid,
                },
            },
            "patch": {
                "summary": "Change a project: JSON merge patch of properties and geometry",
                "operationId": "patchOgcProject",
                "parameters": [if_match],
                "requestBody": PROJECT_PATCH,
                "responses": {
                    "200": feature,
                    "409": problem("external_id taken."),
                    "412": stale,
                    "422": invalid,
                },
            },
            "delete": {
                "summary": "Delete a project (Part 4); its cases become obsolete",
                "operationId": "deleteOgcProject",
                "parameters": [if_match],
                "responses": {"204": {"description": "Deleted."}, "412": stale},
            },
        },
    }


def _property_parameters(queryables: Queryables) -> list[dict[str, Any]]:
    """A query parameter per queryable that is no geometry nor named like a parameter of
    Parts 1–3: the items whose property equals the value (all given must hold)."""
    return [
        query(
            found.name,
            f"Items whose {found.name} equals this value"
            + (" (any of its values)" if found.many else "")
            + "; several such parameters and `filter` must all hold.",
            {
                key: value
                for key, value in found.schema("en").items()
                if key in ("type", "format", "enum")
            }
            | (INT64 if found.kind == "integer" else {}),
        )
        for found in queryables.properties
        if found.kind != "geometry" and found.name not in ITEMS_PARAMETERS
    ]


def ogc_document(spec: dict[str, Any]) -> dict[str, Any]:
    """The ``/ogc`` part of the document as OpenAPI 3.0, paths relative to ``/ogc`` (the
    server named when served): what GDAL and QGIS read ``limit`` from."""
    paths = {
        path.removeprefix("/ogc") or "/": item
        for path, item in spec["paths"].items()
        if path == "/ogc" or path.startswith("/ogc/")
    }
    document = {
        "openapi": "3.0.3",
        "info": spec["info"] | {"title": "ZUGABE – OGC API Features"},
        "paths": paths,
        "components": {},
        "security": spec["security"],
    }
    wanted = _references(paths)
    components = spec["components"]
    while wanted:
        kind, name = wanted.pop()
        section = document["components"].setdefault(kind, {})
        if name not in section:
            section[name] = components[kind][name]
            wanted |= _references(components[kind][name])
    document["components"]["securitySchemes"] = components["securitySchemes"]
    return _openapi30(document)


def _references(node: Any) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    if isinstance(node, dict):
        target = node.get("$ref")
        if isinstance(target, str):
            _hash, _components, kind, name = target.split("/")
            found.add((kind, name))
        for value in node.values():
            found |= _references(value)
    elif isinstance(node, list):
        for value in node:
            found |= _references(value)
    return found


def _openapi30(node: Any) -> Any:
    """JSON Schema 2020-12 (OpenAPI 3.1) written as OpenAPI 3.0 schema objects: ``const``
    as a one-value enum, ``null`` types as ``nullable``, tuples as arrays of their items,
    a numeric ``exclusiveMinimum`` as a boolean one."""
    if isinstance(node, list):
        return [_openapi30(value) for value in node]
    if not isinstance(node, dict):
        return node
    node = {key: _openapi30(value) for key, value in node.items()}
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if isinstance(node.get("type"), list):
        kinds = [k for k in node["type"] if k != "null"]
        node["type"], node["nullable"] = kinds[0], True
    for choice in ("anyOf", "oneOf"):
        if isinstance(node.get(choice), list) and {"type": "null"} in node[choice]:
            node[choice] = [s for s in node[choice] if s != {"type": "null"}]
            node["nullable"] = True
    if "prefixItems" in node:
        node["items"] = node.pop("prefixItems")[0]
    if node.get("items") is False:
        del node["items"]
    if isinstance(node.get("exclusiveMinimum"), int | float) and not isinstance(
        node.get("exclusiveMinimum"), bool
    ):
        node["minimum"], node["exclusiveMinimum"] = node["exclusiveMinimum"], True
    return node
