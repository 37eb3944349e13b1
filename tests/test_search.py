"""The search behind the map's search box (``GET /api/search``): the demo town's streets,
districts and projects by name, from the store only."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.conftest import feature


@pytest.fixture
def demo(demo_instance: object) -> None:
    """The demo town's layers and projects in this test's store."""


def test_streets_districts_and_projects_are_found_by_name(demo: None, client: FlaskClient) -> None:
    response = client.get("/api/search?q=STRASSE&limit=50")  # ß and case do not matter
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    found = response.get_json()["features"]
    kinds = {f["properties"]["kind"] for f in found}
    assert "street" in kinds
    labels = [f["properties"]["label"] for f in found]
    assert "Bahnhofstraße" in labels and len(labels) == len(set(labels))
    for place in found:
        west, south, east, north = place["bbox"]
        assert 6 < west <= east < 8 and 51 < south <= north < 52  # lon/lat, around Herne
        lon, lat = place["geometry"]["coordinates"]
        assert west <= lon <= east and south <= lat <= north


def test_districts_come_first_and_names_that_start_with_the_query_lead(
    demo: None, client: FlaskClient
) -> None:
    found = client.get("/api/search?q=br").get_json()["features"]
    assert found[0]["properties"] == {
        "kind": "district",
        "label": "Brückenfeld",
        "ref": "districts",
    }


def test_a_project_is_found_by_title_and_by_number(client: FlaskClient) -> None:
    created = client.post("/api/projects", json=feature(title="Mulde am Schulhof")).get_json()
    by_title = client.get("/api/search?q=schulhof").get_json()["features"]
    assert [f["properties"] for f in by_title] == [
        {"kind": "project", "label": "Mulde am Schulhof", "ref": str(created["id"])}
    ]
    by_number = client.get(f"/api/search?q={created['id']}").get_json()["features"]
    assert by_number[0]["properties"]["label"] == "Mulde am Schulhof"


@pytest.mark.parametrize("query", ["", "q=", "q=%20%20", "q=a&limit=51", "q=a&near=1"])
def test_a_search_without_words_or_with_unknown_parameters_is_refused(
    client: FlaskClient, query: str
) -> None:
    assert client.get(f"/api/search?{query}").status_code == 400


def test_signed_out_nobody_searches(anonymous: FlaskClient) -> None:
    assert anonymous.get("/api/search?q=a").status_code == 401
