"""The README stays honest: settings and commands documented, curl examples working."""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from zugabe.cli import cli
from zugabe.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text("utf-8")


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    assert f"| `{name}` |" in README


def _commands(group: click.Group, prefix: str = "zugabe") -> Iterator[str]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}"


@pytest.mark.parametrize("command", list(_commands(cli)))
def test_every_command_is_documented(command: str) -> None:
    assert f"`{command}" in README


def _curl_examples() -> list[str]:
    section = README.split("### Examples", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line for line in section.splitlines() if line.startswith("curl ")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[int]:
    """`zugabe serve` on a free port, with the demo town loaded as `make run` does."""
    zugabe = str(Path(sys.executable).with_name("zugabe"))
    instance = ["--instance", str(tmp_path)]
    subprocess.run([zugabe, *instance, "demo", "--source", str(ROOT / "sample_data")], check=True)
    port = _free_port()
    server = subprocess.Popen([zugabe, *instance, "serve", "--port", str(port)])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/vocab", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_curl_examples_work_as_written(demo_server: int) -> None:
    examples = _curl_examples()
    assert len(examples) >= 6
    for example in examples:
        args = shlex.split(example.replace("127.0.0.1:5000", f"127.0.0.1:{demo_server}"))
        result = subprocess.run(
            [args[0], "--fail-with-body", *args[1:]], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{example}\n{result.stdout}\n{result.stderr}"
        if "/api/projects?" in example:
            assert re.search(r'"numberReturned":\s*[1-9]', result.stdout), example
