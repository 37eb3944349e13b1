"""A job: long work (a layer import, a bulk project import, the batch detection run) run
beside serving, as its owner and every server process see it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

PROCESS_STOPPED = {
    "status": 500,
    "title": "Internal Server Error",
    "detail": "the process running the job stopped; nothing was stored",
}
"""The problem of a job whose process ended before it did: its work commits in one
transaction, so the store is as it was before the job."""


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Job:
    """A job as its owner sees it; ``result`` when done, ``problem`` (RFC 9457) when failed.

    ``heartbeat_at`` is renewed by the process running the job while it is unfinished.
    """

    id: str
    kind: str  # layer.import, projects.import, cases.detect_all
    subject: str  # what it works on: a layer key, a file name, "*"
    owner: str
    owner_id: int | None
    state: JobState = JobState.QUEUED
    done: int = 0
    total: int = 0
    created_at: datetime = field(default_factory=_now)
    heartbeat_at: datetime = field(default_factory=_now)
    finished_at: datetime | None = None
    result: dict[str, Any] | None = None
    problem: dict[str, Any] | None = None

    def as_seen(self, now: datetime, stale_after: timedelta) -> Job:
        """The job as it stands at ``now``: an unfinished one whose process has not been
        heard of for ``stale_after`` has failed (that process stopped)."""
        if self.finished_at is not None or now - self.heartbeat_at <= stale_after:
            return self
        return replace(
            self, state=JobState.FAILED, finished_at=self.heartbeat_at, problem=PROCESS_STOPPED
        )

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
