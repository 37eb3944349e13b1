"""CQL2 filters: the parser (text and JSON alike, errors that name the problem) and the
store's translation, checked against a plain Python evaluation of the same predicate
over the stored rows (three-valued, as SQL and ``zugabe.domain.filters`` have it)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
import shapely
from shapely.geometry.base import BaseGeometry

from tests.conftest import fresh_database
from tests.storage_contract import (
    X0,
    Y0,
    at,
    finding,
    layer_version,
    line,
    new,
    project,
    square,
    sync,
)
from zugabe.domain.filters import (
    TEMPORAL_TERMS,
    And,
    Between,
    Comparison,
    Filter,
    In,
    IsNull,
    Like,
    Not,
    Or,
    Spatial,
    Temporal,
)
from zugabe.domain.layers import default_layers_folder, load_layer_definitions
from zugabe.domain.project import Status
from zugabe.domain.queryables import (
    FILTER_CONFORMANCE,
    Queryable,
    Queryables,
    case_queryables,
    layer_queryables,
    project_queryables,
    queryables_json,
)
from zugabe.domain.vocabulary import Vocabulary
from zugabe.errors import BadRequest
from zugabe.io.crs import Reprojector
from zugabe.services.cql2 import CQL2_JSON, MAX_FILTER_LENGTH, parse_filter
from zugabe.storage import open_store
from zugabe.storage.contract import CaseQuery, LayerFeatureBatch, ProjectQuery, Store
from zugabe.storage.sql_dialect import like_to_glob

STORAGE = "http://www.opengis.net/def/crs/EPSG/0/25832"
REPROJECTOR = Reprojector("EPSG:25832")
PROJECTS = project_queryables(Vocabulary.default())
CASES = case_queryables(Vocabulary.default(), ["road_sewer", "trees_roots"])
LAYER = Queryables(
    "test_layer",
    (
        Queryable("id", "integer", {"de": "Nr.", "en": "No."}),
        Queryable("name", "string", {"de": "Name", "en": "Name"}),
        Queryable("count", "integer", {"de": "Anzahl", "en": "Count"}),
        Queryable("width", "number", {"de": "Breite", "en": "Width"}),
        Queryable("inspected", "date", {"de": "Prüfung", "en": "Inspected"}),
        Queryable("public", "boolean", {"de": "Öffentlich", "en": "Public"}),
        Queryable("geometry", "geometry", {"de": "Geometrie", "en": "Geometry"}),
    ),
)


def parse(text: str, queryables: Queryables = PROJECTS) -> Filter:
    return parse_filter(text, queryables, REPROJECTOR, filter_crs=STORAGE)


# -- the reference: the same predicate in plain Python --------------------------


def like_regex(pattern: str) -> re.Pattern[str]:
    out, escaped = [], False
    for char in pattern:
        if escaped or char not in "%_\\":
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append(".*" if char == "%" else ".")
    return re.compile("".join(out), re.DOTALL)


def _plain(value: Any, literal: Any) -> Any:
    """A stored value in the literal's terms: a timestamp by its UTC day against a date."""
    if isinstance(value, datetime) and not isinstance(literal, datetime):
        return value.astimezone(UTC).date()
    return value


def _cmp(op: str, a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return None
    return {
        "=": a == b,
        "<>": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]


def _inf_cmp(op: str, a: float, b: float) -> bool:
    return bool(_cmp(op, a, b))


def evaluate(node: Filter, row: dict[str, Any], many: frozenset[str] = frozenset()) -> bool | None:
    match node:
        case And(parts):
            results = [evaluate(p, row, many) for p in parts]
            return False if False in results else None if None in results else True
        case Or(parts):
            results = [evaluate(p, row, many) for p in parts]
            return True if True in results else None if None in results else False
        case Not(part):
            result = evaluate(part, row, many)
            return None if result is None else not result
        case Spatial(op, name, geometry):
            stored = row[name]
            if stored is None:
                return False
            test = {
                "s_intersects": shapely.intersects,
                "s_disjoint": shapely.disjoint,
                "s_within": shapely.within,
                "s_contains": shapely.contains,
                "s_equals": shapely.equals,
                "s_touches": shapely.touches,
                "s_overlaps": shapely.overlaps,
                "s_crosses": shapely.crosses,
            }[op]
            return bool(test(stored, geometry))
        case Temporal():
            return evaluate_temporal(node, row)
    values = row[node.name] if node.name in many else (row[node.name],)
    results = [value_holds(node, v) for v in values]
    if node.name in many:
        return any(r is True for r in results)
    return results[0]


def value_holds(node: Filter, value: Any) -> bool | None:
    match node:
        case Comparison(_, op, literal, casei):
            if casei:
                return _cmp(op, None if value is None else value.casefold(), literal.casefold())
            return _cmp(op, _plain(value, literal), literal)
        case Like(_, pattern, casei):
            if value is None:
                return None
            text, pattern = (value.casefold(), pattern.casefold()) if casei else (value, pattern)
            return like_regex(pattern).fullmatch(text) is not None
        case In(_, values, casei):
            if value is None:
                return None
            if casei:
                return value.casefold() in {v.casefold() for v in values}  # type: ignore[union-attr]
            return _plain(value, values[0]) in values
        case Between(_, low, high):
            value = _plain(value, low)
            return None if value is None else low <= value <= high
        case IsNull():
            return value is None
    raise AssertionError(node)


def evaluate_temporal(node: Temporal, row: dict[str, Any]) -> bool | None:
    if node.op == "t_disjoint":
        result = evaluate_temporal(replace(node, op="t_intersects"), row)
        return None if result is None else not result
    results = []
    for a, op, b in TEMPORAL_TERMS[node.op]:
        value = row[node.start] if a == "a_start" else row[node.end]
        literal = node.low if b == "b_start" else node.high
        a_inf = -1 if a == "a_start" else 1
        b_inf = -1 if b == "b_start" else 1
        if value is None and node.instant:
            results.append(None)
        elif value is None and literal is None:
            results.append(_inf_cmp(op, a_inf, b_inf))
        elif value is None:
            results.append(_inf_cmp(op, a_inf, 0))
        elif literal is None:
            results.append(_inf_cmp(op, 0, b_inf))
        else:
            results.append(_cmp(op, _plain(value, literal), literal))
    return False if False in results else None if None in results else True


# -- the stored rows --------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def store(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Store]:
    """The same rows in each store: both must answer every filter as the plain evaluation."""
    with ExitStack() as stack:
        if request.param == "postgis":
            cluster = request.getfixturevalue("postgis_cluster")
            url = stack.enter_context(fresh_database(cluster))
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('cql2') / 'zugabe.sqlite'}"
        store = open_store(url)
        stack.callback(store.close)
        yield _filled(store)


def _filled(store: Store) -> Store:
    titles = ["Kanalsanierung Musterstraße", "kanal Nord", "Straßenbau Ost", "GRÜNZUG", "50%_Plan"]
    projects = []
    for n in range(30):
        projects.append(
            new(
                square(n * 10, 0, n * 10 + 8, 5 + n % 4)
                if n % 3
                else line((n * 10, 0), (n * 10 + 9, 9)),
                title=titles[n % len(titles)] + f" {n}",
                status=list(Status)[n % len(Status)],
                start=None if n % 7 == 0 else date(2025 + n % 4, 1 + n % 12, 1),
                end=None if n % 5 == 0 else date(2028 + n % 3, 6, 30),
                cost_eur=None if n % 4 == 0 else 1000.0 * n,
                organisation=["stadt-bottrop", "herne", "bochum"][n % 3],
                external_id="" if n % 2 else f"RW-{n}",
            )
        )
    stored = store.add_projects(projects)
    findings = []
    for n in range(12):
        a, b = project(stored[n].id), project(stored[n + 1].id)
        findings.append(
            finding(
                a,
                b,
                rule=["road_sewer", "trees_roots"][n % 2],
                relation=["conflict", "synergy", "note"][n % 3],
                severity=["low", "medium", "high"][n % 3],
                organisations=(("stadt-bottrop", "herne"), ("bochum",), ("herne", "eglv"))[n % 3],
                departments=(("roads",), ("drainage", "green"))[n % 2],
                geometry=None if n == 5 else square(n * 10, 0, n * 10 + 4, 4),
                window_start=None if n % 4 == 0 else date(2026, 1 + n, 1),
                window_end=None if n % 6 == 1 else date(2027, 1 + n, 28),
            )
        )
    sync(store, findings)
    attributes: list[dict[str, Any]] = [
        {
            "name": ["Eiche", "eiche", "Buche", "Linde*", "Ahorn?"][n % 5],
            "count": n,
            "width": n * 0.5,
            "inspected": date(2024, 1 + n % 12, 15).isoformat(),
            "public": n % 2 == 0,
        }
        for n in range(20)
    ]
    attributes[3] = {"name": None, "count": 3}  # missing values
    store.replace_layer(
        layer_version("test_layer"),
        [
            LayerFeatureBatch(
                geometries=[at(n * 10, n) for n in range(20)],
                attributes=attributes,
                source_rows=list(range(20)),
            )
        ],
    )
    return store


def project_rows(store: Store) -> list[dict[str, Any]]:
    rows = []
    for p in store.list_projects(ProjectQuery()):
        a = p.attributes
        rows.append(
            vars(a)
            | {
                "status": a.status.value,
                "id": p.id,
                "version": p.version,
                "created_at": p.created_at,
                "created_by": p.created_by,
                "updated_at": p.updated_at,
                "updated_by": p.updated_by,
                "geometry": p.geometry,
            }
        )
    return rows


def case_rows(store: Store) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "rule": c.finding.rule_id,
            "relation": c.finding.relation,
            "severity": c.finding.severity,
            "status": c.status.value,
            "window_start": c.finding.window_start,
            "window_end": c.finding.window_end,
            "organisations": c.finding.organisations,
            "departments": c.finding.departments,
            "assignee": c.assignee,
            "version": c.version,
            "created_at": c.created_at,
            "updated_at": c.updated_at,
            "geometry": c.finding.geometry,
        }
        for c in store.list_cases(CaseQuery())
    ]


def layer_rows(store: Store) -> list[dict[str, Any]]:
    rows = []
    for f in store.layer_features("test_layer"):
        values = {name: f.attributes.get(name) for name in ("name", "count", "width", "public")}
        inspected = f.attributes.get("inspected")
        rows.append(
            values
            | {
                "id": f.id,
                "inspected": date.fromisoformat(inspected) if inspected else None,
                "geometry": f.geometry,
            }
        )
    return rows


def box_text(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"BBOX({X0 + x0},{Y0 + y0},{X0 + x1},{Y0 + y1})"


def polygon_text(geometry: BaseGeometry) -> str:
    return shapely.to_wkt(geometry, rounding_precision=3)


PROJECT_FILTERS = [
    "id = 3",
    "id <> 3 AND id < 10",
    "cost_eur > 5000",
    "cost_eur <= 5000 OR cost_eur IS NULL",
    "NOT (cost_eur >= 12000)",
    "cost_eur BETWEEN 3000 AND 9000",
    "cost_eur NOT BETWEEN 3000 AND 9000",
    "status IN ('idea', 'done')",
    "status NOT IN ('idea', 'done')",
    "organisation = 'herne' AND status <> 'cancelled'",
    "title LIKE 'kanal%'",
    "title LIKE 'Kanal%'",
    "CASEI(title) LIKE CASEI('KANAL%')",
    "CASEI(title) LIKE CASEI('%grünzug%')",
    "title LIKE '50\\%\\_%'",
    "title LIKE '%stra_e%'",
    "CASEI(title) = CASEI('kanal nord 1')",
    "CASEI(organisation) IN (CASEI('HERNE'), CASEI('Bochum'))",
    "external_id = ''",
    "start IS NULL",
    "end IS NOT NULL AND start < DATE('2027-01-01')",
    "start >= DATE('2026-05-01')",
    "created_at > TIMESTAMP('2000-01-01T00:00:00Z')",
    "created_at < DATE('2000-01-01')",
    f"created_at = DATE('{datetime.now(UTC).date().isoformat()}')",
    f"S_INTERSECTS(geometry, {box_text(0, 0, 45, 3)})",
    f"S_DISJOINT(geometry, {box_text(0, 0, 45, 3)})",
    f"S_WITHIN(geometry, {box_text(-1, -1, 61, 20)})",
    f"S_CONTAINS(geometry, POINT({X0 + 12} {Y0 + 2}))",
    f"S_TOUCHES(geometry, {box_text(-5, 0, 0, 5)})",
    f"S_OVERLAPS(geometry, {box_text(15, 2, 25, 7)})",
    f"S_CROSSES(geometry, {polygon_text(line((-5, 1), (95, 1)))})",
    f"S_EQUALS(geometry, {polygon_text(square(10, 0, 18, 6))})",
    f"NOT S_INTERSECTS(geometry, {box_text(0, 0, 45, 3)}) AND status <> 'done'",
    "T_INTERSECTS(INTERVAL(start, end), INTERVAL('2027-06-01', '2028-01-01'))",
    "T_INTERSECTS(INTERVAL(start, end), INTERVAL('..', '2025-06-01'))",
    "T_DISJOINT(INTERVAL(start, end), INTERVAL('2029-01-01', '..'))",
    "T_BEFORE(INTERVAL(start, end), INTERVAL('2029-01-01', '..'))",
    "T_AFTER(INTERVAL(start, end), DATE('2026-01-01'))",
    "T_DURING(INTERVAL(start, end), INTERVAL('2025-01-01', '2030-01-01'))",
    "T_DURING(INTERVAL(start, end), INTERVAL('..', '2030-01-01'))",
    "T_CONTAINS(INTERVAL(start, end), DATE('2028-01-01'))",
    "T_EQUALS(INTERVAL(start, end), INTERVAL('2026-02-01', '2029-06-30'))",
    "T_STARTS(INTERVAL(start, end), INTERVAL('2026-02-01', '2031-01-01'))",
    "T_FINISHES(INTERVAL(start, end), INTERVAL('2020-01-01', '2028-06-30'))",
    "T_MEETS(INTERVAL(start, end), INTERVAL('2028-06-30', '2031-01-01'))",
    "T_OVERLAPS(INTERVAL(start, end), INTERVAL('2027-01-01', '2029-01-01'))",
    "T_OVERLAPPEDBY(INTERVAL(start, end), INTERVAL('2024-01-01', '2026-01-01'))",
    "T_BEFORE(start, DATE('2026-06-01'))",
    "NOT T_AFTER(start, TIMESTAMP('2026-06-01T12:00:00Z'))",
    "T_AFTER(created_at, DATE('2000-01-01'))",
]

CASE_FILTERS = [
    "rule = 'road_sewer'",
    "relation IN ('conflict', 'note') AND severity <> 'low'",
    "organisations = 'herne'",
    "NOT (organisations = 'herne')",
    "organisations IN ('eglv', 'bochum')",
    "CASEI(organisations) LIKE CASEI('HER%')",
    "departments = 'green' OR id < 3",
    "window_start IS NULL",
    "window_end > DATE('2027-06-01')",
    "T_INTERSECTS(INTERVAL(window_start, window_end), INTERVAL('2026-04-01', '2026-05-01'))",
    "T_BEFORE(INTERVAL(window_start, window_end), INTERVAL('2027-09-01', '..'))",
    "T_DURING(INTERVAL(window_start, window_end), INTERVAL('2026-01-15', '2028-01-01'))",
    f"S_INTERSECTS(geometry, {box_text(0, 0, 35, 2)})",
    f"S_DISJOINT(geometry, {box_text(0, 0, 35, 2)})",
    "status = 'open' AND id > 4",
    "assignee IS NULL AND version >= 1 AND id <= 6",
]

LAYER_FILTERS = [
    "name = 'Eiche'",
    "name LIKE 'eiche'",
    "CASEI(name) = CASEI('EICHE')",
    "name LIKE 'Linde*'",
    "name LIKE 'Ahorn_'",
    "name IS NULL",
    "count > 10 AND width <= 8",
    "count BETWEEN 5 AND 9",
    "count IN (1, 2, 3, 4)",
    "width = 2.5",
    "public = true",
    "NOT (public = true)",
    "inspected >= DATE('2024-06-15')",
    "inspected IS NULL OR id = 1",
    "T_DURING(inspected, INTERVAL('2024-03-01', '2024-09-01'))",
    f"S_INTERSECTS(geometry, {box_text(-1, -1, 55, 6)})",
    f"S_WITHIN(geometry, {box_text(-1, -1, 55, 6)}) AND count > 2",
]


def matching(
    rows: list[dict[str, Any]], node: Filter, many: frozenset[str] = frozenset()
) -> list[int]:
    return [row["id"] for row in rows if evaluate(node, row, many) is True]


@pytest.mark.parametrize("text", PROJECT_FILTERS)
def test_projects_match_the_plain_evaluation(store: Store, text: str) -> None:
    node = parse(text)
    expected = matching(project_rows(store), node)
    listed = [p.id for p in store.list_projects(ProjectQuery(filter=node))]
    assert listed == expected
    assert store.count_projects(ProjectQuery(filter=node)) == len(expected)
    page = store.list_projects(
        ProjectQuery(filter=node, limit=2, after_id=expected[0] if expected else None)
    )
    assert [p.id for p in page] == expected[1:3]
    assert [p.id for p in store.list_projects(ProjectQuery(filter=Not(node)))] == matching(
        project_rows(store), Not(node)
    )


def test_the_project_filters_are_not_trivial(store: Store) -> None:
    """Each filter keeps some projects and drops others, so the comparison shows something
    (but those on the creation time: every project was stored a moment ago)."""
    rows = project_rows(store)
    trivial = [t for t in PROJECT_FILTERS if len(matching(rows, parse(t))) in (0, len(rows))]
    assert trivial == [t for t in PROJECT_FILTERS if "created_at" in t]


@pytest.mark.parametrize("text", CASE_FILTERS)
def test_cases_match_the_plain_evaluation(store: Store, text: str) -> None:
    node = parse(text, CASES)
    many = frozenset({"organisations", "departments"})
    expected = matching(case_rows(store), node, many)
    assert 0 < len(expected) < len(case_rows(store)), "a filter that shows something"
    assert [c.id for c in store.list_cases(CaseQuery(filter=node))] == expected
    assert store.count_cases(CaseQuery(filter=node)) == len(expected)


@pytest.mark.parametrize("text", LAYER_FILTERS)
def test_layer_features_match_the_plain_evaluation(store: Store, text: str) -> None:
    node = parse(text, LAYER)
    expected = matching(layer_rows(store), node)
    assert 0 < len(expected) < 20, "a filter that shows something"
    assert [f.id for f in store.layer_features("test_layer", filter=node)] == expected
    assert store.count_layer_features("test_layer", filter=node) == len(expected)
    area = square(-1, -1, 95, 20)
    in_area = [f.id for f in store.layer_features("test_layer", area=area, filter=node)]
    assert in_area == [
        i for i in expected if i in {f.id for f in store.layer_features("test_layer", area=area)}
    ]
    assert store.count_layer_features("test_layer", area=area, filter=node) == len(in_area)


def test_filter_and_the_other_query_fields_all_hold(store: Store) -> None:
    node = parse("cost_eur > 5000")
    query = ProjectQuery(filter=node, organisations=("herne",))
    expected = [
        r["id"] for r in project_rows(store) if r["organisation"] == "herne" and evaluate(node, r)
    ]
    assert [p.id for p in store.list_projects(query)] == expected
    assert list(store.project_columns(query).id) == expected


# -- the parser ----------------------------------------------------------------


TEXT_AND_JSON = [
    (
        "title LIKE 'Kanal%' AND cost_eur > 1000",
        {
            "op": "and",
            "args": [
                {"op": "like", "args": [{"property": "title"}, "Kanal%"]},
                {"op": ">", "args": [{"property": "cost_eur"}, 1000]},
            ],
        },
    ),
    (
        "status IN ('idea','done') OR NOT (end IS NULL)",
        {
            "op": "or",
            "args": [
                {"op": "in", "args": [{"property": "status"}, ["idea", "done"]]},
                {"op": "not", "args": [{"op": "isNull", "args": [{"property": "end"}]}]},
            ],
        },
    ),
    (
        "T_INTERSECTS(INTERVAL(start, end), INTERVAL('2027-01-01', '..'))",
        {
            "op": "t_intersects",
            "args": [
                {"interval": [{"property": "start"}, {"property": "end"}]},
                {"interval": ["2027-01-01", ".."]},
            ],
        },
    ),
    (
        f"S_INTERSECTS(geometry, POLYGON(({X0} {Y0}, {X0 + 5} {Y0}, {X0} {Y0 + 5}, {X0} {Y0})))",
        {
            "op": "s_intersects",
            "args": [
                {"property": "geometry"},
                {
                    "type": "Polygon",
                    "coordinates": [[[X0, Y0], [X0 + 5, Y0], [X0, Y0 + 5], [X0, Y0]]],
                },
            ],
        },
    ),
    (
        "CASEI(title) = CASEI('Straße') AND created_at >= TIMESTAMP('2026-01-01T00:00:00Z')",
        {
            "op": "and",
            "args": [
                {
                    "op": "=",
                    "args": [
                        {"op": "casei", "args": [{"property": "title"}]},
                        {"op": "casei", "args": ["Straße"]},
                    ],
                },
                {
                    "op": ">=",
                    "args": [{"property": "created_at"}, {"timestamp": "2026-01-01T00:00:00Z"}],
                },
            ],
        },
    ),
]


@pytest.mark.parametrize(("text", "document"), TEXT_AND_JSON)
def test_text_and_json_give_the_same_filter(text: str, document: dict[str, Any]) -> None:
    from_json = parse_filter(
        json.dumps(document), PROJECTS, REPROJECTOR, lang=CQL2_JSON, filter_crs=STORAGE
    )
    assert parse(text) == from_json


def test_a_literal_on_the_left_is_turned_around() -> None:
    assert parse("1000 < cost_eur") == Comparison("cost_eur", ">", 1000.0)
    assert parse("T_BEFORE(DATE('2027-01-01'), start)") == Temporal(
        "t_after", "start", "start", date(2027, 1, 1), date(2027, 1, 1)
    )


def test_geometry_literals_come_in_crs84_by_default_and_in_lat_lon_for_epsg_4326() -> None:
    expected = REPROJECTOR.to_storage(shapely.Point(7.1, 51.5))
    default = parse_filter("S_INTERSECTS(geometry, POINT(7.1 51.5))", PROJECTS, REPROJECTOR)
    lat_lon = parse_filter(
        "S_INTERSECTS(geometry, POINT(51.5 7.1))",
        PROJECTS,
        REPROJECTOR,
        filter_crs="http://www.opengis.net/def/crs/EPSG/0/4326",
    )
    for node in (default, lat_lon):
        assert isinstance(node, Spatial)
        assert node.geometry.distance(expected) < 1e-6


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("colour = 'red'", "'colour' is not a queryable of projects"),
        ("title = 3", "'title' takes text"),
        ("cost_eur = 'much'", "'cost_eur' takes a number"),
        ("start = 'soon'", "'start' takes DATE('YYYY-MM-DD')"),
        ("start > TIMESTAMP('2027-13-01T00:00:00Z')", "is not a TIMESTAMP"),
        ("geometry = 'x'", "'geometry' takes a spatial function"),
        ("title = ", "at line 1, column 9"),
        ("title = 'a' AND", "at line 1, column 16"),
        ("title < cost_eur", "compares two properties"),
        ("CASEI(cost_eur) = 3", "CASEI needs a text property"),
        ("UPPER(title) = 'A'", "'UPPER' is not supported"),
        ("S_INTERSECTS(title, POINT(7 51))", "'title' is not"),
        (
            "S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))",
            "not valid (Self-intersection",
        ),
        ("T_AFTER(title, DATE('2027-01-01'))", "'title' is not a date or timestamp"),
        ("T_DURING(start, INTERVAL('2027-01-01', '2026-01-01'))", "ends before it starts"),
        ("(" * 11 + "id = 1" + ")" * 11, "nests 11 parentheses deep"),
    ],
)
def test_errors_name_what_is_wrong(text: str, named: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_filter(text, PROJECTS, REPROJECTOR)
    assert caught.value.status == 400
    assert named in caught.value.detail


def test_json_errors_name_what_is_wrong() -> None:
    cases = {
        '{"op": "=", "args": [{"property": "x"}, 1]}': "'x' is not a queryable",
        '{"op": ': "not valid JSON at line 1, column 8",
        '{"op": "frob", "args": [1]}': "'frob' is not supported",
        '{"op": "not", "args": []}': "NOT takes 1 arguments",
        '{"op": "=", "args": [{"property": "id"}, "3"]}': "'id' takes a number",
        "[" * 30 + "]" * 30: "nests 30 levels deep",
    }
    for document, named in cases.items():
        with pytest.raises(BadRequest) as caught:
            parse_filter(document, PROJECTS, REPROJECTOR, lang=CQL2_JSON)
        assert named in caught.value.detail, document


def test_requests_stay_bounded() -> None:
    with pytest.raises(BadRequest, match="characters long"):
        parse("title = '" + "x" * MAX_FILTER_LENGTH + "'")
    with pytest.raises(BadRequest, match="filter-lang"):
        parse_filter("id = 1", PROJECTS, REPROJECTOR, lang="ecql")
    with pytest.raises(BadRequest, match="filter-crs"):
        parse_filter("id = 1", PROJECTS, REPROJECTOR, filter_crs="EPSG:3857")


def test_like_becomes_a_case_sensitive_glob() -> None:
    assert like_to_glob("Kanal%") == "Kanal*"
    assert like_to_glob("a_b") == "a?b"
    assert like_to_glob(r"50\%\_x") == "50%_x"
    assert like_to_glob("what?[*]") == "what[?][[][*]]"


# -- the queryables ----------------------------------------------------------------


def test_the_queryables_document() -> None:
    document = queryables_json(
        PROJECTS,
        schema_id="https://z/ogc/collections/projects/queryables",
        title="Maßnahmen",
        lang="de",
    )
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"].endswith("/queryables")
    assert document["type"] == "object" and document["additionalProperties"] is False
    properties = document["properties"]
    assert properties["start"] == {
        "title": "Beginn",
        "type": "string",
        "format": "date",
        "x-ogc-role": "primary-interval-start",
    }
    assert properties["status"]["enum"] == [s.value for s in Status]
    assert properties["geometry"]["format"] == "geometry-any"
    assert "herne" in properties["organisation"]["enum"]
    assert queryables_json(CASES, schema_id="x", title="x")["properties"]["organisations"]["enum"]


def test_a_layer_has_its_declared_attributes_with_their_types() -> None:
    trees = load_layer_definitions(default_layers_folder())["trees"]
    properties = queryables_json(layer_queryables(trees), schema_id="x", title="x")["properties"]
    assert properties["crown_radius"] == {
        "title": "Crown radius",
        "type": "number",
        "x-ogc-unit": "m",
    }
    assert properties["geometry"]["format"] == "geometry-point"
    assert set(properties) == {"id", "geometry", *trees.attribute_names}


def test_the_conformance_classes_include_what_qgis_looks_for() -> None:
    for name in ("basic-cql2", "cql2-text", "cql2-json", "features-filter", "conf/filter"):
        assert any(uri.endswith(name) for uri in FILTER_CONFORMANCE)
