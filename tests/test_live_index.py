"""The detection index kept in memory between saves stays in step with the store.

Saves update it incrementally; changes it was not told about (another process, a layer
import) make it rebuild. Either way the cases after a save are those a batch run finds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import actor_for, feature
from zugabe.config import Settings
from zugabe.services import Services


def line(dx: float) -> dict[str, Any]:
    """A street-long line in Herne, moved east by ``dx`` degrees."""
    return {
        "type": "LineString",
        "coordinates": [[7.2101 + dx, 51.5402], [7.2135 + dx, 51.5411]],
    }


def sewer(dx: float = 0.0, **properties: Any) -> dict[str, Any]:
    return feature(
        line(dx),
        title="Kanalsanierung",
        department="drainage",
        measure_type="sewer_rehabilitation",
        start="2027-06-01",
        end="2027-12-31",
        **properties,
    )


def rules_of(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (
            c["properties"]["rule"],
            c["properties"]["subject_a"]["key"],
            c["properties"]["subject_b"]["key"],
        )
        for c in doc["cases"]
    }


def test_saves_edits_and_deletes_leave_what_a_batch_run_finds(
    app: Flask, client: FlaskClient
) -> None:
    services: Services = app.extensions["zugabe"]
    services.cases.build_index()
    road = client.post("/api/projects", json=feature(line(0))).get_json()
    first = client.post("/api/projects", json=sewer()).get_json()
    # These two loaded the layers a road or a sewer may meet (an empty region loaded none).
    built = services.cases._live
    assert "road_works_sewer_bundle" in {rule for rule, _a, _b in rules_of(first)}
    far = client.post("/api/projects", json=sewer(0.05)).get_json()
    assert far["cases"] == []
    # Moved next to the road: found against the first sewer's and the road's current versions.
    moved = client.patch(f"/api/projects/{far['id']}", json={"geometry": line(0.0001)})
    assert moved.status_code == 200
    assert f"project:{road['id']}" in str(rules_of(moved.get_json()))
    assert client.delete(f"/api/projects/{first['id']}").status_code == 204
    again = client.get(f"/api/projects/{road['id']}").get_json()
    assert f"project:{first['id']}" not in str(rules_of(again))
    # The index was updated, never rebuilt: its base is the one built by then.
    assert (
        services.cases._live is not None and services.cases._live.index._base is built.index._base
    )
    # A batch run over the store changes nothing the saves left behind.
    batch = client.post("/api/cases/detect").get_json()
    assert (batch["created"], batch["updated"], batch["obsoleted"]) == (0, 0, 0), batch


def test_a_project_saved_by_another_process_is_seen_by_the_next_save(
    app: Flask, client: FlaskClient, instance_path: Path
) -> None:
    ours: Services = app.extensions["zugabe"]
    ours.cases.build_index()
    client.post("/api/projects", json=sewer(0.05))  # the live index is in use
    other = Services.open(Settings(instance_path=instance_path))
    try:
        [theirs] = other.projects.create_many([sewer()], actor_for(other, "h.planner"))
    finally:
        other.close()
    road = client.post("/api/projects", json=feature(line(0))).get_json()
    assert (
        "road_works_sewer_bundle",
        f"project:{road['id']}",
        f"project:{theirs.id}",
    ) in {(r, a, b) for r, a, b in rules_of(road)} | {(r, b, a) for r, a, b in rules_of(road)}


def test_a_layer_imported_before_any_project_is_met_by_the_first_save(
    app: Flask, client: FlaskClient
) -> None:
    """An empty region does not load the features it has no project to meet; the first
    project that may meet them loads them."""
    services: Services = app.extensions["zugabe"]
    services.layers.import_file(
        Path(__file__).resolve().parents[1] / "sample_data" / "layers" / "trees.geojson",
        "trees",
        actor_for(services, "r.admin"),
    )
    assert services.cases._live is not None and "trees" not in services.cases._live.layers
    tree = services.store.layer_features("trees")[0].geometry
    lon, lat = services.projects.reprojector.to_wgs84(tree).coords[0]
    trench = sewer()
    trench["geometry"]["coordinates"] = [[lon - 0.0005, lat], [lon + 0.0005, lat]]
    saved = client.post("/api/projects", json=trench).get_json()
    assert any(":trees:" in key for _rule, _a, key in rules_of(saved))
    batch = client.post("/api/cases/detect").get_json()
    assert (batch["created"], batch["updated"], batch["obsoleted"]) == (0, 0, 0), batch


def test_another_process_writes_are_caught_up_without_a_rebuild(
    app: Flask, client: FlaskClient, instance_path: Path
) -> None:
    """Workers of one server share a store: what another one saves, moves or deletes is
    reloaded by id from the change log, not by reloading every project."""
    ours: Services = app.extensions["zugabe"]
    road = client.post("/api/projects", json=feature(line(0))).get_json()
    kept = client.post("/api/projects", json=sewer(0.05)).get_json()
    built = ours.cases._live
    assert built is not None
    other = Services.open(Settings(instance_path=instance_path))
    try:
        planner = actor_for(other, "h.planner")
        [near, gone] = other.projects.create_many([sewer(), sewer(0.0001)], planner)
        other.projects.delete(gone.id, planner, None)
        moved = other.projects.patch(kept["id"], {"geometry": line(0.0002)}, planner, None)
    finally:
        other.close()
    assert moved.id == kept["id"]
    # The next save here meets the other process's projects as they are now.
    again = client.put(f"/api/projects/{road['id']}", json=feature(line(0))).get_json()
    met = {key for _rule, a, b in rules_of(again) for key in (a, b)}
    assert {f"project:{near.id}", f"project:{kept['id']}"} <= met
    assert f"project:{gone.id}" not in met
    live = ours.cases._live
    assert live is not None and live.index._base is built.index._base  # caught up, not rebuilt
    assert live.revision == ours.store.revision()
    batch = client.post("/api/cases/detect").get_json()
    assert (batch["created"], batch["updated"], batch["obsoleted"]) == (0, 0, 0), batch


def test_a_layer_changed_by_another_process_makes_the_index_rebuild(
    app: Flask, client: FlaskClient, instance_path: Path
) -> None:
    ours: Services = app.extensions["zugabe"]
    client.post("/api/projects", json=sewer())
    built = ours.cases._live
    assert built is not None and "trees" in built.layers  # a sewer trench may meet trees
    other = Services.open(Settings(instance_path=instance_path))
    try:
        other.layers.import_file(
            Path(__file__).resolve().parents[1] / "sample_data" / "layers" / "trees.geojson",
            "trees",
            actor_for(other, "r.admin"),
        )
    finally:
        other.close()
    ours.cases.build_index()
    live = ours.cases._live
    assert live is not None and live.index._base is not built.index._base
    assert len(live.index.layers["trees"]) == ours.store.count_layer_features("trees")
