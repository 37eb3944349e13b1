"""A batch run shared out over helper processes (``zugabe.detection_shares``) writes the
cases a run in one process writes, on SQLite and PostGIS, with real helper processes
reading the real demo town; a helper that fails fails the run and writes nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import shapely

from tests.conftest import ADMIN, ensure_account, fresh_database
from tests.served import ZUGABE
from zugabe.config import Settings
from zugabe.detection_shares import PROJECT_WEIGHT, share_out, work_of
from zugabe.domain.cases import CoordinationCase
from zugabe.domain.rules import ProjectSelector, default_rules_path
from zugabe.errors import StorageError
from zugabe.services import Services
from zugabe.storage.contract import CaseQuery
from zugabe.web import create_app

SHARED = {"detection_processes": 2, "detection_processes_from": 0}
ALONE = {"detection_processes": 1}


def wider_and_narrower_rules(folder: Path) -> Path:
    """The shipped rules with the distances changed, as a region may tune them: the next
    batch run creates cases (wider), updates their measures and obsoletes some (narrower)."""
    rules = default_rules_path().read_text("utf-8")
    changed = (
        rules.replace("distance = 10 }", "distance = 30 }")
        .replace("distance = 5, min_length = 10", "distance = 12, min_length = 10")
        .replace("distance = 20 }", "distance = 1 }")
    )
    assert changed.count("distance = 30 }") >= 5 and "distance = 1 }" in changed
    path = folder / "tuned-rules.toml"
    path.write_text(changed, "utf-8")
    return path


@pytest.fixture(params=["sqlite", "postgis"])
def open_demo(request: pytest.FixtureRequest, demo_template: Path, tmp_path: Path) -> Iterator[Any]:
    """Open a copy of the demo town with these settings (a PostGIS one: a fresh database
    copied from the demo town's)."""
    with ExitStack() as stack:

        def opened(name: str, settings: dict[str, Any]) -> Services:
            instance = tmp_path / name
            shutil.copytree(demo_template, instance)
            config: dict[str, Any] = {"instance_path": instance, **settings}
            if request.param == "postgis":
                cluster = request.getfixturevalue("postgis_cluster")
                template = request.getfixturevalue("postgis_demo_template")
                config["database_url"] = stack.enter_context(fresh_database(cluster, template))
            services: Services = create_app(config).extensions["zugabe"]
            stack.callback(services.close)
            return services

        yield opened


def cases(services: Services) -> dict[str, tuple[Any, ...]]:
    """Every case by pair key: what a reviewer sees of it, and its history without times."""

    def seen(case: CoordinationCase) -> tuple[Any, ...]:
        history = tuple((entry.by, entry.event) for entry in case.history)
        return (case.finding, case.status, case.status_reason, case.version, history)

    stored = services.store.list_cases(CaseQuery())
    full = [services.store.get_case(case.id) for case in stored]
    return {case.finding.pair_key: seen(case) for case in full if case is not None}


def test_a_shared_batch_run_writes_what_one_process_writes(open_demo: Any, tmp_path: Path) -> None:
    tuned = {"rules_file": str(wider_and_narrower_rules(tmp_path))}
    shared = open_demo("shared", SHARED | tuned)
    alone = open_demo("alone", ALONE | tuned)
    assert cases(shared) == cases(alone)  # the demo town as loaded

    run = shared.cases.batch_run(ADMIN)
    expected = alone.cases.batch_run(ADMIN)

    assert run.findings == expected.findings
    counts = [len(getattr(run.sync, kind)) for kind in ("created", "updated", "obsoleted")]
    assert all(counts), counts  # the tuned rules create, update and obsolete cases
    assert counts == [len(getattr(expected.sync, k)) for k in ("created", "updated", "obsoleted")]
    assert len(run.sync.unchanged) == len(expected.sync.unchanged)
    assert cases(shared) == cases(alone)
    # The cases are found where they lie (the spatial index holds the new ones).
    everywhere = CaseQuery(area=shapely.box(-1e7, -1e7, 1e7, 1e7))
    assert shared.store.count_cases(everywhere) == alone.store.count_cases(everywhere)
    # Run again: nothing changes.
    again = shared.cases.batch_run(ADMIN)
    assert len(again.sync.unchanged) == run.findings
    assert again.sync.created == again.sync.updated == again.sync.obsoleted == ()


def test_a_helper_that_reads_another_store_fails_the_run_and_nothing_is_written(
    open_demo: Any, tmp_path: Path
) -> None:
    """A helper checks it reads the store as the run does (its revision): else the share
    it found nothing in would obsolete that share's cases."""
    services = open_demo("failing", SHARED)
    before = cases(services)
    own = services.cases.processes
    other = create_app({"instance_path": tmp_path / "another"}).extensions["zugabe"]
    other.close()
    services.cases.processes = replace(own, store_url=other.cases.processes.store_url)

    with pytest.raises(StorageError, match=r"helper process read the store at revision \d+, the"):
        services.cases.batch_run(ADMIN)

    assert cases(services) == before
    # Still usable: with its store's own address, the run goes through.
    services.cases.processes = own
    assert len(services.cases.batch_run(ADMIN).sync.unchanged) == len(before)


def helper_processes(parent: int | None = None) -> list[int]:
    """The detection helpers a process (this one) started that still run (``/proc``)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            started_by = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
        if started_by == (parent or os.getpid()) and b"detection_shares import serve" in command:
            found.append(int(stat.parent.name))
    return found


def test_a_helper_killed_midway_fails_the_run_and_nothing_is_written(open_demo: Any) -> None:
    """A helper that dies (the kernel's out-of-memory killer, an operator) fails the run
    with a clear error, and the run's own share, written meanwhile, is rolled back."""
    services = open_demo("killed", SHARED)
    before = cases(services)
    killed: list[int] = []

    def kill_the_helper() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for pid in helper_processes():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.002)

    watcher = threading.Thread(target=kill_the_helper)
    watcher.start()
    try:
        with pytest.raises(StorageError, match=r"helper process failed \(exit code -9\)"):
            services.cases.batch_run(ADMIN)
    finally:
        watcher.join()
    assert killed
    assert cases(services) == before
    assert len(services.cases.batch_run(ADMIN).sync.unchanged) == len(before)


def test_a_helper_whose_run_is_killed_ends_and_leaves_no_files(demo_instance: Path) -> None:
    """A run killed hard (SIGKILL: its clean-up never runs) leaves no helper detecting for
    nobody, nor its files (which named the store) in the temporary folder."""
    services = Services.open(Settings(instance_path=demo_instance))
    ensure_account(services, "r.admin")
    services.close()
    run = subprocess.Popen(
        [ZUGABE, "--instance", str(demo_instance), "--user", "r.admin", "detect", "--all"],
        env={
            **os.environ,
            "ZUGABE_DETECTION_PROCESSES": "2",
            "ZUGABE_DETECTION_PROCESSES_FROM": "0",
        },
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (helpers := helper_processes(run.pid)):
        assert run.poll() is None and time.monotonic() < deadline, "no helper started"
        time.sleep(0.002)
    [helper] = helpers
    folder = Path((Path("/proc") / str(helper) / "cmdline").read_bytes().split(b"\0")[-3].decode())
    assert folder.parent.name.startswith("zugabe-detection-")

    run.kill()
    run.wait()

    deadline = time.monotonic() + 10
    while (Path("/proc") / str(helper)).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (Path("/proc") / str(helper)).exists(), "the helper still runs"
    assert not folder.parent.exists()


def test_rules_are_shared_out_whole_and_by_their_work(demo_instance: Path) -> None:
    """Project × project rules stay together (a fallback leaves out their pairs), as do
    each layer's rules (a fallback on a layer yields to the others on it)."""
    services = Services.open(Settings(instance_path=demo_instance))
    rules = services.cases.rules
    work = work_of(services.store.list_layers(), 1000)
    services.close()
    assert work[None] == 1000 * PROJECT_WEIGHT

    shares = share_out(rules, work, 2)

    assert len(shares) == 2
    assert sorted(rule.id for share in shares for rule in share) == sorted(r.id for r in rules)
    pairs = [share for share in shares if any(isinstance(r.b, ProjectSelector) for r in share)]
    assert pairs == [shares[0]]  # the calling process detects the project pairs
    for share in shares:
        assert [rules.index(rule) for rule in share] == sorted(rules.index(r) for r in share)
        layers = {rule.layer for rule in share}
        other = {rule.layer for s in shares if s is not share for rule in s}
        assert not layers & other  # a layer's rules never split
    loads = [sum(work.get(layer, 0) for layer in {r.layer for r in share}) for share in shares]
    heaviest = max(work.get(r.layer, 0) for r in rules)
    assert abs(loads[0] - loads[1]) <= heaviest  # no bin heavier by more than one layer
    assert share_out(rules, work, 1) == [rules]
    assert len(share_out(rules, work, 64)) == len({r.layer for r in rules})  # none empty
