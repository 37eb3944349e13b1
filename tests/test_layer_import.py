"""Importing thematic layers from the files departments have, real ones included."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer

from tests.conftest import ADMIN, actor_for
from tests.isybau_samples import write_isybau_2017
from zugabe.config import load_settings
from zugabe.errors import InvalidInput
from zugabe.io.layer_files import CsvOptions
from zugabe.services import Services

KOELN = "koeln"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = Services.open(load_settings({"instance_path": tmp_path / "instance"}, {}))
    yield services
    services.close()


def stored_geometries(services: Services, key: str) -> list[shapely.Geometry]:
    return [f.geometry for f in services.store.layer_features(key)]


def koeln_shapefile(shared_data: Path, folder: str, name: str) -> Path:
    return next((shared_data / KOELN / folder / "_source").glob(f"*/{name}.shp"))


def test_koeln_districts_with_custom_crs_land_where_the_geojson_puts_them(
    services: Services, shared_data: Path
) -> None:
    """Köln's shapefiles use UTM 32N with a false easting of 2,500,000 and no EPSG code."""
    info, report = services.layers.import_file(
        koeln_shapefile(shared_data, "stadtteile", "Stadtteil"), "districts", ADMIN
    )
    assert report.source_crs.endswith("(custom, no EPSG code)")
    assert info.feature_count == 86 and report.refused == 0
    assert report.repaired == 1  # the one invalid polygon, made valid
    parts = stored_geometries(services, "districts")
    imported = shapely.union_all(parts)
    _meta, _fids, wkb, _fields = pyogrio.raw.read(
        shared_data / KOELN / "stadtbezirke" / "stadtbezirke.geojson"
    )
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True)
    reference = shapely.transform(
        shapely.from_wkb(wkb), lambda c: np.column_stack(to_utm.transform(c[:, 0], c[:, 1]))
    )
    bounds = shapely.total_bounds(reference)
    assert np.abs(np.array(imported.bounds) - bounds).max() < 1.0
    area = shapely.area(reference).sum()
    assert abs(sum(p.area for p in parts) - area) / area < 0.001


def test_koeln_streets(services: Services, shared_data: Path) -> None:
    info, report = services.layers.import_file(
        koeln_shapefile(shared_data, "strassen", "Strasse"), "streets", ADMIN
    )
    assert report.rows_read == 5516
    assert info.feature_count == report.accepted == 5516 - report.refused
    assert report.field_mapping["NAME"] == "name"
    names = {f.attributes.get("name") for f in services.store.layer_features("streets", limit=6000)}
    assert "Hohe Str." in names


def test_koeln_land_use_plan_repairs_invalid_polygons(
    services: Services, shared_data: Path
) -> None:
    info, report = services.layers.import_file(
        koeln_shapefile(shared_data, "flaechennutzungsplan", "fnp_aktuell"), "green_spaces", ADMIN
    )
    assert report.rows_read == 2121
    # Five polygons are invalid: four self-touching rings are repaired; one
    # collapses to a line when made valid, so it is refused with its row.
    assert report.repaired == 4
    assert all("invalid geometry repaired" in reason for _row, reason in report.repaired_rows)
    assert report.refused_rows == [
        (
            2039,
            "invalid geometry (Too few points in geometry component[347514.345698488 "
            "5647039.66057651]), not repairable without changing its kind",
        )
    ]
    assert all(g.is_valid for g in stored_geometries(services, "green_spaces"))
    assert info.feature_count == 2121 - report.refused


def test_bochum_playgrounds_csv(services: Services, shared_data: Path) -> None:
    path = shared_data / "bochum" / "data" / "EDUC" / "playgrounds" / "bochum_playgrounds.csv"
    with pytest.raises(InvalidInput, match="says nothing about its coordinate reference system"):
        services.layers.import_file(path, "green_spaces", ADMIN)
    info, report = services.layers.import_file(path, "green_spaces", ADMIN, source_crs="EPSG:25832")
    assert info.feature_count == 352 and report.refused == 0
    assert "coordinates rechts_utm/hoch_utm" in report.notes[0]
    sample = services.store.layer_features("green_spaces", limit=1)[0]
    assert sample.attributes["name"] == "Bolzplatz Neues Gymnasium Bochum"


def test_bochum_tree_register_with_broken_encoding(services: Services, shared_data: Path) -> None:
    path = (
        shared_data
        / "bochum"
        / "data"
        / "ENVI"
        / "tree_register"
        / "bochum_tree_planting_felling_register.csv"
    )
    info, report = services.layers.import_file(path, "trees", ADMIN, source_crs="EPSG:25832")
    assert report.rows_read > 0
    assert info.feature_count == report.accepted
    # Free-text trunk diameters ("70 - 80 cm:") are refused with row and reason.
    assert any("Stammdurch" in reason for _row, reason in report.refused_rows)
    zones = [f.derived for f in services.store.layer_features("trees", limit=10)]
    assert all(z is not None and z.area > 0 for z in zones)


def test_nrw_discharge_points_with_placeholder_coordinates(
    services: Services, shared_data: Path
) -> None:
    path = shared_data / "nrw_rur_wasser" / "elwas_einleiter.geojson"
    info, report = services.layers.import_file(path, "discharge_points", ADMIN)
    outside = [reason for _row, reason in report.refused_rows if "outside the region" in reason]
    assert len(outside) == 12
    assert info.feature_count == report.rows_read - report.refused


def test_nrw_stormwater_basins(services: Services, shared_data: Path) -> None:
    path = shared_data / "nrw_rur_wasser" / "regenbecken.geojson"
    info, report = services.layers.import_file(path, "stormwater_basins", ADMIN)
    assert info.feature_count == 70 and report.refused == 0
    types = {
        f.attributes.get("basin_type")
        for f in services.store.layer_features("stormwater_basins", limit=100)
    }
    assert types == {"RKB", "RRB", "RÜB", "SK", "RBF"}


def test_geopackage_with_several_layers_needs_a_choice(services: Services, tmp_path: Path) -> None:
    path = tmp_path / "kanal.gpkg"
    lines = shapely.linestrings(
        np.array([[[377000 + i, 5708000], [377030 + i, 5708010]] for i in range(5)])
    )
    points = shapely.points(np.array([[377000 + i, 5708000] for i in range(3)]))
    write_layer(
        path,
        "haltungen",
        lines,
        {"haltung": [f"H{i}" for i in range(5)], "zustandsklasse": [0, 1, 2, 3, 4]},
    )
    write_layer(path, "schaechte", points, {"schacht": ["S1", "S2", "S3"]})
    with pytest.raises(
        InvalidInput,
        match=r"several layers; choose one with source_layer \(--source-layer\): "
        r"haltungen, schaechte",
    ):
        services.layers.import_file(path, "sewer_sections", ADMIN)
    info, report = services.layers.import_file(
        path, "sewer_sections", ADMIN, source_layer="haltungen"
    )
    assert info.feature_count == 5
    assert report.source_crs == "EPSG:25832"
    classes = sorted(
        f.attributes["condition_class"] for f in services.store.layer_features("sewer_sections")
    )
    assert classes == [0, 1, 2, 3, 4]


def write_layer(
    path: Path,
    layer: str,
    geometries: np.ndarray,
    fields: dict[str, list[object]],
    crs: str = "EPSG:25832",
) -> None:
    pyogrio.raw.write(
        path,
        shapely.to_wkb(geometries),
        [np.array(v) for v in fields.values()],
        list(fields),
        layer=layer,
        driver="GPKG" if path.suffix == ".gpkg" else None,
        geometry_type=geometries[0].geom_type,
        crs=crs,
        append=path.exists() and path.suffix == ".gpkg",
    )


def test_zipped_shapefile(services: Services, shared_data: Path, tmp_path: Path) -> None:
    shp = koeln_shapefile(shared_data, "stadtteile", "Stadtteil")
    archive = tmp_path / "stadtteile.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in shp.parent.glob("Stadtteil.*"):
            zf.write(part, f"Stadtteil/{part.name}")
    info, _report = services.layers.import_file(archive, "districts", ADMIN)
    assert info.feature_count == 86


def test_zip_with_path_traversal_is_refused(services: Services, tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../etc/cron.d/evil.shp", b"x")
    with pytest.raises(InvalidInput, match="path outside the archive"):
        services.layers.import_file(archive, "districts", ADMIN)


def test_zip_bomb_is_refused(services: Services, tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.shp", b"\0" * 50_000_000)
    with pytest.raises(InvalidInput, match="possible zip bomb"):
        services.layers.import_file(archive, "districts", ADMIN)


def test_isybau_xml(services: Services, tmp_path: Path) -> None:
    path = tmp_path / "kanal.xml"
    write_isybau_2017(path)
    with pytest.raises(InvalidInput, match=r"choose its part with source_layer \(--source-layer\)"):
        services.layers.import_file(path, "sewer_sections", ADMIN)
    info, report = services.layers.import_file(
        path, "sewer_sections", ADMIN, source_layer="sewer_sections"
    )
    assert info.feature_count > 0
    assert report.notes[0].startswith("read as ISYBAU")
    manholes, _ = services.layers.import_file(path, "manholes", ADMIN, source_layer="manholes")
    assert manholes.feature_count > 0


def test_gauss_krueger_uses_the_beta2007_grid(services: Services, tmp_path: Path) -> None:
    path = tmp_path / "baeume_gk3.geojson"
    to_gk = Transformer.from_crs("EPSG:25832", "EPSG:31467", always_xy=True)
    x, y = to_gk.transform(377000.0, 5708000.0)
    write_layer(
        path, "baeume", shapely.points(np.array([[x, y]])), {"art": ["Linde"]}, crs="EPSG:31467"
    )
    _info, report = services.layers.import_file(path, "trees", ADMIN)
    assert report.source_crs == "EPSG:31467"
    assert "DHDN to ETRS89 (8)" in report.transformation  # the BETA2007 grid shift
    assert report.transformation_accuracy_m is not None and report.transformation_accuracy_m < 1
    assert not any("grid file" in note for note in report.notes)


def test_reimport_replaces_the_version(services: Services, shared_data: Path) -> None:
    path = shared_data / "nrw_rur_wasser" / "regenbecken.geojson"
    first, _ = services.layers.import_file(path, "stormwater_basins", ADMIN)
    second, _ = services.layers.import_file(path, "stormwater_basins", ADMIN)
    assert (first.version, second.version) == (1, 2)
    assert services.store.count_layer_features("stormwater_basins") == 70


def test_interrupted_import_keeps_the_previous_version(
    services: Services, shared_data: Path
) -> None:
    """Ctrl-C in the middle of writing: the previous version stays as it was."""
    path = koeln_shapefile(shared_data, "strassen", "Strasse")
    previous, _ = services.layers.import_file(path, "streets", ADMIN)
    services.layers.batch_size = 1000
    steward = actor_for(services, "steward")

    def interrupt(_count: int, _total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        services.layers.import_file(path, "streets", steward, progress=interrupt)
    current = services.store.get_layer("streets")
    assert current is not None
    assert (current.version, current.feature_count, current.imported_by) == (
        previous.version,
        previous.feature_count,
        ADMIN.username,
    )
    assert services.store.count_layer_features("streets") == previous.feature_count


def test_missing_required_field_is_named(services: Services, tmp_path: Path) -> None:
    path = tmp_path / "zonen.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"tiefe": 0.4},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [
                                [[7.2, 51.5], [7.21, 51.5], [7.21, 51.51], [7.2, 51.5]]
                            ],
                        },
                    }
                ],
            }
        )
    )
    with pytest.raises(InvalidInput, match="required attribute"):
        services.layers.import_file(path, "heavy_rain_hazard", ADMIN)


def test_csv_with_decimal_comma(services: Services, tmp_path: Path) -> None:
    path = tmp_path / "baeume.csv"
    path.write_text(
        "Nr;Rechtswert;Hochwert;Kronenradius\n1;377000,5;5708000,25;3,5\n2;377010,0;5708005,0;\n",
        encoding="cp1252",
    )
    info, report = services.layers.import_file(
        path, "trees", ADMIN, source_crs="EPSG:25832", csv_options=CsvOptions()
    )
    assert info.feature_count == 2, report
    trees = services.store.layer_features("trees")
    assert trees[0].geometry.x == pytest.approx(377000.5)
    assert trees[0].attributes["crown_radius"] == 3.5
    # root-protection zone: crown + 1.5 m, else the default radius
    assert trees[0].derived.area == pytest.approx(np.pi * 5.0**2, rel=0.01)


def test_nan_in_a_middle_vertex_is_refused(services: Services, tmp_path: Path) -> None:
    """GEOS ignores NaN when computing bounds; the importer looks at every vertex."""
    path = tmp_path / "haltungen.gpkg"
    coords = np.array(
        [
            [[377000, 5708000], [377010, 5708005], [377020, 5708010]],
            [[377100, 5708000], [np.nan, 5708005], [377120, 5708010]],
        ]
    )
    with np.errstate(invalid="ignore"):
        lines = shapely.linestrings(coords)
    write_layer(path, "haltungen", lines, {"haltung": ["H1", "H2"]})
    info, report = services.layers.import_file(path, "sewer_sections", ADMIN, accept_partial=True)
    assert info.feature_count == 1
    assert report.refused_rows == [(2, "coordinates are not finite numbers (NaN or infinite)")]
