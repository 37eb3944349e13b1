"""Finding a place by name: streets, districts and projects, from what the store holds.

The map's search box asks here instead of an outside geocoder (municipal networks often
block them, and the region's own streets and districts are what planners name). Streets
come as many segments per name: a name is one result whose box covers all its segments.

The names of a layer are read once per stored version and kept in memory (a city has some
10,000 street segments: a tenth of a second to read, then microseconds to search).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from zugabe.domain.accounts import Actor
from zugabe.domain.layers import LayerDefinition
from zugabe.domain.policy import Policy
from zugabe.errors import BadRequest
from zugabe.io.crs import Reprojector
from zugabe.storage.contract import ProjectQuery, Store

SEARCH_LIMIT = 10
"""Results a search gives unless asked for more."""
SEARCH_LIMIT_MAX = 50
QUERY_MAX = 200
"""Longest query: a name, not a document."""
NAMED_LAYERS: Mapping[str, str] = {"districts": "district", "streets": "street"}
"""The layers searched by their ``name`` attribute, and the kind of their results."""


@dataclass(frozen=True)
class Place:
    """One result: what it is, its name, and its box (storage CRS) to zoom to."""

    kind: str
    label: str
    bounds: tuple[float, float, float, float]
    ref: str
    """The project's id, or the layer's key."""


@dataclass(frozen=True)
class _Names:
    """The names of one stored layer version: folded for matching, as written for showing."""

    version: int
    folded: list[str]
    places: list[Place]


class SearchService:
    def __init__(
        self,
        store: Store,
        definitions: Mapping[str, LayerDefinition],
        reprojector: Reprojector,
        policy: Policy,
    ) -> None:
        self.store = store
        self.definitions = definitions
        self.reprojector = reprojector
        self.policy = policy
        self._names: dict[str, _Names] = {}
        self._lock = threading.Lock()

    def search(self, actor: Actor, text: str, limit: int = SEARCH_LIMIT) -> list[Place]:
        """Districts, then streets, then projects whose name holds ``text`` (any case;
        ``strasse`` finds ``Straße``); within each, names that start with it first."""
        self.policy.require_read(actor)
        wanted = text.strip().casefold()
        if not wanted or len(text) > QUERY_MAX:
            raise BadRequest(f"'q' needs 1 to {QUERY_MAX} characters besides spaces")
        if not 1 <= limit <= SEARCH_LIMIT_MAX:
            raise BadRequest(f"'limit' must be between 1 and {SEARCH_LIMIT_MAX}")
        found: list[Place] = []
        for key in NAMED_LAYERS:
            if key in self.definitions:
                found += _matching(self._layer_names(key), wanted)
        found += self._projects(text.strip(), wanted)
        return found[:limit]

    def to_feature(self, place: Place) -> dict[str, Any]:
        """A result as a GeoJSON Feature: its box (``bbox``, lon/lat) and the box's centre."""
        west, south, east, north = self.reprojector.to_wgs84(shapely.box(*place.bounds)).bounds
        box = [round(v, 7) for v in (west, south, east, north)]
        centre = [round((west + east) / 2, 7), round((south + north) / 2, 7)]
        return {
            "type": "Feature",
            "bbox": box,
            "geometry": {"type": "Point", "coordinates": centre},
            "properties": {"kind": place.kind, "label": place.label, "ref": place.ref},
        }

    def _layer_names(self, key: str) -> _Names:
        info = self.store.get_layer(key)
        version = info.version if info is not None else 0
        with self._lock:
            names = self._names.get(key)
            if names is None or names.version != version:
                names = self._read_names(key, version) if version else _Names(0, [], [])
                self._names[key] = names
        return names

    def _read_names(self, key: str, version: int) -> _Names:
        features = self.store.layer_features(key)
        bounds = shapely.bounds(np.array([f.geometry for f in features], dtype=object))
        boxes: dict[str, list[float]] = {}
        for feature, (west, south, east, north) in zip(features, bounds, strict=True):
            name = feature.attributes.get("name")
            if not isinstance(name, str) or not name.strip():
                continue
            box = boxes.setdefault(name.strip(), [west, south, east, north])
            box[:] = [min(box[0], west), min(box[1], south), max(box[2], east), max(box[3], north)]
        kind = NAMED_LAYERS[key]
        names = sorted(boxes)
        places = [Place(kind, name, _box(boxes[name]), key) for name in names]
        return _Names(version, [name.casefold() for name in names], places)

    def _projects(self, text: str, wanted: str) -> list[Place]:
        projects = self.store.list_projects(ProjectQuery(text=text, limit=SEARCH_LIMIT_MAX))
        if text.isdigit() and len(text) < 19 and (by_id := self.store.get_project(int(text))):
            projects = [by_id, *(p for p in projects if p.id != by_id.id)]
        places = [
            Place("project", p.attributes.title, _box(p.geometry.bounds), str(p.id))
            for p in projects
        ]
        return sorted(
            places, key=lambda p: (p.ref != text, not p.label.casefold().startswith(wanted))
        )


def _box(values: Any) -> tuple[float, float, float, float]:
    west, south, east, north = (float(v) for v in values)
    return west, south, east, north


def _matching(names: _Names, wanted: str) -> list[Place]:
    """The places whose name holds ``wanted``, those starting with it first (stable: by name)."""
    hits = [i for i, name in enumerate(names.folded) if wanted in name]
    hits.sort(key=lambda i: not names.folded[i].startswith(wanted))
    return [names.places[i] for i in hits]
