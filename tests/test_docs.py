"""The documentation stays honest: settings and commands documented, curl examples working,
links pointing at files that exist.

The guides live in ``docs/`` (one page per audience); ``README.md`` is the entry with links.
"""

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
DOCS = ROOT / "docs"
PAGES = ["planners", "reviewers", "analysts", "administrators", "developers"]
ADMINISTRATORS = (DOCS / "administrators.md").read_text("utf-8")
ANALYSTS = (DOCS / "analysts.md").read_text("utf-8")
ALL_DOCS = "\n".join(path.read_text("utf-8") for path in sorted(DOCS.glob("*.md")))


def test_every_audience_has_its_page() -> None:
    assert sorted(path.stem for path in DOCS.glob("*.md")) == sorted(PAGES)


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    assert f"| `{name}` |" in ADMINISTRATORS


def _commands(group: click.Group, prefix: str = "zugabe") -> Iterator[str]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}"


@pytest.mark.parametrize("command", list(_commands(cli)))
def test_every_command_is_documented(command: str) -> None:
    assert f"`{command}" in ALL_DOCS


# [text](target) or [text](target "title"); fenced code is left out before matching.
_LINK = re.compile(r"\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _relative_links() -> list[tuple[str, str]]:
    links = []
    for page in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        text = _FENCE.sub("", page.read_text("utf-8"))
        for target in _LINK.findall(text):
            if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
                continue  # http:, https:, mailto: …, or an anchor on the same page
            links.append((str(page.relative_to(ROOT)), target))
    return links


def test_the_pages_have_relative_links() -> None:
    pages = {page for page, _ in _relative_links()}
    assert pages == {"README.md", *(f"docs/{name}.md" for name in PAGES)}


@pytest.mark.parametrize(("page", "target"), _relative_links())
def test_every_relative_link_points_to_a_file(page: str, target: str) -> None:
    path = target.split("#", 1)[0]  # the file only; anchors are not checked
    assert (ROOT / page).parent.joinpath(path).resolve().exists(), f"{page}: {target}"


def _curl_examples() -> list[str]:
    section = ANALYSTS.split("### Examples", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
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
