"""Issue 14, item 3: ``zugabe serve --workers N`` runs N processes on one store, and each
one's detection index stays right when another worker or the CLI writes."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import ADMIN, actor_for, ensure_account, feature
from tests.served import ZUGABE, serving, worker_of
from tests.test_live_index import line, rules_of, sewer
from zugabe.config import Settings
from zugabe.domain.accounts import Scope
from zugabe.services import Services
from zugabe.web.worker import KEEPALIVE_REQUESTS, WorkerLoads


class Client:
    """One kept-alive HTTP connection, so all its requests reach the same worker."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def send(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body)
        self.connection.request(method, path, body=data, headers=self.headers | (headers or {}))
        response = self.connection.getresponse()
        text = response.read()
        return response.status, json.loads(text) if text else None

    @property
    def local_port(self) -> int:
        assert self.connection.sock is not None
        return int(self.connection.sock.getsockname()[1])


def write_token(instance: Path, username: str) -> str:
    services = Services.open(Settings(instance_path=instance))
    try:
        ensure_account(services, username)
        return services.accounts.create_token(ADMIN, username, "tests", Scope.WRITE)[1]
    finally:
        services.close()


def one_client_per_worker(server_pid: int, port: int, token: str) -> list[Client]:
    """Connections until two land on different workers. The kernel picks the worker, and a
    worker still warming up after its start may lose every race for a while: keep trying,
    with a pause between connections, for up to a minute."""
    by_worker: dict[int, Client] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        client = Client(port, token)
        assert client.send("GET", "/api/me")[0] == 200
        worker = worker_of(server_pid, port, client.local_port)
        if worker in by_worker:
            client.connection.close()
            time.sleep(0.1)
            continue
        by_worker[worker] = client
        if len(by_worker) == 2:
            return list(by_worker.values())
    raise AssertionError(f"for a minute every connection reached worker {set(by_worker)}")


def test_two_workers_writing_in_turn_leave_the_cases_of_a_fresh_batch_run(
    demo_instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The batch runs share their rules out over helper processes, as a large region's do
    # (``detection_shares``): the server's (as a job of a worker) and the CLI's.
    monkeypatch.setenv("ZUGABE_DETECTION_PROCESSES", "2")
    monkeypatch.setenv("ZUGABE_DETECTION_PROCESSES_FROM", "0")
    token = write_token(demo_instance, "h.planner")
    admin_token = write_token(demo_instance, "r.admin")  # the account of the batch runs
    with serving(demo_instance, ["--workers", "2"]) as (server, port):
        a, b = one_client_per_worker(server.pid, port, token)
        status, road = a.send("POST", "/api/projects", feature(line(0)))
        assert status == 201, road
        # Worker b has not seen the road: its index catches up before detecting.
        status, trench = b.send("POST", "/api/projects", sewer())
        assert status == 201, trench
        assert f"project:{road['id']}" in str(rules_of(trench))
        far = a.send("POST", "/api/projects", sewer(0.05))[1]
        assert far["cases"] == []
        moved = b.send("PATCH", f"/api/projects/{far['id']}", {"geometry": line(0.0001)})[1]
        assert f"project:{road['id']}" in str(rules_of(moved))
        # The CLI (another process with its own store connection) saves one too.
        cli = Services.open(Settings(instance_path=demo_instance))
        try:
            [beside] = cli.projects.create_many([sewer(0.0002)], actor_for(cli, "h.planner"))
        finally:
            cli.close()
        assert b.send("DELETE", f"/api/projects/{trench['id']}")[0] == 204
        status, again = a.send("PUT", f"/api/projects/{road['id']}", feature(line(0)))
        assert status == 200, again
        met = str(rules_of(again))
        assert f"project:{far['id']}" in met and f"project:{beside.id}" in met
        assert f"project:{trench['id']}" not in met
        # A batch run as a job, started through one worker and followed through the other.
        admin = {"Authorization": f"Bearer {admin_token}", "Prefer": "respond-async"}
        status, job = a.send("POST", "/api/cases/detect", headers=admin)
        assert status == 202, job
        for _ in range(400):
            status, seen = b.send("GET", f"/api/jobs/{job['id']}", headers=admin)
            assert status == 200, seen
            if seen["state"] in ("done", "failed"):
                break
            time.sleep(0.05)
        assert seen["state"] == "done" and seen["result"]["created"] == 0, seen
    # A fresh batch run over the store finds exactly the cases the workers left.
    batch = subprocess.run(
        [ZUGABE, "--instance", str(demo_instance), "--user", "r.admin", "detect", "--all"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert batch.returncode == 0, batch.stderr
    assert " 0 new cases, 0 updated, " in batch.stdout, batch.stdout
    assert "0 reopened, 0 obsolete" in batch.stdout, batch.stdout


def test_a_request_under_way_when_the_server_is_told_to_stop_is_answered(
    demo_instance: Path,
) -> None:
    """SIGTERM (systemd's stop, a deploy's restart): no new connections, but the request a
    worker is reading finishes and its project is stored."""
    token = write_token(demo_instance, "h.planner")
    body = json.dumps(feature(line(0))).encode()
    with serving(demo_instance, ["--workers", "2"]) as (server, port):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            connection.sendall(
                (
                    "POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                ).encode()
                + body[:20]
            )
            time.sleep(1)  # a worker has taken the request and waits for the rest of it
            server.send_signal(signal.SIGTERM)
            time.sleep(1)
            connection.sendall(body[20:])
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        assert server.wait(timeout=30) == 0
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:300]
    created = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    services = Services.open(Settings(instance_path=demo_instance))
    try:
        assert services.store.get_project(created["id"]) is not None
    finally:
        services.close()


UPLOADS_HELD = 3
"""More than the other worker has in hand even while it answers a request and notices a
connection closing (the test runs on a busy machine too)."""


def test_a_new_connection_goes_to_the_worker_with_fewer_requests_in_hand(
    demo_instance: Path,
) -> None:
    """Join the shortest queue (``RebalancingWorker``, ``WorkerLoads``): while one worker
    holds three requests (uploads still arriving: two on its threads, one waiting) and the
    other none, every new connection goes to the other; before, each went to whichever
    worker looked first."""
    token = write_token(demo_instance, "h.planner")
    upload = (
        "POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n{"
    ).encode()
    with serving(demo_instance, ["--workers", "2"]) as (server, port), ExitStack() as stack:
        # Both workers accept first: a worker still booting is not compared with, so the
        # other one would rightly take every connection (on a busy machine, for seconds).
        for client in one_client_per_worker(server.pid, port, token):
            client.connection.close()
        held: dict[int, list[socket.socket]] = defaultdict(list)
        while not any(len(uploads) == UPLOADS_HELD for uploads in held.values()):
            connection = stack.enter_context(socket.create_connection(("127.0.0.1", port)))
            connection.sendall(upload)
            held[accepted_by(server.pid, port, connection.getsockname()[1])].append(connection)
        [busy] = [worker for worker, uploads in held.items() if len(uploads) == UPLOADS_HELD]
        for connection in (c for worker, cs in held.items() if worker != busy for c in cs):
            connection.sendall(b" " * 99)  # the rest: answered (not a project), done
            answer = http.client.HTTPResponse(connection)
            answer.begin()
            assert answer.status == 422  # unfinished JSON
        time.sleep(1)  # its threads read two bodies, one waits: three requests in hand
        reached = []
        for _ in range(20):  # kept open: a connection closing is a request in hand a moment
            client = Client(port, token)
            assert client.send("GET", "/api/me")[0] == 200
            reached.append(worker_of(server.pid, port, client.local_port))
            stack.callback(client.connection.close)
        assert busy not in reached, (busy, reached)


def test_a_reload_replaces_the_workers_and_each_new_one_takes_connections(
    demo_instance: Path,
) -> None:
    """SIGHUP (systemd's reload): new workers start and the old ones stop; requests are
    answered throughout, and both new workers take connections (they got slots for their
    loads, and the stopping ones are not compared with)."""
    token = write_token(demo_instance, "h.planner")
    with serving(demo_instance, ["--workers", "2"]) as (server, port):
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
        old = {int(pid) for pid in children.read_text().split()}
        server.send_signal(signal.SIGHUP)
        reached: set[int] = set()
        deadline = time.monotonic() + 60
        while len(reached - old) < 2 and time.monotonic() < deadline:
            client = Client(port, token)
            assert client.send("GET", "/api/me")[0] == 200
            # A stopping worker answers with "Connection: close": not one of the new ones.
            if client.connection.sock is not None:
                reached.add(worker_of(server.pid, port, client.local_port))
            client.connection.close()
            time.sleep(0.05)
        assert len(reached - old) == 2, (old, reached)


def test_workers_compare_loads_only_with_workers_that_accept() -> None:
    """A booting worker, a stopping one or one at its connection limit has no requests in
    hand but must not look like the least busy: the others would stop accepting."""
    loads = WorkerLoads(slots=3)
    a, b = SimpleNamespace(), SimpleNamespace()
    loads.assign(None, a)
    loads.assign(None, b)
    loads.set(a.load_slot, 2)
    assert loads.is_shortest(a.load_slot)  # b is booting
    loads.set(b.load_slot, 0)
    assert loads.is_shortest(b.load_slot) and not loads.is_shortest(a.load_slot)
    loads.set(b.load_slot, 2)
    assert loads.is_shortest(a.load_slot) and loads.is_shortest(b.load_slot)  # a tie
    loads.set(b.load_slot, None)  # b stops
    loads.set(a.load_slot, 7)
    assert loads.is_shortest(a.load_slot)
    loads.release(None, b)  # b ended: its slot goes to the next worker
    c, d, e = SimpleNamespace(), SimpleNamespace(), SimpleNamespace()
    for worker in (c, d, e):
        loads.assign(None, worker)
    assert (c.load_slot, d.load_slot, e.load_slot) == (b.load_slot, 2, None)
    assert e.loads is None  # no slot left: it accepts as gunicorn's own worker does


def test_a_body_the_answer_did_not_need_is_read_and_the_connection_stays(
    demo_instance: Path,
) -> None:
    """A refused upload is answered before its body has arrived; the worker then reads the
    rest (up to the upload limit) instead of closing on it. Closing on unread bytes resets
    the connection, and nginx, still sending the upload, answered 502 instead of 403."""
    token = write_token(demo_instance, "h.planner")  # may not import layers
    body = b"x" * (8 * 1024 * 1024)
    with (
        serving(demo_instance) as (_server, port),
        socket.create_connection(("127.0.0.1", port), timeout=30) as connection,
    ):
        connection.sendall(
            (
                "POST /api/layers/trees HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
        )
        refused = http.client.HTTPResponse(connection)
        refused.begin()
        assert refused.status == 403 and not refused.will_close
        refused.read()
        connection.sendall(body)
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        after = http.client.HTTPResponse(connection)
        after.begin()
        assert after.status == 200


def accepted_by(server_pid: int, port: int, client_port: int, timeout: float = 30) -> int:
    """The worker that accepted a connection, once one has (until then the connection
    waits in the listening socket's queue)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return worker_of(server_pid, port, client_port)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_a_kept_alive_connection_is_closed_after_its_fifth_request(
    demo_instance: Path,
) -> None:
    """So that its client connects again, to the least busy worker: connections do not stay
    piled on one busy worker (``RebalancingWorker``). The fifth may be a refused upload:
    its body is read before the connection closes, so the client sees the answer."""
    with serving(demo_instance, ["--workers", "2"]) as (_server, port):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for number in range(1, KEEPALIVE_REQUESTS + 1):
            if number == KEEPALIVE_REQUESTS:
                connection.request("POST", "/api/projects", body=b"x" * (2 * 1024 * 1024))
                response = connection.getresponse()
                assert response.status == 415  # no JSON content type: refused
            else:
                connection.request("GET", "/health")
                response = connection.getresponse()
                assert response.status == 200
            response.read()
            assert response.will_close == (number == KEEPALIVE_REQUESTS), number
            if number == 1:
                kept = connection.sock
        assert connection.sock is None  # closed after the last answer
        assert kept is not None and kept.fileno() == -1
        connection.request("GET", "/health")  # http.client connects again
        assert connection.getresponse().status == 200
