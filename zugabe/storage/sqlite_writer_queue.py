"""The writers of one SQLite store file wait their turn here, across threads and processes.

SQLite lets one writer in at a time. Left to itself, a writer that finds the file locked
runs SQLite's busy handler, which sleeps 1, 2, 5, … up to 100 ms between tries: under
load (several ``zugabe serve`` workers saving at once) a waiting save sleeps long after the
lock is free, and a newcomer takes it first, so saves wait seconds and the odd one gives
up with "database is locked". Here a writer first takes a lock of its process
(``threading.Lock``: the threads queue in the process) and then an exclusive ``flock`` on a
file beside the store (``<store>-writers``): the processes queue with short polls. Only
then does it send ``BEGIN IMMEDIATE``, which finds the file free. Writers that do not use
this queue (an older ZUGABE, the ``sqlite3`` shell) still meet SQLite's own busy handler.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from zugabe.errors import StorageError

POLL_SECONDS = 0.001
"""How often a process waiting for another process's writer tries the file lock again."""


class WriterQueue:
    """One store file's queue of writers; ``turn()`` is held around a write transaction."""

    def __init__(self, store_path: Path, timeout: float) -> None:
        self.path = store_path.with_name(store_path.name + "-writers")
        self.timeout = timeout
        self._in_process = threading.Lock()
        self._fd: int | None = None
        self._fd_pid = 0  # the process that opened ``_fd``: a forked child opens its own

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait (at most ``timeout`` seconds) until no other writer of the file is at work."""
        deadline = time.monotonic() + self.timeout
        if not self._in_process.acquire(timeout=self.timeout):
            raise self._busy()
        try:
            fd = self._lock_file()
            while not _locked(fd):
                if time.monotonic() > deadline:
                    raise self._busy()
                time.sleep(POLL_SECONDS)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._in_process.release()

    def _lock_file(self) -> int:
        """This process's descriptor of the lock file (a lock taken through a descriptor
        inherited over ``fork`` would be shared with the parent, so each process opens
        its own)."""
        if self._fd is None or self._fd_pid != os.getpid():
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise StorageError(f"cannot write the store: {exc.strerror}") from None
            self._fd_pid = os.getpid()
        return self._fd

    def _busy(self) -> StorageError:
        return StorageError(
            f"cannot write the store: another writer has held it for more than {self.timeout:g} s"
        )

    def close(self) -> None:
        if self._fd is not None and self._fd_pid == os.getpid():
            os.close(self._fd)
        self._fd = None


def _locked(fd: int) -> bool:
    """Take the exclusive lock if it is free."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
