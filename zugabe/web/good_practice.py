"""The good-practice collection over HTTP.

Public, without sign-in, and only ever released examples (``GoodPracticeService.released``):
the region's page ``/good-practice`` (map, filters, German/English, print), one example's
page, its photos, the GeoJSON ``/good-practice.geojson`` and the Atom feed
``/good-practice.atom`` that member organisations embed (both answer any origin: CORS).

Signed in: ``/api/good-practice`` to propose, change, add photos, vote and withdraw, and
two pages that do it in the browser (``/good-practice/propose``, ``…/<id>/review``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from zugabe.domain.good_practice import (
    CAPTION_MAX,
    NOTE_MAX,
    TAGS_MAX,
    TEXT_MAX,
    TITLE_MAX,
    ExampleState,
    GoodPractice,
)
from zugabe.domain.vocabulary import Vocabulary
from zugabe.errors import FieldError, InvalidInput
from zugabe.io.photos import MAX_BYTES
from zugabe.services import Services
from zugabe.services.good_practice import PublicFilter
from zugabe.web.api import expected_version, json_id, json_object
from zugabe.web.apidoc import MAX_ID, NOT_BLANK, json_request, problem, query, vote_body
from zugabe.web.auth import current_actor
from zugabe.web.language import page_language

blueprint = Blueprint("good_practice", __name__)

GEOJSON = "application/geo+json"
ATOM = "application/atom+xml"
ATOM_NS = "http://www.w3.org/2005/Atom"
PHOTO_LIMITS = f"JPEG or PNG, at most {MAX_BYTES // 2**20} MB and 50 megapixels."
CONTENT = ("title", "description", "costs_eur", "costs_note", "lessons", "contacts", "tags")


def _services() -> Services:
    return current_app.extensions["zugabe"]


def _filter() -> PublicFilter:
    return PublicFilter(
        measure_type=request.args.get("measure_type") or None,
        city=request.args.get("city") or None,
        synergy=request.args.get("synergy") or None,
    )


def _embeddable(response: Response) -> Response:
    """Member organisations' web sites read the feed and the GeoJSON from their pages."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


# ------------------------------------------------------------------ public


@blueprint.get("/good-practice")
def page() -> str:
    """The region's page of released examples: map, list, filters; prints on A4."""
    services, lang = _services(), page_language()
    where = _filter()
    shown = services.good_practice.released(where)
    everything = services.good_practice.released()
    return render_template(
        "good_practice.html",
        lang=lang,
        examples=[services.good_practice.public_json(e, lang, request.url_root) for e in shown],
        options=_options(everything, lang),
        where=where,
        query=request.query_string.decode("ascii", "replace"),
    )


@blueprint.get("/good-practice/<int:example_id>")
def example_page(example_id: int) -> str:
    services, lang = _services(), page_language()
    example = services.good_practice.released_one(example_id)
    return render_template(
        "good_practice_example.html",
        lang=lang,
        example=services.good_practice.public_json(example, lang, request.url_root),
        review=None,
    )


@blueprint.get("/good-practice.geojson")
def geojson() -> Response:
    services, lang = _services(), request.args.get("lang") or "de"
    good = services.good_practice
    features = [
        {
            "type": "Feature",
            "id": example.id,
            "geometry": good.geometry_json(example, point=request.args.get("points") == "true"),
            "properties": good.public_json(example, lang, request.url_root),
        }
        for example in good.released(_filter())
    ]
    response = jsonify({"type": "FeatureCollection", "features": features})
    response.mimetype = GEOJSON
    return _embeddable(response)


@blueprint.get("/good-practice.atom")
def atom() -> Response:
    services, lang = _services(), request.args.get("lang") or "de"
    good = services.good_practice
    examples = good.released(_filter())
    root = request.url_root
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed", {"xml:lang": lang})

    def add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    add(feed, "id", f"{root}good-practice.atom")
    add(feed, "title", "Gute Beispiele" if lang == "de" else "Good practice")
    newest = max((e.released_at for e in examples if e.released_at), default=None)
    add(feed, "updated", (newest or datetime(2000, 1, 1, tzinfo=UTC)).isoformat())
    add(feed, "link", href=f"{root}good-practice?lang={lang}", rel="alternate")
    add(feed, "link", href=request.url, rel="self")
    add(add(feed, "author"), "name", "ZUGABE")
    for example in examples:
        shown = good.public_json(example, lang, root)
        entry = add(feed, "entry")
        add(entry, "id", shown["url"])
        add(entry, "title", shown["title"])
        add(entry, "updated", shown["released_at"])
        add(entry, "published", shown["released_at"])
        add(entry, "link", href=f"{shown['url']}?lang={lang}", rel="alternate")
        add(add(entry, "author"), "name", shown["organisation_label"])
        for measure in shown["measure_types"]:
            add(entry, "category", term=measure["key"], label=measure["label"])
        add(entry, "summary", shown["description"], type="text")
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return _embeddable(Response(body, mimetype=ATOM))


@blueprint.get("/good-practice/photos/<int:photo_id>")
def photo(photo_id: int) -> Response:
    return _photo(photo_id, thumbnail=False)


@blueprint.get("/good-practice/photos/<int:photo_id>/thumbnail")
def thumbnail(photo_id: int) -> Response:
    return _photo(photo_id, thumbnail=True)


def _photo(photo_id: int, *, thumbnail: bool) -> Response:
    found = _services().good_practice.photo(photo_id, thumbnail=thumbnail, actor=current_actor())
    response = Response(found.data, mimetype=found.media_type)
    response.headers["Content-Disposition"] = "inline"
    return response


def _options(examples: list[GoodPractice], lang: str) -> dict[str, list[tuple[str, str]]]:
    """What the filters offer: the values the released examples have, labelled."""
    good = _services().good_practice
    measure_types = {m for e in examples for m in good.measure_types(e)}
    cities = {c for e in examples if (c := good.city(e))}
    synergies = {s.rule_id for e in examples for s in e.synergies}

    def labelled(kind: str, keys: set[str]) -> list[tuple[str, str]]:
        return sorted(((k, good.label(kind, k, lang)) for k in keys), key=lambda kv: kv[1])

    return {
        "measure_type": labelled("measure_type", measure_types),
        "city": labelled("organisation", cities),
        "synergy": labelled("rule", synergies),
    }


# ------------------------------------------------------------------ signed in: pages


@blueprint.get("/good-practice/propose")
def propose_page() -> str:
    """The form to propose a finished project (``?project=<id>``)."""
    services = _services()
    services.policy.require_read(current_actor())  # signed out: to the login page
    project = request.args.get("project", "")
    return render_template(
        "good_practice_propose.html",
        lang=page_language(),
        project=project if project.isdigit() else "",
        measure_types=sorted(
            (key, getattr(term, page_language()))
            for key, term in services.vocabulary.measure_types.items()
        ),
    )


@blueprint.get("/good-practice/<int:example_id>/review")
def review_page(example_id: int) -> str:
    """A proposal as the organisations involved see it, with their votes."""
    services, lang, actor = _services(), page_language(), current_actor()
    example = services.good_practice.get(example_id, actor)
    shown = services.good_practice.public_json(example, lang, request.url_root)
    return render_template(
        "good_practice_example.html",
        lang=lang,
        example=shown,
        review=services.good_practice.to_json(example)
        | {"may_vote": services.policy.may_vote_case(actor, example.involved)},
    )


# ------------------------------------------------------------------ signed in: API


def _answer(example: GoodPractice, status: int = 200) -> Response:
    response = jsonify(_services().good_practice.to_json(example))
    response.status_code = status
    response.set_etag(f"v{example.version}")
    return response


@blueprint.get("/api/good-practice")
def list_examples() -> Response:
    """Every example (proposals too) for readers; ``state`` narrows."""
    state = request.args.get("state")
    states = (ExampleState(state),) if state else ()
    examples = _services().good_practice.list(current_actor(), states)
    return jsonify([_services().good_practice.to_json(e) for e in examples])


@blueprint.post("/api/good-practice")
def propose() -> Response:
    body = json_object(("project_id", *CONTENT))
    project_id = json_id(body.pop("project_id", None))
    if project_id is None:
        raise InvalidInput(
            "'project_id' must be the number of a finished project",
            field_errors=[FieldError("/project_id", "a project number")],
        )
    example = _services().good_practice.propose(project_id, body, current_actor())
    return _answer(example, 201)


@blueprint.get("/api/good-practice/<int:example_id>")
def get_example(example_id: int) -> Response:
    return _answer(_services().good_practice.get(example_id, current_actor()))


@blueprint.patch("/api/good-practice/<int:example_id>")
def revise(example_id: int) -> Response:
    body = json_object(CONTENT)
    example = _services().good_practice.revise(
        example_id, body, current_actor(), expected_version()
    )
    return _answer(example)


@blueprint.post("/api/good-practice/<int:example_id>/photos")
def add_photo(example_id: int) -> Response:
    """Multipart: ``file`` (JPEG or PNG), ``caption``, ``keep_location`` (true: keep GPS)."""
    services, actor = _services(), current_actor()
    services.policy.require_writer(actor)  # before the upload is read
    if request.content_length is not None and request.content_length > MAX_BYTES + 64 * 1024:
        raise InvalidInput(
            f"the photo is larger than {MAX_BYTES // (1024 * 1024)} MB",
            field_errors=[FieldError("/file", "too large")],
        )
    upload = request.files.get("file")
    if upload is None:
        raise InvalidInput(
            "send the photo as the multipart field 'file'",
            field_errors=[FieldError("/file", "required")],
        )
    data = upload.stream.read(MAX_BYTES + 1)
    keep = request.form.get("keep_location", "false")
    if keep not in ("true", "false"):
        raise InvalidInput(
            "'keep_location' is true or false",
            field_errors=[FieldError("/keep_location", "true or false")],
        )
    example = services.good_practice.add_photo(
        example_id,
        data,
        request.form.get("caption", ""),
        keep == "true",
        actor,
        expected_version(),
    )
    return _answer(example, 201)


@blueprint.delete("/api/good-practice/<int:example_id>/photos/<int:photo_id>")
def delete_photo(example_id: int, photo_id: int) -> Response:
    example = _services().good_practice.delete_photo(
        example_id, photo_id, current_actor(), expected_version()
    )
    return _answer(example)


@blueprint.post("/api/good-practice/<int:example_id>/votes")
def vote(example_id: int) -> Response:
    """``{"vote": "agree"}`` or ``{"vote": "object", "reason": "…"}`` for one's organisation."""
    body = json_object(("vote", "reason"))
    choice, reason = body.get("vote", ""), body.get("reason", "")
    if not isinstance(choice, str) or not isinstance(reason, str):
        raise InvalidInput(
            "'vote' and 'reason' are texts", field_errors=[FieldError("/vote", "text")]
        )
    example = _services().good_practice.vote(example_id, choice, reason, current_actor())
    return _answer(example, 201)


@blueprint.post("/api/good-practice/<int:example_id>/withdrawal")
def withdraw(example_id: int) -> Response:
    """``{"reason": "…"}``: off the public page."""
    reason = json_object(("reason",)).get("reason", "")
    if not isinstance(reason, str):
        raise InvalidInput("'reason' is text", field_errors=[FieldError("/reason", "text")])
    example = _services().good_practice.withdraw(
        example_id, reason, current_actor(), expected_version()
    )
    return _answer(example)


# ------------------------------------------------------------------ OpenAPI


def openapi_paths(vocabulary: Vocabulary) -> dict[str, Any]:
    """This module's paths of the OpenAPI document (merged by ``zugabe.web.openapi``); the
    tags are the region's measure types."""
    example_id = {
        "name": "example_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer"},
    }
    photo_id = {"name": "photo_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    if_match = {"$ref": "#/components/parameters/IfMatch"}
    lang = query(
        "lang",
        "Language of the labels: de (default) or en.",
        {"type": "string", "enum": ["de", "en"]},
    )
    filters = [
        query("measure_type", "Only examples of this measure type (the project's or a tag)."),
        query("city", "Only examples of this city (an organisation key)."),
        query("synergy", "Only examples that realised a synergy of this rule (a rule id)."),
    ]
    missing = problem("No such example, or not released (public routes).")
    invalid = problem("The input was refused; `errors` names each field. Nothing was stored.")
    state = problem("The example's state does not allow this step.")
    stale = problem("If-Match names an outdated version of the example.")
    text = {"type": "string", "maxLength": TEXT_MAX}
    content_properties = {
        "title": {"type": "string", "maxLength": TITLE_MAX},
        "description": text,
        "costs_eur": {"type": ["number", "null"], "minimum": 0},
        "costs_note": {"type": "string", "maxLength": NOTE_MAX},
        "lessons": text,
        "contacts": text,
        "tags": {
            "type": "array",
            "items": {"type": "string", "enum": sorted(vocabulary.measure_types)},
            "maxItems": TAGS_MAX,
        },
    }
    answer = {"description": "The example, with its version as ETag."}
    page_answer = {"description": "An HTML page.", "content": {"text/html": {}}}
    return {
        "/good-practice": {
            "get": {
                "summary": "The region's good-practice page (public: released examples only)",
                "operationId": "getGoodPracticePage",
                "parameters": [lang, *filters],
                "responses": {"200": page_answer},
            }
        },
        "/good-practice/{example_id}": {
            "parameters": [example_id],
            "get": {
                "summary": "One released example's page (public)",
                "operationId": "getGoodPracticeExamplePage",
                "parameters": [lang],
                "responses": {"200": page_answer, "404": missing},
            },
        },
        "/good-practice.geojson": {
            "get": {
                "summary": "Released examples as GeoJSON, to embed (public, CORS)",
                "operationId": "getGoodPracticeGeoJSON",
                "parameters": [
                    lang,
                    *filters,
                    query(
                        "points",
                        "true: each example as a point (for markers).",
                        {"type": "string", "enum": ["true", "false"]},
                    ),
                ],
                "responses": {
                    "200": {"description": "A FeatureCollection.", "content": {GEOJSON: {}}}
                },
            }
        },
        "/good-practice.atom": {
            "get": {
                "summary": "Released examples as an Atom feed, to embed (public, CORS)",
                "operationId": "getGoodPracticeFeed",
                "parameters": [lang, *filters],
                "responses": {"200": {"description": "An Atom feed.", "content": {ATOM: {}}}},
            }
        },
        "/good-practice/photos/{photo_id}": {
            "parameters": [photo_id],
            "get": {
                "summary": "A photo (public when its example is released, else for readers)",
                "operationId": "getGoodPracticePhoto",
                "responses": {"200": {"description": "JPEG or PNG."}, "404": missing},
            },
        },
        "/good-practice/photos/{photo_id}/thumbnail": {
            "parameters": [photo_id],
            "get": {
                "summary": "A photo's thumbnail (JPEG)",
                "operationId": "getGoodPracticeThumbnail",
                "responses": {"200": {"description": "JPEG."}, "404": missing},
            },
        },
        "/good-practice/propose": {
            "get": {
                "summary": "The page to propose a finished project as good practice",
                "operationId": "getGoodPracticeProposePage",
                "parameters": [
                    lang,
                    query("project", "The project's number.", {"type": "integer"}),
                ],
                "responses": {"200": page_answer},
            }
        },
        "/good-practice/{example_id}/review": {
            "parameters": [example_id],
            "get": {
                "summary": "A proposal as the organisations involved see it, to vote on",
                "operationId": "getGoodPracticeReviewPage",
                "parameters": [lang],
                "responses": {"200": page_answer, "404": missing},
            },
        },
        "/api/good-practice": {
            "get": {
                "summary": "Every good-practice example, proposals too (readers)",
                "operationId": "listGoodPractice",
                "parameters": [
                    query(
                        "state",
                        "Only examples in this state.",
                        {"type": "string", "enum": [s.value for s in ExampleState]},
                    )
                ],
                "responses": {"200": {"description": "The examples, newest first."}},
            },
            "post": {
                "summary": "Propose a finished project as good practice",
                "description": "A planner or coordinator of an organisation involved.",
                "operationId": "proposeGoodPractice",
                "requestBody": json_request(
                    {
                        "type": "object",
                        "required": ["project_id", "title", "description"],
                        "additionalProperties": False,
                        "properties": {
                            "project_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID}
                        }
                        | content_properties
                        | {
                            "title": NOT_BLANK | {"maxLength": TITLE_MAX},
                            "description": NOT_BLANK | {"maxLength": TEXT_MAX},
                        },
                    }
                ),
                "responses": {
                    "201": answer,
                    "404": problem("No such project."),
                    "409": state,
                    "422": invalid,
                },
            },
        },
        "/api/good-practice/{example_id}": {
            "parameters": [example_id],
            "get": {
                "summary": "One example with its votes and photos",
                "operationId": "getGoodPractice",
                "responses": {"200": answer, "404": missing},
            },
            "patch": {
                "summary": "Change the content: proposed again, a new round of votes",
                "operationId": "reviseGoodPractice",
                "parameters": [if_match],
                "requestBody": json_request(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": content_properties,
                    }
                ),
                "responses": {"200": answer, "404": missing, "412": stale, "422": invalid},
            },
        },
        "/api/good-practice/{example_id}/photos": {
            "parameters": [example_id],
            "post": {
                "summary": "Add a photo (checked by content; GPS removed unless kept)",
                "operationId": "addGoodPracticePhoto",
                "parameters": [if_match],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {
                                    "file": {
                                        "type": "string",
                                        "format": "binary",
                                        "description": PHOTO_LIMITS,
                                    },
                                    "caption": {"type": "string", "maxLength": CAPTION_MAX},
                                    "keep_location": {"type": "string", "enum": ["true", "false"]},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": answer,
                    "404": missing,
                    "409": state,
                    "412": stale,
                    "422": invalid,
                },
            },
        },
        "/api/good-practice/{example_id}/photos/{photo_id}": {
            "parameters": [example_id, photo_id],
            "delete": {
                "summary": "Remove a photo: proposed again",
                "operationId": "deleteGoodPracticePhoto",
                "parameters": [if_match],
                "responses": {"200": answer, "404": missing, "412": stale},
            },
        },
        "/api/good-practice/{example_id}/votes": {
            "parameters": [example_id],
            "post": {
                "summary": "Agree or object for your organisation (one organisation, one vote)",
                "operationId": "voteOnGoodPractice",
                "requestBody": json_request(vote_body(text)),
                "responses": {"201": answer, "404": missing, "409": state, "422": invalid},
            },
        },
        "/api/good-practice/{example_id}/withdrawal": {
            "parameters": [example_id],
            "post": {
                "summary": "Withdraw the example from the public page, with a reason (audited)",
                "operationId": "withdrawGoodPractice",
                "parameters": [if_match],
                "requestBody": json_request(
                    {
                        "type": "object",
                        "required": ["reason"],
                        "additionalProperties": False,
                        "properties": {"reason": NOT_BLANK | {"maxLength": TEXT_MAX}},
                    }
                ),
                "responses": {
                    "200": answer,
                    "404": missing,
                    "409": state,
                    "412": stale,
                    "422": invalid,
                },
            },
        },
    }
