"""CQL2 filters (OGC API – Features Part 3): cql2-text and cql2-json into ``Filter``.

The ``cql2`` library (Development Seed's Rust implementation) parses both encodings
into one canonical cql2-json form, so a single walker here serves both and the text
and JSON of a filter give the same ``Filter``. The walker checks every property
against the collection's queryables and every literal against the property's type,
and reprojects geometry literals from ``filter-crs`` to the storage CRS; each refusal
is a ``BadRequest`` naming the property, the operator or the position in the text.

Requests stay bounded: the text is at most ``MAX_FILTER_LENGTH`` characters and
nests at most ``MAX_DEPTH`` deep, its parentheses at most ``MAX_TEXT_DEPTH``. The
parentheses are counted before the library sees the text: its PEG parser backtracks
on a syntax error in time exponential in their depth (measured: 0.03 s at 12,
1 s at 16, minutes at 24) and overflows the stack at a few thousand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import cql2
import shapely
from pyproj.exceptions import CRSError, ProjError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from zugabe.domain.filters import (
    SPATIAL_OPS,
    TEMPORAL_OPS,
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
from zugabe.domain.queryables import Queryable, Queryables
from zugabe.errors import BadRequest
from zugabe.io.crs import Reprojector

MAX_FILTER_LENGTH = 20_000
"""Characters of a filter: a district's outline of a few hundred vertices fits."""
MAX_DEPTH = 24
"""Nesting of operators, and of objects and arrays in cql2-json."""
MAX_TEXT_DEPTH = 10
"""Nesting of parentheses in cql2-text (a MULTIPOLYGON in NOT (… AND …) takes 6)."""
MAX_IN_VALUES = 1_000
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
"""What an integer property holds in either store: a literal beyond is refused, not sent."""

CQL2_TEXT = "cql2-text"
CQL2_JSON = "cql2-json"
FILTER_LANGS = (CQL2_TEXT, CQL2_JSON)
DRAFT_LANGS = {"cql-text": CQL2_TEXT, "cql-json": CQL2_JSON}
"""The names of the drafts of Part 3, still sent by GDAL's OAPIF driver (3.12 included):
read as the standard's encodings, whose syntax the drafts' clients write."""

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/"
FILTER_CRS_EPSG = (4326, 25832)
"""EPSG codes a filter's geometry may be given in, besides CRS84 and the storage CRS."""

_COMPARISONS: tuple[ComparisonOp, ...] = ("=", "<>", "<", "<=", ">", ">=")
_FLIPPED: dict[ComparisonOp, ComparisonOp] = {
    "=": "=",
    "<>": "<>",
    "<": ">",
    "<=": ">=",
    ">": "<",
    ">=": "<=",
}
_SPATIAL_CONVERSE = {"s_within": "s_contains", "s_contains": "s_within"}
_TEMPORAL_CONVERSE = {
    "t_after": "t_before",
    "t_before": "t_after",
    "t_contains": "t_during",
    "t_during": "t_contains",
    "t_finishedby": "t_finishes",
    "t_finishes": "t_finishedby",
    "t_meets": "t_metby",
    "t_metby": "t_meets",
    "t_overlappedby": "t_overlaps",
    "t_overlaps": "t_overlappedby",
    "t_startedby": "t_starts",
    "t_starts": "t_startedby",
}
_ORDERED_KINDS = ("string", "integer", "number", "date", "timestamp")
_POSITION = re.compile(r"-->\s*(\d+):(\d+)")
_EXPECTED = re.compile(r"=\s*(expected .*)")


def filter_crs_uris(reprojector: Reprojector) -> tuple[str, ...]:
    """The CRSs ``filter-crs`` may name, as OGC URIs (CRS84 first: the default)."""
    codes = [*FILTER_CRS_EPSG]
    storage = reprojector.storage_crs.to_epsg()
    if storage is not None and storage not in codes:
        codes.append(storage)
    return (CRS84, *(f"{_EPSG_URI}{code}" for code in codes))


def parse_filter(
    text: str | None,
    queryables: Queryables,
    reprojector: Reprojector,
    *,
    lang: str = CQL2_TEXT,
    filter_crs: str | None = None,
    equal: Mapping[str, str] | None = None,
) -> Filter:
    """The filter of a request (``filter``, ``filter-lang``, ``filter-crs``) and its
    property parameters (``equal``: each queryable equals the value), all of which must
    hold, checked against ``queryables``, geometry in the storage CRS; ``BadRequest``
    otherwise."""
    predicates = [_equality(queryables, name, value) for name, value in (equal or {}).items()]
    if text is not None:
        predicates.append(_canonical(text, lang, filter_crs, reprojector))
    if not predicates:
        raise BadRequest("no filter: give 'filter' or a queryable as a query parameter")
    crs = filter_crs or CRS84
    walker = _Walker(queryables, lambda g: _to_storage(g, crs, reprojector))
    tree = predicates[0] if len(predicates) == 1 else {"op": "and", "args": predicates}
    return walker.predicate(tree, 0)


def _canonical(text: str, lang: str, filter_crs: str | None, reprojector: Reprojector) -> Any:
    """The ``filter`` text as canonical cql2-json, its language and CRS checked."""
    lang = DRAFT_LANGS.get(lang, lang)
    if lang not in FILTER_LANGS:
        raise BadRequest(f"'filter-lang' must be one of {', '.join(FILTER_LANGS)}, got {lang!r}")
    crs = filter_crs or CRS84
    if crs not in filter_crs_uris(reprojector):
        raise BadRequest(
            f"'filter-crs' must be one of {', '.join(filter_crs_uris(reprojector))}, "
            f"got {crs[:200]!r}"
        )
    if len(text) > MAX_FILTER_LENGTH:
        raise BadRequest(f"'filter' is {len(text)} characters long, at most {MAX_FILTER_LENGTH}")
    return _parse_text(text) if lang == CQL2_TEXT else _parse_json(text)


def _equality(queryables: Queryables, name: str, value: str) -> Any:
    """A property parameter (OGC API – Features Part 1, 7.15.6: ``name=value``) as the
    canonical ``name = value``, the value typed as the queryable is."""
    queryable = queryables.get(name)
    if queryable is None or queryable.kind == "geometry":
        raise BadRequest(f"{name!r} is not a queryable to compare with a value")
    literal: Any = value
    try:
        if queryable.kind == "integer":
            literal = int(value)
        elif queryable.kind == "number":
            literal = float(value)
    except ValueError as exc:
        raise BadRequest(f"{name!r} takes a number, got {value[:40]!r}") from exc
    if queryable.kind == "boolean":
        if value not in ("true", "false"):
            raise BadRequest(f"{name!r} takes true or false, got {value[:40]!r}")
        literal = value == "true"
    elif queryable.kind in ("date", "timestamp") and _moment_of(value) is None:
        raise BadRequest(f"{name!r} takes a date (YYYY-MM-DD), got {value[:40]!r}")
    return {"op": "=", "args": [{"property": name}, literal]}


def _parse_text(text: str) -> Any:
    depth = _text_depth(text)
    if depth > MAX_TEXT_DEPTH:
        raise BadRequest(f"'filter' nests {depth} parentheses deep, at most {MAX_TEXT_DEPTH}")
    try:
        return cql2.parse_text(text).to_json()
    except cql2.ParseError as exc:
        raise BadRequest(f"'filter' is not valid cql2-text: {_worded(str(exc))}") from exc


def _text_depth(text: str) -> int:
    """How deep parentheses nest outside quoted strings and identifiers."""
    depth = deepest = 0
    quote: str | None = None
    for char in text:
        if quote is not None:
            quote = None if char == quote else quote  # '' re-enters the string: same depth
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    return deepest


def _worded(message: str) -> str:
    """The library's parse error as one line: position and what was expected there."""
    position = _POSITION.search(message)
    expected = _EXPECTED.search(message)
    if position is None:
        return message.strip().splitlines()[0][:300] if message.strip() else "unreadable"
    where = f"at line {position[1]}, column {position[2]}"
    return f"{where}: {expected[1][:300]}" if expected else where


def _parse_json(text: str) -> Any:
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = (
            f" at line {exc.lineno}, column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise BadRequest(f"'filter' is not valid JSON{where}") from exc
    depth = _json_depth(document)
    if depth > MAX_DEPTH:
        raise BadRequest(f"'filter' nests {depth} levels deep, at most {MAX_DEPTH}")
    try:
        return cql2.parse_json(text).to_json()
    except (cql2.ParseError, ValueError) as exc:
        raise BadRequest(f"'filter' is not valid cql2-json: {str(exc)[:300]}") from exc


def _json_depth(value: Any) -> int:
    """How deep objects and arrays nest (geometry coordinates included)."""
    if isinstance(value, dict):
        return 1 + max((_json_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_json_depth(v) for v in value), default=0)
    return 0


def _to_storage(geometry: BaseGeometry, crs: str, reprojector: Reprojector) -> BaseGeometry:
    if crs == f"{_EPSG_URI}{reprojector.storage_crs.to_epsg()}":
        return geometry
    code = "OGC:CRS84" if crs == CRS84 else f"EPSG:{crs.removeprefix(_EPSG_URI)}"
    try:
        return reprojector.to_storage_from(geometry, code)
    except (CRSError, ProjError) as exc:
        raise BadRequest(
            f"a geometry of 'filter' cannot be taken from {crs} to the storage CRS "
            "(does it lie within the CRS's area?)"
        ) from exc


class _Walker:
    """Canonical cql2-json into ``Filter``, refusing what the queryables do not allow."""

    def __init__(
        self, queryables: Queryables, to_storage: Callable[[BaseGeometry], BaseGeometry]
    ) -> None:
        self.queryables = queryables
        self.to_storage = to_storage

    def predicate(self, node: Any, depth: int) -> Filter:
        if depth > MAX_DEPTH:
            raise BadRequest(f"'filter' nests deeper than {MAX_DEPTH} operators")
        if not isinstance(node, dict) or not isinstance(node.get("op"), str):
            raise BadRequest(f"'filter': expected a predicate, got {_shown(node)}")
        op = node["op"].lower()
        args = node.get("args")
        if not isinstance(args, list):
            raise BadRequest(f"'filter': the operator {op!r} needs a list of arguments")
        if op in ("and", "or"):
            if len(args) < 2:
                raise BadRequest(f"'filter': {op.upper()} needs at least two predicates")
            parts = tuple(self.predicate(a, depth + 1) for a in args)
            return And(parts) if op == "and" else Or(parts)
        if op == "not":
            self._count(op, args, 1)
            return Not(self.predicate(args[0], depth + 1))
        if op in _COMPARISONS:
            return self._comparison(op, args)
        handlers: dict[str, Callable[[list[Any]], Filter]] = {
            "like": self._like,
            "in": self._in,
            "between": self._between,
            "isnull": self._is_null,
        }
        if op in handlers:
            return handlers[op](args)
        if op in SPATIAL_OPS:
            return self._spatial(op, args)
        if op in TEMPORAL_OPS:
            return self._temporal(op, args)
        raise BadRequest(f"'filter': the operator {op!r} is not supported")

    # -- operands ------------------------------------------------------------

    @staticmethod
    def _count(op: str, args: Sequence[Any], count: int) -> None:
        if len(args) != count:
            raise BadRequest(f"'filter': {op.upper()} takes {count} arguments, got {len(args)}")

    def _queryable(self, node: Any) -> tuple[Queryable, bool] | None:
        """The queryable a node names (and whether inside ``CASEI``), or None if a literal."""
        casei = False
        if isinstance(node, dict) and str(node.get("op", "")).lower() == "casei":
            inner = node.get("args")
            if not isinstance(inner, list) or len(inner) != 1:
                raise BadRequest("'filter': CASEI takes one argument")
            node, casei = inner[0], True
        if isinstance(node, dict) and "op" in node:
            raise BadRequest(f"'filter': the function {_shown(node['op'])} is not supported here")
        if not (isinstance(node, dict) and "property" in node):
            return None
        name = node["property"]
        queryable = self.queryables.get(name) if isinstance(name, str) else None
        if queryable is None:
            raise BadRequest(
                f"'filter': {_shown(name)} is not a queryable of {self.queryables.collection} "
                f"(queryables: {', '.join(self.queryables.names)})"
            )
        if casei and queryable.kind != "string":
            raise BadRequest(f"'filter': CASEI needs a text property, {queryable.name!r} is not")
        return queryable, casei

    def _property_and_literal(self, op: str, args: list[Any]) -> tuple[Queryable, bool, Any, bool]:
        """(queryable, casei, literal node, flipped) of a binary predicate."""
        self._count(op, args, 2)
        first, second = self._queryable(args[0]), self._queryable(args[1])
        if first is not None and second is not None:
            raise BadRequest(
                f"'filter': {op.upper()} compares two properties; compare a property with a literal"
            )
        if first is None and second is None:
            raise BadRequest(f"'filter': {op.upper()} needs a property on one side")
        (queryable, casei), literal, flipped = (
            (first, args[1], False) if first is not None else (second, args[0], True)  # type: ignore[misc]
        )
        return queryable, casei, literal, flipped

    def _literal(self, queryable: Queryable, node: Any, casei: bool = False) -> Scalar:
        """A literal as a value of the queryable's type."""
        if isinstance(node, dict) and str(node.get("op", "")).lower() == "casei":
            inner = node.get("args")
            if not (isinstance(inner, list) and len(inner) == 1 and isinstance(inner[0], str)):
                raise BadRequest("'filter': CASEI of a literal takes one text")
            if not casei:
                raise BadRequest(
                    f"'filter': CASEI on the literal needs CASEI on {queryable.name!r} too"
                )
            return inner[0]
        kind, name = queryable.kind, queryable.name
        if kind == "string" and isinstance(node, str):
            return node
        value = _scalar(node)
        if kind in ("integer", "number") and _is_number(value):
            if kind == "integer" and isinstance(value, float) and value.is_integer():
                value = int(value)
            if kind == "integer" and not _INT64_MIN <= value <= _INT64_MAX:
                raise BadRequest(
                    f"'filter': {name!r} holds whole numbers of 64 bits, got {_shown(node)}"
                )
            return value  # type: ignore[return-value]
        if kind == "boolean" and isinstance(value, bool):
            return value
        if kind == "date" and isinstance(value, date):
            return value.astimezone(UTC).date() if isinstance(value, datetime) else value
        if kind == "timestamp" and isinstance(value, date):
            return value
        expected = {
            "string": "text",
            "integer": "a number",
            "number": "a number",
            "boolean": "true or false",
            "date": "DATE('YYYY-MM-DD')",
            "timestamp": "TIMESTAMP('YYYY-MM-DDThh:mm:ssZ') or DATE('YYYY-MM-DD')",
            "geometry": "a spatial function such as S_INTERSECTS",
        }[kind]
        raise BadRequest(f"'filter': {name!r} takes {expected}, got {_shown(node)}")

    # -- predicates ----------------------------------------------------------

    def _comparison(self, op: ComparisonOp, args: list[Any]) -> Filter:
        queryable, casei, literal, flipped = self._property_and_literal(op, args)
        if op not in ("=", "<>") and queryable.kind not in _ORDERED_KINDS:
            raise BadRequest(f"'filter': {queryable.name!r} cannot be ordered with {op!r}")
        value = self._literal(queryable, literal, casei)
        return Comparison(queryable.name, _FLIPPED[op] if flipped else op, value, casei)

    def _like(self, args: list[Any]) -> Filter:
        queryable, casei, literal, flipped = self._property_and_literal("like", args)
        if flipped or queryable.kind != "string":
            raise BadRequest("'filter': LIKE needs a text property on the left and a pattern")
        pattern = self._literal(queryable, literal, casei)
        return Like(queryable.name, str(pattern), casei)

    def _in(self, args: list[Any]) -> Filter:
        self._count("in", args, 2)
        found = self._queryable(args[0])
        if found is None or not isinstance(args[1], list):
            raise BadRequest("'filter': IN needs a property and a list of literals")
        queryable, casei = found
        if not 1 <= len(args[1]) <= MAX_IN_VALUES:
            raise BadRequest(f"'filter': IN takes 1 to {MAX_IN_VALUES} values")
        values = tuple(self._literal(queryable, v, casei) for v in args[1])
        return In(queryable.name, values, casei)

    def _between(self, args: list[Any]) -> Filter:
        self._count("between", args, 3)
        found = self._queryable(args[0])
        if found is None or found[1]:
            raise BadRequest("'filter': BETWEEN needs a property and two literals")
        queryable = found[0]
        if queryable.kind not in _ORDERED_KINDS:
            raise BadRequest(f"'filter': {queryable.name!r} cannot be compared with BETWEEN")
        return Between(
            queryable.name, self._literal(queryable, args[1]), self._literal(queryable, args[2])
        )

    def _is_null(self, args: list[Any]) -> Filter:
        self._count("isNull", args, 1)
        found = self._queryable(args[0])
        if found is None:
            raise BadRequest("'filter': IS NULL needs a property")
        return IsNull(found[0].name)

    def _spatial(self, op: str, args: list[Any]) -> Filter:
        self._count(op, args, 2)
        first, second = self._queryable(args[0]), self._queryable(args[1])
        found, literal = (first, args[1]) if first is not None else (second, args[0])
        if found is None or (first is not None and second is not None):
            raise BadRequest(f"'filter': {op.upper()} needs the geometry property and a geometry")
        if found[0].kind != "geometry":
            raise BadRequest(f"'filter': {op.upper()} needs a geometry, {found[0].name!r} is not")
        if first is None:
            op = _SPATIAL_CONVERSE.get(op, op)
        return Spatial(op, found[0].name, self.to_storage(_geometry(literal)))

    def _temporal(self, op: str, args: list[Any]) -> Filter:
        self._count(op, args, 2)
        subject = self._temporal_subject(args[0])
        literal = args[1]
        if subject is None:
            subject, literal = self._temporal_subject(args[1]), args[0]
            op = _TEMPORAL_CONVERSE.get(op, op)
        if subject is None:
            raise BadRequest(f"'filter': {op.upper()} needs a temporal property or interval")
        start, end = subject
        low, high = self._period(start, literal, op)
        return Temporal(op, start.name, end.name, low, high)

    def _temporal_subject(self, node: Any) -> tuple[Queryable, Queryable] | None:
        if isinstance(node, dict) and isinstance(node.get("interval"), list):
            ends = node["interval"]
            named = [self._queryable(e) for e in ends] if len(ends) == 2 else []
            if not named or any(n is None for n in named):
                return None
            start, end = (n[0] for n in named)  # type: ignore[index]
        else:
            found = self._queryable(node)
            if found is None:
                return None
            start = end = found[0]
        for queryable in (start, end):
            if queryable.kind not in ("date", "timestamp"):
                raise BadRequest(f"'filter': {queryable.name!r} is not a date or timestamp")
        if start.kind != end.kind:
            raise BadRequest(f"'filter': {start.name!r} and {end.name!r} differ in type")
        return start, end

    def _period(
        self, queryable: Queryable, node: Any, op: str
    ) -> tuple[date | datetime | None, date | datetime | None]:
        """A temporal literal as [low, high]; an instant is [it, it], '..' is open."""
        if isinstance(node, dict) and isinstance(node.get("interval"), list):
            ends = node["interval"]
            if len(ends) != 2:
                raise BadRequest(f"'filter': the interval of {op.upper()} needs two ends")
            low, high = (None if e == ".." else self._moment(queryable, e) for e in ends)
            if low is not None and high is not None and _day(low) > _day(high):
                raise BadRequest(f"'filter': the interval of {op.upper()} ends before it starts")
            return low, high
        moment = self._moment(queryable, node)
        return moment, moment

    def _moment(self, queryable: Queryable, node: Any) -> date | datetime:
        value = self._literal(queryable, node)
        assert isinstance(value, date)  # the queryable is a date or timestamp
        return value


def _scalar(node: Any) -> Any:
    """A literal node as a Python value: ``{"date": …}``, ``{"timestamp": …}`` and ISO
    text become dates and UTC datetimes; other values stay as they are."""
    if isinstance(node, dict) and len(node) == 1:
        ((key, text),) = node.items()
        if key in ("date", "timestamp") and isinstance(text, str):
            parsed = _moment_of(text)
            if parsed is None or (key == "date") == isinstance(parsed, datetime):
                raise BadRequest(f"'filter': {text[:40]!r} is not a {key.upper()}")
            return parsed
    if isinstance(node, str):
        return _moment_of(node) or node
    return node


def _moment_of(text: str) -> date | datetime | None:
    """ISO 8601 text as a date or an aware UTC datetime (a naive time counts as UTC)."""
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC)


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _geometry(node: Any) -> BaseGeometry:
    """A geometry literal (GeoJSON or ``{"bbox": […]}``), in two dimensions, valid."""
    try:
        if isinstance(node, dict) and isinstance(node.get("bbox"), list):
            values = node["bbox"]
            if len(values) not in (4, 6) or not all(_is_number(v) for v in values):
                raise ValueError("a BBOX has 4 or 6 numbers")
            half = len(values) // 2
            geometry = shapely.box(values[0], values[1], values[half], values[half + 1])
        elif isinstance(node, dict) and isinstance(node.get("type"), str):
            geometry = shapely.force_2d(shape(node))
        else:
            raise ValueError(f"expected a geometry, got {_shown(node)}")
    except (ValueError, TypeError, AttributeError, IndexError, shapely.errors.GEOSException) as exc:
        raise BadRequest(f"'filter': not a geometry: {str(exc)[:200]}") from exc
    if not geometry.is_valid:
        raise BadRequest(
            f"'filter': the geometry is not valid ({shapely.is_valid_reason(geometry)})"
        )
    return geometry


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
