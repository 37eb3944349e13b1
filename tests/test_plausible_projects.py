"""Implausible projects are refused, not stored (issue 11, item 12): a road renewal drawn
over most of North Rhine-Westphalia, a line across the region, a cost of 1e300 €, a title
of 201 characters. The API, the bulk import and the demo load check alike."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from flask.testing import FlaskClient
from shapely.geometry import shape

from tests.conftest import client_as, feature
from zugabe.domain.project import TITLE_MAX
from zugabe.domain.vocabulary import Limits, Vocabulary
from zugabe.errors import ConfigError
from zugabe.io.crs import Reprojector
from zugabe.storage.contract import CaseQuery, ProjectQuery
from zugabe.web import create_app

SAMPLE_PROJECTS = Path(__file__).resolve().parents[1] / "sample_data" / "projects.geojson"

# Most of North Rhine-Westphalia (lon/lat), drawn as one road renewal.
MOST_OF_NRW = {
    "type": "Polygon",
    "coordinates": [[[6.0, 50.4], [9.3, 50.4], [9.3, 52.4], [6.0, 52.4], [6.0, 50.4]]],
}
# About 14 km of line through Herne and Bochum.
LONG_LINE = {"type": "LineString", "coordinates": [[7.10, 51.50], [7.30, 51.50]]}
# A minimal vocabulary of another region: one town, one department, two measure types.
TOWN_VOCABULARY = """
[measure_types]
road_renewal = { de = "Fahrbahnerneuerung", en = "Road renewal" }
stream_restoration = { de = "Gewässerumbau", en = "Stream restoration" }

[departments.roads]
de = "Straßenbau"
en = "Roads"
measure_types = ["road_renewal", "stream_restoration"]

[organisations.herne]
de = "Stadt Herne"
en = "City of Herne"
kind = "city"
departments = ["roads"]
"""
# A region with its own vocabulary brings rules that speak it.
TOWN_RULES = """
[[rules]]
id = "two_roads"
name = { de = "Zwei Straßen", en = "Two roads" }
relation = "note"
severity = "low"
a = {}
b = {}
same_department = true
spatial = { test = "intersects" }
temporal = { test = "overlap" }
message = { de = "{a.title} trifft {b.title}", en = "{a.title} meets {b.title}" }
"""


def errors_of(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 422, response.get_json()
    return response.get_json()["errors"]


def counts(client: FlaskClient) -> tuple[int, int]:
    """How many projects and cases the store holds."""
    store = client.application.extensions["zugabe"].store
    return store.count_projects(ProjectQuery()), store.count_cases(CaseQuery())


def test_a_road_renewal_over_most_of_nrw_is_refused_and_makes_no_case(
    client: FlaskClient,
) -> None:
    assert client.post("/api/projects", json=feature()).status_code == 201
    sewer = feature(
        {"type": "LineString", "coordinates": [[7.2101, 51.5403], [7.2170, 51.5416]]},
        department="drainage",
        measure_type="sewer_rehabilitation",
    )
    assert client.post("/api/projects", json=sewer).status_code == 201
    before = counts(client)
    assert before[1] >= 1  # the two meet: the store is one where saves make cases

    [error] = errors_of(client.post("/api/projects", json=feature(MOST_OF_NRW)))
    assert error["pointer"] == "/geometry"
    found = re.fullmatch(
        r"the area is ([\d,]+) km², more than the 1 km² allowed for measure type 'road_renewal'",
        error["detail"],
    )
    assert found, error["detail"]
    assert int(found[1].replace(",", "")) > 30_000
    assert counts(client) == before


def test_a_long_line_is_refused_on_create_put_and_patch(client: FlaskClient) -> None:
    [error] = errors_of(client.post("/api/projects", json=feature(LONG_LINE)))
    assert error == {
        "pointer": "/geometry",
        "detail": "the length is 13.89 km, more than the 10 km allowed "
        "for measure type 'road_renewal'",
        "code": "geometry.too_long",
    }
    created = client.post("/api/projects", json=feature()).get_json()
    path = f"/api/projects/{created['id']}"
    assert errors_of(client.put(path, json=feature(LONG_LINE)))[0]["pointer"] == "/geometry"
    assert errors_of(client.patch(path, json={"geometry": LONG_LINE}))[0]["pointer"] == (
        "/geometry"
    )
    # A stream may be restored over 14 km of line; a sewer may not be rehabilitated over as much.
    stream = client.post(
        "/api/projects",
        json=feature(
            LONG_LINE,
            department="water_management",
            measure_type="stream_restoration",
            organisation="eglv",
        ),
    )
    assert stream.status_code == 201, stream.get_json()
    [error] = errors_of(
        client.patch(
            f"/api/projects/{stream.get_json()['id']}",
            json={"properties": {"department": "drainage", "measure_type": "sewer_rehabilitation"}},
        )
    )
    assert "more than the 10 km allowed for measure type 'sewer_rehabilitation'" in error["detail"]
    stored = client.get(path).get_json()
    assert (stored["geometry"], stored["properties"]["version"]) == (
        feature()["geometry"],
        1,
    )


def test_a_cost_of_1e300_is_refused(client: FlaskClient) -> None:
    [error] = errors_of(client.post("/api/projects", json=feature(cost_eur=1e300)))
    assert error == {
        "pointer": "/properties/cost_eur",
        "detail": "'cost_eur' is 1e+300 €, more than the 10,000,000,000 € allowed "
        "for measure type 'road_renewal'",
        "code": "field.cost_too_high",
    }
    created = client.post("/api/projects", json=feature(cost_eur=1e10))
    assert created.status_code == 201
    patch = {"properties": {"cost_eur": 10_000_000_001}}
    [error] = errors_of(client.patch(f"/api/projects/{created.get_json()['id']}", json=patch))
    assert error["detail"].startswith("'cost_eur' is 10,000,000,001 €, more than")
    assert counts(client) == (1, 0)


def test_a_title_of_201_characters_is_refused_not_cut(client: FlaskClient) -> None:
    assert TITLE_MAX == 200
    [error] = errors_of(client.post("/api/projects", json=feature(title="T" * 201)))
    assert error == {
        "pointer": "/properties/title",
        "detail": "'title' has 201 characters, more than the 200 allowed",
        "code": "field.too_long",
    }
    created = client.post("/api/projects", json=feature(title="T" * 200))
    assert created.get_json()["properties"]["title"] == "T" * 200
    spec = client.get("/api/openapi.json").get_json()
    schema = spec["components"]["schemas"]
    assert any(
        s.get("properties", {}).get("title", {}).get("maxLength") == TITLE_MAX
        for s in schema.values()
    )
    # The map's form leaves the refusal to the server: a maxlength would cut a pasted title.
    assert re.search(r'<input name="title"[^>]*maxlength', client.get("/").get_data(True)) is None


def upload(client: FlaskClient, features: list[dict[str, Any]], dry_run: bool = False) -> Any:
    content = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    return client.post(
        "/api/projects/import" + ("?dry_run=true" if dry_run else ""),
        data={"file": (io.BytesIO(content), "massnahmen.geojson")},
        content_type="multipart/form-data",
    )


def test_the_bulk_import_refuses_the_same(client: FlaskClient) -> None:
    rows = [
        feature(),
        feature(title="T" * 201),
        feature(MOST_OF_NRW),
        feature(cost_eur=1e300),
    ]
    problem = upload(client, rows).get_json()
    assert [e["pointer"] for e in problem["errors"]] == [
        "/rows/2/title",
        "/rows/3/geometry",
        "/rows/4/cost_eur",
    ]
    assert problem["errors"][0]["detail"] == "'title' has 201 characters, more than the 200 allowed"
    assert "allowed for measure type 'road_renewal'" in problem["errors"][1]["detail"]
    assert counts(client) == (0, 0)
    dry = upload(client, rows, dry_run=True).get_json()
    assert (dry["valid_rows"], dry["invalid_rows"]) == (1, 3)
    applied = upload(client, [feature(title="T" * 200)])
    assert applied.status_code == 201, applied.get_json()
    assert client.get("/api/projects").get_json()["features"][0]["properties"]["title"] == (
        "T" * 200
    )


def test_the_largest_demo_projects_are_accepted(client: FlaskClient) -> None:
    """Ordinary projects pass: the demo town's largest area and longest line are saved as they
    are (tests/test_demo_town.py loads the whole town)."""
    features = json.loads(SAMPLE_PROJECTS.read_text("utf-8"))["features"]
    reprojector = Reprojector("EPSG:25832")
    storage = [reprojector.to_storage(shape(f["geometry"])) for f in features]
    line_length = np.where(shapely.get_dimensions(storage) == 1, shapely.length(storage), 0)
    for size in (shapely.area(storage), line_length):
        largest = int(np.argmax(size))
        response = client.post("/api/projects", json=features[largest])
        assert response.status_code == 201, response.get_json()


def test_limits_of_a_regional_vocabulary_apply(tmp_path: Path) -> None:
    vocabulary = tmp_path / "vocabulary.toml"
    vocabulary.write_text(
        TOWN_VOCABULARY.replace(
            'en = "Road renewal" }',
            'en = "Road renewal", max_length_m = 100, max_cost_eur = 5_000 }',
        )
        + "[limits]\nmax_area_m2 = 1_000\n",
        "utf-8",
    )
    rules = tmp_path / "rules.toml"
    rules.write_text(TOWN_RULES, "utf-8")
    app = create_app(
        {
            "instance_path": tmp_path / "instance",
            "vocabulary_file": vocabulary,
            "rules_file": rules,
        }
    )
    try:
        client = client_as(app, "r.admin")
        square = {  # about 70 × 110 m
            "type": "Polygon",
            "coordinates": [
                [[7.2100, 51.5400], [7.2110, 51.5400], [7.2110, 51.5410], [7.2100, 51.5410],
                 [7.2100, 51.5400]],
            ],
        }  # fmt: skip
        [error] = errors_of(client.post("/api/projects", json=feature(square, cost_eur=None)))
        assert re.fullmatch(
            r"the area is [\d,]+ m², more than the 1,000 m² allowed for measure type "
            r"'road_renewal'",
            error["detail"],
        ), error["detail"]
        [error] = errors_of(client.post("/api/projects", json=feature(cost_eur=6_000)))
        assert error["detail"].endswith(
            "more than the 5,000 € allowed for measure type 'road_renewal'"
        )
        [error] = errors_of(client.post("/api/projects", json=feature(cost_eur=None)))
        assert "more than the 100 m allowed" in error["detail"]
        # The other measure type keeps the region's defaults: 20 km of line.
        stream = feature(measure_type="stream_restoration", cost_eur=6_000)
        assert client.post("/api/projects", json=stream).status_code == 201
        served = {
            m["key"]: m["limits"] for m in client.get("/api/vocab").get_json()["measure_types"]
        }
        assert served == {
            "road_renewal": {"max_area_m2": 1_000, "max_length_m": 100, "max_cost_eur": 5_000},
            "stream_restoration": {
                "max_area_m2": 1_000,
                "max_length_m": 20_000,
                "max_cost_eur": 1e10,
            },
        }
    finally:
        app.extensions["zugabe"].close()


def test_a_vocabulary_without_limits_gets_the_defaults() -> None:
    vocabulary = Vocabulary.from_toml(TOWN_VOCABULARY, source="town")
    assert vocabulary.limits == Limits(
        max_area_m2=10_000_000, max_length_m=20_000, max_cost_eur=1e10
    )
    assert vocabulary.limits_of("road_renewal") == vocabulary.limits
    assert vocabulary.limits_of("unknown") == vocabulary.limits


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[limits]\nmax_area_m2 = -5\n", "limits.max_area_m2 must be a positive number, got -5"),
        ("[limits]\nmax_length_m = 0\n", "limits.max_length_m must be a positive number, got 0"),
        (
            '[limits]\nmax_cost_eur = "viel"\n',
            "limits.max_cost_eur must be a positive number, got 'viel'",
        ),
        (
            "[limits]\nmax_cost_eur = inf\n",
            "limits.max_cost_eur must be a positive number, got inf",
        ),
        (
            "[limits]\nmax_area_m2 = true\n",
            "limits.max_area_m2 must be a positive number, got True",
        ),
        (
            "[limits]\nmax_area_km2 = 5\n",
            "limits: unknown key 'max_area_km2'; allowed: max_area_m2, max_length_m, max_cost_eur",
        ),
        ("limits = 5\n", "limits must be a table"),
    ],
)
def test_broken_limits_are_named(toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Vocabulary.from_toml(toml + TOWN_VOCABULARY, source="town.toml")
    assert caught.value.detail == f"town.toml: {message}"


def test_broken_limits_of_a_measure_type_are_named() -> None:
    broken = TOWN_VOCABULARY.replace(
        'en = "Road renewal" }', 'en = "Road renewal", max_length_m = -1, max_lenght_m = 5 }'
    )
    with pytest.raises(ConfigError) as caught:
        Vocabulary.from_toml(broken, source="town.toml")
    assert caught.value.detail == (
        "town.toml: measure_types.road_renewal: unknown key 'max_lenght_m'; allowed: de, en, "
        "max_area_m2, max_length_m, max_cost_eur; "
        "measure_types.road_renewal.max_length_m must be a positive number, got -1"
    )


def test_planning_years_come_from_the_vocabulary(tmp_path: Path) -> None:
    """Issue 11, item 7: the plausible date range is a setting of the region."""
    vocabulary = tmp_path / "vocabulary.toml"
    vocabulary.write_text("planning_years = [2000, 2050]\n" + TOWN_VOCABULARY, "utf-8")
    rules = tmp_path / "rules.toml"
    rules.write_text(TOWN_RULES, "utf-8")
    app = create_app(
        {"instance_path": tmp_path / "instance", "vocabulary_file": vocabulary, "rules_file": rules}
    )
    try:
        client = client_as(app, "r.admin")
        [error] = errors_of(client.post("/api/projects", json=feature(end="2060-12-31")))
        assert error["pointer"] == "/properties/end"
        assert "must lie in the years 2000 to 2050 (planning_years" in error["detail"]
        assert client.post("/api/projects", json=feature(end="2049-12-31")).status_code == 201
    finally:
        app.extensions["zugabe"].close()


@pytest.mark.parametrize("years", ["[2050, 2000]", "[2000]", '["2000", 2050]', "[0, 9999]"])
def test_broken_planning_years_are_named(years: str) -> None:
    with pytest.raises(ConfigError, match="planning_years must be"):
        Vocabulary.from_toml(f"planning_years = {years}\n" + TOWN_VOCABULARY, source="town")
