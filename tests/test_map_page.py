"""The map page as the server sends it: local assets only, languages, settings.

What happens in the browser is tested in ``tests/browser``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import client_as, feature
from zugabe.errors import ConfigError
from zugabe.web import create_app

# Any script, stylesheet, image or frame not served by the app itself.
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
# The page's own scripts (folium's, moved out of the page: the CSP forbids inline script).
PAGE_SCRIPT = re.compile(r'<script src="(/static/page/[0-9a-f]+\.js)"></script>')


def page_with_scripts(client: FlaskClient, path: str = "/") -> str:
    """The map page followed by the text of its own scripts, as the browser runs them."""
    response = client.get(path)
    assert response.status_code == 200, response.status
    page = response.get_data(as_text=True)
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) is None  # no inline script
    scripts = PAGE_SCRIPT.findall(page)
    assert scripts
    texts = []
    for url in scripts:
        script = client.get(url)
        assert script.status_code == 200, url
        assert script.mimetype == "text/javascript"
        texts.append(script.get_data(as_text=True))
    return "\n".join([page, *texts])


def signed_in_page(settings: dict[str, Any]) -> str:
    """The map page with its scripts of an app with these settings, for a viewer."""
    app = create_app(settings)
    try:
        return page_with_scripts(client_as(app, "h.viewer"))
    finally:
        app.extensions["zugabe"].close()


def test_the_map_page_loads_nothing_from_elsewhere(client: FlaskClient) -> None:
    page = page_with_scripts(client)
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


def test_the_map_page_needs_a_signed_in_account(anonymous: FlaskClient) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    response = anonymous.get("/?lang=en", headers=browser)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert anonymous.get("/").status_code == 401  # not a browser: a problem, no redirect


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
    plain = signed_in_page({"instance_path": instance_path})
    assert "L.map(" in plain and "L.tileLayer" not in plain
    xyz = signed_in_page(
        {
            "instance_path": instance_path,
            "basemap_url": "https://sgx.geodatenzentrum.de/wmts_basemapde/tile/1.0.0/"
            "de_basemapde_web_raster_farbe/default/GLOBAL_WEBMERCATOR/{z}/{y}/{x}.png",
            "basemap_attribution": "© basemap.de / BKG",
        }
    )
    assert "L.tileLayer" in xyz and "basemap.de / BKG" in xyz
    wms = signed_in_page(
        {
            "instance_path": instance_path,
            "basemap_url": "https://sgx.geodatenzentrum.de/wms_basemapde",
            "basemap_wms_layers": "de_basemapde_web_raster_grau",
        }
    )
    assert "L.tileLayer.wms" in wms


def test_the_map_opens_on_the_region(instance_path: Path) -> None:
    """Centred on ``region_bbox`` (here Karlsruhe's), which the app script fits the view to
    unless the address has one (tested in the browser)."""
    page = signed_in_page({"instance_path": instance_path, "region_bbox": "8.27,48.94,8.55,49.09"})
    assert 'data-region="8.27,48.94,8.55,49.09"' in page
    assert re.search(r"center: \[49\.015, 8\.41\]", page)


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


def test_the_language_choice_is_remembered(app: Flask) -> None:
    """Issue 12, item 6: after ?lang=en the map, the login page and reports stay English."""
    client = client_as(app, "h.viewer")
    assert 'data-lang="de"' in client.get("/").get_data(as_text=True)  # German by default
    switched = client.get("/?lang=en")
    assert 'data-lang="en"' in switched.get_data(as_text=True)
    cookie = switched.headers["Set-Cookie"]
    assert (
        cookie.startswith("zugabe_lang=en;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    )
    assert 'data-lang="en"' in client.get("/").get_data(as_text=True)
    assert 'lang="en"' in client.get("/login").get_data(as_text=True)
    assert 'data-lang="de"' in client.get("/?lang=de").get_data(as_text=True)
    assert 'data-lang="de"' in client.get("/").get_data(as_text=True)
    assert client.get("/?lang=fr").status_code == 400
