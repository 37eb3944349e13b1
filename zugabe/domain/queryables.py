"""The queryables of each collection: what a CQL2 filter may name, and how it is typed.

One list per collection (projects, cases, each thematic layer), built from the
vocabulary, the rules and the layer definitions, so the enums a client offers are the
keys the store holds. The parser checks filters against it and the OGC API serves it
as the "Queryables" JSON Schema document (``queryables_json``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from zugabe.domain.cases import CaseStatus
from zugabe.domain.layers import LayerDefinition
from zugabe.domain.project import FIELD_LABELS, Status
from zugabe.domain.rules import RELATIONS, SEVERITIES
from zugabe.domain.vocabulary import Vocabulary

Kind = Literal["string", "integer", "number", "boolean", "date", "timestamp", "geometry"]

JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"

CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
FILTER = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"
FILTER_CONFORMANCE = (
    f"{FILTER}filter",
    f"{FILTER}features-filter",
    f"{CQL2}basic-cql2",
    f"{CQL2}advanced-comparison-operators",
    f"{CQL2}case-insensitive-comparison",
    f"{CQL2}basic-spatial-functions",
    f"{CQL2}basic-spatial-functions-plus",
    f"{CQL2}spatial-functions",
    f"{CQL2}temporal-functions",
    f"{CQL2}cql2-text",
    f"{CQL2}cql2-json",
)
"""The conformance classes of OGC API – Features Part 3 and CQL2 that the filter
translation supports, for the landing page's conformance declaration."""

_SCHEMA_OF_KIND: dict[Kind, dict[str, str]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "timestamp": {"type": "string", "format": "date-time"},
    "geometry": {},
}
_LAYER_KINDS: dict[str, Kind] = {
    "string": "string",
    "integer": "integer",
    "real": "number",
    "date": "date",
    "boolean": "boolean",
}
_GEOMETRY_FORMATS = {"Point": "point", "LineString": "linestring", "Polygon": "polygon"}


@dataclass(frozen=True)
class Queryable:
    """A property a filter may name.

    ``many``: the item holds several values (a case's organisations); a predicate holds
    when it holds for any of them. ``role``: OGC API Part 5's ``x-ogc-role``.
    """

    name: str
    kind: Kind
    title: Mapping[str, str]
    enum: tuple[str | int | float, ...] = ()
    many: bool = False
    role: str | None = None
    geometry_format: str = "geometry-any"
    unit: str | None = None

    def schema(self, lang: str) -> dict[str, Any]:
        """The property's JSON Schema, titled in ``lang`` (German or English)."""
        body: dict[str, Any] = {"title": self.title.get(lang, self.title["en"])}
        body |= _SCHEMA_OF_KIND[self.kind]
        if self.kind == "geometry":
            body["format"] = self.geometry_format
        if self.enum:
            body["enum"] = list(self.enum)
        if self.many:
            body["description"] = {
                "de": "Trifft zu, wenn einer der Werte zutrifft.",
                "en": "Matches when any of the values matches.",
            }.get(lang, "Matches when any of the values matches.")
        if self.unit:
            body["x-ogc-unit"] = self.unit
        if self.role:
            body["x-ogc-role"] = self.role
        return body


@dataclass(frozen=True)
class Queryables:
    """The queryables of one collection, by name."""

    collection: str
    properties: tuple[Queryable, ...]

    def get(self, name: str) -> Queryable | None:
        return next((q for q in self.properties if q.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(q.name for q in self.properties)


def _label(de: str, en: str) -> dict[str, str]:
    return {"de": de, "en": en}


_GEOMETRY = Queryable(
    "geometry", "geometry", _label("Geometrie", "Geometry"), role="primary-geometry"
)
_CREATED = Queryable("created_at", "timestamp", _label("angelegt am", "Created at"))
_UPDATED = Queryable("updated_at", "timestamp", _label("geändert am", "Updated at"))


def project_queryables(vocabulary: Vocabulary) -> Queryables:
    """A project's attributes and bookkeeping, the keys from the vocabulary."""

    def field(name: str, kind: Kind, **extra: Any) -> Queryable:
        return Queryable(name, kind, FIELD_LABELS[name], **extra)

    return Queryables(
        "projects",
        (
            field("id", "integer", role="id"),
            field("title", "string"),
            field("description", "string"),
            field("organisation", "string", enum=tuple(vocabulary.organisations)),
            field("department", "string", enum=tuple(vocabulary.departments)),
            field("measure_type", "string", enum=tuple(vocabulary.measure_types)),
            field("status", "string", enum=tuple(s.value for s in Status)),
            field("start", "date", role="primary-interval-start"),
            field("end", "date", role="primary-interval-end"),
            field("contact", "string"),
            field("cost_eur", "number", unit="EUR"),
            field("external_id", "string"),
            field("version", "integer"),
            _CREATED,
            Queryable("created_by", "string", _label("angelegt von", "Created by")),
            _UPDATED,
            Queryable("updated_by", "string", _label("geändert von", "Updated by")),
            _GEOMETRY,
        ),
    )


def case_queryables(vocabulary: Vocabulary, rule_ids: Iterable[str]) -> Queryables:
    """A coordination case's classification, review state and time window."""
    return Queryables(
        "cases",
        (
            Queryable("id", "integer", _label("Nr.", "No."), role="id"),
            Queryable("rule", "string", _label("Regel", "Rule"), enum=tuple(rule_ids)),
            Queryable("relation", "string", _label("Beziehung", "Relation"), enum=RELATIONS),
            Queryable("severity", "string", _label("Schwere", "Severity"), enum=SEVERITIES),
            Queryable(
                "status",
                "string",
                _label("Status", "Status"),
                enum=tuple(s.value for s in CaseStatus),
            ),
            Queryable(
                "window_start",
                "date",
                _label("Zeitraum von", "Window start"),
                role="primary-interval-start",
            ),
            Queryable(
                "window_end",
                "date",
                _label("Zeitraum bis", "Window end"),
                role="primary-interval-end",
            ),
            Queryable(
                "organisations",
                "string",
                _label("Organisationen", "Organisations"),
                enum=tuple(vocabulary.organisations),
                many=True,
            ),
            Queryable(
                "departments",
                "string",
                _label("Fachbereiche", "Departments"),
                enum=tuple(vocabulary.departments),
                many=True,
            ),
            Queryable("assignee", "string", _label("Zuständig", "Assignee")),
            Queryable("version", "integer", _label("Version", "Version")),
            _CREATED,
            _UPDATED,
            _GEOMETRY,
        ),
    )


def layer_queryables(definition: LayerDefinition) -> Queryables:
    """A thematic layer's declared attributes with their types, allowed values and units."""
    formats = {_GEOMETRY_FORMATS[t] for t in definition.geometry_types}
    geometry_format = f"geometry-{formats.pop()}" if len(formats) == 1 else "geometry-any"
    attributes = tuple(
        Queryable(
            spec.name,
            _LAYER_KINDS[spec.type],
            spec.label.as_dict(),
            enum=spec.allowed,
            unit=spec.unit,
        )
        for spec in definition.attributes
        if spec.name != "id"  # the feature's number is "id"; an attribute so named is not
    )
    return Queryables(
        definition.key,
        (
            Queryable("id", "integer", _label("Nr.", "No."), role="id"),
            *attributes,
            Queryable(
                "geometry",
                "geometry",
                _label("Geometrie", "Geometry"),
                role="primary-geometry",
                geometry_format=geometry_format,
            ),
        ),
    )


def collection_queryables(
    vocabulary: Vocabulary, rule_ids: Iterable[str], definitions: Mapping[str, LayerDefinition]
) -> dict[str, Queryables]:
    """The queryables of every filterable collection (projects, cases, each layer type), by
    collection id: what the OGC API serves and what its OpenAPI document declares."""
    every = [
        project_queryables(vocabulary),
        case_queryables(vocabulary, rule_ids),
        *(layer_queryables(definition) for definition in definitions.values()),
    ]
    return {queryables.collection: queryables for queryables in every}


def queryables_json(
    queryables: Queryables, *, schema_id: str, title: str, lang: str = "en"
) -> dict[str, Any]:
    """The OGC API – Features Part 3 "Queryables" document: a JSON Schema of an object
    with exactly these properties, served at ``schema_id``."""
    return {
        "$schema": JSON_SCHEMA,
        "$id": schema_id,
        "type": "object",
        "title": title,
        "properties": {q.name: q.schema(lang) for q in queryables.properties},
        "additionalProperties": False,
    }
