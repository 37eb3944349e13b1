"""The checklist for water-sensitive development plans [Checkliste wassersensible Bauleitplanung].

A region's expert networks keep the questions a development plan (Bebauungsplan) should
answer — rainwater on site, heavy-rain precaution, green roofs, unsealing, trees, disconnection,
open water routing, heat — as data in a TOML file (``layers/checklists/water_sensitive_plan.toml``
by default, documented in ``docs/administrators.md``). This module turns the file into frozen
dataclasses and refuses a broken file at start with a ``ConfigError`` naming the file, the item
and the field, one problem per line, like the rule file.

Evidence is declared in the same file: a measure of one stored layer over the plan's area (the
share in heavy-rain hazard zones, the green-roof potential, the distance to receiving waters).
Thresholds on an item turn the measured value into a relevance: required, recommended or not
relevant. The measuring itself is ``zugabe.services.checklists``; what the domain decides here is
the vocabulary, the relevance and the score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from zugabe.domain.layers import LayerDefinition, Text, default_layers_folder
from zugabe.domain.rules import Condition, LayerConditionChecker
from zugabe.domain.toml_checks import known, read_toml, refuse

ANSWERS = ("fulfilled", "planned", "not_applicable")
"""A planner's answer to an item: the plan fulfils it, will (a later step), or it does not
apply to this plan (a note says why)."""

RELEVANCES = ("required", "recommended", "not_relevant")
MEASURES = ("area_share", "area", "sum", "max", "distance")
"""What an evidence measures over the plan's area P and the layer's matching features F:
``area_share`` the % of P covered by F; ``area`` that area in m²; ``sum`` an attribute of F
pro-rated by the share of each feature inside P; ``max`` the largest value of an attribute
among F meeting P; ``distance`` the metres from P to the nearest of F (0 when they meet)."""

THRESHOLD_OPERATORS = (">=", ">", "<=", "<")

_TOP_KEYS = frozenset({"title", "themes", "evidence", "items"})
_THEME_KEYS = frozenset({"key", "title"})
_EVIDENCE_KEYS = frozenset(
    {"key", "label", "layer", "measure", "where", "attribute", "unit", "within", "by"}
)
_ITEM_KEYS = frozenset(
    {"id", "theme", "question", "why", "legal", "evidence", "required", "recommended", "default"}
)
_THRESHOLD_KEYS = frozenset({"operator", "value"})
_UNITS = {"area_share": "%", "area": "m²", "distance": "m"}


@dataclass(frozen=True)
class Theme:
    key: str
    title: Text


@dataclass(frozen=True)
class EvidenceSpec:
    """One measured fact about a plan's area, from one stored layer.

    ``by`` (area measures only) also breaks the value down by a classified attribute of the
    layer, e.g. the heavy-rain share by depth class; ``within`` bounds the search of a
    ``distance`` (metres; farther is "none within").
    """

    key: str
    label: Text
    layer: str
    measure: str
    unit: str
    where: tuple[Condition, ...] = ()
    attribute: str | None = None
    within: float | None = None
    by: str | None = None

    def matches(self, attributes: Mapping[str, Any]) -> bool:
        return all(c.holds(attributes.get(c.attribute)) for c in self.where)


@dataclass(frozen=True)
class Threshold:
    """``value operator limit``, e.g. ``share >= 10``."""

    operator: str
    value: float

    def holds(self, value: float) -> bool:
        if self.operator == ">=":
            return value >= self.value
        if self.operator == ">":
            return value > self.value
        if self.operator == "<=":
            return value <= self.value
        return value < self.value


@dataclass(frozen=True)
class ChecklistItem:
    """One question of the checklist.

    Without evidence (or without data for it) an item is as relevant as its ``default``;
    with a value, ``required`` is tested first, then ``recommended``, else not relevant.
    """

    id: str
    theme: str
    question: Text
    why: Text
    legal: tuple[str, ...]
    evidence: str | None = None
    required: Threshold | None = None
    recommended: Threshold | None = None
    default: str = "recommended"

    def relevance(self, value: float | None) -> str:
        if self.evidence is None or value is None:
            return self.default
        if self.required is not None and self.required.holds(value):
            return "required"
        if self.recommended is not None and self.recommended.holds(value):
            return "recommended"
        return "not_relevant"


@dataclass(frozen=True)
class Checklist:
    source: str
    title: Text
    themes: tuple[Theme, ...]
    evidence: Mapping[str, EvidenceSpec]
    items: tuple[ChecklistItem, ...]

    def item(self, item_id: str) -> ChecklistItem | None:
        return next((item for item in self.items if item.id == item_id), None)


@dataclass(frozen=True)
class ChecklistAnswer:
    """A planner's answer to one item of one plan, with who gave it and when."""

    item: str
    answer: str
    note: str
    answered_by: str
    answered_at: datetime


def score(relevances: Mapping[str, str], answers: Mapping[str, ChecklistAnswer]) -> int | None:
    """The completion score in %: of the items that count, how many are answered.

    Required items count twice, recommended ones once, not relevant ones not at all; an item
    counts as done when it is fulfilled or (with its reason) not applicable, and half done
    when planned. None when nothing counts.
    """
    weights = {"required": 2, "recommended": 1, "not_relevant": 0}
    credit = {"fulfilled": 1.0, "not_applicable": 1.0, "planned": 0.5}
    total = sum(weights[r] for r in relevances.values())
    if total == 0:
        return None
    done = sum(
        weights[relevance] * credit[answers[item].answer]
        for item, relevance in relevances.items()
        if item in answers
    )
    return round(100 * done / total)


def is_open(relevance: str, answer: ChecklistAnswer | None) -> bool:
    """Still to do: a relevant item unanswered or only planned (the overview counts these)."""
    return relevance != "not_relevant" and (answer is None or answer.answer == "planned")


# --------------------------------------------------------------------------- loading


def default_checklist_path() -> Path:
    """The shipped checklist, beside the layer definitions its evidence measures."""
    return default_layers_folder() / "checklists" / "water_sensitive_plan.toml"


def load_checklist(path: Path, layer_definitions: Mapping[str, LayerDefinition]) -> Checklist:
    """Read and check a checklist file; every problem raises one ``ConfigError``."""
    source, data = read_toml(path, "checklist file")
    return parse_checklist(data, source=source, layer_definitions=layer_definitions)


def parse_checklist(
    data: Mapping[str, Any], *, source: str, layer_definitions: Mapping[str, LayerDefinition]
) -> Checklist:
    """Check a parsed checklist against the layers; all problems at once, one per line."""
    parser = _ChecklistParser(layer_definitions)
    parser.unknown_keys("", data, _TOP_KEYS)
    title = parser.text("title", data.get("title"))
    themes = parser.listed("themes", data.get("themes"), parser.theme)
    theme_keys = {theme.key for theme in themes}
    evidence_list = parser.listed("evidence", data.get("evidence", []), parser.evidence)
    evidence = {spec.key: spec for spec in evidence_list}
    # Items are checked against every evidence declared, a broken one included: its own
    # problem is reported once, not again at each item using it.
    raw_evidence = data.get("evidence", [])
    declared = (
        {e["key"] for e in raw_evidence if isinstance(e, dict) and isinstance(e.get("key"), str)}
        if isinstance(raw_evidence, list)
        else set()
    )
    items = parser.listed(
        "items", data.get("items"), lambda where, raw: parser.item(where, raw, theme_keys, declared)
    )
    for what, keys in (
        ("themes", [t.key for t in themes]),
        ("evidence", [e.key for e in evidence_list]),
        ("items", [i.id for i in items]),
    ):
        for key in {k for k in keys if keys.count(k) > 1}:
            parser.problem(what, f"'{key}' is declared twice")
    if parser.problems:
        raise refuse("checklist file", source, parser.problems)
    return Checklist(source, title, tuple(themes), evidence, tuple(items))


class _ChecklistParser(LayerConditionChecker):
    """Checks a checklist with the pieces rules use (texts, choices, numbers, layer
    conditions); its fields are named 'entry: field'."""

    def unknown_keys(self, where: str, table: Mapping[str, Any], allowed: frozenset[str]) -> None:
        for key in table:
            if key not in allowed:
                self.problem(
                    f"{where}: {key}" if where else key,
                    f"unknown field; allowed: {known(allowed)}",
                )

    def listed(self, where: str, raw: object, parse: Any) -> list[Any]:
        if not isinstance(raw, list) or (where != "evidence" and not raw):
            self.problem(where, f"declare at least one [[{where}]] table")
            return []
        parsed = []
        for index, entry in enumerate(raw):
            name = entry.get("key", entry.get("id")) if isinstance(entry, dict) else None
            label = f"{where[:-1] if where != 'evidence' else where} '{name}'"
            label = label if isinstance(name, str) else f"{where}[{index}]"
            if not isinstance(entry, dict):
                self.problem(label, "must be a table")
                continue
            value = parse(label, entry)
            if value is not None:
                parsed.append(value)
        return parsed

    def identifier(self, where: str, value: object) -> str | None:
        if not isinstance(value, str) or not value or not value.replace("_", "a").isalnum():
            self.problem(where, "needs an identifier of letters, digits and _")
            return None
        if not value[0].isalpha() or value != value.lower() or not value.isascii():
            self.problem(where, f"{value!r}: lower-case ASCII letters, digits and _, letter first")
            return None
        return value

    def theme(self, where: str, raw: Mapping[str, Any]) -> Theme | None:
        self.unknown_keys(where, raw, _THEME_KEYS)
        key = self.identifier(f"{where}: key", raw.get("key"))
        title = self.text(f"{where}: title", raw.get("title"))
        return Theme(key, title) if key else None

    def evidence(self, where: str, raw: Mapping[str, Any]) -> EvidenceSpec | None:
        self.unknown_keys(where, raw, _EVIDENCE_KEYS)
        key = self.identifier(f"{where}: key", raw.get("key"))
        label = self.text(f"{where}: label", raw.get("label"))
        measure = self.choice(f"{where}: measure", raw.get("measure"), MEASURES)
        layer = raw.get("layer")
        definition = self.layers.get(layer) if isinstance(layer, str) else None
        if definition is None:
            self.problem(f"{where}: layer", f"unknown layer {layer!r}; known: {known(self.layers)}")
        conditions = []
        raw_where = raw.get("where", [])
        if not isinstance(raw_where, list):
            self.problem(f"{where}: where", "must be a list of conditions")
            raw_where = []
        for index, entry in enumerate(raw_where):
            condition = self.condition(f"{where}: where[{index}]", entry, definition)
            if condition is not None:
                conditions.append(condition)
        attribute = raw.get("attribute")
        needs_attribute = measure in ("sum", "max")
        if needs_attribute != (attribute is not None):
            self.problem(
                f"{where}: attribute",
                f"measure '{measure}' {'needs' if needs_attribute else 'takes no'} attribute",
            )
        unit = _UNITS.get(measure)
        if attribute is not None and definition is not None:
            spec = self._attribute(f"{where}: attribute", definition, attribute)
            if spec is not None and spec.type not in ("integer", "real"):
                self.problem(f"{where}: attribute", f"'{attribute}' is {spec.type}, not a number")
            unit = spec.unit if spec is not None else None
        if "unit" in raw:
            unit = raw["unit"] if isinstance(raw["unit"], str) else None
            if unit is None:
                self.problem(f"{where}: unit", "must be text")
        within = None
        if measure == "distance":
            within = self.number(f"{where}: within", raw.get("within"), positive=True)
        elif "within" in raw:
            self.problem(f"{where}: within", "only a distance measure takes within")
        by = raw.get("by")
        if by is not None:
            if measure not in ("area_share", "area"):
                self.problem(f"{where}: by", "only area measures break down by an attribute")
            elif definition is not None:
                classes = definition.classify.attribute if definition.classify else None
                if by != classes:
                    self.problem(
                        f"{where}: by",
                        f"layer '{definition.key}' classifies by {classes!r}, not {by!r}",
                    )
        if key is None or definition is None:
            return None
        return EvidenceSpec(
            key,
            label,
            definition.key,
            measure,
            unit or "",
            tuple(conditions),
            attribute,
            within,
            by,
        )

    def _attribute(self, where: str, definition: LayerDefinition, name: object) -> Any:
        try:
            return definition.attribute(name)  # type: ignore[arg-type]
        except (KeyError, TypeError):
            self.problem(
                where,
                f"layer '{definition.key}' has no attribute {name!r}; "
                f"its attributes: {', '.join(definition.attribute_names)}",
            )
            return None

    def item(
        self,
        where: str,
        raw: Mapping[str, Any],
        themes: set[str],
        evidence: set[str],
    ) -> ChecklistItem | None:
        self.unknown_keys(where, raw, _ITEM_KEYS)
        item_id = self.identifier(f"{where}: id", raw.get("id"))
        theme = raw.get("theme")
        if theme not in themes:
            self.problem(f"{where}: theme", f"unknown theme {theme!r}; declared: {known(themes)}")
        question = self.text(f"{where}: question", raw.get("question"))
        why = self.text(f"{where}: why", raw.get("why"))
        legal = raw.get("legal")
        if (
            not isinstance(legal, list)
            or not legal
            or not all(isinstance(v, str) and v.strip() for v in legal)
        ):
            self.problem(
                f"{where}: legal", 'needs a list of legal hooks, e.g. ["BauGB § 9 (1) 14"]'
            )
            legal = []
        key = raw.get("evidence")
        if key is not None and key not in evidence:
            self.problem(
                f"{where}: evidence", f"unknown evidence {key!r}; declared: {known(evidence)}"
            )
        required = self.threshold(f"{where}: required", raw.get("required"))
        recommended = self.threshold(f"{where}: recommended", raw.get("recommended"))
        if key is None and (required or recommended):
            self.problem(f"{where}: evidence", "thresholds need an evidence to compare")
        default = self.choice(f"{where}: default", raw.get("default", "recommended"), RELEVANCES)
        if item_id is None:
            return None
        return ChecklistItem(
            item_id,
            str(theme),
            question,
            why,
            tuple(legal),
            key,
            required,
            recommended,
            default,
        )

    def threshold(self, where: str, raw: object) -> Threshold | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            self.problem(where, 'must be a table { operator = ">=", value = … }')
            return None
        self.unknown_keys(where, raw, _THRESHOLD_KEYS)
        operator = self.choice(f"{where}.operator", raw.get("operator"), THRESHOLD_OPERATORS)
        value = raw.get("value")
        if not isinstance(value, int | float) or isinstance(value, bool):
            self.problem(f"{where}.value", f"must be a number, got {value!r}")
            return None
        return Threshold(operator, float(value))
