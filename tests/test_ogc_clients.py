"""OGC API – Features read and written by real clients against a live server: GDAL's OAPIF
driver (Debian's ``ogrinfo``/``ogr2ogr``, as a subprocess) and OWSLib (Part 4).

The server is the app under waitress on a copy of the demo town; clients send a real
bearer token. GDAL 3.6 (Debian 12) has no open option for Part 2's ``crs`` (3.7 added
``CRS``), so the EPSG:25832 answer is read over plain HTTP and compared with the store.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import shapely
from owslib.ogcapi.features import Features

from tests.conftest import ensure_account, token_for
from zugabe.services import Services
from zugabe.storage.contract import ProjectQuery
from zugabe.web import create_app
from zugabe.web.background import BackgroundServer

EPSG_25832 = "http://www.opengis.net/def/crs/EPSG/0/25832"


@dataclass
class Live:
    url: str
    services: Services
    token: str  # r.admin, write scope
    planner: str  # h.planner (Herne roads and drainage), write scope

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}


@pytest.fixture(scope="module")
def live(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    if shutil.which("ogr2ogr") is None:
        pytest.fail("GDAL's ogr2ogr is missing: run `make gdal` (Debian gdal-bin)")
    instance = tmp_path_factory.mktemp("ogc") / "instance"
    shutil.copytree(demo_template, instance)
    app = create_app({"instance_path": instance})
    services: Services = app.extensions["zugabe"]
    for name in ("r.admin", "h.planner"):
        ensure_account(services, name)
    server = BackgroundServer.start(app)
    yield Live(server.url, services, token_for(app, "r.admin"), token_for(app, "h.planner"))
    server.stop()
    services.close()


def _gdal(live: Live, *args: str) -> str:
    """A GDAL command with the token in its HTTP headers; its output (fails loudly)."""
    command = [*args, "--config", "GDAL_HTTP_HEADERS", f"Authorization: Bearer {live.token}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _read_all(live: Live, collection: str, tmp_path: Path) -> dict[str, object]:
    """Every feature of a collection through ogr2ogr, as GeoJSON read back."""
    out = tmp_path / f"{collection}.geojson"
    _gdal(
        live,
        "ogr2ogr",
        "-preserve_fid",
        "-f",
        "GeoJSON",
        str(out),
        f"OAPIF:{live.url}/ogc",
        collection,
    )
    return json.loads(out.read_text())


def _api_ids(live: Live, path: str, **params: str) -> list[int]:
    """The ids the JSON API lists, page by page."""
    ids, url = [], f"{live.url}{path}?limit=1000"
    for name, value in params.items():
        url += f"&{name}={value}"
    while url:
        body = requests.get(url, headers=live.headers(), timeout=30).json()
        ids += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    return ids


def test_ogrinfo_lists_the_collections(live: Live) -> None:
    out = _gdal(live, "ogrinfo", "-ro", "-q", f"OAPIF:{live.url}/ogc")
    for name in ("projects", "cases", "trees", "districts", "synergy"):
        assert f": {name} (" in out or f": {name}\n" in out, out


def test_ogr2ogr_reads_every_page_of_projects_and_trees(live: Live, tmp_path: Path) -> None:
    trees = _read_all(live, "trees", tmp_path)
    stored = live.services.store.count_layer_features("trees")
    assert stored == 1453  # the demo town's trees: more than a page of the JSON API
    assert sorted(f["id"] for f in trees["features"]) == _api_ids(
        live, "/api/layers/trees/features"
    )
    projects = _read_all(live, "projects", tmp_path)
    by_id = {f["id"]: f for f in projects["features"]}
    assert sorted(by_id) == _api_ids(live, "/api/projects")
    first = live.services.projects.to_feature(live.services.store.get_project(1))
    assert by_id[1]["properties"]["title"] == first["properties"]["title"]
    assert by_id[1]["geometry"]["coordinates"][0] == pytest.approx(
        first["geometry"]["coordinates"][0], abs=1e-7
    )


def test_items_in_epsg_25832_are_the_stored_coordinates(live: Live) -> None:
    response = requests.get(
        f"{live.url}/ogc/collections/projects/items",
        params={"crs": EPSG_25832, "limit": 1000},
        headers=live.headers(),
        timeout=30,
    )
    assert response.headers["Content-Crs"] == f"<{EPSG_25832}>"
    stored = {p.id: p.geometry for p in live.services.store.list_projects(ProjectQuery())}
    for feature in response.json()["features"]:
        served = shapely.geometry.shape(feature["geometry"])
        assert shapely.equals_exact(served, stored[feature["id"]], tolerance=1e-3)


def _fetched(stderr: str) -> list[str]:
    """The URLs a GDAL run with ``--debug on`` (``CPL_DEBUG``) says it fetched."""
    start = "HTTP: Fetch("
    return [line[len(start) : -1] for line in stderr.splitlines() if line.startswith(start)]


def test_ogr2ogr_sends_its_where_clause_to_the_server_as_a_filter(
    live: Live, tmp_path: Path
) -> None:
    """Debian's GDAL reads from the API description that the server filters the projects'
    properties (``filter-lang`` and a parameter per queryable) and sends the where clause
    as CQL text: only the matching projects come over the wire."""
    out = tmp_path / "planning.geojson"
    done = subprocess.run(
        [
            *("ogr2ogr", "--debug", "on", "-preserve_fid", "-f", "GeoJSON", str(out)),
            *(f"OAPIF:{live.url}/ogc", "projects"),
            *("-where", "status = 'planning' AND organisation = 'herne'"),
            *("--config", "GDAL_HTTP_HEADERS", f"Authorization: Bearer {live.token}"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    pages = [url for url in _fetched(done.stderr) if "/collections/projects/items?" in url]
    filtered = [url for url in pages if "filter=" in url]
    assert filtered and all("filter-lang=cql-text" in url for url in filtered), pages
    assert pages[-len(filtered) :] == filtered, "after the schema's sample, only filtered pages"
    served = sorted(f["id"] for f in json.loads(out.read_text())["features"])
    wanted = _api_ids(live, "/api/projects", status="planning", organisation="herne")
    assert served == wanted and 0 < len(wanted) < len(_api_ids(live, "/api/projects"))


def test_gdal_312_filters_numbers_and_text_on_the_server(live: Live) -> None:
    """GDAL's newest OAPIF driver (3.12, bundled with pyogrio; in its own process, as a
    client is) pushes a comparison of numbers and a LIKE down as well."""
    where = "cost_eur >= 500000 AND title LIKE '%straße%'"
    script = (
        "import json, sys, pyogrio\n"
        "frame = pyogrio.read_dataframe(sys.argv[1], layer='projects', where=sys.argv[2], "
        "fid_as_index=True)\n"
        "print(json.dumps(sorted(int(i) for i in frame.index)))\n"
    )
    environment = {
        "PATH": os.environ["PATH"],
        "GDAL_HTTP_AUTH": "BEARER",
        "GDAL_HTTP_BEARER": live.token,
        "CPL_DEBUG": "ON",
    }
    done = subprocess.run(
        [sys.executable, "-c", script, f"OAPIF:{live.url}/ogc", where],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    pages = [url for url in _fetched(done.stderr) if "/collections/projects/items?" in url]
    assert any("cost_eur%20%3E%3D%20500000" in url and "LIKE" in url for url in pages), pages
    stored = live.services.store.list_projects(ProjectQuery())
    wanted = sorted(
        p.id
        for p in stored
        if (p.attributes.cost_eur or 0) >= 500_000 and "straße" in p.attributes.title
    )
    assert wanted and json.loads(done.stdout) == wanted


def test_owslib_reads_and_writes_a_project_and_the_cases_follow(live: Live) -> None:
    api = Features(f"{live.url}/ogc", headers=live.headers(live.planner))
    assert {"projects", "cases", "trees"} <= {c["id"] for c in api.collections()["collections"]}
    page = api.collection_items("trees", limit=5)
    assert page["numberReturned"] == 5 and page["numberMatched"] == 1453

    # A Herne road renewal along the street of project 1, which detection pairs with it.
    first = live.services.projects.to_feature(live.services.store.get_project(1))
    new = {
        "type": "Feature",
        "geometry": first["geometry"],
        "properties": {
            "title": "Straße über OWSLib",
            "organisation": "herne",
            "department": "roads",
            "measure_type": "road_renewal",
            "status": "planning",
            "start": "2028-04-01",
            "end": "2028-10-31",
        },
    }
    assert api.collection_item_create("projects", new)
    location = api.response_headers["Location"]
    project_id = int(location.rsplit("/", 1)[1])
    cases = _cases_of(live, project_id)
    assert cases, "saving through Part 4 runs detection"
    item = api.collection_item("projects", str(project_id))
    related = {link["href"].rsplit("/", 1)[1] for link in item["links"] if link["rel"] == "related"}
    assert related == {str(c) for c in cases}

    moved = shapely.affinity.translate(shapely.geometry.shape(first["geometry"]), 0.05)
    changed = new | {"geometry": shapely.geometry.mapping(moved)}
    api.headers["Content-Type"] = "application/geo+json"
    assert api.collection_item_update("projects", str(project_id), json.dumps(changed))
    assert live.services.store.get_project(project_id).version == 2
    assert _cases_of(live, project_id) != cases, "moved away, its cases changed"

    assert api.collection_item_delete("projects", str(project_id))
    assert live.services.store.get_project(project_id) is None
    assert _cases_of(live, project_id) == []


def _cases_of(live: Live, project_id: int) -> list[int]:
    """The live cases of a project, as /api/cases lists them."""
    body = requests.get(
        f"{live.url}/api/cases",
        params={"subject": f"project:{project_id}", "status": "open,in_coordination"},
        headers=live.headers(),
        timeout=30,
    ).json()
    return sorted(f["id"] for f in body["features"])


def test_the_geopackage_carries_the_items_ids(live: Live, tmp_path: Path) -> None:
    """Stable identity: an analyst joins the export and the OGC items on the id."""
    import pyogrio

    export = tmp_path / "export.gpkg"
    response = requests.get(f"{live.url}/api/export.gpkg", headers=live.headers(), timeout=120)
    export.write_bytes(response.content)
    pairs = {"projects": "projects_lines", "cases": "cases_lines", "trees": "trees"}
    for collection, layer in pairs.items():
        table = pyogrio.read_dataframe(export, layer=layer, fid_as_index=True)
        for fid in table.index[:5]:
            item = requests.get(
                f"{live.url}/ogc/collections/{collection}/items/{fid}",
                headers=live.headers(),
                timeout=30,
            )
            assert item.status_code == 200, (collection, fid)
            assert item.json()["id"] == fid
