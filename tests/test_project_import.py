"""Bulk import of projects: real files written with GDAL, checked row by row, all or nothing."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator, Sequence
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pytest
import shapely
from click.testing import CliRunner
from flask.testing import FlaskClient
from pyproj import Transformer
from pyproj.transformer import TransformerGroup
from shapely.geometry import LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon

from tests.conftest import ADMIN, VALID_FEATURE, actor_for, client_as, feature
from zugabe.cli import cli
from zugabe.config import load_settings
from zugabe.domain.project import attributes_to_json
from zugabe.errors import InvalidInput, ZugabeError
from zugabe.io.layer_files import CsvOptions
from zugabe.services import Services
from zugabe.services.project_import import ProjectImporter, ProjectImportRefused
from zugabe.services.projects import ProjectFilter
from zugabe.storage.contract import CaseQuery, ProjectQuery
from zugabe.web import create_app

TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True)


def utm_line(*lonlat: tuple[float, float]) -> LineString:
    return LineString([TO_UTM.transform(lon, lat) for lon, lat in lonlat])


# A street in Herne (EPSG:25832) and a sewer 3 m beside it: the engine pairs them.
ROAD = utm_line((7.2101, 51.5402), (7.2135, 51.5411), (7.2170, 51.5415))
SEWER = shapely.affinity.translate(ROAD, 0, 3)
BERLIN = Point(TO_UTM.transform(13.40, 52.52))
# A park with a pond (a polygon with a hole).
PARK = Polygon(
    [(375000, 5711000), (375200, 5711000), (375200, 5711150), (375000, 5711150)],
    [[(375050, 5711050), (375100, 5711050), (375100, 5711100), (375050, 5711100)]],
)


def project_row(**values: Any) -> dict[str, Any]:
    """Properties of the valid road renewal in Herne, with some changed."""
    return dict(VALID_FEATURE["properties"]) | values


def write_file(
    path: Path,
    rows: Sequence[dict[str, Any]],
    geometries: Sequence[shapely.Geometry],
    crs: str = "EPSG:25832",
    layer: str | None = None,
) -> Path:
    """Rows as a GIS file through GDAL (driver by the file name); columns typed by values."""
    names = list(rows[0])
    columns = []
    for name in names:
        values = [row[name] for row in rows]
        if all(isinstance(v, int | float) or v is None for v in values):
            columns.append(np.array([np.nan if v is None else v for v in values]))
        elif all(isinstance(v, date) or v is None for v in values):
            columns.append(np.array(values, dtype="datetime64[D]"))
        else:
            columns.append(np.array(values, dtype=object))
    types = {g.geom_type for g in geometries}
    geometry_type = types.pop() if len(types) == 1 else "Unknown"
    if any(g.has_z for g in geometries):
        geometry_type += " Z"
    path.parent.mkdir(parents=True, exist_ok=True)
    pyogrio.raw.write(
        path,
        shapely.to_wkb(np.array(geometries, dtype=object)),
        columns,
        names,
        layer=layer,
        geometry_type=geometry_type,
        crs=crs,
        append=path.exists() and path.suffix == ".gpkg",
    )
    return path


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = Services.open(load_settings({"instance_path": tmp_path / "instance"}, {}))
    yield services
    services.close()


@pytest.fixture
def importer(services: Services) -> ProjectImporter:
    return ProjectImporter(services.projects)


def stored(services: Services) -> list[Any]:
    return services.store.list_projects(ProjectQuery())


def close(a: shapely.Geometry, b: shapely.Geometry, tolerance: float = 0.01) -> bool:
    """Same type, and no point of either farther than ``tolerance`` metres from the other."""
    return a.geom_type == b.geom_type and shapely.hausdorff_distance(a, b) < tolerance


def test_dry_run_reports_every_problem_by_row_and_field_and_stores_nothing(
    importer: ProjectImporter, services: Services, tmp_path: Path
) -> None:
    rows = [
        project_row(),
        project_row(department="Kanalamt"),
        project_row(start="2028-05-01", end="2027-05-01"),
        project_row(title=""),
        project_row(title="Berlin"),
        project_row(start="31.02.2027", end="im Herbst"),
    ]
    geometries = [ROAD, ROAD, ROAD, ROAD, BERLIN, ROAD]
    path = write_file(tmp_path / "massnahmen.gpkg", rows, geometries)
    report = importer.import_file(path, ADMIN, dry_run=True)
    found = [(p.row, p.field, p.source_field) for p in report.problems]
    assert found == [
        (2, "department", "department"),
        (3, "end", "end"),
        (4, "title", "title"),
        (5, "geometry", None),
        (6, "start", "start"),
        (6, "end", "end"),
    ]
    details = [p.detail for p in report.problems]
    assert details[0].startswith("unknown department 'Kanalamt' for organisation 'herne'")
    assert details[1] == "end 2027-05-01 is before start 2028-05-01"
    assert details[2] == "'title' is required"
    assert "outside the region served" in details[3]
    assert details[4] == "'31.02.2027' is not a valid date"
    assert "is not a date" in details[5]
    assert (report.rows_read, report.valid_rows, report.invalid_rows) == (6, 1, 5)
    assert report.dry_run and not report.stored and report.source_crs == "EPSG:25832"
    assert stored(services) == []
    text = report.as_text()
    assert "row 2, department (department): unknown department 'Kanalamt'" in text
    assert "dry run, nothing stored" in text


def test_apply_with_one_bad_row_stores_nothing_and_names_the_row(
    importer: ProjectImporter, services: Services, tmp_path: Path
) -> None:
    rows = [project_row(), project_row(end="2026-01-31"), project_row(title="Dritte")]
    path = write_file(tmp_path / "massnahmen.gpkg", rows, [ROAD, SEWER, ROAD])
    with pytest.raises(ProjectImportRefused, match=r"1 of 3 rows .*row 2, end") as refused:
        importer.import_file(path, ADMIN)
    assert [e.pointer for e in refused.value.field_errors] == ["/rows/2/end"]
    assert refused.value.report.valid_rows == 2 and not refused.value.report.stored
    assert stored(services) == []
    assert services.cases.list(ADMIN, CaseQuery())[1] == 0


def test_apply_stores_every_row_and_runs_the_engine(
    importer: ProjectImporter, services: Services, tmp_path: Path
) -> None:
    rows = [
        project_row(),
        project_row(
            title="Kanalsanierung Bahnhofstraße",
            department="Stadtentwässerung",
            measure_type="Kanalsanierung",
            status="Beschlossen",
            start="2027-06-01",
            end="2028-03-31",
            cost_eur=None,
        ),
    ]
    path = write_file(tmp_path / "massnahmen.geojson", rows, [ROAD, SEWER])
    report = importer.import_file(path, actor_for(services, "h.planner"))
    assert report.stored and report.imported == 2 and report.invalid_rows == 0
    projects = stored(services)
    assert [p.id for p in projects] == report.project_ids
    sewer = projects[1].attributes
    assert (sewer.department, sewer.measure_type, sewer.status.value, sewer.cost_eur) == (
        "drainage",
        "sewer_rehabilitation",
        "approved",
        None,
    )
    assert all(p.created_by == "h.planner" for p in projects)
    cases, total = services.cases.list(ADMIN, CaseQuery())
    assert report.cases_created == total >= 1
    assert "road_works_sewer_bundle" in {c.finding.rule_id for c in cases}
    assert f"projects created: 2, updated: 0; coordination cases: {total} new" in report.as_text()


def test_german_csv_with_labels_decimal_comma_and_german_dates(
    importer: ProjectImporter, services: Services, tmp_path: Path
) -> None:
    x, y = TO_UTM.transform(7.2101, 51.5402)

    def german(value: float) -> str:
        return f"{value:.2f}".replace(".", ",")

    path = tmp_path / "massnahmen.csv"
    path.write_text(
        "Bezeichnung;Träger;Fachbereich;Maßnahmenart;Status;Beginn;Ende;Kosten;"
        "Ansprechpartner;Rechtswert;Hochwert\n"
        "Kanalsanierung Mühlenstraße;Stadt Herne;Stadtentwässerung;Kanalsanierung;In Planung;"
        f"01.04.2027;31.10.2028;1.234.567,50;Frau Öztürk;{german(x)};{german(y)}\n"
        "Fahrbahnerneuerung Mühlenstraße;City of Herne;Roads and civil engineering;"
        f"Road renewal;Approved;2027-03-01;30.11.2027;850.000;;{german(x + 5)};{german(y)}\n",
        encoding="cp1252",
    )
    report = importer.import_file(path, ADMIN, source_crs="EPSG:25832")
    assert report.problems == [] and report.imported == 2
    assert report.field_mapping == {
        "Bezeichnung": "title",
        "Träger": "organisation",
        "Fachbereich": "department",
        "Maßnahmenart": "measure_type",
        "Status": "status",
        "Beginn": "start",
        "Ende": "end",
        "Kosten": "cost_eur",
        "Ansprechpartner": "contact",
    }
    assert "cp1252" in report.notes[0] and "delimiter ';'" in report.notes[0]
    sewer, road = (p.attributes for p in stored(services))
    assert (sewer.title, sewer.organisation, sewer.department, sewer.measure_type) == (
        "Kanalsanierung Mühlenstraße",
        "herne",
        "drainage",
        "sewer_rehabilitation",
    )
    assert (sewer.status.value, sewer.start, sewer.end) == (
        "planning",
        date(2027, 4, 1),
        date(2028, 10, 31),
    )
    assert (sewer.cost_eur, sewer.contact) == (1234567.5, "Frau Öztürk")
    assert (road.department, road.measure_type, road.status.value) == (
        "roads",
        "road_renewal",
        "approved",
    )
    assert (road.end, road.cost_eur) == (date(2027, 11, 30), 850000.0)
    points = [p.geometry for p in stored(services)]
    assert points[0].x == pytest.approx(round(x, 2), abs=0.001)
    assert points[1].x == pytest.approx(round(x + 5, 2), abs=0.001)


def test_csv_with_wkt_lines_in_lon_lat(
    importer: ProjectImporter, services: Services, tmp_path: Path
) -> None:
    path = tmp_path / "linien.csv"
    path.write_text(
        "title,organisation,department,measure_type,wkt\n"
        '"Straße A",herne,roads,road_renewal,"LINESTRING (7.2101 51.5402, 7.2135 51.5411)"\n'
        '"Straße B",herne,roads,road_renewal,"LINESTRING (7.2101 51.5402"\n'
    )
    with pytest.raises(InvalidInput, match="says nothing about its coordinate reference system"):
        importer.import_file(path, ADMIN)
    report = importer.import_file(path, ADMIN, source_crs="EPSG:4326", dry_run=True)
    assert "geometry from WKT in wkt" in report.notes[0]
    assert [(p.row, p.field, p.detail) for p in report.problems] == [
        (3, "geometry", "geometry is required")
    ]
    path.write_text(
        path.read_text().replace('51.5402"', '51.5402, 7.2135 51.5411)"').replace("wkt", "Linie")
    )
    report = importer.import_file(
        path, ADMIN, source_crs="EPSG:4326", csv_options=CsvOptions(wkt_field="Linie")
    )
    assert report.imported == 2 and report.invalid_rows == 0
    assert [p.geometry.geom_type for p in stored(services)] == ["LineString", "LineString"]


def test_geopackage_layer_choice_in_etrs89_utm(
    importer: ProjectImporter, services: Services, tmp_path: Path
) -> None:
    path = tmp_path / "planung.gpkg"
    rows = [
        project_row(start=date(2027, 3, 1), end=date(2027, 11, 30)),
        project_row(
            title="Grünanlage Stadtgarten",
            department="green",
            measure_type="green_space",
            start=None,
            end=None,
            cost_eur=None,
        ),
    ]
    # A GeoPackage layer of one Multi type, as QGIS and ZUGABE's export write them.
    write_file(path, rows, [MultiLineString([ROAD]), MultiPolygon([PARK])], layer="massnahmen_2027")
    write_file(path, [{"name": "Kataster"}], [Point(375000, 5711000)], layer="flurstuecke")
    with pytest.raises(
        InvalidInput, match=r"several layers; choose one with source_layer \(--source-layer\)"
    ):
        importer.import_file(path, ADMIN)
    report = importer.import_file(path, ADMIN, source_layer="massnahmen_2027")
    assert report.source_layer == "massnahmen_2027" and report.imported == 2
    assert report.source_crs == "EPSG:25832"
    assert "2 one-part Multi geometries taken as their single part" in report.notes
    road, green = stored(services)
    assert close(road.geometry, ROAD, 0.001) and close(green.geometry, PARK, 0.001)
    assert (road.attributes.start, green.attributes.start, green.attributes.cost_eur) == (
        date(2027, 3, 1),
        None,
        None,
    )


@pytest.mark.filterwarnings("ignore:Normalized/laundered field name")
def test_gauss_krueger_shapefile_uses_the_beta2007_grid(
    importer: ProjectImporter, services: Services, tmp_path: Path
) -> None:
    """DHDN / 3-degree Gauss-Krüger zone 3, plain and zipped; DBF field names cut at 10."""
    group = TransformerGroup("EPSG:25832", "EPSG:31467", always_xy=True)
    assert group.best_available, "Debian proj-data (BETA2007.gsb) must be installed"
    to_gk = group.transformers[0]
    originals = [ROAD, SEWER]
    gk = [shapely.transform(g, lambda c: np.column_stack(to_gk.transform(*c.T))) for g in originals]
    rows = [
        project_row(),
        project_row(
            title="Kanalsanierung Bahnhofstraße",
            department="drainage",
            measure_type="sewer_rehabilitation",
        ),
    ]
    shp = write_file(tmp_path / "shape" / "massnahmen.shp", rows, gk, crs="EPSG:31467")
    assert "measure_ty" in pyogrio.read_info(shp)["fields"]
    report = importer.import_file(shp, ADMIN, dry_run=True)
    assert report.field_mapping["measure_ty"] == "measure_type"
    assert report.field_mapping["descriptio"] == "description"
    archive = tmp_path / "massnahmen.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in shp.parent.iterdir():
            zf.write(part, f"massnahmen/{part.name}")
    report = importer.import_file(archive, ADMIN)
    assert report.source_crs == "EPSG:31467"
    assert "DHDN to ETRS89 (8)" in report.transformation  # the BETA2007 grid shift
    assert report.transformation_accuracy_m is not None and report.transformation_accuracy_m < 1
    assert not any("grid file" in note for note in report.notes)
    for project, original in zip(stored(services), originals, strict=True):
        assert close(project.geometry, original)


def test_field_mapping_option(
    importer: ProjectImporter, services: Services, tmp_path: Path
) -> None:
    rows = [
        {
            "Kurztitel": "Baumpflanzung Schulstraße",
            "Bezeichnung": "BP-2027-014",
            "Abt": "Grünflächen",
            "Massnahmenart": "Baumpflanzung",
            "Organisation": "herne",
            "Notiz": "intern",
        }
    ]
    path = write_file(tmp_path / "baeume.geojson", rows, [ROAD])
    with pytest.raises(InvalidInput, match="no field for department"):
        importer.import_file(path, ADMIN, dry_run=True)
    with pytest.raises(InvalidInput, match="source field 'Nope' is not in the file"):
        importer.import_file(path, ADMIN, mapping={"Nope": "title"})
    report = importer.import_file(
        path, ADMIN, mapping={"Kurztitel": "title", "Abt": "department", "Bezeichnung": ""}
    )
    assert report.field_mapping == {
        "Kurztitel": "title",
        "Abt": "department",
        "Massnahmenart": "measure_type",
        "Organisation": "organisation",
    }
    assert report.unmatched_fields == ["Bezeichnung", "Notiz"]
    (project,) = stored(services)
    assert (project.attributes.title, project.attributes.department) == (
        "Baumpflanzung Schulstraße",
        "green",
    )


def test_heights_are_dropped_and_said(
    importer: ProjectImporter, services: Services, tmp_path: Path
) -> None:
    road_z = shapely.force_3d(ROAD, 62.5)
    path = write_file(tmp_path / "mit_hoehe.gpkg", [project_row()], [road_z])
    report = importer.import_file(path, ADMIN)
    assert "1 rows have heights (Z); ZUGABE plans in 2D, so Z was dropped" in report.notes
    assert not stored(services)[0].geometry.has_z


@pytest.mark.filterwarnings("ignore:Normalized/laundered field name")
def test_koeln_streets_with_a_custom_crs_and_a_regional_vocabulary(
    shared_data: Path, tmp_path: Path
) -> None:
    """Real geometry: Köln's street shapefile (UTM 32N, false easting 2,500,000, no EPSG
    code) as road renewals of a city added to the vocabulary through ``vocabulary_file``."""
    vocabulary = tmp_path / "vocabulary.toml"
    default = resources.files("zugabe.domain").joinpath("vocabulary.toml").read_text("utf-8")
    vocabulary.write_text(
        default + '\n[organisations.koeln]\nde = "Stadt Köln"\nen = "City of Cologne"\n'
        'kind = "city"\ndepartments = ["roads", "drainage"]\n',
        "utf-8",
    )
    settings = load_settings(
        {"instance_path": tmp_path / "instance", "vocabulary_file": vocabulary}, {}
    )
    services = Services.open(settings)
    try:
        source = next((shared_data / "koeln" / "strassen" / "_source").glob("*/Strasse.shp"))
        meta, _fids, wkb, columns = pyogrio.raw.read(source, max_features=40)
        names = dict(zip(meta["fields"], columns, strict=True))["NAME"]
        rows = [
            {
                "NAME": str(name),
                "Traeger": "Stadt Köln",
                "Fachbereich": "Straßenbau/Tiefbau",
                "Art": "Fahrbahnerneuerung",
                "Beginn": "01.04.2028",
                "Ende": "30.09.2028",
            }
            for name in names
        ]
        originals = shapely.from_wkb(wkb)
        path = write_file(tmp_path / "koeln" / "strassen.shp", rows, originals, crs=meta["crs"])
        report = ProjectImporter(services.projects).import_file(path, ADMIN)
        assert report.source_crs.endswith("(custom, no EPSG code)")
        assert report.field_mapping["Fachbereic"] == "department"  # cut at 10 characters
        assert report.imported == 40, report.as_text()
        projects = services.store.list_projects(ProjectQuery())
        assert projects[0].attributes.organisation == "koeln"
        assert {p.attributes.title for p in projects} == {str(n) for n in names}
        # UTM's false easting is 500,000: Köln's CRS is UTM shifted by 2,000 km
        shifted = shapely.transform(originals, lambda c: c - [2_000_000, 0])
        assert all(close(p.geometry, g) for p, g in zip(projects, shifted, strict=True))
    finally:
        services.close()


# ------------------------------------------------------------------------------ API


def upload(client: FlaskClient, name: str, content: bytes, query: str = "", **form: Any) -> Any:
    data = {"file": (io.BytesIO(content), name), **form}
    return client.post(
        f"/api/projects/import{query}", data=data, content_type="multipart/form-data"
    )


def geojson_bytes(features: list[dict[str, Any]]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def test_api_dry_run_then_apply(client: FlaskClient) -> None:
    sewer = feature(
        title="Kanalsanierung Bahnhofstraße",
        department="Stadtentwässerung",
        measure_type="Kanalsanierung",
    )
    content = geojson_bytes([feature(), sewer])
    dry = upload(client, "massnahmen.geojson", content, "?dry_run=true")
    assert dry.status_code == 200, dry.get_json()
    body = dry.get_json()
    assert (body["dry_run"], body["stored"], body["valid_rows"]) == (True, False, 2)
    assert client.get("/api/projects").get_json()["features"] == []

    applied = upload(client, "massnahmen.geojson", content)
    assert applied.status_code == 201, applied.get_json()
    body = applied.get_json()
    assert body["imported"] == 2 and body["cases_created"] >= 1
    listed = client.get("/api/projects").get_json()["features"]
    assert [f["properties"]["department"] for f in listed] == ["roads", "drainage"]
    assert listed[0]["properties"]["created_by"] == "r.admin"


def test_api_refuses_the_whole_file_for_one_bad_row(client: FlaskClient) -> None:
    bad = feature(start="2028-01-01", end="2027-01-01")
    response = upload(client, "massnahmen.geojson", geojson_bytes([feature(), bad]))
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["errors"] == [
        {"pointer": "/rows/2/end", "detail": "end 2027-01-01 is before start 2028-01-01"}
    ]
    assert "nothing was imported" in problem["detail"]
    assert client.get("/api/projects").get_json()["features"] == []
    dry = upload(client, "massnahmen.geojson", geojson_bytes([bad]), dry_run="true")
    assert dry.status_code == 200 and dry.get_json()["problems"][0]["row"] == 1


def test_api_upload_safety_is_the_layer_uploads(client: FlaskClient) -> None:
    xml = upload(client, "kanal.xml", b"<?xml version='1.0'?><x/>")
    assert xml.status_code == 422 and "not a supported upload" in xml.get_json()["detail"]
    disguised = upload(client, "massnahmen.gpkg", b"MZ\x90\x00 an executable")
    assert "does not look like a .gpkg file" in disguised.get_json()["detail"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../evil.shp", b"x")
    evil = upload(client, "massnahmen.zip", archive.getvalue())
    assert evil.status_code == 422 and "path outside the archive" in evil.get_json()["detail"]
    flag = upload(client, "m.geojson", geojson_bytes([feature()]), "?dry_run=vielleicht")
    assert flag.status_code == 400


# ------------------------------------------------------------------------------ CLI

# The instance's first region admin (no --user needed for it), who then imports.
FIRST_ADMIN = ["users", "add", "gis", "--name", "GIS", "--role", "region_admin", "--no-password"]


def test_cli_dry_run_apply_and_refusal(runner: CliRunner, tmp_path: Path) -> None:
    instance = ["--instance", str(tmp_path / "instance"), "--user", "gis"]
    assert runner.invoke(cli, [*instance[:2], *FIRST_ADMIN]).exit_code == 0
    path = tmp_path / "massnahmen.csv"
    x, y = TO_UTM.transform(7.2101, 51.5402)
    path.write_text(
        "Titel;Organisation;Fachbereich;Art;Beginn;Ende;X;Y\n"
        f"Fahrbahnerneuerung;herne;roads;road_renewal;01.03.2027;30.11.2027;{x};{y}\n"
        f"Kanalsanierung;herne;drainage;sewer_rehabilitation;01.03.2027;30.11.2026;{x};{y}\n"
    )
    options = ["--source-crs", "EPSG:25832", "--delimiter", ";", "--x-field", "X"]
    dry = runner.invoke(cli, [*instance, "projects", "import", str(path), "--dry-run", *options])
    assert dry.exit_code == 0, dry.output
    assert "row 3, end (Ende): end 2026-11-30 is before start 2027-03-01" in dry.output
    assert "dry run, nothing stored: nothing would be imported" in dry.output
    refused = runner.invoke(cli, [*instance, "projects", "import", str(path), *options])
    assert isinstance(refused.exception, ZugabeError)
    assert "nothing was imported: 1 of 2 rows have problems" in str(refused.exception)
    assert "row 3, end (Ende)" in refused.output
    path.write_text(path.read_text().replace("30.11.2026", "30.11.2028"))
    applied = runner.invoke(cli, [*instance, "projects", "import", str(path), *options])
    assert applied.exit_code == 0, applied.output
    assert "projects created: 2, updated: 0; coordination cases:" in applied.output
    listed = runner.invoke(cli, [*instance, "projects", "list"])
    assert listed.output.strip().endswith("2 projects")


# ------------------------------------------------------------------------------ round trip


def round_trip_features() -> list[dict[str, Any]]:
    """Every geometry type and every property, empty ones too, as the API takes them."""

    def lonlat(geometry: shapely.Geometry) -> dict[str, Any]:
        to_wgs84 = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
        moved = shapely.transform(geometry, lambda c: np.column_stack(to_wgs84.transform(*c.T)))
        return json.loads(shapely.to_geojson(moved))

    return [
        feature(lonlat(ROAD)),
        feature(
            lonlat(MultiLineString([SEWER, shapely.affinity.translate(SEWER, 0, 40)])),
            title='Kanalsanierung Bahnhofstraße; Abschnitt 2 "Nord"',
            department="drainage",
            measure_type="sewer_rehabilitation",
            status="approved",
            description="Zeile 1\nZeile 2, mit Komma; und Semikolon",
            cost_eur=1234567.89,
        ),
        feature(
            lonlat(PARK),
            title="Mulde am Stadtgarten",
            organisation="eglv",
            department="water_management",
            measure_type="swale_trench",
            status="idea",
            start=None,
            end=None,
            contact=None,
            cost_eur=None,
            description=None,
        ),
        feature(
            lonlat(MultiPoint([(375010, 5711010), (375030, 5711012)])),
            title="Baumpflanzung",
            department="green",
            measure_type="tree_planting",
            start="2029-10-01",
            end=None,
        ),
        feature(lonlat(Point(375500.123, 5711500.456)), title="Punkt", status="cancelled"),
    ]


# Each export, and the imports that read it back: ZUGABE's GeoPackage keeps the projects in
# one layer per geometry family (Multi types); CSV carries WKT in lon/lat but no CRS.
ROUND_TRIPS = {
    "projects export geojson": (["projects", "export", "-o", "{file}"], "p.geojson", [[]]),
    "export geojson": (["export", "-o", "{file}"], "p.geojson", [[]]),
    "export csv": (["export", "-o", "{file}"], "p.csv", [["--source-crs", "EPSG:4326"]]),
    "export gpkg": (
        ["export", "-o", "{file}"],
        "all.gpkg",
        [["--source-layer", f"projects_{family}"] for family in ("points", "lines", "polygons")],
    ),
}


@pytest.mark.parametrize("name", ROUND_TRIPS)
def test_export_then_import_gives_the_same_projects(
    name: str, runner: CliRunner, tmp_path: Path
) -> None:
    """Every attribute equal, every geometry within 1 cm (GeoJSON and CSV round lon/lat to
    7 decimals, about 1 cm)."""
    export_args, file_name, imports = ROUND_TRIPS[name]
    source, target, exported = tmp_path / "source", tmp_path / "target", tmp_path / file_name
    app = create_app({"instance_path": source})
    try:
        client = client_as(app, "r.admin")
        for doc in round_trip_features():
            assert client.post("/api/projects", json=doc).status_code == 201
        originals = list(app.extensions["zugabe"].projects.iterate(ADMIN, ProjectFilter()))
    finally:
        app.extensions["zugabe"].close()
    args = [a.format(file=exported) for a in export_args]
    result = runner.invoke(cli, ["--instance", str(source), *args])
    assert result.exit_code == 0, result.output
    assert runner.invoke(cli, ["--instance", str(target), *FIRST_ADMIN]).exit_code == 0
    for options in imports:
        command = ["projects", "import", str(exported), *options]
        imported = runner.invoke(cli, ["--instance", str(target), "--user", "gis", *command])
        assert imported.exit_code == 0, imported.output
        assert "(an export's bookkeeping)" in imported.output
    services = Services.open(load_settings({"instance_path": target}, {}))
    try:
        copies = list(services.projects.iterate(ADMIN, ProjectFilter()))
    finally:
        services.close()
    assert len(copies) == len(originals) == 5
    by_title = {p.attributes.title: p for p in copies}
    for original in originals:
        copy = by_title[original.attributes.title]
        assert attributes_to_json(copy.attributes) == attributes_to_json(original.attributes)
        assert close(copy.geometry, original.geometry)
