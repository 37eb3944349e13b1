"""Jobs of the SQLite store, in a file of their own beside the store file.

A mixin of both stores; ``PostgisStore`` keeps the jobs in its database instead, written
without the store's write lock (its ``_job_engines``). SQLite has one writer
per file, and a job's work holds the store's write lock for its whole length (a layer
import is one transaction) while it reports progress: in the store file, that progress
would wait for the job's own commit. So jobs live in ``<store>-jobs.sqlite``, with its own
engine and schema steps: any process writes and reads them at any time. Jobs are
short-lived and rebuilt by nobody: the file needs no backup, and a lost one only forgets
finished jobs.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Row,
    Table,
    Text,
    delete,
    select,
    update,
)

from zugabe.domain.jobs import Job, JobState
from zugabe.storage.sql_connections import StoreConnections
from zugabe.storage.sql_dialect import upsert
from zugabe.storage.sqlite_engine import connect_engine, writing
from zugabe.storage.sqlite_schema import MigrationStep, UtcDateTime, migrate


def _create_jobs(conn: Connection) -> None:
    conn.exec_driver_sql(
        """
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            owner TEXT NOT NULL,
            owner_id INTEGER,
            state TEXT NOT NULL,
            done INTEGER NOT NULL,
            total INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL,
            finished_at TEXT,
            result TEXT,
            problem TEXT
        )
        """
    )
    conn.exec_driver_sql("CREATE INDEX ix_jobs_finished_at ON jobs (finished_at)")


JOB_MIGRATIONS = (MigrationStep(1, "jobs", _create_jobs),)

jobs_table = Table(
    "jobs",
    MetaData(),
    Column("id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("owner_id", Integer),
    Column("state", Text, nullable=False),
    Column("done", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("heartbeat_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("result", Text),
    Column("problem", Text),
)
_jobs = jobs_table.c


class SqliteJobs(StoreConnections):
    """The ``JobStore`` part of ``SqliteStore``."""

    path: Path
    """The store file (``SqliteBase``'s): the jobs file lies beside it."""

    _board_lock = threading.Lock()

    def _job_engines(self) -> tuple[Engine, Engine]:
        """The engines that read and write jobs: here the jobs file's, opened (and migrated)
        on first use; the PostGIS store keeps them in its database."""
        board: tuple[Engine, Engine] | None = getattr(self, "_job_board", None)
        if board is not None:
            return board
        with self._board_lock:
            board = getattr(self, "_job_board", None)
            if board is None:
                path = self.path.with_name(f"{self.path.stem}-jobs.sqlite")
                engine = connect_engine(f"sqlite:///{path}")
                board = (engine, writing(engine))
                migrate(*board, JOB_MIGRATIONS, where=str(path))
                weakref.finalize(self, engine.dispose)  # the store's close does not know it
                self._job_board = board
        return board

    def save_job(self, job: Job) -> None:
        values = {
            "kind": job.kind,
            "subject": job.subject,
            "owner": job.owner,
            "owner_id": job.owner_id,
            "state": job.state.value,
            "done": job.done,
            "total": job.total,
            "created_at": job.created_at,
            "heartbeat_at": job.heartbeat_at,
            "finished_at": job.finished_at,
            "result": _json(job.result),
            "problem": _json(job.problem),
        }
        with self._job_engines()[1].begin() as conn:
            upsert(conn, jobs_table, [{"id": job.id, **values}], ["id"])

    def beat_jobs(self, job_ids: Sequence[str], at: datetime) -> None:
        with self._job_engines()[1].begin() as conn:
            conn.execute(
                update(jobs_table)
                .where(_jobs.id.in_(list(job_ids)), _jobs.finished_at.is_(None))
                .values(heartbeat_at=at)
            )

    def get_job(self, job_id: str) -> Job | None:
        with self._job_engines()[0].connect() as conn:
            row = conn.execute(select(jobs_table).where(_jobs.id == job_id)).first()
        return None if row is None else _job(row)

    def trim_jobs(self, keep: int) -> None:
        newest = (
            select(_jobs.id)
            .where(_jobs.finished_at.is_not(None))
            .order_by(_jobs.finished_at.desc())
            .limit(keep)
        )
        with self._job_engines()[1].begin() as conn:
            conn.execute(
                delete(jobs_table).where(_jobs.finished_at.is_not(None), _jobs.id.not_in(newest))
            )


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _job(row: Row[Any]) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        subject=row.subject,
        owner=row.owner,
        owner_id=row.owner_id,
        state=JobState(row.state),
        done=row.done,
        total=row.total,
        created_at=row.created_at,
        heartbeat_at=row.heartbeat_at,
        finished_at=row.finished_at,
        result=None if row.result is None else json.loads(row.result),
        problem=None if row.problem is None else json.loads(row.problem),
    )
