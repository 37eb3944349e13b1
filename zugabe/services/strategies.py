"""The region's strategies at a glance: four charts that set what the layers say is possible
against what the projects plan, per city (or per overflow catchment).

- ``green-roofs``: the suitable roof area of the ``green_roof_potential`` layer (roofs not
  green yet) against green-roof projects planned and built;
- ``cooling``: the heat-stress hotspots of ``heat_stress`` (class ``HOTSPOT_CLASS`` and
  above) against planned green and water measures (``COOLING_MEASURES``): how much hotspot
  area lies within ``COOLING_REACH_M`` of one;
- ``disconnection``: per combined-sewer-overflow catchment (``cso_catchments``), the
  disconnectable area of ``disconnection_potential`` against disconnection projects, and how
  much of that potential lies inside them;
- ``attention``: the synergy grid's attention areas against the projects planned there.

Cities are the districts of the ``districts`` layer grouped by their ``municipality`` (a
district without one counts alone). A layer feature's area, and the potential it carries, is
split among the units by the share of its area in each (an overlay); a project counts in the
unit that holds its representative point, its area is split like a feature's.

The figures are language-neutral (``Dashboard``) and computed from the store on a visit
unless the store's revision (``Store.revision``, moved by every project and layer write of any
process) is the one they were computed at: so a visit never sees a stale figure, and a second
visit without a change in between costs nothing. ``page`` and ``table`` word them in German or
English; the pictures are drawn by ``zugabe.io.report_graphics``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import shapely
from markupsafe import Markup
from shapely.geometry.base import BaseGeometry

from zugabe.domain.accounts import Actor
from zugabe.domain.policy import Policy
from zugabe.domain.project import Status
from zugabe.domain.vocabulary import Vocabulary
from zugabe.errors import Conflict, NotFound
from zugabe.io.report_graphics import (
    QUIET_LABEL,
    BarGroup,
    Series,
    Shape,
    padded_extent,
    render_bar_chart,
    render_map,
)
from zugabe.io.report_tables import Cell
from zugabe.services.synergy import SynergyService
from zugabe.storage.contract import LayerFeature, ProjectQuery, Store

PLANNED = (Status.IDEA, Status.PLANNING, Status.APPROVED, Status.UNDER_CONSTRUCTION)
"""A project not done and not cancelled is planned (as the synergy grid counts them)."""
HOTSPOT_CLASS = 4
"""Heat-stress class from which an area is a hotspot: 4 "strong" and 5 "extreme"."""
COOLING_REACH_M = 100.0
"""How far a green or water measure cools its surroundings: parks are measured to cool
about 100–300 m around them; trees and swales less. The lower end, so nothing is overstated."""
COOLING_MEASURES = (
    "tree_planting",
    "green_space",
    "green_roof",
    "heat_action",
    "stream_restoration",
    "swale_trench",
)
"""Green and water measures that cool: shade and evaporation of trees, parks and roofs, the
heat action plans themselves, open water and its air corridors, swales that keep water in
the soil. Not counted: basins (mostly dry), sewers, disconnection alone."""

CHARTS = ("green-roofs", "cooling", "disconnection", "attention")

# Per chart: the unit of a row, the columns after it (key, kind), the columns drawn as bars,
# the column that colours the map, the measure types and the layers it reads.
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "green-roofs": (
        ("potential_m2", "area"),
        ("existing_m2", "area"),
        ("planned_count", "count"),
        ("planned_m2", "area"),
        ("done_count", "count"),
        ("done_m2", "area"),
        ("share_pct", "percent"),
    ),
    "cooling": (
        ("hotspot_m2", "area"),
        ("reached_m2", "area"),
        ("share_pct", "percent"),
        ("measures_count", "count"),
        ("near_hotspot_count", "count"),
    ),
    "disconnection": (
        ("overflow_frequency", "rate"),
        ("potential_m2", "area"),
        ("planned_count", "count"),
        ("planned_potential_m2", "area"),
        ("done_count", "count"),
        ("done_potential_m2", "area"),
        ("share_pct", "percent"),
    ),
    "attention": (
        ("attention_cells", "count"),
        ("attention_m2", "area"),
        ("with_projects", "count"),
        ("projects_count", "count"),
        ("share_pct", "percent"),
    ),
}
BARS = {
    "green-roofs": ("potential_m2", "planned_m2", "done_m2"),
    "cooling": ("hotspot_m2", "reached_m2"),
    "disconnection": ("potential_m2", "planned_potential_m2", "done_potential_m2"),
    "attention": ("attention_cells", "with_projects"),
}
BAR_COLORS = ("#9e9e9e", "#e69f00", "#009e73")  # potential, planned, done (Okabe–Ito)
# What a map draws over the units, by kind: colour (Okabe–Ito, like the bars).
MARKS = {
    "planned": "#e69f00",
    "done": "#009e73",
    "hotspot": "#882255",  # a heat-stress hotspot (Paul Tol's wine: apart from the orange)
    "served": "#0072b2",  # an attention area with a planned project
    "unserved": "#cc79a7",  # an attention area without one
}
LAYERS = {
    "green-roofs": ("districts", "green_roof_potential"),
    "cooling": ("districts", "heat_stress"),
    "disconnection": ("cso_catchments", "disconnection_potential"),
    "attention": ("districts",),
}
# The map's classes of the share column (upper bounds in %), light to dark.
SHARE_CLASSES = ((5.0, "#f7fcf5"), (15.0, "#c7e9c0"), (30.0, "#74c476"), (60.0, "#31a354"))
SHARE_TOP = "#006d2c"

TEXTS: dict[str, dict[str, str]] = {
    "de": {
        "title": "Strategien der Region auf einen Blick",
        "intro": "Was die Fachlayer an Potenzial zeigen, und was die Maßnahmen daraus machen: "
        "je Stadt (Abkopplung: je Mischwasser-Entlastungsgebiet). Stand des Datenbestands: "
        "{generated}.",
        "switch_lang": "English",
        "map": "Karte",
        "download": "CSV herunterladen",
        "chart": "Diagramm",
        "missing": "Nicht gespeichert: {layers}. Diese Übersicht bleibt leer, bis sie "
        "importiert sind.",
        "no_rows": "Keine Einheiten zu zeigen.",
        "city": "Stadt",
        "catchment": "Entlastungsgebiet",
        "legend_share": "Kartenfarbe: Anteil in %",
        "mark_planned": "Maßnahme geplant",
        "mark_done": "Maßnahme umgesetzt",
        "mark_hotspot": "Hitze-Hotspot",
        "mark_served": "Aufmerksamkeitsraum mit Maßnahme",
        "mark_unserved": "Aufmerksamkeitsraum ohne Maßnahme",
        "green-roofs": "Gründächer",
        "green-roofs_about": "Geeignete Dachfläche ohne Gründach (Gründachpotenzial) gegen "
        "Gründach-Maßnahmen in Planung (Idee bis Bau) und umgesetzt; Anteil = (geplant + "
        "umgesetzt) / Potenzial.",
        "cooling": "Kühlung",
        "cooling_about": "Hitze-Hotspots (Belastungsklasse {hot} und höher) gegen geplante "
        "grüne und blaue Maßnahmen ({measures}); erreicht ist Hotspot-Fläche bis {reach} m "
        "um eine solche Maßnahme.",
        "disconnection": "Abkopplung",
        "disconnection_about": "Abkoppelbare Fläche je Mischwasser-Entlastungsgebiet gegen "
        "Abkopplungs-Maßnahmen; gezählt wird das Potenzial innerhalb der Maßnahmenflächen. "
        "Nach Entlastungshäufigkeit geordnet.",
        "attention": "Aufmerksamkeitsräume",
        "attention_about": "Zellen der Flächenkulisse, die zu den besten {share} % gehören, "
        "gegen die Maßnahmen, die dort geplant sind (Idee bis Bau).",
        "potential_m2": "Potenzial (m²)",
        "existing_m2": "Bereits begrünt (m²)",
        "planned_count": "Geplant (Anzahl)",
        "planned_m2": "Geplant (m²)",
        "done_count": "Umgesetzt (Anzahl)",
        "done_m2": "Umgesetzt (m²)",
        "share_pct": "Anteil (%)",
        "hotspot_m2": "Hotspot-Fläche (m²)",
        "reached_m2": "Davon erreicht (m²)",
        "measures_count": "Geplante Maßnahmen",
        "near_hotspot_count": "Davon an Hotspots",
        "overflow_frequency": "Entlastungen pro Jahr",
        "planned_potential_m2": "Potenzial in geplanten Maßnahmen (m²)",
        "done_potential_m2": "Potenzial in umgesetzten Maßnahmen (m²)",
        "attention_cells": "Aufmerksamkeitsräume (Zellen)",
        "attention_m2": "Fläche (m²)",
        "with_projects": "Mit geplanten Maßnahmen (Zellen)",
        "projects_count": "Maßnahmen dort",
    },
    "en": {
        "title": "The region's strategies at a glance",
        "intro": "What the thematic layers show as potential, and what the projects make of "
        "it: per city (disconnection: per combined-sewer-overflow catchment). Data as of "
        "{generated}.",
        "switch_lang": "Deutsch",
        "map": "Map",
        "download": "Download CSV",
        "chart": "Chart",
        "missing": "Not stored: {layers}. This overview stays empty until they are imported.",
        "no_rows": "No units to show.",
        "city": "City",
        "catchment": "Overflow catchment",
        "legend_share": "Map colour: share in %",
        "mark_planned": "project planned",
        "mark_done": "project built",
        "mark_hotspot": "heat-stress hotspot",
        "mark_served": "attention area with a project",
        "mark_unserved": "attention area without one",
        "green-roofs": "Green roofs",
        "green-roofs_about": "Suitable roof area without a green roof (green-roof potential) "
        "against green-roof projects planned (idea to construction) and built; share = "
        "(planned + built) / potential.",
        "cooling": "Cooling",
        "cooling_about": "Heat-stress hotspots (class {hot} and above) against planned green "
        "and water measures ({measures}); hotspot area within {reach} m of one is reached.",
        "disconnection": "Rainwater disconnection",
        "disconnection_about": "Disconnectable area per combined-sewer-overflow catchment "
        "against disconnection projects; the potential inside the projects' areas counts. "
        "Ordered by overflow frequency.",
        "attention": "Attention areas",
        "attention_about": "Cells of the synergy grid among the best {share} % against the "
        "projects planned there (idea to construction).",
        "potential_m2": "Potential (m²)",
        "existing_m2": "Already green (m²)",
        "planned_count": "Planned (number)",
        "planned_m2": "Planned (m²)",
        "done_count": "Built (number)",
        "done_m2": "Built (m²)",
        "share_pct": "Share (%)",
        "hotspot_m2": "Hotspot area (m²)",
        "reached_m2": "Of which reached (m²)",
        "measures_count": "Planned measures",
        "near_hotspot_count": "Of which at hotspots",
        "overflow_frequency": "Overflows per year",
        "planned_potential_m2": "Potential in planned projects (m²)",
        "done_potential_m2": "Potential in built projects (m²)",
        "attention_cells": "Attention areas (cells)",
        "attention_m2": "Area (m²)",
        "with_projects": "With planned projects (cells)",
        "projects_count": "Projects there",
    },
}


# ------------------------------------------------------------------------- the figures


@dataclass(frozen=True)
class Unit:
    """A row of a chart: a city, or an overflow catchment, and its outline."""

    name: str
    geometry: BaseGeometry


@dataclass(frozen=True)
class Chart:
    """One chart's figures: a row of values (``COLUMNS[key]``) per unit, and what its map
    draws over the units: geometries by kind (``MARKS``)."""

    key: str
    unit_kind: str  # "city" or "catchment"
    units: tuple[Unit, ...]
    values: tuple[dict[str, float], ...]
    marks: tuple[tuple[str, tuple[BaseGeometry, ...]], ...] = ()
    missing: tuple[str, ...] = ()  # layers the chart reads that are not stored


@dataclass(frozen=True)
class Dashboard:
    revision: int
    generated: datetime
    charts: dict[str, Chart] = field(default_factory=dict)


def split_by_area(
    geometries: np.ndarray, units: Sequence[Unit], weights: np.ndarray | None = None
) -> np.ndarray:
    """Per unit, the sum of each geometry's weight (default: its area) times the share of its
    area inside the unit: a vectorised overlay (STRtree pairs, intersections)."""
    result = np.zeros(len(units))
    if len(geometries) == 0 or not units:
        return result
    outlines = np.array([u.geometry for u in units], dtype=object)
    tree = shapely.STRtree(outlines)
    feature_index, unit_index = tree.query(geometries, predicate="intersects")
    if len(feature_index) == 0:
        return result
    inside = shapely.area(shapely.intersection(geometries[feature_index], outlines[unit_index]))
    if weights is None:
        contribution = inside
    else:
        areas = shapely.area(geometries[feature_index])
        share = np.divide(inside, areas, out=np.zeros_like(inside), where=areas > 0)
        contribution = weights[feature_index] * share
    return np.bincount(unit_index, weights=contribution, minlength=len(units))


def unit_of_points(geometries: np.ndarray, units: Sequence[Unit]) -> np.ndarray:
    """For each geometry, the index of the unit holding its representative point (-1: none)."""
    found = np.full(len(geometries), -1)
    if len(geometries) == 0 or not units:
        return found
    points = shapely.point_on_surface(geometries)
    tree = shapely.STRtree(np.array([u.geometry for u in units], dtype=object))
    point_index, unit_index = tree.query(points, predicate="intersects")
    found[point_index[::-1]] = unit_index[::-1]  # on a shared border: the first unit
    return found


def _count(indices: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(indices[indices >= 0], minlength=size).astype(float)


def _number(value: object) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else np.nan


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    return np.divide(100 * part, whole, out=np.zeros_like(part), where=whole > 0)


def _geometries(items: Sequence[Any]) -> np.ndarray:
    return np.array([i.geometry for i in items], dtype=object)


class StrategyService:
    """The dashboard's figures, pictures and tables; one instance per process keeps the last
    figures with the store revision they were computed at."""

    def __init__(
        self, store: Store, policy: Policy, vocabulary: Vocabulary, synergy: SynergyService
    ) -> None:
        self.store = store
        self.policy = policy
        self.vocabulary = vocabulary
        self.synergy = synergy
        self._lock = threading.Lock()
        self._last: Dashboard | None = None

    # ------------------------------------------------------------------- computing

    def dashboard(self, actor: Actor) -> Dashboard:
        """The figures as of the store's current revision (computed anew when it moved)."""
        self.policy.require_read(actor)
        with self._lock:
            revision = self.store.revision()
            if self._last is None or self._last.revision != revision:
                self._last = self.compute(actor, revision)
            return self._last

    def compute(self, actor: Actor, revision: int) -> Dashboard:
        """Every chart from the store, without the cache (the bench times this)."""
        self.policy.require_read(actor)
        cities = self.cities()
        charts = {
            "green-roofs": self.green_roofs(cities),
            "cooling": self.cooling(cities),
            "disconnection": self.disconnection(),
            "attention": self.attention(actor, cities),
        }
        return Dashboard(revision, datetime.now(UTC), charts)

    def _features(self, key: str) -> list[LayerFeature]:
        return self.store.layer_features(key) if self.store.get_layer(key) else []

    def _missing(self, chart: str) -> tuple[str, ...]:
        return tuple(k for k in LAYERS[chart] if self.store.get_layer(k) is None)

    def cities(self) -> tuple[Unit, ...]:
        """The districts grouped by ``municipality`` (else each district alone), by name."""
        groups: dict[str, list[BaseGeometry]] = {}
        for feature in self._features("districts"):
            a = feature.attributes
            name = a.get("municipality") or a.get("name") or a.get("district_id") or str(feature.id)
            groups.setdefault(str(name), []).append(feature.geometry)
        return tuple(Unit(name, shapely.union_all(parts)) for name, parts in sorted(groups.items()))

    def _projects(self, measure_types: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Geometries of the projects of these measure types: planned ones, done ones."""
        found = self.store.list_projects(
            ProjectQuery(measure_types=measure_types, statuses=(*PLANNED, Status.DONE))
        )
        planned = [p for p in found if p.attributes.status is not Status.DONE]
        done = [p for p in found if p.attributes.status is Status.DONE]
        return _geometries(planned), _geometries(done)

    def green_roofs(self, cities: Sequence[Unit]) -> Chart:
        roofs = self._features("green_roof_potential")
        geometries = _geometries(roofs)
        suitable = np.array(
            [_number(f.attributes.get("suitable_area")) for f in roofs], dtype=float
        )
        suitable = np.where(np.isnan(suitable), shapely.area(geometries), suitable)
        green = np.array([f.attributes.get("green_roof_exists") is True for f in roofs], bool)
        potential = split_by_area(geometries[~green], cities, suitable[~green])
        existing = split_by_area(geometries[green], cities, suitable[green])
        planned, done = self._projects(("green_roof",))
        planned_m2, done_m2 = split_by_area(planned, cities), split_by_area(done, cities)
        values = {
            "potential_m2": potential,
            "existing_m2": existing,
            "planned_count": _count(unit_of_points(planned, cities), len(cities)),
            "planned_m2": planned_m2,
            "done_count": _count(unit_of_points(done, cities), len(cities)),
            "done_m2": done_m2,
            "share_pct": _share(planned_m2 + done_m2, potential),
        }
        return self._chart("green-roofs", "city", cities, values, planned=planned, done=done)

    def cooling(self, cities: Sequence[Unit]) -> Chart:
        hot = [
            f
            for f in self._features("heat_stress")
            if _number(f.attributes.get("stress_class")) >= HOTSPOT_CLASS
        ]
        hotspots = _geometries(hot)
        planned, _done = self._projects(COOLING_MEASURES)  # what is still to come
        if len(planned):
            reach = shapely.buffer(shapely.union_all(planned), COOLING_REACH_M, quad_segs=16)
            shapely.prepare(reach)
            reached = shapely.intersection(hotspots, reach)
        else:
            reached = np.array([], dtype=object)
        hotspot_m2 = split_by_area(hotspots, cities)
        reached_m2 = split_by_area(reached, cities)
        near = np.zeros(len(planned), dtype=bool)
        if len(planned) and len(hotspots):
            tree = shapely.STRtree(hotspots)
            index, _hit = tree.query(planned, predicate="dwithin", distance=COOLING_REACH_M)
            near[index] = True
        where = unit_of_points(planned, cities)
        values = {
            "hotspot_m2": hotspot_m2,
            "reached_m2": reached_m2,
            "share_pct": _share(reached_m2, hotspot_m2),
            "measures_count": _count(where, len(cities)),
            "near_hotspot_count": _count(where[near], len(cities)),
        }
        return self._chart("cooling", "city", cities, values, hotspot=hotspots, planned=planned)

    def disconnection(self) -> Chart:
        catchments = sorted(
            self._features("cso_catchments"),
            key=lambda f: (-np.nan_to_num(_number(f.attributes.get("overflow_frequency"))), f.id),
        )
        units = tuple(
            Unit(
                str(f.attributes.get("name") or f.attributes.get("catchment_id") or f.id),
                f.geometry,
            )
            for f in catchments
        )
        areas = self._features("disconnection_potential")
        geometries = _geometries(areas)
        potential = np.array([self._disconnectable(f) for f in areas], dtype=float)
        planned, done = self._projects(("disconnection",))
        # The potential inside the projects' areas: a project is drawn as the area it
        # disconnects, of which only the disconnectable share counts.
        covered_done = self._under(geometries, done)
        covered_planned = self._under(geometries, planned, but=done)
        potential_m2 = split_by_area(geometries, units, potential)
        planned_potential = self._split_under(geometries, covered_planned, units, potential)
        done_potential = self._split_under(geometries, covered_done, units, potential)
        values = {
            "overflow_frequency": np.array(
                [_number(f.attributes.get("overflow_frequency")) for f in catchments], float
            ),
            "potential_m2": potential_m2,
            "planned_count": _count(unit_of_points(planned, units), len(units)),
            "planned_potential_m2": planned_potential,
            "done_count": _count(unit_of_points(done, units), len(units)),
            "done_potential_m2": done_potential,
            "share_pct": _share(planned_potential + done_potential, potential_m2),
        }
        return self._chart("disconnection", "catchment", units, values, planned=planned, done=done)

    @staticmethod
    def _disconnectable(feature: LayerFeature) -> float:
        """The disconnectable area (m²): as given, else the connected area × share, else 0."""
        a = feature.attributes
        given = _number(a.get("disconnectable_area"))
        if not np.isnan(given):
            return given
        estimate = _number(a.get("connected_area")) * _number(a.get("share")) / 100
        return 0.0 if np.isnan(estimate) else estimate

    @staticmethod
    def _under(
        geometries: np.ndarray, measures: np.ndarray, but: np.ndarray | None = None
    ) -> np.ndarray:
        """Each geometry's part inside the measures (and outside ``but``)."""
        if len(measures) == 0 or len(geometries) == 0:
            return np.full(len(geometries), shapely.Polygon(), dtype=object)
        area = shapely.union_all(measures)
        if but is not None and len(but):
            area = shapely.difference(area, shapely.union_all(but))
        return shapely.intersection(geometries, area)

    @staticmethod
    def _split_under(
        geometries: np.ndarray,
        parts: np.ndarray,
        units: Sequence[Unit],
        values: np.ndarray,
    ) -> np.ndarray:
        """``split_by_area`` of the parts, each weighted by its feature's value per m²."""
        areas = shapely.area(geometries)
        density = np.divide(values, areas, out=np.zeros_like(values), where=areas > 0)
        keep = ~shapely.is_empty(parts)
        return split_by_area(parts[keep], units, density[keep] * shapely.area(parts[keep]))

    def attention(self, actor: Actor, cities: Sequence[Unit]) -> Chart:
        try:
            result = self.synergy.compute(actor)
        except Conflict:  # none of the criteria's layers stored yet
            sources = sorted({c.source for c in self.synergy.config.criteria} - {"projects"})
            return Chart("attention", "city", (), (), missing=tuple(sources))
        cells = result.cells[result.attention]
        planned, _done = self._projects(())  # of every measure type
        with_projects = np.zeros(len(cells), dtype=bool)
        met: list[set[int]] = [set() for _ in cities]
        where = unit_of_points(cells, cities)
        if len(cells) and len(planned):
            tree = shapely.STRtree(planned)
            cell_index, project_index = tree.query(cells, predicate="intersects")
            with_projects[cell_index] = True
            for c, p in zip(cell_index, project_index, strict=True):
                if where[c] >= 0:
                    met[where[c]].add(int(p))
        count = _count(where, len(cities))
        served = _count(where[with_projects], len(cities))
        values = {
            "attention_cells": count,
            "attention_m2": split_by_area(cells, cities),
            "with_projects": served,
            "projects_count": np.array([len(m) for m in met], dtype=float),
            "share_pct": _share(served, count),
        }
        return self._chart(
            "attention",
            "city",
            cities,
            values,
            served=cells[with_projects],
            unserved=cells[~with_projects],
        )

    def _chart(
        self,
        key: str,
        unit_kind: str,
        units: Sequence[Unit],
        values: dict[str, np.ndarray],
        **marks: np.ndarray,
    ) -> Chart:
        rows = tuple(
            {name: float(column[i]) for name, column in values.items()} for i in range(len(units))
        )
        drawn = tuple((kind, tuple(g)) for kind, g in marks.items())
        return Chart(key, unit_kind, tuple(units), rows, drawn, self._missing(key))

    # ------------------------------------------------------------------- wording

    def chart(self, dashboard: Dashboard, key: str) -> Chart:
        if key not in dashboard.charts:
            raise NotFound(f"no chart {key!r}; the charts are {', '.join(CHARTS)}")
        return dashboard.charts[key]

    def table(self, chart: Chart, lang: str) -> tuple[list[str], list[list[Cell]]]:
        """The chart as a table: a header in the language, a row per unit (areas in whole
        m², shares and rates with one decimal)."""
        t = TEXTS[lang]
        header = [t[chart.unit_kind]] + [t[name] for name, _kind in COLUMNS[chart.key]]
        rows: list[list[Cell]] = []
        for unit, values in zip(chart.units, chart.values, strict=True):
            row: list[Cell] = [unit.name]
            for name, kind in COLUMNS[chart.key]:
                row.append(_rounded(values[name], kind))
            rows.append(row)
        return header, rows

    def page(self, dashboard: Dashboard, lang: str) -> dict[str, Any]:
        """The page's words and pictures (the web layer adds the links)."""
        t = TEXTS[lang]
        number = _numbers(lang)
        labels = self.vocabulary.measure_types
        sections = []
        for key in CHARTS:
            chart = dashboard.charts[key]
            header, rows = self.table(chart, lang)
            kinds = ["text"] + [kind for _name, kind in COLUMNS[key]]
            cells = [
                [
                    number(v, kind) if kind != "text" else str(v)
                    for v, kind in zip(r, kinds, strict=True)
                ]
                for r in rows
            ]
            about = t[f"{key}_about"].format(
                hot=HOTSPOT_CLASS,
                reach=f"{COOLING_REACH_M:g}",
                measures=", ".join(
                    getattr(labels[m], lang) for m in COOLING_MEASURES if m in labels
                ),
                share=f"{self.synergy.config.attention_share * 100:g}",
            )
            sections.append(
                {
                    "key": key,
                    "title": t[key],
                    "about": about,
                    "missing": t["missing"].format(layers=", ".join(chart.missing))
                    if chart.missing
                    else None,
                    "header": header,
                    "rows": cells,
                    "bars": self._bars(chart, t, number) if chart.units else None,
                    "map": self._map(chart, t, number) if chart.units else None,
                    "marks": [(t[f"mark_{kind}"], MARKS[kind]) for kind, _g in chart.marks],
                }
            )
        return {
            "lang": lang,
            "title": t["title"],
            "intro": t["intro"].format(generated=_moment(dashboard.generated, lang)),
            "t": t,
            "sections": sections,
            "share_legend": [
                (f"< {number(bound, 'percent')}", color) for bound, color in SHARE_CLASSES
            ]
            + [(f"≥ {number(SHARE_CLASSES[-1][0], 'percent')}", SHARE_TOP)],
        }

    @staticmethod
    def _bars(chart: Chart, t: dict[str, str], number: Callable[[float, str], str]) -> Markup:
        kinds = dict(COLUMNS[chart.key])
        series = [
            Series(name, t[name], color)
            for name, color in zip(BARS[chart.key], BAR_COLORS, strict=False)
        ]
        groups = [
            BarGroup(
                unit.name,
                tuple(values[s.key] for s in series),
                tuple(number(values[s.key], kinds[s.key]) for s in series),
            )
            for unit, values in zip(chart.units, chart.values, strict=True)
        ]
        return render_bar_chart(groups, series, label=f"{t['chart']}: {t[chart.key]}")

    @staticmethod
    def _map(chart: Chart, t: dict[str, str], number: Callable[[float, str], str]) -> Markup:
        shapes = []
        for unit, values in zip(chart.units, chart.values, strict=True):
            share = values.get("share_pct", 0.0)
            color = next((c for bound, c in SHARE_CLASSES if share < bound), SHARE_TOP)
            shapes.append(
                Shape(
                    unit.geometry,
                    "#444444",
                    1.5,
                    fill=color,
                    fill_opacity=0.8,
                    title=f"{unit.name}: {number(share, 'percent')} %",
                    label=f"{unit.name} {number(share, 'percent')} %",
                    label_style=QUIET_LABEL,
                    radius=0,
                    attrs={"class": "unit", "data-share": f"{share:.1f}"},
                )
            )
        for kind, geometries in chart.marks:
            color = MARKS[kind]
            for geometry in geometries:
                shapes.append(
                    Shape(
                        geometry,
                        color,
                        1.5,
                        fill=color,
                        fill_opacity=0.3 if kind == "hotspot" else 0.6,
                        radius=3,
                        attrs={"class": f"mark {kind}"},
                    )
                )
        extent = padded_extent([u.geometry for u in chart.units], margin=0.04)
        return render_map(shapes, extent, label=f"{t['map']}: {t[chart.key]}", width=520).svg


def _rounded(value: float, kind: str) -> Cell:
    if np.isnan(value):
        return None
    if kind in ("area", "count"):
        return round(value)
    return round(value, 1)


def _numbers(lang: str) -> Callable[[float | Cell, str], str]:
    def number(value: float | Cell, kind: str) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "–"
        assert isinstance(value, int | float)
        decimals = 1 if kind in ("percent", "rate") else 0
        text = f"{float(value):,.{decimals}f}"
        return text.translate(str.maketrans(",.", ".,")) if lang == "de" else text

    return number


def _moment(moment: datetime, lang: str) -> str:
    local = moment.astimezone()
    return local.strftime("%d.%m.%Y %H:%M" if lang == "de" else "%Y-%m-%d %H:%M")
