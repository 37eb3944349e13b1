"""Issue 11, item 2: ZUGABE's own GeoPackage imports back whole, every part of a layer
that the export split by geometry type, in one import."""

from __future__ import annotations

from pathlib import Path

import pyogrio
import pytest
from flask import Flask

from tests.conftest import ADMIN
from zugabe.errors import InvalidInput
from zugabe.services import Services
from zugabe.services.demo import load_demo_layers
from zugabe.services.exports import ExportFilter, ExportService
from zugabe.web import create_app

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


@pytest.fixture
def exported(app: Flask, tmp_path: Path) -> Path:
    services: Services = app.extensions["zugabe"]
    load_demo_layers(services.layers, SAMPLE, ADMIN)
    target = tmp_path / "zugabe.gpkg"
    ExportService.of(services, ADMIN).write_geopackage(
        ExportFilter.from_params({"synergy": "false"}), target
    )
    return target


def test_a_layer_split_by_geometry_type_comes_back_whole(exported: Path, tmp_path: Path) -> None:
    names = [str(row[0]) for row in pyogrio.list_layers(exported)]
    parts = [n for n in names if n.startswith("stormwater_basins_")]
    assert len(parts) >= 2  # the export did split it
    app = create_app({"instance_path": tmp_path / "other"})
    try:
        services: Services = app.extensions["zugabe"]
        info, report = services.layers.import_file(exported, "stormwater_basins", ADMIN)
        assert info.feature_count == 9  # all basins, points and polygons
        assert report.source_layer == ",".join(parts)
        assert any("read as one layer from the parts" in note for note in report.notes)
    finally:
        app.extensions["zugabe"].close()


def test_naming_one_part_of_several_is_refused(exported: Path, tmp_path: Path) -> None:
    app = create_app({"instance_path": tmp_path / "other"})
    try:
        services: Services = app.extensions["zugabe"]
        with pytest.raises(InvalidInput, match="would drop the others") as refused:
            services.layers.import_file(
                exported, "stormwater_basins", ADMIN, source_layer="stormwater_basins_points"
            )
        assert refused.value.field_errors[0].pointer == "/source_layer"
        assert services.store.get_layer("stormwater_basins") is None
        both = "stormwater_basins_points,stormwater_basins_polygons"
        info, _ = services.layers.import_file(
            exported, "stormwater_basins", ADMIN, source_layer=both
        )
        assert info.feature_count == 9
    finally:
        app.extensions["zugabe"].close()
