"""Cases as a list sends them, kept in each process by their stored state.

A map view lists a few hundred cases, and rendering them (reading whole rows, building the
cases, wording them, placing their geometries, writing JSON) was most of what the server
spent on a map user. Cases change far less often than they are looked at, and every write
of a case row moves its ``updated_at`` (``CaseStamp``): so a case rendered once is kept,
keyed by its id, version, last change, the reader's language and the generation of the
display names it shows, and rendered again only when one of them changed. Nothing here is
ever out of date, so no process needs to tell another: a write anywhere changes the key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime

import orjson

RenderedKey = tuple[int, int, datetime, str, int]
"""Case id, version, updated_at, language, display-names generation."""

CAPACITY = 20_000
"""Rendered cases kept per process (about 1.5 kB each: some 30 MB), the least recently
listed dropped first."""


class RenderedCases:
    """A bounded map of ``RenderedKey`` → the case's Feature as JSON, shared by the threads
    of a process."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[RenderedKey, orjson.Fragment] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[RenderedKey]) -> list[orjson.Fragment | None]:
        with self._lock:
            found = [self._entries.get(key) for key in keys]
            for key, feature in zip(keys, found, strict=True):
                if feature is not None:
                    self._entries.move_to_end(key)
            return found

    def put_many(self, items: Iterable[tuple[RenderedKey, orjson.Fragment]]) -> None:
        with self._lock:
            self._entries.update(items)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
