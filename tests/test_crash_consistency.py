"""Issue 11, item 4: data and its coordination cases never disagree after a crash.

A writer process is killed (SIGKILL, no clean-up) at a random moment while it imports
layers, imports projects in bulk or saves projects one by one. After the restart, a
fresh batch detection must find the stored cases exactly right: nothing to create,
update, reopen or obsolete.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely

from tests.conftest import ADMIN, SAMPLE_DATA
from zugabe.services import Services
from zugabe.storage.contract import ProjectQuery
from zugabe.web import create_app

ROUNDS = 20
TREES = SAMPLE_DATA / "layers" / "trees.geojson"
PROJECTS = json.loads((SAMPLE_DATA / "projects.geojson").read_text(encoding="utf-8"))["features"]


def _open(instance: Path) -> Services:
    return create_app({"instance_path": instance}).extensions["zugabe"]


def _moved_trees(folder: Path) -> Path:
    """The demo trees 4 m further east, every tenth one gone: other cases than the original."""
    data = json.loads(TREES.read_text(encoding="utf-8"))
    kept = [tree for number, tree in enumerate(data["features"]) if number % 10]
    for tree in kept:
        lon, lat = tree["geometry"]["coordinates"]
        tree["geometry"]["coordinates"] = [lon + 0.00006, lat]
    path = folder / "moved_trees.geojson"
    path.write_text(json.dumps(data | {"features": kept}), encoding="utf-8")
    return path


def _shifted(feature: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy of a demo project feature, moved by up to ~40 m."""
    dx, dy = rng.uniform(-0.0006, 0.0006), rng.uniform(-0.0004, 0.0004)
    geometry = shapely.geometry.shape(feature["geometry"])
    moved = shapely.transform(geometry, lambda c: c + np.array([dx, dy]))
    return feature | {"geometry": json.loads(shapely.to_geojson(moved))}


def _import_layers(
    services: Services, folder: Path, rng: random.Random, wrote: Callable[[], None]
) -> None:
    moved = _moved_trees(folder)
    while True:
        for path in (moved, TREES):
            services.layers.import_file(path, "trees", ADMIN)
            wrote()


def _import_projects(
    services: Services, folder: Path, rng: random.Random, wrote: Callable[[], None]
) -> None:
    while True:
        services.projects.create_many([_shifted(f, rng) for f in rng.sample(PROJECTS, 8)], ADMIN)
        wrote()


def _save_storm(
    services: Services, folder: Path, rng: random.Random, wrote: Callable[[], None]
) -> None:
    ids = [p.id for p in services.store.list_projects(ProjectQuery())]
    while True:
        if rng.random() < 0.2:
            services.projects.create(_shifted(rng.choice(PROJECTS), rng), ADMIN)
        else:
            project_id = rng.choice(ids)
            patch = {"geometry": _shifted(rng.choice(PROJECTS), rng)["geometry"]}
            services.projects.patch(project_id, patch, ADMIN, None)
        wrote()


Writer = Callable[[Services, Path, random.Random, Callable[[], None]], None]
WRITERS: dict[str, Writer] = {
    "layer import": _import_layers,
    "project import": _import_projects,
    "save storm": _save_storm,
}


def _writer(instance: str, scenario: str, seed: int, ready: Any, writes: Any) -> None:
    """The process that is killed: opens the instance and writes until it dies, counting
    its committed writes in ``writes``."""
    services = _open(Path(instance))
    ready.set()

    def wrote() -> None:
        with writes.get_lock():
            writes.value += 1

    WRITERS[scenario](services, Path(instance).parent, random.Random(seed), wrote)


@pytest.mark.parametrize("scenario", list(WRITERS))
def test_after_a_kill_the_cases_match_a_fresh_detection(demo_instance: Path, scenario: str) -> None:
    context = multiprocessing.get_context("fork")  # modules stay imported: a fast start
    rng = random.Random(f"crash-{scenario}")
    revisions = []
    for _round in range(ROUNDS):
        ready, writes = context.Event(), context.Value("i", 0)
        seed = rng.randrange(2**32)
        writer = context.Process(
            target=_writer, args=(str(demo_instance), scenario, seed, ready, writes)
        )
        writer.start()
        assert ready.wait(60), "the writer did not start"
        time.sleep(rng.uniform(0.05, 1.0))
        if _round % 2:  # every other round dies only after a write landed, however busy the
            deadline = time.monotonic() + 60  # machine: the rounds test something
            while writes.value == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.3))  # and then at a random moment of the next one
        os.kill(writer.pid, signal.SIGKILL)
        writer.join()
        assert writer.exitcode == -signal.SIGKILL, "the writer stopped before it was killed"

        services = _open(demo_instance)  # the restart
        try:
            revisions.append(services.store.revision())
            run = services.cases.detect_everything(ADMIN)
        finally:
            services.close()
        sync = run.sync
        changed = [*sync.created, *sync.updated, *sync.reopened, *sync.obsoleted]
        assert not changed, f"round {_round}: the stored cases disagree with the data"
    assert len(set(revisions)) > ROUNDS // 2, "the writer hardly wrote anything"
