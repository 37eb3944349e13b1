"""The synergy grid (Flächenkulisse): measures, utilities, weights, ranks, attention areas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import ADMIN
from zugabe.domain.layers import default_layers_folder, load_layer_definitions
from zugabe.domain.synergy import (
    Criterion,
    Utility,
    default_synergy_path,
    load_synergy_config,
)
from zugabe.engine.synergy import CriterionInput, square_grid, synergy_grid, utility_of
from zugabe.errors import ConfigError

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
LINEAR = Utility("linear", ((0.0, 0.0), (0.5, 1.0)))


def criterion(key: str, measure: str, utility: Utility = LINEAR, weight: float = 1.0) -> Criterion:
    return Criterion(key, {"de": key, "en": key}, "x", measure, None, (), (), utility, weight)


def test_linear_utility_interpolates_and_is_flat_outside() -> None:
    measures = np.array([-1.0, 0.0, 0.25, 0.5, 3.0, np.nan])
    assert utility_of(LINEAR, measures).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0, 0.0]


def test_class_utility_takes_the_first_bound_above() -> None:
    classes = Utility("classes", ((5.0, 0.0), (15.0, 0.5), (1e9, 1.0)))
    measures = np.array([0.0, 4.99, 5.0, 14.0, 15.0, 40.0, np.nan])
    assert utility_of(classes, measures).tolist() == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0, 0.0]


def test_grid_is_aligned_to_the_cell_size() -> None:
    cells = square_grid((105.0, 220.0, 390.0, 310.0), 100.0)
    assert len(cells) == 3 * 2
    assert shapely.total_bounds(cells).tolist() == [100.0, 200.0, 400.0, 400.0]


def test_measures_per_cell() -> None:
    cells = square_grid((0.0, 0.0, 200.0, 100.0), 100.0)  # two cells side by side
    half = shapely.box(0, 0, 50, 100)  # half of the left cell
    line = shapely.LineString([(10, 50), (190, 50)])  # 90 m in each cell
    points = shapely.points([(10, 10), (20, 20), (150, 50)])
    inputs = {
        "share": CriterionInput(np.array([half])),
        "length": CriterionInput(np.array([line])),
        "count": CriterionInput(points),
        "max": CriterionInput(points, np.array([2.0, 4.0, 1.0])),
    }
    crits = [
        criterion("share", "area_share"),
        criterion("length", "length", Utility("linear", ((0, 0), (90, 1)))),
        criterion("count", "count", Utility("linear", ((0, 0), (2, 1)))),
        criterion("max", "max_value", Utility("linear", ((0, 0), (4, 1)))),
    ]
    result = synergy_grid(cells, crits, inputs, attention_share=0.5)
    assert result.measures["share"].tolist() == [0.5, 0.0]
    assert result.measures["length"].tolist() == pytest.approx([90.0, 90.0])
    assert result.measures["count"].tolist() == [2.0, 1.0]
    assert result.measures["max"].tolist() == [4.0, 1.0]
    # utilities left: 1, 1, 1, 1 → score 1; right: 0, 1, 0.5, 0.25 → 0.4375
    assert result.score.tolist() == pytest.approx([1.0, 0.4375])
    assert result.rank.tolist() == [1, 2]
    assert result.attention.tolist() == [True, False]


def test_weights_decide_the_ranking() -> None:
    cells = square_grid((0.0, 0.0, 200.0, 100.0), 100.0)
    left, right = shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)
    inputs = {"a": CriterionInput(np.array([left])), "b": CriterionInput(np.array([right]))}
    heavy_a = synergy_grid(
        cells, [criterion("a", "area_share", weight=3), criterion("b", "area_share")], inputs, 0.5
    )
    heavy_b = synergy_grid(
        cells, [criterion("a", "area_share"), criterion("b", "area_share", weight=3)], inputs, 0.5
    )
    assert heavy_a.rank.tolist() == [1, 2] and heavy_b.rank.tolist() == [2, 1]
    assert heavy_a.score.tolist() == pytest.approx([0.75, 0.25])


def test_cells_without_any_score_are_never_attention_areas() -> None:
    cells = square_grid((0.0, 0.0, 300.0, 100.0), 100.0)
    inputs = {"a": CriterionInput(np.array([shapely.box(0, 0, 100, 100)]))}
    result = synergy_grid(cells, [criterion("a", "area_share")], inputs, attention_share=1.0)
    assert result.attention.tolist() == [True, False, False]


def test_shipped_criteria_load() -> None:
    config = load_synergy_config(
        default_synergy_path(), load_layer_definitions(default_layers_folder())
    )
    assert config.cell_size_m == 100
    assert {c.key for c in config.criteria} >= {"flood_hazard", "poor_sewers", "planned_roadworks"}


def criterion_toml(**fields: str) -> str:
    entry = {
        "key": '"x"',
        "label": '{de = "x", en = "x"}',
        "source": '"trees"',
        "measure": '"count"',
        "utility": '{kind = "linear", points = [[0, 0], [1, 1]]}',
    } | fields
    return "[[criteria]]\n" + "".join(f"{k} = {v}\n" for k, v in entry.items())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (criterion_toml(source='"unicorns"'), "unknown source 'unicorns'"),
        (criterion_toml(measure='"volume"'), "measure 'volume' is not one of"),
        (
            criterion_toml(measure='"max_value"', attribute='"wingspan"'),
            "layer 'trees' has no attribute 'wingspan'",
        ),
        (
            criterion_toml(utility='{kind = "linear", points = [[1, 0], [0, 2]]}'),
            "utilities must lie between 0 and 1",
        ),
        (criterion_toml(weight="0"), "weight must be a positive number"),
        ("cell_size_m = -5\n" + criterion_toml(), "cell_size_m must be a positive number"),
    ],
)
def test_broken_criteria_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "synergy.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_synergy_config(path, load_layer_definitions(default_layers_folder()))
    assert message in caught.value.detail
    assert str(path) in caught.value.detail


def test_synergy_grid_of_the_demo_town(client: FlaskClient, app: Flask) -> None:
    """Worked example: the demo town's attention areas lie where the planted situations are."""
    from zugabe.services.demo import load_demo_layers, load_demo_projects

    services = app.extensions["zugabe"]
    load_demo_projects(services.projects, SAMPLE_DATA, ADMIN)
    load_demo_layers(services.layers, SAMPLE_DATA, ADMIN)
    response = client.get("/api/synergy")
    assert response.status_code == 200
    grid = response.get_json()
    cells = grid["features"]
    attention = [c for c in cells if c["properties"]["attention_area"]]
    scored = [c for c in cells if c["properties"]["score"] > 0]
    assert len(attention) == int(np.ceil(len(scored) * 0.1))
    assert [c["properties"]["rank"] for c in cells] == list(range(1, len(cells) + 1))
    # The Bahnhofstraße: road renewal over sewers in poor condition (planted situation A).
    renewal = client.get(
        "/api/projects?q=Fahrbahnerneuerung%20Bahnhofstra%C3%9Fe%201.%20BA"
    ).get_json()
    road = shapely.geometry.shape(renewal["features"][0]["geometry"])
    best = [shapely.geometry.shape(c["geometry"]) for c in attention]
    assert any(cell.intersects(road) for cell in best)
    top = cells[0]["properties"]
    assert top["poor_sewers"]["utility"] > 0 and top["planned_roadworks"]["utility"] > 0

    districts = client.get("/api/synergy?cells=districts").get_json()["features"]
    assert len(districts) == 7
    assert client.get("/api/synergy?cell_size=1").status_code == 400
