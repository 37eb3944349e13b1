"""A filter on a collection's queryables: the CQL2 subset the store translates.

The parser (``zugabe.services.cql2``) turns cql2-text and cql2-json into these
types after checking every property against the collection's queryables and
every literal against the property's type; the store (``zugabe.storage``)
translates them into its own query. Neither the store contract nor a backend
depends on the parser library, and a backend never sees a name it does not know.

Literals are Python values of the property's type: ``str``, ``int``/``float``,
``bool``, ``date``, ``datetime`` (UTC); geometry is shapely in the storage CRS.
Null handling is SQL's three-valued logic: a comparison with a missing value is
unknown, so neither it nor its negation matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from shapely.geometry.base import BaseGeometry

Scalar = str | int | float | bool | date | datetime

ComparisonOp = Literal["=", "<>", "<", "<=", ">", ">="]

SPATIAL_OPS = (
    "s_intersects",
    "s_disjoint",
    "s_within",
    "s_contains",
    "s_equals",
    "s_touches",
    "s_overlaps",
    "s_crosses",
)
"""CQL2's spatial functions, each a test of the stored geometry against a literal."""

TEMPORAL_OPS = (
    "t_after",
    "t_before",
    "t_contains",
    "t_disjoint",
    "t_during",
    "t_equals",
    "t_finishedby",
    "t_finishes",
    "t_intersects",
    "t_meets",
    "t_metby",
    "t_overlappedby",
    "t_overlaps",
    "t_startedby",
    "t_starts",
)
"""CQL2's temporal functions (Allen's interval relations, CQL2 1.0 table 6)."""

Endpoint = Literal["a_start", "a_end", "b_start", "b_end"]

TEMPORAL_TERMS: dict[str, tuple[tuple[Endpoint, ComparisonOp, Endpoint], ...]] = {
    "t_after": (("a_start", ">", "b_end"),),
    "t_before": (("a_end", "<", "b_start"),),
    "t_contains": (("a_start", "<", "b_start"), ("a_end", ">", "b_end")),
    "t_during": (("a_start", ">", "b_start"), ("a_end", "<", "b_end")),
    "t_equals": (("a_start", "=", "b_start"), ("a_end", "=", "b_end")),
    "t_finishedby": (("a_start", "<", "b_start"), ("a_end", "=", "b_end")),
    "t_finishes": (("a_start", ">", "b_start"), ("a_end", "=", "b_end")),
    "t_intersects": (("a_start", "<=", "b_end"), ("a_end", ">=", "b_start")),
    "t_meets": (("a_end", "=", "b_start"),),
    "t_metby": (("a_start", "=", "b_end"),),
    "t_overlappedby": (
        ("a_start", ">", "b_start"),
        ("a_start", "<", "b_end"),
        ("a_end", ">", "b_end"),
    ),
    "t_overlaps": (("a_start", "<", "b_start"), ("a_end", ">", "b_start"), ("a_end", "<", "b_end")),
    "t_startedby": (("a_start", "=", "b_start"), ("a_end", ">", "b_end")),
    "t_starts": (("a_start", "=", "b_start"), ("a_end", "<", "b_end")),
}
"""Each temporal function as a conjunction of endpoint comparisons (``t_disjoint`` is
``NOT t_intersects``): one table that the store and the tests' reference both read."""


@dataclass(frozen=True)
class Comparison:
    """``name op value``; ``casei``: both sides compared case-folded (CQL2 ``CASEI``)."""

    name: str
    op: ComparisonOp
    value: Scalar
    casei: bool = False


@dataclass(frozen=True)
class Like:
    """``name LIKE pattern`` with CQL2's wildcards ``%`` and ``_`` (``\\`` escapes);
    case-sensitive unless ``casei``."""

    name: str
    pattern: str
    casei: bool = False


@dataclass(frozen=True)
class In:
    name: str
    values: tuple[Scalar, ...]
    casei: bool = False


@dataclass(frozen=True)
class Between:
    name: str
    low: Scalar
    high: Scalar


@dataclass(frozen=True)
class IsNull:
    name: str


@dataclass(frozen=True)
class Spatial:
    """``op(name, geometry)``; the geometry is in the storage CRS."""

    op: str
    name: str
    geometry: BaseGeometry


@dataclass(frozen=True)
class Temporal:
    """``op(A, B)``: A is the interval [``start``, ``end``] of the two queryables (one
    queryable twice for an instant), B the literal [``low``, ``high``] (None: open, '..').

    Of an interval A a missing start or end counts as open (a project without an end
    runs on); a missing instant is unknown.
    """

    op: str
    start: str
    end: str
    low: date | datetime | None
    high: date | datetime | None

    @property
    def instant(self) -> bool:
        return self.start == self.end


@dataclass(frozen=True)
class And:
    parts: tuple[Filter, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Filter, ...]


@dataclass(frozen=True)
class Not:
    part: Filter


Filter = Comparison | Like | In | Between | IsNull | Spatial | Temporal | And | Or | Not
