"""Coordinates: WGS84 in, EPSG:25832 stored, WGS84 out, on synthetic and real data."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import orjson
import pyogrio
import shapely
from flask import Flask
from flask.testing import FlaskClient
from pyproj import Transformer
from shapely.geometry import mapping

from tests.conftest import feature, token_for
from zugabe.io.geojson import geometries_to_fragments, geometry_to_json
from zugabe.web import create_app

EARTH_METRES_PER_DEGREE = 111_320


def metres_apart(a: list[float], b: list[float]) -> float:
    dx = (a[0] - b[0]) * EARTH_METRES_PER_DEGREE * math.cos(math.radians(a[1]))
    dy = (a[1] - b[1]) * EARTH_METRES_PER_DEGREE
    return math.hypot(dx, dy)


def test_round_trip_is_accurate_to_a_centimetre(app: Flask, client: FlaskClient) -> None:
    sent = [[7.218765432, 51.541234567], [7.2191234567, 51.5419876543], [7.22011, 51.54233]]
    body = client.post(
        "/api/projects", json=feature({"type": "LineString", "coordinates": sent})
    ).get_json()
    returned = client.get(f"/api/projects/{body['id']}").get_json()["geometry"]["coordinates"]
    assert max(metres_apart(a, b) for a, b in zip(sent, returned, strict=True)) < 0.01


def test_stored_geometry_is_in_etrs89_utm32(app: Flask, client: FlaskClient) -> None:
    lon, lat = 7.2187654, 51.5412345
    body = client.post(
        "/api/projects", json=feature({"type": "Point", "coordinates": [lon, lat]})
    ).get_json()
    stored = app.extensions["zugabe"].store.get_project(body["id"]).geometry
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True).transform(lon, lat)
    assert math.hypot(stored.x - x, stored.y - y) < 0.001
    assert 360_000 < stored.x < 400_000 and 5_700_000 < stored.y < 5_720_000


def test_projects_survive_a_restart(instance_path: Path) -> None:
    first = create_app({"instance_path": instance_path})
    auth = {"Authorization": f"Bearer {token_for(first, 'h.planner')}"}
    created = first.test_client().post("/api/projects", json=feature(), headers=auth).get_json()
    first.extensions["zugabe"].close()
    second = create_app({"instance_path": instance_path})
    try:
        fetched = second.test_client().get(f"/api/projects/{created['id']}", headers=auth)
        assert fetched.get_json() == created
    finally:
        second.extensions["zugabe"].close()


def test_koeln_districts_load_through_the_api(
    shared_data: Path, client: FlaskClient, app: Flask
) -> None:
    """Real polygons (Köln city districts, CC BY Stadt Köln) through the whole pipeline.

    The districts file carries each district's official area in m²; the area
    of what we store in EPSG:25832 must match it.
    """
    path = shared_data / "koeln" / "stadtbezirke" / "stadtbezirke.geojson"
    _meta, _fids, wkb, fields = pyogrio.raw.read(path)
    names, areas = fields[2], fields[0]
    geometries = shapely.from_wkb(wkb)
    assert len(geometries) == 9
    for name, official_area, geometry in zip(names, areas, geometries, strict=True):
        doc = feature(
            shapely.geometry.mapping(geometry),
            title=f"Klimaanpassungskonzept {name}",
            department="environment",
            measure_type="heat_action",  # a climate concept of a district, up to 79 km²
        )
        response = client.post("/api/projects", json=doc)
        assert response.status_code == 201, response.get_json()
        stored = app.extensions["zugabe"].store.get_project(response.get_json()["id"]).geometry
        assert stored.is_valid
        assert abs(stored.area - official_area) / official_area < 0.001, name
    listed = client.get("/api/projects?bbox=6.95,50.93,6.97,50.95").get_json()
    titles = {f["properties"]["title"] for f in listed["features"]}
    assert titles == {"Klimaanpassungskonzept Innenstadt"}


PAGE_OF_EVERY_KIND = [
    "POINT (7.2319909123 51.5115558)",
    "LINESTRING (7.1 51.1, 7.123456789 51.2)",
    "POLYGON ((7 51, 7.1 51, 7.1 51.1, 7 51), (7.01 51.01, 7.02 51.01, 7.02 51.02, 7.01 51.01))",
    "MULTIPOINT ((7.1 51.2), (7.3 51.4))",
    "MULTILINESTRING ((7 51, 7.1 51.1), (7.2 51.2, 7.3 51.3, 7.4 51.4))",
    "MULTIPOLYGON (((7 51, 7.1 51, 7.1 51.1, 7 51)), ((7.5 51.5, 7.6 51.5, 7.6 51.6, 7.5 51.5)))",
    "GEOMETRYCOLLECTION (POINT (7.1 51.2), LINESTRING (7 51, 7.2 51.2))",
    "POLYGON EMPTY",
    "POINT (7.2 51.3)",
]


def test_a_page_of_geometries_is_written_as_shapely_maps_it_rounded_to_a_centimetre() -> None:
    """The page writer (GEOS's arrays, orjson) gives what ``mapping`` gives, type by type,
    with the fewest digits that read back the same coordinate."""
    page = np.array([shapely.from_wkt(w) for w in PAGE_OF_EVERY_KIND] + [None], dtype=object)
    rounded = shapely.transform(page, lambda c: np.round(c, 7))
    expected = [None if g is None else json.loads(json.dumps(mapping(g))) for g in rounded]
    assert [None if g is None else geometry_to_json(g) for g in page] == expected
    sent = orjson.dumps(geometries_to_fragments(page)).decode()
    assert json.loads(sent) == expected
    assert "7.1234568," in sent and "51.5115558]" in sent
    assert not re.search(r"\d\.\d{8,}", sent)  # no 51.511555799999996


def test_the_list_and_the_single_project_give_the_same_geometry(client: FlaskClient) -> None:
    sent = [[7.218765432, 51.541234567], [7.2191234567, 51.5419876543], [7.22011, 51.54233]]
    body = client.post(
        "/api/projects", json=feature({"type": "LineString", "coordinates": sent})
    ).get_json()
    single = client.get(f"/api/projects/{body['id']}").get_json()["geometry"]
    listed = client.get("/api/projects?bbox=7.2,51.5,7.3,51.6")
    [found] = [f for f in listed.get_json()["features"] if f["id"] == body["id"]]
    assert found["geometry"] == single
    assert not re.search(rb"\d\.\d{8,}", listed.data)
