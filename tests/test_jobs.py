"""Issue 11, item 6: long work runs as a job beside serving, with progress, its result or
its problem, readable by its owner."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.conftest import ADMIN
from zugabe.domain.accounts import Actor, Role
from zugabe.domain.policy import Policy
from zugabe.errors import InvalidInput, NotFound
from zugabe.services.jobs import JobService, JobState, Progress

PLANNER = Actor.system("h.planner", roles=frozenset({Role.PLANNER}))


@pytest.fixture
def jobs() -> Any:
    service = JobService(Policy())
    yield service
    service.close()


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
