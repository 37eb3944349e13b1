"""Issue 11, item 6: long work runs as a job beside serving, with progress, its result or
its problem, readable by its owner."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import ADMIN, VALID_FEATURE, client_as
from tests.storage_contract import at, new
from zugabe.domain.accounts import Actor, Role
from zugabe.domain.policy import Policy
from zugabe.errors import InvalidInput, NotFound
from zugabe.services.jobs import JobService, JobState, Progress
from zugabe.storage.sqlite import SqliteStore

PLANNER = Actor.system("h.planner", roles=frozenset({Role.PLANNER}))


def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'zugabe.sqlite'}"


@pytest.fixture
def jobs(tmp_path: Path) -> Any:
    store = SqliteStore(store_url(tmp_path))
    service = JobService(Policy(), store)
    yield service
    service.close()
    store.close()


def test_a_job_reports_progress_and_its_result(jobs: JobService) -> None:
    halfway, finish = threading.Event(), threading.Event()

    def work(progress: Progress) -> dict[str, Any]:
        progress(50, 100)
        halfway.set()
        finish.wait(5)
        progress(50, 100)
        return {"features": 100}

    job = jobs.start(PLANNER, "layer.import", "trees", work)
    assert halfway.wait(5)
    running = jobs.get(PLANNER, job.id)
    assert running.state is JobState.RUNNING
    assert running.as_json()["progress"] == {"done": 50, "total": 100, "share": 0.5}
    finish.set()
    done = jobs.wait(job.id, timeout=5)
    assert done.state is JobState.DONE and done.result == {"features": 100}
    assert done.as_json()["progress"]["share"] == 1.0 and done.finished_at is not None


def test_a_refusal_becomes_the_jobs_problem(jobs: JobService) -> None:
    def work(progress: Progress) -> dict[str, Any]:
        raise InvalidInput("none of the 3 rows of x.csv could be imported")

    job = jobs.wait(jobs.start(PLANNER, "layer.import", "trees", work).id, timeout=5)
    assert job.state is JobState.FAILED
    assert job.problem is not None and job.problem["status"] == 422
    assert "none of the 3 rows" in job.problem["detail"]


def test_a_bug_is_a_plain_500_without_its_text(jobs: JobService) -> None:
    def work(progress: Progress) -> dict[str, Any]:
        raise RuntimeError("/srv/zugabe/secret path")

    job = jobs.wait(jobs.start(PLANNER, "cases.detect_all", "*", work).id, timeout=5)
    assert job.problem == {"status": 500, "title": "Internal Server Error", "detail": "see log"}


def test_jobs_run_one_at_a_time_and_belong_to_their_owner(jobs: JobService) -> None:
    release = threading.Event()
    first = jobs.start(PLANNER, "layer.import", "trees", lambda p: release.wait(5) and {})
    second = jobs.start(ADMIN, "cases.detect_all", "*", lambda p: {})
    assert jobs.get(ADMIN, second.id).state is JobState.QUEUED  # waits for the first
    release.set()
    assert jobs.wait(second.id, timeout=5).state is JobState.DONE
    assert jobs.get(ADMIN, first.id).owner == "h.planner"  # a region admin reads every job
    with pytest.raises(NotFound):
        jobs.get(PLANNER, second.id)  # not the planner's


def test_progress_inside_the_jobs_transaction_is_seen_by_another_process(
    jobs: JobService, tmp_path: Path
) -> None:
    """The work holds the store's write lock (one transaction) while it reports progress;
    another process (here: a store opened anew) reads that progress all the same."""
    halfway, finish = threading.Event(), threading.Event()

    def work(progress: Progress) -> dict[str, Any]:
        with jobs.store.transaction():  # type: ignore[attr-defined]
            jobs.store.add_projects([new(at(5, 5))])  # type: ignore[attr-defined]
            progress(1, 2)
            halfway.set()
            finish.wait(10)
        return {"projects": 1}

    job = jobs.start(PLANNER, "projects.import", "p.csv", work)
    assert halfway.wait(5)
    other = SqliteStore(store_url(tmp_path))
    try:
        seen = JobService(Policy(), other).get(PLANNER, job.id)
        assert seen.state is JobState.RUNNING and (seen.done, seen.total) == (1, 2)
        finish.set()
        assert jobs.wait(job.id, timeout=10).state is JobState.DONE
        done = JobService(Policy(), other).get(PLANNER, job.id)
        assert done.state is JobState.DONE and done.result == {"projects": 1}
    finally:
        finish.set()
        other.close()


RUN_A_JOB_FOREVER = """
import sys, time
from zugabe.domain.accounts import Actor, Role
from zugabe.domain.policy import Policy
from zugabe.services.jobs import JobService
from zugabe.storage.sqlite import SqliteStore

jobs = JobService(Policy(), SqliteStore(sys.argv[1]), heartbeat_every=0.1)
planner = Actor.system("h.planner", roles=frozenset({Role.PLANNER}))
print(jobs.start(planner, "layer.import", "trees", lambda progress: time.sleep(600)).id)
sys.stdout.flush()
time.sleep(600)
"""


def test_a_job_whose_process_died_reads_as_failed(tmp_path: Path) -> None:
    runner = subprocess.Popen(
        [sys.executable, "-c", RUN_A_JOB_FOREVER, store_url(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    store = SqliteStore(store_url(tmp_path))
    jobs = JobService(Policy(), store, stale_after=timedelta(seconds=1))
    try:
        assert runner.stdout is not None
        job_id = runner.stdout.readline().strip()
        time.sleep(1.5)  # longer than stale_after: its heartbeat keeps it alive
        assert jobs.get(PLANNER, job_id).state is JobState.RUNNING
        runner.kill()
        runner.wait(timeout=10)
        time.sleep(1.5)
        job = jobs.get(PLANNER, job_id)
        assert job.state is JobState.FAILED and job.finished_at is not None
        assert job.problem is not None and job.problem["detail"] == (
            "the process running the job stopped; nothing was stored"
        )
    finally:
        runner.kill()
        jobs.close()
        store.close()


# ----------------------------------------------------------------------------- over HTTP

ASYNC = {"Prefer": "respond-async"}
SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def _finished(client: FlaskClient, location: str) -> dict[str, Any]:
    for _ in range(400):
        job = client.get(location).get_json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"the job at {location} did not finish")


def test_a_layer_import_answers_at_once_and_its_job_tells_the_outcome(app: Flask) -> None:
    client = client_as(app, "steward")
    trees = (SAMPLE / "layers" / "trees.geojson").read_bytes()
    response = client.post(
        "/api/layers/trees", data={"file": (io.BytesIO(trees), "trees.geojson")}, headers=ASYNC
    )
    assert response.status_code == 202, response.get_json()
    assert response.headers["Preference-Applied"] == "respond-async"
    location = response.headers["Location"]
    assert location == f"/api/jobs/{response.get_json()['id']}"
    job = _finished(client, location)
    assert job["state"] == "done", job
    assert job["result"]["stored"]["feature_count"] == 1453
    assert job["progress"] == {"done": 1453, "total": 1453, "share": 1.0}
    assert job["created_by"] == "steward"
    assert client_as(app, "h.planner").get(location).status_code == 404  # not theirs
    # The uploaded file went with the job.
    assert not list(Path(app.instance_path).glob("job-*"))


def test_a_refused_file_fails_its_job_with_the_problem(app: Flask) -> None:
    client = client_as(app, "steward")
    empty = json.dumps({"type": "FeatureCollection", "features": []}).encode()
    response = client.post(
        "/api/layers/trees", data={"file": (io.BytesIO(empty), "trees.geojson")}, headers=ASYNC
    )
    job = _finished(client, response.headers["Location"])
    assert job["state"] == "failed"
    assert job["problem"]["status"] == 422 and "holds no features" in job["problem"]["detail"]


def test_the_batch_run_and_a_project_import_as_jobs(app: Flask) -> None:
    client = client_as(app, "r.admin")
    assert client.post("/api/projects", json=VALID_FEATURE).status_code == 201
    response = client.post("/api/cases/detect", headers=ASYNC)
    assert response.status_code == 202
    job = _finished(client, response.headers["Location"])
    assert job["state"] == "done" and job["kind"] == "cases.detect_all"
    assert set(job["result"]) >= {"findings", "created", "obsoleted"}

    rows = (
        "title;organisation;department;measure_type;wkt\n"
        "Kanal;herne;drainage;sewer_rehabilitation;POINT (7.2101 51.5402)\n"
    )
    upload = {"file": (io.BytesIO(rows.encode()), "p.csv"), "wkt_field": "wkt"}
    response = client.post(
        "/api/projects/import?dry_run=true",
        data=upload | {"source_crs": "EPSG:4326"},
        headers=ASYNC,
    )
    assert response.status_code == 202
    job = _finished(client, response.headers["Location"])
    assert job["state"] == "done" and job["result"]["new_rows"] == 1
    assert job["result"]["dry_run"] is True


def test_jobs_need_a_sign_in(anonymous: FlaskClient) -> None:
    assert anonymous.get("/api/jobs/0123456789abcdef").status_code == 401
