"""Issue 11, item 10: a bulk import updates the projects it names instead of duplicating
them, says per row what it would do, and repairs geometry on request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import ADMIN, VALID_FEATURE, client_as
from zugabe.services import Services
from zugabe.services.project_import import ProjectImporter, ProjectImportRefused
from zugabe.storage.contract import CaseQuery, ProjectQuery


@pytest.fixture
def demo(demo_instance: Path, app: Flask) -> Services:
    return app.extensions["zugabe"]


def _export(app: Flask, folder: Path) -> dict[str, Any]:
    response = client_as(app, "r.admin").get("/api/export/projects.geojson")
    assert response.status_code == 200
    return json.loads(response.get_data(as_text=True))


def _write(folder: Path, collection: dict[str, Any], name: str = "export.geojson") -> Path:
    path = folder / name
    path.write_text(json.dumps(collection), encoding="utf-8")
    return path


def _state(services: Services) -> tuple[dict[int, int], dict[str, tuple[int, str, int]]]:
    """Project id -> version, and case identity -> (id, status, version)."""
    projects = {p.id: p.version for p in services.store.list_projects(ProjectQuery())}
    cases = {
        c.finding.pair_key: (c.id, c.status.value, c.version)
        for c in services.store.list_cases(CaseQuery())
    }
    return projects, cases


def _import(services: Services, path: Path, **options: Any) -> Any:
    return ProjectImporter(services.projects).import_file(path, ADMIN, **options)


def test_reimporting_the_own_export_changes_nothing(
    app: Flask, demo: Services, tmp_path: Path
) -> None:
    before = _state(demo)
    path = _write(tmp_path, _export(app, tmp_path))
    dry = _import(demo, path, dry_run=True)
    assert (dry.new_rows, dry.changed_rows, dry.unchanged_rows) == (0, 0, 150)
    assert "rows: 0 would be new, 0 would be changed, 150 unchanged" in dry.as_text()
    report = _import(demo, path)
    assert (report.imported, report.updated) == (0, 0)
    assert _state(demo) == before  # 150 projects, each at version 1; no case touched


def test_changed_rows_update_their_projects_and_keep_their_cases(
    app: Flask, demo: Services, tmp_path: Path
) -> None:
    versions, cases = _state(demo)
    collection = _export(app, tmp_path)
    first, second = collection["features"][:2]
    first["properties"]["title"] = "Fahrbahnerneuerung (neu geplant)"
    second["geometry"]["coordinates"] = _moved(second["geometry"]["coordinates"], 0.0003)
    path = _write(tmp_path, collection)

    dry = _import(demo, path, dry_run=True)
    assert (dry.new_rows, dry.changed_rows, dry.unchanged_rows) == (0, 2, 148)
    changed = {project for _row, action, project in dry.rows if action == "changed"}
    assert changed == {first["id"], second["id"]}

    report = _import(demo, path)
    assert (report.imported, report.updated) == (0, 2)
    after_versions, after_cases = _state(demo)
    assert after_versions == versions | {first["id"]: 2, second["id"]: 2}
    assert demo.store.get_project(first["id"]).attributes.title.endswith("(neu geplant)")
    # Cases keep their identity; only those of the two changed projects may change.
    for key in cases.keys() & after_cases.keys():
        assert after_cases[key][0] == cases[key][0]
    mine = (f"project:{first['id']}|", f"project:{second['id']}|")
    untouched = [k for k in cases if not any(m in k + "|" for m in mine)]
    assert untouched and all(after_cases[k] == cases[k] for k in untouched)


def test_a_row_of_an_outdated_export_is_refused(app: Flask, demo: Services, tmp_path: Path) -> None:
    collection = _export(app, tmp_path)
    project_id = collection["features"][2]["id"]
    client = client_as(app, "r.admin")
    assert (
        client.patch(
            f"/api/projects/{project_id}", json={"properties": {"contact": "neu"}}
        ).status_code
        == 200
    )
    before = _state(demo)
    with pytest.raises(ProjectImportRefused) as refused:
        _import(demo, _write(tmp_path, collection))
    (problem,) = refused.value.report.problems
    assert (problem.row, problem.field) == (3, "version")
    assert f"project {project_id} changed since this file was written" in problem.detail
    assert _state(demo) == before


CSV_HEADER = "Baustellen-Nr;Bezeichnung;Träger;Fachbereich;Maßnahmenart;Beginn;Ende;wkt\n"


def _roadworks(end: str) -> str:
    return CSV_HEADER + (
        f"KA-2027-001;Fahrbahn Bahnhofstraße;herne;roads;road_renewal;01.03.2027;{end};"
        "LINESTRING (7.2101 51.5402, 7.2135 51.5411)\n"
        "KA-2027-002;Kanal Bahnhofstraße;herne;drainage;sewer_rehabilitation;01.05.2027;"
        "31.10.2027;LINESTRING (7.2101 51.5403, 7.2135 51.5412)\n"
    )


def test_rows_with_an_external_id_update_the_project_of_that_number(
    app: Flask, tmp_path: Path
) -> None:
    services: Services = app.extensions["zugabe"]
    options: dict[str, Any] = {"source_crs": "EPSG:4326", "csv_options": None}
    from zugabe.io.layer_files import CsvOptions

    options["csv_options"] = CsvOptions(wkt_field="wkt")
    path = tmp_path / "baustellen.csv"
    path.write_text(_roadworks("30.11.2027"), encoding="utf-8")
    first = _import(services, path, **options)
    assert (first.imported, first.new_rows) == (2, 2)
    assert first.field_mapping["Baustellen-Nr"] == "external_id"
    ids = set(first.project_ids)

    path.write_text(_roadworks("15.12.2027"), encoding="utf-8")  # the register moved an end
    dry = _import(services, path, dry_run=True, **options)
    assert (dry.new_rows, dry.changed_rows, dry.unchanged_rows) == (0, 1, 1)
    second = _import(services, path, **options)
    assert (second.imported, second.updated) == (0, 1)
    stored = services.store.get_projects(external_ids=["KA-2027-001"])
    assert [p.id for p in stored] == [min(ids)]
    assert stored[0].attributes.end.isoformat() == "2027-12-15" and stored[0].version == 2
    assert len(services.store.list_projects(ProjectQuery())) == 2

    path.write_text(_roadworks("15.12.2027").replace("KA-2027-002", "KA-2027-001"), "utf-8")
    with pytest.raises(ProjectImportRefused) as refused:
        _import(services, path, **options)
    assert "row 2 has the same external_id 'KA-2027-001'" in refused.value.detail


def test_an_external_id_names_one_project(app: Flask) -> None:
    client = client_as(app, "r.admin")
    tagged = json.loads(json.dumps(VALID_FEATURE))
    tagged["properties"]["external_id"] = "KA-1"
    assert client.post("/api/projects", json=tagged).status_code == 201
    again = client.post("/api/projects", json=tagged)
    assert again.status_code == 409
    assert again.get_json()["errors"] == [
        {
            "pointer": "/properties/external_id",
            "detail": "external_id 'KA-1' is already used by project 1",
            "code": "field.external_id_taken",
        }
    ]


def _moved(coordinates: Any, dx: float) -> Any:
    if isinstance(coordinates[0], (int, float)):
        return [coordinates[0] + dx, coordinates[1]]
    return [_moved(c, dx) for c in coordinates]


def test_repair_fixes_what_it_can_and_says_so(app: Flask, tmp_path: Path) -> None:
    services: Services = app.extensions["zugabe"]
    bowtie = [[7.2100, 51.5400], [7.2110, 51.5410], [7.2110, 51.5400], [7.2100, 51.5410],
              [7.2100, 51.5400]]  # fmt: skip
    lines = {
        "type": "GeometryCollection",
        "geometries": [
            {"type": "LineString", "coordinates": [[7.2101, 51.5402], [7.2135, 51.5411]]},
            {"type": "LineString", "coordinates": [[7.2135, 51.5411], [7.2170, 51.5415]]},
        ],
    }
    mixed = {
        "type": "GeometryCollection",
        "geometries": [
            {"type": "Point", "coordinates": [7.2101, 51.5402]},
            {"type": "Polygon", "coordinates": [[*bowtie[:3], bowtie[0]]]},
        ],
    }
    features = [
        {"type": "Feature", "geometry": g, "properties": dict(VALID_FEATURE["properties"])}
        for g in ({"type": "Polygon", "coordinates": [bowtie]}, lines)
    ]
    features[0]["properties"]["measure_type"] = "road_renewal"
    path = _write(tmp_path, {"type": "FeatureCollection", "features": features}, "w.geojson")
    with pytest.raises(ProjectImportRefused) as refused:
        _import(services, path)
    problems = refused.value.report.problems
    assert [(p.row, p.field) for p in problems] == [(1, "geometry"), (2, "geometry")]
    assert all(p.detail.endswith("repair (--repair) can fix it") for p in problems)
    assert "a GeometryCollection is not supported" in problems[1].detail

    report = _import(services, path, repair=True)
    assert report.imported == 2
    assert report.repaired[0][0] == 1 and "invalid geometry repaired" in report.repaired[0][1]
    assert report.repaired[1] == (2, "GeometryCollection made a MultiLineString")
    assert "row 2 repaired: GeometryCollection made a MultiLineString" in report.as_text()
    kinds = {p.geometry.geom_type for p in services.store.list_projects(ProjectQuery())}
    assert kinds == {"MultiPolygon", "MultiLineString"}

    features.append(
        {"type": "Feature", "geometry": mixed, "properties": dict(VALID_FEATURE["properties"])}
    )
    path = _write(tmp_path, {"type": "FeatureCollection", "features": features}, "w.geojson")
    with pytest.raises(ProjectImportRefused) as refused:
        _import(services, path, repair=True)
    (problem,) = refused.value.report.problems
    assert problem.row == 3
    assert "GeometryCollection of points, polygons cannot become one geometry type" in (
        problem.detail
    )
