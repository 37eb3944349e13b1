"""Coordination rules [Regeln]: when two things meet, what it means.

A rule names two subjects (``a`` is always a project selector; ``b`` a project selector or a
layer selector with attribute conditions), a spatial test, a temporal test, a relation
(conflict, synergy, note), a severity and a message. Rules are data in a TOML file
(``layers/rules/coordination.toml`` by default, documented in ``layers/rules/README.md``) so a
region can tune them without touching code; this module turns the file into frozen dataclasses
and refuses a broken file at start with a message naming the file, the rule and the field, one
problem per line.

A rule that names organisations, departments or measure types the configured vocabulary lacks
is not broken but *inactive*: another region starts from the shipped rules, which name the
Emscher region's keys, and adapts them one by one. Inactive rules are loaded and listed with
the keys they miss (``RuleSet.inactive``) but take no part in detection.

The semantics of the tests live in ``zugabe.engine.detection``; the scalar helpers here
(``ProjectSelector.matches``, ``Condition.holds``) state them in plain Python for readers,
services and the tests' brute-force oracle.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

from zugabe.domain.layers import AttributeSpec, LayerDefinition, Text, default_layers_folder
from zugabe.domain.project import ProjectAttributes, Status
from zugabe.domain.toml_checks import TomlChecker, known, read_toml, refuse
from zugabe.domain.vocabulary import Vocabulary

RELATIONS = ("conflict", "synergy", "note")
SEVERITIES = ("low", "medium", "high")
OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "in")
SPATIAL_TESTS = ("intersects", "within")
TEMPORAL_TESTS = ("none", "overlap", "gap_months", "moratorium", "year_window")
# Done and cancelled projects cause no new coordination unless a rule asks for them (a
# finished resurfacing still imposes its moratorium).
DEFAULT_STATUSES: tuple[Status, ...] = (
    Status.IDEA,
    Status.PLANNING,
    Status.APPROVED,
    Status.UNDER_CONSTRUCTION,
)
# Project fields a message may show as {a.<field>} / {b.<field>}.
PROJECT_FIELDS = ("id", "title", "organisation", "department", "measure_type", "status")
PROJECT_DATE_FIELDS = ("start", "end")
# Measures of a finding a message may show.
MEASURE_PLACEHOLDERS = ("distance_m", "overlap_m", "overlap_m2", "overlap_days", "gap_months")
LAYER_PLACEHOLDERS = ("layer", "id", "title")

_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

_RULE_KEYS = frozenset(
    {
        "id",
        "name",
        "relation",
        "severity",
        "a",
        "b",
        "spatial",
        "temporal",
        "message",
        "involve",
        "same_department",
        "fallback",
    }
)
_PROJECT_SELECTOR_KEYS = frozenset({"organisations", "departments", "measure_types", "statuses"})
_LAYER_SELECTOR_KEYS = frozenset({"layer", "where", "use_derived"})
_CONDITION_KEYS = frozenset({"attribute", "operator", "value"})
_SPATIAL_KEYS = frozenset({"test", "distance", "min_length", "min_area"})
_TEMPORAL_KEYS = frozenset({"test", "months", "years", "attribute"})
_INVOLVE_KEYS = frozenset({"organisations", "departments"})

Scalar = str | int | float | bool | date


# --------------------------------------------------------------------------- dataclasses


def value_kind(value: object) -> str | None:
    """The comparison family of a value: conditions only compare within one family.

    Booleans are not numbers here (``True == 1`` would otherwise hold), so a condition
    behaves the same in plain Python and in the engine's numpy arrays.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, date):
        return "date"
    return None


@dataclass(frozen=True)
class Condition:
    """``attribute operator value``, e.g. ``condition_class <= 2``; ``in`` takes a tuple."""

    attribute: str
    operator: str
    value: Scalar | tuple[Scalar, ...]

    @property
    def kind(self) -> str:
        """The value family the condition compares in (number, text, bool, date)."""
        first = self.value[0] if isinstance(self.value, tuple) else self.value
        kind = value_kind(first)
        assert kind is not None, "checked by the loader"
        return kind

    def holds(self, value: object) -> bool:
        """Whether a feature's value meets the condition; a missing value never does."""
        if value_kind(value) != self.kind:
            return False
        wanted = self.value
        op = self.operator
        if op == "in":
            assert isinstance(wanted, tuple)
            return any(value == item for item in wanted)
        if op == "==":
            return value == wanted
        if op == "!=":
            return value != wanted
        if op == "<":
            return value < wanted  # type: ignore[operator]
        if op == "<=":
            return value <= wanted  # type: ignore[operator]
        if op == ">":
            return value > wanted  # type: ignore[operator]
        return value >= wanted  # type: ignore[operator]

    def describe(self) -> str:
        shown = list(self.value) if isinstance(self.value, tuple) else self.value
        return f"{self.attribute} {self.operator} {shown!r}"


@dataclass(frozen=True)
class ProjectSelector:
    """Which projects a subject stands for; an empty list means any."""

    kind: ClassVar[str] = "project"

    organisations: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    measure_types: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = DEFAULT_STATUSES

    def matches(self, attributes: ProjectAttributes) -> bool:
        return (
            (not self.organisations or attributes.organisation in self.organisations)
            and (not self.departments or attributes.department in self.departments)
            and (not self.measure_types or attributes.measure_type in self.measure_types)
            and attributes.status in self.statuses
        )


@dataclass(frozen=True)
class LayerSelector:
    """Features of one layer meeting all conditions; ``use_derived`` tests the derived shape.

    A feature without a derived geometry is tested with its own geometry.
    """

    kind: ClassVar[str] = "layer"

    layer: str
    where: tuple[Condition, ...] = ()
    use_derived: bool = False

    def matches(self, attributes: Mapping[str, Any]) -> bool:
        return all(c.holds(attributes.get(c.attribute)) for c in self.where)


@dataclass(frozen=True)
class SpatialTest:
    """``intersects`` (touching counts) or ``within`` ``distance`` metres, plus minimum overlap.

    With a minimum, the overlap must reach it: for ``intersects`` the overlap is the
    intersection of a and b; for ``within`` it is the part of b lying within ``distance`` of a
    (b ∩ buffer(a, distance)), so a sewer running 1.5 m beside a road's centre line has an
    overlap length. Given both minimums, reaching either suffices.
    """

    test: str
    distance: float = 0.0
    min_length: float | None = None
    min_area: float | None = None

    @property
    def has_minimum(self) -> bool:
        return self.min_length is not None or self.min_area is not None

    def reaches_minimum(self, length: float, area: float) -> bool:
        if self.min_length is not None and self.min_area is not None:
            return length >= self.min_length or area >= self.min_area
        if self.min_length is not None:
            return length >= self.min_length
        if self.min_area is not None:
            return area >= self.min_area
        return True


@dataclass(frozen=True)
class TemporalTest:
    """How the two subjects must relate in time (see ``layers/rules/README.md``).

    - ``none``: no condition;
    - ``overlap``: the project windows share a day (missing start/end = open-ended);
    - ``gap_months``: they overlap or the later starts at most ``months`` calendar months
      after the earlier ends;
    - ``moratorium``: b's end (or the year in b's ``attribute``) lies less than ``years`` years
      before a's start, and not after it;
    - ``year_window``: the year in b's ``attribute`` lies within a's window ± ``years`` years.
    """

    test: str
    months: int | None = None
    years: int | None = None
    attribute: str | None = None


@dataclass(frozen=True)
class MissingKeys:
    """Keys named in one field of a rule that the vocabulary lacks, e.g. ``a.departments``."""

    field: str
    keys: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.field}: {', '.join(self.keys)}"


@dataclass(frozen=True)
class Rule:
    """One coordination rule as declared in the rule file; inactive while it misses keys."""

    id: str
    name: Text
    relation: str
    severity: str
    a: ProjectSelector
    b: ProjectSelector | LayerSelector
    spatial: SpatialTest
    temporal: TemporalTest
    message: Text
    involve_organisations: tuple[str, ...] = ()
    involve_departments: tuple[str, ...] = ()
    same_department: bool = False
    fallback: bool = False
    # Which organisations have each involved department: the engine involves the project's
    # own organisation's department where it has one.
    department_organisations: Mapping[str, frozenset[str]] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )
    missing: tuple[MissingKeys, ...] = ()

    @property
    def active(self) -> bool:
        """Whether the rule takes part in detection: it names only keys the vocabulary has."""
        return not self.missing

    @property
    def layer(self) -> str | None:
        """The layer key of subject b, or None for a project pair rule."""
        return self.b.layer if isinstance(self.b, LayerSelector) else None

    @functools.cached_property
    def placeholders(self) -> frozenset[str]:
        """The values the rule's messages show, in either language: all a finding needs."""
        return frozenset(self._messages[0])

    @functools.cached_property
    def _messages(self) -> tuple[tuple[str, ...], str, str]:
        """The placeholders of both templates, and each template as a ``str.format``
        pattern over them by position: a batch run fills a quarter of a million messages
        in each language, one call each."""
        names: dict[str, int] = {}
        patterns = []
        for template in (self.message.de, self.message.en):
            pattern = []
            for literal, name in _template_parts(template):
                pattern.append(literal.replace("{", "{{").replace("}", "}}"))
                if name is not None:
                    pattern.append(f"{{{names.setdefault(name, len(names))}}}")
            patterns.append("".join(pattern))
        return tuple(names), patterns[0], patterns[1]

    @property
    def message_names(self) -> tuple[str, ...]:
        """The placeholders of both messages, in the order ``fill`` takes their values."""
        return self._messages[0]

    def render(self, lang: str, values: Mapping[str, object]) -> str:
        """The message in ``lang`` ("de" or "en") with its placeholders filled in."""
        return self.messages(values)[lang]

    def messages(self, values: Mapping[str, object]) -> dict[str, str]:
        """The message in both languages, placeholders filled in."""
        return self.fill([values.get(name) for name in self.message_names])

    def fill(self, values: Sequence[object]) -> dict[str, str]:
        """The message in both languages from the values of ``message_names`` in that
        order, each formatted once for the two."""
        _, de, en = self._messages
        shown = [format_value(value) for value in values]
        return {"de": de.format(*shown), "en": en.format(*shown)}


@functools.lru_cache(maxsize=1024)
def _template_parts(template: str) -> tuple[tuple[str, str | None], ...]:
    """A message template split once into (literal text, placeholder after it or None):
    a batch run renders a quarter of a million messages in each language."""
    parts: list[tuple[str, str | None]] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append((template[position : match.start()], match.group(1)))
        position = match.end()
    parts.append((template[position:], None))
    return tuple(parts)


def format_value(value: object) -> str:
    """A value as a message shows it: metres and days rounded, dates ISO, missing as '–'."""
    if type(value) is str:  # the common case first: a batch run formats millions
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 10 or value.is_integer() else f"{value:.1f}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class RuleSet:
    """The rules of a rule file, in file order; only the active ones detect."""

    source: str
    rules: tuple[Rule, ...]

    @property
    def active(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.active)

    @property
    def inactive(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if not rule.active)


# --------------------------------------------------------------------------- loading


def default_rules_path() -> Path:
    """The shipped rule set, beside the layer definitions it refers to."""
    return default_layers_folder() / "rules" / "coordination.toml"


def load_rules(
    path: Path, vocabulary: Vocabulary, layer_definitions: Mapping[str, LayerDefinition]
) -> RuleSet:
    """Read and check a rule file; every problem raises one ``ConfigError`` naming them all."""
    source, data = read_toml(path, "rule file")
    return parse_rules(
        data, source=source, vocabulary=vocabulary, layer_definitions=layer_definitions
    )


def parse_rules(
    data: Mapping[str, Any],
    *,
    source: str,
    vocabulary: Vocabulary,
    layer_definitions: Mapping[str, LayerDefinition],
) -> RuleSet:
    """Check a parsed rule document against the vocabulary and the layers.

    Keys the vocabulary lacks make a rule inactive; anything else wrong stops the start, with
    every problem on a line of its own (a file can have dozens)."""
    problems: list[str] = []
    for key in data:
        if key != "rules":
            problems.append(f"unknown top-level field '{key}' (expected [[rules]])")
    entries = data.get("rules")
    if not isinstance(entries, list) or not entries:
        problems.append("no rules; declare each in a [[rules]] table")
        entries = []
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        label = f"rules[{index}]"
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            label = f"rule '{entry['id']}'"
        parser = _RuleParser(vocabulary, layer_definitions)
        rule = parser.rule(entry)
        problems += [f"{label}: {problem}" for problem in parser.problems]
        if rule is None:
            continue
        if rule.id in seen:
            problems.append(f"{label}: id: '{rule.id}' is already used by rules[{seen[rule.id]}]")
            continue
        seen[rule.id] = index
        rules.append(rule)
    if problems:
        raise refuse("rule file", source, problems)
    return RuleSet(source, tuple(rules))


class LayerConditionChecker(TomlChecker):
    """Checks conditions on a layer's attributes (``{ attribute, operator, value }``)
    against the layer definitions: the ``where`` of a rule's layer subject and of a
    checklist's evidence."""

    def __init__(self, layer_definitions: Mapping[str, LayerDefinition]) -> None:
        super().__init__()
        self.layers = layer_definitions

    def condition(
        self, where: str, raw: object, definition: LayerDefinition | None
    ) -> Condition | None:
        """One condition of a ``where`` list; ``definition`` None: the layer is unknown
        (already reported), so only the condition's own form is checked."""
        if not isinstance(raw, dict):
            self.problem(where, 'must be a table { attribute = "…", operator = "<=", value = … }')
            return None
        self.unknown_keys(where, raw, _CONDITION_KEYS)
        for required in ("attribute", "operator", "value"):
            if required not in raw:
                self.problem(f"{where}.{required}", "is required")
        if any(required not in raw for required in ("attribute", "operator", "value")):
            return None
        attribute, operator, value = raw["attribute"], raw["operator"], raw["value"]
        if operator not in OPERATORS:
            self.problem(f"{where}.operator", f"{operator!r} is not one of {' '.join(OPERATORS)}")
            return None
        spec = None
        if definition is not None:
            try:
                spec = definition.attribute(attribute)
            except KeyError:
                self.problem(
                    f"{where}.attribute",
                    f"layer '{definition.key}' has no attribute {attribute!r}; "
                    f"its attributes: {', '.join(definition.attribute_names)}",
                )
        if operator == "in":
            if not isinstance(value, list) or not value:
                self.problem(f"{where}.value", "operator 'in' needs a non-empty list")
                return None
            values: tuple[Any, ...] = tuple(value)
        else:
            values = (value,)
        kinds = {value_kind(v) for v in values}
        if None in kinds or len(kinds) != 1:
            self.problem(
                f"{where}.value",
                f"{value!r}: use numbers, text, true/false or dates, one kind per condition",
            )
            return None
        if spec is not None:
            self.fits(where, spec, operator, values)
        return Condition(attribute, operator, values if operator == "in" else values[0])

    def fits(self, where: str, spec: AttributeSpec, operator: str, values: tuple) -> None:
        """A condition must compare like with like, or it could never hold."""
        wanted = {"integer": "number", "real": "number", "string": "text", "boolean": "bool"}
        kind = wanted.get(spec.type, spec.type)
        if value_kind(values[0]) != kind:
            self.problem(
                f"{where}.value",
                f"attribute '{spec.name}' is {spec.type}; {list(values)!r} does not compare "
                "with it",
            )
            return
        if operator in ("<", "<=", ">", ">=") and kind in ("text", "bool"):
            self.problem(f"{where}.operator", f"'{operator}' does not order {spec.type} values")
            return
        if spec.allowed:
            for item in values:
                if item not in spec.allowed:
                    self.problem(
                        f"{where}.value",
                        f"{item!r} is not a value of '{spec.name}' "
                        f"({', '.join(map(str, spec.allowed))})",
                    )


class _RuleParser(LayerConditionChecker):
    """Parses one rule, collecting problems as 'field: what is wrong'."""

    def __init__(
        self, vocabulary: Vocabulary, layer_definitions: Mapping[str, LayerDefinition]
    ) -> None:
        super().__init__(layer_definitions)
        self.vocabulary = vocabulary
        self.missing: list[MissingKeys] = []

    def keys(
        self,
        where: str,
        value: object,
        keys_known: Mapping[str, Any],
        what: str,
        *,
        of_vocabulary: bool = True,
    ) -> tuple:
        """A list of keys. Keys of the vocabulary may be missing (the region has its own; the
        rule is then inactive); other keys (statuses) are ZUGABE's own and must be known."""
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(where, f"must be a list of {what} keys")
            return ()
        unknown = tuple(dict.fromkeys(item for item in value if item not in keys_known))
        if unknown and of_vocabulary:
            self.missing.append(MissingKeys(where, unknown))
        elif unknown:
            for item in unknown:
                self.problem(where, f"unknown {what} '{item}'; known: {known(keys_known)}")
        return tuple(dict.fromkeys(value))

    # -- rule

    def rule(self, entry: object) -> Rule | None:
        if not isinstance(entry, dict):
            self.problem("rule", "must be a table")
            return None
        self.unknown_keys("", entry, _RULE_KEYS)
        for required in ("id", "name", "relation", "severity", "a", "b", "spatial", "message"):
            if required not in entry:
                self.problem(required, "is required")
        rule_id = entry.get("id", "")
        if "id" in entry and (not isinstance(rule_id, str) or not _ID_PATTERN.match(rule_id)):
            self.problem(
                "id", f"{rule_id!r} must be lower-case letters, digits and _, starting a letter"
            )
        name = self.text("name", entry.get("name"))
        message = self.text("message", entry.get("message"))
        relation = self.choice("relation", entry.get("relation"), RELATIONS)
        severity = self.choice("severity", entry.get("severity"), SEVERITIES)
        a = self.subject("a", entry.get("a"))
        b = self.subject("b", entry.get("b"))
        if a is not None and not isinstance(a, ProjectSelector):
            self.problem("a.layer", "subject a must select projects; put the layer into b")
        spatial = self.spatial("spatial", entry.get("spatial"))
        temporal = self.temporal("temporal", entry.get("temporal", {"test": "none"}), b)
        same_department = self.flag("same_department", entry.get("same_department", False))
        if same_department and isinstance(b, LayerSelector):
            self.problem("same_department", "applies to pairs of projects only")
        fallback = self.flag("fallback", entry.get("fallback", False))
        involve = entry.get("involve", {})
        involve_orgs: tuple[str, ...] = ()
        involve_depts: tuple[str, ...] = ()
        if not isinstance(involve, dict):
            self.problem("involve", "must be a table { organisations = […], departments = […] }")
        else:
            self.unknown_keys("involve", involve, _INVOLVE_KEYS)
            involve_orgs = self.keys(
                "involve.organisations",
                involve.get("organisations", []),
                self.vocabulary.organisations,
                "organisation",
            )
            involve_depts = self.keys(
                "involve.departments",
                involve.get("departments", []),
                self.vocabulary.departments,
                "department",
            )
        if isinstance(b, LayerSelector | ProjectSelector):
            self.placeholders(message, b)
        if self.problems or a is None or b is None or not isinstance(a, ProjectSelector):
            return None
        department_orgs = {
            dept: frozenset(
                key for key, org in self.vocabulary.organisations.items() if dept in org.departments
            )
            for dept in involve_depts
        }
        return Rule(
            id=rule_id,
            name=name,
            relation=relation,
            severity=severity,
            a=a,
            b=b,
            spatial=spatial,
            temporal=temporal,
            message=message,
            involve_organisations=involve_orgs,
            involve_departments=involve_depts,
            same_department=same_department,
            fallback=fallback,
            department_organisations=department_orgs,
            missing=tuple(self.missing),
        )

    # -- subjects

    def subject(self, where: str, value: object) -> ProjectSelector | LayerSelector | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(where, "must be a table selecting projects or a layer")
            return None
        if "layer" in value:
            self.unknown_keys(where, value, _LAYER_SELECTOR_KEYS)
            return self.layer_selector(where, value)
        self.unknown_keys(where, value, _PROJECT_SELECTOR_KEYS)
        return self.project_selector(where, value)

    def project_selector(self, where: str, value: Mapping[str, Any]) -> ProjectSelector:
        vocab = self.vocabulary
        orgs = self.keys(
            f"{where}.organisations",
            value.get("organisations", []),
            vocab.organisations,
            "organisation",
        )
        depts = self.keys(
            f"{where}.departments", value.get("departments", []), vocab.departments, "department"
        )
        types = self.keys(
            f"{where}.measure_types",
            value.get("measure_types", []),
            vocab.measure_types,
            "measure type",
        )
        status_keys = {s.value: s for s in Status}
        raw_statuses = value.get("statuses")
        statuses = DEFAULT_STATUSES
        if raw_statuses is not None:
            keys = self.keys(
                f"{where}.statuses", raw_statuses, status_keys, "status", of_vocabulary=False
            )
            statuses = tuple(status_keys[k] for k in keys if k in status_keys)
            if not keys:
                self.problem(f"{where}.statuses", "must name at least one status (or be left out)")
        # A selector that can never match is a typo, not a rule; one naming departments the
        # vocabulary lacks cannot be judged (the rule is inactive until they exist).
        known_depts = depts if all(d in vocab.departments for d in depts) else ()
        for org in orgs:
            org_depts = vocab.organisations[org].departments if org in vocab.organisations else ()
            if org_depts and known_depts and not set(known_depts) & set(org_depts):
                self.problem(
                    f"{where}.departments",
                    f"organisation '{org}' has none of these departments "
                    f"(it has {', '.join(org_depts)})",
                )
        for measure in types:
            if (
                measure in vocab.measure_types
                and known_depts
                and not any(measure in vocab.departments[d].measure_types for d in known_depts)
            ):
                self.problem(
                    f"{where}.measure_types",
                    f"measure type '{measure}' belongs to none of the departments "
                    f"{', '.join(known_depts)}",
                )
        return ProjectSelector(orgs, depts, types, statuses)

    def layer_selector(self, where: str, value: Mapping[str, Any]) -> LayerSelector | None:
        key = value.get("layer")
        definition = self.layers.get(key) if isinstance(key, str) else None
        if definition is None:
            self.problem(f"{where}.layer", f"unknown layer {key!r}; known: {known(self.layers)}")
        use_derived = self.flag(f"{where}.use_derived", value.get("use_derived", False))
        if use_derived and definition is not None and definition.derived is None:
            self.problem(f"{where}.use_derived", f"layer '{key}' declares no [derived] geometry")
        raw_where = value.get("where", [])
        conditions: list[Condition] = []
        if not isinstance(raw_where, list):
            self.problem(f"{where}.where", "must be a list of conditions")
            raw_where = []
        for index, raw in enumerate(raw_where):
            condition = self.condition(f"{where}.where[{index}]", raw, definition)
            if condition is not None:
                conditions.append(condition)
        if definition is None:
            return None
        return LayerSelector(definition.key, tuple(conditions), use_derived)

    # -- tests

    def spatial(self, where: str, value: object) -> SpatialTest:
        if value is None:
            return SpatialTest("intersects")
        if not isinstance(value, dict):
            self.problem(where, 'must be a table such as { test = "within", distance = 10 }')
            return SpatialTest("intersects")
        self.unknown_keys(where, value, _SPATIAL_KEYS)
        test = self.choice(f"{where}.test", value.get("test"), SPATIAL_TESTS)
        distance = 0.0
        if test == "within":
            if "distance" not in value:
                self.problem(f"{where}.distance", "'within' needs a distance in metres")
            else:
                distance = self.number(f"{where}.distance", value["distance"], positive=True)
        elif "distance" in value:
            self.problem(f"{where}.distance", "only 'within' takes a distance")
        minimums: dict[str, float | None] = {}
        for name in ("min_length", "min_area"):
            raw = value.get(name)
            minimums[name] = None if raw is None else self.number(f"{where}.{name}", raw)
        return SpatialTest(test, distance, minimums["min_length"], minimums["min_area"])

    def temporal(
        self, where: str, value: object, b: ProjectSelector | LayerSelector | None
    ) -> TemporalTest:
        if not isinstance(value, dict):
            self.problem(where, 'must be a table such as { test = "gap_months", months = 24 }')
            return TemporalTest("none")
        self.unknown_keys(where, value, _TEMPORAL_KEYS)
        test = self.choice(f"{where}.test", value.get("test"), TEMPORAL_TESTS)
        needs = {
            "none": (),
            "overlap": (),
            "gap_months": ("months",),
            "moratorium": ("years", "attribute") if isinstance(b, LayerSelector) else ("years",),
            "year_window": ("years", "attribute"),
        }[test]
        for name in ("months", "years", "attribute"):
            if name in needs and name not in value:
                self.problem(f"{where}.{name}", f"'{test}' needs '{name}'")
            elif name not in needs and name in value:
                self.problem(f"{where}.{name}", f"'{test}' takes no '{name}' here")
        months = years = None
        if "months" in needs and "months" in value:
            months = int(self.number(f"{where}.months", value["months"], whole=True))
        if "years" in needs and "years" in value:
            years = int(
                self.number(
                    f"{where}.years", value["years"], whole=True, positive=test == "moratorium"
                )
            )
        attribute = value.get("attribute") if "attribute" in needs else None
        if test in ("overlap", "gap_months") and isinstance(b, LayerSelector):
            self.problem(
                f"{where}.test", f"'{test}' compares project windows; b is the layer '{b.layer}'"
            )
        if test == "year_window" and isinstance(b, ProjectSelector):
            self.problem(f"{where}.test", "'year_window' reads a year attribute of a layer in b")
        if attribute is not None and isinstance(b, LayerSelector):
            definition = self.layers[b.layer]
            try:
                spec = definition.attribute(attribute)
            except KeyError:
                self.problem(
                    f"{where}.attribute",
                    f"layer '{b.layer}' has no attribute {attribute!r}; "
                    f"its attributes: {', '.join(definition.attribute_names)}",
                )
            else:
                if spec.type != "integer":
                    self.problem(
                        f"{where}.attribute",
                        f"'{attribute}' is {spec.type}; a year attribute must be integer",
                    )
        return TemporalTest(test, months, years, attribute)

    def placeholders(self, message: Text, b: ProjectSelector | LayerSelector) -> None:
        allowed = set(MEASURE_PLACEHOLDERS)
        allowed |= {f"a.{name}" for name in (*PROJECT_FIELDS, *PROJECT_DATE_FIELDS)}
        if isinstance(b, ProjectSelector):
            allowed |= {f"b.{name}" for name in (*PROJECT_FIELDS, *PROJECT_DATE_FIELDS)}
        else:
            definition = self.layers[b.layer]
            allowed |= {f"b.{name}" for name in (*LAYER_PLACEHOLDERS, *definition.attribute_names)}
        for lang in ("de", "en"):
            for name in _PLACEHOLDER.findall(getattr(message, lang)):
                if name not in allowed:
                    self.problem(
                        f"message.{lang}",
                        f"unknown placeholder {{{name}}}; allowed: "
                        + ", ".join(f"{{{n}}}" for n in sorted(allowed)),
                    )
