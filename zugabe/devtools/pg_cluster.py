"""A throw-away PostgreSQL 15 + PostGIS 3 cluster for tests and benchmarks.

The project starts its own server instead of relying on one set up by hand: ``initdb`` in a
fresh temporary directory (as the ``postgres`` user when we are root, since PostgreSQL refuses
to run as root), ``pg_ctl start`` listening on a unix socket in that directory only, and on
leaving ``pg_ctl stop`` and the directory deleted, also after an exception::

    with ThrowawayCluster() as cluster:
        url = cluster.url("zugabe")  # postgresql+psycopg://postgres@/zugabe?host=…

The Debian packages ``postgresql-15`` and ``postgresql-15-postgis-3`` provide the server;
``ensure_postgis`` installs PostGIS with apt-get when we may (root), else says what is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy.engine import URL

PG_BIN = Path("/usr/lib/postgresql/15/bin")
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")
SERVER_PACKAGE = "postgresql-15"
POSTGIS_PACKAGE = "postgresql-15-postgis-3"

# The cluster is thrown away afterwards, so durability is switched off (fsync,
# synchronous_commit, full_page_writes): never use these settings for data you want to keep.
SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": "''",
    "max_connections": "50",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "jit": "off",
    "logging_collector": "off",
}


class PostgisUnavailable(RuntimeError):
    """PostgreSQL 15 or PostGIS is missing and cannot be installed here."""


def ensure_postgis() -> None:
    """Install PostGIS for PostgreSQL 15 with apt-get when missing (root only)."""
    if (PG_BIN / "postgres").exists() and POSTGIS_CONTROL.exists():
        return
    packages = [SERVER_PACKAGE, POSTGIS_PACKAGE]
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PostgisUnavailable(
            f"PostgreSQL 15 with PostGIS is missing ({PG_BIN / 'postgres'}, {POSTGIS_CONTROL}): "
            f"install the Debian packages {' '.join(packages)} (`make postgis` as root)"
        )
    print(f"installing {' '.join(packages)} with apt-get …", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", *packages],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PostgisUnavailable(
                f"`{' '.join(command)}` failed ({done.returncode}):\n{done.stderr[-2000:]}"
            )
    if not POSTGIS_CONTROL.exists():
        raise PostgisUnavailable(f"{POSTGIS_PACKAGE} installed, but {POSTGIS_CONTROL} is missing")


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


class ThrowawayCluster:
    """A PostgreSQL cluster in a temporary directory, alive inside a ``with`` block.

    ``settings`` are added to ``postgresql.conf`` over ``SERVER_SETTINGS``.
    """

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        self.settings = {**SERVER_SETTINGS, **(settings or {})}
        self.directory: Path | None = None
        self._sigterm: Any = None

    def __enter__(self) -> ThrowawayCluster:
        ensure_postgis()
        if threading.current_thread() is threading.main_thread():
            # A plain kill (SIGTERM) unwinds through __exit__ too, so the server is stopped.
            self._sigterm = signal.signal(signal.SIGTERM, _terminate)
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._stop()
        finally:
            if self._sigterm is not None:
                signal.signal(signal.SIGTERM, self._sigterm)
                self._sigterm = None

    @property
    def socket_directory(self) -> Path:
        if self.directory is None:
            raise RuntimeError("use ThrowawayCluster as a context manager")
        return self.directory

    def url(self, database: str = "postgres") -> URL:
        """A SQLAlchemy URL of one database of the cluster (psycopg 3, unix socket)."""
        return URL.create(
            "postgresql+psycopg",
            username="postgres",
            database=database,
            query={"host": str(self.socket_directory)},
        )

    def connect_kwargs(self, database: str = "postgres") -> dict[str, str]:
        """Keyword arguments of ``psycopg.connect`` for one database of the cluster."""
        return {"host": str(self.socket_directory), "dbname": database, "user": "postgres"}

    def _as_server_user(self, *command: str) -> list[str]:
        """PostgreSQL refuses to run as root: run its programs as the postgres user then."""
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *command]
        return list(command)

    def _run(self, *command: str) -> None:
        done = subprocess.run(
            self._as_server_user(*command), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{Path(command[0]).name} failed ({done.returncode}):\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        log = self.directory / "server.log" if self.directory else None
        if log is None or not log.exists():
            return ""
        return "\nserver log:\n" + log.read_text(errors="replace")[-2000:]

    def _start(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="zugabe-postgis-"))
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        data = self.directory / "data"
        self._run(
            str(PG_BIN / "initdb"),
            "--pgdata",
            str(data),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
        )
        settings = dict(self.settings)
        settings["unix_socket_directories"] = f"'{self.directory}'"
        if shutil.disk_usage("/dev/shm").total < (4 << 30):
            # Small /dev/shm (containers): parallel query's shared memory goes to files.
            settings["dynamic_shared_memory_type"] = "mmap"
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\n# zugabe throw-away cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._run(
            str(PG_BIN / "pg_ctl"),
            "--pgdata",
            str(data),
            "--log",
            str(self.directory / "server.log"),
            "--wait",
            "--timeout",
            "120",
            "start",
        )

    def _stop(self) -> None:
        """Stop the server if it runs (whatever state start left it in), delete the cluster."""
        if self.directory is None:
            return
        data = self.directory / "data"
        try:
            if (data / "postmaster.pid").exists():
                # Immediate: nothing needs flushing, the cluster is deleted next.
                self._run(
                    str(PG_BIN / "pg_ctl"), "--pgdata", str(data), "--mode", "immediate", "stop"
                )
        except RuntimeError as exc:
            print(f"warning: could not stop the throw-away server: {exc}", file=sys.stderr)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
