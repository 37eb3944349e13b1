"""PostGIS baseline for bench_detection.py: the same rules as SQL on the same data.

``PostgisBaseline`` starts a throwaway PostgreSQL 15 + PostGIS 3 cluster
(``zugabe.devtools.pg_cluster``, shared with the PostGIS store's tests), loads the
generated projects and layer features, and runs one SQL statement per rule, generated from the
``Rule`` objects with every rule value bound as a query parameter::

    with PostgisBaseline() as pg:
        load_seconds = pg.load(projects, layers, definitions)  # COPY, GiST, VACUUM ANALYZE
        seconds, findings_per_rule = pg.detect_all(rules)      # the measured figure

The SQL follows the semantics in the docstring of ``zugabe.engine.detection``: selectors,
attribute conditions, temporal tests (calendar months with PostgreSQL's month arithmetic, which
clamps the day to the month's end like the engine), the overlap geometry (intersection; the
shortest line for ``within`` without a minimum when the two do not touch; b ∩ buffer(a, d,
quad_segs=16) with a minimum), its area and lineal length, the minimum thresholds, one finding
per unordered project pair (the lower id as subject a when that orientation fires) and the
fallback rule. Each rule's findings, overlap geometry and measures included, are materialized
into an unlogged table on the server; that is what is timed. Not timed: fetching the findings
into Python (about 0.7 s for 260,000 findings at full size) and what the engine adds in Python
per finding (the departments to involve, messages).

Check mode: the engine's and PostGIS's findings per rule (as pairs, so orientation counts too)
and both timings on one generated region::

    .venv/bin/python bench/postgis_baseline.py --projects 2000 --features 40000
    .venv/bin/python bench/postgis_baseline.py --projects 5000 --features 100000  # --quick size
    .venv/bin/python bench/postgis_baseline.py --projects 50000 --features 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import psycopg
import shapely
from psycopg import sql

from zugabe.devtools.pg_cluster import ThrowawayCluster
from zugabe.domain.feature_identity import stable_ids
from zugabe.domain.layers import LayerDefinition
from zugabe.domain.project import Project
from zugabe.domain.rules import (
    Condition,
    LayerSelector,
    ProjectSelector,
    Rule,
    value_kind,
)
from zugabe.engine.detection import BUFFER_QUAD_SEGS
from zugabe.storage.contract import LayerFeature

SRID = 25832
# Column types of layer attributes. Numbers are double precision like the engine's float64
# columns, so a condition compares exactly as the engine does.
_COLUMN_TYPES = {
    "integer": "double precision",
    "real": "double precision",
    "string": "text",
    "boolean": "boolean",
    "date": "date",
}
_ATTRIBUTE_KINDS = {
    "integer": "number",
    "real": "number",
    "string": "text",
    "boolean": "bool",
    "date": "date",
}
_RESERVED_COLUMNS = frozenset({"feature_id", "stable_id", "geom", "derived_geom"})
_COPY_CHUNK = 50_000

# Server settings for a 2-core / 24 GiB benchmark machine. The cluster is thrown away after the
# run, so durability is switched off (fsync, synchronous_commit, full_page_writes, WAL minimal):
# never use these settings for data you want to keep. Autovacuum is off because load() runs
# VACUUM ANALYZE itself and background work would disturb the timing; JIT is off because the
# cost of these queries is in PostGIS functions, which JIT compilation cannot speed up.
SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": "''",
    "max_connections": "10",
    "shared_buffers": "2GB",
    "work_mem": "256MB",
    "maintenance_work_mem": "1GB",
    "effective_cache_size": "16GB",
    "random_page_cost": "1.1",
    "max_worker_processes": "4",
    "max_parallel_workers": "2",
    "max_parallel_workers_per_gather": "1",  # see PostgisBaseline.__init__
    "max_parallel_maintenance_workers": "2",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "1h",
    "autovacuum": "off",
    "jit": "off",
    "logging_collector": "off",
}

# Helper functions in SQL, which the planner inlines into each query.
_FUNCTIONS = """
-- The overlap of a within-distance pair without a minimum: the intersection when the two
-- touch, else the shortest line connecting them.
CREATE FUNCTION near_overlap(a geometry, b geometry, distance float8) RETURNS geometry
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN distance = 0 THEN ST_Intersection(a, b) ELSE ST_ShortestLine(a, b) END;

-- Whether two windows [start, end] (days inclusive, NULL = open) share a day.
CREATE FUNCTION windows_overlap(sa date, ea date, sb date, eb date) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(sa <= eb, true) AND coalesce(sb <= ea, true);

-- Days both windows share: 0 when they do not, NULL when the shared period is unbounded.
CREATE FUNCTION overlap_days(sa date, ea date, sb date, eb date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN greatest(sa, sb) IS NULL OR least(ea, eb) IS NULL THEN NULL
    ELSE greatest(least(ea, eb) - greatest(sa, sb) + 1, 0)
END;

-- Months since year 0 of a day's month.
CREATE FUNCTION month_index(day date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (date_part('year', day) * 12 + date_part('month', day))::integer;

-- Fewest calendar months k with earlier_end + k months >= the day before later_start
-- (date + interval clamps the day to the month's end, as the engine's _add_months does);
-- called only when earlier_end < later_start, so k >= 0.
CREATE FUNCTION months_between(earlier_end date, later_start date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN month_index(later_start - 1) - month_index(earlier_end)
    + CASE
        WHEN (earlier_end + make_interval(
            months => month_index(later_start - 1) - month_index(earlier_end)))::date
            < later_start - 1
        THEN 1 ELSE 0
    END;

-- Calendar months between two windows: 0 when they overlap or adjoin.
CREATE FUNCTION gap_months(sa date, ea date, sb date, eb date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN ea < sb THEN months_between(ea, sb)
    WHEN eb < sa THEN months_between(eb, sa)
    ELSE 0
END;
"""


# --------------------------------------------------------------------------- SQL building


class _Params:
    """Named query parameters: every value from a rule goes to the server separately."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> sql.Placeholder:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return sql.Placeholder(name)


def _and(parts: Iterable[sql.Composable]) -> sql.Composable:
    items = list(parts)
    if not items:
        return sql.SQL("true")
    return sql.SQL(" AND ").join(sql.SQL("({})").format(p) for p in items)


def _selector(alias: str, selector: ProjectSelector, p: _Params) -> list[sql.Composable]:
    """A project selector: statuses always, the other lists when not empty (= any)."""
    table = sql.Identifier(alias)
    parts: list[sql.Composable] = [
        sql.SQL("{}.status = ANY({})").format(table, p([s.value for s in selector.statuses]))
    ]
    for column, wanted in (
        ("organisation", selector.organisations),
        ("department", selector.departments),
        ("measure_type", selector.measure_types),
    ):
        if wanted:
            parts.append(
                sql.SQL("{}.{} = ANY({})").format(table, sql.Identifier(column), p(list(wanted)))
            )
    return parts


def _bind(kind: str, value: Any) -> Any:
    """A condition value as the column type compares it (numbers are double precision)."""
    return float(value) if kind == "number" else value


def _condition(condition: Condition, p: _Params) -> sql.Composable:
    """``attribute operator value`` on layer alias b; NULL (missing) never holds."""
    column = sql.SQL("b.{}").format(sql.Identifier(condition.attribute))
    kind = condition.kind
    if condition.operator == "in":
        assert isinstance(condition.value, tuple)
        values = [_bind(kind, v) for v in condition.value]
        return sql.SQL("{} = ANY({})").format(column, p(values))
    op = {"==": "=", "!=": "<>"}.get(condition.operator, condition.operator)
    return sql.SQL("{} {} {}").format(column, sql.SQL(op), p(_bind(kind, condition.value)))


def _symmetric(rule: Rule) -> bool:
    """Whether a project pair rule fires for (a, b) exactly when it fires for (b, a).

    Then the SQL joins each unordered pair once (a.id < b.id), which gives the engine's choice
    (lower id as subject a) without computing both orientations.
    """
    return (
        isinstance(rule.b, ProjectSelector)
        and rule.a == rule.b
        and rule.temporal.test in ("none", "overlap", "gap_months")
        and not (rule.spatial.test == "within" and rule.spatial.has_minimum)
    )


def _time_test(rule: Rule, p: _Params) -> list[sql.Composable]:
    t = rule.temporal
    if t.test == "none":
        return []
    if isinstance(rule.b, ProjectSelector):
        if t.test == "overlap":
            return [sql.SQL("windows_overlap(a.start_day, a.end_day, b.start_day, b.end_day)")]
        if t.test == "gap_months":
            # gap_months(...) <= m  ⇔  earlier end + m months >= the day before the later start
            return [
                sql.SQL(
                    "windows_overlap(a.start_day, a.end_day, b.start_day, b.end_day)"
                    " OR gap_months(a.start_day, a.end_day, b.start_day, b.end_day) <= {}"
                ).format(p(t.months))
            ]
        if t.test == "moratorium":
            return [
                sql.SQL(
                    "b.end_day <= a.start_day"
                    " AND b.end_day > (a.start_day - make_interval(years => {}))::date"
                ).format(p(t.years))
            ]
        raise ValueError(f"temporal test {t.test!r} does not apply to two projects")
    assert t.attribute is not None
    year = sql.SQL("b.{}").format(sql.Identifier(t.attribute))
    if t.test == "moratorium":
        return [
            sql.SQL(
                "{y} <= date_part('year', a.start_day)"
                " AND date_part('year', a.start_day) - {y} < {n}"
            ).format(y=year, n=p(t.years))
        ]
    if t.test == "year_window":
        return [
            sql.SQL("{} IS NOT NULL").format(year),
            sql.SQL("a.start_day IS NULL OR {y} >= date_part('year', a.start_day) - {n}").format(
                y=year, n=p(t.years)
            ),
            sql.SQL("a.end_day IS NULL OR {y} <= date_part('year', a.end_day) + {n}").format(
                y=year, n=p(t.years)
            ),
        ]
    raise ValueError(f"temporal test {t.test!r} does not apply to a layer")


@dataclass
class _RuleTable:
    """Where one rule's findings went, and how to find its pairs."""

    rule: Rule
    table: sql.Identifier
    layer: str | None


@dataclass
class _Query:
    text: sql.Composable
    params: dict[str, Any] = field(default_factory=dict)


def rule_query(
    rule: Rule,
    b_table: sql.Identifier,
    b_geom: str,
    related: Sequence[_RuleTable] = (),
) -> _Query:
    """The SELECT of one rule's findings: a_id, b_id, b_key, geometry and the measures.

    ``related`` are the result tables of the other (non-fallback) rules whose pairs a fallback
    rule must leave out.
    """
    p = _Params()
    projects_b = isinstance(rule.b, ProjectSelector)
    spatial = rule.spatial
    ga, gb = sql.SQL("a.geom"), sql.SQL("b.{}").format(sql.Identifier(b_geom))

    where: list[sql.Composable] = _selector("a", rule.a, p)
    if projects_b:
        assert isinstance(rule.b, ProjectSelector)
        where += _selector("b", rule.b, p)
        where.append(sql.SQL("a.id < b.id" if _symmetric(rule) else "a.id <> b.id"))
        if not rule.same_department:
            where.append(
                sql.SQL("a.organisation <> b.organisation OR a.department <> b.department")
            )
        b_id = sql.SQL("b.id")
    else:
        assert isinstance(rule.b, LayerSelector)
        where += [_condition(c, p) for c in rule.b.where]
        b_id = sql.SQL("b.feature_id")
    where += _time_test(rule, p)
    if related:
        # One anti-join against the pairs of all other rules, before any geometry work.
        columns = sql.SQL("lo, hi")
        pairs = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {} FROM {}").format(columns, other.table) for other in related
        )
        where.append(
            sql.SQL("NOT EXISTS (SELECT 1 FROM ({}) AS r WHERE r.lo = {} AND r.hi = {})").format(
                pairs,
                sql.SQL("least(a.id, b.id)" if projects_b else "a.id"),
                sql.SQL("greatest(a.id, b.id)" if projects_b else "b.feature_id"),
            )
        )

    # Geometry work happens in lateral function calls in FROM: each is evaluated once per
    # pair (an expression repeated in SELECT and WHERE would be evaluated per use), and unlike
    # lateral subqueries they stay parallel safe, so the workers compute the overlaps.
    buffer = distance = sql.SQL("")
    length = sql.SQL("m.length_m")
    if spatial.test == "intersects":
        join = sql.SQL("ST_Intersects({}, {})").format(ga, gb)
        distance_m = sql.SQL("0.0::float8")
        overlap = sql.SQL("ST_Intersection({}, {})").format(ga, gb)
    else:
        join = sql.SQL("ST_DWithin({}, {}, {})").format(ga, gb, p(float(spatial.distance)))
        distance = sql.SQL("CROSS JOIN LATERAL ST_Distance({}, {}) AS d(distance)").format(ga, gb)
        distance_m = sql.SQL("d.distance")
        if spatial.has_minimum:
            # The part of b near a. The buffer depends on a alone, so the planner may buffer
            # each a once, or once per pair where that is fewer calls.
            buffer = sql.SQL("CROSS JOIN LATERAL ST_Buffer(a.geom, {}, {}) AS ab(geom)").format(
                p(float(spatial.distance)), p(f"quad_segs={BUFFER_QUAD_SEGS}")
            )
            overlap = sql.SQL("ST_Intersection({}, ab.geom)").format(gb)
        else:
            # The intersection when they touch, else the shortest connecting line; that line
            # has no area, and the engine counts no length for it.
            overlap = sql.SQL("near_overlap({}, {}, d.distance)").format(ga, gb)
            length = sql.SQL("CASE WHEN d.distance = 0 THEN m.length_m ELSE 0.0 END")

    if projects_b:
        times = sql.SQL(
            "overlap_days(a.start_day, a.end_day, b.start_day, b.end_day) AS overlap_days,"
            " gap_months(a.start_day, a.end_day, b.start_day, b.end_day) AS gap_months"
        )
        b_key = sql.SQL("NULL::text")
        pair = sql.SQL("least(a.id, b.id) AS lo, greatest(a.id, b.id) AS hi")
    else:
        times = sql.SQL("NULL::integer AS overlap_days, NULL::integer AS gap_months")
        b_key = sql.SQL("b.stable_id")
        pair = sql.SQL("a.id AS lo, b.feature_id AS hi")

    minimum: list[sql.Composable] = []
    if spatial.has_minimum:
        long_enough = sql.SQL("m.length_m >= {}")
        large_enough = sql.SQL("m.area_m2 >= {}")
        if spatial.min_length is not None and spatial.min_area is not None:
            minimum.append(
                sql.SQL("{} OR {}").format(
                    long_enough.format(p(float(spatial.min_length))),
                    large_enough.format(p(float(spatial.min_area))),
                )
            )
        elif spatial.min_length is not None:
            minimum.append(long_enough.format(p(float(spatial.min_length))))
        else:
            assert spatial.min_area is not None
            minimum.append(large_enough.format(p(float(spatial.min_area))))

    query = sql.SQL(
        """
        SELECT a.id AS a_id, {b_id} AS b_id, {b_key} AS b_key, {pair}, o.geom,
            m.area_m2, {length} AS length_m, {distance_m} AS distance_m, {times}
        FROM projects AS a
        {buffer}
        JOIN {b_table} AS b ON {join}
        {distance}
        CROSS JOIN LATERAL {overlap} AS o(geom)
        CROSS JOIN LATERAL ROWS FROM (
            ST_Area(o.geom), ST_Length(ST_CollectionExtract(o.geom, 2))
        ) AS m(area_m2, length_m)
        WHERE {where}
        """
    ).format(
        b_id=b_id,
        b_key=b_key,
        pair=pair,
        times=times,
        length=length,
        distance_m=distance_m,
        buffer=buffer,
        b_table=b_table,
        join=join,
        distance=distance,
        overlap=overlap,
        where=_and([*where, *minimum]),
    )
    if projects_b and not _symmetric(rule):
        # One finding per unordered pair: the lower id as subject a when that orientation fired.
        query = sql.SQL(
            "SELECT DISTINCT ON (lo, hi) * FROM ({}) AS h ORDER BY lo, hi, a_id > b_id"
        ).format(query)
    return _Query(query, p.values)


# --------------------------------------------------------------------------- loading


def _copy_text(value: Any) -> str:
    """One field of COPY text format; None is NULL."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if any(c in text for c in "\\\t\n\r"):
        for char, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
            text = text.replace(char, escaped)
    return text


def _typed(value: Any, kind: str) -> Any:
    """A stored attribute as the column holds it: missing when the engine would ignore it."""
    if value_kind(value) != kind:
        return None
    if kind == "number":
        return float(value)
    if isinstance(value, datetime):
        return value.date()  # the engine compares dates by day
    return value


def _ewkb(geoms: Sequence[Any]) -> list[str]:
    """Hex EWKB with the SRID, which geometry_in reads from COPY text."""
    array = np.empty(len(geoms), dtype=object)
    array[:] = list(geoms)
    wkb = shapely.to_wkb(
        shapely.set_srid(array, SRID), hex=True, include_srid=True, output_dimension=2
    )
    return wkb.tolist()


def _chunks(n: int) -> Iterator[range]:
    for start in range(0, n, _COPY_CHUNK):
        yield range(start, min(start + _COPY_CHUNK, n))


# --------------------------------------------------------------------------- server


class PostgisBaseline:
    """A throwaway PostgreSQL 15 + PostGIS cluster holding one benchmark's data.

    Use as a context manager: entering installs PostGIS if needed, initialises a cluster in a
    fresh temporary directory and starts it (unix socket in that directory only); leaving
    stops it and deletes the directory, also after an exception.
    """

    def __init__(
        self, *, parallel_workers: int | None = None, settings: Mapping[str, str] | None = None
    ) -> None:
        """``parallel_workers``: workers per query besides the leader, which does its share
        of the scan too; default one per core but one, which measured fastest on 2 cores
        (2 workers + leader on 2 cores were ~20 % slower, 0 workers ~50 %).
        ``settings`` override ``SERVER_SETTINGS``."""
        if parallel_workers is None:
            parallel_workers = max(0, (os.cpu_count() or 1) - 1)
        self.parallel_workers = parallel_workers
        self.cluster = ThrowawayCluster(
            {
                **SERVER_SETTINGS,
                "max_parallel_workers_per_gather": str(parallel_workers),
                "max_parallel_workers": str(max(2, parallel_workers)),
                "max_worker_processes": str(max(4, parallel_workers + 2)),
                **(settings or {}),
            }
        )
        self.directory: Path | None = None
        self.conn: psycopg.Connection | None = None
        self.rule_seconds: dict[str, float] = {}
        self._layers: dict[str, tuple[sql.Identifier, bool]] = {}
        self._results: dict[str, _RuleTable] = {}

    # -- life cycle

    def __enter__(self) -> PostgisBaseline:
        self.cluster.__enter__()
        try:
            self.conn = psycopg.connect(**self.cluster.connect_kwargs(), autocommit=True)
            self.directory = self.cluster.directory
            self.db.execute("CREATE EXTENSION postgis")
            self.db.execute(_FUNCTIONS)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.directory = None
        self.cluster.__exit__(exc_type, exc, traceback)

    def describe(self) -> str:
        """Versions and parallelism, for the benchmark's output."""
        pg, postgis, geos = self.db.execute(
            "SELECT current_setting('server_version'), postgis_lib_version(),"
            " postgis_geos_version()"
        ).fetchone() or ("?", "?", "?")
        workers = self.parallel_workers
        return (
            f"PostgreSQL {pg.split()[0]}, PostGIS {postgis}, GEOS {geos.split('-')[0]}; "
            f"{workers} parallel worker{'s' if workers != 1 else ''} + leader per query"
        )

    @property
    def db(self) -> psycopg.Connection:
        if self.conn is None:
            raise RuntimeError("use PostgisBaseline as a context manager")
        return self.conn

    # -- data

    def load(
        self,
        projects: Sequence[Project],
        layers: Mapping[str, Sequence[LayerFeature]],
        definitions: Mapping[str, LayerDefinition],
    ) -> float:
        """Copy projects and layers in (once), index and analyse them; seconds taken.

        Tables: ``projects`` and ``layer_<key>`` with the stable id, one typed column per
        declared attribute, the geometry and, where the layer has one, the derived geometry
        (the feature's own where it lacks one, as the engine tests it).
        """
        started = time.perf_counter()
        db = self.db
        db.execute(
            f"""
            CREATE TABLE projects (
                id bigint PRIMARY KEY,
                organisation text NOT NULL,
                department text NOT NULL,
                measure_type text NOT NULL,
                status text NOT NULL,
                start_day date,
                end_day date,
                geom geometry(Geometry, {SRID}) NOT NULL
            )
            """
        )
        with db.cursor() as cur, cur.copy("COPY projects FROM STDIN") as copy:
            for part in _chunks(len(projects)):
                chunk = [projects[k] for k in part]
                wkb = _ewkb([p.geometry for p in chunk])
                lines = []
                for project, geom in zip(chunk, wkb, strict=True):
                    a = project.attributes
                    fields = (
                        project.id,
                        a.organisation,
                        a.department,
                        a.measure_type,
                        a.status.value,
                        a.start,
                        a.end,
                    )
                    lines.append("\t".join([*map(_copy_text, fields), geom]) + "\n")
                copy.write("".join(lines))
        tables = [sql.Identifier("projects")]
        db.execute("CREATE INDEX ON projects USING gist (geom)")
        for key, features in layers.items():
            tables.append(self._load_layer(key, features, definitions.get(key)))
        for table in tables:
            db.execute(sql.SQL("VACUUM (FREEZE, ANALYZE) {}").format(table))
        db.execute("CHECKPOINT")
        return time.perf_counter() - started

    def _load_layer(
        self, key: str, features: Sequence[LayerFeature], definition: LayerDefinition | None
    ) -> sql.Identifier:
        db = self.db
        table = sql.Identifier(f"layer_{key}")
        specs = definition.attributes if definition is not None else ()
        clash = _RESERVED_COLUMNS & {s.name for s in specs}
        if clash:
            raise ValueError(f"layer {key}: attribute names {sorted(clash)} are reserved here")
        has_derived = (definition is not None and definition.derived is not None) or any(
            f.derived is not None for f in features
        )
        columns = [
            sql.SQL("feature_id bigint PRIMARY KEY"),
            sql.SQL("stable_id text NOT NULL"),
            *(
                sql.SQL("{} {}").format(sql.Identifier(s.name), sql.SQL(_COLUMN_TYPES[s.type]))
                for s in specs
            ),
            sql.SQL("geom geometry(Geometry, {}) NOT NULL").format(sql.Literal(SRID)),
        ]
        if has_derived:
            columns.append(
                sql.SQL("derived_geom geometry(Geometry, {}) NOT NULL").format(sql.Literal(SRID))
            )
        db.execute(sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(columns)))
        items = sorted(features, key=lambda f: f.id)
        stable = stable_ids(items, definition.id_attribute if definition else None)
        kinds = [(s.name, _ATTRIBUTE_KINDS[s.type]) for s in specs]
        with db.cursor() as cur, cur.copy(sql.SQL("COPY {} FROM STDIN").format(table)) as copy:
            for part in _chunks(len(items)):
                chunk = [items[k] for k in part]
                wkb = _ewkb([f.geometry for f in chunk])
                derived = (
                    _ewkb([f.geometry if f.derived is None else f.derived for f in chunk])
                    if has_derived
                    else None
                )
                lines = []
                for k, feature in enumerate(chunk):
                    attrs = feature.attributes
                    fields = [str(feature.id), _copy_text(stable[part[k]])]
                    fields += [_copy_text(_typed(attrs.get(n), kind)) for n, kind in kinds]
                    fields.append(wkb[k])
                    if derived is not None:
                        fields.append(derived[k])
                    lines.append("\t".join(fields) + "\n")
                copy.write("".join(lines))
        db.execute(sql.SQL("CREATE INDEX ON {} USING gist (geom)").format(table))
        if has_derived:
            db.execute(sql.SQL("CREATE INDEX ON {} USING gist (derived_geom)").format(table))
        self._layers[key] = (table, has_derived)
        return table

    # -- detection

    def _statement(self, rule: Rule, related: Sequence[_RuleTable]) -> _Query | None:
        if isinstance(rule.b, ProjectSelector):
            return rule_query(rule, sql.Identifier("projects"), "geom", related)
        loaded = self._layers.get(rule.b.layer)
        if loaded is None:
            return None  # the engine skips a layer it does not have
        table, has_derived = loaded
        b_geom = "derived_geom" if rule.b.use_derived and has_derived else "geom"
        return rule_query(rule, table, b_geom, related)

    def detect_all(self, rules: Sequence[Rule]) -> tuple[float, dict[str, int]]:
        """Run every rule's SQL into an unlogged result table; seconds and findings per rule.

        Rules run in file order except fallback rules, which run last so they can leave out
        the pairs the other rules relate. Per-rule seconds are kept in ``rule_seconds``.
        """
        db = self.db
        db.execute("DROP SCHEMA IF EXISTS results CASCADE")
        db.execute("CREATE SCHEMA results")
        self.rule_seconds = {}
        counts: dict[str, int] = {}
        done: list[_RuleTable] = []
        ordered = [r for r in rules if not r.fallback] + [r for r in rules if r.fallback]
        started = time.perf_counter()
        for number, rule in enumerate(ordered):
            rule_started = time.perf_counter()
            related = []
            if rule.fallback:
                related = [t for t in done if not t.rule.fallback and t.layer == rule.layer]
            query = self._statement(rule, related)
            if query is None:
                counts[rule.id] = 0
                continue
            table = sql.Identifier("results", f"r{number:02d}_{rule.id}"[:63])
            with db.cursor() as cur:
                cur.execute(
                    sql.SQL("CREATE UNLOGGED TABLE {} AS {}").format(table, query.text),
                    query.params,
                )
                counts[rule.id] = cur.rowcount
            done.append(_RuleTable(rule, table, rule.layer))
            self.rule_seconds[rule.id] = time.perf_counter() - rule_started
        elapsed = time.perf_counter() - started
        self._results = {t.rule.id: t for t in done}
        return elapsed, {rule.id: counts.get(rule.id, 0) for rule in rules}

    def pairs(self, rule_id: str) -> set[tuple[int, int]]:
        """(project id a, project id or feature id b) of one rule's findings from detect_all."""
        table = self._results[rule_id].table
        rows = self.db.execute(sql.SQL("SELECT a_id, b_id FROM {}").format(table)).fetchall()
        return {(int(a), int(b)) for a, b in rows}

    def explain(self, rule: Rule, *, analyze: bool = False) -> str:
        """The plan of one rule's query, for tuning (a fallback rule's anti-joins use the
        result tables of the last ``detect_all``)."""
        related = []
        if rule.fallback:
            related = [
                t for t in self._results.values() if not t.rule.fallback and t.layer == rule.layer
            ]
        query = self._statement(rule, related)
        if query is None:
            return "(layer not loaded)"
        options = sql.SQL("ANALYZE, VERBOSE" if analyze else "VERBOSE")
        rows = self.db.execute(
            sql.SQL("EXPLAIN ({}) {}").format(options, query.text), query.params
        ).fetchall()
        return "\n".join(r[0] for r in rows)


# --------------------------------------------------------------------------- check mode


def _engine_pairs(findings: Iterable[Any]) -> dict[str, set[tuple[int, int]]]:
    """(project id a, project id or feature id b) per rule of the engine's findings."""

    def ref(subject: Any) -> int:
        return int(subject.ref if subject.kind == "project" else subject.feature_id)

    result: dict[str, set[tuple[int, int]]] = {}
    for f in findings:
        result.setdefault(f.rule_id, set()).add((ref(f.subject_a), ref(f.subject_b)))
    return result


def main() -> None:
    """Engine vs PostGIS on one generated region: counts per rule and timings."""
    from bench_detection import default_world, timed_engine

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--projects", type=int, default=2_000)
    parser.add_argument("--features", type=int, default=40_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--parallel", type=int, default=None, help="workers per query (default: cores - 1)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="PostGIS runs (best is shown)")
    parser.add_argument("--show", type=int, default=3, help="differing pairs shown per rule")
    parser.add_argument("--no-engine", action="store_true", help="PostGIS only")
    args = parser.parse_args()

    definitions, rules, projects, layers = default_world(args.seed, args.projects, args.features)

    engine_counts: dict[str, int] = {}
    engine_pairs: dict[str, set[tuple[int, int]]] = {}
    if not args.no_engine:
        index, findings, build, batch = timed_engine(projects, layers, definitions, rules)
        print(f"engine: index build {build:.2f} s, detect_all {batch:.2f} s")
        engine_pairs = _engine_pairs(findings)
        engine_counts = {rule.id: len(engine_pairs.get(rule.id, ())) for rule in rules}
        del index, findings
        gc.collect()

    with PostgisBaseline(parallel_workers=args.parallel) as pg:
        load = pg.load(projects, layers, definitions)
        print(f"postgis: load {load:.1f} s (COPY, GiST indexes, VACUUM ANALYZE; not measured)")
        runs = []
        for _ in range(args.repeat):
            seconds, counts = pg.detect_all(rules)
            runs.append(seconds)
            print(f"postgis: detect_all {seconds:.2f} s")
        print(
            f"\n{'rule':34s} {'engine':>9s} {'postgis':>9s} {'only e':>7s} {'only pg':>7s} "
            f"{'sql s':>6s}"
        )
        for rule in rules:
            ours = counts[rule.id]
            sec = pg.rule_seconds.get(rule.id, 0.0)
            if args.no_engine:
                print(f"{rule.id:34s} {'':>9s} {ours:9,} {'':>7s} {'':>7s} {sec:6.2f}")
                continue
            mine = pg.pairs(rule.id) if rule.id in pg.rule_seconds else set()
            theirs = engine_pairs.get(rule.id, set())
            only_e, only_pg = sorted(theirs - mine), sorted(mine - theirs)
            print(
                f"{rule.id:34s} {engine_counts[rule.id]:9,} {ours:9,} {len(only_e):7,} "
                f"{len(only_pg):7,} {sec:6.2f}"
            )
            if (only_e or only_pg) and args.show:
                n = args.show
                print(f"    only engine: {only_e[:n]}  only postgis: {only_pg[:n]}")
        total_e = f"{sum(engine_counts.values()):9,}" if engine_counts else ""
        print(f"{'total':34s} {total_e:>9s} {sum(counts.values()):9,}")
        print(f"postgis detect_all: best {min(runs):.2f} s of {len(runs)} ({pg.describe()})")


if __name__ == "__main__":
    main()
