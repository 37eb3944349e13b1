"""OGC API – Features in-process: what a client notices of paging, time, CRS, formats and
Part 4's rules (the real clients are in test_ogc_clients.py)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import shapely.geometry
from flask import Flask
from flask.testing import FlaskClient
from pyproj import CRS

from tests.conftest import VALID_FEATURE, actor_for
from zugabe.domain.project import Status
from zugabe.services import Services
from zugabe.storage.contract import ProjectQuery

ITEMS = "/ogc/collections/projects/items"


@pytest.fixture
def demo(demo_instance: object, client: FlaskClient) -> FlaskClient:
    return client


def test_landing_page_links_the_openapi_30_description(demo: FlaskClient) -> None:
    links = {link["rel"]: link for link in demo.get("/ogc").get_json()["links"]}
    assert links["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert {"self", "service-doc", "conformance", "data"} <= set(links)


def test_pages_follow_next_links_to_every_project(demo: FlaskClient) -> None:
    ids, url = [], f"{ITEMS}?limit=40"
    while url:
        body = demo.get(url).get_json()
        assert body["numberMatched"] == 150 and body["numberReturned"] == len(body["features"])
        ids += [f["id"] for f in body["features"]]
        nxt = [link for link in body["links"] if link["rel"] == "next"]
        assert all(link["type"] == "application/geo+json" for link in nxt)
        url = nxt[0]["href"] if nxt else None
    assert ids == sorted(set(ids)) and len(ids) == 150


@pytest.mark.parametrize(
    "window", ["2027-06-01", "2027-01-01/2027-12-31", "../2027-12-31", "2027-01-01T00:00:00Z/.."]
)
def test_datetime_selects_projects_whose_window_meets_it(demo: FlaskClient, window: str) -> None:
    body = demo.get(f"{ITEMS}?limit=1000&datetime={window}").get_json()
    start, _, end = window.partition("/")
    end = end if "/" in window else start
    for feature in body["features"]:
        p = feature["properties"]
        if end != ".." and p["start"]:
            assert p["start"] <= end[:10]
        if start != ".." and p["end"]:
            assert p["end"] >= start[:10]
    assert 0 < body["numberMatched"] <= 150


@pytest.mark.parametrize(
    "query",
    [
        "bbox=1,2,3",
        "datetime=2027-13-01",
        "datetime=2028-01-01/2027-01-01",
        "crs=EPSG:4326",
        "limit=1001",
        "sortby=title",
    ],
)
def test_malformed_parameters_are_400(demo: FlaskClient, query: str) -> None:
    response = demo.get(f"{ITEMS}?{query}")
    assert response.status_code == 400, query
    assert response.mimetype == "application/problem+json"


def test_epsg_4326_answers_latitude_first(demo: FlaskClient) -> None:
    crs84 = demo.get(f"{ITEMS}/1").get_json()["geometry"]["coordinates"][0]
    uri = "http://www.opengis.net/def/crs/EPSG/0/4326"
    response = demo.get(f"{ITEMS}/1?crs={uri}")
    assert response.headers["Content-Crs"] == f"<{uri}>"
    assert response.get_json()["geometry"]["coordinates"][0] == crs84[::-1]


def test_cases_and_layers_are_read_only(demo: FlaskClient) -> None:
    for collection in ("cases", "trees"):
        response = demo.post(f"/ogc/collections/{collection}/items", json=VALID_FEATURE)
        assert response.status_code == 405
        assert "POST" not in response.headers["Allow"]
    allowed = demo.open(ITEMS, method="OPTIONS").headers["Allow"]
    assert {"GET", "POST"} <= set(allowed.replace(" ", "").split(","))


def test_part4_keeps_the_api_rules(demo: FlaskClient) -> None:
    created = demo.post(ITEMS, json=VALID_FEATURE)
    assert created.status_code == 201
    location, etag = created.headers["Location"], created.headers["ETag"]
    bad = copy.deepcopy(VALID_FEATURE)
    bad["properties"]["title"] = ""
    refused = demo.put(location, json=bad)
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    patched = demo.patch(
        location, json={"properties": {"status": "approved"}}, headers={"If-Match": etag}
    )
    assert patched.status_code == 200
    stale = demo.delete(location, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert demo.delete(location, headers={"If-Match": patched.headers["ETag"]}).status_code == 204


def test_html_is_escaped_and_german_with_an_english_switch(demo: FlaskClient) -> None:
    evil = copy.deepcopy(VALID_FEATURE)
    evil["properties"]["title"] = "<script>alert(1)</script>"
    location = demo.post(ITEMS, json=evil).headers["Location"]
    page = demo.get(f"{location}?f=html").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page and 'lang="de"' in page and "English" in page
    assert 'lang="en"' in demo.get(f"{location}?f=html&lang=en").get_data(as_text=True)


def test_a_cql2_filter_is_answered_by_the_store_and_its_queryables_are_described(
    demo: FlaskClient, app: Flask
) -> None:
    """Part 3: the items of a filter are those the store's own query finds, in text and
    JSON; /queryables names what a filter may use; the conformance classes say so."""
    client = demo
    services = app.extensions["zugabe"]
    classes = client.get("/ogc/conformance").get_json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter" in classes
    schema = client.get("/ogc/collections/projects/queryables")
    assert schema.mimetype == "application/schema+json"
    properties = schema.get_json()["properties"]
    assert {"status", "organisation", "start", "geometry"} <= set(properties)

    expected = {
        p.id
        for p in services.store.list_projects(ProjectQuery())
        if p.attributes.organisation == "herne" and p.attributes.status.value == "planning"
    }
    assert expected
    text = "organisation = 'herne' AND status = 'planning'"
    page = client.get(
        "/ogc/collections/projects/items", query_string={"filter": text, "limit": 1000}
    )
    assert {f["id"] for f in page.get_json()["features"]} == expected
    assert page.get_json()["numberMatched"] == len(expected)
    as_json = json.dumps(
        {
            "op": "and",
            "args": [
                {"op": "=", "args": [{"property": "organisation"}, "herne"]},
                {"op": "=", "args": [{"property": "status"}, "planning"]},
            ],
        }
    )
    again = client.get(
        "/ogc/collections/projects/items",
        query_string={"filter": as_json, "filter-lang": "cql2-json", "limit": 1000},
    ).get_json()
    assert {f["id"] for f in again["features"]} == expected
    wrong = client.get("/ogc/collections/projects/items", query_string={"filter": "colour = 'red'"})
    assert wrong.status_code == 400 and "colour" in wrong.get_json()["detail"]
    trees = client.get(
        "/ogc/collections/trees/items",
        query_string={"filter": "S_INTERSECTS(geometry, POINT(0 0))"},
    ).get_json()
    assert trees["numberMatched"] == 0


def test_property_parameters_and_the_drafts_filter_lang_filter_too(
    demo: FlaskClient, app: Flask
) -> None:
    """Part 1's property filter (``status=planning``) and the drafts' ``cql-text`` (what
    GDAL sends) select what the CQL2 filter does; the description declares both under the
    collection's own path, in the OpenAPI 3.0 type GDAL accepts."""
    stored = app.extensions["zugabe"].store.list_projects(ProjectQuery())
    herne_planned = {
        p.id
        for p in stored
        if p.attributes.organisation == "herne" and p.attributes.status.value == "planning"
    }
    both = demo.get(
        "/ogc/collections/projects/items",
        query_string={"status": "planning", "organisation": "herne", "limit": 1000},
    ).get_json()
    assert {f["id"] for f in both["features"]} == herne_planned
    draft = demo.get(
        "/ogc/collections/projects/items",
        query_string={
            "filter": "organisation = 'herne'",
            "filter-lang": "cql-text",
            "status": "planning",
            "limit": 1000,
        },
    ).get_json()
    assert {f["id"] for f in draft["features"]} == herne_planned
    third = demo.get("/ogc/collections/trees/items?limit=3").get_json()["features"][2]["id"]
    tree = demo.get("/ogc/collections/trees/items", query_string={"id": third}).get_json()
    assert [f["id"] for f in tree["features"]] == [third]
    wrong = demo.get("/ogc/collections/projects/items", query_string={"cost_eur": "lots"})
    assert wrong.status_code == 400 and "cost_eur" in wrong.get_json()["detail"]
    for query, said in [  # found by the fuzzer: 500s before
        ({"id": "7" * 40}, "'id' must be between"),
        ({"filter": f"id = {'7' * 40}"}, "'id' holds whole numbers of 64 bits"),
    ]:
        huge = demo.get("/ogc/collections/trees/items", query_string=query)
        assert huge.status_code == 400 and said in huge.get_json()["detail"]
    grid = demo.get("/ogc/collections/synergy/items", query_string={"status": "planning"})
    assert grid.status_code == 400 and "status" in grid.get_json()["detail"]

    description = demo.get("/ogc/api")
    assert description.headers["Content-Type"] == "application/vnd.oai.openapi+json;version=3.0"
    own = description.get_json()["paths"]["/collections/projects/items"]["get"]
    names = {p["name"]: p["schema"] for p in own["parameters"]}
    assert names["status"]["enum"] == [s.value for s in Status]
    assert "cql-text" in names["filter-lang"]["enum"] and "geometry" not in names


def test_part4_takes_the_geometry_in_another_crs_of_the_collection(
    demo: FlaskClient, app: Flask
) -> None:
    """A client editing a layer in EPSG:25832 (QGIS with a projected project) sends its
    coordinates in that CRS and says so in Content-Crs: the project lands where it drew it."""
    reprojector = app.extensions["zugabe"].projects.reprojector
    lonlat = shapely.geometry.shape(VALID_FEATURE["geometry"])
    utm = reprojector.to_crs(reprojector.to_storage(lonlat), CRS("EPSG:25832"))
    doc = copy.deepcopy(VALID_FEATURE) | {"geometry": shapely.geometry.mapping(utm)}
    epsg_25832 = "http://www.opengis.net/def/crs/EPSG/0/25832"
    created = demo.post(ITEMS, json=doc, headers={"Content-Crs": f"<{epsg_25832}>"})
    assert created.status_code == 201, created.get_json()
    stored = shapely.geometry.shape(created.get_json()["geometry"])
    assert stored.equals_exact(lonlat, 1e-6)
    unknown = demo.post(ITEMS, json=doc, headers={"Content-Crs": "<EPSG:3857>"})
    assert unknown.status_code == 400 and "Content-Crs" in unknown.get_json()["detail"]


def test_items_in_two_crs_are_kept_apart_and_show_each_change(
    demo: FlaskClient, app: Flask
) -> None:
    """The projects' items are kept rendered per CRS (``RenderedFeatures``): asked in
    CRS84 and in EPSG:25832 one after the other, each answer keeps its own coordinates,
    and a change made through another process (a second ``Services``) shows in both."""
    epsg_25832 = "http://www.opengis.net/def/crs/EPSG/0/25832"

    def first_item(crs: str | None = None) -> dict[str, Any]:
        query = f"{ITEMS}?limit=1" + (f"&crs={epsg_25832}" if crs else "")
        answer = demo.get(query)
        assert answer.status_code == 200
        return answer.get_json()["features"][0]

    lonlat, utm = first_item(), first_item(epsg_25832)
    assert lonlat["id"] == utm["id"]
    assert first_item() == lonlat and first_item(epsg_25832) == utm  # kept: the same again
    x, y = shapely.geometry.shape(utm["geometry"]).representative_point().coords[0]
    assert 300_000 < x < 500_000 and 5_600_000 < y < 5_800_000  # metres, not degrees
    assert shapely.geometry.shape(lonlat["geometry"]).within(shapely.geometry.box(6, 51, 8, 52))
    other = Services.open(app.extensions["zugabe"].settings)
    try:
        editor = actor_for(other, "r.admin")
        version = lonlat["properties"]["version"]
        other.projects.patch(lonlat["id"], {"properties": {"title": "Neu"}}, editor, version)
    finally:
        other.close()
    for crs in (None, epsg_25832):
        now = first_item(crs)
        assert (now["properties"]["title"], now["properties"]["version"]) == ("Neu", version + 1)
