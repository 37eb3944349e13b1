"""Generate the synthetic demo town of ``sample_data/``.

A town of about 5 × 4 km on the border of Herne (north) and Bochum (south),
built in ETRS89 / UTM 32N (EPSG:25832) and written as RFC 7946 GeoJSON in
lon/lat: districts, an irregular street network, two brooks and about 150
planning projects of the cities, the water board (Emschergenossenschaft) and
a utility (Gelsenwasser), with a dozen coordination situations planted on
purpose so the demo shows conflicts and synergies at once.

Everything is drawn from one ``numpy.random.default_rng(seed)`` in a fixed
order and coordinates are rounded before they are written, so the output is
byte-identical on every run: the committed files can be checked against the
script (``tests/test_demo_town.py``).

Run ``python -m zugabe.demo.town [OUTPUT_DIR] [--seed N]``. It also writes the
town's thematic layers (``zugabe.demo.layers``) to ``OUTPUT_DIR/layers/``.
"""

from __future__ import annotations

import argparse
import calendar
import itertools
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import (
    LineString,
    MultiLineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
    box,
)
from shapely.geometry.base import BaseGeometry
from shapely.ops import substring

from zugabe.domain.vocabulary import Vocabulary

STORAGE_CRS = "EPSG:25832"
DEFAULT_SEED = 2027
CENTRE = (377_500.0, 5_708_500.0)
HALF_WIDTH, HALF_HEIGHT = 2_400.0, 1_900.0
FIRST_DAY, LAST_DAY = date(2025, 1, 1), date(2032, 12, 31)
LAST_MONTH = 95  # months counted from January 2025; 95 is December 2032
MAX_VERTICES = 250
FILES = ("districts.geojson", "streets.geojson", "streams.geojson", "projects.geojson")

# Statuses are consistent with an assumed "today" in spring 2026 (month 14).
STATUS_WEIGHTS = {
    "idea": 0.10,
    "planning": 0.38,
    "approved": 0.27,
    "under_construction": 0.10,
    "done": 0.08,
    "cancelled": 0.07,
}
STATUS_START = {  # earliest and latest start month per status
    "done": (0, 9),
    "under_construction": (3, 14),
    "approved": (14, 40),
    "planning": (16, 66),
    "idea": (36, 84),
    "cancelled": (6, 60),
}
DURATION = {  # months, inclusive bounds
    "road_renewal": (6, 14),
    "road_resurfacing": (1, 3),
    "street_redesign": (8, 18),
    "sewer_rehabilitation": (3, 10),
    "sewer_construction": (8, 24),
    "disconnection": (6, 24),
    "swale_trench": (3, 8),
    "stormwater_basin": (10, 20),
    "tree_planting": (1, 3),
    "green_space": (6, 14),
    "green_roof": (3, 8),
    "development_plan": (18, 36),
    "building": (18, 30),
    "heat_action": (4, 12),
    "stream_restoration": (12, 36),
    "utility_line": (2, 8),
}
# Measures that are often programmes without a fixed end.
OPEN_ENDED = ("green_roof", "disconnection", "heat_action", "tree_planting")

ORGANISATIONS = ("herne", "bochum", "eglv", "gelsenwasser")
CITIES = ("herne", "bochum")
OFFICES = {
    ("herne", "roads"): "Tiefbauamt Herne",
    ("herne", "drainage"): "Stadtentwässerung Herne",
    ("herne", "green"): "Fachbereich Stadtgrün Herne",
    ("herne", "planning"): "Fachbereich Stadtplanung Herne",
    ("herne", "environment"): "Fachbereich Umwelt Herne",
    ("bochum", "roads"): "Tiefbauamt Bochum",
    ("bochum", "drainage"): "Tiefbauamt Bochum, Abt. Stadtentwässerung",
    ("bochum", "green"): "Grünflächenamt Bochum",
    ("bochum", "planning"): "Amt für Stadtplanung Bochum",
    ("bochum", "environment"): "Umweltamt Bochum",
    ("eglv", "water_management"): "Emschergenossenschaft, Gewässerentwicklung",
    ("eglv", "drainage"): "Emschergenossenschaft, Abwassertechnik",
    ("gelsenwasser", "utility_network"): "Gelsenwasser AG, Netzplanung",
}
PHONE_PREFIX = {
    "herne": "02323 16-",
    "bochum": "0234 910-",
    "eglv": "0201 104-",
    "gelsenwasser": "0209 708-",
}
# How often each measure is drawn after every combination has appeared once.
MEASURE_WEIGHTS = {
    ("roads", "road_renewal"): 5,
    ("roads", "road_resurfacing"): 5,
    ("roads", "street_redesign"): 2,
    ("drainage", "sewer_rehabilitation"): 6,
    ("drainage", "sewer_construction"): 2,
    ("drainage", "disconnection"): 2,
    ("drainage", "swale_trench"): 3,
    ("drainage", "stormwater_basin"): 1,
    ("green", "tree_planting"): 4,
    ("green", "green_space"): 2,
    ("green", "green_roof"): 1,
    ("planning", "development_plan"): 3,
    ("planning", "building"): 3,
    ("environment", "green_roof"): 2,
    ("environment", "disconnection"): 2,
    ("environment", "heat_action"): 2,
    ("water_management", "stream_restoration"): 3,
    ("water_management", "sewer_construction"): 2,
    ("water_management", "stormwater_basin"): 1,
    ("water_management", "swale_trench"): 1,
    ("utility_network", "utility_line"): 40,
}

DISTRICT_NAMES = (
    "Altenhövel",
    "Kappelbusch",
    "Sieperfeld",
    "Zechenheide",
    "Overkamp",
    "Brückenfeld",
    "Mühlenwinkel",
    "Hülsenbruch",
)
# North-south main roads change their name at the city border, as they do
# in the Ruhr: (name in Herne, name in Bochum), west to east.
NORTH_SOUTH_MAINS = (
    ("Bochumer Straße", "Herner Straße"),
    ("Bahnhofstraße", "Hauptstraße"),
    ("Sodinger Straße", "Gerther Straße"),
    ("Recklinghauser Straße", "Castroper Straße"),
)
EAST_WEST_MAINS = ("Hattinger Straße", "Kaiserstraße", "Wilhelmstraße", "Emscherstraße")
DIAGONAL_MAIN = "Dortmunder Straße"
COLLECTOR_STEMS = (
    "Zechen",
    "Schacht",
    "Hütten",
    "Kirch",
    "Schul",
    "Mühlen",
    "Markt",
    "Post",
    "Garten",
    "Feld",
    "Wiesen",
    "Berg",
    "Brunnen",
    "Friedhof",
    "Sportplatz",
    "Park",
    "Kolonie",
    "Stollen",
    "Hafen",
    "Kanal",
    "Hochofen",
    "Gruben",
    "Ziegelei",
    "Rathaus",
    "Wald",
    "Busch",
    "Dorf",
    "Zeppelin",
    "Zollverein",
    "Bruch",
    "Schloss",
    "Werk",
    "Halden",
)
COLLECTOR_SUFFIXES = ("straße", "straße", "straße", "allee", "ring")
TREES = (
    "Linden",
    "Birken",
    "Eichen",
    "Buchen",
    "Ahorn",
    "Kastanien",
    "Eschen",
    "Ulmen",
    "Erlen",
    "Weiden",
    "Pappel",
    "Holunder",
    "Eiben",
    "Platanen",
)
FLOWERS = ("Rosen", "Tulpen", "Nelken", "Veilchen", "Flieder", "Lilien", "Astern", "Narzissen")
BIRDS = ("Amsel", "Drossel", "Finken", "Meisen", "Lerchen", "Schwalben", "Falken", "Kiebitz")
POETS = (
    "Goethe",
    "Schiller",
    "Lessing",
    "Uhland",
    "Heine",
    "Körner",
    "Eichendorff",
    "Mörike",
    "Hebbel",
    "Storm",
    "Fontane",
    "Raabe",
    "Kleist",
    "Herder",
    "Wieland",
    "Hölderlin",
)
PERSONS = (
    "Fritz-Reuter-Straße",
    "Annette-von-Droste-Weg",
    "Otto-Hue-Straße",
    "Käthe-Kollwitz-Straße",
    "Carl-Legien-Straße",
    "Hedwig-Dohm-Weg",
    "Friedrich-Ebert-Platz",
    "Bertha-von-Suttner-Straße",
    "Robert-Koch-Straße",
    "Clara-Zetkin-Weg",
)
MINING = (
    "Glückaufstraße",
    "Steigerweg",
    "Knappenstraße",
    "Hauerweg",
    "Förderturmweg",
    "Flözweg",
    "Kauenstraße",
    "Schlägel-und-Eisen-Straße",
    "Lohnhallenweg",
    "Markscheiderweg",
)
FIELD_NAMES = (
    "Am Kamp",
    "Im Winkel",
    "An der Heide",
    "Im Grund",
    "Am Bruch",
    "Im Siepen",
    "Am Hang",
    "Zum Teich",
    "Am Bach",
    "In den Wiesen",
    "An der Kirche",
    "Am Stadtgarten",
    "An der Bahn",
    "Am Holtkamp",
    "Auf dem Hövel",
    "Im Brink",
    "Am Knappenheim",
    "Auf der Heide",
    "Am Hellweg",
    "Im Dahl",
    "Auf dem Acker",
    "Am Schultenhof",
    "Zur Halde",
    "Am Ehrenmal",
    "An den Gärten",
    "Im Bruchfeld",
)
CRAFTS = (
    "Schmiedestraße",
    "Weberstraße",
    "Zimmererweg",
    "Böttcherstraße",
    "Bäckerweg",
    "Schreinerweg",
    "Gerberstraße",
    "Töpferweg",
    "Küferweg",
    "Drechslerweg",
    "Glaserstraße",
    "Schusterweg",
    "Maurerstraße",
    "Färberweg",
    "Seilerweg",
    "Brauerstraße",
)
LOCAL_NAMES = (
    "Heidekamp",
    "Buschkamp",
    "Dieckstraße",
    "Brinkweg",
    "Sonnenwinkel",
    "Talstraße",
    "Höhenweg",
    "Hofweg",
    "Kottenweg",
    "Kötterstraße",
    "Spieckerweg",
    "Hölterweg",
    "Wittenbrink",
    "Schultenweg",
    "Siepenweg",
    "Brachtweg",
    "Uferstraße",
    "Quellenweg",
    "Grabenstraße",
    "Stegweg",
    "Heckenweg",
    "Gartenkamp",
    "Teichweg",
    "Mittelstraße",
    "Querstraße",
    "Kurze Straße",
    "Lange Reihe",
    "Neue Reihe",
    "Alte Dorfstraße",
    "Kolonieweg",
)
STREAM_NAME, SIDE_STREAM_NAME = "Wiesenbach", "Siepenbach"


# --------------------------------------------------------------------------
# The town
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class District:
    name: str
    city: str
    geometry: Polygon


@dataclass(frozen=True)
class Street:
    name: str
    category: str  # main, collector, residential
    geometry: LineString


@dataclass(frozen=True)
class Stream:
    name: str
    geometry: LineString


@dataclass(frozen=True)
class DemoProject:
    """A project as the API receives it, with its geometry in EPSG:25832."""

    title: str
    description: str
    organisation: str
    department: str
    measure_type: str
    status: str
    start: date
    end: date | None
    contact: str
    cost_eur: int | None
    geometry: BaseGeometry

    def properties(self) -> dict[str, Any]:
        """The API's project properties, in the API's order, nothing else."""
        return {
            "title": self.title,
            "description": self.description,
            "organisation": self.organisation,
            "department": self.department,
            "measure_type": self.measure_type,
            "status": self.status,
            "start": self.start.isoformat(),
            "end": self.end.isoformat() if self.end else None,
            "contact": self.contact,
            "cost_eur": self.cost_eur,
        }


@dataclass(frozen=True)
class Situation:
    """A coordination situation planted on purpose: two projects that must talk."""

    label: str
    first: int  # index into Town.projects
    second: int


@dataclass(frozen=True)
class Town:
    outline: Polygon
    districts: tuple[District, ...]
    streets: tuple[Street, ...]
    streams: tuple[Stream, ...]
    projects: tuple[DemoProject, ...]
    situations: tuple[Situation, ...]
    # Faces of the street network set back from the roads; the thematic layers
    # (``zugabe.demo.layers``) build parcels, buildings and parks in them.
    blocks: tuple[Polygon, ...] = ()


def generate_town(seed: int = DEFAULT_SEED) -> Town:
    """Build the whole town from one seed; same seed, same town, every time."""
    rng = np.random.default_rng(seed)
    outline = _outline(rng)
    districts = _districts(rng, outline)
    streets = _streets(rng, outline, districts)
    streams = _streams(rng, outline)
    blocks = _blocks(outline, streets)
    builder = _ProjectBuilder(rng, outline, districts, streets, streams, blocks)
    builder.plant_situations()
    builder.cover_vocabulary(Vocabulary.default())
    builder.fill(150)
    return Town(
        outline=outline,
        districts=tuple(districts),
        streets=tuple(streets),
        streams=tuple(streams),
        projects=tuple(builder.projects),
        situations=tuple(builder.situations),
        blocks=tuple(blocks),
    )


# --------------------------------------------------------------------------
# Geometry helpers (all in metres, EPSG:25832)
# --------------------------------------------------------------------------


def _at(dx: float, dy: float) -> tuple[float, float]:
    """A point given relative to the town centre."""
    return CENTRE[0] + dx, CENTRE[1] + dy


def _chaikin(points: np.ndarray, iterations: int) -> np.ndarray:
    """Corner-cutting smoothing of an open polyline; the ends stay put."""
    pts = points
    for _ in range(iterations):
        q = 0.75 * pts[:-1] + 0.25 * pts[1:]
        r = 0.25 * pts[:-1] + 0.75 * pts[1:]
        mid = np.empty((2 * len(q), 2))
        mid[0::2], mid[1::2] = q, r
        pts = np.vstack([pts[:1], mid, pts[-1:]])
    return pts


def _wiggly(
    rng: np.random.Generator,
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    step: float,
    wiggle: float,
    smooth: int = 3,
) -> LineString:
    """A road-like curve: a random walk sideways of the straight line, smoothed."""
    a, b = np.array(start), np.array(end)
    length = float(np.hypot(*(b - a)))
    n = max(2, round(length / step) + 1)
    t = np.linspace(0.0, 1.0, n)
    walk = np.cumsum(rng.normal(0.0, wiggle, n))
    walk -= walk[0] + (walk[-1] - walk[0]) * t  # both ends on the straight line
    normal = np.array([-(b - a)[1], (b - a)[0]]) / length
    pts = a + np.outer(t, b - a) + np.outer(walk, normal)
    return LineString(_chaikin(pts, smooth))


def _longest(geom: BaseGeometry) -> LineString | None:
    lines = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, LineString)]
    lines = [g for g in lines if not g.is_empty]
    return max(lines, key=lambda g: g.length) if lines else None


def _largest(geom: BaseGeometry) -> Polygon | None:
    polys = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, Polygon)]
    polys = [g for g in polys if not g.is_empty]
    return max(polys, key=lambda g: g.area) if polys else None


def _cut_around(line: LineString, obstacles: BaseGeometry, anchor: float) -> LineString:
    """The part of ``line`` between the crossings with ``obstacles`` around ``anchor``."""
    hits = line.intersection(obstacles)
    ds = [line.project(Point(xy)) for xy in shapely.get_coordinates(hits)]
    lo = max((d for d in ds if d < anchor - 1.0), default=0.0)
    hi = min((d for d in ds if d > anchor + 1.0), default=line.length)
    return substring(line, lo, hi)


def _rect(cx: float, cy: float, width: float, height: float, angle: float) -> Polygon:
    """A rectangle centred on (cx, cy), rotated by ``angle`` degrees."""
    r = box(cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
    return affinity.rotate(r, angle, origin=(cx, cy))


def _plot(
    rng: np.random.Generator, centre: Point, width: float, height: float, angle: float
) -> Polygon:
    """A land parcel: a rotated rectangle with uneven corners, one often cut off."""
    hw, hh = width / 2, height / 2
    corners = [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)]
    cut = int(rng.integers(0, 6))  # 4 and 5: no corner cut
    pts: list[tuple[float, float]] = []
    for i, (x, y) in enumerate(corners):
        x += rng.uniform(-0.1, 0.1) * width
        y += rng.uniform(-0.1, 0.1) * height
        if i == cut:
            f = rng.uniform(0.2, 0.35)
            nx, ny = corners[(i + 1) % 4]
            px, py = corners[i - 1]
            pts += [(x + (px - x) * f, y + (py - y) * f), (x + (nx - x) * f, y + (ny - y) * f)]
        else:
            pts.append((x, y))
    poly = Polygon([(centre.x + x, centre.y + y) for x, y in pts])
    return affinity.rotate(poly, angle, origin=centre)


def _blob(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float) -> Polygon:
    """An irregular rounded shape, like a basin or a pond."""
    theta = np.linspace(0.0, 2 * math.pi, 18, endpoint=False)
    k = 1.0 + rng.uniform(-0.12, 0.12, theta.size)
    angle = rng.uniform(0, math.pi)
    x, y = rx * k * np.cos(theta), ry * k * np.sin(theta)
    xs = cx + x * math.cos(angle) - y * math.sin(angle)
    ys = cy + x * math.sin(angle) + y * math.cos(angle)
    return Polygon(np.column_stack([xs, ys]))


def _orientation(poly: Polygon) -> float:
    """Angle (degrees) of the longer side of the minimum rotated rectangle."""
    coords = np.asarray(poly.minimum_rotated_rectangle.exterior.coords)
    edges = np.diff(coords[:3], axis=0)
    longest = edges[int(np.argmax(np.hypot(edges[:, 0], edges[:, 1])))]
    return math.degrees(math.atan2(longest[1], longest[0]))


def _offset(line: LineString, distance: float) -> LineString:
    """A parallel line at the road side; the line itself where that fails."""
    shifted = line.offset_curve(distance, quad_segs=2, join_style="round")
    if isinstance(shifted, LineString) and shifted.is_simple and shifted.length > 0.5 * line.length:
        return shifted
    return line


def _points_along(line: LineString, spacing: float) -> MultiPoint:
    n = max(2, int(line.length // spacing) + 1)
    ds = np.linspace(0.0, line.length, n)
    return MultiPoint([line.interpolate(float(d)) for d in ds])


# --------------------------------------------------------------------------
# Outline, districts, streets, streams, blocks
# --------------------------------------------------------------------------


def _outline(rng: np.random.Generator) -> Polygon:
    """A boxy, slightly irregular town outline (superellipse with a wobble)."""
    theta = np.linspace(0.0, 2 * math.pi, 96, endpoint=False)
    c, s = np.cos(theta), np.sin(theta)
    wobble = np.ones_like(theta)
    for k in (2, 3, 5, 7):
        wobble += rng.uniform(0.008, 0.022) * np.sin(k * theta + rng.uniform(0, 2 * math.pi))
    x = np.sign(c) * np.abs(c) ** 0.5 * HALF_WIDTH * wobble
    y = np.sign(s) * np.abs(s) ** 0.5 * HALF_HEIGHT * wobble
    poly = Polygon(np.column_stack([CENTRE[0] + x, CENTRE[1] + y]))
    return shapely.set_precision(poly, 0.01)


def _border_y(x: float, phase: float) -> float:
    """The Herne/Bochum border line: north of it is Herne."""
    return CENTRE[1] + 120.0 + 180.0 * math.sin(2 * math.pi * (x - CENTRE[0]) / 3500.0 + phase)


def _districts(rng: np.random.Generator, outline: Polygon) -> list[District]:
    """Voronoi cells of seeded points, clipped to the outline: a gap-free tiling."""
    nominal = [
        (-1700, 900),
        (-450, 1150),
        (850, 1050),
        (1900, 650),
        (-1350, -950),
        (150, -1100),
        (1550, -850),
    ]
    seeds = [_at(dx + rng.uniform(-200, 200), dy + rng.uniform(-200, 200)) for dx, dy in nominal]
    phase = rng.uniform(0, 2 * math.pi)
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=outline.buffer(1000))
    names = [DISTRICT_NAMES[i] for i in rng.permutation(len(DISTRICT_NAMES))]
    districts = []
    for i, seed in enumerate(seeds):
        cell = next(c for c in cells.geoms if c.contains(Point(seed)))
        geom = _largest(shapely.set_precision(cell.intersection(outline), 0.01))
        assert geom is not None
        p = geom.representative_point()
        city = "herne" if p.y > _border_y(p.x, phase) else "bochum"
        districts.append(District(names[i], city, geom))
    assert {d.city for d in districts} == set(CITIES), "both cities need districts"
    return districts


def _city_at(districts: Sequence[District], geom: BaseGeometry) -> str:
    p = geom if isinstance(geom, Point) else geom.representative_point()
    if isinstance(geom, LineString):
        p = geom.interpolate(0.5, normalized=True)
    inside = [d for d in districts if d.geometry.covers(p)]
    if inside:
        return inside[0].city
    return min(districts, key=lambda d: d.geometry.distance(p)).city


def _district_at(districts: Sequence[District], geom: BaseGeometry) -> District:
    p = geom.interpolate(0.5, normalized=True) if isinstance(geom, LineString) else geom.centroid
    return min(districts, key=lambda d: d.geometry.distance(p))


def _name_pool(rng: np.random.Generator, names: list[str]) -> list[str]:
    return [names[i] for i in rng.permutation(len(names))]


def _residential_names(rng: np.random.Generator) -> list[str]:
    names: list[str] = []
    for stem in TREES:
        names.append(stem + ("weg", "straße", "allee")[int(rng.integers(3))])
    names += [stem + "weg" for stem in FLOWERS]
    names += [stem + "weg" for stem in BIRDS]
    names += [stem + "straße" for stem in POETS]
    names += list(PERSONS) + list(MINING) + list(FIELD_NAMES) + list(CRAFTS) + list(LOCAL_NAMES)
    return _name_pool(rng, names)


def _names(pool: list[str]) -> Iterator[str]:
    """Names from the pool, then "Planstraße A", "B", ... as new estates are called."""
    yield from pool
    for i in itertools.count():
        yield f"Planstraße {chr(ord('A') + i % 26)}{i // 26 or ''}"


def _streets(
    rng: np.random.Generator, outline: Polygon, districts: Sequence[District]
) -> list[Street]:
    """Jittered main roads, one curved collector per cell, side streets off them."""
    xmin, ymin, xmax, ymax = outline.bounds
    herne = shapely.union_all([d.geometry for d in districts if d.city == "herne"])
    edge = outline.exterior
    streets: list[Street] = []

    def clip(line: LineString) -> LineString | None:
        return _longest(line.intersection(outline))

    ns_x = [CENTRE[0] + dx + rng.uniform(-100, 100) for dx in (-1500, -520, 480, 1450)]
    ew_y = [CENTRE[1] + dy + rng.uniform(-80, 80) for dy in (-1250, -420, 380, 1180)]
    for x, (north_name, south_name) in zip(ns_x, NORTH_SOUTH_MAINS, strict=True):
        line = clip(_wiggly(rng, (x, ymin - 300), (x, ymax + 300), step=350, wiggle=40))
        assert line is not None
        for part, name in (
            (line.intersection(herne), north_name),
            (line.difference(herne), south_name),
        ):
            merged = shapely.line_merge(part) if not isinstance(part, LineString) else part
            for piece in getattr(merged, "geoms", [merged]):
                if isinstance(piece, LineString) and piece.length > 50:
                    streets.append(Street(name, "main", piece))
    for y, name in zip(ew_y, EAST_WEST_MAINS, strict=True):
        line = clip(_wiggly(rng, (xmin - 300, y), (xmax + 300, y), step=350, wiggle=40))
        assert line is not None
        streets.append(Street(name, "main", line))
    diagonal = clip(_wiggly(rng, _at(-2700, -2000), _at(2600, 1500), step=400, wiggle=60))
    assert diagonal is not None
    streets.append(Street(DIAGONAL_MAIN, "main", diagonal))

    mains = shapely.union_all([s.geometry for s in streets] + [edge])
    collector_names = [
        stem + COLLECTOR_SUFFIXES[int(rng.integers(len(COLLECTOR_SUFFIXES)))]
        for stem in COLLECTOR_STEMS
    ]
    collector_names = ["Emscherweg", *_name_pool(rng, collector_names)]
    residential_names = ["Am Kanal", *_residential_names(rng)]
    xs = [xmin, *ns_x, xmax]
    ys = [ymin, *ew_y, ymax]
    cells = [(xs[i], ys[j], xs[i + 1], ys[j + 1]) for j in range(4 + 1) for i in range(4 + 1)]
    collectors: list[LineString] = []
    for x0, y0, x1, y1 in cells:
        centre = Point((x0 + x1) / 2, (y0 + y1) / 2)
        if not outline.contains(centre.buffer(150)):
            continue
        east_west = rng.random() < 0.55
        for direction in (east_west, not east_west)[: 1 + int(rng.random() < 0.5)]:
            if direction:
                ya = y0 + rng.uniform(0.3, 0.7) * (y1 - y0)
                yb = ya + rng.normal(0, 60)
                raw = _wiggly(rng, (x0 - 400, ya), (x1 + 400, yb), step=150, wiggle=22)
            else:
                xa = x0 + rng.uniform(0.3, 0.7) * (x1 - x0)
                xb = xa + rng.normal(0, 60)
                raw = _wiggly(rng, (xa, y0 - 400), (xb, y1 + 400), step=150, wiggle=22)
            line = _cut_around(raw, mains, raw.project(centre))
            if line.length > 250:
                collectors.append(line)
    # "Emscherweg" goes to the longest collector in Herne, for the planted cases.
    in_herne = [c for c in collectors if herne.contains(c.interpolate(0.5, normalized=True))]
    first = max(in_herne, key=lambda c: c.length)
    ordered = [first] + [c for c in collectors if c is not first]
    names = _names(collector_names + residential_names)
    for line in ordered:
        streets.append(Street(next(names), "collector", line))

    # Side streets, starting on a road of the cell and stopping at the next road.
    residential: list[LineString] = []
    for x0, y0, x1, y1 in cells:
        cell = box(x0, y0, x1, y1)
        if not outline.contains(cell.centroid.buffer(150)):
            continue
        wanted = int(rng.integers(5, 9))
        made = 0
        for _attempt in range(wanted * 4):
            if made >= wanted:
                break
            network = [s.geometry for s in streets] + residential
            hosts = [g for g in network if g.intersects(cell)]
            host = _longest(hosts[int(rng.integers(len(hosts)))].intersection(cell))
            if host is None or host.length < 150:
                continue
            d = rng.uniform(0.12, 0.88) * host.length
            p = host.interpolate(d)
            q = host.interpolate(min(d + 5, host.length))
            o = host.interpolate(max(d - 5, 0))
            tangent = math.atan2(q.y - o.y, q.x - o.x)
            side = 1 if rng.random() < 0.5 else -1
            angle = tangent + side * (math.pi / 2 + rng.uniform(-0.25, 0.25))
            length = rng.uniform(140, 380)
            end = (p.x + length * math.cos(angle), p.y + length * math.sin(angle))
            raw = _wiggly(rng, (p.x, p.y), end, step=90, wiggle=10, smooth=2)
            others = shapely.union_all([*network, edge])
            hits = raw.intersection(others)
            ds = [raw.project(Point(xy)) for xy in shapely.get_coordinates(hits)]
            stop = min((x for x in ds if x > 3.0), default=raw.length)
            line = substring(raw, 0.0, stop)
            if line.length < 90 or not outline.covers(line.interpolate(0.5, normalized=True)):
                continue
            inner = substring(line, 40.0, line.length - 40.0)
            if inner.distance(others) < 30.0:
                continue
            residential.append(line)
            made += 1
    used = {s.name for s in streets}
    names = _names([n for n in residential_names if n not in used])
    for line in residential:
        streets.append(Street(next(names), "residential", line))
    return [Street(s.name, s.category, shapely.set_precision(s.geometry, 0.01)) for s in streets]


def _streams(rng: np.random.Generator, outline: Polygon) -> list[Stream]:
    """An Emscher tributary flowing north through the town, and a side brook."""
    coarse = _wiggly(rng, _at(-900, -2300), _at(700, 2300), step=300, wiggle=70, smooth=2)
    main = _meander(rng, coarse)
    main_in = _longest(main.intersection(outline))
    assert main_in is not None
    join = main_in.interpolate(0.45, normalized=True)
    side_coarse = _wiggly(rng, _at(1300, -700), (join.x, join.y), step=250, wiggle=50, smooth=2)
    side = _meander(rng, side_coarse)
    side_in = _longest(side.intersection(outline))
    assert side_in is not None
    return [
        Stream(STREAM_NAME, shapely.set_precision(main_in, 0.01)),
        Stream(SIDE_STREAM_NAME, shapely.set_precision(side_in, 0.01)),
    ]


def _meander(rng: np.random.Generator, line: LineString) -> LineString:
    """Add small natural bends to a smooth course."""
    n = int(line.length // 20) + 1
    ds = np.linspace(0.0, line.length, n)
    pts = np.array([line.interpolate(float(d)).coords[0] for d in ds])
    tangent = np.gradient(pts, axis=0)
    tangent /= np.hypot(tangent[:, 0], tangent[:, 1])[:, None]
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    phase1, phase2 = rng.uniform(0, 2 * math.pi, 2)
    amp = 16 * np.sin(2 * math.pi * ds / 260 + phase1) + 7 * np.sin(2 * math.pi * ds / 110 + phase2)
    amp[0] = amp[-1] = 0.0
    bent = LineString(pts + normal * amp[:, None]).simplify(0.3)
    assert bent.is_simple
    return bent


def _blocks(outline: Polygon, streets: Sequence[Street]) -> list[Polygon]:
    """Building blocks: faces of the street network, set back from the roads."""
    extended = []
    for s in streets:  # a little overshoot so the network is noded at T-junctions
        c = np.asarray(s.geometry.coords)
        a = c[0] + 2.0 * (c[0] - c[1]) / np.hypot(*(c[0] - c[1]))
        b = c[-1] + 2.0 * (c[-1] - c[-2]) / np.hypot(*(c[-1] - c[-2]))
        extended.append(LineString(np.vstack([a, c, b])))
    network = shapely.union_all([*extended, outline.exterior])
    faces = shapely.polygonize(list(getattr(network, "geoms", [network])))
    blocks = []
    for face in faces.geoms:
        if face.area < 6000 or not outline.contains(face.representative_point()):
            continue
        inset = _largest(face.buffer(-7.0, quad_segs=2, join_style="mitre", mitre_limit=3.0))
        if inset is None or inset.area < 4000:
            continue
        inset = shapely.set_precision(inset.simplify(0.5), 0.01)
        if isinstance(inset, Polygon) and inset.is_valid:
            blocks.append(inset)
    blocks.sort(key=lambda b: (round(b.centroid.x), round(b.centroid.y)))
    return blocks


# --------------------------------------------------------------------------
# Projects
# --------------------------------------------------------------------------


@dataclass
class _Draft:
    """Geometry and texts of a project before status, dates and contact."""

    geometry: BaseGeometry
    title: str
    description: str
    cost: float | None


def _de(n: float) -> str:
    """A number as German text, rounded: 1234 -> '1.230'."""
    value = int(_round_sig(n, 2)) if n >= 100 else round(n)
    return f"{value:,}".replace(",", ".")


def _round_sig(x: float, digits: int) -> float:
    if x <= 0:
        return 0.0
    scale = 10 ** (math.floor(math.log10(x)) - digits + 1)
    return round(x / scale) * scale


def _month_start(m: int) -> date:
    return date(2025 + m // 12, m % 12 + 1, 1)


def _month_end(m: int) -> date:
    year, month = 2025 + m // 12, m % 12 + 1
    return date(year, month, calendar.monthrange(year, month)[1])


@dataclass
class _ProjectBuilder:
    rng: np.random.Generator
    outline: Polygon
    districts: Sequence[District]
    streets: Sequence[Street]
    streams: Sequence[Stream]
    blocks: Sequence[Polygon]
    projects: list[DemoProject] = field(default_factory=list)
    situations: list[Situation] = field(default_factory=list)
    phones: dict[tuple[str, str], str] = field(default_factory=dict)
    titles: set[str] = field(default_factory=set)
    plan_numbers: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in OFFICES:  # fixed order: insertion order of OFFICES
            self.phones[key] = f"{PHONE_PREFIX[key[0]]}{int(self.rng.integers(1000, 9999)):04d}"
        for city in CITIES:
            self.plan_numbers[city] = int(self.rng.integers(120, 480))
        self.street_tree = shapely.STRtree([s.geometry for s in self.streets])
        self.block_cities = [_city_at(self.districts, b) for b in self.blocks]

    # -- choosing places ---------------------------------------------------

    def city_at(self, geom: BaseGeometry) -> str:
        return _city_at(self.districts, geom)

    def district_name(self, geom: BaseGeometry) -> str:
        return _district_at(self.districts, geom).name

    def nearest_street(self, geom: BaseGeometry) -> Street:
        index = self.street_tree.query_nearest(geom)
        return self.streets[int(min(index))]

    def street(self, name: str, city: str | None = None) -> Street:
        found = [s for s in self.streets if s.name == name]
        if city:
            found = [s for s in found if self.city_at(s.geometry) == city] or found
        return max(found, key=lambda s: s.geometry.length)

    def street_piece(
        self,
        city: str | None,
        categories: Sequence[str],
        length: tuple[float, float],
        street: Street | None = None,
    ) -> tuple[Street, LineString]:
        """A section of a street (weighted by length) lying in the given city."""
        candidates = [
            s for s in self.streets if s.category in categories and s.geometry.length > 80
        ]
        weights = np.array([s.geometry.length for s in candidates])
        for _attempt in range(500):
            chosen = (
                street
                or candidates[int(self.rng.choice(len(candidates), p=weights / weights.sum()))]
            )
            line = chosen.geometry
            want = min(self.rng.uniform(*length), line.length)
            start = self.rng.uniform(0.0, line.length - want)
            piece = substring(line, start, start + want)
            if city is None or self.city_at(piece) == city:
                return chosen, piece
        raise RuntimeError(f"no street section in {city} among {categories}")

    def branch(self, street: Street, line: LineString) -> tuple[Street, LineString] | None:
        """A section of another street leaving ``line`` near one of its ends."""
        for end in (Point(line.coords[-1]), Point(line.coords[0])):
            near = self.street_tree.query(end.buffer(30.0), predicate="intersects")
            for i in sorted(int(i) for i in near):
                other = self.streets[i]
                if other.name == street.name or other.geometry.length < 150:
                    continue
                g = other.geometry
                d = g.project(end)
                want = min(self.rng.uniform(120, 300), g.length - 10)
                if d + 10 + want <= g.length:
                    return other, substring(g, d + 10, d + 10 + want)
                if d - 10 - want >= 0:
                    return other, substring(g, d - 10 - want, d - 10)
        return None

    def block(self, city: str | None, min_area: float = 4000.0) -> Polygon:
        for _attempt in range(500):
            i = int(self.rng.integers(len(self.blocks)))
            if (city is None or self.block_cities[i] == city) and self.blocks[i].area >= min_area:
                return self.blocks[i]
        raise RuntimeError(f"no block in {city}")

    def point_in(self, poly: Polygon, margin: float) -> Point:
        inner = poly.buffer(-margin)
        xmin, ymin, xmax, ymax = poly.bounds
        for _attempt in range(500):
            p = Point(self.rng.uniform(xmin, xmax), self.rng.uniform(ymin, ymax))
            if inner.contains(p):
                return p
        return poly.representative_point()

    def part_of_block(
        self, city: str | None, size: tuple[float, float], min_area: float
    ) -> Polygon:
        """A piece of a block, e.g. a park or a plan area, cut by a rotated rectangle."""
        for _attempt in range(500):
            blk = self.block(city, min_area)
            c = self.point_in(blk, 20)
            w, h = self.rng.uniform(*size), self.rng.uniform(*size)
            cut = _largest(blk.intersection(_plot(self.rng, c, w, h, _orientation(blk))))
            if cut is not None and cut.area >= min_area:
                return shapely.set_precision(cut, 0.01)
        raise RuntimeError("no block part found")

    def footprints(self, city: str | None, count: int) -> tuple[Polygon, ...]:
        """Building footprints in a row inside one block, aligned with it."""
        for _attempt in range(500):
            blk = self.block(city, 8000)
            angle = _orientation(blk)
            c = self.point_in(blk, 40)
            w, h = self.rng.uniform(18, 45), self.rng.uniform(25, 70)
            rad = math.radians(angle)
            step = w + self.rng.uniform(12, 25)
            rects = tuple(
                _rect(
                    c.x + (i - (count - 1) / 2) * step * math.cos(rad),
                    c.y + (i - (count - 1) / 2) * step * math.sin(rad),
                    w,
                    h,
                    angle,
                )
                for i in range(count)
            )
            inner = blk.buffer(-5)
            if all(inner.contains(r) for r in rects):
                return rects
        raise RuntimeError("no room for buildings")

    def stream_piece(self, name: str, city: str | None, length: tuple[float, float]) -> LineString:
        line = next(s.geometry for s in self.streams if s.name == name)
        for _attempt in range(500):
            want = min(self.rng.uniform(*length), line.length)
            start = self.rng.uniform(0.0, line.length - want)
            piece = substring(line, start, start + want)
            if city is None or self.city_at(piece) == city:
                return piece
        raise RuntimeError(f"no stretch of {name} in {city}")

    def beside_stream(self, city: str | None, distance: float) -> Point:
        """A point at ``distance`` from the main stream, on a random side."""
        piece = self.stream_piece(STREAM_NAME, city, (60, 60))
        a, b = piece.coords[0], piece.coords[-1]
        heading = math.atan2(b[1] - a[1], b[0] - a[0])
        side = 1 if self.rng.random() < 0.5 else -1
        mid = piece.interpolate(0.5, normalized=True)
        return Point(
            mid.x + side * distance * -math.sin(heading),
            mid.y + side * distance * math.cos(heading),
        )

    # -- measures ------------------------------------------------------------

    def draft(self, org: str, dept: str, measure: str, city: str | None) -> _Draft:
        """Geometry and texts fitting the measure, somewhere in ``city``."""
        rng = self.rng
        ba = f" {int(rng.integers(1, 4))}. BA" if rng.random() < 0.3 else ""

        def pick(*options: str) -> str:
            return options[int(rng.integers(len(options)))]

        if measure in ("road_renewal", "road_resurfacing"):
            cats = (
                ("main", "collector")
                if measure == "road_renewal"
                else ("main", "collector", "residential")
            )
            street, line = self.street_piece(city, cats, (150, 700))
            length = line.length
            if measure == "road_renewal":
                title = (
                    pick("Fahrbahnerneuerung ", "Grundhafter Ausbau ", "Erneuerung ")
                    + street.name
                    + ba
                )
                text = f"Grundhafte Erneuerung von Fahrbahn und Gehwegen auf rund {_de(length)} m."
                return _Draft(line, title, text, length * rng.uniform(450, 900))
            title = pick("Deckensanierung ", "Erneuerung der Asphaltdecke ") + street.name + ba
            text = (
                f"Erneuerung der Deckschicht auf rund {_de(length)} m ohne Eingriff in den "
                "Unterbau."
            )
            return _Draft(line, title, text, length * rng.uniform(120, 250))
        if measure == "street_redesign":
            street, line = self.street_piece(city, ("collector", "residential"), (120, 450))
            title = pick("Umgestaltung ", "Verkehrsberuhigung ", "Straßenumbau ") + street.name
            text = (
                "Umbau des Straßenraums mit breiteren Gehwegen, Radverkehrsanlagen "
                f"und Baumstandorten auf rund {_de(line.length)} m."
            )
            return _Draft(line, title, text, line.length * rng.uniform(800, 1500))
        if measure == "sewer_rehabilitation":
            street, line = self.street_piece(city, ("main", "collector", "residential"), (120, 600))
            geom: BaseGeometry = line
            if rng.random() < 0.3 and street.geometry.length > 500:
                _, other = self.street_piece(None, (), (120, 250), street=street)
                if other.distance(line) > 30:
                    geom = MultiLineString([line, other])
                    ba = " 1. und 2. BA"
            dn = pick("300", "400", "500", "600", "800")
            how = pick("in geschlossener Bauweise (Inliner)", "in offener Bauweise")
            title = pick("Kanalsanierung ", "Sanierung Mischwasserkanal ") + street.name + ba
            text = f"Sanierung des Mischwasserkanals DN {dn} auf rund {_de(geom.length)} m {how}."
            return _Draft(geom, title, text, geom.length * rng.uniform(350, 900))
        if measure == "sewer_construction":
            if org == "eglv" and dept == "water_management":
                line = self.stream_piece(STREAM_NAME, city, (400, 900)).simplify(8.0)
                line = _offset(line, 18.0 * (1 if rng.random() < 0.5 else -1))
                dn = pick("1200", "1400", "1600", "2000")
                title = f"Abwasserkanal {STREAM_NAME}, Los {int(rng.integers(1, 6))}"
                text = (
                    f"Neubau eines Abwasserkanals DN {dn} parallel zum {STREAM_NAME} auf rund "
                    f"{_de(line.length)} m."
                )
                return _Draft(line, title, text, line.length * rng.uniform(3500, 7000))
            street, line = self.street_piece(city, ("main", "collector", "residential"), (150, 600))
            dn = pick("400", "500", "600", "800", "1000")
            title = pick("Kanalneubau ", "Neubau Regenwasserkanal ") + street.name + ba
            text = (
                f"Neubau eines Regenwasserkanals DN {dn} auf rund {_de(line.length)} m zur "
                "Entlastung des Mischsystems."
            )
            return _Draft(line, title, text, line.length * rng.uniform(1500, 3000))
        if measure == "utility_line":
            street, line = self.street_piece(city, ("main", "collector", "residential"), (150, 800))
            geom = _offset(line, 4.0 * (1 if rng.random() < 0.5 else -1))
            kind = pick("Trinkwasserleitung", "Gasleitung", "Versorgungsleitungen")
            branch = self.branch(street, line) if rng.random() < 0.3 else None
            if branch is not None:
                other_street, other = branch
                geom = MultiLineString([geom, other])
                title = f"Erneuerung {kind} {street.name} und {other_street.name}"
                text = f"Erneuerung der {kind} auf rund {_de(geom.length)} m in zwei Straßen."
                return _Draft(geom, title, text, geom.length * rng.uniform(250, 600))
            verb = pick("Erneuerung", "Neuverlegung")
            title = f"{verb} {kind} {street.name}{ba}"
            text = f"{verb} der {kind} auf rund {_de(geom.length)} m einschließlich Hausanschlüsse."
            return _Draft(geom, title, text, geom.length * rng.uniform(250, 600))
        if measure == "swale_trench":
            street, line = self.street_piece(city, ("collector", "residential"), (100, 400))
            geom = _offset(line, 6.0 * (1 if rng.random() < 0.5 else -1))
            title = (
                pick("Mulden-Rigolen-System ", "Straßenbegleitende Mulde ", "Baumrigolen ")
                + street.name
            )
            text = (
                "Versickerung des Straßenabflusses in Mulden und Rigolen auf rund "
                f"{_de(geom.length)} m."
            )
            return _Draft(geom, title, text, geom.length * rng.uniform(150, 400))
        if measure == "tree_planting":
            street, line = self.street_piece(city, ("main", "collector", "residential"), (100, 450))
            side = _offset(line, 5.0 * (1 if rng.random() < 0.5 else -1))
            trees = _points_along(side, rng.uniform(10, 16))
            n = len(trees.geoms)
            geom = trees if rng.random() < 0.5 else side
            title = pick("Baumpflanzungen ", "Straßenbäume ", "Neupflanzung Allee ") + street.name
            text = f"Pflanzung von {n} klimaresilienten Straßenbäumen mit Baumrigolen."
            return _Draft(geom, title, text, n * rng.uniform(2500, 4000))
        if measure == "stream_restoration":
            name = STREAM_NAME if rng.random() < 0.7 else SIDE_STREAM_NAME
            line = self.stream_piece(name, city, (300, 1100))
            title = pick(f"Ökologische Verbesserung {name}", f"Naturnaher Umbau {name}") + (
                f", Abschnitt {int(rng.integers(1, 7))}"
            )
            text = (
                f"Naturnaher Umbau am {name} auf rund {_de(line.length)} m mit Aufweitung des "
                "Gewässerprofils."
            )
            return _Draft(line, title, text, line.length * rng.uniform(800, 2000))
        if measure == "stormwater_basin":
            if org == "eglv" or rng.random() < 0.3:
                c = self.beside_stream(city, rng.uniform(45, 70))
                poly = _blob(rng, c.x, c.y, rng.uniform(22, 35), rng.uniform(15, 22))
            else:
                blk = self.block(city, 15000)
                c = self.point_in(blk, 45)
                poly = _blob(rng, c.x, c.y, rng.uniform(20, 32), rng.uniform(14, 20))
            poly = shapely.set_precision(poly, 0.01)
            volume = poly.area * rng.uniform(1.5, 2.5)
            title = f"Regenrückhaltebecken {self.district_name(poly)}" + (
                f" {pick('Nord', 'Süd', 'Ost', 'West')}" if rng.random() < 0.5 else ""
            )
            text = (
                f"Regenrückhaltebecken mit rund {_de(volume)} m³ Speichervolumen zur Drosselung "
                "von Starkregenabflüssen."
            )
            return _Draft(poly, title, text, poly.area * rng.uniform(150, 400))
        if measure == "disconnection":
            first = self.part_of_block(city, (120, 260), 5000)
            geom = first
            if rng.random() < 0.3:
                second = self.part_of_block(city, (100, 200), 4000)
                if second.distance(first) > 5:
                    geom = MultiPolygon([first, second])
            street = self.nearest_street(first)
            prefix = "Klima.Werk: " if org == "eglv" else ""
            title = (
                prefix
                + pick(
                    "Abkopplung Wohnquartier ",
                    "Dachflächenabkopplung Block ",
                    "Abkopplung Schulhof ",
                )
                + street.name
            )
            text = (
                f"Abkopplung versiegelter Dach- und Hofflächen von rund {_de(geom.area * 0.55)} m² "
                "vom Mischwasserkanal."
            )
            return _Draft(geom, title, text, geom.area * rng.uniform(8, 20))
        if measure == "green_space":
            poly = self.part_of_block(city, (70, 200), 3000)
            district = self.district_name(poly)
            street = self.nearest_street(poly)
            title = pick(
                f"Quartierspark {district}",
                f"Grünanlage {street.name}",
                f"Pocket-Park {street.name}",
            )
            text = (
                f"Neuanlage einer öffentlichen Grünfläche von rund {_de(poly.area)} m² mit Spiel- "
                "und Aufenthaltsbereichen."
            )
            return _Draft(poly, title, text, poly.area * rng.uniform(80, 200))
        if measure in ("green_roof", "building"):
            count = int(rng.integers(2, 5)) if measure == "green_roof" and rng.random() < 0.4 else 1
            rects = self.footprints(city, count)
            geom = MultiPolygon(rects) if count > 1 else rects[0]
            geom = shapely.set_precision(geom, 0.01)
            district = self.district_name(geom)
            street = self.nearest_street(geom)
            what = pick(
                "Grundschule",
                "Kita",
                "Feuerwache",
                "Sporthalle",
                "Gesamtschule",
                "Wohnanlage",
                "Bürgerzentrum",
            )
            if measure == "building":
                floors = int(rng.integers(2, 5))
                title = pick("Neubau ", "Erweiterung ") + f"{what} {pick(district, street.name)}"
                text = f"Hochbau mit rund {_de(geom.area)} m² Grundfläche in {floors} Geschossen."
                return _Draft(geom, title, text, geom.area * floors * rng.uniform(2200, 3500))
            if count > 1:
                title = f"Dachbegrünung Wohnanlage {street.name}"
            else:
                title = f"Dachbegrünung {what} {pick(district, street.name)}"
            text = f"Extensive Dachbegrünung auf rund {_de(geom.area)} m² Dachfläche."
            return _Draft(geom, title, text, geom.area * rng.uniform(60, 120))
        if measure == "development_plan":
            poly = self.part_of_block(city, (160, 340), 12000)
            return self.plan_draft(poly, city or self.city_at(poly))
        if measure == "heat_action":
            if rng.random() < 0.2:
                street, line = self.street_piece(city, ("main", "collector"), (50, 50))
                p = _offset(line, 8.0).interpolate(0.5, normalized=True)
                title = f"Trinkbrunnen {street.name}"
                text = (
                    "Aufstellung eines öffentlichen Trinkbrunnens als Teil des Hitzeaktionsplans."
                )
                return _Draft(
                    Point(round(p.x, 2), round(p.y, 2)), title, text, rng.uniform(30000, 70000)
                )
            poly = self.part_of_block(city, (50, 120), 2500)
            district = self.district_name(poly)
            title = pick(
                f"Entsiegelung Schulhof {district}",
                f"Hitzeschutz Quartiersplatz {district}",
                f"Kühle Orte {district}",
            )
            text = (
                f"Entsiegelung und Verschattung von rund {_de(poly.area)} m² zur Minderung der "
                "Hitzebelastung."
            )
            return _Draft(poly, title, text, poly.area * rng.uniform(100, 300))
        raise ValueError(f"the demo town has no geometry for measure type '{measure}'")

    def plan_draft(self, poly: Polygon, city: str, name: str | None = None) -> _Draft:
        """A development plan: running plan number per city, named after its place."""
        self.plan_numbers[city] += int(self.rng.integers(1, 9))
        street, district = self.nearest_street(poly).name, self.district_name(poly)
        patterns = (
            f"Quartier {street}",
            f"{district}-Mitte",
            f"Ehemalige Zeche {district}",
            f"Gewerbegebiet {street}",
            f"Wohnpark {district}",
        )
        name = name or patterns[int(self.rng.integers(len(patterns)))]
        title = f"Bebauungsplan Nr. {self.plan_numbers[city]} „{name}“"
        hectares = f"{poly.area / 10000:.1f}".replace(".", ",")
        text = f"Aufstellung eines Bebauungsplans für ein Plangebiet von rund {hectares} ha."
        return _Draft(poly, title, text, None)

    # -- dates and the final project --------------------------------------

    def window(self, status: str, measure: str) -> tuple[int, int | None]:
        lo, hi = DURATION[measure]
        duration = int(self.rng.integers(lo, hi + 1))
        first, last = STATUS_START[status]
        start = int(self.rng.integers(first, last + 1))
        if status == "done":
            duration = min(duration, 14 - start)
        if status == "under_construction":
            duration = max(duration, 16 - start)
        end = min(start + max(duration, 1) - 1, LAST_MONTH)
        return start, end

    def add(
        self,
        org: str,
        dept: str,
        measure: str,
        draft: _Draft,
        status: str,
        start: int,
        end: int | None,
    ) -> int:
        """Append a project; returns its index."""
        title = draft.title
        n = 2
        while title in self.titles:
            if draft.geometry.geom_type.endswith("Polygon"):
                title = f"{draft.title} {'I' * n if n < 4 else 'IV'}"
            else:
                title = f"{draft.title} ({n}. Abschnitt)"
            n += 1
        self.titles.add(title)
        office = OFFICES[(org, dept)]
        cost = None if draft.cost is None else int(_round_sig(draft.cost, 2))
        if status == "idea" and cost is not None and self.rng.random() < 0.5:
            cost = None
        self.projects.append(
            DemoProject(
                title=title,
                description=draft.description,
                organisation=org,
                department=dept,
                measure_type=measure,
                status=status,
                start=_month_start(start),
                end=_month_end(end) if end is not None else None,
                contact=f"{office}, Tel. {self.phones[(org, dept)]}",
                cost_eur=cost,
                geometry=draft.geometry,
            )
        )
        return len(self.projects) - 1

    def random_project(self, org: str, dept: str, measure: str) -> int:
        city = org if org in CITIES else None
        draft = self.draft(org, dept, measure, city)
        statuses = list(STATUS_WEIGHTS)
        p = np.array([STATUS_WEIGHTS[s] for s in statuses])
        status = statuses[int(self.rng.choice(len(statuses), p=p / p.sum()))]
        start, end = self.window(status, measure)
        open_ended = status in ("idea", "planning") and measure in OPEN_ENDED
        if open_ended and self.rng.random() < 0.35:
            end = None
        return self.add(org, dept, measure, draft, status, start, end)

    def cover_vocabulary(self, vocabulary: Vocabulary) -> None:
        """One project for every department and measure type of each organisation."""
        for org in ORGANISATIONS:
            for dept in vocabulary.organisations[org].departments:
                if (org, dept) not in OFFICES:
                    raise ValueError(f"no office known for {org}/{dept}")
                for measure in vocabulary.departments[dept].measure_types:
                    self.random_project(org, dept, measure)

    def fill(self, total: int) -> None:
        """Draw further projects with typical frequencies until ``total``."""
        combos = [
            (org, dept, measure)
            for org in ORGANISATIONS
            for (dept, measure) in MEASURE_WEIGHTS
            if (org, dept) in OFFICES
        ]
        weights = np.array(
            [MEASURE_WEIGHTS[(d, m)] * (2.0 if o in CITIES else 1.0) for o, d, m in combos]
        )
        while len(self.projects) < total:
            org, dept, measure = combos[
                int(self.rng.choice(len(combos), p=weights / weights.sum()))
            ]
            self.random_project(org, dept, measure)

    # -- planted coordination situations -------------------------------

    def situation(self, label: str, first: int, second: int) -> None:
        self.situations.append(Situation(label, first, second))

    def plant_situations(self) -> None:
        """Place the cases a demo should show: same street, same time, different owners."""
        rng = self.rng
        m = _months

        # 1. Road renewal, sewer rehabilitation and trees on the Bahnhofstraße.
        bahnhof = self.street("Bahnhofstraße", "herne")
        _, road = self.street_piece("herne", (), (550, 650), street=bahnhof)
        d0 = bahnhof.geometry.project(Point(road.coords[0]))
        sewer = substring(
            bahnhof.geometry, max(d0 - 60, 0), min(d0 + road.length + 140, bahnhof.geometry.length)
        )
        trees = _points_along(_offset(road, 5.5), 12.0)
        a = self.add(
            "herne",
            "roads",
            "road_renewal",
            _Draft(
                road,
                "Fahrbahnerneuerung Bahnhofstraße 1. BA",
                "Grundhafte Erneuerung von Fahrbahn, Radwegen und Gehwegen auf rund "
                f"{_de(road.length)} m.",
                road.length * 820,
            ),
            "approved",
            *m("2027-04", "2028-03"),
        )
        b = self.add(
            "herne",
            "drainage",
            "sewer_rehabilitation",
            _Draft(
                sewer,
                "Kanalsanierung Bahnhofstraße",
                "Erneuerung des Mischwasserkanals DN 600 in offener Bauweise auf rund "
                f"{_de(sewer.length)} m.",
                sewer.length * 950,
            ),
            "planning",
            *m("2028-01", "2028-09"),
        )
        c = self.add(
            "herne",
            "green",
            "tree_planting",
            _Draft(
                trees,
                "Baumpflanzungen Bahnhofstraße",
                f"Pflanzung von {len(trees.geoms)} Straßenbäumen mit Baumrigolen nach der "
                "Fahrbahnerneuerung.",
                len(trees.geoms) * 3200,
            ),
            "planning",
            *m("2028-10", "2028-11"),
        )
        self.situation(
            "Fahrbahnerneuerung und Kanalsanierung in derselben Straße, Zeitfenster überschneiden "
            "sich: gemeinsam bauen",
            a,
            b,
        )
        self.situation(
            "Baumpflanzung entlang einer Straße im Umbau: Baumstandorte in die Ausbauplanung", a, c
        )
        self.situation(
            "Neue Bäume über dem Kanalgraben: Wurzelschutz und Leitungsabstand klären", b, c
        )

        # 2. Utility line right after a resurfacing (moratorium).
        herner = self.street("Herner Straße", "bochum")
        _, surface = self.street_piece("bochum", (), (400, 500), street=herner)
        pipe = _offset(substring(surface, 60, surface.length), 3.5)
        a = self.add(
            "bochum",
            "roads",
            "road_resurfacing",
            _Draft(
                surface,
                "Deckensanierung Herner Straße",
                f"Erneuerung der Asphaltdeckschicht auf rund {_de(surface.length)} m.",
                surface.length * 210,
            ),
            "done",
            *m("2025-05", "2025-08"),
        )
        b = self.add(
            "gelsenwasser",
            "utility_network",
            "utility_line",
            _Draft(
                pipe,
                "Erneuerung Trinkwasserleitung Herner Straße",
                f"Erneuerung der Trinkwasserleitung DN 200 auf rund {_de(pipe.length)} m im Gehweg "
                "und in der Fahrbahn.",
                pipe.length * 480,
            ),
            "planning",
            *m("2026-09", "2027-02"),
        )
        self.situation("Leitungsbau in einer 2025 frisch sanierten Fahrbahn: Aufbruchsperre", a, b)

        # 3. Development plan in the low valley of the brook, beside restoration and a basin.
        reach = self.stream_piece(STREAM_NAME, "bochum", (700, 800))
        mid = reach.interpolate(0.5, normalized=True)
        heading = math.degrees(
            math.atan2(
                reach.coords[-1][1] - reach.coords[0][1], reach.coords[-1][0] - reach.coords[0][0]
            )
        )
        plan = _rect(mid.x, mid.y, 240, 220, heading)
        plan = shapely.set_precision(affinity.translate(plan, *_sideways(heading, 70)), 0.01)
        basin_c = Point(*np.add(mid.coords[0], _sideways(heading, -60)))
        basin = shapely.set_precision(_blob(rng, basin_c.x, basin_c.y, 32, 20), 0.01)
        a = self.add(
            "bochum",
            "planning",
            "development_plan",
            self.plan_draft(plan, "bochum", f"Wohnen am {STREAM_NAME}"),
            "planning",
            *m("2026-06", "2028-12"),
        )
        b = self.add(
            "eglv",
            "water_management",
            "stream_restoration",
            _Draft(
                reach,
                f"Ökologische Verbesserung {STREAM_NAME}, Abschnitt 2",
                f"Naturnaher Umbau am {STREAM_NAME} auf rund {_de(reach.length)} m mit "
                "Sekundäraue.",
                reach.length * 1400,
            ),
            "approved",
            *m("2027-03", "2029-06"),
        )
        c = self.add(
            "eglv",
            "water_management",
            "stormwater_basin",
            _Draft(
                basin,
                f"Regenrückhaltebecken {STREAM_NAME} Süd",
                f"Regenrückhaltebecken mit rund {_de(basin.area * 2)} m³ in der Talaue.",
                basin.area * 350,
            ),
            "planning",
            *m("2028-04", "2029-09"),
        )
        self.situation(
            "Bebauungsplan in der Niederung am Bach, der renaturiert wird: Überflutungsraum "
            "freihalten",
            a,
            b,
        )
        self.situation(
            "Bebauungsplan neben geplantem Regenrückhaltebecken: Flächen abstimmen", a, c
        )

        # 4. Swale and road renewal on the same Bochum street.
        street, road = self.street_piece("bochum", ("collector",), (350, 450))
        swale = _offset(substring(road, 40, road.length - 40), 6.0)
        a = self.add(
            "bochum",
            "roads",
            "road_renewal",
            _Draft(
                road,
                f"Fahrbahnerneuerung {street.name}",
                f"Grundhafte Erneuerung der Fahrbahn auf rund {_de(road.length)} m.",
                road.length * 700,
            ),
            "planning",
            *m("2029-03", "2029-12"),
        )
        b = self.add(
            "bochum",
            "drainage",
            "swale_trench",
            _Draft(
                swale,
                f"Mulden-Rigolen-System {street.name}",
                f"Straßenbegleitende Mulden-Rigolen auf rund {_de(swale.length)} m zur Abkopplung "
                "der Fahrbahn.",
                swale.length * 320,
            ),
            "idea",
            *m("2029-06", "2029-11"),
        )
        self.situation(
            "Mulde und Fahrbahnerneuerung in derselben Straße: Straßenquerschnitt gemeinsam planen",
            a,
            b,
        )

        # 5. Water-board sewer after a Herne resurfacing.
        emscherweg = self.street("Emscherweg")
        _, surface = self.street_piece("herne", (), (300, 400), street=emscherweg)
        trunk = substring(emscherweg.geometry, 0, emscherweg.geometry.length * 0.8)
        a = self.add(
            "herne",
            "roads",
            "road_resurfacing",
            _Draft(
                surface,
                "Deckensanierung Emscherweg",
                f"Erneuerung der Deckschicht auf rund {_de(surface.length)} m.",
                surface.length * 180,
            ),
            "approved",
            *m("2026-07", "2026-09"),
        )
        b = self.add(
            "eglv",
            "drainage",
            "sewer_construction",
            _Draft(
                trunk,
                "Kanalneubau Emscherweg 2. BA",
                f"Neubau eines Abwasserkanals DN 1400 auf rund {_de(trunk.length)} m in offener "
                "Bauweise.",
                trunk.length * 5200,
            ),
            "planning",
            *m("2027-05", "2028-08"),
        )
        self.situation(
            "Kanalneubau der Emschergenossenschaft unter frisch sanierter Decke der Stadt Herne",
            a,
            b,
        )

        # 6. Herne street redesign and Gelsenwasser gas main.
        street, road = self.street_piece("herne", ("residential",), (250, 350))
        gas = _offset(road, -3.0)
        a = self.add(
            "herne",
            "roads",
            "street_redesign",
            _Draft(
                road,
                f"Umgestaltung {street.name} zur Fahrradstraße",
                f"Umbau zur Fahrradstraße mit Baumbeeten auf rund {_de(road.length)} m.",
                road.length * 1100,
            ),
            "planning",
            *m("2027-09", "2028-06"),
        )
        b = self.add(
            "gelsenwasser",
            "utility_network",
            "utility_line",
            _Draft(
                gas,
                f"Neuverlegung Gasleitung {street.name}",
                f"Neuverlegung der Gasleitung auf rund {_de(gas.length)} m vor dem Straßenumbau.",
                gas.length * 420,
            ),
            "approved",
            *m("2027-04", "2027-08"),
        )
        self.situation(
            "Gasleitung kurz vor dem Straßenumbau: Leitung zuerst, dann Oberfläche", a, b
        )

        # 7. Disconnection of a Bochum block and a swale in the street beside it.
        blk = self.part_of_block("bochum", (180, 240), 15000)
        street = self.nearest_street(blk)
        d = street.geometry.project(blk.centroid)
        side = substring(street.geometry, max(d - 120, 0), min(d + 120, street.geometry.length))
        offset = (
            6.0 if _offset(side, 6.0).distance(blk) < _offset(side, -6.0).distance(blk) else -6.0
        )
        swale = _offset(side, offset)
        a = self.add(
            "bochum",
            "environment",
            "disconnection",
            _Draft(
                blk,
                f"Abkopplung Wohnquartier {street.name}",
                f"Abkopplung von rund {_de(blk.area * 0.5)} m² Dach- und Hofflächen vom "
                "Mischwasserkanal.",
                blk.area * 14,
            ),
            "planning",
            *m("2027-01", "2028-12"),
        )
        b = self.add(
            "bochum",
            "drainage",
            "swale_trench",
            _Draft(
                swale,
                f"Straßenbegleitende Mulde {street.name}",
                f"Mulde auf rund {_de(swale.length)} m, die das abgekoppelte Dachwasser aufnimmt.",
                swale.length * 280,
            ),
            "planning",
            *m("2028-03", "2028-10"),
        )
        self.situation(
            "Abkopplung im Block und Mulde in der Straße daneben: Dachwasser in die Mulde leiten",
            a,
            b,
        )

        # 8. New Herne school and its green roof.
        (school,) = self.footprints("herne", 1)
        school = shapely.set_precision(school, 0.01)
        roof = shapely.set_precision(school.buffer(-1.0, join_style="mitre"), 0.01)
        district = self.district_name(school)
        a = self.add(
            "herne",
            "planning",
            "building",
            _Draft(
                school,
                f"Neubau Grundschule {district}",
                f"Neubau einer dreizügigen Grundschule mit rund {_de(school.area)} m² Grundfläche.",
                school.area * 3 * 3100,
            ),
            "approved",
            *m("2026-10", "2028-09"),
        )
        b = self.add(
            "herne",
            "environment",
            "green_roof",
            _Draft(
                roof,
                f"Dachbegrünung Grundschule {district}",
                f"Extensive Dachbegrünung auf rund {_de(roof.area)} m² mit Retentionsschicht.",
                roof.area * 95,
            ),
            "planning",
            *m("2028-04", "2028-09"),
        )
        self.situation("Gründach auf dem Schulneubau: Statik und Förderung gemeinsam klären", a, b)

        # 9. Bochum market square: heat action, trees and the street beside it.
        street, line = self.street_piece("bochum", ("main",), (120, 140))
        square = line.buffer(-32.0, single_sided=True, quad_segs=2)
        inner = square.buffer(-6)
        if not self.outline.contains(square):
            square = line.buffer(32.0, single_sided=True, quad_segs=2)
            inner = square.buffer(-6)
        square = shapely.set_precision(
            _largest(square.difference(line.buffer(7.0, cap_style="flat"))), 0.01
        )
        grid = [
            Point(x, y)
            for x in np.arange(square.bounds[0], square.bounds[2], 14.0)
            for y in np.arange(square.bounds[1], square.bounds[3], 14.0)
        ]
        plantings = MultiPoint(
            [p for p in grid if inner.contains(p) and square.contains(p.buffer(4))][:14]
        )
        district = self.district_name(square)
        road = substring(
            street.geometry,
            max(street.geometry.project(Point(line.coords[0])) - 80, 0),
            min(street.geometry.project(Point(line.coords[-1])) + 80, street.geometry.length),
        )
        a = self.add(
            "bochum",
            "environment",
            "heat_action",
            _Draft(
                square,
                f"Hitzeschutz Marktplatz {district}",
                f"Entsiegelung und Verschattung von rund {_de(square.area)} m² Platzfläche mit "
                "Wasserspiel.",
                square.area * 240,
            ),
            "planning",
            *m("2027-04", "2027-10"),
        )
        b = self.add(
            "bochum",
            "green",
            "tree_planting",
            _Draft(
                plantings,
                f"Baumpflanzungen Marktplatz {district}",
                f"Pflanzung von {len(plantings.geoms)} großkronigen Bäumen als Schattenspender.",
                len(plantings.geoms) * 3800,
            ),
            "planning",
            *m("2027-09", "2027-11"),
        )
        c = self.add(
            "bochum",
            "roads",
            "street_redesign",
            _Draft(
                road,
                f"Umgestaltung {street.name} am Marktplatz",
                f"Umbau des Straßenraums am Marktplatz auf rund {_de(road.length)} m.",
                road.length * 1300,
            ),
            "idea",
            *m("2028-03", "2029-02"),
        )
        self.situation("Hitzeschutz und Baumpflanzung auf demselben Platz: eine Planung", a, b)
        self.situation(
            "Platzumbau und Straßenumbau nebeneinander: Übergänge und Bauzeit abstimmen", a, c
        )

        # 10. Herne basin, park and the water board's restoration in one place.
        reach = self.stream_piece(STREAM_NAME, "herne", (600, 700))
        mid = reach.interpolate(0.5, normalized=True)
        heading = math.degrees(
            math.atan2(
                reach.coords[-1][1] - reach.coords[0][1], reach.coords[-1][0] - reach.coords[0][0]
            )
        )
        centre = Point(*np.add(mid.coords[0], _sideways(heading, 75)))
        basin = shapely.set_precision(_blob(rng, centre.x, centre.y, 30, 18), 0.01)
        park = _rect(mid.x, mid.y, 260, 150, heading)
        park = shapely.set_precision(affinity.translate(park, *_sideways(heading, 80)), 0.01)
        district = self.district_name(basin)
        a = self.add(
            "herne",
            "drainage",
            "stormwater_basin",
            _Draft(
                basin,
                f"Regenrückhaltebecken {district}",
                f"Regenrückhaltebecken mit rund {_de(basin.area * 2)} m³ als multifunktionale "
                "Fläche.",
                basin.area * 300,
            ),
            "planning",
            *m("2028-01", "2029-03"),
        )
        b = self.add(
            "herne",
            "green",
            "green_space",
            _Draft(
                park,
                f"Grünanlage am {STREAM_NAME}",
                f"Neue Parkfläche von rund {_de(park.area)} m² an der renaturierten Aue.",
                park.area * 90,
            ),
            "idea",
            m("2029-01", "2029-01")[0],
            None,
        )
        c = self.add(
            "eglv",
            "water_management",
            "stream_restoration",
            _Draft(
                reach,
                f"Ökologische Verbesserung {STREAM_NAME}, Abschnitt 4",
                f"Naturnaher Umbau am {STREAM_NAME} auf rund {_de(reach.length)} m mit Aufweitung "
                "des Profils.",
                reach.length * 1500,
            ),
            "planning",
            *m("2028-06", "2030-12"),
        )
        self.situation(
            "Regenrückhaltebecken in der geplanten Grünanlage: multifunktional gestalten", a, b
        )
        self.situation("Grünanlage der Stadt an der Renaturierung der Emschergenossenschaft", b, c)

        # 11. Bochum sewer rehabilitation in two sections and Gelsenwasser's lines.
        street, stretch = self.street_piece("bochum", ("collector",), (520, 520))
        first = substring(stretch, 0, 0.45 * stretch.length)
        second = substring(stretch, 0.6 * stretch.length, stretch.length)
        sections = MultiLineString([first, second])
        lines = _offset(first, 3.0)
        a = self.add(
            "bochum",
            "drainage",
            "sewer_rehabilitation",
            _Draft(
                sections,
                f"Kanalsanierung {street.name} 1. und 2. BA",
                f"Inliner-Sanierung des Mischwasserkanals DN 400 auf rund {_de(sections.length)} "
                "m.",
                sections.length * 520,
            ),
            "approved",
            *m("2026-04", "2027-03"),
        )
        b = self.add(
            "gelsenwasser",
            "utility_network",
            "utility_line",
            _Draft(
                lines,
                f"Erneuerung Versorgungsleitungen {street.name}",
                f"Erneuerung von Wasser- und Gasleitung auf rund {_de(lines.length)} m.",
                lines.length * 520,
            ),
            "planning",
            *m("2026-10", "2027-06"),
        )
        self.situation(
            "Kanalsanierung und Versorgungsleitungen in derselben Straße: Baugruben teilen", a, b
        )

        # 12. Daylighting of the side brook and a green corridor along it.
        brook = self.stream_piece(SIDE_STREAM_NAME, None, (500, 600))
        city = self.city_at(brook)
        corridor = shapely.set_precision(brook.buffer(25.0, quad_segs=2).simplify(1.0), 0.01)
        a = self.add(
            "eglv",
            "water_management",
            "stream_restoration",
            _Draft(
                brook,
                f"Offenlegung {SIDE_STREAM_NAME}",
                f"Offenlegung und naturnahe Gestaltung des verrohrten {SIDE_STREAM_NAME}s auf rund "
                f"{_de(brook.length)} m.",
                brook.length * 1800,
            ),
            "approved",
            *m("2027-10", "2029-09"),
        )
        b = self.add(
            city,
            "green",
            "green_space",
            _Draft(
                corridor,
                f"Grünzug {SIDE_STREAM_NAME}",
                "Grünzug mit Fuß- und Radweg entlang des offengelegten Bachs auf rund "
                f"{_de(corridor.area)} m².",
                corridor.area * 60,
            ),
            "planning",
            *m("2029-04", "2030-06"),
        )
        self.situation("Grünzug der Stadt am offengelegten Bach der Emschergenossenschaft", a, b)


def _months(start: str, end: str) -> tuple[int, int]:
    """('2027-04', '2028-03') as month numbers counted from January 2025."""

    def number(text: str) -> int:
        year, month = (int(p) for p in text.split("-"))
        return (year - 2025) * 12 + month - 1

    return number(start), number(end)


def _sideways(heading_deg: float, distance: float) -> tuple[float, float]:
    """Offset to the left of a heading (negative distance: to the right)."""
    rad = math.radians(heading_deg)
    return -distance * math.sin(rad), distance * math.cos(rad)


# --------------------------------------------------------------------------
# Writing GeoJSON
# --------------------------------------------------------------------------


@cache
def _to_lonlat() -> Transformer:
    return Transformer.from_crs(STORAGE_CRS, "EPSG:4326", always_xy=True)


def _wgs84(geom: BaseGeometry, max_vertices: int = MAX_VERTICES) -> BaseGeometry:
    """Round to 1 cm in metres, reproject, round to 7 decimals; check the result."""
    projected = shapely.set_precision(geom, 0.01)
    transformer = _to_lonlat()

    def to_degrees(coords: np.ndarray) -> np.ndarray:
        lon, lat = transformer.transform(coords[:, 0], coords[:, 1])
        return np.round(np.column_stack([lon, lat]), 7)

    out = shapely.transform(projected, to_degrees)
    problems = []
    if out.is_empty or not out.is_valid:
        problems.append("invalid or empty")
    if out.geom_type != geom.geom_type:
        problems.append(f"type changed from {geom.geom_type} to {out.geom_type}")
    if shapely.get_num_coordinates(out) > max_vertices:
        problems.append(f"{shapely.get_num_coordinates(out)} vertices")
    if problems:
        raise ValueError(f"demo geometry cannot be written: {', '.join(problems)}")
    return out


def _geojson_geometry(geom: BaseGeometry) -> dict[str, Any]:
    def ring(coords: Any) -> list[list[float]]:
        return [[float(x), float(y)] for x, y in coords]

    if isinstance(geom, Point):
        return {"type": "Point", "coordinates": [float(geom.x), float(geom.y)]}
    if isinstance(geom, LineString):
        return {"type": "LineString", "coordinates": ring(geom.coords)}
    if isinstance(geom, Polygon):
        return {"type": "Polygon", "coordinates": _polygon_rings(geom, ring)}
    if isinstance(geom, MultiPoint):
        return {"type": "MultiPoint", "coordinates": [[float(p.x), float(p.y)] for p in geom.geoms]}
    if isinstance(geom, MultiLineString):
        return {"type": "MultiLineString", "coordinates": [ring(g.coords) for g in geom.geoms]}
    if isinstance(geom, MultiPolygon):
        return {
            "type": "MultiPolygon",
            "coordinates": [_polygon_rings(g, ring) for g in geom.geoms],
        }
    raise TypeError(f"unsupported geometry {geom.geom_type}")


def _polygon_rings(
    poly: Polygon, ring: Callable[[Any], list[list[float]]]
) -> list[list[list[float]]]:
    """Rings with RFC 7946 winding: exterior counter-clockwise, holes clockwise."""
    oriented = shapely.geometry.polygon.orient(poly, sign=1.0)
    return [ring(oriented.exterior.coords)] + [ring(r.coords) for r in oriented.interiors]


def feature(
    geom: BaseGeometry, properties: dict[str, Any], max_vertices: int = MAX_VERTICES
) -> dict[str, Any]:
    """A GeoJSON feature in lon/lat from a geometry in EPSG:25832."""
    return {
        "type": "Feature",
        "geometry": _geojson_geometry(_wgs84(geom, max_vertices)),
        "properties": properties,
    }


def collection_text(features: Sequence[dict[str, Any]]) -> str:
    """A FeatureCollection with one feature per line, for readable diffs."""
    body = ",\n".join(json.dumps(f, ensure_ascii=False) for f in features)
    return '{"type": "FeatureCollection", "features": [\n' + body + "\n]}\n"


def town_features(town: Town) -> dict[str, list[dict[str, Any]]]:
    """The GeoJSON features of each output file, in their stable order."""
    return {
        "districts.geojson": [
            feature(d.geometry, {"name": d.name, "city": d.city}) for d in town.districts
        ],
        "streets.geojson": [
            feature(s.geometry, {"name": s.name, "category": s.category}) for s in town.streets
        ],
        "streams.geojson": [
            feature(s.geometry, {"name": s.name, "category": "stream"}) for s in town.streams
        ],
        "projects.geojson": [feature(p.geometry, p.properties()) for p in town.projects],
    }


def write_town(folder: Path, seed: int = DEFAULT_SEED) -> dict[str, int]:
    """Generate the town and its thematic layers and write them; returns features per file.

    The layers land in ``folder/layers/<key>.geojson`` and are counted as ``layers/<key>.geojson``.
    """
    # Imported here: the layers module builds on this one.
    from zugabe.demo.layers import write_layers

    folder.mkdir(parents=True, exist_ok=True)
    town = generate_town(seed)
    counts = {}
    for name, features in town_features(town).items():
        (folder / name).write_text(collection_text(features), encoding="utf-8", newline="\n")
        counts[name] = len(features)
    for key, count in write_layers(folder / "layers", town, seed).items():
        counts[f"layers/{key}.geojson"] = count
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m zugabe.demo.town",
        description="Write the synthetic demo town and its thematic layers.",
    )
    parser.add_argument("output", nargs="?", default="sample_data", type=Path)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    counts = write_town(args.output, args.seed)
    for name, count in counts.items():
        print(f"{args.output / name}: {count} features")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
