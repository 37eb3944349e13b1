"""Exports: the GeoPackage read back with pyogrio and GDAL's ogrinfo, styles, filters, API, CLI.

Real files and real GDAL throughout: the demo town is loaded once for the module, exported,
and every check reads the file the way an analyst's tools would. ``ogrinfo`` is Debian's
``gdal-bin`` (``make system-packages``); without it the tests fail, they do not skip.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import pyogrio
import pytest
import shapely
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import ADMIN, client_as, feature
from zugabe.cli import cli
from zugabe.domain.palette import DEPARTMENT_COLORS, RELATION_COLORS
from zugabe.domain.project import EDITABLE_FIELDS
from zugabe.io.geopackage import Column, GeoPackage, Layer, as_multi, geometry_families
from zugabe.services import Services
from zugabe.services.demo import load_demo_layers, load_demo_projects
from zugabe.services.exports import ExportFilter, ExportService, ExportSummary, _families
from zugabe.storage.contract import CaseQuery, ProjectColumns, ProjectQuery, ProjectStore
from zugabe.web import create_app

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = ROOT / "sample_data"
PROJECT_LAYERS = ("projects_points", "projects_lines", "projects_polygons")
CASE_LAYERS = ("cases_points", "cases_lines", "cases_polygons")
QGIS_STYLE_COLUMNS = [
    "id",
    "f_table_catalog",
    "f_table_schema",
    "f_table_name",
    "f_geometry_column",
    "styleName",
    "styleQML",
    "styleSLD",
    "useAsDefault",
    "description",
    "owner",
    "ui",
    "update_time",
]
DISTRICT = "05916000-02"  # Mühlenwinkel, in the middle of the demo town


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The demo town, loaded once: every test here only reads it."""
    app = create_app({"instance_path": tmp_path_factory.mktemp("exports") / "instance"})
    app.testing = True
    services: Services = app.extensions["zugabe"]
    load_demo_layers(services.layers, SAMPLE_DATA, ADMIN)
    load_demo_projects(services.projects, SAMPLE_DATA, ADMIN)
    yield app
    services.close()


@pytest.fixture(scope="module")
def services(demo_app: Flask) -> Services:
    return demo_app.extensions["zugabe"]


@pytest.fixture(scope="module")
def demo_client(demo_app: Flask) -> FlaskClient:
    """A viewer of Herne: every role may read and export everything."""
    return client_as(demo_app, "h.viewer")


@pytest.fixture(scope="module")
def exported(
    services: Services, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, ExportSummary]:
    """Everything, unfiltered, as one GeoPackage."""
    path = tmp_path_factory.mktemp("gpkg") / "zugabe.gpkg"
    return path, ExportService.of(services, ADMIN).write_geopackage(ExportFilter(), path)


@pytest.fixture(scope="module")
def gpkg(exported: tuple[Path, ExportSummary]) -> Path:
    return exported[0]


def ogrinfo(*args: str) -> subprocess.CompletedProcess[str]:
    program = shutil.which("ogrinfo")
    if program is None:
        pytest.fail("ogrinfo is missing: install Debian's gdal-bin (make system-packages)")
    return subprocess.run([program, *args], capture_output=True, text=True, check=True)


def read(path: Path, layer: str, **options: Any) -> Any:
    return pyogrio.read_dataframe(path, layer=layer, **options)


def features(path: Path, layers: tuple[str, ...], **options: Any) -> list[Any]:
    return [read(path, name, **options) for name in layers]


def live_cases(services: Services) -> int:
    return sum(c.status.value != "obsolete" for c in services.cases.list(ADMIN, CaseQuery())[0])


# --------------------------------------------------------------------------- the GeoPackage


def test_layers_and_counts_read_back_with_pyogrio(services: Services, gpkg: Path) -> None:
    names = [name for name, _geometry in pyogrio.list_layers(gpkg)]
    stored = {info.key: info.feature_count for info in services.store.list_layers()}
    assert names[:6] == [*PROJECT_LAYERS, *CASE_LAYERS]
    assert names[-2:] == ["synergy_grid", "layer_styles"]
    for key, count in stored.items():
        definition = services.layers.definitions[key]
        parts = [n for n in names if n == key or n.startswith(f"{key}_")]
        if definition.derived is not None:
            parts.remove(f"{key}_{definition.derived.output}")
            zone = pyogrio.read_info(gpkg, layer=f"{key}_{definition.derived.output}")
            assert zone["features"] == count
        assert sum(pyogrio.read_info(gpkg, layer=n)["features"] for n in parts) == count, key
    counts = {n: pyogrio.read_info(gpkg, layer=n)["features"] for n in names}
    assert sum(counts[n] for n in PROJECT_LAYERS) == 150
    assert sum(counts[n] for n in CASE_LAYERS) == live_cases(services) > 0
    assert counts["synergy_grid"] == len(services.synergy.compute(ADMIN).cells)
    for name in names[:-1]:
        assert pyogrio.read_info(gpkg, layer=name)["crs"] == "EPSG:25832", name


def test_field_types_read_back_with_pyogrio(gpkg: Path) -> None:
    projects = read(gpkg, "projects_lines", fid_as_index=True)
    assert list(projects.columns) == [
        "id",
        *("title", "description", "organisation", "department", "measure_type", "status"),
        *("start", "end", "contact", "cost_eur", "external_id", "version"),
        *("created_at", "created_by", "updated_at", "updated_by", "geometry"),
    ]
    dtypes = projects.dtypes
    assert dtypes["id"] == np.int64 and dtypes["version"] == np.int32
    assert dtypes["cost_eur"] == np.float64
    for name in ("start", "end", "created_at"):
        assert str(dtypes[name]).startswith("datetime64"), name
    assert (projects.index == projects["id"]).all()  # the GeoPackage fid is the project id
    info = pyogrio.read_info(gpkg, layer="projects_lines")
    assert info["geometry_type"] == "MultiLineString"
    cases = pyogrio.read_info(gpkg, layer="cases_lines")
    types = dict(zip(cases["fields"], cases["dtypes"], strict=True))
    assert types["overlap_length_m"] == "float64" and types["overlap_days"] == "int64"
    assert types["window_start"] == "datetime64[D]" or types["window_start"].startswith("datetime")
    sewers = pyogrio.read_info(gpkg, layer="sewer_sections")
    types = dict(zip(sewers["fields"], sewers["dtypes"], strict=True))
    assert types["condition_class"] == "int64" and types["length"] == "float64"
    assert types["inspection_date"].startswith("datetime64")
    roofs = pyogrio.read_info(gpkg, layer="green_roof_potential")
    assert dict(zip(roofs["fields"], roofs["dtypes"], strict=True))["green_roof_exists"] == "bool"


def test_ogrinfo_reads_layers_counts_srs_and_field_types(services: Services, gpkg: Path) -> None:
    result = ogrinfo("-ro", "-so", "-al", str(gpkg))
    assert "Warning" not in result.stderr and "ERROR" not in result.stderr, result.stderr
    blocks = {
        re.search(r"Layer name: (\S+)", block).group(1): block  # type: ignore[union-attr]
        for block in result.stdout.split("\nLayer name: ")[1:]
        for block in [f"Layer name: {block}"]
    }
    assert set(PROJECT_LAYERS) | set(CASE_LAYERS) | {"sewer_sections", "synergy_grid"} <= set(
        blocks
    )
    lines = blocks["projects_lines"]
    assert "Geometry: Multi Line String" in lines
    count = int(re.search(r"Feature Count: (\d+)", lines).group(1))  # type: ignore[union-attr]
    assert count == services.store.count_projects(ProjectQuery()) - sum(
        pyogrio.read_info(gpkg, layer=n)["features"]
        for n in PROJECT_LAYERS
        if n != "projects_lines"
    )
    assert 'ID["EPSG",25832]' in lines
    for field, kind in (
        ("id", "Integer64"),
        ("version", "Integer"),
        ("start", "Date"),
        ("end", "Date"),
        ("cost_eur", "Real"),
        ("created_at", "DateTime"),
        ("title", "String"),
    ):
        assert re.search(rf"^{field}: {kind} ", lines, re.MULTILINE), field
    assert re.search(r"^window_start: Date ", blocks["cases_lines"], re.MULTILINE)
    assert re.search(r"^overlap_area_m2: Real ", blocks["cases_polygons"], re.MULTILINE)
    assert re.search(r"^condition_class: Integer64 ", blocks["sewer_sections"], re.MULTILINE)
    assert re.search(r"^inspection_date: Date ", blocks["sewer_sections"], re.MULTILINE)
    grid = blocks["synergy_grid"]
    assert re.search(r"^rank: Integer ", grid, re.MULTILINE)
    assert re.search(r"^attention_area: Integer\(Boolean\) ", grid, re.MULTILINE)
    assert re.search(r"^score: Real ", grid, re.MULTILINE)


def test_projects_layers_hold_the_api_properties(demo_client: FlaskClient, gpkg: Path) -> None:
    """What the project import reads: the API's property names and values."""
    api = {f["id"]: f for f in demo_client.get("/api/projects?limit=1000").get_json()["features"]}
    seen = 0
    for frame in features(gpkg, PROJECT_LAYERS):
        assert set(EDITABLE_FIELDS) <= set(frame.columns)
        for row in frame.itertuples(index=False):
            expected = api[row.id]["properties"]
            assert row.title == expected["title"]
            assert row.department == expected["department"]
            assert row.status == expected["status"]
            start = None if row.start is None or str(row.start) == "NaT" else row.start.date()
            assert start == (date.fromisoformat(expected["start"]) if expected["start"] else None)
            cost = None if np.isnan(row.cost_eur) else row.cost_eur
            assert cost == expected["cost_eur"]
            assert row.version == expected["version"]
            seen += 1
    assert seen == len(api)


def test_geometries_are_the_stored_ones(services: Services, gpkg: Path) -> None:
    stored = {p.id: p.geometry for p in services.store.list_projects(ProjectQuery())}
    for frame in features(gpkg, PROJECT_LAYERS, fid_as_index=True):
        for project_id, geometry in zip(frame.index, frame.geometry, strict=True):
            assert geometry.geom_type.startswith("Multi")
            original = stored[project_id]
            assert geometry.equals(original)
            assert shapely.get_num_coordinates(geometry) == shapely.get_num_coordinates(original)


def test_layer_descriptions_and_identifiers(services: Services, gpkg: Path) -> None:
    with sqlite3.connect(gpkg) as db:
        contents = {
            name: (kind, identifier, description, srs)
            for name, kind, identifier, description, srs in db.execute(
                "SELECT table_name, data_type, identifier, description, srs_id FROM gpkg_contents"
            )
        }
        version = db.execute("PRAGMA user_version").fetchone()[0]
    assert version == 10200  # GeoPackage 1.2: readable by every GDAL since 2.2 without warnings
    sewers = services.layers.definitions["sewer_sections"]
    kind, identifier, description, srs = contents["sewer_sections"]
    assert (kind, identifier, srs) == ("features", sewers.title.de, 25832)
    assert sewers.description.de in description and sewers.description.en in description
    assert contents["projects_lines"][1] == "Maßnahmen (Linien)"
    assert "Planned projects" in contents["projects_lines"][2]
    assert contents["synergy_grid"][1] == "Flächenkulisse"
    assert contents["layer_styles"][0] == "attributes"
    assert all(srs == 25832 for kind, _i, _d, srs in contents.values() if kind == "features")


def _styles(gpkg: Path) -> dict[str, ET.Element]:
    with sqlite3.connect(gpkg) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(layer_styles)")]
        assert columns == QGIS_STYLE_COLUMNS
        rows = db.execute(
            "SELECT f_table_name, f_geometry_column, styleName, useAsDefault, styleQML "
            "FROM layer_styles"
        ).fetchall()
    styles = {}
    for table, geometry_column, name, default, qml in rows:
        assert (geometry_column, name, default) == ("geom", table, 1)
        styles[table] = ET.fromstring(qml)  # parses: it is XML
    return styles


def test_every_layer_has_a_default_qgis_style(services: Services, gpkg: Path) -> None:
    styles = _styles(gpkg)
    layers = [name for name, _g in pyogrio.list_layers(gpkg) if name != "layer_styles"]
    assert sorted(styles) == sorted(layers)
    symbol_types = {"points": "marker", "lines": "line", "polygons": "fill"}
    for name, root in styles.items():
        assert root.tag == "qgis"
        geometry = pyogrio.read_info(gpkg, layer=name)["geometry_type"]
        family = {"MultiPoint": "points", "MultiLineString": "lines"}.get(geometry, "polygons")
        kinds = {s.get("type") for s in root.iter("symbol")}
        assert kinds == {symbol_types[family]}, name


def _categories(root: ET.Element) -> dict[str, str]:
    """Category value → the colour of its symbol (``r,g,b`` of the main colour)."""
    renderer = root.find("renderer-v2")
    assert renderer is not None
    symbols = {}
    for symbol in renderer.iter("symbol"):
        options = {o.get("name"): o.get("value") for o in symbol.iter("Option") if o.get("name")}
        color = options.get("line_color") or options.get("color")
        assert color is not None
        symbols[symbol.get("name")] = ",".join(color.split(",")[:3])
    return {c.get("value"): symbols[c.get("symbol")] for c in renderer.iter("category")}


def _rgb(color: str) -> str:
    return ",".join(str(int(color[i : i + 2], 16)) for i in (1, 3, 5))


def test_styles_name_the_renderer_attribute_and_the_web_map_colours(
    services: Services, gpkg: Path
) -> None:
    styles = _styles(gpkg)
    for name in PROJECT_LAYERS:
        renderer = styles[name].find("renderer-v2")
        assert renderer is not None
        assert (renderer.get("type"), renderer.get("attr")) == ("categorizedSymbol", "department")
    departments = list(services.vocabulary.departments)
    categories = _categories(styles["projects_polygons"])
    for index, key in enumerate(departments):
        assert categories[key] == _rgb(DEPARTMENT_COLORS[index % len(DEPARTMENT_COLORS)])
    assert "" in categories  # QGIS's "all other values"
    aliases = {a.get("field"): a.get("name") for a in styles["projects_lines"].iter("alias")}
    assert aliases["title"] == "Titel" and aliases["department"] == "Fachbereich"

    cases = styles["cases_lines"].find("renderer-v2")
    assert cases is not None and cases.get("attr") == "relation"
    categories = _categories(styles["cases_lines"])
    for relation, color in RELATION_COLORS.items():
        assert categories[relation] == _rgb(color)
    note = next(s for s in styles["cases_lines"].iter("symbol") if s.get("name") == "2")
    assert any(o.get("value") == "dash" for o in note.iter("Option"))

    sewers = services.layers.definitions["sewer_sections"]
    assert sewers.classify is not None
    renderer = styles["sewer_sections"].find("renderer-v2")
    assert renderer is not None and renderer.get("attr") == sewers.classify.attribute
    categories = _categories(styles["sewer_sections"])
    for cls in sewers.classify.classes:
        assert categories[str(cls.value)] == _rgb(cls.color)


def test_range_classes_keep_their_boundaries(services: Services, gpkg: Path) -> None:
    """QGIS counts a boundary to the lower range; the layer definitions to the upper one."""
    definition = services.layers.definitions["cso_catchments"]
    assert definition.classify is not None
    renderer = _styles(gpkg)["cso_catchments"].find("renderer-v2")
    assert renderer is not None
    assert (renderer.get("type"), renderer.get("attr")) == ("graduatedSymbol", "overflow_frequency")
    ranges = list(renderer.iter("range"))
    assert len(ranges) == len(definition.classify.classes)
    for element, cls in zip(ranges, definition.classify.classes, strict=True):
        lower, upper = float(element.get("lower", "")), float(element.get("upper", ""))
        if cls.min is not None:
            assert lower == cls.min
        if cls.max is not None:
            assert upper < cls.max and np.nextafter(upper, np.inf) == cls.max
        assert element.get("label") == cls.label.de


def test_derived_zones_and_synergy_grid(services: Services, gpkg: Path) -> None:
    zones = read(gpkg, "trees_root_protection_zone")
    trees = read(gpkg, "trees")
    assert len(zones) == len(trees)
    assert (zones.geometry.area > 0).all()
    grid = read(gpkg, "synergy_grid")
    assert grid["rank"].tolist() == list(range(1, len(grid) + 1))
    assert grid["attention_area"].dtype == bool and grid["attention_area"].any()
    assert grid["score"].is_monotonic_decreasing
    criteria = [c.key for c in services.synergy.config.criteria]
    assert {f"{k}_utility" for k in criteria} <= set(grid.columns)


# --------------------------------------------------------------------------- filters


def test_filters_reduce_the_content(
    services: Services, demo_client: FlaskClient, tmp_path: Path
) -> None:
    path = tmp_path / "part.gpkg"
    params = {
        "district": DISTRICT,
        "department": "roads,drainage",
        "status": "planning,approved",
        "from": "2026-01-01",
        "to": "2029-12-31",
    }
    summary = ExportService.of(services, ADMIN).write_geopackage(
        ExportFilter.from_params(params), path
    )
    district = shapely.union_all(
        [
            f.geometry
            for f in services.store.layer_features("districts")
            if f.attributes["district_id"] == DISTRICT
        ]
    )
    projects = [frame for frame in features(path, PROJECT_LAYERS) if len(frame)]
    rows = [row for frame in projects for row in frame.itertuples()]
    assert 0 < len(rows) < 150
    for row in rows:
        assert row.department in ("roads", "drainage") and row.status in ("planning", "approved")
        assert row.start is None or str(row.start) == "NaT" or row.start.year <= 2029
        assert str(row.end) == "NaT" or row.end.year >= 2026
        assert district.intersects(row.geometry)
    everything = demo_client.get("/api/projects?limit=1000").get_json()["features"]
    expected = [
        f
        for f in everything
        if f["properties"]["department"] in ("roads", "drainage")
        and f["properties"]["status"] in ("planning", "approved")
        and (f["properties"]["start"] or "0000") <= "2029-12-31"
        and (f["properties"]["end"] or "9999") >= "2026-01-01"
        and district.intersects(
            services.projects.reprojector.to_storage(shapely.geometry.shape(f["geometry"]))
        )
    ]
    assert sorted(r.id for r in rows) == sorted(f["id"] for f in expected)

    ids = {r.id for r in rows}
    cases = [row for frame in features(path, CASE_LAYERS) for row in frame.itertuples()]
    assert cases
    for case in cases:
        assert case.project_a in ids or case.project_b in ids
        assert district.intersects(case.geometry)
        assert case.status != "obsolete"
    sewers = read(path, "sewer_sections")
    assert 0 < len(sewers) < services.store.count_layer_features("sewer_sections")
    assert district.intersects(sewers.geometry).all()
    assert summary.layers == {
        name: pyogrio.read_info(path, layer=name)["features"] for name in summary.layers
    }


def test_layers_and_synergy_can_be_left_out(services: Services, tmp_path: Path) -> None:
    path = tmp_path / "few.gpkg"
    export = ExportFilter.from_params(
        {"layers": "sewer_sections,trees", "synergy": "false", "cases": "none"}
    )
    summary = ExportService.of(services, ADMIN).write_geopackage(export, path)
    names = [name for name, _g in pyogrio.list_layers(path)]
    assert names == [
        *PROJECT_LAYERS,
        *CASE_LAYERS,
        "sewer_sections",
        "trees",
        "trees_root_protection_zone",
        "layer_styles",
    ]
    assert all(summary.layers[n] == 0 for n in CASE_LAYERS)
    nothing = ExportFilter.from_params({"layers": "none", "synergy": "no"})
    ExportService.of(services, ADMIN).write_geopackage(nothing, path)
    assert [n for n, _g in pyogrio.list_layers(path)] == [
        *PROJECT_LAYERS,
        *CASE_LAYERS,
        "layer_styles",
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"cases": "some"}, "'cases' must be one of live, all, none"),
        ({"synergy": "maybe"}, "'synergy' must be true or false"),
        ({"cell_size": "big"}, "'cell_size' must be a number"),
        ({"from": "2027-13-01"}, "'from' must be a date"),
        ({"bbox": "1,2"}, "'bbox' must be"),
    ],
)
def test_malformed_filters_are_refused(params: dict[str, str], message: str) -> None:
    from zugabe.errors import BadRequest

    with pytest.raises(BadRequest) as caught:
        ExportFilter.from_params(params)
    assert message in caught.value.detail


def test_unknown_district_or_layer_is_refused(services: Services, tmp_path: Path) -> None:
    from zugabe.errors import BadRequest, NotFound

    exports = ExportService.of(services, ADMIN)
    with pytest.raises(NotFound, match=r"no district 'Atlantis'.*Mühlenwinkel"):
        exports.write_geopackage(ExportFilter(district="Atlantis"), tmp_path / "x.gpkg")
    with pytest.raises(BadRequest, match="unknown layer 'sewers'"):
        exports.write_geopackage(ExportFilter(layers=("sewers",)), tmp_path / "x.gpkg")
    assert list(tmp_path.iterdir()) == []
    # A district by its name works as well as by its number.
    by_name = ExportFilter.from_params({"district": "mühlenwinkel", "layers": "none"})
    by_id = ExportFilter.from_params({"district": DISTRICT, "layers": "none"})
    assert exports.area(by_name).equals(exports.area(by_id))  # type: ignore[union-attr]


def test_obsolete_cases_only_on_request(client: FlaskClient, app: Flask, tmp_path: Path) -> None:
    """A road renewal and a sewer rehabilitation in the same street make cases; moving the
    sewer away makes them obsolete: out of the default export, in with ``cases=all``."""
    road = client.post("/api/projects", json=feature()).get_json()
    sewer = client.post(
        "/api/projects",
        json=feature(
            title="Kanalsanierung Bahnhofstraße",
            department="drainage",
            measure_type="sewer_rehabilitation",
            start="2027-05-01",
            end="2027-09-30",
        ),
    ).get_json()
    assert sewer["cases"], sewer
    exports = ExportService.of(app.extensions["zugabe"], ADMIN)
    path = tmp_path / "cases.gpkg"
    live = exports.write_geopackage(ExportFilter(synergy=False), path)
    assert sum(live.layers[n] for n in CASE_LAYERS) == len(sewer["cases"])
    moved = {"type": "LineString", "coordinates": [[7.30, 51.50], [7.31, 51.50]]}
    client.patch(f"/api/projects/{sewer['id']}", json={"geometry": moved})
    assert sum(exports.write_geopackage(ExportFilter(), path).layers[n] for n in CASE_LAYERS) == 0
    everything = exports.write_geopackage(ExportFilter(cases="all"), path)
    assert sum(everything.layers[n] for n in CASE_LAYERS) == len(sewer["cases"])
    statuses = {s for frame in features(path, CASE_LAYERS) for s in frame["status"]}
    assert statuses == {"obsolete"}
    assert road["id"] in {
        p for frame in features(path, CASE_LAYERS) for p in frame["project_a"].tolist()
    } | {p for frame in features(path, CASE_LAYERS) for p in frame["project_b"].tolist()}


# --------------------------------------------------------------------------- API


def test_api_downloads_the_geopackage(
    demo_app: Flask, demo_client: FlaskClient, tmp_path: Path
) -> None:
    response = demo_client.get("/api/export.gpkg?department=roads&layers=none&synergy=false")
    assert response.status_code == 200
    assert response.mimetype == "application/geopackage+sqlite3"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and ".gpkg" in disposition
    body = response.get_data()
    assert body.startswith(b"SQLite format 3\x00")
    path = tmp_path / "download.gpkg"
    path.write_bytes(body)
    names = [n for n, _g in pyogrio.list_layers(path)]
    assert names == [*PROJECT_LAYERS, *CASE_LAYERS, "layer_styles"]
    departments = {d for frame in features(path, PROJECT_LAYERS) for d in frame["department"]}
    assert departments == {"roads"}
    assert "projects_lines=" in response.headers["X-Zugabe-Layers"]
    # Nothing is left behind in the instance folder.
    assert not list(Path(demo_app.instance_path).glob("export-*"))


def test_api_projects_geojson_is_the_api_features(demo_client: FlaskClient) -> None:
    response = demo_client.get("/api/export/projects.geojson?department=drainage")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    assert "zugabe-projects-" in response.headers["Content-Disposition"]
    collection = json.loads(response.get_data(as_text=True))
    listed = demo_client.get("/api/projects?department=drainage&limit=1000").get_json()
    assert collection["type"] == "FeatureCollection"
    assert collection["features"] == listed["features"]


def test_api_projects_csv(demo_client: FlaskClient) -> None:
    response = demo_client.get(f"/api/export/projects.csv?district={DISTRICT}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows
    assert list(rows[0])[: len(EDITABLE_FIELDS) + 1] == ["id", *EDITABLE_FIELDS]
    assert list(rows[0])[-3:] == ["lon", "lat", "wkt"]
    for row in rows:
        api = demo_client.get(f"/api/projects/{row['id']}").get_json()
        assert row["title"] == api["properties"]["title"]
        geometry = shapely.from_wkt(row["wkt"])
        assert geometry.equals_exact(shapely.geometry.shape(api["geometry"]), 1e-6)
        point = shapely.Point(float(row["lon"]), float(row["lat"]))
        assert geometry.buffer(1e-6).contains(point)  # a point on the geometry


def test_api_cases_geojson_and_csv(services: Services, demo_client: FlaskClient) -> None:
    collection = json.loads(
        demo_client.get("/api/export/cases.geojson?department=drainage").get_data(as_text=True)
    )
    rows = list(
        csv.DictReader(
            io.StringIO(
                demo_client.get("/api/export/cases.csv?department=drainage").get_data(as_text=True)
            )
        )
    )
    assert collection["features"] and len(rows) == len(collection["features"])
    drainage = {p.id for p in services.store.list_projects(ProjectQuery(departments=("drainage",)))}
    for row in rows:
        assert int(row["project_a"] or 0) in drainage or int(row["project_b"] or 0) in drainage
        assert row["status"] != "obsolete"
        assert row["message_de"] and row["wkt"]
    assert [f["id"] for f in collection["features"]] == [int(r["id"]) for r in rows]


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/api/export.gpkg?district=Atlantis", 404),
        ("/api/export/projects.geojson?district=Atlantis", 404),
        ("/api/export/projects.csv?departement=roads", 400),
        ("/api/export/cases.csv?cases=some", 400),
    ],
)
def test_api_refuses_bad_filters_before_streaming(
    demo_client: FlaskClient, url: str, status: int
) -> None:
    response = demo_client.get(url)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"


# --------------------------------------------------------------------------- CLI


def test_cli_exports_every_format(demo_app: Flask, runner: CliRunner, tmp_path: Path) -> None:
    instance = ["--instance", demo_app.instance_path]
    gpkg = tmp_path / "herne.gpkg"
    result = runner.invoke(
        cli,
        [*instance, "export", "-o", str(gpkg), "--organisation", "herne", "--no-synergy"],
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"^projects_lines\s+\d+$", result.output, re.MULTILINE)
    organisations = {o for frame in features(gpkg, PROJECT_LAYERS) for o in frame["organisation"]}
    assert organisations == {"herne"}
    assert "synergy_grid" not in [n for n, _g in pyogrio.list_layers(gpkg)]

    cases = tmp_path / "cases.csv"
    result = runner.invoke(cli, [*instance, "export", "-o", str(cases), "--data", "cases"])
    assert result.exit_code == 0, result.output
    assert cases.read_text("utf-8").startswith("id,rule,rule_name,relation,")
    geojson = tmp_path / "projects.json"
    result = runner.invoke(cli, [*instance, "export", "-o", str(geojson), "--status", "done"])
    assert result.exit_code == 0, result.output
    statuses = {f["properties"]["status"] for f in json.loads(geojson.read_text())["features"]}
    assert statuses == {"done"}


def test_cli_failed_export_writes_nothing(
    demo_app: Flask, runner: CliRunner, tmp_path: Path
) -> None:
    instance = ["--instance", demo_app.instance_path]
    target = tmp_path / "x.gpkg"
    target.write_bytes(b"the previous export")
    result = runner.invoke(cli, [*instance, "export", "-o", str(target), "--layers", "sewers"])
    assert result.exit_code != 0
    assert target.read_bytes() == b"the previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["x.gpkg"]
    result = runner.invoke(cli, [*instance, "export", "-o", str(tmp_path / "x.txt")])
    assert result.exit_code == 2 and "give --format" in result.output


# --------------------------------------------------------------------------- building blocks


def test_an_interrupted_geopackage_leaves_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "out.gpkg"
    target.write_bytes(b"previous")
    layer = Layer(
        name="points",
        family="points",
        wkb=shapely.to_wkb(np.array([shapely.Point(370000, 5710000)], dtype=object)),
        columns=[Column("n", np.array([1], dtype=np.int64))],
        identifier="Punkte",
        description="test",
    )
    with pytest.raises(RuntimeError), GeoPackage(target, crs="EPSG:25832") as gpkg:
        gpkg.add(layer)
        raise RuntimeError("disk full, say")
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.gpkg"]
    with GeoPackage(target, crs="EPSG:25832") as gpkg:
        gpkg.add(layer)
    assert pyogrio.read_info(target, layer="points")["features"] == 1


def test_nulls_and_types_of_columns(tmp_path: Path) -> None:
    target = tmp_path / "types.gpkg"
    points = shapely.points([[370000, 5710000], [370010, 5710010]])
    columns = [
        Column("whole", np.array([7, 0], dtype=np.int64), np.array([False, True])),
        Column("real", np.array([1.5, np.nan])),
        Column("day", np.array(["2027-01-31", "NaT"], dtype="datetime64[D]")),
        Column("moment", np.array(["2026-05-01T12:30:00.250", "NaT"], dtype="datetime64[ms]")),
        Column("flag", np.array([True, False]), np.array([False, True])),
        Column("text", np.array(["Straße", None], dtype=object)),
    ]
    layer = Layer("t", "points", shapely.to_wkb(points), columns, "T", "types")
    with GeoPackage(target, crs="EPSG:25832") as gpkg:
        gpkg.add(layer)
    with sqlite3.connect(target) as db:
        rows = db.execute('SELECT whole, real, day, moment, flag, text FROM "t"').fetchall()
    assert rows[0] == (7, 1.5, "2027-01-31", "2026-05-01T12:30:00.250Z", 1, "Straße")
    assert rows[1] == (None, None, None, None, None, None)


def test_single_geometries_become_one_part_multis() -> None:
    shapes = [
        shapely.Point(1, 2),
        shapely.LineString([(0, 0), (1, 1)]),
        shapely.box(0, 0, 1, 1),
        shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)]),
    ]
    for byte_order in (0, 1):  # big- and little-endian WKB
        wkb = np.array([shapely.to_wkb(s, byte_order=byte_order) for s in shapes], dtype=object)
        assert geometry_families(wkb).tolist() == ["points", "lines", "polygons", "polygons"]
        multis = shapely.from_wkb(as_multi(wkb))
        assert [g.geom_type for g in multis] == [
            "MultiPoint",
            "MultiLineString",
            "MultiPolygon",
            "MultiPolygon",
        ]
        for multi, shape in zip(multis, shapes, strict=True):
            assert multi.equals(shape)


def test_overlap_collections_keep_their_largest_parts() -> None:
    touching = shapely.GeometryCollection(
        [shapely.box(0, 0, 10, 10), shapely.LineString([(10, 0), (20, 0)])]
    )
    lines = shapely.GeometryCollection(
        [shapely.MultiLineString([[(0, 0), (1, 0)]]), shapely.Point(5, 5)]
    )
    families, geometries = _families(
        np.array([touching, lines, None, shapely.Point()], dtype=object)
    )
    assert families.tolist() == ["polygons", "lines", "", ""]
    assert geometries[0].equals(shapely.box(0, 0, 10, 10))
    assert geometries[1].geom_type in ("LineString", "MultiLineString")


def test_default_project_columns_match_the_sqlite_fast_path(services: Services) -> None:
    """Another backend gets ``ProjectColumns.of`` for free; it must agree with SQLite's."""
    for query in (ProjectQuery(), ProjectQuery(departments=("green",), limit=5)):
        fast = services.store.project_columns(query)
        default = ProjectStore.project_columns(services.store, query)
        assert isinstance(default, ProjectColumns)
        for name in ("id", "wkb", "version", "created_at", "updated_at"):
            assert np.array_equal(getattr(fast, name), getattr(default, name)), name
        for name in ("start", "end", "cost_eur"):
            assert np.array_equal(getattr(fast, name), getattr(default, name), equal_nan=True)
        for name, values in fast.text.items():
            assert values.tolist() == default.text[name].tolist(), name


def test_csv_exports_neutralise_formulas(app: Flask, client: FlaskClient) -> None:
    """Issue 11, item 9: a title a spreadsheet would run as a formula is written as text."""
    for title in ('=HYPERLINK("http://evil.example","Klick")', "+1+1", "-2+3", "@SUMME(A1)"):
        assert client.post("/api/projects", json=feature(title=title)).status_code == 201
    text = client.get("/api/export/projects.csv").get_data(as_text=True)
    titles = [row["title"] for row in csv.DictReader(io.StringIO(text))]
    assert titles == [
        '\'=HYPERLINK("http://evil.example","Klick")',
        "'+1+1",
        "'-2+3",
        "'@SUMME(A1)",
    ]
    cases = client.get("/api/export/cases.csv").get_data(as_text=True)
    assert "\n=" not in cases and ",=" not in cases
