"""The configured vocabulary: organisations, departments, measure types, statuses, and the
limits of a plausible project.

Keys are stable English identifiers stored with each project; labels (German
and English) are for the user interface. The vocabulary is data, loaded from
a TOML file, so a region can ship its own without touching code.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from importlib import resources
from pathlib import Path

from zugabe.domain.palette import colors_json
from zugabe.domain.project import Status
from zugabe.errors import ConfigError

ORGANISATION_KINDS = ("city", "water_board", "utility", "other")

STATUS_LABELS: dict[Status, dict[str, str]] = {
    Status.IDEA: {"de": "Idee", "en": "Idea"},
    Status.PLANNING: {"de": "In Planung", "en": "Planning"},
    Status.APPROVED: {"de": "Beschlossen", "en": "Approved"},
    Status.UNDER_CONSTRUCTION: {"de": "Im Bau", "en": "Under construction"},
    Status.DONE: {"de": "Abgeschlossen", "en": "Done"},
    Status.CANCELLED: {"de": "Verworfen", "en": "Cancelled"},
}


@dataclass(frozen=True)
class Term:
    """A vocabulary entry: a stable key and its labels."""

    key: str
    de: str
    en: str

    def labels(self) -> dict[str, str]:
        return {"de": self.de, "en": self.en}


@dataclass(frozen=True)
class Limits:
    """The largest project still plausible. Beyond, it is a drawing or typing error (a road
    renewal over half the region, a cost of 1e300 €) that would put a case on every other
    project and skew every sum, so it is refused. Defaults serve a vocabulary that sets none."""

    max_area_m2: float = 10_000_000.0  # 10 km², a district's development plan
    max_length_m: float = 20_000.0  # 20 km of line
    max_cost_eur: float = 1e10  # ten billion euros

    def as_json(self) -> dict[str, float]:
        return asdict(self)


LIMIT_KEYS = tuple(f.name for f in fields(Limits))
PLANNING_YEARS = (1900, 2200)
"""Default: a window outside these years is a typing error (9999-12-31), not a plan."""


@dataclass(frozen=True)
class MeasureType(Term):
    limits: Limits


@dataclass(frozen=True)
class Department(Term):
    measure_types: tuple[str, ...]


@dataclass(frozen=True)
class Organisation(Term):
    kind: str
    departments: tuple[str, ...]
    # Planners may only touch the projects of their own department(s).
    planners_by_department: bool = False


@dataclass(frozen=True)
class Vocabulary:
    organisations: dict[str, Organisation]
    departments: dict[str, Department]
    measure_types: dict[str, MeasureType]
    limits: Limits = Limits()
    """Of every measure type that sets no limits of its own."""
    planning_years: tuple[int, int] = PLANNING_YEARS
    """A project's start and end lie in these years (both included)."""

    @classmethod
    def default(cls) -> Vocabulary:
        text = resources.files("zugabe.domain").joinpath("vocabulary.toml").read_text("utf-8")
        return cls.from_toml(text, source="built-in vocabulary")

    @classmethod
    def from_file(cls, path: Path) -> Vocabulary:
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"vocabulary file {path}: cannot be read ({exc.strerror})") from exc
        return cls.from_toml(text, source=str(path))

    @classmethod
    def from_toml(cls, text: str, *, source: str) -> Vocabulary:
        """Parse and cross-check a vocabulary; every broken reference is named."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML ({exc})") from exc
        problems: list[str] = []

        def labels(section: str, key: str, entry: object) -> tuple[str, str]:
            if not isinstance(entry, dict) or not entry.get("de") or not entry.get("en"):
                problems.append(f"{section}.{key}: needs the labels 'de' and 'en'")
                return key, key
            return str(entry["de"]), str(entry["en"])

        def read_limits(
            where: str, entry: dict[str, object], base: Limits, known: tuple[str, ...]
        ) -> Limits:
            """``base`` with the limits ``entry`` sets; a typo in a key is named, not ignored."""
            problems.extend(
                f"{where}: unknown key '{name}'; allowed: {', '.join(known)}"
                for name in entry
                if name not in known
            )
            found: dict[str, float] = {}
            for name in LIMIT_KEYS:
                value = entry.get(name)
                if value is None:
                    continue
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or not math.isfinite(value)
                    or value <= 0
                ):
                    problems.append(f"{where}.{name} must be a positive number, got {value!r}")
                else:
                    found[name] = float(value)
            return replace(base, **found)

        raw_limits = data.get("limits", {})
        if not isinstance(raw_limits, dict):
            problems.append("limits must be a table")
            raw_limits = {}
        default_limits = read_limits("limits", raw_limits, Limits(), LIMIT_KEYS)
        measure_types: dict[str, MeasureType] = {}
        for key, entry in data.get("measure_types", {}).items():
            de, en = labels("measure_types", key, entry)
            own = entry if isinstance(entry, dict) else {}
            where = f"measure_types.{key}"
            type_limits = read_limits(where, own, default_limits, ("de", "en", *LIMIT_KEYS))
            measure_types[key] = MeasureType(key, de, en, type_limits)
        departments: dict[str, Department] = {}
        for key, entry in data.get("departments", {}).items():
            de, en = labels("departments", key, entry)
            types = tuple(entry.get("measure_types", ())) if isinstance(entry, dict) else ()
            problems += [
                f"departments.{key}: unknown measure type '{t}'"
                for t in types
                if t not in measure_types
            ]
            departments[key] = Department(key, de, en, types)
        organisations: dict[str, Organisation] = {}
        for key, entry in data.get("organisations", {}).items():
            de, en = labels("organisations", key, entry)
            entry = entry if isinstance(entry, dict) else {}
            kind = entry.get("kind", "other")
            if kind not in ORGANISATION_KINDS:
                problems.append(
                    f"organisations.{key}: kind '{kind}' is not one of "
                    + ", ".join(ORGANISATION_KINDS)
                )
            depts = tuple(entry.get("departments", ()))
            problems += [
                f"organisations.{key}: unknown department '{d}'"
                for d in depts
                if d not in departments
            ]
            by_department = entry.get("planners_by_department", False)
            if not isinstance(by_department, bool):
                problems.append(f"organisations.{key}: planners_by_department must be true/false")
            organisations[key] = Organisation(key, de, en, kind, depts, bool(by_department))
        for section, entries in (("organisations", organisations), ("departments", departments)):
            if not entries:
                problems.append(f"[{section}] is empty")
        years = data.get("planning_years", list(PLANNING_YEARS))
        if not (
            isinstance(years, list)
            and len(years) == 2
            and all(type(y) is int and 1000 <= y <= 9998 for y in years)
            and years[0] <= years[1]
        ):
            problems.append(
                f"planning_years must be [first, last] years (e.g. [1950, 2100]), got {years!r}"
            )
            years = list(PLANNING_YEARS)
        if problems:
            raise ConfigError(f"{source}: " + "; ".join(problems))
        return cls(organisations, departments, measure_types, default_limits, tuple(years))

    def limits_of(self, measure_type: str) -> Limits:
        """The limits a project of this measure type must keep (an unknown type: the defaults)."""
        known = self.measure_types.get(measure_type)
        return known.limits if known is not None else self.limits

    def as_json(self) -> dict[str, object]:
        """The vocabulary as the web map and API clients consume it, with the palette."""
        return {
            "organisations": [
                {
                    "key": o.key,
                    "labels": o.labels(),
                    "kind": o.kind,
                    "departments": list(o.departments),
                }
                for o in self.organisations.values()
            ],
            "departments": [
                {"key": d.key, "labels": d.labels(), "measure_types": list(d.measure_types)}
                for d in self.departments.values()
            ],
            "measure_types": [
                {"key": m.key, "labels": m.labels(), "limits": m.limits.as_json()}
                for m in self.measure_types.values()
            ],
            "statuses": [{"key": s.value, "labels": STATUS_LABELS[s]} for s in Status],
            "colors": colors_json(self.departments),
        }
