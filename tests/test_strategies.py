"""The strategies dashboard (``/strategies``): its figures are what an independent overlay of
the stored layers and projects gives, its CSVs hold them with headers in the page's language,
and it follows every write to the store.

The independent computation is geopandas on the demo town as stored: cities dissolved from the
districts by ``municipality``, ``geopandas.overlay`` for every area split, ``sjoin`` of
representative points for every count — none of the service's own code.
"""

from __future__ import annotations

import csv
import html as html_module
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import ADMIN, SAMPLE_DATA, client_as, feature
from zugabe.cli import cli
from zugabe.config import load_settings
from zugabe.io.report_graphics import BarGroup, Series, render_bar_chart
from zugabe.services import Services
from zugabe.services.strategies import (
    CHARTS,
    COLUMNS,
    COOLING_MEASURES,
    COOLING_REACH_M,
    HOTSPOT_CLASS,
    Dashboard,
)
from zugabe.storage.contract import ProjectQuery

CRS = "EPSG:25832"
PLANNED = ("idea", "planning", "approved", "under_construction")
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def services(demo_instance: Path, app: Flask) -> Services:
    return app.extensions["zugabe"]


@pytest.fixture
def reader(demo_instance: Path, app: Flask) -> FlaskClient:
    """A viewer of Herne on the demo town."""
    return client_as(app, "h.viewer")


# ------------------------------------------------------------------- the independent side


def layer(services: Services, key: str) -> gpd.GeoDataFrame:
    features = services.store.layer_features(key)
    rows = [f.attributes | {"geometry": f.geometry} for f in features]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)


def projects(services: Services, measure_types: tuple[str, ...]) -> gpd.GeoDataFrame:
    found = services.store.list_projects(ProjectQuery(measure_types=measure_types))
    rows = [
        {"id": p.id, "status": p.attributes.status.value, "geometry": p.geometry} for p in found
    ]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)


def cities(services: Services) -> gpd.GeoDataFrame:
    districts = layer(services, "districts")[["municipality", "geometry"]]
    return (
        districts.dissolve(by="municipality").reset_index().rename(columns={"municipality": "unit"})
    )


def area_by_unit(
    things: gpd.GeoDataFrame, units: gpd.GeoDataFrame, weight: str | None = None
) -> pd.Series:
    """Per unit: the area of each thing inside it, or its ``weight`` times that share."""
    if things.empty:
        return pd.Series(0.0, index=units["unit"])
    things = things.assign(_whole=things.geometry.area, _w=things[weight] if weight else 0.0)
    pieces = gpd.overlay(things, units[["unit", "geometry"]], how="intersection")
    value = pieces.geometry.area
    if weight:
        value = pieces["_w"] * value / pieces["_whole"]
    return value.groupby(pieces["unit"]).sum().reindex(units["unit"], fill_value=0.0)


def count_by_unit(things: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> pd.Series:
    """Per unit: how many things have their representative point inside it."""
    if things.empty:
        return pd.Series(0.0, index=units["unit"])
    points = things.set_geometry(things.geometry.representative_point())
    joined = gpd.sjoin(points, units[["unit", "geometry"]], predicate="within")
    joined = joined[~joined.index.duplicated()]
    return joined.groupby("unit").size().reindex(units["unit"], fill_value=0).astype(float)


def share(part: pd.Series, whole: pd.Series) -> pd.Series:
    return (100 * part / whole.where(whole > 0)).fillna(0.0)


def expected_green_roofs(services: Services) -> pd.DataFrame:
    units = cities(services)
    roofs = layer(services, "green_roof_potential")
    green = roofs["green_roof_exists"].eq(True)
    work = projects(services, ("green_roof",))
    planned, done = work[work.status.isin(PLANNED)], work[work.status == "done"]
    table = pd.DataFrame(
        {
            "potential_m2": area_by_unit(roofs[~green], units, "suitable_area"),
            "existing_m2": area_by_unit(roofs[green], units, "suitable_area"),
            "planned_count": count_by_unit(planned, units),
            "planned_m2": area_by_unit(planned, units),
            "done_count": count_by_unit(done, units),
            "done_m2": area_by_unit(done, units),
        }
    )
    table["share_pct"] = share(table.planned_m2 + table.done_m2, table.potential_m2)
    return table


def expected_cooling(services: Services) -> pd.DataFrame:
    units = cities(services)
    heat = layer(services, "heat_stress")
    hot = heat[heat.stress_class >= HOTSPOT_CLASS][["geometry"]]
    work = projects(services, COOLING_MEASURES)
    planned = work[work.status.isin(PLANNED)]
    reach = gpd.GeoDataFrame(geometry=[planned.union_all().buffer(COOLING_REACH_M)], crs=CRS)
    reached = gpd.overlay(hot, reach, how="intersection")
    near = planned[
        planned.geometry.apply(lambda g: bool((hot.distance(g) <= COOLING_REACH_M).any()))
    ]
    table = pd.DataFrame(
        {
            "hotspot_m2": area_by_unit(hot, units),
            "reached_m2": area_by_unit(reached, units),
            "measures_count": count_by_unit(planned, units),
            "near_hotspot_count": count_by_unit(near, units),
        }
    )
    table["share_pct"] = share(table.reached_m2, table.hotspot_m2)
    return table


def expected_disconnection(services: Services) -> pd.DataFrame:
    catchments = layer(services, "cso_catchments").rename(columns={"name": "unit"})
    potential = layer(services, "disconnection_potential")[["disconnectable_area", "geometry"]]
    potential["density"] = potential.disconnectable_area / potential.geometry.area
    work = projects(services, ("disconnection",))
    planned, done = work[work.status.isin(PLANNED)], work[work.status == "done"]
    done_area = done.union_all()
    planned_area = planned.union_all().difference(done_area)

    def inside(area: shapely.Geometry) -> gpd.GeoDataFrame:
        parts = potential.assign(geometry=potential.geometry.intersection(area))
        parts = parts[~parts.geometry.is_empty]
        return parts.assign(value=parts.density * parts.geometry.area)

    def within_units(parts: gpd.GeoDataFrame) -> pd.Series:
        return area_by_unit(parts, catchments, "value")

    table = pd.DataFrame(
        {
            "overflow_frequency": catchments.set_index("unit").overflow_frequency,
            "potential_m2": area_by_unit(potential, catchments, "disconnectable_area"),
            "planned_count": count_by_unit(planned, catchments),
            "planned_potential_m2": within_units(inside(planned_area)),
            "done_count": count_by_unit(done, catchments),
            "done_potential_m2": within_units(inside(done_area)),
        }
    )
    table["share_pct"] = share(
        table.planned_potential_m2 + table.done_potential_m2, table.potential_m2
    )
    return table.sort_values("overflow_frequency", ascending=False, kind="stable")


def expected_attention(services: Services) -> pd.DataFrame:
    units = cities(services)
    result = services.synergy.compute(ADMIN)  # the grid itself is tested in test_synergy.py
    cells = gpd.GeoDataFrame(geometry=list(result.cells[result.attention]), crs=CRS)
    work = projects(services, tuple(services.vocabulary.measure_types))
    planned = work[work.status.isin(PLANNED)]
    hits = gpd.sjoin(cells, planned[["id", "geometry"]], predicate="intersects")
    served = cells.loc[sorted(set(hits.index))]
    centres = gpd.sjoin(cells.set_geometry(cells.representative_point()), units, predicate="within")
    centres = centres[~centres.index.duplicated()]
    hits = hits.join(centres["unit"])
    table = pd.DataFrame(
        {
            "attention_cells": count_by_unit(cells, units),
            "attention_m2": area_by_unit(cells, units),
            "with_projects": count_by_unit(served, units),
            "projects_count": hits.groupby("unit")["id"]
            .nunique()
            .reindex(units["unit"], fill_value=0)
            .astype(float),
        }
    )
    table["share_pct"] = share(table.with_projects, table.attention_cells)
    return table


EXPECTED = {
    "green-roofs": expected_green_roofs,
    "cooling": expected_cooling,
    "disconnection": expected_disconnection,
    "attention": expected_attention,
}


def dashboard(services: Services) -> Dashboard:
    return services.strategies.dashboard(ADMIN)


def csv_rows(client: FlaskClient, url: str) -> list[list[str]]:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


# ------------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("chart", CHARTS)
def test_each_chart_agrees_with_an_independent_overlay(services: Services, chart: str) -> None:
    expected = EXPECTED[chart](services)
    computed = dashboard(services).charts[chart]
    assert [u.name for u in computed.units] == list(expected.index)
    for unit, values in zip(computed.units, computed.values, strict=True):
        for column, _kind in COLUMNS[chart]:
            want = float(expected.loc[unit.name, column])
            assert values[column] == pytest.approx(want, rel=1e-6, abs=1e-3), (unit.name, column)
    # The demo town has something in every part of every chart: nothing passes by being zero.
    for column, kind in COLUMNS[chart]:
        if kind != "percent" and column != "existing_m2":
            assert expected[column].sum() > 0, column


def test_the_demo_town_figures_a_reviewer_can_check_by_eye(services: Services) -> None:
    """Two cities; every catchment of the layer, most overflows first; the green-roof
    projects of the demo (eleven: one built, one cancelled) counted where they are."""
    charts = dashboard(services).charts
    assert [u.name for u in charts["green-roofs"].units] == ["Bochum", "Herne"]
    roofs = charts["green-roofs"].values
    assert sum(r["planned_count"] for r in roofs) == 9  # ten, less the cancelled one
    assert sum(r["done_count"] for r in roofs) == 1
    frequencies = [r["overflow_frequency"] for r in charts["disconnection"].values]
    assert len(frequencies) == 6 and frequencies == sorted(frequencies, reverse=True)
    for row in charts["cooling"].values:
        assert 0 < row["reached_m2"] < row["hotspot_m2"]


def test_csv_has_the_charts_columns_and_a_row_per_unit(
    services: Services, reader: FlaskClient
) -> None:
    for chart in CHARTS:
        german = csv_rows(reader, f"/strategies/{chart}.csv?lang=de")
        english = csv_rows(reader, f"/strategies/{chart}.csv?lang=en")
        computed = dashboard(services).charts[chart]
        assert len(german[0]) == len(english[0]) == 1 + len(COLUMNS[chart])
        assert [r[0] for r in german[1:]] == [u.name for u in computed.units]
        assert german[1:] == english[1:]  # the figures do not change with the language
        for row, values in zip(german[1:], computed.values, strict=True):
            for cell, (column, kind) in zip(row[1:], COLUMNS[chart], strict=True):
                digits = 0 if kind in ("area", "count") else 1
                assert float(cell) == round(values[column], digits)
    assert csv_rows(reader, "/strategies/green-roofs.csv?lang=de")[0] == [
        "Stadt",
        "Potenzial (m²)",
        "Bereits begrünt (m²)",
        "Geplant (Anzahl)",
        "Geplant (m²)",
        "Umgesetzt (Anzahl)",
        "Umgesetzt (m²)",
        "Anteil (%)",
    ]
    assert csv_rows(reader, "/strategies/disconnection.csv?lang=en")[0][:3] == [
        "Overflow catchment",
        "Overflows per year",
        "Potential (m²)",
    ]
    response = reader.get("/strategies/cooling.csv")
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="zugabe-strategies-cooling.csv"'
    )


def test_the_page_shows_every_chart_with_its_map_and_download(reader: FlaskClient) -> None:
    response = reader.get("/strategies", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "script-src" not in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    assert '<html lang="de">' in html and "Strategien der Region auf einen Blick" in html
    for chart in CHARTS:
        section = re.search(rf'<section class="chart" id="{chart}".*?</section>', html, re.S)
        assert section, chart
        bars = ET.fromstring(
            re.search(r'<svg [^>]*class="bar-chart".*?</svg>', section[0], re.S)[0]
        )
        values = [r for r in bars.iter("{http://www.w3.org/2000/svg}rect") if r.get("data-value")]
        assert values, chart
        assert re.search(r'<svg [^>]*class="report-map"', section[0]), chart
        assert f'href="/strategies/{chart}.csv"' in section[0]
    english = html_module.unescape(reader.get("/strategies?lang=en").get_data(as_text=True))
    assert '<html lang="en">' in english and "The region's strategies at a glance" in english
    assert 'href="/strategies/cooling.csv?lang=en"' in english
    # the choice is remembered: the CSV without ?lang= now speaks English too
    assert csv_rows(reader, "/strategies/cooling.csv")[0][0] == "City"


def test_signed_out_visitors_are_sent_to_sign_in_and_get_no_figures(app: Flask) -> None:
    anonymous = app.test_client()
    page = anonymous.get("/strategies", headers={"Accept": "text/html"})
    assert page.status_code == 302 and page.headers["Location"].startswith("/login?next=")
    assert anonymous.get("/strategies/green-roofs.csv").status_code == 401
    reader = client_as(app, "h.viewer")
    assert reader.get("/strategies/rainbows.csv").status_code == 404
    assert reader.get("/strategies?lang=fr").status_code == 400


def test_figures_follow_every_write_even_from_another_process(
    services: Services, reader: FlaskClient, demo_instance: Path
) -> None:
    """Refreshed on every visit: a green roof built by another ``Services`` on the same store
    (as another worker or the CLI would) is on the next page, without a restart."""
    before = csv_rows(reader, "/strategies/green-roofs.csv?lang=en")
    assert csv_rows(reader, "/strategies/green-roofs.csv?lang=en") == before
    herne = next(u for u in dashboard(services).charts["green-roofs"].units if u.name == "Herne")
    roof = herne.geometry.representative_point().buffer(12, quad_segs=2)
    lonlat = services.projects.reprojector.to_wgs84(roof)
    other = Services.open(load_settings({"instance_path": demo_instance}))
    try:
        other.projects.create(
            feature(
                json.loads(shapely.to_geojson(lonlat)),
                title="Gründach Rathaus",
                department="green",
                measure_type="green_roof",
                status="done",
                start="2025-04-01",
                end="2025-09-30",
            ),
            ADMIN,
        )
    finally:
        other.close()
    after = csv_rows(reader, "/strategies/green-roofs.csv?lang=en")
    row = {r[0]: r for r in after[1:]}["Herne"]
    old = {r[0]: r for r in before[1:]}["Herne"]
    assert int(row[5]) == int(old[5]) + 1  # built (number)
    assert int(row[6]) == pytest.approx(int(old[6]) + roof.area, abs=1)  # built (m²)


def test_names_from_the_data_are_escaped_on_the_page_and_in_the_csv(
    services: Services, reader: FlaskClient, tmp_path: Path
) -> None:
    districts = json.loads((SAMPLE_DATA / "layers" / "districts.geojson").read_text("utf-8"))
    for f in districts["features"]:
        if f["properties"]["municipality"] == "Herne":
            f["properties"]["municipality"] = XSS
    catchments = json.loads((SAMPLE_DATA / "layers" / "cso_catchments.geojson").read_text("utf-8"))
    catchments["features"][0]["properties"]["name"] = '=HYPERLINK("http://evil")'
    for key, doc in (("districts", districts), ("cso_catchments", catchments)):
        path = tmp_path / f"{key}.geojson"
        path.write_text(json.dumps(doc), "utf-8")
        services.layers.import_file(path, key, ADMIN)
    html = reader.get("/strategies").get_data(as_text=True)
    assert XSS not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    rows = csv_rows(reader, "/strategies/cooling.csv")
    assert XSS in [r[0] for r in rows]  # a CSV cell is text, not markup
    names = [r[0] for r in csv_rows(reader, "/strategies/disconnection.csv")]
    assert '\'=HYPERLINK("http://evil")' in names  # no formula in a spreadsheet


def test_without_layers_the_page_says_what_is_missing(app: Flask) -> None:
    reader = client_as(app, "h.viewer")
    html = reader.get("/strategies").get_data(as_text=True)
    assert html.count("Nicht gespeichert:") == len(CHARTS)
    assert "green_roof_potential" in html
    assert csv_rows(reader, "/strategies/attention.csv")[1:] == []


def test_a_district_without_a_city_counts_alone(services: Services, tmp_path: Path) -> None:
    districts = json.loads((SAMPLE_DATA / "layers" / "districts.geojson").read_text("utf-8"))
    for f in districts["features"]:
        del f["properties"]["municipality"]
    path = tmp_path / "districts.geojson"
    path.write_text(json.dumps(districts), "utf-8")
    services.layers.import_file(path, "districts", ADMIN)
    names = [u.name for u in dashboard(services).charts["cooling"].units]
    assert names == sorted(f["properties"]["name"] for f in districts["features"])
    total = sum(r["hotspot_m2"] for r in dashboard(services).charts["cooling"].values)
    heat = layer(services, "heat_stress")
    hot = heat[heat.stress_class >= HOTSPOT_CLASS].geometry
    town = shapely.union_all([f.geometry for f in services.store.layer_features("districts")])
    assert total == pytest.approx(float(np.sum(hot.intersection(town).area)), rel=1e-6)


def test_the_command_line_writes_the_same_tables(
    reader: FlaskClient, demo_instance: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    out = tmp_path / "csv"
    result = runner.invoke(cli, ["--instance", str(demo_instance), "strategies", "-o", str(out)])
    assert result.exit_code == 0, result.output
    for chart in CHARTS:
        written = (out / f"zugabe-strategies-{chart}.csv").read_bytes()
        assert written == reader.get(f"/strategies/{chart}.csv?lang=de").data
    english = runner.invoke(
        cli, ["--instance", str(demo_instance), "strategies", "cooling", "--lang", "en"]
    )
    assert english.exit_code == 0, english.output
    assert english.output.splitlines()[:2] == [
        "# cooling",
        reader.get("/strategies/cooling.csv?lang=en").get_data(as_text=True).splitlines()[0],
    ]


def test_a_bar_chart_escapes_its_words_and_draws_no_bar_for_a_missing_value() -> None:
    chart = render_bar_chart(
        [BarGroup(XSS, (10.0, float("nan")), ("10", "–")), BarGroup("B", (5.0, 0.0), ("5", "0"))],
        [Series("potential", "Potenzial <m²>", "#9e9e9e"), Series("done", "done", "#009e73")],
        label="Diagramm & Test",
    )
    root = ET.fromstring(str(chart))  # well-formed: every word escaped
    bars = {
        (r.get("data-group"), r.get("data-series")): float(r.get("width") or 0)
        for r in root.iter("{http://www.w3.org/2000/svg}rect")
        if r.get("data-series") and r.get("data-group")
    }
    assert bars[(XSS, "potential")] == 2 * bars[("B", "potential")] > 0  # one scale from zero
    assert bars[(XSS, "done")] == bars[("B", "done")] == 0
    assert XSS not in str(chart) and root.get("aria-label") == "Diagramm & Test"
