"""Coordination detection: which projects and layer features meet under which rule.

Two entry points share one evaluation: ``detect_for_project`` checks one new or changed
project against the spatially indexed candidates (what saving a project runs), and
``detect_all`` recomputes everything in one batch. Both work on a ``DetectionIndex`` built once
from all projects and layer features: STRtrees for the geometries and numpy arrays for the
attributes the rules read (codes for organisations, departments, measure types and statuses;
day numbers for the planned windows; attribute columns per layer).

Cost control: candidate pairs come from bounding-box queries of the trees; selectors, time
windows and layer attributes are then filtered with numpy, and only the pairs that survive go
through exact geometry (predicates, distances, intersections), vectorised over the pair
arrays. Python runs once per finding, to build the result objects.

Semantics (the tests compare with a brute-force oracle written from this list):

- Project windows are [start, end], both days inclusive; a missing start or end is open-ended.
- ``intersects``: the geometries share at least a point (touching counts). ``within d``: the
  distance is at most d metres. Minimum length/area: see ``zugabe.domain.rules.SpatialTest``.
- The overlap geometry is the intersection; for ``within`` without a minimum it is the
  shortest connecting line when the two do not touch; with a minimum, b ∩ buffer(a, d).
- Project pairs: a project never meets itself, and pairs of the same organisation and
  department are left out unless the rule sets ``same_department``. A pair that fits a rule
  in both orientations gives one finding, with the lower project id as subject a when that
  orientation fires. A ``fallback`` rule fires only for pairs no other rule relates.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, TypeVar

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from zugabe.domain.cases import Subject, pair_key
from zugabe.domain.feature_identity import stable_refs
from zugabe.domain.layers import LayerDefinition
from zugabe.domain.project import Project
from zugabe.domain.rules import (
    Condition,
    LayerSelector,
    ProjectSelector,
    Rule,
    TemporalTest,
    value_kind,
)
from zugabe.storage.contract import LayerFeature, LayerFeatureColumns

# Day numbers (date.toordinal) of open window ends: far outside any real date.
OPEN_START = -(1 << 40)
OPEN_END = 1 << 40
_EPOCH = date(1970, 1, 1).toordinal()
# Candidate boxes for distance rules grow by this much more than the distance, so rounding
# never drops a pair whose exact distance is within it; the exact test follows.
_SLACK_M = 1e-6
# Segments per quarter circle of the corridor buffer (b ∩ buffer(a, d)); 16 like shapely's
# BaseGeometry.buffer, so a corridor is within 0.2 % of the distance of a true circle.
BUFFER_QUAD_SEGS = 16
_NO_VALUE = -1  # text column code of a missing value
_UNKNOWN_TEXT = -2  # code of a condition value no feature has
# ``DetectionIndex.updated`` rebuilds the big project tree once the projects saved since it
# was built exceed the larger of these: a count, and a share (1/50) of the indexed projects.
COMPACT_MIN = 256
COMPACT_SHARE = 50

# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Finding:
    """One rule firing for one pair: the raw material of a coordination case.

    Measures: ``overlap_area_m2`` and ``overlap_length_m`` (lineal parts) of the overlap
    geometry, ``distance_m`` between the subjects (0 when they touch), ``overlap_days`` the
    days both project windows share (0 when they do not, None when the shared period is
    unbounded or b is a layer feature), ``gap_months`` the calendar months between the
    windows (0 when they overlap or adjoin; None for layer features).
    """

    rule_id: str
    relation: str
    severity: str
    subject_a: Subject
    subject_b: Subject
    geometry: BaseGeometry = field(compare=False)
    overlap_area_m2: float
    overlap_length_m: float
    distance_m: float
    overlap_days: int | None
    gap_months: int | None
    # (organisation, department) to involve; None where the rule cannot tell which one.
    involved: tuple[tuple[str | None, str | None], ...] = ()

    @property
    def pair_key(self) -> str:
        """Stable identity of the case: rule id and both subjects in a fixed order."""
        return pair_key(self.rule_id, self.subject_a, self.subject_b)

    @property
    def pair(self) -> frozenset[str]:
        """The two subjects, whatever the rule (a fallback rule yields to any other)."""
        return frozenset((self.subject_a.key, self.subject_b.key))


# --------------------------------------------------------------------------- index


class _Codes:
    """Small integers for vocabulary keys, shared by the index and single-project tables."""

    def __init__(self) -> None:
        self._map: dict[str, int] = {}
        self._counter = itertools.count()

    def code(self, value: str) -> int:
        found = self._map.get(value)
        if found is None:
            found = self._map.setdefault(value, next(self._counter))
        return found

    def codes(self, values: Iterable[str]) -> np.ndarray:
        return np.fromiter((self.code(v) for v in values), dtype=np.int64)


def _day(value: date | None, open_value: int) -> int:
    return open_value if value is None else value.toordinal()


@dataclass(frozen=True)
class _Projects:
    """Projects column by column, ordered by id."""

    items: tuple[Project, ...]
    ids: np.ndarray
    geoms: np.ndarray
    organisation: np.ndarray
    department: np.ndarray
    measure_type: np.ndarray
    status: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @classmethod
    def of(cls, projects: Sequence[Project], codes: _Codes) -> _Projects:
        attrs = [p.attributes for p in projects]
        geoms = np.empty(len(projects), dtype=object)
        geoms[:] = [p.geometry for p in projects]
        return cls(
            items=tuple(projects),
            ids=np.fromiter((p.id for p in projects), dtype=np.int64, count=len(projects)),
            geoms=geoms,
            organisation=codes.codes(a.organisation for a in attrs),
            department=codes.codes(a.department for a in attrs),
            measure_type=codes.codes(a.measure_type for a in attrs),
            status=codes.codes(a.status.value for a in attrs),
            start=np.fromiter((_day(a.start, OPEN_START) for a in attrs), dtype=np.int64),
            end=np.fromiter((_day(a.end, OPEN_END) for a in attrs), dtype=np.int64),
        )

    def mask(self, selector: ProjectSelector, codes: _Codes) -> np.ndarray:
        mask = np.isin(self.status, codes.codes(s.value for s in selector.statuses))
        for column, wanted in (
            (self.organisation, selector.organisations),
            (self.department, selector.departments),
            (self.measure_type, selector.measure_types),
        ):
            if wanted:
                mask &= np.isin(column, codes.codes(wanted))
        return mask


class _Layer:
    """The features of one layer: geometries, derived geometries, attribute columns, trees."""

    def __init__(
        self,
        key: str,
        features: LayerFeatureColumns | Iterable[LayerFeature],
        id_attribute: str | None,
    ):
        self.key = key
        if not isinstance(features, LayerFeatureColumns):
            features = LayerFeatureColumns.of(features)
        self.features = features
        self.feature_ids = features.ids
        self.geoms = features.geometries
        # A feature without a derived geometry is tested with its own.
        self.derived = features.derived.copy()
        plain = shapely.is_missing(self.derived)
        self.derived[plain] = self.geoms[plain]
        self.stable_ids = stable_refs(features.attributes, self.geoms, id_attribute)
        self._by_stable_id: dict[str, int] | None = None
        self._columns: dict[tuple[str, str], np.ndarray] = {}
        self._text_codes: dict[str, dict[Any, int]] = {}
        self._subsets: dict[tuple[LayerSelector, str | None], tuple[np.ndarray, Any]] = {}

    def __len__(self) -> int:
        return len(self.feature_ids)

    def feature(self, feature_id: int) -> LayerFeature | None:
        position = self.features.position(feature_id)
        return None if position is None else self.features.feature(position)

    def by_stable_id(self, ref: str) -> LayerFeature | None:
        if self._by_stable_id is None:
            self._by_stable_id = {ref: i for i, ref in enumerate(self.stable_ids)}
        position = self._by_stable_id.get(ref)
        return None if position is None else self.features.feature(position)

    def column(self, attribute: str, kind: str) -> np.ndarray:
        """One attribute as an array: float64 with NaN for missing, or int codes for text."""
        cached = self._columns.get((attribute, kind))
        if cached is not None:
            return cached
        raw = [a.get(attribute) for a in self.features.attributes]
        if kind == "text":
            lookup = self._text_codes.setdefault(attribute, {})
            column = np.fromiter(
                (
                    lookup.setdefault(v, len(lookup)) if value_kind(v) == "text" else _NO_VALUE
                    for v in raw
                ),
                dtype=np.int64,
                count=len(raw),
            )
        else:
            column = np.fromiter(
                (_number(v) if value_kind(v) == kind else math.nan for v in raw),
                dtype=np.float64,
                count=len(raw),
            )
        self._columns[(attribute, kind)] = column
        return column

    def condition_mask(self, condition: Condition) -> np.ndarray:
        kind = condition.kind
        column = self.column(condition.attribute, kind)
        values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
        if kind == "text":
            lookup = self._text_codes.get(condition.attribute, {})
            wanted = np.array([lookup.get(v, _UNKNOWN_TEXT) for v in values], dtype=np.int64)
            present = column != _NO_VALUE
        else:
            wanted = np.array([_number(v) for v in values], dtype=np.float64)
            present = ~np.isnan(column)
        op = condition.operator
        if op == "in":
            return np.isin(column, wanted) & present
        value = wanted[0]
        if op == "==":
            return (column == value) & present
        if op == "!=":
            return (column != value) & present
        with np.errstate(invalid="ignore"):
            if op == "<":
                return column < value
            if op == "<=":
                return column <= value
            if op == ">":
                return column > value
            return column >= value

    def subset(self, selector: LayerSelector, year_attribute: str | None) -> tuple[np.ndarray, Any]:
        """Positions of the features a selector keeps, and an STRtree over just those.

        Built once per selector: attribute conditions discard features before any geometry.
        """
        key = (selector, year_attribute)
        cached = self._subsets.get(key)
        if cached is not None:
            return cached
        mask = np.ones(len(self), dtype=bool)
        for condition in selector.where:
            mask &= self.condition_mask(condition)
        if year_attribute is not None:
            mask &= ~np.isnan(self.column(year_attribute, "number"))
        positions = np.flatnonzero(mask)
        geoms = self.derived if selector.use_derived else self.geoms
        result = (positions, shapely.STRtree(geoms[positions]))
        self._subsets[key] = result
        return result


def _number(value: Any) -> float:
    if isinstance(value, date):
        return float(value.toordinal())
    return float(value)


class _ProjectSet:
    """Projects with their STRtree and, per selector, the mask of those it keeps."""

    def __init__(self, projects: Sequence[Project], codes: _Codes) -> None:
        ordered = sorted(projects, key=lambda p: p.id)
        ids = [p.id for p in ordered]
        if len(set(ids)) != len(ids):
            raise ValueError("project ids must be unique")
        self.codes = codes
        self.table = _Projects.of(ordered, codes)
        self.position = {pid: i for i, pid in enumerate(ids)}
        self.tree = shapely.STRtree(self.table.geoms)
        self._masks: dict[ProjectSelector, np.ndarray] = {}

    def mask(self, selector: ProjectSelector) -> np.ndarray:
        mask = self._masks.get(selector)
        if mask is None:
            mask = self.table.mask(selector, self.codes)
            self._masks[selector] = mask
        return mask

    def __len__(self) -> int:
        return len(self.table.items)


class DetectionIndex:
    """All projects and layer features, indexed once for many detections.

    ``layers`` maps layer keys to their features; ``layer_definitions`` tells each layer's
    ``id_attribute`` (stable subject ids across re-imports). Passing the ``rules`` builds the
    attribute columns and per-rule trees up front, so the first detection is as fast as the
    rest; otherwise they are built on first use.

    An index is never changed in place. ``updated`` gives a new index with some projects
    saved or removed: it shares the layers and the big project tree, hides the superseded
    projects in it and keeps the changed ones in a small second tree, which is folded into
    the big one once it holds more than a few percent of the projects. So a save costs
    milliseconds, not a rebuild, while readers of the old index are undisturbed.
    """

    def __init__(
        self,
        projects: Iterable[Project],
        layers: Mapping[str, LayerFeatureColumns | Iterable[LayerFeature]] | None = None,
        *,
        layer_definitions: Mapping[str, LayerDefinition] | None = None,
        rules: Sequence[Rule] = (),
    ) -> None:
        self.codes = _Codes()
        self._base = _ProjectSet(list(projects), self.codes)
        self._hidden: np.ndarray | None = None  # base positions superseded or removed
        self._extra: _ProjectSet | None = None  # saved since the base was built
        definitions = layer_definitions or {}
        self.layers = {
            key: _Layer(
                key, features, definitions[key].id_attribute if key in definitions else None
            )
            for key, features in (layers or {}).items()
        }
        self.rules = tuple(rules)
        for rule in self.rules:
            self.prepare(rule)

    def updated(self, saved: Iterable[Project] = (), removed: Iterable[int] = ()) -> DetectionIndex:
        """A new index with these project versions in and these project ids out."""
        extra = {p.id: p for p in self._extra.table.items} if self._extra else {}
        gone = set(removed)
        for project_id in gone:
            extra.pop(project_id, None)
        extra.update((p.id, p) for p in saved)
        hidden = (
            np.zeros(len(self._base), dtype=bool) if self._hidden is None else self._hidden.copy()
        )
        for project_id in gone | extra.keys():
            position = self._base.position.get(project_id)
            if position is not None:
                hidden[position] = True
        result = object.__new__(DetectionIndex)
        result.codes, result.layers, result.rules = self.codes, self.layers, self.rules
        if len(extra) > max(COMPACT_MIN, len(self._base) // COMPACT_SHARE):
            kept = itertools.compress(self._base.table.items, (~hidden).tolist())
            result._base = _ProjectSet([*kept, *extra.values()], self.codes)
            result._hidden, result._extra = None, None
            for rule in self.rules:
                result.prepare(rule)
        else:
            result._base = self._base
            result._hidden = hidden
            result._extra = _ProjectSet(list(extra.values()), self.codes) if extra else None
        return result

    def prepare(self, rule: Rule) -> None:
        """Build what ``rule`` needs (selector masks, attribute columns, subset trees)."""
        self._base.mask(rule.a)
        if isinstance(rule.b, ProjectSelector):
            self._base.mask(rule.b)
        elif rule.b.layer in self.layers:
            self.layers[rule.b.layer].subset(rule.b, rule.temporal.attribute)

    def _project_sets(self) -> list[tuple[_ProjectSet, np.ndarray | None]]:
        """Each project set with the mask of its visible projects (None: all)."""
        sets = [(self._base, None if self._hidden is None else ~self._hidden)]
        if self._extra is not None:
            sets.append((self._extra, None))
        return sets

    def _single_set(self) -> _ProjectSet:
        """All visible projects in one set: the base, or a merged one for a batch run."""
        if self._hidden is None and self._extra is None:
            return self._base
        visible = self._base.table.items
        if self._hidden is not None:
            visible = tuple(itertools.compress(visible, (~self._hidden).tolist()))
        extra = self._extra.table.items if self._extra else ()
        return _ProjectSet([*visible, *extra], self.codes)

    def project(self, project_id: int) -> Project | None:
        if self._extra is not None and project_id in self._extra.position:
            return self._extra.table.items[self._extra.position[project_id]]
        position = self._base.position.get(project_id)
        if position is None or (self._hidden is not None and self._hidden[position]):
            return None
        return self._base.table.items[position]

    def __len__(self) -> int:
        """The number of projects in the index."""
        hidden = 0 if self._hidden is None else int(self._hidden.sum())
        return len(self._base) - hidden + (len(self._extra) if self._extra else 0)

    def feature(self, layer: str, feature_id: int) -> LayerFeature | None:
        table = self.layers.get(layer)
        return None if table is None else table.feature(feature_id)

    def feature_by_ref(self, layer: str, ref: str) -> LayerFeature | None:
        """The feature a case names by its stable reference (``Subject.ref``)."""
        table = self.layers.get(layer)
        return None if table is None else table.by_stable_id(ref)


# --------------------------------------------------------------------------- time


def _d64(days: np.ndarray) -> np.ndarray:
    return (days - _EPOCH).astype("datetime64[D]")


def _years(days: np.ndarray) -> np.ndarray:
    """Calendar year of each day number."""
    return _d64(days).astype("datetime64[Y]").astype(np.int64) + 1970


def _add_months(days: np.ndarray, months: int | np.ndarray) -> np.ndarray:
    """Day numbers shifted by calendar months; the day is clamped to the month's end."""
    d = _d64(days)
    month = d.astype("datetime64[M]")
    day_in_month = (d - month.astype("datetime64[D]")).astype(np.int64)
    target = month + np.asarray(months).astype("timedelta64[M]")
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    shifted = target.astype("datetime64[D]") + np.minimum(day_in_month, length - 1)
    return shifted.astype(np.int64) + _EPOCH


def _months_between(earlier_end: np.ndarray, later_start: np.ndarray) -> np.ndarray:
    """Fewest calendar months k with earlier_end + k months ≥ the day before later_start."""
    end = _d64(earlier_end)
    last_free = _d64(later_start - 1)
    end_month = end.astype("datetime64[M]")
    free_month = last_free.astype("datetime64[M]")
    k = (free_month - end_month).astype(np.int64)
    end_day = (end - end_month.astype("datetime64[D]")).astype(np.int64)
    free_day = (last_free - free_month.astype("datetime64[D]")).astype(np.int64)
    length = ((free_month + 1).astype("datetime64[D]") - free_month.astype("datetime64[D]")).astype(
        np.int64
    )
    k = k + (np.minimum(end_day, length - 1) < free_day)
    return np.maximum(k, 0)


def _gap_months(sa: np.ndarray, ea: np.ndarray, sb: np.ndarray, eb: np.ndarray) -> np.ndarray:
    """Months between two windows: 0 when they overlap or adjoin."""
    a_first = ea < sb
    b_first = eb < sa
    apart = a_first | b_first
    gap = np.zeros(len(sa), dtype=np.int64)
    if apart.any():
        end = np.where(a_first, ea, eb)[apart]
        start = np.where(a_first, sb, sa)[apart]
        gap[apart] = _months_between(end, start)
    return gap


def _overlap_days(sa: np.ndarray, ea: np.ndarray, sb: np.ndarray, eb: np.ndarray) -> np.ndarray:
    """Days both windows share, NaN when that period is unbounded."""
    low = np.maximum(sa, sb)
    high = np.minimum(ea, eb)
    days = (high - low + 1).astype(np.float64)
    unbounded = (low == OPEN_START) | (high == OPEN_END)
    days[unbounded] = math.nan
    days[high < low] = 0.0
    return days


def _project_time(
    test: TemporalTest, sa: np.ndarray, ea: np.ndarray, sb: np.ndarray, eb: np.ndarray
) -> np.ndarray:
    if test.test == "none":
        return np.ones(len(sa), dtype=bool)
    overlap = (sa <= eb) & (sb <= ea)
    if test.test == "overlap":
        return overlap
    if test.test == "gap_months":
        assert test.months is not None
        return overlap | (_gap_months(sa, ea, sb, eb) <= test.months)
    if test.test == "moratorium":
        assert test.years is not None
        ok = (sa != OPEN_START) & (eb != OPEN_END) & (eb <= sa)
        if ok.any():
            limit = _add_months(sa[ok], -12 * test.years)
            ok[ok] = eb[ok] > limit
        return ok
    raise ValueError(f"temporal test {test.test!r} does not apply to two projects")


def _layer_time(test: TemporalTest, sa: np.ndarray, ea: np.ndarray, year: np.ndarray) -> np.ndarray:
    if test.test == "none":
        return np.ones(len(sa), dtype=bool)
    assert test.years is not None
    present = ~np.isnan(year)
    if test.test == "moratorium":
        ok = present & (sa != OPEN_START)
        start_year = _years(np.where(ok, sa, _EPOCH))
        return ok & (year <= start_year) & (start_year - year < test.years)
    if test.test == "year_window":
        low = np.where(sa == OPEN_START, -np.inf, _years(np.where(sa == OPEN_START, _EPOCH, sa)))
        high = np.where(ea == OPEN_END, np.inf, _years(np.where(ea == OPEN_END, _EPOCH, ea)))
        with np.errstate(invalid="ignore"):
            return present & (year >= low - test.years) & (year <= high + test.years)
    raise ValueError(f"temporal test {test.test!r} does not apply to a layer")


# --------------------------------------------------------------------------- geometry


def _candidates(tree: Any, geoms: np.ndarray, rule: Rule, exact: bool) -> np.ndarray:
    """(query index, tree index) pairs that may meet: boxes only, or exact ``intersects``."""
    if len(geoms) == 0:
        return np.empty((2, 0), dtype=np.int64)
    if rule.spatial.test == "within":
        r = rule.spatial.distance + _SLACK_M
        b = shapely.bounds(geoms)
        boxes = shapely.box(b[:, 0] - r, b[:, 1] - r, b[:, 2] + r, b[:, 3] + r)
        return tree.query(boxes)
    return tree.query(geoms, predicate="intersects" if exact else None)


def _lineal_length(geoms: np.ndarray) -> np.ndarray:
    """Length of the line parts of each geometry (a polygon's outline does not count)."""
    n = len(geoms)
    if n == 0:
        return np.zeros(0)
    parts, owner = shapely.get_parts(geoms, return_index=True)
    types = shapely.get_type_id(parts)
    while (nested := types >= 4).any():  # multi-geometries inside collections
        inner, inner_owner = shapely.get_parts(parts[nested], return_index=True)
        parts = np.concatenate([parts[~nested], inner])
        owner = np.concatenate([owner[~nested], owner[nested][inner_owner]])
        types = shapely.get_type_id(parts)
    lineal = (types == 1) | (types == 2)
    return np.bincount(owner[lineal], weights=shapely.length(parts[lineal]), minlength=n)


@dataclass
class _Hits:
    """The pairs one rule fires for, with their overlap and measures, column by column."""

    rule: Rule
    a_table: _Projects
    a_pos: np.ndarray
    b_table: _Projects | _Layer
    b_pos: np.ndarray
    geoms: np.ndarray
    area: np.ndarray
    length: np.ndarray
    distance: np.ndarray
    overlap_days: np.ndarray
    gap_months: np.ndarray

    def take(self, keep: np.ndarray) -> _Hits:
        return _Hits(
            self.rule,
            self.a_table,
            self.a_pos[keep],
            self.b_table,
            self.b_pos[keep],
            self.geoms[keep],
            self.area[keep],
            self.length[keep],
            self.distance[keep],
            self.overlap_days[keep],
            self.gap_months[keep],
        )

    @property
    def a_ids(self) -> np.ndarray:
        return self.a_table.ids[self.a_pos]


def _evaluate(
    rule: Rule,
    a_table: _Projects,
    a_pos: np.ndarray,
    b_table: _Projects | _Layer,
    b_pos: np.ndarray,
    *,
    intersecting: bool = False,
) -> _Hits:
    """Filter candidate pairs by time and department, then test and measure the geometry.

    ``intersecting`` says the candidates already passed the exact ``intersects`` test.
    """
    sa, ea = a_table.start[a_pos], a_table.end[a_pos]
    if isinstance(b_table, _Projects):
        sb, eb = b_table.start[b_pos], b_table.end[b_pos]
        keep = a_table.ids[a_pos] != b_table.ids[b_pos]
        if not rule.same_department:
            keep &= (a_table.organisation[a_pos] != b_table.organisation[b_pos]) | (
                a_table.department[a_pos] != b_table.department[b_pos]
            )
        keep &= _project_time(rule.temporal, sa, ea, sb, eb)
        b_geoms = b_table.geoms
    else:
        assert isinstance(rule.b, LayerSelector)
        if rule.temporal.attribute is not None:
            year = b_table.column(rule.temporal.attribute, "number")[b_pos]
            keep = _layer_time(rule.temporal, sa, ea, year)
        else:
            keep = np.ones(len(a_pos), dtype=bool)
        b_geoms = b_table.derived if rule.b.use_derived else b_table.geoms
    a_pos, b_pos = a_pos[keep], b_pos[keep]
    ga, gb = a_table.geoms[a_pos], b_geoms[b_pos]

    spatial = rule.spatial
    if spatial.test == "intersects":
        if not intersecting:
            hit = shapely.intersects(ga, gb)
            a_pos, b_pos, ga, gb = a_pos[hit], b_pos[hit], ga[hit], gb[hit]
        overlap = shapely.intersection(ga, gb)
        distance = np.zeros(len(a_pos))
        touching = np.ones(len(a_pos), dtype=bool)
    else:
        distance = shapely.distance(ga, gb)
        hit = distance <= spatial.distance
        a_pos, b_pos, ga, gb, distance = a_pos[hit], b_pos[hit], ga[hit], gb[hit], distance[hit]
        if spatial.has_minimum:
            # The part of b near a: buffer each a once, however many b it meets.
            unique, inverse = np.unique(a_pos, return_inverse=True)
            buffers = shapely.buffer(
                a_table.geoms[unique], spatial.distance, quad_segs=BUFFER_QUAD_SEGS
            )[inverse]
            overlap = shapely.intersection(gb, buffers)
            touching = np.ones(len(a_pos), dtype=bool)
        else:
            overlap = np.empty(len(a_pos), dtype=object)
            touching = distance == 0
            overlap[touching] = shapely.intersection(ga[touching], gb[touching])
            overlap[~touching] = shapely.shortest_line(ga[~touching], gb[~touching])
    area = np.where(touching, shapely.area(overlap), 0.0)
    length = np.where(touching, _lineal_length(overlap), 0.0)

    if isinstance(b_table, _Projects):
        sa, ea = a_table.start[a_pos], a_table.end[a_pos]
        sb, eb = b_table.start[b_pos], b_table.end[b_pos]
        overlap_days = _overlap_days(sa, ea, sb, eb)
        gap = _gap_months(sa, ea, sb, eb).astype(np.float64)
    else:
        overlap_days = np.full(len(a_pos), math.nan)
        gap = np.full(len(a_pos), math.nan)
    hits = _Hits(
        rule, a_table, a_pos, b_table, b_pos, overlap, area, length, distance, overlap_days, gap
    )
    if spatial.has_minimum:
        if spatial.min_length is not None and spatial.min_area is not None:
            enough = (length >= spatial.min_length) | (area >= spatial.min_area)
        elif spatial.min_length is not None:
            enough = length >= spatial.min_length
        else:
            enough = area >= spatial.min_area
        hits = hits.take(enough)
    return hits


# --------------------------------------------------------------------------- findings


def _involved(
    rule: Rule, a: tuple[str, str], b: tuple[str, str] | None
) -> tuple[tuple[str | None, str | None], ...]:
    """Both projects' departments, then the rule's: in a project's organisation if it has one.

    ``a`` and ``b`` are (organisation, department); b is None for a layer feature.
    """
    entries: list[tuple[str | None, str | None]] = [a]
    if b is not None:
        entries.append(b)
    for department in rule.involve_departments:
        owners = rule.department_organisations.get(department, frozenset())
        organisation = next(
            (org for org, _ in (a, b or a) if org in owners),
            None,
        )
        entries.append((organisation, department))
    named = {org for org, _ in entries}
    entries += [(org, None) for org in rule.involve_organisations if org not in named]
    return tuple(dict.fromkeys(entries))


_Subject = TypeVar("_Subject", Project, LayerFeature)
Involved = tuple[tuple[str | None, str | None], ...]
"""(organisation, department) pairs a finding involves; None where the rule cannot tell."""


@dataclass(frozen=True)
class RuleFindings:
    """The findings of one rule as columns, ordered by subject a, then b (as ``detect_all``
    orders them): a batch run turns a quarter of a million findings into cases, and one
    ``Finding`` with two ``Subject`` objects each would cost more than the cases.

    Subject b is a project (``b_projects``) or a feature of ``layer`` (``b_refs``, its
    stored row ``b_feature_ids`` and its attributes ``b_attributes``). Measures as in
    ``Finding``; ``overlap_days`` and ``gap_months`` are None where ``Finding``'s are.
    """

    rule: Rule
    a: list[Project]
    b_projects: list[Project] | None
    layer: str | None
    b_refs: list[str]
    b_feature_ids: list[int] | None
    b_attributes: list[Mapping[str, Any]] | None
    geometries: np.ndarray
    area: list[float]
    length: list[float]
    distance: list[float]
    overlap_days: list[int | None]
    gap_months: list[int | None]
    involved: list[Involved]

    def __len__(self) -> int:
        return len(self.a)

    def subject_b(self, i: int) -> Subject:
        if self.layer is None:
            return Subject("project", self.b_refs[i])
        assert self.b_feature_ids is not None
        return Subject("layer", self.b_refs[i], self.layer, self.b_feature_ids[i])

    def without(self, related: set[tuple[int, str, str]]) -> RuleFindings:
        """The findings whose (project id, layer, feature reference) is not ``related``."""
        keep = [
            (a.id, self.layer, ref) not in related
            for a, ref in zip(self.a, self.b_refs, strict=True)
        ]

        def kept(values: list[Any] | None) -> Any:
            return None if values is None else list(itertools.compress(values, keep))

        return replace(
            self,
            a=kept(self.a),
            b_projects=kept(self.b_projects),
            b_refs=kept(self.b_refs),
            b_feature_ids=kept(self.b_feature_ids),
            b_attributes=kept(self.b_attributes),
            geometries=self.geometries[np.array(keep, dtype=bool)],
            area=kept(self.area),
            length=kept(self.length),
            distance=kept(self.distance),
            overlap_days=kept(self.overlap_days),
            gap_months=kept(self.gap_months),
            involved=kept(self.involved),
        )

    def findings(self) -> list[Finding]:
        """The findings one by one."""
        rule = self.rule
        return [
            Finding(
                rule_id=rule.id,
                relation=rule.relation,
                severity=rule.severity,
                subject_a=Subject("project", str(self.a[i].id)),
                subject_b=self.subject_b(i),
                geometry=self.geometries[i],
                overlap_area_m2=self.area[i],
                overlap_length_m=self.length[i],
                distance_m=self.distance[i],
                overlap_days=self.overlap_days[i],
                gap_months=self.gap_months[i],
                involved=self.involved[i],
            )
            for i in range(len(self.a))
        ]


def _rule_findings_of(hits: _Hits) -> RuleFindings:
    """A rule's hits as its findings, ordered by subject a, then b."""
    rule, b_table = hits.rule, hits.b_table
    a_ids = hits.a_ids
    if isinstance(b_table, _Projects):
        order = np.lexsort((b_table.ids[hits.b_pos], a_ids))
    else:
        refs = np.array([b_table.stable_ids[p] for p in hits.b_pos.tolist()], dtype=str)
        order = np.lexsort((refs, a_ids))
    a_pos, b_pos = hits.a_pos[order].tolist(), hits.b_pos[order].tolist()
    a_items = hits.a_table.items
    a = [a_items[p] for p in a_pos]
    a_units = [(p.attributes.organisation, p.attributes.department) for p in a]
    if isinstance(b_table, _Projects):
        b_projects = [b_table.items[p] for p in b_pos]
        b_units: list[tuple[str, str] | None] = [
            (p.attributes.organisation, p.attributes.department) for p in b_projects
        ]
        layer, refs_b, feature_ids, attributes = None, [str(p.id) for p in b_projects], None, None
    else:
        b_projects, b_units = None, [None] * len(b_pos)
        layer = b_table.key
        refs_b = [b_table.stable_ids[p] for p in b_pos]
        feature_ids = b_table.feature_ids[b_pos].tolist()
        features = b_table.features.attributes
        attributes = [features[p] for p in b_pos]
    # Few distinct department pairs recur across many findings.
    units: dict[tuple[tuple[str, str], tuple[str, str] | None], Involved] = {}
    involved = []
    for pair in zip(a_units, b_units, strict=True):
        entry = units.get(pair)
        if entry is None:
            entry = units[pair] = _involved(rule, *pair)
        involved.append(entry)
    return RuleFindings(
        rule=rule,
        a=a,
        b_projects=b_projects,
        layer=layer,
        b_refs=refs_b,
        b_feature_ids=feature_ids,
        b_attributes=attributes,
        geometries=hits.geoms[order],
        area=hits.area[order].tolist(),
        length=hits.length[order].tolist(),
        distance=hits.distance[order].tolist(),
        overlap_days=_whole_or_none(hits.overlap_days[order]),
        gap_months=_whole_or_none(hits.gap_months[order]),
        involved=involved,
    )


def _whole_or_none(values: np.ndarray) -> list[int | None]:
    """Float values as whole numbers, NaN as None."""
    return [None if math.isnan(v) else int(v) for v in values.tolist()]


def _findings(hits: _Hits) -> list[Finding]:
    return _rule_findings_of(hits).findings()


def findings_by_rule(
    findings: Sequence[Finding], index: DetectionIndex, rules: Sequence[Rule]
) -> list[RuleFindings]:
    """Findings one by one (``detect_for_project``'s) as the columns of their rules, in
    the order of the rules and of the findings, each subject looked up in ``index``."""
    by_rule: dict[str, list[Finding]] = {}
    for finding in findings:
        by_rule.setdefault(finding.rule_id, []).append(finding)
    groups = []
    for rule in rules:
        found = by_rule.get(rule.id)
        if not found:
            continue
        a = [_indexed(index.project(int(f.subject_a.ref)), f) for f in found]
        b_projects = feature_ids = attributes = None
        if rule.layer is None:
            b_projects = [_indexed(index.project(int(f.subject_b.ref)), f) for f in found]
        else:
            feature_ids = [_feature_id(f) for f in found]
            attributes = [
                _indexed(index.feature(rule.layer, fid), f).attributes
                for fid, f in zip(feature_ids, found, strict=True)
            ]
        geometries = np.empty(len(found), dtype=object)
        geometries[:] = [f.geometry for f in found]
        groups.append(
            RuleFindings(
                rule=rule,
                a=a,
                b_projects=b_projects,
                layer=rule.layer,
                b_refs=[f.subject_b.ref for f in found],
                b_feature_ids=feature_ids,
                b_attributes=attributes,
                geometries=geometries,
                area=[f.overlap_area_m2 for f in found],
                length=[f.overlap_length_m for f in found],
                distance=[f.distance_m for f in found],
                overlap_days=[f.overlap_days for f in found],
                gap_months=[f.gap_months for f in found],
                involved=[f.involved for f in found],
            )
        )
    return groups


def _feature_id(finding: Finding) -> int:
    feature_id = finding.subject_b.feature_id
    if feature_id is None:
        raise LookupError(f"{finding.pair_key}: the layer feature has no stored row")
    return feature_id


def _indexed(subject: _Subject | None, finding: Finding) -> _Subject:
    """A finding's subject as the index has it; the index it was found in has each."""
    if subject is None:
        raise LookupError(f"{finding.pair_key}: a subject is not in the index")
    return subject


def _one_orientation(hits: _Hits) -> _Hits:
    """Per unordered project pair keep one finding: a = the lower id when that one fired."""
    if len(hits.a_pos) == 0:
        return hits
    assert isinstance(hits.b_table, _Projects)
    a_ids, b_ids = hits.a_ids, hits.b_table.ids[hits.b_pos]
    low, high = np.minimum(a_ids, b_ids), np.maximum(a_ids, b_ids)
    order = np.lexsort((a_ids > b_ids, high, low))
    first = np.ones(len(order), dtype=bool)
    first[1:] = (low[order][1:] != low[order][:-1]) | (high[order][1:] != high[order][:-1])
    return hits.take(np.sort(order[first]))


def _symmetric(rule: Rule) -> bool:
    """Whether swapping the two projects changes nothing: same selector on both sides and
    tests that do not tell a from b (a corridor around a or a moratorium after b do)."""
    return (
        rule.a == rule.b
        and not (rule.spatial.test == "within" and rule.spatial.has_minimum)
        and rule.temporal.test in ("none", "overlap", "gap_months")
    )


def _pair_codes(a_pos: np.ndarray, b_pos: np.ndarray, n: int) -> np.ndarray:
    """One number per unordered pair of positions in a table of n projects."""
    return np.minimum(a_pos, b_pos) * n + np.maximum(a_pos, b_pos)


def _apply_fallbacks(findings: list[Finding], rules: Sequence[Rule]) -> list[Finding]:
    fallback = {rule.id for rule in rules if rule.fallback}
    if not fallback:
        return findings
    related = {f.pair for f in findings if f.rule_id not in fallback}
    return [f for f in findings if f.rule_id not in fallback or f.pair not in related]


def _ordered(findings: list[Finding], rules: Sequence[Rule]) -> list[Finding]:
    rank = {rule.id: i for i, rule in enumerate(rules)}
    return sorted(
        findings,
        key=lambda f: (rank[f.rule_id], f.subject_a.sort_key(), f.subject_b.sort_key()),
    )


# --------------------------------------------------------------------------- detection


def _layer_candidates(
    rule: Rule, index: DetectionIndex, a_table: _Projects, a_pos: np.ndarray
) -> _Hits | None:
    assert isinstance(rule.b, LayerSelector)
    layer = index.layers.get(rule.b.layer)
    if layer is None or len(a_pos) == 0:
        return None
    positions, tree = layer.subset(rule.b, rule.temporal.attribute)
    if len(positions) == 0:
        return None
    # Without a time test nothing is left to filter per pair, so the tree tests exactly.
    exact = rule.spatial.test == "intersects" and rule.temporal.test == "none"
    query, found = _candidates(tree, a_table.geoms[a_pos], rule, exact)
    return _evaluate(rule, a_table, a_pos[query], layer, positions[found], intersecting=exact)


def _a_prefilter(rule: Rule, table: _Projects) -> np.ndarray:
    """Projects that cannot be subject a of this rule whatever b is (missing start)."""
    if rule.temporal.test == "moratorium":
        return table.start != OPEN_START
    return np.ones(len(table.ids), dtype=bool)


def _b_prefilter(rule: Rule, table: _Projects) -> np.ndarray:
    if rule.temporal.test == "moratorium":
        return table.end != OPEN_END
    return np.ones(len(table.ids), dtype=bool)


def detect_all(
    index: DetectionIndex, rules: Sequence[Rule], workers: int | None = None
) -> list[Finding]:
    """Every finding of every rule over the whole index, each pair once per rule, in the
    order of the rules, then of subject a and b (``detect_every_rule`` one by one)."""
    return [f for found in detect_every_rule(index, rules, workers) for f in found.findings()]


def detect_every_rule(
    index: DetectionIndex, rules: Sequence[Rule], workers: int | None = None
) -> list[RuleFindings]:
    """The findings of each rule that fires over the whole index, as columns, in the order
    of the rules.

    Rules run side by side on ``workers`` threads (default: one per CPU): GEOS and numpy
    release the GIL, so the geometry of one rule is computed while another builds its
    findings. Fallback rules run after the others, as they skip the pairs those relate.
    """
    project_set = index._single_set()
    plain = [rule for rule in rules if not rule.fallback]
    fallbacks = [rule for rule in rules if rule.fallback]
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        first = list(pool.map(lambda r: _rule_findings(r, index, project_set, None), plain))
        # Project pairs related by a rule that is not a fallback, as low·n + high positions.
        related = np.concatenate([codes for _, codes in first] or [np.empty(0, np.int64)])
        second = list(pool.map(lambda r: _rule_findings(r, index, project_set, related), fallbacks))
    found = {part.rule.id: part for part, _ in first + second if part is not None and len(part)}
    # Fallbacks between projects left out the related pairs already (``related``); those
    # on a layer yield here to the other rules' findings of the same project and feature.
    if any(found[rule.id].layer for rule in fallbacks if rule.id in found):
        related_features = {
            (a.id, part.layer, ref)
            for part, _ in first
            if part is not None and part.layer is not None
            for a, ref in zip(part.a, part.b_refs, strict=True)
        }
        for rule in fallbacks:
            if rule.id in found and found[rule.id].layer is not None:
                found[rule.id] = found[rule.id].without(related_features)
    return [found[rule.id] for rule in rules if rule.id in found and len(found[rule.id])]


def _rule_findings(
    rule: Rule, index: DetectionIndex, project_set: _ProjectSet, related: np.ndarray | None
) -> tuple[RuleFindings | None, np.ndarray]:
    """One rule over everything; with the pair codes of the project pairs it relates.

    ``related``: pairs a fallback rule leaves out before computing any geometry.
    """
    projects = project_set.table
    n = len(project_set)
    nothing = (None, np.empty(0, np.int64))
    a_pos = np.flatnonzero(project_set.mask(rule.a) & _a_prefilter(rule, projects))
    if not isinstance(rule.b, ProjectSelector):
        hits = _layer_candidates(rule, index, projects, a_pos)
        return nothing if hits is None else (_rule_findings_of(hits), nothing[1])
    b_mask = project_set.mask(rule.b) & _b_prefilter(rule, projects)
    if len(a_pos) == 0 or not b_mask.any():
        return nothing
    query, pairs_b = _candidates(project_set.tree, projects.geoms[a_pos], rule, False)
    pairs_a = a_pos[query]
    keep = b_mask[pairs_b]
    if _symmetric(rule):
        # Each pair fires in both orientations alike: evaluate it once, lower id as a
        # (positions follow ids), which is the orientation ``_one_orientation`` keeps.
        keep &= pairs_a < pairs_b
    if related is not None and len(related):
        keep &= ~np.isin(_pair_codes(pairs_a, pairs_b, n), related)
    hits = _one_orientation(_evaluate(rule, projects, pairs_a[keep], projects, pairs_b[keep]))
    return _rule_findings_of(hits), _pair_codes(hits.a_pos, hits.b_pos, n)


def _project_pair_findings(
    rule: Rule, project: Project, single: _Projects, index: DetectionIndex
) -> list[Finding]:
    """One project against the indexed projects under a project × project rule."""
    as_a = rule.a.matches(project.attributes) and bool(_a_prefilter(rule, single)[0])
    as_b = rule.b.matches(project.attributes) and bool(_b_prefilter(rule, single)[0])
    if not (as_a or as_b):
        return []
    parts = []
    for project_set, visible in index._project_sets():
        projects = project_set.table
        _, found = _candidates(project_set.tree, single.geoms, rule, False)
        keep = projects.ids[found] != project.id
        if visible is not None:
            keep &= visible[found]
        found = found[keep]
        if as_a:
            b_pos = found[(project_set.mask(rule.b) & _b_prefilter(rule, projects))[found]]
            parts += _findings(
                _evaluate(rule, single, np.zeros(len(b_pos), np.int64), projects, b_pos)
            )
        if as_b:
            a_pos = found[(project_set.mask(rule.a) & _a_prefilter(rule, projects))[found]]
            parts += _findings(
                _evaluate(rule, projects, a_pos, single, np.zeros(len(a_pos), np.int64))
            )
    chosen: dict[str, Finding] = {}
    for finding in parts:
        kept = chosen.get(finding.pair_key)
        if kept is None or finding.subject_a.sort_key() < kept.subject_a.sort_key():
            chosen[finding.pair_key] = finding
    return list(chosen.values())


def detect_for_project(
    project: Project, index: DetectionIndex, rules: Sequence[Rule]
) -> list[Finding]:
    """The findings of one new or changed project against the indexed candidates.

    The indexed version of the project (same id), if any, is ignored: the result is what
    ``detect_all`` gives for this project's pairs once the index holds this version.
    """
    single = _Projects.of([project], index.codes)
    findings: list[Finding] = []
    for rule in rules:
        if isinstance(rule.b, ProjectSelector):
            findings += _project_pair_findings(rule, project, single, index)
        elif rule.a.matches(project.attributes) and bool(_a_prefilter(rule, single)[0]):
            hits = _layer_candidates(rule, index, single, np.zeros(1, np.int64))
            if hits is not None:
                findings += _findings(hits)
    return _ordered(_apply_fallbacks(findings, rules), rules)
