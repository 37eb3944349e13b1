"""The map page as the server sends it: local assets only, languages, settings.

What happens in the browser is tested in ``tests/browser``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.conftest import feature
from zugabe.errors import ConfigError
from zugabe.web import create_app

# Any script, stylesheet, image or frame not served by the app itself.
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def test_the_map_page_loads_nothing_from_elsewhere(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "L.map(" in page and "ZugabeMap.start(" in page
    assert EXTERNAL.findall(page) == []
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert any(a.endswith("leaflet.js") for a in assets)
    assert any(a.endswith("leaflet.draw.js") for a in assets)
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert response.data, asset
    # Nothing of folium's CDN defaults the page does not need.
    for dropped in ("jquery", "bootstrap", "awesome-markers", "fontawesome"):
        assert dropped not in page.lower()


def test_vendored_css_finds_its_images(client: FlaskClient) -> None:
    css = client.get("/static/vendor/leaflet-draw-1.0.4/leaflet.draw.css").get_data(as_text=True)
    images = set(re.findall(r"url\(['\"]?(images/[^'\")]+)", css))
    assert images
    for image in images:
        assert client.get(f"/static/vendor/leaflet-draw-1.0.4/{image}").status_code == 200


def test_german_by_default_with_a_switch_to_english(client: FlaskClient) -> None:
    german = client.get("/").get_data(as_text=True)
    english = client.get("/?lang=en").get_data(as_text=True)
    assert '<html lang="de">' in german and 'data-lang="de"' in german
    assert '<html lang="en">' in english and 'href="?lang=de"' in english


def test_no_base_map_by_default_and_a_configured_one(instance_path: Path) -> None:
    plain = create_app({"instance_path": instance_path}).test_client().get("/")
    assert "L.tileLayer" not in plain.get_data(as_text=True)
    xyz = create_app(
        {
            "instance_path": instance_path,
            "basemap_url": "https://sgx.geodatenzentrum.de/wmts_basemapde/tile/1.0.0/"
            "de_basemapde_web_raster_farbe/default/GLOBAL_WEBMERCATOR/{z}/{y}/{x}.png",
            "basemap_attribution": "© basemap.de / BKG",
        }
    )
    page = xyz.test_client().get("/").get_data(as_text=True)
    assert "L.tileLayer" in page and "basemap.de / BKG" in page
    wms = create_app(
        {
            "instance_path": instance_path,
            "basemap_url": "https://sgx.geodatenzentrum.de/wms_basemapde",
            "basemap_wms_layers": "de_basemapde_web_raster_grau",
        }
    )
    assert "L.tileLayer.wms" in wms.test_client().get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("settings", "wanted"),
    [
        ({"basemap_url": "ftp://example.org/{z}/{x}/{y}.png"}, "http(s) URL"),
        ({"basemap_url": "https://example.org/tiles.png"}, "{z}"),
    ],
)
def test_a_bad_base_map_stops_the_start(
    instance_path: Path, settings: dict[str, str], wanted: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(wanted)):
        create_app({"instance_path": instance_path, **settings})


def test_project_points_for_clustering(client: FlaskClient) -> None:
    line = {"type": "LineString", "coordinates": [[7.2101, 51.5402], [7.2135, 51.5411]]}
    road = client.post("/api/projects", json=feature(line)).get_json()
    sewer = client.post(
        "/api/projects",
        json=feature(
            line, department="drainage", measure_type="sewer_rehabilitation", organisation="herne"
        ),
    ).get_json()
    body = client.get("/api/projects/points?bbox=7.2,51.5,7.3,51.6").get_json()
    assert body["columns"] == ["id", "lon", "lat", "organisation", "department", "status"]
    rows = {row[0]: row for row in body["points"]}
    assert set(rows) == {road["id"], sewer["id"]}
    _id, lon, lat, organisation, department, status = rows[sewer["id"]]
    assert 7.2101 <= lon <= 7.2135 and 51.5402 <= lat <= 51.5411  # a point on the line
    assert (organisation, department, status) == ("herne", "drainage", "planning")
    only_roads = client.get("/api/projects/points?bbox=7.2,51.5,7.3,51.6&department=roads")
    assert [row[0] for row in only_roads.get_json()["points"]] == [road["id"]]
    elsewhere = client.get("/api/projects/points?bbox=8.0,52.0,8.1,52.1").get_json()
    assert elsewhere["points"] == []
