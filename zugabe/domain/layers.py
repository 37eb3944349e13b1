"""Thematic-layer definitions [Fachlayer]: declared in ``layers/*.toml``, loaded and checked here.

A layer type (sewer sections, trees, heavy-rain hazard zones, ...) is data, not code: its
attribute schema, the attribute that classifies it, its default style and any derived
geometry live in one TOML file, so a region can adapt or add layers without touching Python.
This module turns those files into frozen dataclasses and refuses a broken file at start with
a message naming the file and the field. It also gives the importer what it needs per source
file (``match_fields``: which source column feeds which attribute) and per row
(``coerce_value``: one raw value into the attribute's type, or a reason to refuse the row).

The format is documented field by field in ``layers/README.md``.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from shapely.geometry.base import BaseGeometry

from zugabe.errors import ConfigError, FieldError, InvalidInput

ATTRIBUTE_TYPES = ("string", "integer", "real", "date", "boolean")
THEMES = ("drainage", "green", "base")
GEOMETRY_TYPES = ("Point", "LineString", "Polygon")
DERIVED_KINDS = ("buffer",)
# Names the storage layer keeps for itself; an attribute may not shadow them.
RESERVED_ATTRIBUTE_NAMES = ("geometry", "fid")
# Shapefile (dBASE) field names are cut at 10 characters: "Stammdurchmesser" -> "Stammdurch".
DBF_NAME_LENGTH = 10

_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
_COLOR_PATTERN = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_SLASH_DATE = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$")
_GERMAN_DATE = re.compile(r"^(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})$")
# "RKB (Regenklärbecken)", "RKB - Regenklärbecken", "Regenklärbecken (RKB)": code plus label.
_CODE_WITH_LABEL = re.compile(r"^(.+?)\s*(?:\((.+)\)|\s[-–:]\s*(.+))$")
_TRUE_WORDS = frozenset({"ja", "j", "yes", "y", "true", "t", "wahr", "1"})
_FALSE_WORDS = frozenset({"nein", "n", "no", "false", "f", "falsch", "0"})
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_MISSING_TYPE_NAMES = frozenset({"NAType", "NaTType"})


@functools.lru_cache(maxsize=8192)
def normalize_name(name: str) -> str:
    """The form field names and coded values are compared in.

    Case-insensitive, umlauts transliterated (ä→ae, ö→oe, ü→ue, ß→ss), other accents dropped,
    and everything but letters and digits removed: "Zustands-Klasse", "zustandsklasse" and
    "ZUSTANDS_KLASSE" are the same name, and so are "Fällung" and "Faellung". Cached: coded
    values repeat across millions of rows.
    """
    text = name.casefold().translate(_UMLAUTS)
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if ch.isalnum() and not unicodedata.combining(ch))


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class Text:
    """A user-facing text in German and English."""

    de: str
    en: str

    def as_dict(self) -> dict[str, str]:
        return {"de": self.de, "en": self.en}


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute of a layer: its type, limits and the source names that feed it.

    ``allowed`` holds the canonical values; ``value_aliases`` maps further spellings found in
    source data (normalised with ``normalize_name``) onto them, so "Regenrückhaltebecken" is
    stored as "RRB".
    """

    name: str
    type: str
    label: Text
    unit: str | None = None
    required: bool = False
    min: int | float | date | None = None
    max: int | float | date | None = None
    allowed: tuple[str | int | float, ...] = ()
    value_aliases: tuple[tuple[str, str | int | float], ...] = ()
    aliases: tuple[str, ...] = ()
    _allowed_lookup: dict[str, str | int | float] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False
    )

    def __post_init__(self) -> None:
        # Built once here so coercing millions of values does not rebuild it per row.
        lookup: dict[str, str | int | float] = {}
        for value in self.allowed:
            lookup[normalize_name(str(value))] = value
        for alias, value in self.value_aliases:
            lookup[normalize_name(alias)] = value
        self._allowed_lookup.update(lookup)

    @property
    def numeric(self) -> bool:
        return self.type in ("integer", "real")

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for the API and the web map's legend."""
        return {
            "name": self.name,
            "type": self.type,
            "label": self.label.as_dict(),
            "unit": self.unit,
            "required": self.required,
            "min": _jsonable(self.min),
            "max": _jsonable(self.max),
            "allowed": list(self.allowed) or None,
            "aliases": list(self.aliases),
        }


@dataclass(frozen=True)
class ClassSpec:
    """One class of the classifying attribute: an exact ``value`` or a range [min, max)."""

    label: Text
    color: str
    value: str | int | float | None = None
    min: int | float | None = None
    max: int | float | None = None

    @property
    def is_range(self) -> bool:
        return self.value is None

    def matches(self, value: object) -> bool:
        if value is None or isinstance(value, bool):
            return False
        if not self.is_range:
            if isinstance(self.value, str):
                return isinstance(value, str) and normalize_name(value) == normalize_name(
                    self.value
                )
            return isinstance(value, int | float) and value == self.value
        if not isinstance(value, int | float):
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value < self.max)

    def as_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"label": self.label.as_dict(), "color": self.color}
        if self.is_range:
            entry.update(min=self.min, max=self.max)
        else:
            entry["value"] = self.value
        return entry


@dataclass(frozen=True)
class ClassifySpec:
    """Which attribute classifies the layer, and its ordered classes (legend order)."""

    attribute: str
    classes: tuple[ClassSpec, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "classes": [c.as_dict() for c in self.classes]}


@dataclass(frozen=True)
class StyleSpec:
    """Default look of a layer; hex colours that QGIS and Leaflet both understand."""

    stroke_color: str = "#3388ff"
    stroke_width: float = 2.0
    stroke_opacity: float = 1.0
    fill_color: str = "#3388ff"
    fill_opacity: float = 0.2
    point_radius: float = 5.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "stroke_color": self.stroke_color,
            "stroke_width": self.stroke_width,
            "stroke_opacity": self.stroke_opacity,
            "fill_color": self.fill_color,
            "fill_opacity": self.fill_opacity,
            "point_radius": self.point_radius,
        }

    def as_leaflet(self) -> dict[str, Any]:
        """The same style as Leaflet path options (``L.geoJSON(..., {style})``)."""
        return {
            "color": self.stroke_color,
            "weight": self.stroke_width,
            "opacity": self.stroke_opacity,
            "fillColor": self.fill_color,
            "fillOpacity": self.fill_opacity,
            "radius": self.point_radius,
        }


@dataclass(frozen=True)
class DerivedSpec:
    """A geometry derived from each feature, e.g. a tree's root-protection zone.

    ``buffer``: the feature buffered by ``radius_attribute`` + ``add`` metres when the
    attribute has a value, else by ``default_radius`` metres (geometry work happens in the
    metric storage CRS).
    """

    kind: str
    output: str
    label: Text
    default_radius: float
    radius_attribute: str | None = None
    add: float = 0.0

    def radius_for(self, value: object) -> float:
        if self.radius_attribute is None or value is None or isinstance(value, bool):
            return self.default_radius
        if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            return self.default_radius
        return float(value) + self.add

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "output": self.output,
            "label": self.label.as_dict(),
            "radius_attribute": self.radius_attribute,
            "add": self.add,
            "default_radius": self.default_radius,
        }


@dataclass(frozen=True)
class LayerDefinition:
    """A layer type as declared in one TOML file."""

    key: str
    title: Text
    description: Text
    theme: str
    geometry_types: tuple[str, ...]
    attributes: tuple[AttributeSpec, ...]
    classify: ClassifySpec | None = None
    style: StyleSpec = field(default_factory=StyleSpec)
    derived: DerivedSpec | None = None
    source_path: Path | None = None
    id_attribute: str | None = None

    def attribute(self, name: str) -> AttributeSpec:
        for spec in self.attributes:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def attribute_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.attributes)

    def accepts_geometry(self, geometry_type: str) -> bool:
        """Whether a geometry type fits; the Multi form of a declared type always does."""
        base = geometry_type.removeprefix("Multi")
        return base in self.geometry_types

    def style_for(self, value: object) -> StyleSpec:
        """The default style with the colour of the class ``value`` falls into, if any."""
        cls = classify_value(self, value)
        if cls is None:
            return self.style
        # Lines show the class in their stroke, points and polygons in their fill.
        changes: dict[str, str] = {}
        if "LineString" in self.geometry_types:
            changes["stroke_color"] = cls.color
        if set(self.geometry_types) - {"LineString"}:
            changes["fill_color"] = cls.color
        return replace(self.style, **changes)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly metadata for ``GET /api/layers`` and the web map."""
        return {
            "key": self.key,
            "title": self.title.as_dict(),
            "description": self.description.as_dict(),
            "theme": self.theme,
            "geometry_types": list(self.geometry_types),
            "id_attribute": self.id_attribute,
            "attributes": [spec.as_dict() for spec in self.attributes],
            "classify": self.classify.as_dict() if self.classify else None,
            "style": self.style.as_dict(),
            "derived": self.derived.as_dict() if self.derived else None,
        }


@dataclass
class FieldMatch:
    """How the fields of one source file feed a layer's attributes."""

    mapping: dict[str, str]  # source field name -> attribute name
    unmatched_source: list[str]
    missing_required: list[str]


def _jsonable(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


# --------------------------------------------------------------------------- loading


def default_layers_folder() -> Path:
    """The repository's ``layers/`` folder.

    Works for a source checkout and an editable install; packaging will copy the folder into
    the wheel later, and this function will then point there.
    """
    return Path(__file__).resolve().parents[2] / "layers"


def load_layer_definitions(folder: Path) -> dict[str, LayerDefinition]:
    """Read every ``*.toml`` in ``folder``; any problem in any file raises ``ConfigError``.

    All problems of all files are collected into one message, each naming its file and field,
    so a broken folder is fixed in one round rather than one error at a time.
    """
    if not folder.is_dir():
        raise ConfigError(f"layer folder {display_path(folder)}: not found")
    paths = sorted(folder.glob("*.toml"))
    if not paths:
        raise ConfigError(f"layer folder {display_path(folder)}: holds no *.toml layer definitions")
    definitions: dict[str, LayerDefinition] = {}
    problems: list[str] = []
    for path in paths:
        try:
            definition = load_layer_definition(path)
        except ConfigError as exc:
            problems.append(exc.detail)
            continue
        if definition.key in definitions:
            other = definitions[definition.key].source_path
            problems.append(
                f"{display_path(path)}: key '{definition.key}' is already declared in "
                f"{display_path(other) if other else 'another file'}"
            )
            continue
        definitions[definition.key] = definition
    if problems:
        raise ConfigError("; ".join(problems))
    return definitions


def load_layer_definition(path: Path) -> LayerDefinition:
    """Read and check one layer file."""
    source = display_path(path)
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{source}: cannot be read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: is not UTF-8 text ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from exc
    return parse_layer_definition(data, source=source, source_path=path)


def parse_layer_definition(
    data: Mapping[str, Any], *, source: str, source_path: Path | None = None
) -> LayerDefinition:
    """Check a parsed TOML document; every problem is named, all at once."""
    parser = _Parser(source)
    definition = parser.layer(data, source_path)
    if parser.problems or definition is None:
        raise ConfigError("; ".join(f"{source}: {problem}" for problem in parser.problems))
    return definition


def display_path(path: Path) -> str:
    """A path as short as it can be while still telling the user which file is meant."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


_TOP_KEYS = frozenset(
    {
        "key",
        "title",
        "description",
        "theme",
        "geometry_type",
        "id_attribute",
        "attributes",
        "classify",
        "style",
        "derived",
    }
)
_ATTRIBUTE_KEYS = frozenset(
    {"name", "type", "label", "unit", "required", "min", "max", "allowed", "aliases"}
)
_CLASSIFY_KEYS = frozenset({"attribute", "classes"})
_CLASS_KEYS = frozenset({"value", "min", "max", "label", "color"})
_STYLE_KEYS = frozenset(StyleSpec.__dataclass_fields__)
_DERIVED_KEYS = frozenset({"kind", "output", "label", "radius_attribute", "add", "default_radius"})
_MISSING = object()


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


class _Parser:
    """Collects problems while turning one TOML document into a ``LayerDefinition``."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []
        # Attributes declared but refused: references to them are not reported a second time.
        self.broken_attributes: set[str] = set()

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where} {message}" if where else message)

    # -- small typed getters: return a default and record a problem when the value is wrong

    def unknown_keys(self, table: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                prefix = f"{where}: " if where else ""
                self.problems.append(
                    f"{prefix}unknown key '{key}' (expected one of {', '.join(sorted(allowed))})"
                )

    def table(self, parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any] | None:
        value = parent.get(key, _MISSING)
        if value is _MISSING:
            return None
        if not isinstance(value, dict):
            self.problem(where, f"must be a table, not {_type_name(value)}")
            return None
        return value

    def string(
        self, parent: Mapping[str, Any], key: str, where: str, *, required: bool = True
    ) -> str | None:
        value = parent.get(key, _MISSING)
        if value is _MISSING:
            if required:
                self.problem(where, "is missing")
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(where, f"must be non-empty text, not {_type_name(value)}")
            return None
        return value

    def identifier(
        self, parent: Mapping[str, Any], key: str, where: str, *, required: bool = True
    ) -> str | None:
        value = self.string(parent, key, where, required=required)
        if value is not None and not _KEY_PATTERN.match(value):
            self.problem(
                where,
                f"'{value}' must be lower-case letters, digits and '_', starting with a letter",
            )
            return None
        return value

    def texts(self, parent: Mapping[str, Any], key: str, where: str) -> Text:
        value = parent.get(key, _MISSING)
        if value is _MISSING:
            self.problem(where, "is missing (needs the texts 'de' and 'en')")
            return Text("", "")
        if not isinstance(value, dict):
            self.problem(where, f"must be a table {{de = ..., en = ...}}, not {_type_name(value)}")
            return Text("", "")
        self.unknown_keys(value, frozenset({"de", "en"}), where)
        de = self.string(value, "de", f"{where}.de")
        en = self.string(value, "en", f"{where}.en")
        return Text(de or "", en or "")

    def number(
        self,
        parent: Mapping[str, Any],
        key: str,
        where: str,
        *,
        default: float,
        minimum: float | None = None,
        maximum: float | None = None,
        positive: bool = False,
    ) -> float:
        value = parent.get(key, _MISSING)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(where, f"must be a number, not {_type_name(value)}")
            return default
        if not math.isfinite(value):
            self.problem(where, f"must be a finite number, not {value}")
            return default
        if positive and value <= 0:
            self.problem(where, f"{value:g} must be greater than 0")
            return default
        if minimum is not None and value < minimum:
            self.problem(where, f"{value:g} is below {minimum:g}")
            return default
        if maximum is not None and value > maximum:
            self.problem(where, f"{value:g} is above {maximum:g}")
            return default
        return float(value)

    def color(
        self, parent: Mapping[str, Any], key: str, where: str, *, default: str | None
    ) -> str | None:
        value = parent.get(key, _MISSING)
        if value is _MISSING:
            if default is None:
                self.problem(where, "is missing")
            return default
        if not isinstance(value, str) or not _COLOR_PATTERN.match(value):
            shown = f"'{value}'" if isinstance(value, str) else _type_name(value)
            self.problem(where, f"{shown} is not a hex colour like #1f78b4")
            return default
        return value.lower()

    # -- sections

    def layer(self, data: Mapping[str, Any], source_path: Path | None) -> LayerDefinition | None:
        self.unknown_keys(data, _TOP_KEYS, "")
        key = self.identifier(data, "key", "key")
        title = self.texts(data, "title", "title")
        description = self.texts(data, "description", "description")
        theme = self.string(data, "theme", "theme")
        if theme is not None and theme not in THEMES:
            self.problem("theme", f"'{theme}' is not one of {', '.join(THEMES)}")
        geometry_types = self.geometry_types(data)
        attributes = self.attributes(data)
        by_name = {spec.name: spec for spec in attributes}
        id_attribute = self.identifier(data, "id_attribute", "id_attribute", required=False)
        if id_attribute is not None:
            spec = by_name.get(id_attribute)
            if spec is None:
                if id_attribute not in self.broken_attributes:
                    self.problem(
                        "id_attribute", f"'{id_attribute}' is not an attribute of this layer"
                    )
            elif spec.type not in ("string", "integer"):
                self.problem(
                    "id_attribute", f"'{id_attribute}' must be a string or integer attribute"
                )
        classify = self.classify(data, by_name)
        style = self.style(data)
        derived = self.derived(data, by_name)
        if self.problems or key is None or theme is None:
            return None
        return LayerDefinition(
            key=key,
            title=title,
            description=description,
            theme=theme,
            geometry_types=geometry_types,
            attributes=attributes,
            classify=classify,
            style=style,
            derived=derived,
            source_path=source_path,
            id_attribute=id_attribute,
        )

    def geometry_types(self, data: Mapping[str, Any]) -> tuple[str, ...]:
        value = data.get("geometry_type", _MISSING)
        if value is _MISSING:
            self.problem("geometry_type", "is missing")
            return ()
        items = value if isinstance(value, list) else [value]
        if not items:
            self.problem("geometry_type", "must name at least one geometry type")
            return ()
        result: list[str] = []
        for index, item in enumerate(items):
            where = f"geometry_type[{index}]" if isinstance(value, list) else "geometry_type"
            base = item.removeprefix("Multi") if isinstance(item, str) else None
            if base not in GEOMETRY_TYPES:
                shown = f"'{item}'" if isinstance(item, str) else _type_name(item)
                self.problem(
                    where,
                    f"{shown} is not one of {', '.join(GEOMETRY_TYPES)} "
                    "(their Multi forms are always accepted too)",
                )
            elif base in result:
                self.problem(where, f"'{item}' is listed twice")
            else:
                result.append(base)
        return tuple(result)

    def attributes(self, data: Mapping[str, Any]) -> tuple[AttributeSpec, ...]:
        value = data.get("attributes", _MISSING)
        if value is _MISSING:
            self.problem("attributes", "is missing (declare at least one [[attributes]])")
            return ()
        if not isinstance(value, list) or not value:
            self.problem("attributes", "must be a non-empty list of [[attributes]] tables")
            return ()
        specs: list[AttributeSpec] = []
        names: dict[str, str] = {}  # normalised name or alias -> "attributes[i] (name)"
        for index, entry in enumerate(value):
            where = f"attributes[{index}]"
            if not isinstance(entry, dict):
                self.problem(where, f"must be a table, not {_type_name(entry)}")
                continue
            spec = self.attribute(entry, where)
            if spec is None:
                if isinstance(entry.get("name"), str):
                    self.broken_attributes.add(entry["name"])
                continue
            owner = f"{where} ({spec.name})"
            if spec.name in RESERVED_ATTRIBUTE_NAMES:
                self.problem(f"{where}.name", f"'{spec.name}' is reserved")
            for i, candidate in enumerate((spec.name, *spec.aliases)):
                at = f"{where}.name" if i == 0 else f"{where}.aliases[{i - 1}]"
                normal = normalize_name(candidate)
                if not normal:
                    self.problem(at, f"'{candidate}' has no letters or digits")
                elif normal in names and names[normal] != owner:
                    self.problem(at, f"'{candidate}' also names {names[normal]}")
                else:
                    names[normal] = owner
            specs.append(spec)
        return tuple(specs)

    def attribute(self, entry: Mapping[str, Any], where: str) -> AttributeSpec | None:
        before = len(self.problems)
        self.unknown_keys(entry, _ATTRIBUTE_KEYS, where)
        name = self.identifier(entry, "name", f"{where}.name")
        type_ = self.string(entry, "type", f"{where}.type")
        if type_ is not None and type_ not in ATTRIBUTE_TYPES:
            self.problem(f"{where}.type", f"'{type_}' is not one of {', '.join(ATTRIBUTE_TYPES)}")
            type_ = None
        label = self.texts(entry, "label", f"{where}.label")
        unit = self.string(entry, "unit", f"{where}.unit", required=False)
        required = entry.get("required", False)
        if not isinstance(required, bool):
            self.problem(f"{where}.required", f"must be true or false, not {_type_name(required)}")
            required = False
        aliases: list[str] = []
        raw_aliases = entry.get("aliases", [])
        if not isinstance(raw_aliases, list):
            self.problem(
                f"{where}.aliases", f"must be a list of texts, not {_type_name(raw_aliases)}"
            )
        else:
            for i, alias in enumerate(raw_aliases):
                if not isinstance(alias, str) or not alias.strip():
                    self.problem(f"{where}.aliases[{i}]", "must be non-empty text")
                else:
                    aliases.append(alias)
        if type_ is None or name is None:
            return None
        if unit is not None and type_ not in ("integer", "real"):
            self.problem(
                f"{where}.unit", f"only integer and real attributes have a unit, not {type_}"
            )
        bounds = [self.bound(entry, key, f"{where}.{key}", type_) for key in ("min", "max")]
        low, high = bounds
        if low is not None and high is not None and low > high:  # type: ignore[operator]
            self.problem(f"{where}.min", f"{low} is greater than max {high}")
        allowed, value_aliases = self.allowed(entry, f"{where}.allowed", type_)
        if len(self.problems) > before:
            return None
        spec = AttributeSpec(
            name=name,
            type=type_,
            label=label,
            unit=unit,
            required=required,
            min=low,
            max=high,
            allowed=allowed,
            value_aliases=value_aliases,
            aliases=tuple(aliases),
        )
        for index, value in enumerate(allowed):
            _, reason = coerce_value(spec, value)
            if reason is not None:
                self.problem(f"{where}.allowed[{index}]", f"{value!r} is outside min/max")
        return spec

    def bound(
        self, entry: Mapping[str, Any], key: str, where: str, type_: str
    ) -> int | float | date | None:
        value = entry.get(key, _MISSING)
        if value is _MISSING:
            return None
        if type_ == "integer" and isinstance(value, int) and not isinstance(value, bool):
            return value
        if type_ == "real" and _is_number(value) and math.isfinite(value):
            return value
        if type_ == "date" and isinstance(value, date) and not isinstance(value, datetime):
            return value
        if type_ in ("string", "boolean"):
            self.problem(where, f"a {type_} attribute has no {key}")
        else:
            expected = {"integer": "a whole number", "real": "a number", "date": "a date"}[type_]
            self.problem(where, f"must be {expected}, not {_type_name(value)}")
        return None

    def allowed(
        self, entry: Mapping[str, Any], where: str, type_: str
    ) -> tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]]:
        value = entry.get("allowed", _MISSING)
        if value is _MISSING:
            return (), ()
        if type_ not in ("string", "integer", "real"):
            self.problem(where, f"a {type_} attribute cannot list allowed values")
            return (), ()
        if not isinstance(value, list) or not value:
            self.problem(where, "must be a non-empty list")
            return (), ()
        allowed: list[Any] = []
        value_aliases: list[tuple[str, Any]] = []
        seen: set[str] = set()
        for index, item in enumerate(value):
            at = f"{where}[{index}]"
            aliases: list[str] = []
            if isinstance(item, dict):
                self.unknown_keys(item, frozenset({"value", "aliases"}), at)
                raw_aliases = item.get("aliases", [])
                if type_ != "string" and raw_aliases:
                    self.problem(f"{at}.aliases", "only string attributes take value aliases")
                elif not isinstance(raw_aliases, list) or not all(
                    isinstance(a, str) and a.strip() for a in raw_aliases
                ):
                    self.problem(f"{at}.aliases", "must be a list of non-empty texts")
                else:
                    aliases = raw_aliases
                item = item.get("value", _MISSING)
                if item is _MISSING:
                    self.problem(f"{at}.value", "is missing")
                    continue
            if not _fits_type(item, type_):
                self.problem(at, f"{item!r} is not a valid {type_} value")
                continue
            for spelling in (str(item), *aliases):
                normal = normalize_name(spelling)
                if normal in seen:
                    self.problem(at, f"'{spelling}' is listed twice")
                seen.add(normal)
            allowed.append(item)
            value_aliases.extend((alias, item) for alias in aliases)
        return tuple(allowed), tuple(value_aliases)

    def classify(
        self, data: Mapping[str, Any], by_name: Mapping[str, AttributeSpec]
    ) -> ClassifySpec | None:
        table = self.table(data, "classify", "classify")
        if table is None:
            return None
        self.unknown_keys(table, _CLASSIFY_KEYS, "classify")
        attribute = self.string(table, "attribute", "classify.attribute")
        spec = by_name.get(attribute) if attribute else None
        if attribute is not None and spec is None and attribute not in self.broken_attributes:
            self.problem("classify.attribute", f"'{attribute}' is not an attribute of this layer")
        if spec is not None and spec.type in ("date", "boolean"):
            self.problem("classify.attribute", f"'{attribute}' is a {spec.type}; cannot classify")
            spec = None
        entries = table.get("classes", _MISSING)
        if not isinstance(entries, list) or not entries:
            self.problem("classify.classes", "must be a non-empty list of [[classify.classes]]")
            return None
        classes: list[ClassSpec] = []
        for index, entry in enumerate(entries):
            where = f"classify.classes[{index}]"
            if not isinstance(entry, dict):
                self.problem(where, f"must be a table, not {_type_name(entry)}")
                continue
            cls = self.class_spec(entry, where, spec)
            if cls is not None:
                classes.append(cls)
        self.check_classes(classes)
        if attribute is None:
            return None
        return ClassifySpec(attribute, tuple(classes))

    def class_spec(
        self, entry: Mapping[str, Any], where: str, spec: AttributeSpec | None
    ) -> ClassSpec | None:
        before = len(self.problems)
        self.unknown_keys(entry, _CLASS_KEYS, where)
        label = self.texts(entry, "label", f"{where}.label")
        color = self.color(entry, "color", f"{where}.color", default=None)
        has_value = "value" in entry
        has_range = "min" in entry or "max" in entry
        value: Any = None
        low: Any = None
        high: Any = None
        if has_value == has_range:
            self.problem(where, "needs either 'value' or a range 'min'/'max' (not both)")
        elif has_value:
            value = entry["value"]
            if spec is not None:
                coerced, reason = coerce_value(spec, value)
                if reason is not None or coerced != value or not _fits_type(value, spec.type):
                    shown = reason.split(": ", 1)[-1] if reason else f"not a {spec.type} value"
                    self.problem(f"{where}.value", f"{value!r} does not fit {spec.name} ({shown})")
        else:
            if spec is not None and not spec.numeric:
                self.problem(
                    where, f"a range needs a numeric attribute; {spec.name} is {spec.type}"
                )
            for key in ("min", "max"):
                bound = entry.get(key)
                if bound is not None and (
                    isinstance(bound, bool)
                    or not isinstance(bound, int | float)
                    or not math.isfinite(bound)
                ):
                    self.problem(f"{where}.{key}", f"must be a number, not {_type_name(bound)}")
            low, high = entry.get("min"), entry.get("max")
            if _is_number(low) and _is_number(high) and low >= high:
                self.problem(where, f"min {low} must be below max {high}")
        if len(self.problems) > before or color is None:
            return None
        return ClassSpec(label=label, color=color, value=value, min=low, max=high)

    def check_classes(self, classes: list[ClassSpec]) -> None:
        if not classes:
            return
        if len({cls.is_range for cls in classes}) > 1:
            self.problem("classify.classes", "mix exact values and ranges; use one or the other")
            return
        if not classes[0].is_range:
            seen: set[object] = set()
            for index, cls in enumerate(classes):
                key = normalize_name(cls.value) if isinstance(cls.value, str) else cls.value
                if key in seen:
                    self.problem(
                        f"classify.classes[{index}].value", f"{cls.value!r} is listed twice"
                    )
                seen.add(key)
            return
        for index, cls in enumerate(classes):
            where = f"classify.classes[{index}]"
            if cls.min is None and index > 0:
                self.problem(f"{where}.min", "only the first class may be open below")
            if cls.max is None and index < len(classes) - 1:
                self.problem(f"{where}.max", "only the last class may be open above")
            if index > 0:
                previous = classes[index - 1]
                if previous.max is not None and cls.min is not None and cls.min < previous.max:
                    self.problem(
                        f"{where}.min",
                        f"{cls.min} overlaps the previous class (which ends at {previous.max}); "
                        "list ranges in ascending order, each [min, max)",
                    )

    def style(self, data: Mapping[str, Any]) -> StyleSpec:
        table = self.table(data, "style", "style")
        if table is None:
            return StyleSpec()
        self.unknown_keys(table, _STYLE_KEYS, "style")
        base = StyleSpec()
        stroke = self.color(table, "stroke_color", "style.stroke_color", default=base.stroke_color)
        fill = self.color(table, "fill_color", "style.fill_color", default=stroke)
        return StyleSpec(
            stroke_color=stroke or base.stroke_color,
            stroke_width=self.number(
                table, "stroke_width", "style.stroke_width", default=base.stroke_width, minimum=0
            ),
            stroke_opacity=self.number(
                table,
                "stroke_opacity",
                "style.stroke_opacity",
                default=base.stroke_opacity,
                minimum=0,
                maximum=1,
            ),
            fill_color=fill or base.fill_color,
            fill_opacity=self.number(
                table,
                "fill_opacity",
                "style.fill_opacity",
                default=base.fill_opacity,
                minimum=0,
                maximum=1,
            ),
            point_radius=self.number(
                table,
                "point_radius",
                "style.point_radius",
                default=base.point_radius,
                positive=True,
            ),
        )

    def derived(
        self, data: Mapping[str, Any], by_name: Mapping[str, AttributeSpec]
    ) -> DerivedSpec | None:
        table = self.table(data, "derived", "derived")
        if table is None:
            return None
        before = len(self.problems)
        self.unknown_keys(table, _DERIVED_KEYS, "derived")
        kind = self.string(table, "kind", "derived.kind")
        if kind is not None and kind not in DERIVED_KINDS:
            self.problem("derived.kind", f"'{kind}' is not one of {', '.join(DERIVED_KINDS)}")
        output = self.identifier(table, "output", "derived.output")
        if output is not None and output in by_name:
            self.problem("derived.output", f"'{output}' is already an attribute name")
        label = self.texts(table, "label", "derived.label")
        radius_attribute = self.string(
            table, "radius_attribute", "derived.radius_attribute", required=False
        )
        if radius_attribute is not None:
            spec = by_name.get(radius_attribute)
            if spec is None:
                if radius_attribute not in self.broken_attributes:
                    self.problem(
                        "derived.radius_attribute",
                        f"'{radius_attribute}' is not an attribute of this layer",
                    )
            elif not spec.numeric:
                self.problem(
                    "derived.radius_attribute",
                    f"'{radius_attribute}' must be an integer or real attribute "
                    f"(it is {spec.type})",
                )
            elif spec.unit not in (None, "m"):
                self.problem(
                    "derived.radius_attribute",
                    f"'{radius_attribute}' must be in metres (its unit is {spec.unit})",
                )
        add = self.number(table, "add", "derived.add", default=0.0, minimum=0)
        if "default_radius" not in table:
            self.problem("derived.default_radius", "is missing")
        default_radius = self.number(
            table, "default_radius", "derived.default_radius", default=1.0, positive=True
        )
        if len(self.problems) > before or kind is None or output is None:
            return None
        return DerivedSpec(
            kind=kind,
            output=output,
            label=label,
            default_radius=default_radius,
            radius_attribute=radius_attribute,
            add=add,
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fits_type(value: object, type_: str) -> bool:
    if type_ == "string":
        return isinstance(value, str)
    if type_ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ == "real":
        return _is_number(value)
    if type_ == "date":
        return isinstance(value, date)
    return isinstance(value, bool)


# --------------------------------------------------------------------------- field matching


def match_fields(
    source_fields: Sequence[str],
    definition: LayerDefinition,
    explicit: Mapping[str, str] | None = None,
) -> FieldMatch:
    """Decide which source field feeds which attribute.

    The explicit mapping (source field -> attribute; an empty attribute means "ignore this
    field") wins. Then, per attribute in declared order, its name and aliases in order are
    compared with the remaining source fields via ``normalize_name``; the first hit wins, so
    with both NAME and LANGNAME present, ``name`` takes NAME. Last, source names of exactly ten
    characters are compared with the first ten characters of names and aliases, because
    Shapefiles cut field names there ("Stammdurchmesser" arrives as "Stammdurch").
    """
    mapping: dict[str, str] = {}
    ignored: set[str] = set()
    taken: set[str] = set()
    if explicit:
        mapping, ignored = _explicit_mapping(source_fields, definition, explicit)
        taken = set(mapping.values())

    remaining = [name for name in source_fields if name not in mapping and name not in ignored]
    normalized = {name: normalize_name(name) for name in remaining}

    def assign(
        candidate_key: Callable[[str], str | None], source_key: Callable[[str], str]
    ) -> None:
        for spec in definition.attributes:
            if spec.name in taken:
                continue
            for candidate in (spec.name, *spec.aliases):
                wanted = candidate_key(candidate)
                if not wanted:
                    continue
                hit = next(
                    (s for s in remaining if s not in mapping and source_key(s) == wanted), None
                )
                if hit is not None:
                    mapping[hit] = spec.name
                    taken.add(spec.name)
                    break

    assign(normalize_name, lambda s: normalized[s])

    def truncated(candidate: str) -> str | None:
        return (
            normalize_name(candidate[:DBF_NAME_LENGTH])
            if len(candidate) > DBF_NAME_LENGTH
            else None
        )

    assign(
        truncated,
        lambda s: normalized[s] if len(s) == DBF_NAME_LENGTH else "",
    )

    return FieldMatch(
        mapping={s: mapping[s] for s in source_fields if s in mapping},
        unmatched_source=[s for s in source_fields if s not in mapping],
        missing_required=[
            spec.name for spec in definition.attributes if spec.required and spec.name not in taken
        ],
    )


def _explicit_mapping(
    source_fields: Sequence[str], definition: LayerDefinition, explicit: Mapping[str, str]
) -> tuple[dict[str, str], set[str]]:
    """Check the user's mapping against the file and the layer; name every mistake."""
    errors: list[FieldError] = []
    mapping: dict[str, str] = {}
    ignored: set[str] = set()
    by_normal: dict[str, list[str]] = {}
    for name in source_fields:
        by_normal.setdefault(normalize_name(name), []).append(name)
    attribute_names = definition.attribute_names
    for given, attribute in explicit.items():
        pointer = f"/map/{given}"
        if given in source_fields:
            source = given
        else:
            candidates = by_normal.get(normalize_name(given), [])
            if len(candidates) != 1:
                errors.append(
                    FieldError(
                        pointer,
                        f"source field '{given}' is not in the file "
                        f"(its fields: {', '.join(source_fields) or 'none'})",
                    )
                )
                continue
            source = candidates[0]
        if not attribute:
            ignored.add(source)
            continue
        if attribute not in attribute_names:
            errors.append(
                FieldError(
                    pointer,
                    f"'{attribute}' is not an attribute of layer '{definition.key}' "
                    f"(its attributes: {', '.join(attribute_names)})",
                )
            )
            continue
        if source in mapping and mapping[source] != attribute:
            errors.append(FieldError(pointer, f"source field '{source}' is mapped twice"))
            continue
        other = next((s for s, a in mapping.items() if a == attribute and s != source), None)
        if other is not None:
            errors.append(
                FieldError(
                    pointer,
                    f"source fields '{other}' and '{source}' both map to attribute '{attribute}'",
                )
            )
            continue
        mapping[source] = attribute
    if errors:
        raise InvalidInput(
            "field mapping: " + "; ".join(error.detail for error in errors), field_errors=errors
        )
    return mapping, ignored


# --------------------------------------------------------------------------- values


def coerce_value(spec: AttributeSpec, raw: object) -> tuple[object | None, str | None]:
    """Convert one raw source value to the attribute's type: ``(value, None)`` or ``(None, why)``.

    Empty text, None and NaN are missing values: ``(None, None)``, or a reason when the
    attribute is required. Reasons name the attribute, so the importer can show them as they
    are next to the row number. Text input is read the way German files write it: decimal
    comma ("1,5"), thousands dots ("1.234,5"), dates as "dd.mm.yyyy", booleans as ja/nein, a
    trailing unit equal to the declared one ("35 cm").
    """
    # Fast paths first: most values already arrive with the right Python type.
    kind = spec.type
    if raw is None:
        return _missing(spec)
    if type(raw) is not str:
        raw = _plain_scalar(raw)
        if raw is None or (isinstance(raw, float) and math.isnan(raw)):
            return _missing(spec)
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return _missing(spec)
        value, reason = _FROM_TEXT[kind](spec, text)
    else:
        value, reason = _FROM_VALUE[kind](spec, raw)
    if reason is not None:
        return None, f"{spec.name}: {reason}"
    if value is None:
        return _missing(spec)
    return _check_limits(spec, value)


def _missing(spec: AttributeSpec) -> tuple[None, str | None]:
    return None, (f"{spec.name}: a value is required" if spec.required else None)


def _plain_scalar(raw: object) -> object:
    """numpy / pandas scalars as plain Python values, without importing either."""
    type_name = type(raw).__name__
    if type_name in _MISSING_TYPE_NAMES:
        return None
    if type_name == "datetime64":
        text = str(raw)
        return None if text == "NaT" else text
    if not isinstance(raw, str | bytes | int | float | date) and hasattr(raw, "item"):
        try:
            return raw.item()  # type: ignore[attr-defined]
        except (TypeError, ValueError):
            return raw
    return raw


def _shown(raw: object) -> str:
    text = str(raw)
    return f"'{text[:60]}…'" if len(text) > 60 else f"'{text}'"


def _strip_unit(spec: AttributeSpec, text: str) -> str:
    if spec.unit:
        folded = text.casefold()
        for unit in {spec.unit, spec.unit.replace("³", "3").replace("²", "2")}:
            if folded.endswith(unit.casefold()):
                return text[: -len(unit)].strip()
    return text


def _parse_number(text: str) -> float | None:
    """Decimal comma or point, optional thousands separators; None when it is not a number."""
    text = text.replace("\u00a0", "").replace("\u202f", "").replace(" ", "").replace("'", "")
    if text.casefold() == "nan":  # numbers that went through pandas/numpy as text
        return math.nan
    if "," in text and "." in text:
        if text.rfind(",") > text.rfind("."):
            text = text.replace(".", "").replace(",", ".")
        else:
            text = text.replace(",", "")
    elif "," in text:
        if text.count(",") == 1:
            text = text.replace(",", ".")
        elif re.fullmatch(r"[+-]?\d{1,3}(?:,\d{3})+", text):
            text = text.replace(",", "")
        else:
            return None
    elif text.count(".") > 1:
        if not re.fullmatch(r"[+-]?\d{1,3}(?:\.\d{3})+", text):
            return None
        text = text.replace(".", "")
    if not re.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", text):
        return None
    return float(text)


def _string_from_text(spec: AttributeSpec, text: str) -> tuple[object, str | None]:
    return _canonical(spec, text)


def _string_from_value(spec: AttributeSpec, raw: object) -> tuple[object, str | None]:
    if isinstance(raw, bool):
        text = "true" if raw else "false"
    elif isinstance(raw, float):
        if not math.isfinite(raw):
            return None, f"{_shown(raw)} is not a usable value"
        text = str(int(raw)) if raw.is_integer() else repr(raw)
    elif isinstance(raw, int):
        text = str(raw)
    elif isinstance(raw, date):
        text = raw.isoformat()
    else:
        return None, f"{_shown(raw)} is not a single value"
    return _canonical(spec, text)


def _canonical(spec: AttributeSpec, text: str) -> tuple[object, str | None]:
    """The text itself, or for coded attributes the canonical allowed value it spells."""
    if not spec.allowed:
        return text, None
    lookup = spec._allowed_lookup
    hit = lookup.get(normalize_name(text))
    if hit is None and (match := _CODE_WITH_LABEL.match(text)):
        for part in match.groups():
            if part and (hit := lookup.get(normalize_name(part))) is not None:
                break
    if hit is None:
        return None, f"{_shown(text)} is not one of {', '.join(map(str, spec.allowed))}"
    return hit, None


def _integer_from_text(spec: AttributeSpec, text: str) -> tuple[object, str | None]:
    number = _parse_number(_strip_unit(spec, text))
    if number is None:
        return None, f"{_shown(text)} is not a whole number"
    if math.isnan(number):
        return None, None
    return _integer_from_value(spec, number)


def _integer_from_value(spec: AttributeSpec, raw: object) -> tuple[object, str | None]:
    if isinstance(raw, bool):
        return None, f"{_shown(raw)} is not a whole number"
    if isinstance(raw, int):
        return raw, None
    if isinstance(raw, float):
        if not math.isfinite(raw) or not raw.is_integer():
            return None, f"{_shown(_format(raw))} is not a whole number"
        return int(raw), None
    return None, f"{_shown(raw)} is not a whole number"


def _real_from_text(spec: AttributeSpec, text: str) -> tuple[object, str | None]:
    number = _parse_number(_strip_unit(spec, text))
    if number is None:
        return None, f"{_shown(text)} is not a number"
    if math.isnan(number):
        return None, None
    return _real_from_value(spec, number)


def _real_from_value(spec: AttributeSpec, raw: object) -> tuple[object, str | None]:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None, f"{_shown(raw)} is not a number"
    if not math.isfinite(raw):
        return None, f"{_shown(raw)} is not a finite number"
    return float(raw), None


def _date_from_text(spec: AttributeSpec, text: str) -> tuple[object, str | None]:
    for pattern, order in ((_ISO_DATE, "ymd"), (_GERMAN_DATE, "dmy"), (_SLASH_DATE, "ymd")):
        match = pattern.match(text)
        if match:
            parts = dict(zip(order, map(int, match.groups()[:3]), strict=True))
            try:
                return date(parts["y"], parts["m"], parts["d"]), None
            except ValueError:
                return None, f"{_shown(text)} is not a valid date"
    return None, f"{_shown(text)} is not a date (expected YYYY-MM-DD or DD.MM.YYYY)"


def _date_from_value(spec: AttributeSpec, raw: object) -> tuple[object, str | None]:
    if isinstance(raw, datetime):
        return raw.date(), None
    if isinstance(raw, date):
        return raw, None
    return None, f"{_shown(raw)} is not a date (expected YYYY-MM-DD or DD.MM.YYYY)"


def _boolean_from_text(spec: AttributeSpec, text: str) -> tuple[object, str | None]:
    word = text.casefold()
    if word in _TRUE_WORDS:
        return True, None
    if word in _FALSE_WORDS:
        return False, None
    return None, f"{_shown(text)} is not yes/no (ja/nein, true/false, 1/0)"


def _boolean_from_value(spec: AttributeSpec, raw: object) -> tuple[object, str | None]:
    if isinstance(raw, bool):
        return raw, None
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw), None
    return None, f"{_shown(raw)} is not yes/no (ja/nein, true/false, 1/0)"


_Converter = Callable[[AttributeSpec, Any], tuple[object, str | None]]
_FROM_TEXT: dict[str, _Converter] = {
    "string": _string_from_text,
    "integer": _integer_from_text,
    "real": _real_from_text,
    "date": _date_from_text,
    "boolean": _boolean_from_text,
}
_FROM_VALUE: dict[str, _Converter] = {
    "string": _string_from_value,
    "integer": _integer_from_value,
    "real": _real_from_value,
    "date": _date_from_value,
    "boolean": _boolean_from_value,
}


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _check_limits(spec: AttributeSpec, value: Any) -> tuple[object | None, str | None]:
    if spec.min is not None and value < spec.min:
        return None, f"{spec.name}: {_format(value)} is below the minimum {_format(spec.min)}"
    if spec.max is not None and value > spec.max:
        return None, f"{spec.name}: {_format(value)} is above the maximum {_format(spec.max)}"
    if spec.allowed and spec.type != "string" and value not in spec.allowed:
        allowed = ", ".join(_format(v) for v in spec.allowed)
        return None, f"{spec.name}: {_format(value)} is not one of {allowed}"
    return value, None


# --------------------------------------------------------------------------- classes, derived


def classify_value(definition: LayerDefinition, value: object) -> ClassSpec | None:
    """The class ``value`` of the classifying attribute falls into, or None.

    Ranges are [min, max): a boundary value belongs to the class it starts. Raw text is
    coerced first, so "2,5" and "RÜB (Regenüberlaufbecken)" classify like 2.5 and "RÜB".
    """
    classify = definition.classify
    if classify is None or value is None:
        return None
    if isinstance(value, str) or type(value).__module__ == "numpy":
        value, reason = coerce_value(definition.attribute(classify.attribute), value)
        if reason is not None or value is None:
            return None
    for cls in classify.classes:
        if cls.matches(value):
            return cls
    return None


def derive_geometry(
    definition: LayerDefinition, geometry: BaseGeometry, properties: Mapping[str, object]
) -> BaseGeometry | None:
    """The derived geometry of one feature (metric CRS), or None when the layer has none."""
    derived = definition.derived
    if derived is None:
        return None
    value = properties.get(derived.radius_attribute) if derived.radius_attribute else None
    return geometry.buffer(derived.radius_for(value))
