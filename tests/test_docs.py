"""The documentation stays honest: settings and commands documented, curl examples working,
links pointing at files that exist.

The guides live in ``docs/`` (one page per audience); ``README.md`` is the entry with links.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from tests.served import ZUGABE, serving
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


def _examples_block() -> str:
    return ANALYSTS.split("### Examples", 1)[1].split("```bash", 1)[1].split("```", 1)[0]


def _curl_examples() -> list[str]:
    return [line for line in _examples_block().splitlines() if line.startswith("curl ")]


# The block's first command: an API token of a demo planner, as the documented CLI makes it.
_TOKEN_LINE = re.compile(r"^TOKEN=\$\((?P<command>[^)]+)\)\s*$", re.MULTILINE)
_AUTHORIZATION = '-H "Authorization: Bearer $TOKEN"'


def _token_command() -> list[str]:
    found = _TOKEN_LINE.findall(_examples_block())
    assert len(found) == 1, "the examples start with: TOKEN=$(zugabe … tokens create …)"
    return shlex.split(found[0])


@pytest.fixture
def demo_instance(tmp_path: Path) -> Path:
    """The demo town loaded as `make run` does (`zugabe demo`, with its demo accounts)."""
    instance = tmp_path / "instance"
    loaded = subprocess.run(
        [ZUGABE, "--instance", str(instance), "demo", "--source", str(ROOT / "sample_data")],
        capture_output=True,  # the demo accounts' passwords: not for the test log
        text=True,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    return instance


@pytest.fixture
def demo_server(demo_instance: Path) -> Iterator[int]:
    """`zugabe serve` of the demo town on a free port, a demo instance as under `make run`."""
    with (
        (demo_instance.parent / "serve.log").open("w") as log,  # its access log, for the test
        serving(demo_instance, log=log) as (_server, port),
    ):
        yield port


def test_curl_examples_work_as_written(demo_instance: Path, demo_server: int) -> None:
    examples = _curl_examples()
    assert len(examples) >= 6
    for example in examples:
        assert _AUTHORIZATION in example, f"every example authenticates: {example}"
    # The token as the docs make it: their command, run against the test's demo instance.
    program, *args = _token_command()
    assert Path(program).name == "zugabe"
    made = subprocess.run(
        [ZUGABE, *args],
        env={**os.environ, "ZUGABE_INSTANCE_PATH": str(demo_instance)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("zgb_") and len(token.split()) == 1, "only the token on stdout"
    for example in examples:
        written = example.replace("127.0.0.1:5000", f"127.0.0.1:{demo_server}")
        args = shlex.split(written.replace("$TOKEN", token))
        result = subprocess.run(
            [args[0], "--fail-with-body", *args[1:]], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{example}\n{result.stdout}\n{result.stderr}"
        if "/api/projects?" in example:
            assert re.search(r'"numberReturned":\s*[1-9]', result.stdout), example
    # One access-log line per request, without the token or the query string.
    log = (demo_instance.parent / "serve.log").read_text("utf-8")
    assert re.search(r'127\.0\.0\.1 herne\.planner "GET /api/projects" 200', log), log[-2000:]
    assert token not in log and "?" not in log
    served = urllib.request.urlopen(f"http://127.0.0.1:{demo_server}/login", timeout=5)
    # gunicorn names itself (it has no switch for that), but never its version.
    assert served.headers.get("Server") == "gunicorn"
