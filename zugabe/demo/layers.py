"""Thematic layers [Fachlayer] of the synthetic demo town, fitting its streets and projects.

The demo town (``zugabe.demo.town``) has districts, streets, brooks and projects. A demo of
the coordination engine also needs the reference data the departments keep: the sewer network
with condition classes, heavy-rain hazard zones, overflow catchments, disconnection potential,
street trees, parks, green-roof potential and heat stress. This module invents them, shaped to
the town and seeded with a few situations the engine should find (poor sewers under planned
road works, a flooded hollow in a development plan, freshly resurfaced streets, old trees over
an open sewer trench).

Everything is drawn from ``numpy.random.default_rng([seed, 1])``, a stream separate from the
town's own, so the town files stay byte-identical whatever happens here. The draws happen in a
fixed order, geometry is built in EPSG:25832 and written as RFC 7946 GeoJSON with 7 decimals:
one file per layer type of ``layers/*.toml``, with exactly its attribute names as properties.

Run ``python -m zugabe.demo.town [OUTPUT_DIR]``: it writes the town and ``OUTPUT_DIR/layers/``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import (
    LineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
    box,
)
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points, substring

from zugabe.demo.town import (
    CENTRE,
    DEFAULT_SEED,
    OFFICES,
    STREAM_NAME,
    DemoProject,
    District,
    Town,
    collection_text,
    feature,
)

# Layer polygons (flood zones along a 5 km brook, whole blocks) have more vertices than
# projects; the writer still refuses anything larger, as a guard against runaway geometry.
MAX_LAYER_VERTICES = 2500
TREE_TARGET = 1400  # street trees in the register, about

# The properties of each layer file, in this order; every name is an attribute of the layer's
# definition in ``layers/<key>.toml``. Attributes the demo has no data for are left out.
PROPERTIES: dict[str, tuple[str, ...]] = {
    "districts": ("district_id", "name", "municipality", "level", "population"),
    "streets": ("street_id", "name", "category", "surface", "last_resurfacing_year"),
    "water_bodies": ("water_id", "name", "water_type", "water_order", "maintainer"),
    "sewer_sections": (
        "section_id",
        "upstream_manhole",
        "downstream_manhole",
        "sewer_system",
        "material",
        "diameter",
        "profile_type",
        "profile_width",
        "length",
        "slope",
        "construction_year",
        "condition_class",
        "inspection_date",
        "renewal_year",
        "operator",
    ),
    "manholes": (
        "manhole_id",
        "sewer_system",
        "cover_level",
        "invert_level",
        "depth",
        "material",
        "construction_year",
        "condition_class",
        "inspection_date",
        "renewal_year",
    ),
    "stormwater_basins": (
        "basin_id",
        "name",
        "basin_type",
        "volume",
        "throttle_flow",
        "sewer_system",
        "operator",
        "municipality",
        "receiving_water",
        "construction_year",
    ),
    "cso_catchments": (
        "catchment_id",
        "name",
        "overflow_structure",
        "overflow_frequency",
        "overflow_volume",
        "overflow_duration",
        "impervious_area",
        "receiving_water",
    ),
    "heavy_rain_hazard": (
        "depth_class",
        "max_depth",
        "flow_velocity",
        "scenario",
        "return_period",
        "rainfall",
    ),
    "disconnection_potential": (
        "area_id",
        "potential_class",
        "share",
        "connected_area",
        "disconnectable_area",
        "surface_type",
        "infiltration",
    ),
    "trees": (
        "tree_id",
        "species",
        "crown_radius",
        "trunk_diameter",
        "trunk_circumference",
        "height",
        "planting_year",
        "vitality",
        "event",
        "address",
        "district",
        "site",
    ),
    "green_spaces": (
        "green_space_id",
        "name",
        "category",
        "description",
        "area",
        "public",
        "maintained_by",
    ),
    "green_roof_potential": (
        "building_id",
        "potential_class",
        "roof_area",
        "suitable_area",
        "roof_slope",
        "green_roof_exists",
    ),
    "heat_stress": ("area_id", "stress_class", "pet", "night_temperature", "area_type"),
}
LAYER_KEYS = tuple(PROPERTIES)

CITY_NAMES = {"herne": "Herne", "bochum": "Bochum"}
CITY_PREFIX = {"herne": "HE", "bochum": "BO"}
AGS = {"herne": "05916000", "bochum": "05911000"}  # official municipality keys
WATER_BOARD = "Emschergenossenschaft"
SIDE_STREAM = 1  # index of the Siepenbach in Town.streams

# Sewers: a section is 30–80 m between manholes; an end of one sewer within
# SNAP_DISTANCE of another sewer is joined to it at a shared manhole.
SECTION_SPACING = (50.0, 80.0)  # target section length, drawn per sewer
SNAP_DISTANCE = 6.0
JOIN_AT_END = 8.0
MERGE_JUNCTIONS = 5.0
DN = {
    ("KM", "main"): (600, 700, 800, 1000, 1200),
    ("KM", "collector"): (400, 500, 600),
    ("KM", "residential"): (250, 300, 300, 400),
    ("KS", "residential"): (200, 250),
    ("KR", "residential"): (300, 400, 500),
}
# Condition class 0 (act immediately) ... 5 (no defect) after DWA-M 149-3, by pipe age.
CONDITION_BY_AGE = (
    (25, (0.00, 0.01, 0.04, 0.10, 0.30, 0.55)),
    (50, (0.01, 0.04, 0.12, 0.28, 0.30, 0.25)),
    (80, (0.03, 0.09, 0.22, 0.32, 0.22, 0.12)),
    (999, (0.06, 0.16, 0.30, 0.28, 0.14, 0.06)),
)

# Heavy rain: depth classes 1–4 (0.10–0.30, 0.30–0.50, 0.50–1.00, > 1.00 m).
DEPTH_RANGES = {1: (0.18, 0.30), 2: (0.36, 0.50), 3: (0.62, 1.00), 4: (1.08, 2.10)}
VALLEY_HALF_WIDTHS = (48.0, 28.0, 14.0, 6.0)  # class >= 1, 2, 3, 4 beside the main brook
HOLLOW_SCALES = (1.0, 0.68, 0.42, 0.2)
MIN_ZONE_AREA = 150.0  # m²; hazard maps drop smaller patches

SPECIES = (  # (botanical (German), crown growth in m per year, max crown radius, height factor)
    ("Tilia cordata (Winter-Linde)", 0.11, 8.0, 0.40),
    ("Tilia x europaea (Holländische Linde)", 0.12, 9.0, 0.45),
    ("Acer platanoides (Spitz-Ahorn)", 0.12, 7.5, 0.40),
    ("Acer pseudoplatanus (Berg-Ahorn)", 0.12, 8.5, 0.45),
    ("Platanus x hispanica (Platane)", 0.14, 10.0, 0.50),
    ("Quercus robur (Stiel-Eiche)", 0.10, 9.0, 0.45),
    ("Aesculus hippocastanum (Rosskastanie)", 0.12, 8.0, 0.40),
    ("Carpinus betulus (Hainbuche)", 0.08, 5.0, 0.30),
    ("Sorbus aria (Mehlbeere)", 0.07, 4.0, 0.25),
    ("Robinia pseudoacacia (Robinie)", 0.10, 6.0, 0.40),
    ("Betula pendula (Hänge-Birke)", 0.09, 5.0, 0.45),
    ("Fraxinus excelsior (Gemeine Esche)", 0.12, 8.0, 0.50),
    ("Gleditsia triacanthos (Lederhülsenbaum)", 0.09, 6.0, 0.35),
    ("Ginkgo biloba (Ginkgo)", 0.06, 4.5, 0.35),
)
STRUCTURE_TYPES = {  # urban structure type: (imperviousness, footprint w, h in m, roof slopes)
    "Blockrandbebauung": (0.80, (22.0, 14.0), (0.0, 5.0, 35.0, 45.0)),
    "Zeilenbebauung": (0.60, (40.0, 11.0), (0.0, 3.0, 25.0, 30.0)),
    "Reihenhausbebauung": (0.45, (30.0, 10.0), (3.0, 15.0, 30.0, 40.0)),
    "Einzelhausbebauung": (0.35, (11.0, 10.0), (5.0, 20.0, 35.0, 45.0)),
    "Gewerbe": (0.85, (50.0, 30.0), (0.0, 2.0, 3.0, 8.0)),
    "Grünfläche": (0.10, (0.0, 0.0), ()),
}

Rows = list[tuple[BaseGeometry, dict[str, Any]]]


def _props(key: str, **values: Any) -> dict[str, Any]:
    """The properties of one feature of ``key``, every column present, in file order."""
    unknown = set(values) - set(PROPERTIES[key])
    if unknown:
        raise KeyError(f"{key}: no attribute {sorted(unknown)}")
    return {name: values.get(name) for name in PROPERTIES[key]}


# --------------------------------------------------------------------------
# Geometry helpers (metres, EPSG:25832)
# --------------------------------------------------------------------------


def _polygons(geom: BaseGeometry, min_area: float = 0.0) -> list[Polygon]:
    """The polygon parts of any geometry (collections from overlays included), in order."""
    parts = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, Polygon)]
    return [g for g in parts if not g.is_empty and g.area >= min_area]


def _clean(geom: BaseGeometry, min_area: float = 1.0) -> BaseGeometry | None:
    """Snapped to 1 cm, valid, and without slivers; None when nothing is left."""
    snapped = shapely.make_valid(shapely.set_precision(geom, 0.01))
    parts = _polygons(snapped, min_area)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _orientation(poly: Polygon) -> float:
    """Angle (degrees) of the longer side of the minimum rotated rectangle."""
    coords = np.asarray(poly.minimum_rotated_rectangle.exterior.coords)
    edges = np.diff(coords[:3], axis=0)
    longest = edges[int(np.argmax(np.hypot(edges[:, 0], edges[:, 1])))]
    return math.degrees(math.atan2(longest[1], longest[0]))


def _rect(cx: float, cy: float, width: float, height: float, angle: float) -> Polygon:
    r = box(cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
    return affinity.rotate(r, angle, origin=(cx, cy))


def _star(
    rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float
) -> tuple[np.ndarray, np.ndarray]:
    """An irregular outline as (centre, vertex offsets): scaled copies nest inside each other.

    Nesting is what the heavy-rain zones need: the deeper class lies inside the shallower one.
    """
    theta = np.linspace(0.0, 2 * math.pi, 28, endpoint=False)
    k = 1.0 + 0.1 * np.sin(2 * theta + rng.uniform(0, 2 * math.pi))
    k += 0.07 * np.sin(3 * theta + rng.uniform(0, 2 * math.pi))
    angle = rng.uniform(0, math.pi)
    xs, ys = rx * k * np.cos(theta), ry * k * np.sin(theta)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return np.array([cx, cy]), np.column_stack([xs, ys]) @ rot.T


def _star_polygon(shape: tuple[np.ndarray, np.ndarray], scale: float) -> Polygon:
    centre, offsets = shape
    return Polygon(centre + offsets * scale)


def _offset_line(line: LineString, distance: float) -> LineString:
    """A parallel line; the line itself where the offset would fold over."""
    shifted = line.offset_curve(distance, quad_segs=2, join_style="round")
    if isinstance(shifted, LineString) and shifted.is_simple and shifted.length > 0.8 * line.length:
        return shifted
    return line


def _sample_in(
    rng: np.random.Generator,
    poly: BaseGeometry,
    tries: int = 200,
    fallback: BaseGeometry | None = None,
) -> Point:
    """A random point inside ``poly``; inside ``fallback`` when ``poly`` is empty."""
    if poly.is_empty:
        poly = fallback if fallback is not None else poly
        if poly.is_empty:
            raise ValueError("cannot sample in an empty geometry")
    xmin, ymin, xmax, ymax = poly.bounds
    for _ in range(tries):
        p = Point(rng.uniform(xmin, xmax), rng.uniform(ymin, ymax))
        if poly.contains(p):
            return p
    return poly.representative_point()


def _district_of(districts: Sequence[District], geom: BaseGeometry) -> District:
    p = geom if isinstance(geom, Point) else geom.representative_point()
    inside = [d for d in districts if d.geometry.covers(p)]
    return inside[0] if inside else min(districts, key=lambda d: d.geometry.distance(p))


def _parts_of(geom: BaseGeometry) -> list[BaseGeometry]:
    return list(getattr(geom, "geoms", [geom]))


# --------------------------------------------------------------------------
# Terrain: the town slopes north to the Emscher, with brook valleys and subsidence hollows
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Hollow:
    """A low spot (mining subsidence [Bergsenkung]) where heavy rain collects."""

    x: float
    y: float
    radius: float
    depth: float  # metres below the surroundings
    peak_class: int  # deepest heavy-rain depth class inside


@dataclass(frozen=True)
class Terrain:
    streams: tuple[LineString, ...]
    hollows: tuple[Hollow, ...]
    phase: tuple[float, float]

    def elevation(self, xy: np.ndarray) -> np.ndarray:
        """Ground level (m above sea level) at points (n × 2 array)."""
        xy = np.atleast_2d(np.asarray(xy, dtype=float))
        x, y = xy[:, 0], xy[:, 1]
        pts = shapely.points(xy)
        z = 62.0 - 0.0045 * (y - CENTRE[1]) + 0.0012 * (x - CENTRE[0])
        for stream, depth, width in zip(self.streams, (5.0, 3.0), (220.0, 160.0), strict=True):
            d = shapely.distance(pts, stream)
            z = z - depth * np.exp(-((d / width) ** 2))
        for h in self.hollows:
            z = z - h.depth * np.exp(-((x - h.x) ** 2 + (y - h.y) ** 2) / h.radius**2)
        z = z + 0.8 * np.sin((x - CENTRE[0]) / 430.0 + self.phase[0]) * np.cos(
            (y - CENTRE[1]) / 370.0 + self.phase[1]
        )
        return z


def _density(x: float, y: float) -> float:
    """Building density 0..1: dense at the old town centre, sparse at the edge."""
    r = math.hypot(x - CENTRE[0], (y - CENTRE[1]) * 1.2)
    return math.exp(-((r / 1700.0) ** 2))


# --------------------------------------------------------------------------
# Parcels: blocks cut into quarters of a few hectares
# --------------------------------------------------------------------------


@dataclass
class Parcel:
    """A piece of a building block with its urban structure type."""

    geometry: Polygon
    density: float
    structure: str
    imperviousness: float
    green_share: float = 0.0
    index: int = 0


def _parcels(rng: np.random.Generator, blocks: Sequence[Polygon]) -> list[Polygon]:
    """Cut each block into Voronoi cells of random points, about 2.5 ha each."""
    parcels: list[Polygon] = []
    for blk in blocks:
        n = int(np.clip(round(blk.area / 25_000), 1, 10))
        if n == 1:
            parcels.append(blk)
            continue
        pts = [_sample_in(rng, blk) for _ in range(n)]
        cells = shapely.voronoi_polygons(MultiPoint(pts), extend_to=blk.buffer(50))
        pieces = []
        for cell in cells.geoms:
            cut = _clean(cell.intersection(blk), 800.0)
            if cut is not None:
                pieces += _polygons(cut, 800.0)
        pieces.sort(key=lambda p: (round(p.centroid.x), round(p.centroid.y)))
        parcels += pieces
    return parcels


# --------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------


@dataclass
class _Run:
    """One sewer along one street, before it is cut into sections."""

    street: int
    system: str
    line: LineString
    year: int
    dn: int
    egg: bool
    inspected: date | None
    spacing: float


@dataclass
class _Node:
    key: tuple[Any, ...]
    point: Point
    manhole_id: str = ""


@dataclass
class _Section:
    run: int
    geometry: LineString
    up: str
    down: str
    props: dict[str, Any] = field(default_factory=dict)


class _Builder:
    """Draws all layers from one random stream, in a fixed order."""

    def __init__(self, town: Town, seed: int) -> None:
        self.town = town
        self.rng = np.random.default_rng([seed, 1])
        self.outline = town.outline
        self.streets = town.streets
        self.street_tree = shapely.STRtree([s.geometry for s in town.streets])
        self.main_stream = town.streams[0].geometry
        self.rivers = shapely.union_all([s.geometry for s in town.streams])
        self.projects = town.projects
        self.layers: dict[str, Rows] = {key: [] for key in LAYER_KEYS}

    # -- helpers -----------------------------------------------------------

    def city_at(self, geom: BaseGeometry) -> str:
        return _district_of(self.town.districts, geom).city

    def district_name(self, geom: BaseGeometry) -> str:
        return _district_of(self.town.districts, geom).name

    def projects_of(self, *measures: str) -> list[DemoProject]:
        return [p for p in self.projects if p.measure_type in measures]

    def project(self, measure: str, title_part: str) -> DemoProject:
        return next(p for p in self.projects if p.measure_type == measure and title_part in p.title)

    def add(self, key: str, geom: BaseGeometry, **values: Any) -> None:
        self.layers[key].append((geom, _props(key, **values)))

    # -- run ---------------------------------------------------------------

    def build(self) -> dict[str, Rows]:
        self.terrain = self.make_terrain()
        self.make_parcels()
        self.make_green_spaces()
        self.make_sewers()
        self.make_catchments_and_basins()
        self.make_heavy_rain()
        self.make_parcel_layers()
        self.make_green_roofs()
        self.make_trees()
        self.make_streets()
        self.make_districts()
        self.make_water_bodies()
        return self.layers

    # -- terrain -------------------------------------------------------------

    def make_terrain(self) -> Terrain:
        rng = self.rng
        inner = self.outline.buffer(-250)
        hollows: list[Hollow] = []
        for _attempt in range(400):
            if len(hollows) >= 5:
                break
            p = _sample_in(rng, inner)
            if p.distance(self.rivers) < 320 or any(
                math.hypot(p.x - h.x, p.y - h.y) < 800 for h in hollows
            ):
                continue
            peak = int(rng.choice([2, 3, 3, 4]))
            hollows.append(Hollow(p.x, p.y, rng.uniform(90, 150), rng.uniform(1.5, 3.0), peak))
        # Planted: a hollow inside the development plan in the brook's low valley.
        plan = self.project("development_plan", f"Wohnen am {STREAM_NAME}").geometry
        centre = plan.centroid
        near = self.main_stream.interpolate(self.main_stream.project(centre))
        dx, dy = near.x - centre.x, near.y - centre.y
        f = 35.0 / max(math.hypot(dx, dy), 1.0)
        spot = Point(centre.x + dx * f, centre.y + dy * f)
        hollows.append(Hollow(spot.x, spot.y, 65.0, 2.2, 3))
        phase = (float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0, 2 * math.pi)))
        return Terrain(tuple(s.geometry for s in self.town.streams), tuple(hollows), phase)

    # -- parcels and green spaces --------------------------------------------

    def make_parcels(self) -> None:
        rng = self.rng
        polys = _parcels(rng, self.town.blocks)
        # Two former colliery and works sites at the edge are business parks now.
        ring = self.outline.buffer(-200).difference(Point(CENTRE).buffer(1200))
        works = [_sample_in(rng, ring) for _ in range(2)]
        self.parcels: list[Parcel] = []
        for i, poly in enumerate(polys):
            c = poly.centroid
            density = float(np.clip(_density(c.x, c.y) + rng.normal(0, 0.08), 0, 1))
            if min(c.distance(w) for w in works) < 380 and rng.random() < 0.85:
                structure = "Gewerbe"
            elif density > 0.62:
                structure = "Blockrandbebauung"
            elif density > 0.4:
                structure = "Zeilenbebauung"
            elif density > 0.2:
                structure = "Reihenhausbebauung"
            else:
                structure = "Einzelhausbebauung"
            imperv = float(np.clip(STRUCTURE_TYPES[structure][0] + rng.normal(0, 0.05), 0.05, 0.95))
            self.parcels.append(Parcel(poly, density, structure, imperv, index=i))

    def make_green_spaces(self) -> None:
        """Parks, cemeteries, allotments, sports grounds, playgrounds and the brook meadow."""
        rng = self.rng
        blocked = shapely.union_all(
            [
                p.geometry
                for p in self.projects_of(
                    "development_plan", "building", "green_space", "stormwater_basin"
                )
            ]
        )
        free = [p for p in self.parcels if not p.geometry.intersects(blocked)]
        taken: set[int] = set()
        greens: list[tuple[BaseGeometry, dict[str, Any]]] = []

        def pick(candidates: list[Parcel], count: int) -> list[Parcel]:
            chosen: list[Parcel] = []
            pool = [p for p in candidates if p.index not in taken]
            for i in rng.permutation(len(pool)):
                p = pool[int(i)]
                if len(chosen) >= count:
                    break
                if any(p.geometry.distance(q.geometry) < 150 for q in chosen):
                    continue
                chosen.append(p)
                taken.add(p.index)
            return chosen

        def add(geom: BaseGeometry, name: str, category: str, description: str, **kw: Any) -> None:
            geom = _clean(geom, 50.0) if not isinstance(geom, Point) else geom
            if geom is None:
                return
            city = self.city_at(geom)
            greens.append(
                (
                    geom,
                    dict(
                        name=name,
                        category=category,
                        description=description,
                        area=round(geom.area / 10_000, 2) if geom.area else None,
                        public=kw.get("public", True),
                        maintained_by=kw.get("maintained_by", OFFICES[(city, "green")]),
                    ),
                )
            )

        central = [p for p in free if p.density > 0.6 and p.geometry.area > 18_000]
        for p in pick(central, 1):
            park = p.geometry.buffer(-4.0, join_style="mitre")
            add(park, "Stadtgarten", "Park", "Historischer Stadtpark mit Teich und Baumbestand.")
            self.city_park = park
        outer = [p for p in free if p.density < 0.35 and p.geometry.area > 20_000]
        for p in pick(outer, 2):
            district = self.district_name(p.geometry)
            add(
                p.geometry.buffer(-3.0, join_style="mitre"),
                f"Friedhof {district}",
                "Friedhof",
                "Kommunaler Friedhof mit altem Baumbestand.",
            )
        mid = [p for p in free if 12_000 < p.geometry.area < 40_000 and p.density < 0.6]
        for p in pick(mid, 3):
            district = self.district_name(p.geometry)
            add(
                p.geometry.buffer(-3.0, join_style="mitre"),
                f"Kleingartenanlage {district}",
                "Kleingärten",
                "Kleingartenverein mit rund 60 Parzellen.",
                public=False,
                maintained_by=f"Kleingärtnerverein {district} e. V.",
            )
        for p in pick([q for q in free if q.geometry.area > 12_000], 3):
            c = p.geometry.centroid
            pitch = _rect(c.x, c.y, 110, 75, _orientation(p.geometry))
            ground = p.geometry.intersection(pitch.buffer(12, join_style="mitre"))
            add(
                ground,
                f"Sportplatz {self.district_name(p.geometry)}",
                "Sportanlage",
                "Rasenplatz mit Laufbahn.",
            )
        small = [p for p in free if p.geometry.area < 15_000 and p.density > 0.3]
        for p in pick(small, 6):
            c = _sample_in(rng, p.geometry.buffer(-25), fallback=p.geometry)
            w, h = rng.uniform(45, 80), rng.uniform(35, 60)
            piece = p.geometry.intersection(_rect(c.x, c.y, w, h, _orientation(p.geometry)))
            street = self.streets[int(self.street_tree.query_nearest(piece)[0])]
            add(piece, f"Grünanlage {street.name}", "Park", "Quartiersgrünfläche mit Bänken.")
        # Playgrounds as points, as registers such as Bochum's deliver them.
        homes = [p for p in self.parcels if p.structure != "Gewerbe" and p.index not in taken]
        for i in rng.permutation(len(homes))[:10]:
            p = homes[int(i)]
            spot = _sample_in(rng, p.geometry.buffer(-15), fallback=p.geometry)
            pt = Point(round(spot.x, 2), round(spot.y, 2))
            street = self.streets[int(self.street_tree.query_nearest(pt)[0])]
            add(pt, f"Spielplatz {street.name}", "Spielplatz", "Öffentlicher Kinderspielplatz.")
        # Planted: the existing brook meadow beside the planned park on the Wiesenbach.
        park = self.project("green_space", f"Grünanlage am {STREAM_NAME}").geometry
        d = self.main_stream.project(park.centroid)
        reach = substring(self.main_stream, max(d - 450, 0), min(d + 450, self.main_stream.length))
        roads = shapely.union_all([s.geometry for s in self.streets]).buffer(8.0)
        meadow = reach.buffer(32.0, quad_segs=4).difference(roads).intersection(self.outline)
        meadow = max(_polygons(meadow), key=lambda g: g.intersection(park).area)
        add(
            meadow.simplify(0.5),
            f"{STREAM_NAME}aue",
            "Grünzug",
            f"Auenwiese am {STREAM_NAME} mit Fußweg; wird mit der geplanten Grünanlage verbunden.",
            maintained_by=WATER_BOARD,
        )
        self.green = shapely.union_all([g for g, _ in greens if not isinstance(g, Point)])
        for n, (geom, values) in enumerate(greens, start=1):
            prefix = CITY_PREFIX[self.city_at(geom)]
            self.add("green_spaces", geom, green_space_id=f"{prefix}-GR{n:03d}", **values)
        for p in self.parcels:
            p.green_share = p.geometry.intersection(self.green).area / p.geometry.area
            if p.green_share > 0.4:
                p.structure = "Grünfläche"
                p.imperviousness = float(np.clip(0.1 + rng.normal(0, 0.04), 0.02, 0.3))

    # -- sewers --------------------------------------------------------------

    def make_sewers(self) -> None:
        rng = self.rng
        runs: list[_Run] = []
        # Streets with planned works on them keep their sewer; a few other side streets
        # have none in the cadastre (private roads, not yet taken over).
        works = [
            part
            for p in self.projects
            for part in _parts_of(p.geometry)
            if isinstance(part, LineString)
        ]
        kept = {
            int(self.street_tree.query_nearest(w.interpolate(0.5, normalized=True))[0])
            for w in works
        }
        for i, street in enumerate(self.streets):
            skip = street.category == "residential" and i not in kept and rng.random() < 0.07
            if skip or street.geometry.length < 40:
                continue
            mid = street.geometry.interpolate(0.5, normalized=True)
            year = 1905 + 95 * (1 - _density(mid.x, mid.y)) + rng.normal(0, 8)
            year += 8 if street.category == "residential" else 0
            year = int(np.clip(year, 1900, 2012))
            inspected = None
            if rng.random() < 0.92:
                inspected = date(2012, 1, 1) + timedelta(days=int(rng.integers(0, 13 * 365)))
            spacing = float(rng.uniform(*SECTION_SPACING))
            separate = street.category == "residential" and year >= 1965 and rng.random() < 0.45
            if separate:
                side = 1 if rng.random() < 0.5 else -1
                for system, offset in (("KS", -1.3 * side), ("KR", 1.7 * side)):
                    dn = int(rng.choice(DN[(system, "residential")]))
                    line = _offset_line(street.geometry, offset)
                    runs.append(_Run(i, system, line, year, dn, False, inspected, spacing))
            else:
                offset = (1 if rng.random() < 0.5 else -1) * rng.uniform(1.0, 2.0)
                dn = int(rng.choice(DN[("KM", street.category)]))
                egg = year < 1930 and street.category != "residential" and rng.random() < 0.6
                line = _offset_line(street.geometry, offset)
                runs.append(_Run(i, "KM", line, year, dn, egg, inspected, spacing))
        self.runs = runs
        nodes, positions = self.join_runs(runs)
        self.cut_sections(runs, nodes, positions)

    def join_runs(
        self, runs: list[_Run]
    ) -> tuple[dict[tuple[Any, ...], _Node], list[list[tuple[float, tuple[Any, ...]]]]]:
        """Join sewer ends to the sewer they meet; shared junctions become one manhole."""
        tree = shapely.STRtree([r.line for r in runs])
        parent: dict[tuple[Any, ...], tuple[Any, ...]] = {}

        def find(key: tuple[Any, ...]) -> tuple[Any, ...]:
            while parent.get(key, key) != key:
                key = parent[key]
            return key

        # Where each end meets another run (host, distance along the host).
        targets: dict[tuple[int, int], tuple[int, float]] = {}
        for i, run in enumerate(runs):
            for end in (0, 1):
                pt = Point(run.line.coords[0 if end == 0 else -1])
                near = tree.query(pt, predicate="dwithin", distance=SNAP_DISTANCE)
                hosts = sorted(
                    (runs[j].line.distance(pt), int(j))
                    for j in near
                    if runs[int(j)].street != run.street
                )
                if hosts:
                    j = hosts[0][1]
                    targets[(i, end)] = (j, runs[j].line.project(pt))
        # Junction positions on each host, merged when closer than MERGE_JUNCTIONS.
        junctions: dict[int, list[float]] = {}
        for j, d in targets.values():
            length = runs[j].line.length
            if JOIN_AT_END < d < length - JOIN_AT_END:
                junctions.setdefault(j, []).append(d)
        mids: dict[int, list[float]] = {}
        for j in sorted(junctions):
            kept: list[float] = []
            for d in sorted(junctions[j]):
                if not kept or d - kept[-1] > MERGE_JUNCTIONS:
                    kept.append(d)
            mids[j] = kept

        def target_key(j: int, d: float) -> tuple[Any, ...]:
            length = runs[j].line.length
            if d <= JOIN_AT_END:
                return ("end", j, 0)
            if d >= length - JOIN_AT_END:
                return ("end", j, 1)
            kept = mids[j]
            k = int(np.argmin([abs(d - m) for m in kept]))
            return ("mid", j, k)

        for (i, end), (j, d) in sorted(targets.items()):
            a, b = find(("end", i, end)), find(target_key(j, d))
            if a == b or find(("end", i, 1 - end)) == b:
                continue  # would close a loop on one sewer
            parent[a] = b
        # One point per junction: on the host for mid-sewer joins, else the earliest end.
        members: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        keys = [("end", i, e) for i in range(len(runs)) for e in (0, 1)]
        keys += [("mid", j, k) for j in sorted(mids) for k in range(len(mids[j]))]
        for key in keys:
            members.setdefault(find(key), []).append(key)
        nodes: dict[tuple[Any, ...], _Node] = {}
        for root, group in members.items():
            mid = [k for k in group if k[0] == "mid"]
            if mid:
                _, j, k = mid[0]
                pt = runs[j].line.interpolate(mids[j][k])
            else:
                _, i, e = min(group)
                pt = Point(runs[i].line.coords[0 if e == 0 else -1])
            node = _Node(root, Point(round(pt.x, 2), round(pt.y, 2)))
            for key in group:
                nodes[key] = node
        # Move each run's ends onto its junction points; list the nodes along each run.
        positions: list[list[tuple[float, tuple[Any, ...]]]] = []
        for i, run in enumerate(runs):
            coords = list(run.line.coords)
            coords[0] = nodes[("end", i, 0)].point.coords[0]
            coords[-1] = nodes[("end", i, 1)].point.coords[0]
            run.line = LineString(coords)
            along = [(0.0, ("end", i, 0)), (run.line.length, ("end", i, 1))]
            for k in range(len(mids.get(i, []))):
                along.append((run.line.project(nodes[("mid", i, k)].point), ("mid", i, k)))
            along.sort()
            positions.append(along)
        return nodes, positions

    def cut_sections(
        self,
        runs: list[_Run],
        nodes: dict[tuple[Any, ...], _Node],
        positions: list[list[tuple[float, tuple[Any, ...]]]],
    ) -> None:
        """Cut every run into 30–80 m sections between manholes, with ids and attributes."""
        rng = self.rng
        counters = {"herne": 0, "bochum": 0}

        def manhole_id(node: _Node) -> str:
            if not node.manhole_id:
                city = self.city_at(node.point)
                counters[city] += 1
                node.manhole_id = f"{CITY_PREFIX[city]}-S{counters[city]:05d}"
            return node.manhole_id

        raw: list[tuple[int, LineString, _Node, _Node]] = []
        for i, run in enumerate(runs):
            points: list[tuple[float, _Node]] = []
            along = positions[i]
            for (d0, k0), (d1, _k1) in itertools.pairwise(along):
                points.append((d0, nodes[k0]))
                gap = d1 - d0
                n = max(1, math.ceil(gap / run.spacing))
                for step in range(1, n):
                    d = d0 + gap * step / n + rng.uniform(-0.06, 0.06) * gap / n
                    pt = run.line.interpolate(d)
                    points.append((d, _Node(("reg", i, len(points)), pt)))
            points.append((along[-1][0], nodes[along[-1][1]]))
            for (d0, n0), (d1, n1) in itertools.pairwise(points):
                if n0 is n1 or d1 - d0 < 0.5:
                    continue
                piece = substring(run.line, d0, d1)
                coords = list(piece.coords)
                coords[0], coords[-1] = n0.point.coords[0], n1.point.coords[0]
                # Substrings end next to a vertex now and then: drop such centimetre steps.
                raw.append((i, LineString(coords).simplify(0.05), n0, n1))
        # Flow follows the terrain: the upper manhole is the one with the higher ground.
        all_nodes: dict[int, _Node] = {}
        for _i, _line, n0, n1 in raw:
            all_nodes.setdefault(id(n0), n0)
            all_nodes.setdefault(id(n1), n1)
        node_list = list(all_nodes.values())
        levels = self.terrain.elevation(np.array([n.point.coords[0] for n in node_list]))
        cover = {id(n): round(float(z), 2) for n, z in zip(node_list, levels, strict=True)}
        self.sections: list[_Section] = []
        section_counters = {"herne": 0, "bochum": 0}
        for i, line, n0, n1 in raw:
            if cover[id(n0)] < cover[id(n1)]:
                line, n0, n1 = line.reverse(), n1, n0
            up, down = manhole_id(n0), manhole_id(n1)
            city = self.city_at(line.interpolate(0.5, normalized=True))
            section_counters[city] += 1
            section = _Section(i, line, up, down)
            section.props["section_id"] = f"{CITY_PREFIX[city]}-H{section_counters[city]:05d}"
            section.props["city"] = city
            section.props["drop"] = cover[id(n0)] - cover[id(n1)]
            self.sections.append(section)
        self.node_by_id = {n.manhole_id: n for n in node_list if n.manhole_id}
        self.section_attributes()
        self.manhole_attributes(node_list, cover)

    def section_attributes(self) -> None:
        rng = self.rng
        rehab = self.projects_of("sewer_rehabilitation")
        # Planted: road renewals with no sewer project nearby get poor sewers underneath:
        # the roads department should learn that the sewer is due as well.
        sewer_works = shapely.union_all(
            [p.geometry for p in self.projects_of("sewer_rehabilitation", "sewer_construction")]
        )
        renewals = [
            p
            for p in self.projects_of("road_renewal")
            if p.status in ("planning", "approved") and p.geometry.distance(sewer_works) > 30
        ]
        chosen = [renewals[int(i)] for i in sorted(rng.permutation(len(renewals))[:3])]
        self.hidden_renewals = chosen
        rehab_zones = [(p, p.geometry.buffer(6.0)) for p in rehab]
        renewal_zones = [(p, p.geometry.buffer(6.0)) for p in chosen]
        for section in self.sections:
            run = self.runs[section.run]
            line = section.geometry
            year = run.year
            renewed = rng.random() < 0.1
            material = self.material(run, year)
            if renewed:
                year = (
                    int(rng.integers(max(run.year + 20, 1985), 2016)) if run.year < 1995 else year
                )
                material = self.material(run, year)
            condition: int | None = None
            inspected: date | None = None
            renewal: int | None = None
            if run.inspected is not None:
                inspected = run.inspected + timedelta(days=int(rng.integers(0, 5)))
                age = max(inspected.year - year, 0)
                probs = next(p for limit, p in CONDITION_BY_AGE if age < limit)
                condition = int(rng.choice(6, p=np.array(probs) / sum(probs)))
                if condition == 0 and rng.random() < 0.9:
                    renewal = int(rng.integers(2025, 2027))
                elif condition == 1 and rng.random() < 0.7:
                    renewal = int(rng.integers(2026, 2031))
                elif condition == 2 and rng.random() < 0.35:
                    renewal = int(rng.integers(2028, 2036))
            overlap = [
                p for p, zone in rehab_zones if line.intersection(zone).length >= 0.5 * line.length
            ]
            if overlap and overlap[0].status == "done":  # rehabilitated: like new
                work = overlap[0]
                assert work.end is not None
                condition = int(rng.choice([4, 5, 5]))
                inspected = work.end + timedelta(days=int(rng.integers(14, 60)))
                renewal = None
                if "Inliner" in work.description or "geschlossener" in work.description:
                    year, material = run.year, "GFK"
                else:
                    year = work.end.year
                    material = self.material(run, year)
            elif overlap:  # under a planned rehabilitation: poor, recently inspected
                condition = int(rng.choice([0, 1, 2], p=[0.4, 0.5, 0.1]))
                inspected = date(2019, 1, 1) + timedelta(days=int(rng.integers(0, 6 * 365)))
                renewal = overlap[0].start.year if overlap[0].status != "cancelled" else None
                year = run.year
                material = self.material(run, year)
            elif any(line.intersection(z).length >= 0.5 * line.length for _, z in renewal_zones):
                condition = int(rng.choice([1, 2]))
                inspected = date(2020, 1, 1) + timedelta(days=int(rng.integers(0, 5 * 365)))
                renewal = None
            length = line.length
            slope = max(section.props["drop"], 0.0) / length * 1000 if length else 0.0
            section.props.update(
                sewer_system=run.system,
                material=material,
                diameter=run.dn,
                profile_type="Eiprofil" if run.egg else "Kreisprofil",
                profile_width=int(round(run.dn * 2 / 3 / 50) * 50) if run.egg else None,
                length=round(length, 2),
                slope=round(max(slope, 0.5), 1),
                construction_year=year,
                condition_class=condition,
                inspection_date=inspected.isoformat() if inspected else None,
                renewal_year=renewal,
                operator=OFFICES[(section.props["city"], "drainage")],
            )

    def material(self, run: _Run, year: int) -> str:
        """ISYBAU material code (G102) typical of the pipe's age and size."""
        rng = self.rng
        if run.egg:
            return "MA" if year < 1915 else "B"
        if year < 1950:
            return "STZ" if run.dn <= 500 else "B"
        if year < 1975:
            return "STZ" if run.dn <= 400 and rng.random() < 0.7 else "B"
        if year < 1995:
            return "STB" if run.dn >= 800 else ("STZ" if rng.random() < 0.6 else "B")
        if run.dn >= 800:
            return "STB"
        return str(rng.choice(["STZ", "PVCU", "PP"] if run.dn <= 400 else ["STZ", "PP", "B"]))

    def manhole_attributes(self, node_list: list[_Node], cover: dict[int, float]) -> None:
        rng = self.rng
        touching: dict[str, list[_Section]] = {}
        for s in self.sections:
            touching.setdefault(s.up, []).append(s)
            touching.setdefault(s.down, []).append(s)
        seen: set[str] = set()
        for s in self.sections:
            for mid in (s.up, s.down):
                if mid in seen:
                    continue
                seen.add(mid)
                node = self.node_by_id[mid]
                adjoining = touching[mid]
                run = self.runs[adjoining[0].run]
                year = min(self.runs[a.run].year for a in adjoining)
                depth = 1.6 + max(self.runs[a.run].dn for a in adjoining) / 1000
                depth += float(rng.uniform(0.2, 1.6))
                classes = [
                    a.props["condition_class"]
                    for a in adjoining
                    if a.props["condition_class"] is not None
                ]
                dates = [
                    a.props["inspection_date"] for a in adjoining if a.props["inspection_date"]
                ]
                condition = None
                if classes:
                    condition = int(np.clip(min(classes) + rng.choice([0, 1, 1, 2]), 0, 5))
                renewal = None
                if condition == 0:
                    renewal = int(rng.integers(2025, 2028))
                self.add(
                    "manholes",
                    node.point,
                    manhole_id=mid,
                    sewer_system=run.system,
                    cover_level=cover[id(node)],
                    invert_level=round(cover[id(node)] - depth, 2),
                    depth=round(depth, 2),
                    material="MA" if year < 1915 else "B",
                    construction_year=year,
                    condition_class=condition,
                    inspection_date=max(dates) if dates else None,
                    renewal_year=renewal,
                )
        for s in self.sections:
            values = {k: v for k, v in s.props.items() if k in PROPERTIES["sewer_sections"]}
            self.add(
                "sewer_sections",
                s.geometry,
                upstream_manhole=s.up,
                downstream_manhole=s.down,
                **values,
            )

    # -- catchments and basins -------------------------------------------------

    def network_faces(self) -> list[Polygon]:
        """Faces of the street network: they tile the town, so catchments built of them do."""
        extended = []
        for s in self.streets:
            c = np.asarray(s.geometry.coords)
            a = c[0] + 2.0 * (c[0] - c[1]) / np.hypot(*(c[0] - c[1]))
            b = c[-1] + 2.0 * (c[-1] - c[-2]) / np.hypot(*(c[-1] - c[-2]))
            extended.append(LineString(np.vstack([a, c, b])))
        network = shapely.union_all([*extended, self.outline.exterior])
        faces = shapely.polygonize(list(getattr(network, "geoms", [network])))
        return [f for f in faces.geoms if self.outline.contains(f.representative_point())]

    def make_catchments_and_basins(self) -> None:
        rng = self.rng
        faces = self.network_faces()
        nominal = [(-1500, 900), (0, 1100), (1500, 900), (-1500, -900), (0, -1100), (1500, -900)]
        seeds = np.array(
            [
                (CENTRE[0] + dx + rng.uniform(-250, 250), CENTRE[1] + dy + rng.uniform(-250, 250))
                for dx, dy in nominal
            ]
        )
        groups: list[list[Polygon]] = [[] for _ in seeds]
        for face in faces:
            p = face.representative_point()
            groups[int(np.argmin(np.hypot(seeds[:, 0] - p.x, seeds[:, 1] - p.y)))].append(face)
        catchments = []
        for group in groups:
            merged = shapely.union_all(group)
            clean = _clean(merged.simplify(0.1), 1000.0)
            if clean is not None:
                catchments.append(clean)
        # Planted: the catchment of the block to be disconnected on the Gartenstraße side
        # (and the densest one) spill most often.
        disconnection = next(
            p
            for p in self.projects_of("disconnection")
            if p.organisation == "bochum" and p.department == "environment"
        )
        planted_rrb = self.project("stormwater_basin", f"{STREAM_NAME} Süd").geometry
        impervious = []
        for c in catchments:
            area = sum(
                p.geometry.intersection(c).area * p.imperviousness
                for p in self.parcels
                if p.geometry.intersects(c)
            )
            impervious.append(area / 10_000)
        frequencies = sorted(
            [
                rng.uniform(2.5, 5.0),
                rng.uniform(6.0, 11.0),
                rng.uniform(8.0, 14.0),
                rng.uniform(11.0, 14.5),
                rng.uniform(16.0, 24.0),
                rng.uniform(28.0, 41.0),
            ]
        )
        order = list(np.argsort(impervious))  # least impervious first
        hot = next(
            i
            for i, c in enumerate(catchments)
            if c.intersects(disconnection.geometry.representative_point())
        )
        order.remove(hot)
        order.append(hot)
        freq = {int(i): frequencies[k] for k, i in enumerate(order)}
        basin_rows: list[tuple[BaseGeometry, dict[str, Any]]] = []
        for n, c in enumerate(catchments, start=1):
            district = self.district_name(c)
            city = self.city_at(c)
            brook = STREAM_NAME
            if c.intersects(planted_rrb):
                # Planted: the existing overflow basin right beside the planned retention basin.
                nearest = nearest_points(planted_rrb.exterior, self.main_stream)
                a, b = nearest[0], nearest[1]
                f = 7.0 / max(a.distance(b), 1.0)
                spot = Point(a.x + (b.x - a.x) * f, a.y + (b.y - a.y) * f)
                kind = "RÜB"
            else:
                spot, brook = self.outfall(c)
                kind = "RÜB" if rng.random() < 0.7 else "SK"
            basin_id = f"{CITY_PREFIX[city]}-{'RUEB' if kind == 'RÜB' else kind}{n:02d}"
            volume = rng.uniform(400, 1600) if kind == "RÜB" else rng.uniform(250, 900)
            pt = Point(round(spot.x, 2), round(spot.y, 2))
            basin_rows.append(
                (
                    pt,
                    dict(
                        basin_id=basin_id,
                        name=f"{kind} {district}",
                        basin_type=kind,
                        volume=float(round(volume, -1)),
                        throttle_flow=float(round(rng.uniform(20, 140), 0)),
                        sewer_system="KM",
                        operator=OFFICES[(city, "drainage")],
                        municipality=CITY_NAMES[city],
                        receiving_water=brook,
                        construction_year=int(rng.integers(1972, 2012)),
                    ),
                )
            )
            f = freq[n - 1]
            self.add(
                "cso_catchments",
                c,
                catchment_id=f"EZG-{n:02d}",
                name=f"Mischwassergebiet {district}",
                overflow_structure=basin_id,
                overflow_frequency=round(f, 1),
                overflow_volume=float(round(impervious[n - 1] * f * rng.uniform(25, 45), -1)),
                overflow_duration=round(f * rng.uniform(2.5, 5.0), 1),
                impervious_area=round(impervious[n - 1], 1),
                receiving_water=brook,
            )
        # Existing basins besides the overflow structures: retention, treatment, soil filter.
        avoid = shapely.union_all([p.geometry for p in self.projects]).buffer(40)
        extras = (
            ("RRB", STREAM_NAME, (28, 18), "KR"),
            ("RKB", self.town.streams[SIDE_STREAM].name, (18, 10), "KR"),
            ("RBF", STREAM_NAME, (40, 22), "KM"),
        )
        for k, (kind, brook, (rx, ry), system) in enumerate(extras, start=len(catchments) + 1):
            stream = next(s.geometry for s in self.town.streams if s.name == brook)
            for _attempt in range(200):
                d = rng.uniform(0.1, 0.9) * stream.length
                p = stream.interpolate(d)
                spot = self.beside(p, rx + 22.0, self.outline, side=1 if rng.random() < 0.5 else -1)
                centre, offsets = _star(rng, spot.x, spot.y, rx, ry)
                poly = _star_polygon((centre, offsets), 1.0)
                if (
                    self.outline.contains(poly)
                    and not poly.intersects(avoid)
                    and poly.distance(self.rivers) > 5
                    and all(poly.distance(g) > 100 for g, _ in basin_rows)
                    and self.street_tree.query(poly.buffer(6), predicate="intersects").size == 0
                ):
                    break
            poly = _clean(poly, 10.0)
            city = self.city_at(poly)
            names = {
                "RRB": "Regenrückhaltebecken",
                "RKB": "Regenklärbecken",
                "RBF": "Retentionsbodenfilter",
            }
            basin_rows.append(
                (
                    poly,
                    dict(
                        basin_id=f"{CITY_PREFIX[city]}-{kind}{k:02d}",
                        name=f"{names[kind]} {self.district_name(poly)}",
                        basin_type=kind,
                        volume=float(round(poly.area * rng.uniform(1.5, 2.5), -1)),
                        throttle_flow=float(round(rng.uniform(10, 80), 0)),
                        sewer_system=system,
                        operator=WATER_BOARD if kind == "RBF" else OFFICES[(city, "drainage")],
                        municipality=CITY_NAMES[city],
                        receiving_water=brook,
                        construction_year=int(rng.integers(1985, 2020)),
                    ),
                )
            )
        for geom, values in basin_rows:
            self.add("stormwater_basins", geom, **values)

    def outfall(self, catchment: BaseGeometry) -> tuple[Point, str]:
        """Where a catchment spills: beside the most downstream point of a brook in it."""
        for stream in self.town.streams:  # both brooks are drawn from source to mouth
            inside = catchment.intersection(stream.geometry)
            if not inside.is_empty:
                pts = shapely.get_coordinates(inside)
                low = max((stream.geometry.project(Point(p)), k) for k, p in enumerate(pts))[1]
                return self.beside(Point(pts[low]), 22.0, catchment), stream.name
        stream = min(self.town.streams, key=lambda s: s.geometry.distance(catchment))
        edge, _ = nearest_points(catchment, stream.geometry)
        inner = catchment.representative_point()
        f = 15.0 / max(edge.distance(inner), 1.0)
        spot = Point(edge.x + (inner.x - edge.x) * f, edge.y + (inner.y - edge.y) * f)
        return spot, stream.name

    def beside(
        self, p: Point, distance: float, inside: BaseGeometry, side: int | None = None
    ) -> Point:
        """A point ``distance`` off the nearest brook at ``p``, preferably inside ``inside``."""
        stream = min(self.town.streams, key=lambda s: s.geometry.distance(p)).geometry
        d = stream.project(p)
        a = stream.interpolate(max(d - 5, 0))
        b = stream.interpolate(min(d + 5, stream.length))
        heading = math.atan2(b.y - a.y, b.x - a.x)
        sides = (side,) if side else (1, -1)
        for s in sides:
            q = Point(
                p.x - s * distance * math.sin(heading), p.y + s * distance * math.cos(heading)
            )
            if inside.contains(q):
                return q
        return q

    # -- heavy rain ------------------------------------------------------------

    def make_heavy_rain(self) -> None:
        rng = self.rng
        zones: list[list[BaseGeometry]] = [[], [], [], []]  # area with depth class >= k + 1
        for stream, scale in zip(self.town.streams, (1.0, 0.7), strict=True):
            line = stream.geometry
            ds = np.arange(0.0, line.length, 15.0)
            phases = rng.uniform(0, 2 * math.pi, 3)
            f = (
                1.0
                + 0.3 * np.sin(2 * math.pi * ds / 430 + phases[0])
                + 0.2 * np.sin(2 * math.pi * ds / 170 + phases[1])
                + 0.1 * np.sin(2 * math.pi * ds / 90 + phases[2])
            )
            pts = shapely.points([line.interpolate(float(d)).coords[0] for d in ds])
            for k, width in enumerate(VALLEY_HALF_WIDTHS):
                radii = width * scale * f
                keep = radii > (4.0 if k < 3 else 6.5)
                if k == 3:
                    keep &= f > 1.2
                if keep.any():
                    circles = shapely.buffer(pts[keep], radii[keep], quad_segs=3)
                    zones[k].append(shapely.union_all(circles))
        for h in self.terrain.hollows:
            shape = _star(rng, h.x, h.y, h.radius * 0.9, h.radius * rng.uniform(0.55, 0.8))
            for k in range(h.peak_class):
                zones[k].append(_star_polygon(shape, HOLLOW_SCALES[k]))
        # Flow paths: streets running down into the valleys carry water at the surface.
        flow_paths: list[BaseGeometry] = []
        candidates = []
        for i, s in enumerate(self.streets):
            if s.category == "main" or s.geometry.length < 150:
                continue
            ends = np.array([s.geometry.coords[0], s.geometry.coords[-1]])
            z = self.terrain.elevation(ends)
            low = Point(ends[int(np.argmin(z))])
            if low.distance(self.main_stream) < 150 and abs(z[0] - z[1]) > 1.0:
                candidates.append(i)
        for i in sorted(rng.permutation(candidates)[:7].tolist()):
            line = self.streets[i].geometry
            ends = np.array([line.coords[0], line.coords[-1]])
            z = self.terrain.elevation(ends)
            if z[0] < z[1]:
                line = line.reverse()
            lower = substring(line, 0.4 * line.length, line.length)
            path = lower.buffer(rng.uniform(4.0, 6.0), cap_style="flat", quad_segs=2)
            flow_paths.append(path)
            zones[0].append(path)
            if rng.random() < 0.5:
                core = substring(line, 0.75 * line.length, line.length)
                zones[1].append(core.buffer(2.5, cap_style="flat", quad_segs=2))
        self.flow_paths = shapely.union_all(flow_paths) if flow_paths else Polygon()
        area = self.outline
        merged = [
            shapely.union_all(z).simplify(2.0).intersection(area) if z else Polygon() for z in zones
        ]
        for k in range(3, 0, -1):  # every deeper zone lies inside the shallower ones
            merged[k - 1] = shapely.union_all([merged[k - 1], merged[k]])
        for k in range(1, 4):  # specks of a deeper class count as the shallower one around
            inside = merged[k].intersection(merged[k - 1])
            merged[k] = shapely.union_all(_polygons(inside, MIN_ZONE_AREA))
        for k in range(4):
            band = merged[k].difference(merged[k + 1]) if k < 3 else merged[k]
            cleaned = _clean(band, 25.0)
            if cleaned is None:
                continue
            for part in _polygons(cleaned, 25.0):
                lo, hi = DEPTH_RANGES[k + 1]
                fast = part.intersects(self.flow_paths)
                velocity = rng.uniform(0.5, 1.6) if fast else rng.uniform(0.05, 0.5)
                self.add(
                    "heavy_rain_hazard",
                    part,
                    depth_class=k + 1,
                    max_depth=round(rng.uniform(lo, hi), 2),
                    flow_velocity=round(velocity, 2),
                    scenario="außergewöhnlich",
                    return_period=100,
                    rainfall=48.0,
                )

    # -- parcels: disconnection potential and heat stress --------------------

    def make_parcel_layers(self) -> None:
        rng = self.rng
        disconnect = shapely.union_all([p.geometry for p in self.projects_of("disconnection")])
        heat = shapely.union_all([p.geometry for p in self.projects_of("heat_action")])
        valley = shapely.union_all([s.geometry for s in self.town.streams]).buffer(150)
        for p in self.parcels:
            geom = p.geometry
            city = self.city_at(geom)
            area_id = f"{CITY_PREFIX[city]}-BB{p.index + 1:04d}"
            connected = geom.area * p.imperviousness
            infiltration = (
                "gering"
                if geom.intersects(valley)
                else str(rng.choice(["gut", "mittel", "mittel", "gering"]))
            )
            base = {"gut": 0.42, "mittel": 0.27, "gering": 0.12}[infiltration]
            share = float(np.clip(base + rng.normal(0, 0.08), 0.02, 0.75))
            if p.structure == "Blockrandbebauung":
                share *= 0.7
            if geom.intersection(disconnect).area > 0.2 * geom.area:
                share = max(share, float(rng.uniform(0.4, 0.6)))
            potential = 1 + int(np.digitize(share, [0.1, 0.25, 0.4]))
            surface = (
                "Dach- und Hofflächen"
                if p.structure != "Gewerbe"
                else "Dach-, Hof- und Verkehrsflächen"
            )
            if p.structure != "Grünfläche":
                self.add(
                    "disconnection_potential",
                    geom,
                    area_id=area_id,
                    potential_class=potential,
                    share=round(share * 100, 1),
                    connected_area=round(connected, 0),
                    disconnectable_area=round(connected * share, 0),
                    surface_type=surface,
                    infiltration=infiltration,
                )
            score = 0.55 * p.imperviousness + 0.45 * p.density + rng.normal(0, 0.06)
            if geom.intersects(valley):
                score -= 0.12  # the brook valleys ventilate and cool
            stress = 1 + int(np.digitize(score, [0.3, 0.44, 0.58, 0.73]))
            if p.structure == "Grünfläche":
                stress = min(stress, 2)
            if geom.intersects(heat):  # planted: heat actions sit where it is hottest
                stress = max(stress, 4)
            self.add(
                "heat_stress",
                geom,
                area_id=area_id,
                stress_class=stress,
                pet=round(29.0 + 2.6 * stress + rng.normal(0, 0.8), 1),
                night_temperature=round(15.5 + 1.1 * stress + rng.normal(0, 0.4), 1),
                area_type=p.structure,
            )

    # -- buildings with green-roof potential ------------------------------------

    def make_green_roofs(self) -> None:
        rng = self.rng
        planned = shapely.union_all(
            [
                p.geometry
                for p in self.projects_of(
                    "building", "green_roof", "stormwater_basin", "green_space", "heat_action"
                )
            ]
        ).buffer(5)
        water = self.rivers.buffer(15)
        rows: list[tuple[Polygon, float, bool]] = []  # footprint, roof slope, existing green
        # Roofs the cities want to green: the green-roof projects on existing buildings.
        new_buildings = shapely.union_all([p.geometry for p in self.projects_of("building")])
        for project in self.projects_of("green_roof"):
            if project.geometry.intersects(new_buildings):
                continue  # a roof on a building still to be built
            done = project.status == "done"
            for part in _polygons(project.geometry):
                rows.append((part, float(round(rng.uniform(0, 3), 1)), done))
        built = [
            p for p in self.parcels if p.structure not in ("Grünfläche",) and p.geometry.area > 3000
        ]
        for i in sorted(rng.permutation(len(built))[: int(0.4 * len(built))].tolist()):
            p = built[i]
            _, (w, h), slopes = STRUCTURE_TYPES[p.structure]
            angle = _orientation(p.geometry)
            c = p.geometry.centroid
            inner = p.geometry.buffer(-6.0)
            local = affinity.rotate(inner, -angle, origin=c)
            xmin, ymin, xmax, ymax = local.bounds
            gap = rng.uniform(8, 16)
            xs = np.arange(xmin + w / 2, xmax - w / 2, w + gap)
            ys = np.arange(ymin + h / 2, ymax - h / 2, h + gap * 1.5)
            cells = [(x, y) for y in ys for x in xs]
            picked = 0
            for k in rng.permutation(len(cells)):
                if picked >= 6:
                    break
                x, y = cells[int(k)]
                rect = affinity.rotate(
                    box(x - w / 2, y - h / 2, x + w / 2, y + h / 2), angle, origin=c
                )
                if (
                    not inner.contains(rect)
                    or rect.intersects(planned)
                    or rect.intersects(self.green)
                    or rect.intersects(water)
                ):
                    continue
                slope = float(rng.choice(slopes)) + float(rng.uniform(0, 2))
                rows.append((rect, round(slope, 1), rng.random() < 0.05))
                picked += 1
        n = 0
        for rect, slope, exists in rows:
            if slope > 30:
                continue  # steep roofs are not in the green-roof cadastre
            rect = _clean(rect, 20.0)
            if rect is None:
                continue
            potential = 3 if slope <= 5 else 2 if slope <= 15 else 1
            share = {3: (0.7, 0.9), 2: (0.45, 0.7), 1: (0.2, 0.45)}[potential]
            n += 1
            city = self.city_at(rect)
            self.add(
                "green_roof_potential",
                rect,
                building_id=f"{CITY_PREFIX[city]}-GEB{n:05d}",
                potential_class=potential,
                roof_area=round(rect.area, 1),
                suitable_area=round(rect.area * rng.uniform(*share), 1),
                roof_slope=slope,
                green_roof_exists=exists,
            )

    # -- street trees ------------------------------------------------------------

    def make_trees(self) -> None:
        rng = self.rng
        counters = {"herne": 0, "bochum": 0}
        # Planned trees are not there yet; their spots and building sites stay free.
        planned_trees = shapely.union_all([p.geometry for p in self.projects_of("tree_planting")])
        avoid = shapely.union_all(
            [self.rivers.buffer(8), planned_trees.buffer(5)]
            + [p.geometry for p in self.projects_of("building", "stormwater_basin")]
        )
        # Planted: old avenues along the first three sewers to be rehabilitated in an open
        # trench (the Bahnhofstraße among them), on the side away from planned plantings.
        trench = [
            p
            for p in self.projects_of("sewer_rehabilitation")
            if "offener Bauweise" in p.description and p.status in ("planning", "approved")
        ][:3]
        self.trench_projects = trench
        avenues: list[tuple[int, LineString | None, bool]] = []
        for p in trench:
            for part in _parts_of(p.geometry):
                i = int(self.street_tree.query_nearest(part.interpolate(0.5, normalized=True))[0])
                avenues.append((i, part, True))
        # Further avenues in random order, main roads more often, until the register is full.
        weights = {"main": 0.8, "collector": 0.6, "residential": 0.3}
        for i in rng.permutation(len(self.streets)).tolist():
            if rng.random() < weights[self.streets[i].category]:
                avenues.append((i, None, False))
        planted_streets = {i for i, _, old in avenues if old}
        all_streets = shapely.union_all([s.geometry for s in self.streets])
        for i, piece, old in avenues:
            street = self.streets[i]
            if not old and sum(counters.values()) >= TREE_TARGET:
                break
            if not old and i in planted_streets:
                continue
            species, growth, max_crown, height_factor = SPECIES[int(rng.integers(len(SPECIES)))]
            if old:  # avenues of the 1950s and 60s: lindens, planes, chestnuts, oaks
                species, growth, max_crown, height_factor = SPECIES[
                    int(rng.choice([0, 1, 4, 5, 6]))
                ]
                planted = int(rng.integers(1952, 1968))
            else:
                planted = int(rng.integers(1955, 2021))
            spacing = rng.uniform(9.0, 15.0)
            both = street.category != "residential" and rng.random() < 0.5
            sides = (-1, 1) if both else (int(rng.choice([-1, 1])),)
            base = street.geometry
            if piece is not None:
                d0, d1 = sorted(
                    (base.project(Point(piece.coords[0])), base.project(Point(piece.coords[-1])))
                )
                base = substring(base, max(d0 - 20, 0), min(d1 + 20, base.length))
                far = _offset_line(base, -6.0).distance(planned_trees) >= _offset_line(
                    base, 6.0
                ).distance(planned_trees)
                sides = (-1,) if far else (1,)
            else:  # an avenue along one stretch of the street, as they were planted
                want = min(rng.uniform(150, 700), base.length)
                start = rng.uniform(0, base.length - want)
                base = substring(base, start, start + want)
            for side in sides:
                line = _offset_line(base, side * rng.uniform(5.5, 7.0))
                if line is base:
                    continue
                ds = np.arange(spacing / 2, line.length, spacing)
                for d in ds:
                    pt = line.interpolate(float(d + rng.uniform(-1.0, 1.0)))
                    if pt.intersects(avoid) or pt.distance(all_streets) < 4.5:
                        continue
                    if rng.random() < 0.08:
                        continue  # a gap where a tree was felled
                    year = planted if rng.random() > 0.12 else int(rng.integers(1990, 2024))
                    age = 2025 - year
                    crown: float | None = float(
                        np.clip(0.6 + growth * age * rng.uniform(0.8, 1.2), 0.5, max_crown)
                    )
                    if rng.random() < 0.05:
                        crown = None  # not measured yet: the default protection radius applies
                    trunk = float(np.clip(age * rng.uniform(0.7, 1.1), 4, 160))
                    height = float(
                        np.clip(2.5 + age * height_factor * rng.uniform(0.8, 1.1), 2, 32)
                    )
                    vitality = int(rng.choice(4, p=[0.45, 0.35, 0.15, 0.05]))
                    city = self.city_at(pt)
                    counters[city] += 1
                    number = int(street.geometry.project(pt) // 9) + 1
                    number = number * 2 - (1 if side > 0 else 0)
                    self.add(
                        "trees",
                        Point(round(pt.x, 2), round(pt.y, 2)),
                        tree_id=f"{CITY_PREFIX[city]}-B{counters[city]:05d}",
                        species=species,
                        crown_radius=round(crown, 1) if crown is not None else None,
                        trunk_diameter=round(trunk, 0),
                        trunk_circumference=round(trunk * math.pi, 0),
                        height=round(height, 1),
                        planting_year=year,
                        vitality=vitality,
                        event="existing",
                        address=f"{street.name} {number}",
                        district=self.district_name(pt),
                        site="Straßenbaum",
                    )

    # -- base layers -------------------------------------------------------------

    def make_streets(self) -> None:
        """Streets in sections where the surface differs: resurfaced pieces are their own."""
        rng = self.rng
        counters = {"herne": 0, "bochum": 0}
        done_works = [
            p
            for p in self.projects_of("road_resurfacing", "road_renewal", "street_redesign")
            if p.status == "done"
        ]
        emscherweg = self.project("road_resurfacing", "Emscherweg")
        for street in self.streets:
            line = street.geometry
            city = self.city_at(line)
            counters[city] += 1
            key = f"{CITY_PREFIX[city]}-{counters[city] * 10 + int(rng.integers(0, 10)):05d}"
            first = {"main": 1995, "collector": 1985, "residential": 1975}[street.category]
            base_year = int(rng.integers(first, 2020))
            surface = "Asphalt"
            if street.category == "residential" and rng.random() < 0.25:
                surface = str(rng.choice(["Betonpflaster", "Betonpflaster", "Natursteinpflaster"]))
            intervals: list[tuple[float, float, int]] = []
            for p in done_works:
                for part in _parts_of(p.geometry):
                    if part.distance(line) > 0.5 or not part.within(line.buffer(1.0)):
                        continue
                    d0, d1 = sorted(
                        (line.project(Point(part.coords[0])), line.project(Point(part.coords[-1])))
                    )
                    assert p.end is not None
                    intervals.append((d0, d1, p.end.year))
            if street.name == "Emscherweg":
                # Planted: resurfaced in 2024 except the piece the city does next, which is old;
                # the water board's trunk sewer plans to open this street in 2027.
                part = emscherweg.geometry
                d0, d1 = sorted(
                    (line.project(Point(part.coords[0])), line.project(Point(part.coords[-1])))
                )
                base_year = 2024
                intervals.append((d0, d1, int(rng.integers(1990, 1999))))
            cuts = sorted({0.0, line.length, *[d for a, b, _ in intervals for d in (a, b)]})
            cuts = [d for k, d in enumerate(cuts) if k == 0 or d - cuts[k - 1] > 5.0]
            if line.length - cuts[-1] > 1e-6:
                cuts[-1] = line.length
            pieces = list(itertools.pairwise(cuts))
            for n, (a, b) in enumerate(pieces, start=1):
                mid = (a + b) / 2
                year = base_year
                for d0, d1, y in intervals:
                    if d0 <= mid <= d1:
                        year = y
                geom = substring(line, a, b) if len(pieces) > 1 else line
                self.add(
                    "streets",
                    geom,
                    street_id=key if len(pieces) == 1 else f"{key}-{n}",
                    name=street.name,
                    category=street.category,
                    surface=surface,
                    last_resurfacing_year=year,
                )

    def make_districts(self) -> None:
        rng = self.rng
        counters = {"herne": 0, "bochum": 0}
        for d in self.town.districts:
            counters[d.city] += 1
            c = d.geometry.centroid
            per_km2 = 2200 + 4200 * _density(c.x, c.y) + rng.uniform(-300, 300)
            self.add(
                "districts",
                d.geometry,
                district_id=f"{AGS[d.city]}-{counters[d.city]:02d}",
                name=d.name,
                municipality=d.city.title(),
                level="sub_district",
                population=int(round(d.geometry.area / 1e6 * per_km2, -1)),
            )

    def make_water_bodies(self) -> None:
        codes = ("2774912", "27749128")
        orders = (2, 3)
        for stream, code, order in zip(self.town.streams, codes, orders, strict=True):
            self.add(
                "water_bodies",
                stream.geometry,
                water_id=code,
                name=stream.name,
                water_type="Fließgewässer",
                water_order=order,
                maintainer=WATER_BOARD,
            )
        park = getattr(self, "city_park", None)
        if park is not None:
            c = park.representative_point()
            shape = _star(self.rng, c.x, c.y, 24.0, 14.0)
            pond = _star_polygon(shape, 1.0)
            if park.buffer(-5).contains(pond):
                city = self.city_at(pond)
                self.add(
                    "water_bodies",
                    _clean(pond),
                    water_id=f"{AGS[city]}-T01",
                    name="Stadtgartenteich",
                    water_type="Stillgewässer",
                    water_order=None,
                    maintainer=OFFICES[(city, "green")],
                )


def generate_layers(town: Town, seed: int = DEFAULT_SEED) -> dict[str, Rows]:
    """All thematic layers of the town: per layer key, (geometry in EPSG:25832, properties)."""
    return _Builder(town, seed).build()


def layer_features(layers: dict[str, Rows]) -> dict[str, list[dict[str, Any]]]:
    """The GeoJSON features of each layer, in their stable order."""
    return {
        key: [feature(geom, props, MAX_LAYER_VERTICES) for geom, props in rows]
        for key, rows in layers.items()
    }


def write_layers(folder: Path, town: Town, seed: int = DEFAULT_SEED) -> dict[str, int]:
    """Write ``folder/<key>.geojson`` for every layer; returns features per layer key."""
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for key, features in layer_features(generate_layers(town, seed)).items():
        text = collection_text(features)
        (folder / f"{key}.geojson").write_text(text, encoding="utf-8", newline="\n")
        counts[key] = len(features)
    return counts
