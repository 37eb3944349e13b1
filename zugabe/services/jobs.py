"""Long work — a layer import, a bulk project import, the batch detection run — as a job
beside serving: the request that starts it answers at once (``202`` with the job's
address), the work runs in a background thread, and ``GET /api/jobs/<id>`` tells its
progress and, at the end, its result or its problem.

One job runs at a time per process (they all write the store, which takes one writer
at a time anyway); others wait in line. Jobs live in the memory of the process that runs
them — the work itself commits in one transaction, so a job lost with its process left
the store as it was — and the last ``KEPT_JOBS`` finished ones are kept for their owners
to read.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from zugabe.domain.accounts import Actor
from zugabe.domain.policy import Policy
from zugabe.errors import NotFound, ZugabeError

KEPT_JOBS = 200
LOG = logging.getLogger("zugabe.jobs")

Progress = Callable[[int, int], None]  # (units just done, units in all)
Work = Callable[[Progress], dict[str, Any]]  # does the job, returns its result as JSON


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Job:
    """A job as its owner sees it; ``result`` when done, ``problem`` (RFC 9457) when failed."""

    id: str
    kind: str  # layer.import, projects.import, cases.detect_all
    subject: str  # what it works on: a layer key, a file name, "*"
    owner: str
    owner_id: int | None
    state: JobState = JobState.QUEUED
    done: int = 0
    total: int = 0
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    result: dict[str, Any] | None = None
    problem: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "subject": self.subject,
            "state": self.state.value,
            "progress": {
                "done": self.done,
                "total": self.total,
                "share": round(self.done / self.total, 3) if self.total else None,
            },
            "created_by": self.owner,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "result": self.result,
            "problem": self.problem,
        }


class JobService:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._finished = threading.Condition(self._lock)
        self._runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zugabe-job")

    def start(self, actor: Actor, kind: str, subject: str, work: Work) -> Job:
        """Queue ``work`` (whose permission the caller checked) and return its job."""
        job = Job(secrets.token_hex(8), kind, subject, actor.username, actor.account_id)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEPT_JOBS:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest].finished_at is None:
                    break  # never forget a job still to finish
                del self._jobs[oldest]
        self._runner.submit(self._run, job.id, work)
        return job

    def get(self, actor: Actor, job_id: str) -> Job:
        """A job of the actor's own (a region admin may read every job)."""
        self.policy.require_read(actor)
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or not (actor.is_region_admin or actor.username == job.owner):
            raise NotFound(f"job {job_id} does not exist (or is not yours)")
        return job

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """The job once it has finished, or as it is after ``timeout`` seconds (the CLI
        and tests wait; the web map polls ``get``)."""
        with self._finished:
            self._finished.wait_for(lambda: self._jobs[job_id].finished_at is not None, timeout)
            return self._jobs[job_id]

    def close(self) -> None:
        self._runner.shutdown(wait=True, cancel_futures=True)

    def _run(self, job_id: str, work: Work) -> None:
        self._update(job_id, state=JobState.RUNNING)

        def progress(count: int, total: int) -> None:
            with self._lock:
                job = self._jobs[job_id]
                self._jobs[job_id] = replace(job, done=min(job.done + count, total), total=total)

        try:
            result = work(progress)
        except ZugabeError as exc:
            self._finish(job_id, JobState.FAILED, problem=exc.problem())
        except Exception:  # a bug: logged with its traceback, the owner gets a plain 500
            LOG.exception("job %s failed", job_id)
            self._finish(
                job_id,
                JobState.FAILED,
                problem={"status": 500, "title": "Internal Server Error", "detail": "see log"},
            )
        else:
            self._finish(job_id, JobState.DONE, result=result)

    def _finish(self, job_id: str, state: JobState, **outcome: Any) -> None:
        self._update(job_id, state=state, finished_at=datetime.now(UTC), **outcome)

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._finished:
            self._jobs[job_id] = replace(self._jobs[job_id], **changes)
            self._finished.notify_all()
