"""The checklist for water-sensitive development plans (issue 15, item 1).

The definition is refused at start when broken; the evidence of a hand-drawn plan in the demo
town is compared with the same areas computed here, independently, with shapely and pyproj on
the demo town's layer files; planners answer through the API and the page form, the score
follows; the fact sheet, the regional overview, its CSV and the CLI show it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from pyproj import Transformer
from shapely.geometry import Polygon, shape

from tests.conftest import SAMPLE_DATA, actor_for, client_as
from zugabe.cli import cli
from zugabe.domain.checklist import ChecklistAnswer, default_checklist_path, score
from zugabe.errors import ConfigError
from zugabe.services import Services
from zugabe.services.demo import create_demo_accounts
from zugabe.services.demo_checklists import load_demo_checklists
from zugabe.storage.contract import AuditQuery, ProjectQuery
from zugabe.web import create_app

HTML = {"Accept": "text/html"}
TO_METRES = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True)

# A plan drawn by hand over the low valley of the Wiesenbach (lon/lat): it takes in the
# brook, the flooded hollow of "Wohnen am Wiesenbach" and part of the houses beside it.
HAND_DRAWN = [
    [7.2258, 51.5036],
    [7.2312, 51.5038],
    [7.2318, 51.5071],
    [7.2262, 51.5076],
    [7.2258, 51.5036],
]


def _plan_feature(coordinates: list[list[float]], organisation: str = "bochum") -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [coordinates]},
        "properties": {
            "title": "Bebauungsplan Nr. 999 „Am Bachufer“",
            "organisation": organisation,
            "department": "planning",
            "measure_type": "development_plan",
            "status": "planning",
            "start": "2027-01-01",
            "end": "2028-12-31",
        },
    }


def _metres(geometry: Any) -> Any:
    return shapely.transform(geometry, lambda xy: np.column_stack(TO_METRES.transform(*xy.T)))


def _layer(key: str) -> list[tuple[Any, dict[str, Any]]]:
    """The demo town's layer file in metres: (geometry, properties) per feature."""
    data = json.loads((SAMPLE_DATA / "layers" / f"{key}.geojson").read_text("utf-8"))
    return [(_metres(shape(f["geometry"])), f["properties"]) for f in data["features"]]


def _evidence(checklist: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        item["evidence"]["key"]: item["evidence"]
        for theme in checklist["themes"]
        for item in theme["items"]
        if item["evidence"] is not None
    }


def _items(checklist: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for theme in checklist["themes"] for item in theme["items"]}


def _plan(services: Services, title_part: str) -> int:
    return next(
        p.id
        for p in services.store.list_projects(ProjectQuery(measure_types=("development_plan",)))
        if title_part in p.attributes.title
    )


# --------------------------------------------------------------------------- the definition


def _broken(tmp_path: Path, change: Any) -> Path:
    data = tomllib.loads(default_checklist_path().read_text("utf-8"))
    change(data)
    path = tmp_path / "checklist.toml"
    path.write_text(_toml(data), "utf-8")
    return path


def _toml(data: dict[str, Any]) -> str:
    """Just enough TOML writing for the checklist's shape (tables in arrays, inline tables)."""

    def value(v: Any) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        return json.dumps(v, ensure_ascii=False)

    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, list)]
    for key, entries in data.items():
        if isinstance(entries, list):
            for entry in entries:
                lines.append(f"\n[[{key}]]")
                lines += [f"{k} = {value(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


def test_the_shipped_checklist_covers_every_theme_of_the_issue(app: Flask) -> None:
    checklist = app.extensions["zugabe"].checklists.checklist
    assert [t.key for t in checklist.themes] == [
        "rainwater",
        "heavy_rain",
        "green_roofs",
        "unsealing",
        "trees",
        "disconnection",
        "street_water",
        "heat",
    ]
    for theme in checklist.themes:
        assert any(item.theme == theme.key for item in checklist.items), theme.key
    hooks = " ".join(hook for item in checklist.items for hook in item.legal)
    for number in ("Nr. 14", "Nr. 15", "Nr. 16", "Nr. 20", "Nr. 25", "LWG NRW § 44"):
        assert number in hooks
    assert all(item.question.de and item.question.en for item in checklist.items)


def test_a_broken_checklist_refuses_the_start_naming_file_item_and_field(
    tmp_path: Path,
) -> None:
    def spoil(data: dict[str, Any]) -> None:
        data["items"][0]["theme"] = "regenwasser"
        data["items"][1]["legal"] = []
        data["items"][2]["answer"] = "ja"
        data["items"][4]["required"] = {"operator": "=>", "value": 5}
        data["evidence"][0]["layer"] = "starkregen"
        data["evidence"][2]["where"][0]["attribute"] = "klasse"

    path = _broken(tmp_path, spoil)
    with pytest.raises(ConfigError) as refused:
        create_app({"instance_path": tmp_path / "instance", "checklist_file": str(path)})
    text = str(refused.value)
    assert f"checklist file {path}: 6 problems" in text
    assert "item 'infiltration_dwa_a138': theme: unknown theme 'regenwasser'" in text
    assert "item 'retention_on_site': legal: needs a list of legal hooks" in text
    assert "item 'rainwater_reuse': answer: unknown field" in text
    assert "item 'emergency_flow_paths': required.operator: '=>' is not one of" in text
    assert "evidence 'heavy_rain_share': layer: unknown layer 'starkregen'" in text
    assert (
        "evidence 'green_roof_area': where[0].attribute: layer 'green_roof_potential' "
        "has no attribute 'klasse'" in text
    )


def test_a_checklist_that_is_no_toml_or_names_an_item_twice_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[items]\nid = 1\n", "utf-8")
    with pytest.raises(ConfigError, match=r"checklist file .*bad.toml: not valid TOML"):
        create_app({"instance_path": tmp_path / "a", "checklist_file": str(bad)})
    twice = _broken(tmp_path, lambda d: d["items"].append(dict(d["items"][0])))
    with pytest.raises(ConfigError, match="items: 'infiltration_dwa_a138' is declared twice"):
        create_app({"instance_path": tmp_path / "b", "checklist_file": str(twice)})


def test_the_score_weighs_required_twice_and_planned_half() -> None:
    from datetime import UTC, datetime

    def said(item: str, answer: str) -> ChecklistAnswer:
        return ChecklistAnswer(item, answer, "", "a", datetime(2026, 1, 1, tzinfo=UTC))

    relevances = {"a": "required", "b": "recommended", "c": "not_relevant", "d": "required"}
    assert score(relevances, {}) == 0
    assert score(relevances, {"a": said("a", "fulfilled")}) == 40  # 2 of 5
    assert score(relevances, {"a": said("a", "planned"), "b": said("b", "fulfilled")}) == 40
    answers = {k: said(k, "not_applicable") for k in "abcd"}
    assert score(relevances, answers) == 100
    assert score({"c": "not_relevant"}, {}) is None


# --------------------------------------------------------------------------- evidence


def test_evidence_of_a_hand_drawn_plan_matches_the_areas_of_the_demo_layers(
    demo_instance: Path, app: Flask
) -> None:
    planner = client_as(app, "b.planner")
    created = planner.post("/api/projects", json=_plan_feature(HAND_DRAWN))
    assert created.status_code == 201, created.get_json()
    checklist = planner.get(f"/api/projects/{created.get_json()['id']}/checklist").get_json()
    evidence = _evidence(checklist)

    plan = _metres(Polygon(HAND_DRAWN))
    hazard = _layer("heavy_rain_hazard")

    def share(features: list[Any]) -> float:
        return 100 * shapely.union_all(features).intersection(plan).area / plan.area

    any_depth = share([g for g, _p in hazard])
    deep = share([g for g, p in hazard if p["depth_class"] >= 3])
    assert any_depth > 5 and deep > 0  # the plan was drawn over the flooded valley
    assert evidence["heavy_rain_share"]["value"] == pytest.approx(any_depth, abs=0.06)
    assert evidence["heavy_rain_deep_share"]["value"] == pytest.approx(deep, abs=0.06)
    by_class = {b["class"]: b["value"] for b in evidence["heavy_rain_share"]["breakdown"]}
    for depth_class in (1, 2, 3, 4):
        expected = share([g for g, p in hazard if p["depth_class"] == depth_class] or [Polygon()])
        assert by_class[depth_class] == pytest.approx(expected, abs=0.06), depth_class

    roofs = [
        p["suitable_area"] * g.intersection(plan).area / g.area
        for g, p in _layer("green_roof_potential")
        if p["potential_class"] >= 2 and g.intersects(plan)
    ]
    assert evidence["green_roof_area"]["value"] == pytest.approx(sum(roofs), abs=0.5)
    assert evidence["green_roof_area"]["unit"] == "m²"

    disconnectable = [
        p["disconnectable_area"] * g.intersection(plan).area / g.area
        for g, p in _layer("disconnection_potential")
        if g.intersects(plan) and p.get("disconnectable_area") is not None
    ]
    assert evidence["disconnectable_area"]["value"] == pytest.approx(sum(disconnectable), abs=0.5)

    hot = [g for g, p in _layer("heat_stress") if p["stress_class"] >= 4]
    assert evidence["heat_stress_share"]["value"] == pytest.approx(share(hot), abs=0.06)

    nearest = min(plan.distance(g) for g, _p in _layer("water_bodies"))
    assert evidence["receiving_water_distance"]["value"] == pytest.approx(nearest, abs=0.06)
    assert nearest == 0  # the brook runs through the plan: its discharge item is required

    frequency = max(
        p["overflow_frequency"] for g, p in _layer("cso_catchments") if g.intersects(plan)
    )
    assert evidence["overflow_frequency"]["value"] == pytest.approx(frequency)

    items = _items(checklist)
    assert items["receiving_water_discharge"]["relevance"] == "required"
    assert items["flood_adapted_building"]["relevance"] == "required"  # deep water: > 0 %
    assert items["emergency_flow_paths"]["relevance"] == "required"  # 5 % or more


def test_a_plan_far_from_any_hazard_gets_those_items_as_not_relevant(
    demo_instance: Path, app: Flask
) -> None:
    services: Services = app.extensions["zugabe"]
    plan = services.store.get_project(_plan(services, "Brückenfeld-Mitte"))
    assert plan is not None
    hazard = [g for g, _p in _layer("heavy_rain_hazard")]
    assert not shapely.union_all(hazard).intersects(plan.geometry)  # checked by hand, too
    checklist = client_as(app, "h.viewer").get(f"/api/projects/{plan.id}/checklist").get_json()
    items = _items(checklist)
    assert _evidence(checklist)["heavy_rain_share"]["value"] == 0
    assert items["emergency_flow_paths"]["relevance"] == "not_relevant"
    assert items["flood_adapted_building"]["relevance"] == "not_relevant"
    assert items["infiltration_dwa_a138"]["relevance"] == "required"  # no evidence: default


def test_without_a_stored_layer_the_evidence_says_no_data(tmp_path: Path) -> None:
    app = create_app({"instance_path": tmp_path / "instance"})
    app.testing = True
    try:
        planner = client_as(app, "b.planner")
        created = planner.post("/api/projects", json=_plan_feature(HAND_DRAWN))
        checklist = planner.get(f"/api/projects/{created.get_json()['id']}/checklist").get_json()
        heavy = _evidence(checklist)["heavy_rain_share"]
        assert heavy["stored"] is False and heavy["value"] is None
        assert _items(checklist)["emergency_flow_paths"]["relevance"] == "recommended"  # default
    finally:
        app.extensions["zugabe"].close()


# --------------------------------------------------------------------------- answering


def test_planners_answer_and_the_score_follows_audited(demo_instance: Path, app: Flask) -> None:
    services: Services = app.extensions["zugabe"]
    plan = _plan(services, "Wohnen am Wiesenbach")  # Bochum's
    url = f"/api/projects/{plan}/checklist"
    planner = client_as(app, "b.planner")
    first = planner.get(url)
    assert first.status_code == 200 and first.get_json()["score"] == 0
    assert first.get_json()["may_answer"] is True
    etag = first.headers["ETag"]

    answered = planner.patch(
        url,
        json={"answers": {"green_roofs": {"answer": "fulfilled", "note": "Extensiv, 10 cm"}}},
        headers={"If-Match": etag},
    )
    assert answered.status_code == 200, answered.get_json()
    body = answered.get_json()
    assert body["score"] > 0
    item = _items(body)["green_roofs"]
    assert item["answer"]["answer"] == "fulfilled" and item["answer"]["note"] == "Extensiv, 10 cm"
    assert item["answer"]["answered_by"] == "b.planner"
    assert answered.headers["ETag"] != etag

    stale = planner.patch(url, json={"answers": {"green_roofs": None}}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert _items(planner.get(url).get_json())["green_roofs"]["answer"] is not None

    refused = planner.patch(
        url,
        json={
            "answers": {
                "green_facades": {"answer": "not_applicable", "note": "  "},
                "tree_planting": {"answer": "yes"},
                "no_such_item": {"answer": "fulfilled"},
            }
        },
        headers={"Accept-Language": "de"},
    )
    assert refused.status_code == 422
    pointers = {e["pointer"]: e["detail"] for e in refused.get_json()["errors"]}
    assert pointers == {
        "/answers/green_facades/note": "Bitte in der Notiz begründen, warum der Punkt nicht "
        "zutrifft.",
        "/answers/tree_planting/answer": "Bitte eine dieser Antworten geben: fulfilled, planned, "
        "not_applicable",
        "/answers/no_such_item": "Unbekannter Prüfpunkt no_such_item",
    }
    assert _items(planner.get(url).get_json())["green_facades"]["answer"] is None  # nothing

    everything = {item.id: {"answer": "fulfilled"} for item in services.checklists.checklist.items}
    full = planner.put(url, json={"answers": everything})
    assert full.status_code == 200 and full.get_json()["score"] == 100
    assert full.get_json()["open"] == 0
    replaced = planner.put(url, json={"answers": {"green_roofs": {"answer": "planned"}}})
    kept = [i for i in _items(replaced.get_json()).values() if i["answer"] is not None]
    assert [i["id"] for i in kept] == ["green_roofs"]

    entries = [e.event for e in services.store.list_audit(AuditQuery(action="checklist.answer"))]
    assert [e.object_id for e in entries] == [str(plan)] * len(entries) and len(entries) == 3
    assert entries[0].actor == "b.planner"
    assert entries[0].after == {"green_roofs": {"answer": "fulfilled", "note": "Extensiv, 10 cm"}}


def test_who_may_answer_and_read(demo_instance: Path, app: Flask) -> None:
    services: Services = app.extensions["zugabe"]
    plan = _plan(services, "Wohnen am Wiesenbach")  # Bochum's
    url = f"/api/projects/{plan}/checklist"
    change = {"answers": {"green_roofs": {"answer": "planned"}}}
    other = client_as(app, "h.planner")
    assert other.get(url).get_json()["may_answer"] is False
    refused = other.patch(url, json=change)
    assert refused.status_code == 403
    assert "planner in organisation bochum" in refused.get_json()["detail"]
    assert client_as(app, "b.coordinator").patch(url, json=change).status_code == 403
    assert client_as(app, "h.viewer").get(url).status_code == 200
    assert app.test_client().get(url).status_code == 401
    assert client_as(app, "r.admin").patch(url, json=change).status_code == 200
    road = client_as(app, "r.admin").get("/api/projects/1/checklist")
    assert road.status_code == 409 and "not a development plan" in road.get_json()["detail"]
    assert client_as(app, "r.admin").get("/api/projects/99999/checklist").status_code == 404


def test_the_page_form_answers_and_shows_the_new_score(demo_instance: Path, app: Flask) -> None:
    services: Services = app.extensions["zugabe"]
    plan = _plan(services, "Wohnen am Wiesenbach")
    planner = client_as(app, "b.planner")
    page = planner.get(f"/checklists/projects/{plan}", headers=HTML).get_data(as_text=True)
    assert 'id="checklist-score">0 %<' in page and 'name="answer__green_roofs"' in page
    etag = re.search(r'name="etag" value="([^"]+)"', page)
    assert etag is not None
    saved = planner.post(
        f"/checklists/projects/{plan}",
        data={
            "answer__green_roofs": "fulfilled",
            "note__green_roofs": "<b>10 cm</b>",
            "etag": etag[1],
        },
    )
    assert saved.status_code == 303 and saved.headers["Location"].endswith(f"/projects/{plan}")
    page = planner.get(f"/checklists/projects/{plan}", headers=HTML).get_data(as_text=True)
    assert 'id="checklist-score">0 %<' not in page
    assert "&lt;b&gt;10 cm&lt;/b&gt;" in page and "<b>10 cm" not in page
    refused = planner.post(
        f"/checklists/projects/{plan}?lang=en",
        data={"answer__green_roofs": "not_applicable", "note__green_roofs": ""},
    )
    assert refused.status_code == 422
    assert "say in the note why the item does not apply" in refused.get_data(as_text=True)
    viewer = client_as(app, "h.viewer").get(f"/checklists/projects/{plan}", headers=HTML)
    assert viewer.status_code == 200 and "checklist-form" not in viewer.get_data(as_text=True)


def test_the_fact_sheet_of_a_plan_shows_its_checklist(demo_instance: Path, app: Flask) -> None:
    services: Services = app.extensions["zugabe"]
    plan = _plan(services, "Wohnen am Wiesenbach")
    client = client_as(app, "b.planner")
    client.patch(
        f"/api/projects/{plan}/checklist",
        json={"answers": {"green_roofs": {"answer": "fulfilled", "note": "Extensiv"}}},
    )
    sheet = client.get(f"/reports/projects/{plan}?lang=en", headers=HTML).get_data(as_text=True)
    assert "Checklist for water-sensitive development plans" in sheet
    assert "Share in heavy-rain hazard zones:" in sheet and "Extensiv" in sheet
    assert f'href="/checklists/projects/{plan}?lang=en"' in sheet
    road = client.get("/reports/projects/1", headers=HTML).get_data(as_text=True)
    assert 'id="checklist"' not in road


# --------------------------------------------------------------------------- the region


def test_the_overview_compares_cities_and_lists_the_items_most_often_open(
    demo_instance: Path, app: Flask
) -> None:
    services: Services = app.extensions["zugabe"]
    create_demo_accounts(services)
    assert load_demo_checklists(services) == 2
    assert load_demo_checklists(services) == 0  # already answered: not again
    reviewer = client_as(app, "h.coordinator")
    page = reviewer.get("/reports/checklists?lang=en", headers=HTML).get_data(as_text=True)
    rows = re.findall(
        r"<tr><td>([^<]+)</td><td>(\d+)</td><td>(\d+)</td><td>([^<]+)</td>",
        page.split('id="checklist-cities"')[1].split("</table>")[0],
    )
    by_city = {name: (int(plans), int(checked), mean) for name, plans, checked, mean in rows}
    reader = actor_for(services, "h.viewer")
    bochum = services.checklists.of_project(reader, _plan(services, "Wohnen am Wiesenbach"))
    assert 0 < bochum.score < 100
    assert by_city["City of Bochum"] == (4, 1, f"{bochum.score} %")
    assert by_city["City of Herne"][:2] == (3, 1)
    overview = services.checklists.overview(reader)
    top, count = overview.open_by_item[0]
    assert count == max(c for _i, c in overview.open_by_item) and count <= 7
    most_open = page.split('id="checklist-most-open"')[1].split("</table>")[0]
    first_row = most_open.split("<tbody>")[1].split("</tr>")[0]
    assert top.question.en in first_row and f"<td>{count}</td>" in first_row

    table = reviewer.get("/reports/checklists.csv?lang=en")
    assert table.status_code == 200
    assert table.headers["Content-Disposition"] == 'attachment; filename="zugabe-checklists.csv"'
    lines = list(csv.reader(io.StringIO(table.get_data(as_text=True))))
    assert lines[0][:5] == [
        "project_id",
        "Development plan",
        "Organisation",
        "Completion score",
        "open items",
    ]
    assert len(lines) == 1 + 7
    wiesenbach = next(line for line in lines if "Wiesenbach" in line[1])
    assert wiesenbach[2] == "bochum" and int(wiesenbach[3]) == bochum.score
    header = lines[0]
    assert wiesenbach[header.index("green_roofs")] == "fulfilled"
    assert wiesenbach[header.index("disconnect_existing_areas")] == "not_applicable"
    untouched = next(line for line in lines if "Sieperfeld" in line[1])
    assert untouched[3] == "" and "open" in untouched[5:]


def test_zugabe_checklist_prints_the_evidence_and_the_score(
    demo_instance: Path, app: Flask, runner: CliRunner
) -> None:
    services: Services = app.extensions["zugabe"]
    plan = _plan(services, "Wohnen am Wiesenbach")
    client_as(app, "b.planner").patch(
        f"/api/projects/{plan}/checklist",
        json={"answers": {"green_roofs": {"answer": "fulfilled", "note": "Extensiv"}}},
    )
    args = ["--instance", str(demo_instance), "checklist", str(plan)]
    printed = runner.invoke(cli, [*args, "--lang", "en"])
    assert printed.exit_code == 0, printed.output
    assert "Completion score: " in printed.output
    assert re.search(r"green_roofs\s+\w+\s+fulfilled", printed.output)
    assert "Share in heavy-rain hazard zones: " in printed.output
    as_json = runner.invoke(cli, [*args, "--json"])
    assert json.loads(as_json.output)["project"]["id"] == plan
    missing = runner.invoke(cli, ["--instance", str(demo_instance), "checklist", "1"])
    assert missing.exit_code != 0


def test_deleting_a_plan_deletes_its_answers(demo_instance: Path, app: Flask) -> None:
    services: Services = app.extensions["zugabe"]
    client: FlaskClient = client_as(app, "b.planner")
    created = client.post("/api/projects", json=_plan_feature(HAND_DRAWN)).get_json()
    url = f"/api/projects/{created['id']}/checklist"
    client.patch(url, json={"answers": {"green_roofs": {"answer": "planned"}}})
    assert services.store.checklist_answers([created["id"]])
    assert client.delete(f"/api/projects/{created['id']}").status_code == 204
    assert services.store.checklist_answers([created["id"]]) == {}
    assert client.get(url).status_code == 404  # no such project any more
