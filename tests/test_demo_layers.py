"""The demo town's thematic layers: reproducible, valid under ``layers/*.toml``, fitting the town.

The layers are what the coordination engine and the web map are demonstrated with, so they
must import cleanly (every value coerces, every geometry fits its layer) and must contain the
situations the demo promises: poor sewers under planned works, a flooded development plan,
freshly resurfaced streets, trees whose root-protection zone falls back to the default.
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
import pytest
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from zugabe.demo.layers import LAYER_KEYS, PROPERTIES
from zugabe.demo.town import FILES, write_town
from zugabe.domain.layers import (
    LayerDefinition,
    coerce_value,
    default_layers_folder,
    load_layer_definitions,
)
from zugabe.io.crs import Reprojector

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
LAYERS = SAMPLE_DATA / "layers"
LON_RANGE, LAT_RANGE = (5.86, 9.47), (50.32, 52.53)


@cache
def definitions() -> dict[str, LayerDefinition]:
    return load_layer_definitions(default_layers_folder())


@cache
def collection(path: Path) -> tuple[dict[str, Any], ...]:
    doc = json.loads(path.read_text("utf-8"))
    assert doc["type"] == "FeatureCollection"
    return tuple(doc["features"])


def layer(key: str) -> tuple[dict[str, Any], ...]:
    return collection(LAYERS / f"{key}.geojson")


def town_file(name: str) -> tuple[dict[str, Any], ...]:
    return collection(SAMPLE_DATA / name)


TO_METRES = Reprojector("EPSG:25832")


def metric(geometry: dict[str, Any]) -> BaseGeometry:
    """A GeoJSON geometry projected back to EPSG:25832."""
    return TO_METRES.to_storage(shape(geometry))


@cache
def metric_layer(key: str) -> tuple[BaseGeometry, ...]:
    return tuple(metric(f["geometry"]) for f in layer(key))


def projects(*, department: str | None = None, measure: str | None = None) -> list[BaseGeometry]:
    return [
        metric(f["geometry"])
        for f in town_file("projects.geojson")
        if (department is None or f["properties"]["department"] == department)
        and (measure is None or f["properties"]["measure_type"] == measure)
    ]


# -- reproducible -------------------------------------------------------------


def test_all_sample_data_is_what_the_generator_writes(tmp_path: Path) -> None:
    counts = write_town(tmp_path)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.geojson"))
    committed = sorted(
        p.relative_to(SAMPLE_DATA).as_posix() for p in SAMPLE_DATA.rglob("*.geojson")
    )
    assert written == committed == sorted(counts)
    assert sorted(counts) == sorted([*FILES, *(f"layers/{key}.geojson" for key in LAYER_KEYS)])
    for name in written:
        assert (tmp_path / name).read_bytes() == (SAMPLE_DATA / name).read_bytes(), (
            f"sample_data/{name} differs from the generator: "
            "run `python -m zugabe.demo.town sample_data`"
        )
        assert counts[name] == len(collection(SAMPLE_DATA / name))


def test_sample_data_stays_small() -> None:
    total = sum(p.stat().st_size for p in SAMPLE_DATA.rglob("*") if p.is_file())
    assert total < 4_000_000
    for path in LAYERS.glob("*.geojson"):
        data = path.read_bytes()
        assert data.endswith(b"}\n") and b"\r" not in data


# -- every layer imports cleanly --------------------------------------------------


def test_every_layer_type_has_a_file_with_features() -> None:
    assert set(LAYER_KEYS) <= set(definitions())
    for key in LAYER_KEYS:
        assert len(layer(key)) > 0, key


@pytest.mark.parametrize("key", LAYER_KEYS)
def test_properties_are_valid_attribute_values(key: str) -> None:
    definition = definitions()[key]
    required = {a.name for a in definition.attributes if a.required}
    for feature in layer(key):
        props = feature["properties"]
        assert list(props) == list(PROPERTIES[key])
        assert set(props) <= set(definition.attribute_names), key
        for name in required:
            assert props.get(name) is not None, (key, name, props)
        for name, raw in props.items():
            value, reason = coerce_value(definition.attribute(name), raw)
            assert reason is None, (key, name, raw, reason)
            if raw is not None and definition.attribute(name).type != "date":
                assert value == raw, (key, name, raw, value)


@pytest.mark.parametrize("key", [k for k in LAYER_KEYS if definitions()[k].id_attribute])
def test_ids_are_unique(key: str) -> None:
    id_attribute = definitions()[key].id_attribute
    ids = Counter(f["properties"][id_attribute] for f in layer(key))
    assert [i for i, n in ids.items() if n > 1] == []


@pytest.mark.parametrize("key", LAYER_KEYS)
def test_geometry_fits_the_layer_and_the_region(key: str) -> None:
    definition = definitions()[key]
    for feature in layer(key):
        geometry = feature["geometry"]
        assert definition.accepts_geometry(geometry["type"]), (key, geometry["type"])
        geom = shape(geometry)
        assert not geom.is_empty and geom.is_valid and not geom.has_z, feature["properties"]
        coords = shapely.get_coordinates(geom)
        assert LON_RANGE[0] <= coords[:, 0].min() and coords[:, 0].max() <= LON_RANGE[1]
        assert LAT_RANGE[0] <= coords[:, 1].min() and coords[:, 1].max() <= LAT_RANGE[1]
        assert np.array_equal(np.round(coords, 7), coords)
    for geom in metric_layer(key):
        assert geom.is_valid


def test_sewer_sections_read_back_with_pyogrio() -> None:
    path = LAYERS / "sewer_sections.geojson"
    info = pyogrio.read_info(path)
    assert info["features"] == len(layer("sewer_sections"))
    assert info["geometry_type"] == "LineString"
    assert list(info["fields"]) == list(PROPERTIES["sewer_sections"])


# -- the layers fit the town ---------------------------------------------------------


@cache
def street_network() -> BaseGeometry:
    return shapely.union_all([metric(f["geometry"]) for f in town_file("streets.geojson")])


def test_sewers_lie_along_the_streets() -> None:
    sections = metric_layer("sewer_sections")
    assert 500 <= len(sections) <= 3000
    streets = street_network()
    shapely.prepare(streets)
    for geom in sections:
        points = shapely.points(shapely.get_coordinates(shapely.segmentize(geom, 5.0)))
        assert shapely.distance(points, streets).max() <= 5.0
    lengths = np.array([g.length for g in sections])
    assert 30 <= np.median(lengths) <= 80
    assert np.mean((lengths >= 25) & (lengths <= 85)) > 0.9


def test_sewers_follow_most_streets() -> None:
    sewers = shapely.union_all(metric_layer("sewer_sections")).buffer(3.0)
    streets = [metric(f["geometry"]) for f in town_file("streets.geojson")]
    covered = sum(s.intersection(sewers).length for s in streets) / sum(s.length for s in streets)
    assert covered > 0.85


def test_sections_join_existing_manholes() -> None:
    manholes = {f["properties"]["manhole_id"]: f["geometry"] for f in layer("manholes")}
    used = set()
    for f in layer("sewer_sections"):
        props, coords = f["properties"], f["geometry"]["coordinates"]
        up, down = props["upstream_manhole"], props["downstream_manhole"]
        assert up in manholes and down in manholes and up != down
        assert manholes[up]["coordinates"] == coords[0]
        assert manholes[down]["coordinates"] == coords[-1]
        used |= {up, down}
    assert used == set(manholes)
    systems = Counter(f["properties"]["sewer_system"] for f in layer("sewer_sections"))
    assert systems["KM"] > 0.7 * sum(systems.values()) and systems["KS"] and systems["KR"]


def test_sewers_flow_downhill() -> None:
    cover = {
        f["properties"]["manhole_id"]: f["properties"]["cover_level"] for f in layer("manholes")
    }
    for f in layer("sewer_sections"):
        props = f["properties"]
        assert cover[props["upstream_manhole"]] >= cover[props["downstream_manhole"]]


def test_poor_sewers_lie_under_drainage_projects() -> None:
    drainage = shapely.union_all(projects(department="drainage"))
    poor = [
        geom
        for geom, f in zip(metric_layer("sewer_sections"), layer("sewer_sections"), strict=True)
        if f["properties"]["condition_class"] is not None
        and f["properties"]["condition_class"] <= 1
    ]
    near = [g for g in poor if g.distance(drainage) <= 10.0]
    assert len(near) >= 20
    classes = Counter(f["properties"]["condition_class"] for f in layer("sewer_sections"))
    assert set(classes) == {0, 1, 2, 3, 4, 5, None}


def test_every_planned_sewer_rehabilitation_has_poor_sewers_beneath() -> None:
    sections = list(zip(metric_layer("sewer_sections"), layer("sewer_sections"), strict=True))
    for f in town_file("projects.geojson"):
        props = f["properties"]
        if props["measure_type"] != "sewer_rehabilitation" or props["status"] != "planning":
            continue
        zone = metric(f["geometry"]).buffer(6.0)
        beneath = [
            s["properties"]["condition_class"]
            for g, s in sections
            if g.intersection(zone).length >= 0.5 * g.length
        ]
        assert beneath and max(beneath) <= 2, props["title"]


def test_a_deep_heavy_rain_zone_lies_in_a_development_plan() -> None:
    plans = shapely.union_all(projects(measure="development_plan"))
    deep = [
        g
        for g, f in zip(metric_layer("heavy_rain_hazard"), layer("heavy_rain_hazard"), strict=True)
        if f["properties"]["depth_class"] >= 2
    ]
    assert any(g.intersection(plans).area > 500 for g in deep)
    classes = {f["properties"]["depth_class"] for f in layer("heavy_rain_hazard")}
    assert classes == {1, 2, 3, 4}


def test_hazard_zones_of_different_depth_do_not_overlap() -> None:
    zones = metric_layer("heavy_rain_hazard")
    tree = shapely.STRtree(zones)
    left, right = tree.query(zones, predicate="intersects")
    overlap = sum(
        zones[i].intersection(zones[j]).area for i, j in zip(left, right, strict=True) if i < j
    )
    assert overlap < 1.0


def test_catchments_cover_the_town_and_some_spill_often() -> None:
    outline = shapely.union_all([metric(f["geometry"]) for f in town_file("districts.geojson")])
    catchments = metric_layer("cso_catchments")
    assert 4 <= len(catchments) <= 10
    assert shapely.union_all(catchments).symmetric_difference(outline).area < 0.001 * outline.area
    frequencies = [f["properties"]["overflow_frequency"] for f in layer("cso_catchments")]
    assert sum(f > 15 for f in frequencies) >= 2 and min(frequencies) < 5
    basins = {f["properties"]["basin_id"] for f in layer("stormwater_basins")}
    assert all(f["properties"]["overflow_structure"] in basins for f in layer("cso_catchments"))


def test_an_existing_basin_lies_beside_the_planned_one() -> None:
    planned = shapely.union_all(projects(measure="stormwater_basin"))
    existing = metric_layer("stormwater_basins")
    assert any(g.distance(planned) <= 10.0 for g in existing)
    kinds = {f["geometry"]["type"] for f in layer("stormwater_basins")}
    assert kinds == {"Point", "Polygon"}


def test_green_spaces_touch_the_planned_park_on_the_brook() -> None:
    parks = shapely.union_all(projects(measure="green_space"))
    greens = [g for g in metric_layer("green_spaces") if g.geom_type != "Point"]
    assert any(g.intersection(parks).area > 1000 for g in greens)


def test_street_trees() -> None:
    trees = layer("trees")
    assert 300 <= len(trees) <= 2000
    without_crown = [f for f in trees if f["properties"]["crown_radius"] is None]
    assert 0 < len(without_crown) < 0.2 * len(trees)
    streets = street_network()
    distances = shapely.distance(
        shapely.points([t.coords[0] for t in metric_layer("trees")]), streets
    )
    assert distances.min() >= 4.0 and distances.max() <= 8.0


def test_old_trees_stand_over_an_open_sewer_trench() -> None:
    """Root-protection zones (crown + 1.5 m) reach a sewer to be rehabilitated in a trench."""
    trenches = shapely.union_all(
        [
            metric(f["geometry"])
            for f in town_file("projects.geojson")
            if f["properties"]["measure_type"] == "sewer_rehabilitation"
            and "offener Bauweise" in f["properties"]["description"]
        ]
    )
    reaching = [
        f
        for g, f in zip(metric_layer("trees"), layer("trees"), strict=True)
        if f["properties"]["crown_radius"] is not None
        and g.distance(trenches) <= f["properties"]["crown_radius"] + 1.5
    ]
    assert len(reaching) >= 20


def test_recently_resurfaced_streets_meet_planned_digging() -> None:
    """The moratorium rule needs resurfacing years of 2024 and later under planned trenches."""
    today = date(2026, 4, 1)
    digging = [
        metric(f["geometry"])
        for f in town_file("projects.geojson")
        if f["properties"]["measure_type"] in ("utility_line", "sewer_construction")
        and date.fromisoformat(f["properties"]["start"]) >= today
    ]
    recent = [
        g
        for g, f in zip(metric_layer("streets"), layer("streets"), strict=True)
        if f["properties"]["last_resurfacing_year"] >= 2024
    ]
    assert len(recent) >= 2
    hits = sum(
        1 for r in recent if any(r.buffer(10.0).intersection(d).length > 50 for d in digging)
    )
    assert hits >= 2


def test_streets_and_districts_are_the_towns_own() -> None:
    town_streets = street_network()
    pieces = metric_layer("streets")
    assert sum(g.length for g in pieces) == pytest.approx(town_streets.length, abs=1.0)
    near = town_streets.buffer(0.1)
    assert all(near.covers(g) for g in pieces)
    names = {f["properties"]["name"] for f in town_file("districts.geojson")}
    assert {f["properties"]["name"] for f in layer("districts")} == names


def test_heat_is_highest_in_the_centre() -> None:
    centres = [g.centroid for g in metric_layer("heat_stress")]
    classes = np.array([f["properties"]["stress_class"] for f in layer("heat_stress")])
    town = shapely.union_all([metric(f["geometry"]) for f in town_file("districts.geojson")])
    c = town.centroid
    distance = np.array([p.distance(c) for p in centres])
    assert set(classes.tolist()) == {1, 2, 3, 4, 5}
    assert classes[distance < 800].mean() > classes[distance > 1800].mean() + 1.0
