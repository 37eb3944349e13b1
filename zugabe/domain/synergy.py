"""Configuration of the synergy grid [Flächenkulisse], ZUGABE's weighted utility analysis.

Each criterion measures something per cell (area share of a layer, length of
lines, count of features, highest class), maps the measure to a utility
between 0 and 1 — piecewise linear, or by class boundaries — and carries a
weight; a cell's score is the weighted mean of its utilities. The highest
cells are the attention areas [Aufmerksamkeitsräume]. The criteria are data
(``layers/rules/synergy.toml``), so a region tunes them without code.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zugabe.domain.layers import LayerDefinition
from zugabe.errors import ConfigError

MEASURES = ("area_share", "length", "count", "max_value")
OPERATORS = ("==", "!=", "<", "<=", ">", ">=")
PROJECTS = "projects"


@dataclass(frozen=True)
class Condition:
    """Keep a feature only when ``attribute <operator> value`` holds."""

    attribute: str
    operator: str
    value: float | str

    def holds(self, actual: object) -> bool:
        if actual is None:
            return False
        try:
            match self.operator:
                case "==":
                    return actual == self.value
                case "!=":
                    return actual != self.value
                case "<":
                    return actual < self.value  # type: ignore[operator]
                case "<=":
                    return actual <= self.value  # type: ignore[operator]
                case ">":
                    return actual > self.value  # type: ignore[operator]
                case _:
                    return actual >= self.value  # type: ignore[operator]
        except TypeError:
            return False


@dataclass(frozen=True)
class Utility:
    """Measure → utility 0..1.

    ``kind = "linear"``: straight lines between the ``points`` (measure,
    utility), flat beyond the first and last. ``kind = "classes"``: the
    utility of the first class whose upper ``bound`` exceeds the measure,
    ``[bound, utility]`` pairs in ascending order, the last bound may be
    ``inf``.
    """

    kind: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Criterion:
    key: str
    label: dict[str, str]
    source: str  # a layer key, or "projects"
    measure: str
    attribute: str | None
    conditions: tuple[Condition, ...]
    measure_types: tuple[str, ...]  # for source "projects": which measures count (empty = all)
    utility: Utility
    weight: float


@dataclass(frozen=True)
class SynergyConfig:
    cell_size_m: float
    attention_share: float  # the best share of scored cells marked as attention areas
    criteria: tuple[Criterion, ...]


def default_synergy_path() -> Path:
    return Path(__file__).resolve().parents[2] / "layers" / "rules" / "synergy.toml"


def load_synergy_config(path: Path, layers: Mapping[str, LayerDefinition]) -> SynergyConfig:
    """Read and check the criteria; every problem is named with file and criterion."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as TOML ({exc})") from exc
    problems: list[str] = []
    criteria = tuple(
        c
        for index, entry in enumerate(data.get("criteria", []))
        if (c := _criterion(entry, f"criteria[{index}]", layers, problems)) is not None
    )
    if not criteria:
        problems.append("no [[criteria]]")
    cell_size = data.get("cell_size_m", 100)
    share = data.get("attention_share", 0.1)
    if not isinstance(cell_size, int | float) or cell_size <= 0:
        problems.append("cell_size_m must be a positive number of metres")
    if not isinstance(share, int | float) or not 0 < share <= 1:
        problems.append("attention_share must be a number in (0, 1]")
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    return SynergyConfig(float(cell_size), float(share), criteria)


def _criterion(
    entry: Any, where: str, layers: Mapping[str, LayerDefinition], problems: list[str]
) -> Criterion | None:
    if not isinstance(entry, dict):
        problems.append(f"{where} must be a table")
        return None
    key = str(entry.get("key", ""))
    where = f"{where} ({key})" if key else where
    label = entry.get("label", {})
    if not key or not isinstance(label, dict) or not {"de", "en"} <= set(label):
        problems.append(f"{where}: needs a key and a label {{de, en}}")
    source = entry.get("source", "")
    measure = entry.get("measure", "")
    attribute = entry.get("attribute")
    if source != PROJECTS and source not in layers:
        problems.append(f"{where}: unknown source '{source}' (a layer key or 'projects')")
    if measure not in MEASURES:
        problems.append(f"{where}: measure '{measure}' is not one of {', '.join(MEASURES)}")
    if measure == "max_value" and not attribute:
        problems.append(f"{where}: measure max_value needs an attribute")
    definition = layers.get(source)
    names = set(definition.attribute_names) if definition else set()
    if definition and attribute and attribute not in names:
        problems.append(f"{where}: layer '{source}' has no attribute '{attribute}'")
    conditions = []
    for raw in entry.get("conditions", []):
        condition = Condition(str(raw.get("attribute")), str(raw.get("operator")), raw.get("value"))
        if condition.operator not in OPERATORS:
            problems.append(f"{where}: operator '{condition.operator}' is not one of {OPERATORS}")
        if definition and condition.attribute not in names:
            problems.append(f"{where}: layer '{source}' has no attribute '{condition.attribute}'")
        conditions.append(condition)
    utility = _utility(entry.get("utility", {}), where, problems)
    weight = entry.get("weight", 1)
    if not isinstance(weight, int | float) or weight <= 0:
        problems.append(f"{where}: weight must be a positive number")
    if utility is None:
        return None
    return Criterion(
        key=key,
        label={"de": str(label.get("de", key)), "en": str(label.get("en", key))},
        source=source,
        measure=measure,
        attribute=attribute,
        conditions=tuple(conditions),
        measure_types=tuple(entry.get("measure_types", ())),
        utility=utility,
        weight=float(weight) if isinstance(weight, int | float) else 1.0,
    )


def _utility(raw: Any, where: str, problems: list[str]) -> Utility | None:
    kind = raw.get("kind") if isinstance(raw, dict) else None
    key = {"linear": "points", "classes": "bounds"}.get(str(kind))
    if key is None:
        problems.append(f"{where}: utility.kind must be 'linear' or 'classes'")
        return None
    try:
        points = tuple((float(x), float(u)) for x, u in raw.get(key, []))
    except (TypeError, ValueError):
        problems.append(f"{where}: utility.{key} must be [[measure, utility], …] numbers")
        return None
    xs = [x for x, _u in points]
    if len(points) < (2 if kind == "linear" else 1) or xs != sorted(xs):
        problems.append(f"{where}: utility.{key} must be ascending and long enough")
    if any(not 0 <= u <= 1 for _x, u in points):
        problems.append(f"{where}: utilities must lie between 0 and 1")
    return Utility(str(kind), points)
