"""Python's cyclic garbage collector paused while a bulk operation builds millions of objects.

Building the detection index, turning a batch run's findings into cases, importing a layer
and a worker's warm-up allocate millions of objects (projects, layer columns, findings, rows,
rendered features) that form no reference cycles. Every few hundred allocations start a
collection, and the full ones walk every object alive, the detection index included: at
50,000 projects × 1,000,000 layer features that was 4 s of a 34 s batch run
(``bench/bench_scale.py``) and 4 s of a worker's 26 s warm-up with 258,889 cases, and 0.8 s
of a 500,000-row layer import (``bench/bench_layer_import.py``). Reference counting still
frees what these operations drop; only cycles made meanwhile, by them or by other threads
(requests served during a warm-up), wait until the pause ends.
"""

from __future__ import annotations

import gc
import threading
from contextlib import ContextDecorator


class _Pause:
    """One pause shared by nested and concurrent holders: the collector runs again when the
    last one leaves, and only if it ran when the first one came (a host that switched it off
    keeps it off)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._was_enabled = False

    def enter(self) -> None:
        with self._lock:
            if self._holders == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._holders += 1

    def leave(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0 and self._was_enabled:
                gc.enable()


_PAUSE = _Pause()  # one per process, like the collector itself


class collector_paused(ContextDecorator):  # lower case: used like a function
    """The collector paused for a ``with`` block or a decorated call (see the module)."""

    def __enter__(self) -> None:
        _PAUSE.enter()

    def __exit__(self, *exc_info: object) -> None:
        _PAUSE.leave()
