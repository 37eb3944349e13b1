"""Long work — a layer import, a bulk project import, the batch detection run — as a job
beside serving: the request that starts it answers at once (``202`` with the job's
address), the work runs in a background thread, and ``GET /api/jobs/<id>`` tells its
progress and, at the end, its result or its problem.

Jobs are kept in the store (``JobStore``), so any worker process of the server answers
for any job. The work runs in the process that accepted it (it is code, and its upload
lies there), one job at a time per process: they all write the store, which takes one
writer at a time anyway; others wait in line. That process renews the heartbeat of its
unfinished jobs; one whose heartbeat is older than ``STALE_AFTER`` reads as failed (the
process stopped, and as the work commits in one transaction, nothing of it was stored).
Progress is written at most every ``PROGRESS_EVERY`` seconds; the last ``KEPT_JOBS``
finished jobs are kept for their owners to read.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from zugabe.domain.accounts import Actor
from zugabe.domain.jobs import Job, JobState
from zugabe.domain.policy import Policy
from zugabe.errors import NotFound, ZugabeError
from zugabe.storage.contract import JobStore

KEPT_JOBS = 200
PROGRESS_EVERY = 0.5
HEARTBEAT_EVERY = 5.0
STALE_AFTER = timedelta(seconds=30)
LOG = logging.getLogger("zugabe.jobs")

Progress = Callable[[int, int], None]  # (units just done, units in all)
Work = Callable[[Progress], dict[str, Any]]  # does the job, returns its result as JSON


class JobService:
    def __init__(
        self,
        policy: Policy,
        store: JobStore,
        heartbeat_every: float = HEARTBEAT_EVERY,
        stale_after: timedelta = STALE_AFTER,
    ) -> None:
        self.policy = policy
        self.store = store
        self.heartbeat_every = heartbeat_every
        self.stale_after = stale_after
        self._running: dict[str, Job] = {}  # this process's unfinished jobs
        self._lock = threading.Lock()
        self._finished = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zugabe-job")

    def start(self, actor: Actor, kind: str, subject: str, work: Work) -> Job:
        """Queue ``work`` (whose permission the caller checked) and return its job."""
        job = Job(secrets.token_hex(8), kind, subject, actor.username, actor.account_id)
        self.store.save_job(job)
        self.store.trim_jobs(KEPT_JOBS)
        with self._lock:
            self._running[job.id] = job
            if self._heartbeat is None:
                self._heartbeat = threading.Thread(
                    target=self._beat_until_stopped, name="zugabe-job-heartbeat", daemon=True
                )
                self._heartbeat.start()
        self._runner.submit(self._run, job.id, work)
        return job

    def get(self, actor: Actor, job_id: str) -> Job:
        """A job of the actor's own (a region admin may read every job), as it stands."""
        self.policy.require_read(actor)
        job = self.store.get_job(job_id)
        if job is None or not (actor.is_region_admin or actor.username == job.owner):
            raise NotFound(f"job {job_id} does not exist (or is not yours)")
        return job.as_seen(datetime.now(UTC), self.stale_after)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """A job of this process once it has finished, or as it is after ``timeout``
        seconds (the CLI and tests wait; the web map polls ``get``)."""
        with self._finished:
            self._finished.wait_for(lambda: job_id not in self._running, timeout)
        job = self.store.get_job(job_id)
        assert job is not None, job_id
        return job

    def close(self) -> None:
        """A running job finishes (and commits or rolls back) first."""
        self._runner.shutdown(wait=True, cancel_futures=True)
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()

    def _run(self, job_id: str, work: Work) -> None:
        self._update(job_id, state=JobState.RUNNING)
        written = 0.0  # the first report is written at once

        def progress(count: int, total: int) -> None:
            nonlocal written
            with self._lock:
                job = self._running[job_id]
                job = replace(job, done=min(job.done + count, total), total=total)
                self._running[job_id] = job
            if time.monotonic() - written >= PROGRESS_EVERY:
                written = time.monotonic()
                self.store.save_job(replace(job, heartbeat_at=datetime.now(UTC)))

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
        with self._lock:
            job = replace(self._running[job_id], heartbeat_at=datetime.now(UTC), **changes)
            self._running[job_id] = job
        self.store.save_job(job)
        if job.finished_at is not None:
            with self._finished:
                del self._running[job_id]
                self._finished.notify_all()

    def _beat_until_stopped(self) -> None:
        """Tell every process that this one still runs (or queues) its jobs."""
        while not self._stop.wait(self.heartbeat_every):
            with self._lock:
                ids = list(self._running)
            if not ids:
                continue
            try:
                self.store.beat_jobs(ids, datetime.now(UTC))
            except Exception:  # the store was busy or broken: try again next beat
                LOG.exception("job heartbeat failed")
