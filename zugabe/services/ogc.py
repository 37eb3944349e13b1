"""OGC API – Features: collections and pages of items over the existing services.

The web layer (``zugabe.web.ogc``) parses and renders; this module decides what a
collection is, reads a page of it through the service that owns its data (so every read
asks the policy) and moves geometry into the asked CRS with the one ``Reprojector``.

Collections: ``projects``, ``cases``, one per thematic layer type with stored data (id =
layer key), and ``synergy``: the synergy grid as ``GET /api/synergy`` computes it without
parameters (the criteria file's cell size over the stored criteria layers), read-only, its
cells numbered by their place in the grid (the same cell keeps its id until the data
changes), computed once per store revision.

An items request (``ItemsRequest``) holds everything that narrows a page; a new filter
(CQL2's ``filter``) is one more field there and one more term where the store query is
built (``_project_query``, ``_case_query``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from zugabe.config import Settings
from zugabe.domain.accounts import Actor
from zugabe.domain.filters import Filter
from zugabe.domain.queryables import Queryables, collection_queryables
from zugabe.engine.synergy import SynergyResult
from zugabe.errors import BadRequest, NotFound
from zugabe.io.crs import CRS84_CRS, CRS84_URI, crs_uri
from zugabe.io.geojson import geometry_to_json
from zugabe.services.cql2 import CQL2_TEXT, parse_filter
from zugabe.storage.contract import CaseQuery, ProjectQuery

if TYPE_CHECKING:
    from zugabe.services import Services

PROJECTS, CASES, SYNERGY = "projects", "cases", "synergy"
WRITABLE = frozenset({PROJECTS})
"""Collections that take Part 4 writes; the others answer 405."""
ITEMS_PARAMETERS = frozenset(
    {"bbox", "bbox-crs", "crs", "datetime", "filter", "filter-lang", "filter-crs"}
    | {"limit", "after", "f", "lang"}
)
"""The items parameters of Parts 1–3: a queryable of the same name is not filtered on by
a property parameter (a layer attribute called ``datetime`` takes a CQL2 filter)."""
_OPEN = ".."
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}(?:[Tt].*)?")

Period = tuple[date | None, date | None]


@dataclass(frozen=True)
class ItemsRequest:
    """What narrows a page of items, parsed and checked (400 otherwise)."""

    crs: CRS
    bbox: tuple[float, float, float, float] | None = None
    bbox_crs: CRS | None = None
    period: Period | None = None
    limit: int = 100
    after: int | None = None
    filter: Filter | None = None  # Part 3: CQL2, translated into the store's query


@dataclass(frozen=True)
class ItemsPage:
    features: Sequence[dict[str, Any] | orjson.Fragment]
    matched: int
    next_after: int | None


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    item_type: str = "feature"
    temporal: bool = False
    writable: bool = False


@dataclass
class _Cached:
    """A value computed from the store, kept until the store's revision moves."""

    revision: int = -1
    value: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class OgcService:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.reprojector = services.projects.reprojector
        self.storage_crs_uri = crs_uri(self.reprojector.storage_crs)
        self.crs_uris = ogc_crs_uris(services.settings)
        self._crs = {uri: CRS84_CRS if uri == CRS84_URI else CRS(uri) for uri in self.crs_uris}
        self._extents: dict[str, _Cached] = {}
        self._synergy = _Cached()
        self._queryables = collection_queryables(
            services.vocabulary, services.cases.rule_by_id, services.layers.definitions
        )

    # ------------------------------------------------------------ collections

    def collections(self, actor: Actor) -> list[Collection]:
        """Every collection the actor may read (401/403 before anything is listed)."""
        self.services.policy.require_read(actor)
        stored = {info.key for info in self.services.store.list_layers()}
        found = [
            Collection(
                PROJECTS,
                "Maßnahmen | Projects",
                "Planned projects of every organisation and department.",
                temporal=True,
                writable=True,
            ),
            Collection(
                CASES,
                "Koordinierungsfälle | Coordination cases",
                "Where two "
                "projects, or a project and a layer feature, meet: conflicts, synergies, "
                "notes; the overlap geometry.",
                temporal=True,
            ),
        ]
        for key, definition in sorted(self.services.layers.definitions.items()):
            if key in stored:
                title, text = definition.title, definition.description
                found.append(Collection(key, f"{title.de} | {title.en}", text.en))
        found.append(
            Collection(
                SYNERGY,
                "Flächenkulisse | Synergy grid",
                "Square cells of the criteria "
                "file's size over the stored criteria layers, scored; read-only, "
                "computed.",
            )
        )
        return found

    def collection(self, actor: Actor, collection_id: str) -> Collection:
        for candidate in self.collections(actor):
            if candidate.id == collection_id:
                return candidate
        raise NotFound(f"no collection {collection_id!r}; see /ogc/collections")

    def extent(self, actor: Actor, collection: Collection) -> dict[str, Any]:
        """The collection's spatial extent (CRS84) and, for projects and cases, its period."""
        if collection.id == SYNERGY:
            self._synergy_grid(actor)  # computed once per revision, then measured
        bounds, period = self._cached_extent(collection.id)
        extent: dict[str, Any] = {
            "spatial": {"bbox": [list(bounds)] if bounds else [], "crs": CRS84_URI}
        }
        if collection.temporal:
            start, end = period
            extent["temporal"] = {"interval": [[start, end]], "trs": GREGORIAN}
        return extent

    def _cached_extent(self, collection_id: str) -> tuple[tuple[float, ...] | None, Period]:
        cached = self._extents.setdefault(collection_id, _Cached())
        revision = self.services.store.revision()
        with cached.lock:
            if cached.revision != revision:
                cached.value = self._measure_extent(collection_id)
                cached.revision = revision
            return cached.value

    def _measure_extent(self, collection_id: str) -> tuple[tuple[float, ...] | None, Period]:
        store = self.services.store
        geometries: Sequence[BaseGeometry]
        starts: list[date] = []
        ends: list[date] = []
        if collection_id == PROJECTS:
            columns = store.project_columns(ProjectQuery())
            geometries = shapely.from_wkb(columns.wkb)
            starts = [d.item() for d in columns.start if not np.isnat(d)]
            ends = [d.item() for d in columns.end if not np.isnat(d)]
        elif collection_id == CASES:
            cases = store.list_cases(CaseQuery())
            geometries = [c.finding.geometry for c in cases if c.finding.geometry is not None]
            starts = [c.finding.window_start for c in cases if c.finding.window_start]
            ends = [c.finding.window_end for c in cases if c.finding.window_end]
        elif collection_id == SYNERGY:
            geometries = self._synergy.value.cells
        else:
            info = store.get_layer(collection_id)
            extent = info.extent if info is not None else None
            geometries = [shapely.box(*extent)] if extent is not None else []
        bounds = None
        if len(geometries):
            box = shapely.box(*shapely.total_bounds(np.asarray(geometries, dtype=object)))
            bounds = tuple(round(v, 7) for v in self.reprojector.to_wgs84(box).bounds)
        period = (
            min(starts).isoformat() if starts else None,
            max(ends).isoformat() if ends else None,
        )
        return bounds, period  # type: ignore[return-value]

    # ------------------------------------------------------------ items

    def parse_items(
        self, collection_id: str, params: Mapping[str, str], limit: int, after: int | None
    ) -> ItemsRequest:
        """``crs``, ``bbox``, ``bbox-crs``, ``datetime`` and the CQL2 ``filter`` (with
        ``filter-lang``, ``filter-crs``) of an items request (400 if bad)."""
        bbox = None
        if params.get("bbox"):
            values = [float(v) for v in params["bbox"].split(",")]
            if len(values) == 6:  # with heights: we have none
                values = [values[0], values[1], values[3], values[4]]
            if len(values) != 4 or not (values[0] <= values[2] and values[1] <= values[3]):
                raise BadRequest(
                    f"'bbox' must be four numbers, each minimum not above its maximum, got "
                    f"{params['bbox'][:200]!r}"
                )
            bbox = (values[0], values[1], values[2], values[3])
        bbox_crs = self.crs_of(params.get("bbox-crs"), "bbox-crs")
        return ItemsRequest(
            crs=self.crs_of(params.get("crs"), "crs"),
            bbox=bbox,
            bbox_crs=bbox_crs,
            period=parse_datetime(params["datetime"]) if params.get("datetime") else None,
            limit=limit,
            after=after,
            filter=self._filter(collection_id, params),
        )

    def _filter(self, collection_id: str, params: Mapping[str, str]) -> Filter | None:
        """The CQL2 ``filter`` and Part 1's property parameters (``status=planning``: the
        queryable equals the value), all of which must hold; None when there are none."""
        queryables = self._queryables.get(collection_id)
        equal = {
            name: value
            for name, value in params.items()
            if name not in ITEMS_PARAMETERS and queryables and queryables.get(name)
        }
        if not params.get("filter") and not equal:
            return None
        if collection_id == SYNERGY:
            raise BadRequest("the synergy grid is computed, not stored: it takes no 'filter'")
        return parse_filter(
            params.get("filter"),
            self.queryables(collection_id),
            self.reprojector,
            lang=params.get("filter-lang", CQL2_TEXT),
            filter_crs=params.get("filter-crs"),
            equal=equal,
        )

    def queryables(self, collection_id: str) -> Queryables:
        """What a filter of the collection may name (its queryables document, its SQL)."""
        if collection_id not in self._queryables:
            raise NotFound(f"the collection {collection_id!r} has no queryables")
        return self._queryables[collection_id]

    def crs_of(self, uri: str | None, name: str) -> CRS:
        if not uri:
            return CRS84_CRS
        if uri not in self._crs:
            raise BadRequest(f"'{name}' must be one of {', '.join(self.crs_uris)}, got {uri!r}")
        return self._crs[uri]

    def items(
        self, actor: Actor, collection_id: str, request: ItemsRequest, *, as_json: bool = False
    ) -> ItemsPage:
        """One page of a collection, in id order, geometry in ``request.crs``; ``as_json``:
        the projects as JSON to send as they are (kept rendered), not as dicts to show."""
        services = self.services
        area = (
            self.reprojector.box_to_storage(request.bbox, request.bbox_crs or CRS84_CRS)
            if request.bbox
            else None
        )
        place = self._placer(request.crs)
        if collection_id == PROJECTS and as_json:
            rendered = services.projects.page_features(
                actor,
                _project_query(area, request),
                limit=request.limit,
                after=request.after,
                crs=request.crs,
            )
            return ItemsPage(rendered.features, rendered.number_matched, rendered.next_after)
        if collection_id == PROJECTS:
            page = services.projects.page(
                actor, _project_query(area, request), limit=request.limit, after=request.after
            )
            features = services.projects.to_features(page.projects, request.crs)
            return ItemsPage(features, page.number_matched, page.next_after)
        if collection_id == CASES:
            query = _case_query(area, request)
            page = services.cases.page(actor, query, limit=request.limit, after=request.after)
            features = [self._case_feature(c, place) for c in page.cases]
            return ItemsPage(features, page.number_matched, page.next_after)
        if collection_id == SYNERGY:
            return self._synergy_page(actor, area, request, place)
        self.collection(actor, collection_id)  # a layer type with no data is no collection
        found, matched, next_after = services.layers.features_in(
            actor,
            collection_id,
            area,
            limit=request.limit,
            after=request.after,
            filter=request.filter,
        )
        return ItemsPage([self._layer_feature(f, place) for f in found], matched, next_after)

    def item(self, actor: Actor, collection_id: str, item_id: int, crs: CRS) -> dict[str, Any]:
        """One item by its ZUGABE id (404 when the collection has none of that id)."""
        services = self.services
        place = self._placer(crs)
        if collection_id == PROJECTS:
            return self.project_feature(services.projects.get(actor, item_id), place)
        if collection_id == CASES:
            return self._case_feature(services.cases.get(actor, item_id), place)
        if collection_id == SYNERGY:
            result = self._synergy_grid(actor)
            if item_id >= len(result.cells):
                raise NotFound(f"the synergy grid has no cell {item_id}")
            return services.synergy.cell_features(result, [item_id], place)[0]
        self.collection(actor, collection_id)
        found, _matched, _next = services.layers.features_in(
            actor, collection_id, None, limit=1, after=item_id - 1
        )
        if not found or found[0].id != item_id:
            raise NotFound(f"the layer {collection_id} has no feature {item_id}")
        return self._layer_feature(found[0], place)

    def project_feature(self, project: Any, place: Callable[[BaseGeometry], BaseGeometry]) -> dict:
        feature = self.services.projects.to_feature(project)
        return self._placed(feature, project.geometry, place)

    def _case_feature(self, case: Any, place: Callable[[BaseGeometry], BaseGeometry]) -> dict:
        feature = self.services.cases.to_json(case)
        return self._placed(feature, case.finding.geometry, place)

    def _layer_feature(self, found: Any, place: Callable[[BaseGeometry], BaseGeometry]) -> dict:
        feature = self.services.layers.feature_json(found)
        return self._placed(feature, found.geometry, place)

    def _placer(self, crs: CRS) -> Callable[[BaseGeometry], BaseGeometry] | None:
        """How to move a stored geometry into ``crs``; None for CRS84 (the features' own)."""
        if crs is CRS84_CRS:
            return None
        return lambda geometry: self.reprojector.to_crs(geometry, crs)

    @staticmethod
    def _placed(
        feature: dict[str, Any],
        stored: BaseGeometry | None,
        place: Callable[[BaseGeometry], BaseGeometry] | None,
    ) -> dict[str, Any]:
        if place is not None and stored is not None and not stored.is_empty:
            feature["geometry"] = geometry_to_json(place(stored))
        return feature

    def _synergy_grid(self, actor: Actor) -> SynergyResult:
        """The default grid, computed once per store revision (seconds for a region); every
        reader reads the whole region, so one grid serves them all."""
        self.services.policy.require_read(actor)
        cached, revision = self._synergy, self.services.store.revision()
        with cached.lock:
            if cached.revision != revision:
                cached.value = self.services.synergy.compute(actor)
                cached.revision = revision
            return cached.value

    def _synergy_page(
        self,
        actor: Actor,
        area: BaseGeometry | None,
        request: ItemsRequest,
        place: Callable[[BaseGeometry], BaseGeometry] | None,
    ) -> ItemsPage:
        result = self._synergy_grid(actor)
        chosen = np.arange(len(result.cells))
        if area is not None:
            chosen = chosen[shapely.intersects(result.cells, area)]
        matched = len(chosen)
        if request.after is not None:
            chosen = chosen[chosen > request.after]
        shown = chosen[: request.limit]
        more = len(chosen) > request.limit
        features = self.services.synergy.cell_features(result, shown.tolist(), place)
        return ItemsPage(features, matched, int(shown[-1]) if more else None)


def ogc_crs_uris(settings: Settings) -> list[str]:
    """The CRSs every collection serves: CRS84, EPSG:4326, EPSG:25832, the storage CRS."""
    uris = [CRS84_URI, crs_uri(CRS("EPSG:4326")), crs_uri(CRS("EPSG:25832"))]
    return list(dict.fromkeys([*uris, crs_uri(CRS(settings.storage_crs))]))


"""CRS84 as the one object compared by identity: no transformation for the default."""
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"


def parse_datetime(raw: str) -> Period:
    """``datetime`` as the days it covers: an instant (a day or a time: its day), or an
    interval ``start/end`` with ``..`` (or nothing) for an open end. 400 when malformed."""
    parts = raw.split("/")
    if len(parts) > 2:
        raise BadRequest(f"'datetime' is an instant or start/end, got {raw[:100]!r}")
    days = [_day(part, raw) for part in parts]
    if len(days) == 1:
        if days[0] is None:
            raise BadRequest(f"'datetime' needs an instant or an interval, got {raw[:100]!r}")
        return days[0], days[0]
    start, end = days
    if start is not None and end is not None and end < start:
        raise BadRequest(f"'datetime' ends before it starts: {raw[:100]!r}")
    return start, end


def _day(part: str, raw: str) -> date | None:
    if part in ("", _OPEN):
        return None
    if not _INSTANT.fullmatch(part):
        raise BadRequest(f"'datetime' must be RFC 3339 dates or times, got {raw[:100]!r}")
    try:
        if len(part) == 10:
            return date.fromisoformat(part)
        return datetime.fromisoformat(part.upper().replace("Z", "+00:00")).date()
    except ValueError:
        raise BadRequest(f"'datetime' must be RFC 3339 dates or times, got {raw[:100]!r}") from None


def _project_query(area: BaseGeometry | None, request: ItemsRequest) -> ProjectQuery:
    start, end = request.period or (None, None)
    return ProjectQuery(area=area, time_from=start, time_to=end, filter=request.filter)


def _case_query(area: BaseGeometry | None, request: ItemsRequest) -> CaseQuery:
    start, end = request.period or (None, None)
    return CaseQuery(area=area, time_from=start, time_to=end, filter=request.filter)
