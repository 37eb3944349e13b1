"""Checking the region's TOML files (rules, checklists) piece by piece, all problems at once.

A region edits these files by hand, so a broken one must say everything that is wrong in one
go, naming the file, the entry and the field, one problem per line. ``read_toml`` reads a file
(refusing what is not UTF-8 TOML, with the file named as the user gave it) and ``TomlChecker``
collects problems while it turns raw values into checked ones: each piece returns a harmless
stand-in after recording what is wrong, so checking goes on to the next field.

``zugabe.domain.rules`` builds its rule parser and the layer conditions
(``LayerConditionChecker``) on it; ``zugabe.domain.checklist`` its checklist parser.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from zugabe.domain.layers import Text, display_path
from zugabe.errors import ConfigError


def read_toml(path: Path, what: str) -> tuple[str, dict[str, Any]]:
    """The file shown as the user knows it, and its parsed content; ``what`` names the kind
    of file in the ``ConfigError`` (``rule file``, ``checklist file``)."""
    source = display_path(path)
    try:
        return source, tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{what} {source}: cannot be read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {source}: is not UTF-8 text ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} {source}: not valid TOML ({exc})") from exc


def known(values: Iterable[str]) -> str:
    """The keys a value could have been, for a problem naming an unknown one."""
    return ", ".join(sorted(values)) or "(none)"


def refuse(what: str, source: str, problems: Sequence[str]) -> ConfigError:
    """One error for all of a file's problems, each on a line of its own."""
    count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
    return ConfigError(f"{what} {source}: {count}\n" + "\n".join(f"  {p}" for p in problems))


class TomlChecker:
    """Collects problems as 'field: what is wrong' while checking the pieces of an entry."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, where: str, text: str) -> None:
        self.problems.append(f"{where}: {text}")

    def unknown_keys(self, where: str, table: Mapping[str, Any], allowed: frozenset[str]) -> None:
        for key in table:
            if key not in allowed:
                prefix = f"{where}." if where else ""
                self.problem(f"{prefix}{key}", f"unknown field; allowed: {known(allowed)}")

    def text(self, where: str, value: object) -> Text:
        """A text in both languages: ``{ de = "…", en = "…" }``."""
        if (
            not isinstance(value, dict)
            or set(value) != {"de", "en"}
            or not all(isinstance(v, str) and v.strip() for v in value.values())
        ):
            self.problem(where, 'needs { de = "…", en = "…" }, both non-empty')
            return Text("", "")
        return Text(value["de"], value["en"])

    def choice(self, where: str, value: object, allowed: Sequence[str]) -> str:
        if value not in allowed:
            self.problem(where, f"{value!r} is not one of {', '.join(allowed)}")
            return allowed[0]
        return str(value)

    def flag(self, where: str, value: object) -> bool:
        if not isinstance(value, bool):
            self.problem(where, f"must be true or false, got {value!r}")
            return False
        return value

    def number(
        self, where: str, value: object, *, positive: bool = False, whole: bool = False
    ) -> float:
        """A finite number, 0 or more (greater than 0 with ``positive``)."""
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and math.isfinite(value)  # type: ignore[arg-type]
        if ok and whole:
            ok = float(value).is_integer()  # type: ignore[arg-type]
        if ok:
            ok = value > 0 if positive else value >= 0  # type: ignore[operator]
        if not ok:
            sign = "greater than 0" if positive else "0 or more"
            kind = "a whole number" if whole else "a number"
            self.problem(where, f"must be {kind} {sign}, got {value!r}")
            return 1.0
        return float(value)  # type: ignore[arg-type]
