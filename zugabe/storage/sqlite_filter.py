"""A ``Filter`` (CQL2 on a collection's queryables) as one SQLAlchemy WHERE term.

Filtering happens in the same statement as listing, counting and paging, so a
filtered count costs what a filtered page does and nothing is filtered in memory.
Every value is a bound parameter, JSON paths included; a queryable's name only
picks a column from a fixed mapping. Null handling is SQL's three-valued logic,
as ``zugabe.domain.filters`` describes; the open ends of intervals are spelled out
so that a project without an end date runs on.

Which column a queryable is, and how the geometry is tested (R*Tree candidates,
then the exact test), is the caller's: ``Target``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    true,
)

from zugabe.domain.filters import (
    TEMPORAL_TERMS,
    And,
    Between,
    Comparison,
    ComparisonOp,
    Filter,
    In,
    IsNull,
    Like,
    Not,
    Or,
    Scalar,
    Spatial,
    Temporal,
)
from zugabe.storage.sql_dialect import casefold, cql_like, json_member, json_scalar, json_text
from zugabe.storage.sqlite_schema import (
    case_involvements_table,
    cases_table,
    layer_features_table,
    projects_table,
)

_OPERATORS: dict[ComparisonOp, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class Operand:
    """A queryable's value in SQL. ``json``: read from a JSON document (a date is
    stored as ISO text); ``timestamp``: UTC ISO text, compared by day with a date."""

    expression: ColumnElement[Any]
    json: bool = False
    timestamp: bool = False


AnyOf = Callable[[Callable[[Operand], ColumnElement[bool]]], ColumnElement[bool]]
"""A queryable of several values: the test holds when it holds for any of them."""


@dataclass(frozen=True)
class Target:
    """How one collection's queryables map onto its rows."""

    operand: Callable[[str], Operand]
    spatial: Callable[[str, BaseGeometry], ColumnElement[bool]]
    any_of: Mapping[str, AnyOf] = field(default_factory=dict)


def translate(node: Filter, target: Target) -> ColumnElement[bool]:
    """The WHERE term of a filter."""
    match node:
        case And(parts):
            return and_(true(), *(translate(p, target) for p in parts))
        case Or(parts):
            return or_(false(), *(translate(p, target) for p in parts))
        case Not(part):
            return not_(translate(part, target))
        case Spatial(op, _, geometry):
            return target.spatial(op, geometry)
        case Temporal():
            return _temporal(node, target)
        case _:
            return _test(node, target)


def _test(node: Comparison | Like | In | Between | IsNull, target: Target) -> ColumnElement[bool]:
    def build(operand: Operand) -> ColumnElement[bool]:
        match node:
            case Comparison(_, op, value, casei):
                left, right = _sides(operand, value, casei)
                return _OPERATORS[op](left, right)  # type: ignore[no-any-return]
            case Like(_, pattern, casei):
                left, _ = _sides(operand, pattern, casei)
                if operand.json and not casei:  # the member's text, not its JSON
                    left = json_text(left)
                return cql_like(left, str(pattern).casefold() if casei else str(pattern))
            case In(_, values, casei):
                pairs = [_sides(operand, v, casei) for v in values]
                return pairs[0][0].in_([right for _, right in pairs])
            case Between(_, low, high):
                left, bottom = _sides(operand, low, False)
                return left.between(bottom, _sides(operand, high, False)[1])
            case IsNull():
                return operand.expression.is_(None)
        raise AssertionError(node)

    any_of = target.any_of.get(node.name)
    return any_of(build) if any_of is not None else build(target.operand(node.name))


def _sides(operand: Operand, value: Scalar, casei: bool) -> tuple[ColumnElement[Any], Any]:
    """The column side and the bound literal, in the column's stored form."""
    expression = operand.expression
    if operand.json:
        if casei:
            return casefold(json_text(expression)), literal(str(value).casefold())
        if isinstance(value, date) and not isinstance(value, datetime):
            return expression, json_scalar(value.isoformat())
        return expression, json_scalar(value)
    if casei:
        return casefold(expression), literal(str(value).casefold())
    if isinstance(value, date) and not isinstance(value, datetime) and operand.timestamp:
        return func.substr(expression, 1, 10), literal(value.isoformat())
    return expression, literal(value, type_=expression.type)


def _temporal(node: Temporal, target: Target) -> ColumnElement[bool]:
    if node.op == "t_disjoint":
        return not_(_temporal(replace(node, op="t_intersects"), target))
    start, end = target.operand(node.start), target.operand(node.end)
    terms = []
    for a, op, b in TEMPORAL_TERMS[node.op]:
        operand = start if a == "a_start" else end
        value = node.low if b == "b_start" else node.high
        a_open = None if node.instant else (-1 if a == "a_start" else 1)
        b_open = -1 if b == "b_start" else 1
        terms.append(_endpoint(operand, op, value, a_open, b_open))
    return and_(*terms)


def _endpoint(
    operand: Operand, op: ComparisonOp, value: date | None, a_open: int | None, b_open: int
) -> ColumnElement[bool]:
    """``A op B`` for one endpoint each: A a column whose NULL is -∞/+∞ (``a_open``) or
    unknown (None), B a literal whose None is -∞/+∞ (``b_open``)."""
    compare = _OPERATORS[op]
    missing = operand.expression.is_(None)
    if value is None:  # B is infinite: a finite A compares as 0 against ±1
        when_finite = bool(compare(0, b_open))
        if a_open is None:
            return case((missing, null()), else_=true() if when_finite else false())
        when_missing = bool(compare(a_open, b_open))
        return _by_missing(missing, when_missing, when_finite)
    left, right = _sides(operand, value, False)
    finite = compare(left, right)
    if a_open is None:
        return finite  # type: ignore[no-any-return]
    return or_(missing, finite) if compare(a_open, 0) else and_(not_(missing), finite)


def _by_missing(
    missing: ColumnElement[bool], if_missing: bool, if_not: bool
) -> ColumnElement[bool]:
    if if_missing and if_not:
        return true()
    if not if_missing and not if_not:
        return false()
    return missing if if_missing else not_(missing)


# -- the collections ------------------------------------------------------------

_PROJECT_COLUMNS = {
    "start": "start_date",
    "end": "end_date",
}
_CASE_COLUMNS = {"rule": "rule_id"}


def project_operand(name: str) -> Operand:
    column = projects_table.c[_PROJECT_COLUMNS.get(name, name)]
    return Operand(column, timestamp=name in ("created_at", "updated_at"))


def case_operand(name: str) -> Operand:
    column = cases_table.c[_CASE_COLUMNS.get(name, name)]
    return Operand(column, timestamp=name in ("created_at", "updated_at"))


def _involvement(kind: str) -> AnyOf:
    def any_of(build: Callable[[Operand], ColumnElement[bool]]) -> ColumnElement[bool]:
        rows = case_involvements_table.c
        return exists().where(
            rows.case_id == cases_table.c.id, rows.kind == kind, build(Operand(rows.value))
        )

    return any_of


CASE_ANY_OF: Mapping[str, AnyOf] = {
    "organisations": _involvement("organisation"),
    "departments": _involvement("department"),
}


def layer_operand(name: str) -> Operand:
    """The feature's number, or an attribute from its JSON document (path bound)."""
    if name == "id":
        return Operand(layer_features_table.c.id)
    return Operand(json_member(layer_features_table.c.attributes, literal(name)), json=True)
