"""Issue 11, item 3: layer features keep their identity across re-imports, also where a
register repeats its ids, so the cases on them keep their status and history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from shapely.geometry import Point

from tests.conftest import ADMIN
from zugabe.domain.cases import CaseStatus
from zugabe.domain.feature_identity import stable_ids
from zugabe.services import Services
from zugabe.storage.contract import CaseQuery, LayerFeature

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
TREES = SAMPLE / "layers" / "trees.geojson"
TWINS_PER_ID = 8  # like a register with 2,336 numbers for 18,697 trees


@pytest.fixture
def demo(demo_instance: Path, app: Flask) -> Services:
    """The demo town (a copy made before ``app`` opens it)."""
    services: Services = app.extensions["zugabe"]
    return services


def _register_with_repeated_ids(folder: Path, change: dict[str, Any] | None = None) -> Path:
    """The demo trees with every tree_id shared by 8 trees; ``change`` edits one tree."""
    data = json.loads(TREES.read_text(encoding="utf-8"))
    for number, tree in enumerate(data["features"]):
        tree["properties"]["tree_id"] = f"B-{number // TWINS_PER_ID}"
    if change:
        data["features"][change["index"]]["properties"].update(change["properties"])
    path = folder / "register.geojson"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _tree_cases(services: Services) -> dict[str, tuple[int, str, int, str]]:
    """pair key -> (case id, status, version, updated) of every case on a tree."""
    return {
        c.finding.pair_key: (c.id, c.status.value, c.version, c.updated_at.isoformat())
        for c in services.store.list_cases(CaseQuery())
        if ":trees:" in c.finding.pair_key
    }


def test_reimporting_the_same_register_changes_no_case(demo: Services, tmp_path: Path) -> None:
    register = _register_with_repeated_ids(tmp_path)
    _info, report = demo.layers.import_file(register, "trees", ADMIN)
    assert report.duplicate_ids is not None
    assert report.duplicate_ids["features"] == report.accepted  # every id repeats here
    assert report.duplicate_ids["examples"][0] == "B-0"
    assert any("values of 'tree_id' repeat" in note for note in report.notes)
    before = _tree_cases(demo)
    assert len(before) > 20
    # A reviewer works on one case; the re-import must keep that.
    case_id = next(case for case, status, *_ in before.values() if status == "open")
    demo.desk.change_status(case_id, "in_coordination", ADMIN, None)
    demo.cases.comment(case_id, "Mit dem Grünflächenamt abgestimmt", ADMIN)
    before = _tree_cases(demo)
    history = len(demo.cases.get(ADMIN, case_id).history)

    demo.layers.import_file(register, "trees", ADMIN)

    assert _tree_cases(demo) == before  # same cases, same ids, statuses and versions
    reviewed = demo.cases.get(ADMIN, case_id)
    assert reviewed.status is CaseStatus.IN_COORDINATION
    assert len(reviewed.history) == history
    assert [c.text for c in reviewed.comments] == ["Mit dem Grünflächenamt abgestimmt"]


def test_changing_one_tree_changes_only_its_cases(demo: Services, tmp_path: Path) -> None:
    demo.layers.import_file(_register_with_repeated_ids(tmp_path), "trees", ADMIN)
    before = _tree_cases(demo)
    features = demo.store.layer_features("trees")  # ordered by id, as detection takes them
    refs = dict(zip([f.id for f in features], stable_ids(features, "tree_id"), strict=True))
    # A tree with cases, whose id it shares with seven others.
    index, ref = next(
        (i, refs[f.id])
        for i, f in enumerate(sorted(features, key=lambda f: f.source_row))
        if any(f"trees:{refs[f.id]}" in key for key in before)
    )
    mine = {key for key in before if key.endswith(f"trees:{ref}")}
    change = {"index": index, "properties": {"crown_radius": 14.5}}  # a wider root zone

    demo.layers.import_file(_register_with_repeated_ids(tmp_path, change), "trees", ADMIN)

    after = _tree_cases(demo)
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    assert changed and changed <= mine | {k for k in after if k.endswith(f"trees:{ref}")}
    for key in mine & after.keys():  # the same cases, brought in step
        assert after[key][0] == before[key][0]


def test_a_feature_is_named_by_its_id_only_where_the_id_is_its_own() -> None:
    """A register whose ids are all unique and present is named by them as they are; one
    missing or repeated id leaves the others named by their id and gives that feature a
    reference of its own (id, if any, and a digest of its geometry)."""

    def register(*ids: Any) -> list[LayerFeature]:
        return [
            LayerFeature(n + 1, Point(n, 0), {"tree_id": value}, n + 1, None)
            for n, value in enumerate(ids)
        ]

    assert stable_ids(register("B-1", 2, "B-3"), "tree_id") == ["B-1", "2", "B-3"]
    missing = stable_ids(register("B-1", "", "B-3"), "tree_id")
    assert missing[0] == "B-1" and missing[2] == "B-3"
    assert missing[1].startswith("@") and len(missing[1]) == 13
    repeated = stable_ids(register("B-1", "B-1", "B-3"), "tree_id")
    assert repeated[2] == "B-3"
    assert repeated[0].startswith("B-1@") and repeated[1].startswith("B-1@")
    assert repeated[0] != repeated[1]  # told apart by their geometry
