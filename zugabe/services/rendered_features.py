"""Features as a list sends them, kept in each process by their stored state.

A map view lists a few dozen projects and a few hundred cases, and rendering them (reading
whole rows, building the objects, placing their geometries in lon/lat, wording cases,
writing JSON) was most of what the server spent on a map user. Projects and cases change
far less often than they are looked at, and every write of their rows moves the row's
``updated_at`` (``RowStamp``): so a feature rendered once is kept, keyed by its stamp and
whatever else shaped it (a case's language and the display names it shows), and rendered
again only when one of them changed. Nothing here is ever out of date, so no process needs
to tell another: a write anywhere changes the key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from zugabe.services.query import matched
from zugabe.storage.contract import RowStamp, Stamps

RENDER_AHEAD_PAGE = 1000
"""Rows read and rendered at a time when rendering ahead (``keep_newest``)."""

RenderedKey = tuple[Hashable, ...]
"""Row id, version, updated_at, then what else shaped the feature."""

Render = Callable[[tuple[int, ...]], Sequence[tuple[RowStamp, orjson.Fragment]]]
"""Reads the rows with these ids as they are now and renders them: (stamp, Feature JSON)."""


def kept_json(feature: Any) -> orjson.Fragment:
    """A feature's JSON to keep: orjson's output holds a buffer of some 8 kB whatever its
    length (a case's 1.2 kB of JSON took 8 kB of memory), so it is copied to its length."""
    return orjson.Fragment(bytes(memoryview(orjson.dumps(feature))))


@dataclass(frozen=True)
class FeaturePage:
    """A page of a list as it is sent: each Feature's JSON."""

    features: list[orjson.Fragment]
    number_matched: int
    next_after: int | None


class RenderedFeatures:
    """A bounded map of ``RenderedKey`` → a Feature as JSON, shared by the threads of a
    process; beyond ``capacity`` the least recently listed are dropped (the projects keep
    ``PROJECTS_KEPT``, the cases the setting ``rendered_cases``)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[RenderedKey, orjson.Fragment] = OrderedDict()
        self._lock = threading.Lock()

    def page(
        self,
        stamps: Stamps,
        *,
        limit: int,
        after: int | None,
        shaped_by: tuple[Hashable, ...],
        render: Render,
        count: Callable[[], int],
    ) -> FeaturePage:
        """The page of ``stamps`` (read with ``limit + 1`` to tell whether more follow):
        the features kept in the same state taken as they are, the others read and rendered
        by ``render`` and kept. ``shaped_by`` completes the key (language, names, CRS);
        ``count`` is asked how many match unless the stamps tell."""
        has_more = len(stamps.rows) > limit
        page = stamps.rows[:limit]
        found = self.get_many([(*s, *shaped_by) for s in page])
        missing = tuple(s.id for s, feature in zip(page, found, strict=True) if feature is None)
        if missing:
            fresh = render(missing)
            self.keep(fresh, shaped_by)
            # A row written since its stamp was read is sent as it is now; one deleted since,
            # not at all.
            by_id = {s.id: feature for s, feature in fresh}
            found = [f or by_id.get(s.id) for s, f in zip(page, found, strict=True)]
        return FeaturePage(
            [f for f in found if f is not None],
            matched(page, after, has_more, count) if stamps.matched is None else stamps.matched,
            page[-1].id if has_more else None,
        )

    def keep_newest(
        self, stamps: Sequence[RowStamp], render: Render, shaped_by: tuple[Hashable, ...]
    ) -> None:
        """Render and keep the newest of these rows (the highest ids), as many as are kept,
        ``RENDER_AHEAD_PAGE`` at a time: what a starting server does, so that the first map
        views find them rendered."""
        newest = stamps[len(stamps) - min(len(stamps), self.capacity) :]
        for start in range(0, len(newest), RENDER_AHEAD_PAGE):
            ids = tuple(s.id for s in newest[start : start + RENDER_AHEAD_PAGE])
            self.keep(render(ids), shaped_by)

    def keep(
        self, rendered: Iterable[tuple[RowStamp, orjson.Fragment]], shaped_by: tuple[Hashable, ...]
    ) -> None:
        """Keep features rendered from rows in the state of their stamps."""
        self.put_many(((*s, *shaped_by), f) for s, f in rendered)

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
