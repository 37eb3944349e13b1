"""The synthetic demo town: reproducible, valid, and full of coordination cases.

The committed ``sample_data/`` must be exactly what the generator writes, so
the files cannot drift from the script that documents how they were made.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pyogrio.raw
import pytest
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from zugabe.demo.town import FILES, generate_town, write_town
from zugabe.domain.project import EDITABLE_FIELDS, parse_attributes
from zugabe.domain.vocabulary import Vocabulary
from zugabe.io.crs import Reprojector

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
LON_RANGE, LAT_RANGE = (5.86, 9.47), (50.32, 52.53)
# Every editable field but external_id: the demo town's projects come from no other system.
PROPERTY_NAMES = [name for name in EDITABLE_FIELDS if name != "external_id"]


@cache
def features(name: str) -> tuple[dict[str, Any], ...]:
    doc = json.loads((SAMPLE_DATA / name).read_text("utf-8"))
    assert doc["type"] == "FeatureCollection"
    return tuple(doc["features"])


TO_METRES = Reprojector("EPSG:25832")


def metric(geometry: dict[str, Any]) -> BaseGeometry:
    """A GeoJSON geometry projected back to EPSG:25832."""
    return TO_METRES.to_storage(shape(geometry))


def months_apart(first: tuple[date, date | None], second: tuple[date, date | None]) -> int:
    """Months between two windows; 0 or less when they overlap."""
    (_, end_a), (start_b, _) = sorted([first, second], key=lambda w: w[0])
    if end_a is None or end_a >= start_b:
        return 0
    return (start_b.year - end_a.year) * 12 + start_b.month - end_a.month


def window(props: dict[str, Any]) -> tuple[date, date | None]:
    end = props["end"]
    return date.fromisoformat(props["start"]), date.fromisoformat(end) if end else None


# -- reproducible ---------------------------------------------------------


def test_committed_files_are_what_the_generator_writes(tmp_path: Path) -> None:
    counts = write_town(tmp_path)
    # The thematic layers under layers/ are checked in test_demo_layers.py.
    assert sorted(name for name in counts if not name.startswith("layers/")) == sorted(FILES)
    for name in FILES:
        committed = (SAMPLE_DATA / name).read_bytes()
        assert (tmp_path / name).read_bytes() == committed, (
            f"sample_data/{name} differs from the generator: "
            "run `python -m zugabe.demo.town sample_data`"
        )
        assert counts[name] == len(features(name))


def test_two_runs_are_byte_identical(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    assert write_town(first) == write_town(second)
    for name in FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_another_seed_gives_another_town(tmp_path: Path) -> None:
    write_town(tmp_path, seed=7)
    assert (tmp_path / "streets.geojson").read_bytes() != (
        SAMPLE_DATA / "streets.geojson"
    ).read_bytes()


def test_files_are_small_and_end_with_a_newline() -> None:
    total = 0
    for name in FILES:
        data = (SAMPLE_DATA / name).read_bytes()
        assert data.endswith(b"}\n")
        assert b"\r" not in data
        total += len(data)
    assert total < 1_500_000


# -- projects -------------------------------------------------------------


def test_about_150_projects_cover_the_whole_vocabulary() -> None:
    projects = [f["properties"] for f in features("projects.geojson")]
    assert 120 <= len(projects) <= 200
    vocabulary = Vocabulary.default()
    assert {p["department"] for p in projects} == set(vocabulary.departments)
    assert {p["measure_type"] for p in projects} == set(vocabulary.measure_types)
    assert {p["organisation"] for p in projects} == {"herne", "bochum", "eglv", "gelsenwasser"}
    combos = {(p["organisation"], p["department"], p["measure_type"]) for p in projects}
    for org in ("herne", "bochum", "eglv", "gelsenwasser"):
        for dept in vocabulary.organisations[org].departments:
            for measure in vocabulary.departments[dept].measure_types:
                assert (org, dept, measure) in combos


def test_every_project_passes_the_attribute_checks() -> None:
    vocabulary = Vocabulary.default()
    for feature in features("projects.geojson"):
        assert list(feature) == ["type", "geometry", "properties"]
        props = feature["properties"]
        assert list(props) == PROPERTY_NAMES
        attrs, errors = parse_attributes(props, vocabulary)
        assert errors == [], (props["title"], errors)
        assert attrs is not None
        assert attrs.title and attrs.description
        assert " Tel. " in attrs.contact


def test_titles_are_unique() -> None:
    titles = Counter(f["properties"]["title"] for f in features("projects.geojson"))
    assert [t for t, n in titles.items() if n > 1] == []


def test_dates_statuses_and_costs_are_plausible() -> None:
    projects = [f["properties"] for f in features("projects.geojson")]
    open_ended = 0
    for p in projects:
        start, end = window(p)
        assert date(2025, 1, 1) <= start <= date(2032, 12, 31)
        if end is None:
            open_ended += 1
        else:
            assert start <= end <= date(2032, 12, 31)
        assert p["cost_eur"] is None or (isinstance(p["cost_eur"], int) and p["cost_eur"] > 0)
    assert 3 <= open_ended <= 15
    statuses = Counter(p["status"] for p in projects)
    assert set(statuses) == {
        "idea",
        "planning",
        "approved",
        "under_construction",
        "done",
        "cancelled",
    }
    assert statuses["planning"] + statuses["approved"] > len(projects) / 2


LINE_MEASURES = {
    "road_renewal",
    "road_resurfacing",
    "street_redesign",
    "sewer_rehabilitation",
    "sewer_construction",
    "utility_line",
    "stream_restoration",
}
AREA_MEASURES = {
    "green_space",
    "development_plan",
    "building",
    "stormwater_basin",
    "green_roof",
    "disconnection",
}


def test_geometry_fits_the_measure() -> None:
    kinds = Counter()
    for feature in features("projects.geojson"):
        kind = feature["geometry"]["type"]
        measure = feature["properties"]["measure_type"]
        kinds[kind] += 1
        if measure in LINE_MEASURES:
            assert kind in ("LineString", "MultiLineString"), (measure, kind)
        elif measure in AREA_MEASURES:
            assert kind in ("Polygon", "MultiPolygon"), (measure, kind)
    for kind in ("LineString", "Polygon", "MultiLineString", "MultiPolygon", "MultiPoint"):
        assert kinds[kind] > 0, kind


# -- geometry ---------------------------------------------------------------


def _positions(coordinates: list[Any]) -> list[list[float]]:
    """All positions of a GeoJSON coordinates array, however deeply nested."""
    if coordinates and isinstance(coordinates[0], int | float):
        return [coordinates]
    return [pos for item in coordinates for pos in _positions(item)]


def _rings_closed(geometry: dict[str, Any]) -> bool:
    if geometry["type"] == "Polygon":
        polygons = [geometry["coordinates"]]
    elif geometry["type"] == "MultiPolygon":
        polygons = geometry["coordinates"]
    else:
        return True
    return all(ring[0] == ring[-1] and len(ring) >= 4 for poly in polygons for ring in poly)


@pytest.mark.parametrize("name", FILES)
def test_geometries_are_valid_2d_and_in_the_region(name: str) -> None:
    for feature in features(name):
        geometry = feature["geometry"]
        geom = shape(geometry)
        assert not geom.is_empty and geom.is_valid, feature["properties"]
        assert not geom.has_z
        assert _rings_closed(geometry)
        coords = shapely.get_coordinates(geom)
        assert len(coords) <= 300
        assert all(len(position) == 2 for position in _positions(geometry["coordinates"]))
        assert LON_RANGE[0] <= coords[:, 0].min() and coords[:, 0].max() <= LON_RANGE[1]
        assert LAT_RANGE[0] <= coords[:, 1].min() and coords[:, 1].max() <= LAT_RANGE[1]
        assert metric(geometry).is_valid
        if name == "projects.geojson" and geometry["type"] in ("Polygon", "MultiPolygon"):
            assert metric(geometry).area > 50


def test_coordinates_carry_at_most_seven_decimals() -> None:
    for name in FILES:
        for feature in features(name):
            for value in shapely.get_coordinates(shape(feature["geometry"])).ravel():
                assert round(float(value), 7) == float(value)


def test_at_least_ten_coordination_situations() -> None:
    """Pairs of departments within 10 m whose windows lie within 24 months."""
    projects = features("projects.geojson")
    geoms = [metric(f["geometry"]) for f in projects]
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="dwithin", distance=10.0)
    pairs = set()
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        a, b = projects[i]["properties"], projects[j]["properties"]
        if (
            i < j
            and a["department"] != b["department"]
            and months_apart(window(a), window(b)) <= 24
        ):
            pairs.add((i, j))
    assert len(pairs) >= 10
    crossing = {
        (i, j)
        for i, j in pairs
        if projects[i]["properties"]["organisation"] != projects[j]["properties"]["organisation"]
    }
    assert len(crossing) >= 3


def test_planted_situations_are_real_cases() -> None:
    town = generate_town()
    projects = features("projects.geojson")
    assert len(town.situations) >= 10
    organisations = set()
    for s in town.situations:
        a, b = projects[s.first]["properties"], projects[s.second]["properties"]
        assert a["title"] == town.projects[s.first].title
        assert (a["organisation"], a["department"]) != (b["organisation"], b["department"])
        distance = metric(projects[s.first]["geometry"]).distance(
            metric(projects[s.second]["geometry"])
        )
        assert distance <= 10.0, s.label
        assert months_apart(window(a), window(b)) <= 24, s.label
        organisations.add(frozenset((a["organisation"], b["organisation"])))
    assert frozenset(("herne", "eglv")) in organisations or frozenset(("bochum", "eglv")) in (
        organisations
    )
    assert any("gelsenwasser" in pair and len(pair) == 2 for pair in organisations)


# -- districts, streets, streams --------------------------------------------


def test_districts_tile_the_town() -> None:
    districts = features("districts.geojson")
    assert 5 <= len(districts) <= 8
    assert {d["properties"]["city"] for d in districts} == {"herne", "bochum"}
    assert len({d["properties"]["name"] for d in districts}) == len(districts)
    polygons = [metric(d["geometry"]) for d in districts]
    outline = generate_town().outline
    union = shapely.union_all(polygons)
    assert union.area == pytest.approx(outline.area, rel=1e-4)
    assert union.symmetric_difference(outline).area < 0.001 * outline.area
    overlaps = sum(
        polygons[i].intersection(polygons[j]).area
        for i in range(len(polygons))
        for j in range(i + 1, len(polygons))
    )
    assert overlaps < 1.0
    assert 15e6 < outline.area < 22e6  # about 5 x 4 km


def test_streets_read_back_with_pyogrio() -> None:
    path = SAMPLE_DATA / "streets.geojson"
    info = pyogrio.read_info(path)
    expected = len(features("streets.geojson"))
    assert 80 <= expected <= 200
    assert info["features"] == expected
    assert info["crs"] in ("EPSG:4326", "OGC:CRS84")
    assert info["geometry_type"] == "LineString"
    meta, _fids, geometry, fields = pyogrio.raw.read(path)
    assert list(meta["fields"]) == ["name", "category"]
    assert len(geometry) == expected
    assert set(fields[1]) == {"main", "collector", "residential"}
    assert "Bahnhofstraße" in set(fields[0])


def test_streets_are_named_and_the_network_is_not_a_grid() -> None:
    streets = features("streets.geojson")
    names = Counter(s["properties"]["name"] for s in streets)
    assert len(names) == len(streets)
    geoms = [metric(s["geometry"]) for s in streets]
    # Many directions, not just two: count bearings of street ends in 15 degree bins.
    bearings = set()
    for g in geoms:
        (x0, y0), (x1, y1) = g.coords[0], g.coords[-1]
        bearings.add(int(np.degrees(np.arctan2(y1 - y0, x1 - x0)) % 180 // 15))
    assert len(bearings) >= 8


def test_stream_crosses_the_town() -> None:
    streams = features("streams.geojson")
    assert [s["properties"]["name"] for s in streams] == ["Wiesenbach", "Siepenbach"]
    main = metric(streams[0]["geometry"])
    assert main.length > 3000
    restorations = [
        metric(f["geometry"])
        for f in features("projects.geojson")
        if f["properties"]["measure_type"] == "stream_restoration"
    ]
    rivers = shapely.union_all([metric(s["geometry"]) for s in streams])
    assert all(r.distance(rivers) < 0.1 for r in restorations)
