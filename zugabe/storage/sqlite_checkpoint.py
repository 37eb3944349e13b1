"""A bulk write's pages moved from the WAL into the store file beside the work that follows.

SQLite checkpoints the write-ahead log in the committing call once a commit leaves it
beyond 1,000 pages: after a batch run's quarter of a million new cases (some 340 MB of WAL)
that took 0.6–0.7 s, which the batch run's caller waited for after the cases were safely
committed. A bulk write therefore switches the automatic checkpoint off on its connection
(``bulk_write_settings``), and the store checkpoints on a thread of its own once the write
has committed (``BackgroundCheckpoint``). The checkpoint is PASSIVE: it waits for no reader
or writer, and whatever it leaves is checkpointed by the next commit as before. It runs
inside SQLite, outside Python's interpreter lock, so the process goes on meanwhile.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


class BackgroundCheckpoint:
    """One store file's checkpoint after bulk writes: at most one running at a time."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._running: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Checkpoint on a thread of its own, unless one is running (the next commit takes
        what it leaves)."""
        with self._lock:
            if self._running is not None and self._running.is_alive():
                return
            self._running = threading.Thread(
                target=self._checkpoint, name="zugabe-checkpoint", daemon=True
            )
            self._running.start()

    def wait(self) -> None:
        """Until a running checkpoint has ended (the store closes after it)."""
        with self._lock:
            running = self._running
        if running is not None:
            running.join()

    def _checkpoint(self) -> None:
        try:
            connection = sqlite3.connect(self.path, timeout=self.timeout)
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            finally:
                connection.close()
        except sqlite3.Error as exc:  # the next commit checkpoints instead
            log.warning("the checkpoint after a bulk write failed: %s", exc)


@contextmanager
def without_automatic_checkpoint(connection: sqlite3.Connection) -> Iterator[None]:
    """No automatic checkpoint in this connection's commits until the block ends."""
    before = int(connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
    connection.execute("PRAGMA wal_autocheckpoint = 0")
    try:
        yield
    finally:
        connection.execute(f"PRAGMA wal_autocheckpoint = {before:d}")
