"""``zugabe serve`` as a real process for tests: started on a free port, stopped with SIGTERM,
and which of its worker processes holds a client's connection (read from Linux's /proc,
so the server needs no test-only header)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

from tests.smtp_server import free_port

ZUGABE = str(Path(sys.executable).with_name("zugabe"))


@contextmanager
def serving(
    instance: Path, args: Sequence[str] = (), log: IO[str] | None = None, timeout: float = 30
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``zugabe serve`` of ``instance`` (a demo instance: demo passwords allowed) until it
    answers; stopped with SIGTERM at the end. Yields the process and its port."""
    port = free_port()
    server = subprocess.Popen(
        [ZUGABE, "--instance", str(instance), "serve", "--port", str(port), *args],
        env={**os.environ, "ZUGABE_DEMO_INSTANCE": "true"},
        stderr=log,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=1)
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"zugabe serve ended with exit code {server.returncode}")
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield server, port
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def worker_of(server_pid: int, server_port: int, client_port: int) -> int:
    """The pid of the worker process (a child of ``server_pid``) holding the TCP connection
    from ``client_port`` to ``server_port`` on 127.0.0.1."""
    local = f"0100007F:{server_port:04X}"
    remote = f"0100007F:{client_port:04X}"
    inodes = {
        fields[9]
        for fields in (row.split() for row in Path("/proc/net/tcp").read_text().splitlines()[1:])
        if fields[1] == local and fields[2] == remote
    }
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    for pid in children:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return int(pid)
    raise AssertionError(f"no worker of {server_pid} holds the connection from {client_port}")
