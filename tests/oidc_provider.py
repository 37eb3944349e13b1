"""Start the real OpenID Connect provider in tests/oidc for sign-in tests.

The provider is npm's `oidc-provider` run by the machine's node, so the
sign-in code is tested against a spec-conformant server (discovery, JWKS,
signed ID tokens, client authentication) rather than a mock.

Usage::

    ensure_installed()
    with running_provider("zugabe", "secret", ["http://127.0.0.1:5000/auth/callback"],
                          {"alice": {"password": "pw", "claims": {"name": "Alice"}}}) as issuer:
        ...  # point the app at f"{issuer}/.well-known/openid-configuration"
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
PROVIDER_SCRIPT = OIDC_DIR / "provider.mjs"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
NPM_CI_TIMEOUT_S = 300.0

_MISSING_TOOLS_HINT = (
    "the test OpenID Connect provider needs node (>= 20.19) and npm; "
    "on Debian: apt-get install nodejs npm"
)


class ProviderError(RuntimeError):
    """The test OpenID Connect provider could not be installed or started."""


def _require_tool(name: str) -> str:
    """Path of `name`, or a clear error naming the Debian packages to install."""
    path = shutil.which(name)
    if path is None:
        raise ProviderError(f"`{name}` not found: {_MISSING_TOOLS_HINT}")
    return path


def ensure_installed() -> None:
    """Install the provider's npm dependencies from the lock file if missing.

    `npm ci` installs exactly what package-lock.json pins, so every machine
    tests against the same oidc-provider release.
    """
    _require_tool("node")
    if (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        return
    npm = _require_tool("npm")
    try:
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=OIDC_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_CI_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ProviderError(f"`npm ci` in {OIDC_DIR} took over {NPM_CI_TIMEOUT_S:.0f} s") from exc
    if result.returncode != 0:
        raise ProviderError(
            f"`npm ci` in {OIDC_DIR} failed ({result.returncode}):\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )


def _free_port() -> int:
    """A port free right now on 127.0.0.1 (the OS picks it, so tests can run in parallel)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pump_lines(stream: Any, lines: queue.Queue[str]) -> None:
    """Read the provider's stdout until EOF so its pipe never fills up."""
    try:
        for line in stream:
            lines.put(line)
    except (OSError, ValueError):  # closed by running_provider() at exit
        pass


def _discovery_answers(issuer: str, deadline: float) -> bool:
    """True once the discovery document is served: READY alone does not prove routing works."""
    url = f"{issuer}/.well-known/openid-configuration"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200 and json.load(response).get("issuer") == issuer:
                    return True
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM first (the provider exits cleanly on it), SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def running_provider(
    client_id: str,
    client_secret: str,
    redirect_uris: Sequence[str],
    accounts: Mapping[str, Mapping[str, Any]],
    post_logout_redirect_uris: Sequence[str] = (),
) -> Iterator[str]:
    """Run the provider for one confidential client and yield its issuer URL.

    `accounts` maps a username to {"password": ..., "claims": {...}}; the
    username becomes `sub`. The process is stopped when the block exits.
    """
    node = _require_tool("node")
    if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        raise ProviderError(
            f"oidc-provider is not installed: call ensure_installed() or run `npm ci` in {OIDC_DIR}"
        )
    with tempfile.TemporaryDirectory(prefix="zugabe-oidc-") as tmp:
        accounts_path = Path(tmp) / "accounts.json"
        accounts_path.write_text(json.dumps(accounts), encoding="utf-8")
        stderr_path = Path(tmp) / "provider.stderr"
        port = _free_port()
        issuer = f"http://127.0.0.1:{port}"
        env = {key: value for key, value in os.environ.items() if key != "NODE_ENV"}
        env.update(
            OIDC_PORT=str(port),
            OIDC_CLIENT_ID=client_id,
            OIDC_CLIENT_SECRET=client_secret,
            OIDC_REDIRECT_URIS=",".join(redirect_uris),
            OIDC_POST_LOGOUT_REDIRECT_URIS=",".join(post_logout_redirect_uris),
            OIDC_ACCOUNTS=str(accounts_path),
        )
        with stderr_path.open("w", encoding="utf-8") as stderr:
            process = subprocess.Popen(
                [node, str(PROVIDER_SCRIPT)],
                cwd=OIDC_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        try:
            lines: queue.Queue[str] = queue.Queue()
            threading.Thread(target=_pump_lines, args=(process.stdout, lines), daemon=True).start()
            deadline = time.monotonic() + START_TIMEOUT_S
            ready = False
            while not ready and time.monotonic() < deadline and process.poll() is None:
                try:
                    line = lines.get(timeout=0.1)
                except queue.Empty:
                    continue
                ready = line.strip() == f"READY {issuer}"
            if not (ready and _discovery_answers(issuer, deadline)):
                _stop(process)
                raise ProviderError(
                    f"OIDC provider did not become ready within {START_TIMEOUT_S:.0f} s "
                    f"(exit code {process.returncode}); stderr:\n"
                    f"{stderr_path.read_text(encoding='utf-8')[-4000:]}"
                )
            yield issuer
        finally:
            _stop(process)
            if process.stdout is not None:
                process.stdout.close()
