"""The other OGC API – Features servers (pygeoapi, tipg) as local processes, for tests and bench.

ZUGABE is compared with, and its QGIS harness proven against, servers that are not its
dependencies: each lives in its own venv under ``bench/.venvs/`` made here from
``bench/requirements-<name>.txt`` (pip, on first use and whenever that file changes), so
nothing is installed by hand and the project's own venv stays as it is. Servers run as child
processes on loopback ports and are stopped (by their process id) when the ``with`` ends::

    with start_pygeoapi(config_path, token="s3cret") as server:
        server.url  # http://127.0.0.1:<port>

Imported by the tests (``bench.ogc_servers``) and by ``bench_ogcapi.py``: standard library only.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

BENCH = Path(__file__).resolve().parent
VENVS = BENCH / ".venvs"


def ensure_venv(name: str) -> Path:
    """The Python of ``bench/.venvs/<name>``, with ``requirements-<name>.txt`` installed."""
    requirements = BENCH / f"requirements-{name}.txt"
    venv = VENVS / name
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if stamp.exists() and stamp.read_bytes() == requirements.read_bytes():
        return python
    print(f"installing {name} into {venv} (pip, {requirements.name}) …", file=sys.stderr)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements)], check=True
    )
    stamp.write_bytes(requirements.read_bytes())
    return python


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """A running server: its base URL and process."""

    name: str
    url: str
    process: subprocess.Popen[bytes]


def wait_until_up(
    process: subprocess.Popen[bytes],
    url: str,
    headers: Mapping[str, str],
    timeout: float,
    output: IO[bytes] | None = None,
) -> None:
    """Poll ``url`` until it answers (any HTTP status); fail with the server's output (in
    ``output``) if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = b""
            if output is not None:
                output.seek(0)
                said = output.read()
            text = said.decode(errors="replace")
            raise RuntimeError(f"{url}: server exited ({process.returncode}):\n{text[-3000:]}")
        try:
            request = urllib.request.Request(url, headers=dict(headers))
            with urllib.request.urlopen(request, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # it answers: what it answers is the caller's business
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


@contextmanager
def running(
    name: str,
    command: Sequence[str],
    url: str,
    *,
    probe: str = "",
    env: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Iterator[ServerProcess]:
    """Start ``command``, wait until ``url + probe`` answers, stop the process at the end.

    The server's output (its access log: a line per request) goes to a temporary file, as
    it would go to the journal: written, never blocking, and at hand if the server fails.
    """
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            list(command),
            env={**os.environ, **(env or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_up(process, url + probe, headers or {}, timeout, output)
            yield ServerProcess(name, url, process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --------------------------------------------------------------------------- pygeoapi


def pygeoapi_config(
    path: Path, url: str, collections: Mapping[str, Mapping[str, Any]], max_items: int = 1000
) -> Path:
    """Write a pygeoapi configuration (JSON, which is YAML) with these collections."""
    config = {
        "server": {
            "bind": {"host": "127.0.0.1", "port": 0},
            "url": url,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "language": "en-US",
            "cors": False,
            "pretty_print": False,
            "limits": {"default_items": 100, "max_items": max_items},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": ""},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": "ZUGABE reference (pygeoapi)",
                "description": "The data of ZUGABE served by pygeoapi, for comparison",
                "keywords": ["zugabe"],
                "keywords_type": "theme",
                "terms_of_service": "",
                "url": url,
            },
            "license": {"name": "EUPL-1.2", "url": ""},
            "provider": {"name": "ZUGABE", "url": ""},
            "contact": {"name": "ZUGABE"},
        },
        "resources": {key: {"type": "collection", **value} for key, value in collections.items()},
    }
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return path


def collection(title: str, bbox: Sequence[float], provider: Mapping[str, Any]) -> dict[str, Any]:
    """One pygeoapi collection with its extent (CRS84) and feature provider."""
    return {
        "title": title,
        "description": title,
        "keywords": [title],
        "extents": {
            "spatial": {
                "bbox": list(bbox),
                "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
            }
        },
        "providers": [dict(provider)],
    }


@contextmanager
def start_pygeoapi(
    config: Path, port: int, *, token: str | None = None, threads: int = 8, workers: int = 1
) -> Iterator[ServerProcess]:
    """pygeoapi under gunicorn (``serve_pygeoapi.py``), behind a bearer gate if ``token``."""
    python = ensure_venv("pygeoapi")
    command = [
        str(python),
        str(BENCH / "serve_pygeoapi.py"),
        str(config),
        "--port",
        str(port),
        "--threads",
        str(threads),
        "--workers",
        str(workers),
    ]
    if token:
        command += ["--token", token]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"http://127.0.0.1:{port}"
    with running("pygeoapi", command, url, probe="/collections?f=json", headers=headers) as s:
        yield s


# --------------------------------------------------------------------------- tipg


@contextmanager
def start_tipg(
    database_url: str, port: int, *, schemas: Sequence[str] = ("public",), workers: int = 1
) -> Iterator[ServerProcess]:
    """tipg on a PostGIS database under uvicorn, as its documentation serves it."""
    python = ensure_venv("tipg")
    env = {
        "DATABASE_URL": database_url,
        "TIPG_DB_SCHEMAS": json.dumps(list(schemas)),
        "TIPG_MAX_FEATURES_PER_QUERY": "1000",
        "TIPG_DEFAULT_FEATURES_LIMIT": "100",
    }
    command = [
        str(python),
        "-m",
        "uvicorn",
        "tipg.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    url = f"http://127.0.0.1:{port}"
    with running("tipg", command, url, probe="/collections", env=env) as s:
        yield s
