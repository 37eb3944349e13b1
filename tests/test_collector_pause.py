"""Issue 14, item 5: the cyclic garbage collector is paused while the detection index is
built, during a batch run, a layer import and a worker's warm-up (millions of objects, none
in a cycle: 4 s of the 50,000-project batch run), and runs again after, also when the work
fails."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask

from tests.conftest import ADMIN, SAMPLE_DATA
from zugabe.errors import InvalidInput
from zugabe.services import Services
from zugabe.services.collector_pause import collector_paused


@contextmanager
def collections_counted() -> Iterator[list[int]]:
    """The generations of the collections that start inside the ``with``: at most one of
    the young generation when a pause ends inside it (the objects counted meanwhile).

    It starts from a full collection: the counts the earlier tests left would otherwise
    decide whether that one is the young generation's or an older one's (a full run of
    the suite with other tests before it saw generation 1)."""
    gc.collect()
    started: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(count)
    try:
        yield started
    finally:
        gc.callbacks.remove(count)


@pytest.fixture(autouse=True)
def _collector_running() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_a_pause_ends_with_its_last_holder_nested_or_in_another_thread() -> None:
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer holder is still at work
    assert gc.isenabled()

    entered, release = threading.Event(), threading.Event()

    def other_holder() -> None:
        with collector_paused():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=other_holder)
    with collector_paused():
        thread.start()
        assert entered.wait(10)
    assert not gc.isenabled()  # the other thread still holds the pause
    release.set()
    thread.join(10)
    assert gc.isenabled()


def test_a_failing_holder_ends_its_pause_and_a_collector_switched_off_stays_off() -> None:
    @collector_paused()
    def failing() -> None:
        assert not gc.isenabled()
        raise InvalidInput("broken")

    with pytest.raises(InvalidInput):
        failing()
    assert gc.isenabled()

    gc.disable()  # by the host, e.g. an embedding application
    with collector_paused():
        pass
    assert not gc.isenabled()


@pytest.mark.usefixtures("demo_instance")
def test_a_batch_run_and_its_index_run_no_collection_and_leave_the_collector_on(
    app: Flask,
) -> None:
    services: Services = app.extensions["zugabe"]
    with collections_counted() as started:
        run = services.cases.detect_everything(ADMIN)
    assert run.findings > 400  # the demo town: thousands of objects made and dropped
    assert started in ([], [0])  # at most a young generation's, as the pause ends
    assert gc.isenabled()
    # Outside a pause as many objects do start collections: the count above can tell.
    with collections_counted() as started:
        kept = [{"finding": i} for i in range(10_000)]
    assert started and len(kept) == 10_000


def test_a_layer_import_runs_no_collection_and_leaves_the_collector_on(app: Flask) -> None:
    services: Services = app.extensions["zugabe"]
    with collections_counted() as started:
        info, report = services.layers.import_file(
            SAMPLE_DATA / "layers" / "trees.geojson", "trees", ADMIN
        )
    assert report.accepted == info.feature_count > 1000
    assert started in ([], [0])
    assert gc.isenabled()


@pytest.mark.usefixtures("demo_instance")
def test_a_workers_warm_up_runs_no_collection_and_leaves_the_collector_on(app: Flask) -> None:
    services: Services = app.extensions["zugabe"]
    with collections_counted() as started:
        services.warm_up()
    assert services.cases.index_warm and services.cases.rendered_ahead
    assert started in ([], [0])
    assert gc.isenabled()
