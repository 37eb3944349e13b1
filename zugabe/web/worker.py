"""The worker process of ``zugabe serve``: gunicorn's ``gthread`` worker, balanced.

A connection stays with the worker that accepted it, and gunicorn's workers accept
whatever arrives while they look. Two rules spread the map's users over the workers:

- a kept-alive connection closes after ``KEEPALIVE_REQUESTS`` requests, so its client
  connects again and can land elsewhere;
- a worker accepts a new connection only while it has no more requests in hand than any
  other worker (join the shortest queue): the counts live in memory the arbiter shares
  with its children (``WorkerLoads``).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import time
from functools import cached_property
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

KEEPALIVE_REQUESTS = 5
"""Requests a kept-alive connection serves before the worker closes it (as nginx's
``keepalive_requests``, Apache's ``MaxKeepAliveRequests``); see ``RebalancingWorker``."""

LOAD_SLOTS = 64
"""Worker processes whose loads can be shared at once (the arbiter's workers, including
those started by ``TTIN`` or replacing one that ended). A worker without a slot accepts
as gunicorn's own does."""

RECHECK_SECONDS = 0.01
"""How soon a worker that leaves new connections to a less busy one looks again."""

DRAIN_SECONDS = 5.0
"""How long a worker reads the rest of a body its answer did not need (gunicorn's own
bound for a stalled client)."""

FORM_BYTES = 1024 * 1024
"""What an upload may carry around its file (the form), as nginx's ``client_max_body_size``
allows beyond ``max_upload_bytes``."""

_FREE = -1  # a slot no worker holds
_NOT_ACCEPTING = -2  # a worker booting, stopping or at its connection limit


class WorkerLoads:
    """How many requests each worker has in hand (running or waiting for a thread), in
    shared memory created by the arbiter before it forks the workers.

    The arbiter gives each worker a slot before forking it (gunicorn's ``pre_fork`` hook)
    and frees it when the worker ends (``child_exit``); only the worker writes its own
    count, and every worker reads all of them. A count is one aligned integer: a read
    never sees half a write, at worst the value of a moment ago.
    """

    def __init__(self, slots: int = LOAD_SLOTS) -> None:
        self._counts = multiprocessing.RawArray(ctypes.c_int, [_FREE] * slots)

    def assign(self, _arbiter: Any, worker: Any) -> None:
        """``pre_fork``: the worker's slot, the first free one (the arbiter is one thread);
        not compared with until the worker accepts (a booting worker would look idle)."""
        slots = [i for i, count in enumerate(self._counts) if count == _FREE]
        worker.loads, worker.load_slot = (self, slots[0]) if slots else (None, None)
        if slots:
            self._counts[slots[0]] = _NOT_ACCEPTING

    def release(self, _arbiter: Any, worker: Any) -> None:
        """``child_exit``: the ended worker's slot is free again."""
        if getattr(worker, "load_slot", None) is not None:
            self._counts[worker.load_slot] = _FREE

    def set(self, slot: int, count: int | None) -> None:
        """The worker's requests in hand, or None while it does not accept connections
        (a stopping worker with none left must not look like the least busy one)."""
        self._counts[slot] = _NOT_ACCEPTING if count is None else count

    def is_shortest(self, slot: int) -> bool:
        """Whether no other accepting worker has fewer requests in hand than ``slot``'s."""
        mine = self._counts[slot]
        return all(count < 0 or count >= mine for count in self._counts)


class RebalancingWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn's ``gthread`` worker that joins the shortest queue and closes a kept-alive
    connection after ``KEEPALIVE_REQUESTS`` requests.

    Why: 50 map users connecting at once split unevenly, and the busier worker's users
    wait longer for as long as their connections last (p50 70 ms, p95 376 ms in one run of
    ``bench/bench_load.py``). Closing after 5 requests lets a client reconnect at once,
    which costs less than a millisecond on loopback or behind nginx; the new connection
    goes to a worker with no more requests in hand than the others, not to whichever
    looked first.
    """

    loads: WorkerLoads | None = None
    load_slot: int | None = None

    def init_process(self) -> None:
        self._in_hand = 0
        self._may_accept = False
        super().init_process()

    def handle_request(self, req: Any, conn: Any) -> Any:
        if req.req_number >= KEEPALIVE_REQUESTS:
            req.must_close = True
        return super().handle_request(req, conn)

    def _keepalive_after(self, conn: Any, keepalive: bool) -> bool:
        """Read the rest of a body the answer did not need (a refused upload: 403, 415),
        up to the largest upload nginx lets through, whether the connection stays or not
        (so a connection may close after any request, an upload's too).

        gunicorn reads at most 64 KiB of it and then closes: the kernel answers the bytes
        still arriving with a reset, and nginx, still sending the upload it had taken,
        answered 502 instead of ZUGABE's refusal (the production test, on a busy machine).
        """
        drained = conn.parser.finish_body(
            deadline=time.monotonic() + DRAIN_SECONDS, max_bytes=self._drain_bytes
        )
        return keepalive and bool(drained)

    @cached_property
    def _drain_bytes(self) -> int:
        return int(self.wsgi.extensions["zugabe"].settings.max_upload_bytes) + FORM_BYTES

    # Requests in hand: submitted to the thread pool until their answer is finished. Both
    # run on the worker's main thread.

    def enqueue_req(self, conn: Any) -> None:
        self._count_in_hand(+1)
        super().enqueue_req(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        self._count_in_hand(-1)
        super().finish_request(conn, fs)

    def _count_in_hand(self, change: int) -> None:
        self._in_hand += change
        self._publish_load()

    def _publish_load(self) -> None:
        if self.loads is not None:
            self.loads.set(self.load_slot, self._in_hand if self._may_accept else None)

    # Accepting: gunicorn's loop says whether the worker may (its connection limit, not
    # stopping); it does only while its queue is the shortest, and otherwise looks again
    # within RECHECK_SECONDS.

    def set_accept_enabled(self, enabled: bool) -> None:
        self._may_accept = enabled
        self._publish_load()
        self._accept_if_shortest()

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        self._accept_if_shortest()
        if self._may_accept and not self._accepting:
            timeout = min(timeout, RECHECK_SECONDS)
        super().wait_for_and_dispatch_events(timeout)

    def _accept_if_shortest(self) -> None:
        wanted = self._may_accept and (self.loads is None or self.loads.is_shortest(self.load_slot))
        super().set_accept_enabled(wanted)  # gunicorn's: (un)registers the listeners
