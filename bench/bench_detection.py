"""Benchmark: the coordination engine on 50,000 projects × 1,000,000 layer features.

Targets (issue 4, deliverable 7): a full batch run (``detect_all``, overlap geometries
included) in at most 12 s on a 2-core machine, and the engine's share of saving one project
(``detect_for_project``) at most 5 ms. The baseline, measured in the same run, is a naive
geopandas join on a subset it can finish (default: what lies entirely within a centred
window of 10 % of the area, ``--baseline-share``, so about 5,000 projects × 100,000 features
at the density of the full run; with ``--quick`` the whole quick region):
``geopandas.sjoin`` (``intersects``, or ``dwithin`` at the largest distance a rule uses for
that pair of subjects) followed by the exact ``intersection`` of ALL joined pairs, with no
time or attribute prefilter; ``detect_all`` runs on the same subset and the ratio is printed.

Only the pure engine is measured (``zugabe.engine.detection``, default rules, vocabulary and
layer definitions); saving a project over HTTP is ``bench_save_http.py``. The second baseline
is PostGIS (``postgis_baseline.py``: a throwaway PostgreSQL 15 + PostGIS 3 cluster, Debian
``postgresql-15-postgis-3`` installed with apt-get when missing) running the same rules as
SQL on the same full region, overlap geometries and measures included; its findings per rule
are checked against the engine's. ``--no-postgis`` skips it.

Synthetic region (seeded, ``--seed``; generation time is printed but not part of the figures):
a 30 × 30 km square of EPSG:25832 (x 360000–390000, y 5695000–5725000) with a street grid of
100 m blocks whose nodes are jittered (σ 8 m); block edges are the street segments.

Projects (``--projects``, default 50,000), ``Project`` objects with a measure type drawn by
realistic weights and an (organisation, department) pair the default vocabulary allows for it;
status mostly idea/planning/approved; start between 2025-01-01 and 2031-12-31, 1–24 months
long, end at most 2032-12-31 (2 % without end). Geometries:

- lines along the street grid, 1–8 consecutive block edges from a random node: road works on
  the centre line, sewers 0–2 m and utility lines 2–4 m off it, swales, tree planting and
  stream restoration 4–8 m off it;
- jittered quadrilaterals for plans (200–600 m), buildings (20–60 m), green spaces and parks
  (80–300 m), green roofs (10–30 m), disconnection and heat action areas (100–500 m) and
  stormwater basins (30–80 m).

Layer features (``--features``, default 1,000,000), ``LayerFeature`` objects, split as:
trees 35 % (points 5–9 m beside a street, crown radius 1.5–8 m, 5 % unknown; derived
root-protection zone = buffer by crown radius + 1.5 m, or the default radius, as the import
computes it), sewer_sections 30 % (pieces of block edges 0–3 m off the centre line;
section_id, condition_class 0–5, renewal_year 2025–2040 for 40 %, material, diameter …),
streets 12 % (block edges; street_id, name, category, last_resurfacing_year 1995–2026 for
70 %), heavy_rain_hazard 9 % (hollows: 8–50 m blobs; depth_class 1–4, return_period),
green_roof_potential 6 % (roofs 10–25 m inside blocks; potential_class, green_roof_exists),
disconnection_potential 4 % (blocks; potential_class 1–4, disconnectable_area), heat_stress
2 % (2 × 2 blocks; stress_class 1–5, pet), green_spaces 1.5 % (blocks), stormwater_basins
0.46 % (points) and cso_catchments 0.04 % (a coarse tiling; overflow_frequency 2–40 /a).

    .venv/bin/python bench/bench_detection.py [--projects 50000] [--features 1000000]
    .venv/bin/python bench/bench_detection.py --quick     # 5,000 × 100,000
"""

from __future__ import annotations

import argparse
import gc
import math
import time
from datetime import UTC, date, datetime

import geopandas as gpd
import numpy as np
import shapely
from postgis_baseline import PostgisBaseline

from zugabe.domain.layers import default_layers_folder, load_layer_definitions
from zugabe.domain.project import Project, ProjectAttributes, Status
from zugabe.domain.rules import LayerSelector, default_rules_path, load_rules
from zugabe.domain.vocabulary import Vocabulary
from zugabe.engine.detection import DetectionIndex, detect_all, detect_for_project
from zugabe.storage.contract import LayerFeature

X0, Y0, SIZE = 360_000.0, 5_695_000.0, 30_000.0
BLOCK = 100.0
CELLS = int(SIZE / BLOCK)  # blocks per side; nodes per side = CELLS + 1

# Measure type: (weight, geometry, lateral offset range or polygon size range in metres).
MEASURES: dict[str, tuple[float, str, tuple[float, float]]] = {
    "road_resurfacing": (0.12, "line", (0.0, 0.5)),
    "road_renewal": (0.08, "line", (0.0, 0.5)),
    "street_redesign": (0.04, "line", (0.0, 0.5)),
    "sewer_rehabilitation": (0.14, "line", (0.0, 2.0)),
    "sewer_construction": (0.05, "line", (0.0, 2.0)),
    "utility_line": (0.15, "line", (2.0, 4.0)),
    "swale_trench": (0.04, "line", (4.0, 8.0)),
    "tree_planting": (0.06, "line", (4.0, 8.0)),
    "stream_restoration": (0.02, "line", (4.0, 8.0)),
    "disconnection": (0.04, "polygon", (100.0, 500.0)),
    "stormwater_basin": (0.02, "polygon", (30.0, 80.0)),
    "green_space": (0.05, "polygon", (80.0, 300.0)),
    "green_roof": (0.06, "polygon", (10.0, 30.0)),
    "development_plan": (0.05, "polygon", (200.0, 600.0)),
    "building": (0.06, "polygon", (20.0, 60.0)),
    "heat_action": (0.02, "polygon", (100.0, 500.0)),
}
STATUSES = list(Status)
STATUS_WEIGHTS = [0.20, 0.35, 0.20, 0.10, 0.10, 0.05]  # idea … cancelled
LAYER_SHARES = {
    "trees": 0.35,
    "sewer_sections": 0.30,
    "streets": 0.12,
    "heavy_rain_hazard": 0.09,
    "green_roof_potential": 0.06,
    "disconnection_potential": 0.04,
    "heat_stress": 0.02,
    "green_spaces": 0.015,
    "stormwater_basins": 0.0046,
    "cso_catchments": 0.0004,
}
FIRST_DAY = date(2025, 1, 1).toordinal()
LAST_START = date(2031, 12, 31).toordinal()
LAST_DAY = date(2032, 12, 31).toordinal()


# --------------------------------------------------------------------------- generator


class Region:
    """The jittered street grid every generated geometry is placed on."""

    def __init__(self, rng: np.random.Generator, blocks: int = CELLS) -> None:
        self.rng = rng
        self.blocks = blocks  # per side: CELLS, or more for a larger region (bench_scale)
        steps = np.arange(blocks + 1) * BLOCK
        gx, gy = np.meshgrid(X0 + steps, Y0 + steps, indexing="ij")
        jitter = np.clip(rng.normal(0, 8, size=(blocks + 1, blocks + 1, 2)), -25, 25)
        self.nodes = np.stack([gx, gy], axis=-1) + jitter  # [i, j] -> (x, y)
        i, j = np.meshgrid(np.arange(blocks), np.arange(blocks + 1), indexing="ij")
        horizontal = (self.nodes[i, j], self.nodes[i + 1, j])
        vertical = (self.nodes[j, i], self.nodes[j, i + 1])
        self.edge_a = np.concatenate([horizontal[0].reshape(-1, 2), vertical[0].reshape(-1, 2)])
        self.edge_b = np.concatenate([horizontal[1].reshape(-1, 2), vertical[1].reshape(-1, 2)])

    def edges(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """n random block edges: start, end and unit normal."""
        pick = self.rng.choice(len(self.edge_a), n, replace=n > len(self.edge_a))
        a, b = self.edge_a[pick], self.edge_b[pick]
        d = b - a
        normal = np.column_stack([-d[:, 1], d[:, 0]]) / np.hypot(d[:, 0], d[:, 1])[:, None]
        return a, b, normal

    def side(self, n: int, low: float, high: float) -> np.ndarray:
        """Signed lateral offsets: low–high metres to either side."""
        return self.rng.uniform(low, high, n) * self.rng.choice([-1.0, 1.0], n)

    def paths(self, n: int, offsets: np.ndarray, max_blocks: int = 8) -> np.ndarray:
        """Lines along 1–max_blocks consecutive block edges, shifted sideways by ``offsets``."""
        rng = self.rng
        k = rng.integers(1, max_blocks + 1, n)
        i, j = rng.integers(0, self.blocks + 1, n), rng.integers(0, self.blocks + 1, n)
        horizontal = rng.random(n) < 0.5
        sign = rng.choice([-1, 1], n)
        start = np.where(horizontal, i, j)
        sign = np.where((start + sign * k > self.blocks) | (start + sign * k < 0), -sign, sign)
        owner = np.repeat(np.arange(n), k + 1)
        step = np.arange(len(owner)) - np.repeat(np.cumsum(k + 1) - (k + 1), k + 1)
        di = np.where(horizontal, sign, 0)[owner] * step
        dj = np.where(horizontal, 0, sign)[owner] * step
        coords = self.nodes[i[owner] + di, j[owner] + dj]
        normal = np.where(horizontal[:, None], [[0.0, 1.0]], [[1.0, 0.0]])
        coords = coords + (normal * offsets[:, None])[owner]
        return shapely.linestrings(coords, indices=owner)

    def quads(self, centres: np.ndarray, low: float, high: float) -> np.ndarray:
        """Jittered, slightly rotated quadrilaterals of side low–high metres around centres."""
        rng = self.rng
        n = len(centres)
        half = rng.uniform(low, high, (n, 2)) / 2
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=float)
        ring = corners[None] * half[:, None, :] * rng.uniform(0.85, 1.15, (n, 4, 2))
        angle = rng.uniform(-0.3, 0.3, n)
        cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
        x = ring[..., 0] * cos - ring[..., 1] * sin + centres[:, 0:1]
        y = ring[..., 0] * sin + ring[..., 1] * cos + centres[:, 1:2]
        coords = np.stack([x, y], axis=-1)
        return shapely.polygons(np.concatenate([coords, coords[:, :1]], axis=1))

    def uniform_points(self, n: int) -> np.ndarray:
        size = self.blocks * BLOCK
        return np.column_stack(
            [self.rng.uniform(X0, X0 + size, n), self.rng.uniform(Y0, Y0 + size, n)]
        )

    def cells(self, n: int, size: int = 1, shrink: float = 0.85) -> np.ndarray:
        """Random blocks (size × size of them), shrunk towards their centre."""
        i = self.rng.integers(0, self.blocks - size + 1, n)
        j = self.rng.integers(0, self.blocks - size + 1, n)
        ring = np.stack(
            [
                self.nodes[i, j],
                self.nodes[i + size, j],
                self.nodes[i + size, j + size],
                self.nodes[i, j + size],
            ],
            axis=1,
        )
        centre = ring.mean(axis=1, keepdims=True)
        ring = centre + (ring - centre) * shrink
        return shapely.polygons(np.concatenate([ring, ring[:, :1]], axis=1))


def generate_projects(
    region: Region,
    n: int,
    vocabulary: Vocabulary,
    anchors: dict[str, tuple[np.ndarray, float, float]],
) -> list[Project]:
    """Projects as in the module docstring; half of the measures named in ``anchors`` are
    centred low–high metres from one of its points (green roofs on roofs, new basins beside
    existing ones)."""
    rng = region.rng
    names = list(MEASURES)
    weights = np.array([MEASURES[m][0] for m in names])
    kinds = rng.choice(len(names), n, p=weights / weights.sum())
    owners = {
        m: [
            (org.key, dept)
            for org in vocabulary.organisations.values()
            for dept in org.departments
            if m in vocabulary.departments[dept].measure_types
        ]
        for m in names
    }
    geoms = np.empty(n, dtype=object)
    for code, measure in enumerate(names):
        where = np.flatnonzero(kinds == code)
        _, shape, (low, high) = MEASURES[measure]
        if shape == "line":
            geoms[where] = region.paths(len(where), region.side(len(where), low, high))
        else:
            centres = region.uniform_points(len(where))
            if measure in anchors and len(anchors[measure][0]):
                points, near_low, near_high = anchors[measure]
                near = np.flatnonzero(rng.random(len(where)) < 0.5)
                radius = rng.uniform(near_low, near_high, len(near))
                angle = rng.uniform(0, 2 * np.pi, len(near))
                offset = np.column_stack([np.cos(angle), np.sin(angle)]) * radius[:, None]
                centres[near] = points[rng.integers(0, len(points), len(near))] + offset
            geoms[where] = region.quads(centres, low, high)
    start = rng.integers(FIRST_DAY, LAST_START + 1, n)
    end = np.minimum(start + rng.integers(30, 731, n), LAST_DAY)
    open_end = rng.random(n) < 0.02
    status = rng.choice(len(STATUSES), n, p=STATUS_WEIGHTS)
    pick = rng.random(n)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    projects = []
    for k in range(n):
        measure = names[kinds[k]]
        choices = owners[measure]
        organisation, department = choices[int(pick[k] * len(choices))]
        attributes = ProjectAttributes(
            title=f"{measure} {k + 1}",
            organisation=organisation,
            department=department,
            measure_type=measure,
            status=STATUSES[status[k]],
            start=date.fromordinal(int(start[k])),
            end=None if open_end[k] else date.fromordinal(int(end[k])),
        )
        projects.append(Project(k + 1, attributes, geoms[k], now, "bench", now, "bench"))
    return projects


def _centres(features: list[LayerFeature]) -> np.ndarray:
    geoms = np.array([f.geometry for f in features], dtype=object)
    return shapely.get_coordinates(shapely.centroid(geoms)).reshape(-1, 2)


def _maybe(values: np.ndarray, present: np.ndarray) -> list:
    return [v if p else None for v, p in zip(values.tolist(), present.tolist(), strict=True)]


def _features(
    geoms: np.ndarray, columns: dict[str, list], next_id: int, derived: np.ndarray | None = None
) -> list[LayerFeature]:
    names = list(columns)
    rows = zip(*columns.values(), strict=True)
    if derived is None:
        return [
            LayerFeature(next_id + k, g, dict(zip(names, row, strict=True)), k, None)
            for k, (g, row) in enumerate(zip(geoms, rows, strict=True))
        ]
    return [
        LayerFeature(next_id + k, g, dict(zip(names, row, strict=True)), k, d)
        for k, (g, d, row) in enumerate(zip(geoms, derived, rows, strict=True))
    ]


def _ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{k:07d}" for k in range(n)]


def generate_layers(region: Region, total: int, definitions: dict) -> dict[str, list[LayerFeature]]:
    rng = region.rng
    counts = {key: round(share * total) for key, share in LAYER_SHARES.items()}
    counts["trees"] += total - sum(counts.values())
    layers: dict[str, list[LayerFeature]] = {}
    next_id = 1

    def add(key: str, geoms: np.ndarray, columns: dict, derived: np.ndarray | None = None):
        nonlocal next_id
        layers[key] = _features(geoms, columns, next_id, derived)
        next_id += len(geoms)

    n = counts["trees"]
    a, b, normal = region.edges(n)
    t = rng.uniform(0, 1, n)[:, None]
    points = shapely.points(a + t * (b - a) + normal * region.side(n, 5, 9)[:, None])
    crown = np.round(rng.uniform(1.5, 8.0, n), 1)
    known = rng.random(n) > 0.05
    spec = definitions["trees"].derived
    radii = np.array([spec.radius_for(c if k else None) for c, k in zip(crown, known, strict=True)])
    species = np.array(["Tilia cordata", "Acer platanoides", "Quercus robur", "Platanus"])
    add(
        "trees",
        points,
        {
            "tree_id": _ids("B", n),
            "species": species[rng.integers(0, len(species), n)].tolist(),
            "crown_radius": _maybe(crown, known),
            "planting_year": rng.integers(1950, 2024, n).tolist(),
        },
        shapely.buffer(points, radii),
    )

    n = counts["sewer_sections"]
    a, b, normal = region.edges(n)
    t0 = rng.uniform(0, 0.5, n)[:, None]
    t1 = t0 + rng.uniform(0.3, 0.5, n)[:, None]
    shift = normal * region.side(n, 0, 3)[:, None]
    coords = np.stack([a + t0 * (b - a) + shift, a + t1 * (b - a) + shift], axis=1)
    renewal = rng.random(n) < 0.4
    add(
        "sewer_sections",
        shapely.linestrings(coords),
        {
            "section_id": _ids("H", n),
            "sewer_system": np.array(["KM", "KS", "KR"])[rng.integers(0, 3, n)].tolist(),
            "material": np.array(["Steinzeug", "Beton", "PVC"])[rng.integers(0, 3, n)].tolist(),
            "diameter": rng.choice([250, 300, 400, 500, 800], n).tolist(),
            "construction_year": rng.integers(1900, 2020, n).tolist(),
            "condition_class": rng.choice(6, n, p=[0.05, 0.1, 0.2, 0.25, 0.2, 0.2]).tolist(),
            "renewal_year": _maybe(rng.integers(2025, 2041, n), renewal),
        },
    )

    n = counts["streets"]
    pick = rng.choice(len(region.edge_a), n, replace=n > len(region.edge_a))
    a, b = region.edge_a[pick], region.edge_b[pick]
    middle = (a + b) / 2 + rng.normal(0, 1.5, (n, 2))
    resurfaced = rng.random(n) < 0.7
    add(
        "streets",
        shapely.linestrings(np.stack([a, middle, b], axis=1)),
        {
            "street_id": _ids("ST", n),
            "name": [f"Straße {k % 5000}" for k in range(n)],
            "category": np.array(["main", "collector", "local"])[rng.integers(0, 3, n)].tolist(),
            "last_resurfacing_year": _maybe(rng.integers(1995, 2027, n), resurfaced),
        },
    )

    n = counts["heavy_rain_hazard"]
    hollows = shapely.buffer(
        shapely.points(region.uniform_points(n)), rng.uniform(8, 50, n), quad_segs=3
    )
    add(
        "heavy_rain_hazard",
        hollows,
        {
            "depth_class": rng.choice([1, 2, 3, 4], n, p=[0.5, 0.25, 0.15, 0.1]).tolist(),
            "max_depth": np.round(rng.uniform(0.1, 1.5, n), 2).tolist(),
            "scenario": ["SRI 7"] * n,
            "return_period": [100] * n,
        },
    )

    n = counts["green_roof_potential"]
    centres = region.nodes[rng.integers(0, region.blocks, n), rng.integers(0, region.blocks, n)]
    centres = centres + rng.uniform(25, 75, (n, 2))
    add(
        "green_roof_potential",
        region.quads(centres, 10, 25),
        {
            "building_id": _ids("G", n),
            "potential_class": rng.integers(1, 5, n).tolist(),
            "suitable_area": np.round(rng.uniform(50, 500, n), 1).tolist(),
            "green_roof_exists": (rng.random(n) < 0.1).tolist(),
        },
    )

    n = counts["disconnection_potential"]
    add(
        "disconnection_potential",
        region.cells(n),
        {
            "area_id": _ids("A", n),
            "potential_class": rng.integers(1, 5, n).tolist(),
            "disconnectable_area": np.round(rng.uniform(100, 5000, n), 0).tolist(),
        },
    )

    n = counts["heat_stress"]
    add(
        "heat_stress",
        region.cells(n, size=2, shrink=0.95),
        {
            "area_id": _ids("W", n),
            "stress_class": rng.integers(1, 6, n).tolist(),
            "pet": np.round(rng.uniform(25, 45, n), 1).tolist(),
        },
    )

    n = counts["green_spaces"]
    add(
        "green_spaces",
        region.cells(n),
        {
            "green_space_id": _ids("P", n),
            "name": [f"Park {k}" for k in range(n)],
            "category": np.array(["park", "cemetery", "allotment"])[rng.integers(0, 3, n)].tolist(),
        },
    )

    n = counts["stormwater_basins"]
    add(
        "stormwater_basins",
        shapely.points(region.uniform_points(n)),
        {
            "basin_id": _ids("RB", n),
            "name": [f"Becken {k}" for k in range(n)],
            "basin_type": np.array(["RRB", "RUB", "RKB"])[rng.integers(0, 3, n)].tolist(),
        },
    )

    n = counts["cso_catchments"]
    side = max(1, math.ceil(math.sqrt(n)))
    step = region.blocks * BLOCK / side
    k = np.arange(n)
    centres = np.column_stack([X0 + (k % side + 0.5) * step, Y0 + (k // side + 0.5) * step])
    add(
        "cso_catchments",
        region.quads(centres, step * 0.95, step * 1.0),
        {
            "catchment_id": _ids("EZG", n),
            "name": [f"Einzugsgebiet {k}" for k in range(n)],
            "overflow_frequency": np.round(rng.uniform(2, 40, n), 1).tolist(),
        },
    )
    return layers


def synthetic_region(
    seed: int,
    n_projects: int,
    n_features: int,
    vocabulary: Vocabulary,
    definitions: dict,
    size_factor: float = 1.0,
) -> tuple[list[Project], dict[str, list[LayerFeature]]]:
    """The seeded region of the module docstring: projects (ids 1…n) and layer features;
    ``size_factor`` stretches its side (2: 60 × 60 km for four times the data)."""
    region = Region(np.random.default_rng(seed), round(CELLS * size_factor))
    layers = generate_layers(region, n_features, definitions)
    anchors = {
        "green_roof": (_centres(layers["green_roof_potential"]), 0.0, 3.0),
        "stormwater_basin": (_centres(layers["stormwater_basins"]), 30.0, 60.0),
    }
    return generate_projects(region, n_projects, vocabulary, anchors), layers


def default_world(
    seed: int, n_projects: int, n_features: int
) -> tuple[dict, list, list[Project], dict[str, list[LayerFeature]]]:
    """The default layer definitions and rules with the seeded region; prints how long the
    generation took (never part of a figure)."""
    vocabulary = Vocabulary.default()
    definitions = load_layer_definitions(default_layers_folder())
    rules = load_rules(default_rules_path(), vocabulary, definitions).active
    started = time.perf_counter()
    projects, layers = synthetic_region(seed, n_projects, n_features, vocabulary, definitions)
    print(
        f"generated {len(projects):,} projects and "
        f"{sum(map(len, layers.values())):,} layer features in "
        f"{time.perf_counter() - started:.1f} s (not measured)"
    )
    return definitions, rules, projects, layers


def timed_engine(
    projects: list[Project], layers: dict, definitions: dict, rules: list
) -> tuple[DetectionIndex, list, float, float]:
    """Index build and ``detect_all``, each timed after a garbage collection."""
    gc.collect()
    started = time.perf_counter()
    index = DetectionIndex(projects, layers, layer_definitions=definitions, rules=rules)
    build = time.perf_counter() - started
    gc.collect()
    started = time.perf_counter()
    findings = detect_all(index, rules)
    return index, findings, build, time.perf_counter() - started


# --------------------------------------------------------------------------- baseline


def naive_geopandas(projects: list[Project], layers: dict, rules) -> tuple[float, int]:
    """sjoin (intersects / dwithin) + intersection of all joined pairs, no prefilter."""
    frame = gpd.GeoDataFrame(geometry=[p.geometry for p in projects], crs=25832)
    reach: dict[str, float] = {}
    for rule in rules:
        key = rule.b.layer if isinstance(rule.b, LayerSelector) else "<projects>"
        distance = rule.spatial.distance if rule.spatial.test == "within" else 0.0
        reach[key] = max(reach.get(key, 0.0), distance or 0.0)
    others = {}
    for key in reach:
        if key == "<projects>":
            others[key] = frame
        elif key in layers:
            geoms = [f.derived or f.geometry for f in layers[key]]
            others[key] = gpd.GeoDataFrame(geometry=geoms, crs=25832)
    started = time.perf_counter()
    pairs = 0
    for key, other in others.items():
        if reach[key] > 0:
            joined = gpd.sjoin(frame, other, predicate="dwithin", distance=reach[key])
        else:
            joined = gpd.sjoin(frame, other, predicate="intersects")
        left = frame.geometry.values[joined.index.to_numpy()]
        right = other.geometry.values[joined["index_right"].to_numpy()]
        overlap = left.intersection(right)
        pairs += len(overlap)
    return time.perf_counter() - started, pairs


def compare_with_postgis(
    projects: list[Project],
    layers: dict,
    definitions: dict,
    rules,
    engine_seconds: float,
    engine_counts: dict[str, int],
) -> None:
    """The same rules as SQL in PostGIS on the same data; counts must agree."""
    with PostgisBaseline() as postgis:
        loaded = postgis.load(projects, layers, definitions)
        seconds, counts = postgis.detect_all(rules)
        print(f"PostGIS ({postgis.describe()}):")
    print(f"    load (COPY, GiST, ANALYZE; not measured): {loaded:6.2f} s")
    found = sum(counts.values())
    print(f"    all rules as SQL, overlaps included:      {seconds:6.2f} s  ({found:,} findings)")
    print(f"    ratio PostGIS / detect_all:               {seconds / engine_seconds:6.2f}x")
    differing = {
        rule.id: (engine_counts.get(rule.id, 0), counts.get(rule.id, 0))
        for rule in rules
        if engine_counts.get(rule.id, 0) != counts.get(rule.id, 0)
    }
    print(f"    findings per rule differ (engine, PostGIS): {differing or 'none'}")


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=50_000)
    parser.add_argument("--features", type=int, default=1_000_000)
    parser.add_argument(
        "--baseline-share",
        type=float,
        default=0.1,
        help="area share of the centred window the naive baseline runs on (1 with --quick)",
    )
    parser.add_argument("--samples", type=int, default=200, help="detect_for_project calls")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="5,000 projects × 100,000 features")
    parser.add_argument("--no-postgis", action="store_true", help="skip the PostGIS baseline")
    args = parser.parse_args()
    if args.quick:
        args.projects, args.features, args.baseline_share = 5_000, 100_000, 1.0

    definitions, rules, projects, layers = default_world(args.seed, args.projects, args.features)

    index, findings, build, batch = timed_engine(projects, layers, definitions, rules)
    by_rule: dict[str, int] = {}
    for finding in findings:
        by_rule[finding.rule_id] = by_rule.get(finding.rule_id, 0) + 1

    rng = np.random.default_rng(args.seed + 1)
    sample = rng.choice(len(projects), min(args.samples, len(projects)), replace=False)
    times = []
    single_findings = 0
    for k in sample:
        started = time.perf_counter()
        single_findings += len(detect_for_project(projects[k], index, rules))
        times.append(time.perf_counter() - started)
    p50, p95 = np.percentile(np.array(times) * 1000, [50, 95])

    print(f"index build:                 {build:6.2f} s")
    print(
        f"detect_all:                  {batch:6.2f} s  {len(findings):,} findings  (target <= 12 s)"
    )
    for rule in rules:
        print(f"    {rule.id:32s} {by_rule.get(rule.id, 0):>9,}")
    print(
        f"detect_for_project:          p50 {p50:.2f} ms, p95 {p95:.2f} ms over {len(sample)} "
        f"projects, {single_findings / len(sample):.1f} findings each  (target engine <= 5 ms)"
    )

    if not args.no_postgis:
        compare_with_postgis(projects, layers, definitions, rules, batch, by_rule)

    # Baseline subset: what lies within a centred square window of the region, so the density
    # (and so the pairs per project) is that of the full run.
    half = SIZE * math.sqrt(min(args.baseline_share, 1.0)) / 2
    window = shapely.box(
        X0 + SIZE / 2 - half, Y0 + SIZE / 2 - half, X0 + SIZE / 2 + half, Y0 + SIZE / 2 + half
    )
    shapely.prepare(window)

    def inside(geoms: list) -> np.ndarray:
        return shapely.contains(window, np.array(geoms, dtype=object))

    if args.baseline_share >= 1:
        sub_projects, sub_layers = projects, layers
    else:
        keep = inside([p.geometry for p in projects])
        sub_projects = [p for p, k in zip(projects, keep.tolist(), strict=True) if k]
        sub_layers = {}
        for key, items in layers.items():
            keep = inside([f.geometry for f in items])
            sub_layers[key] = [f for f, k in zip(items, keep.tolist(), strict=True) if k]
    n_sub = sum(map(len, sub_layers.values()))
    del index, findings
    gc.collect()
    started = time.perf_counter()
    sub_index = DetectionIndex(sub_projects, sub_layers, layer_definitions=definitions, rules=rules)
    sub_build = time.perf_counter() - started
    gc.collect()
    started = time.perf_counter()
    sub_findings = detect_all(sub_index, rules)
    sub_batch = time.perf_counter() - started
    naive, pairs = naive_geopandas(sub_projects, sub_layers, rules)
    print(
        f"subset: {len(sub_projects):,} projects × {n_sub:,} features within the centred "
        f"{2 * half / 1000:.1f} × {2 * half / 1000:.1f} km window"
    )
    print(
        f"    naive geopandas sjoin + intersection: {naive:6.2f} s  ({pairs:,} pairs intersected)"
    )
    found = f"({len(sub_findings):,} findings)"
    print(f"    zugabe detect_all:                    {sub_batch:6.2f} s  {found}")
    print(f"    zugabe index build + detect_all:      {sub_build + sub_batch:6.2f} s")
    print(f"    ratio naive / detect_all:             {naive / sub_batch:6.1f}x")
    print(f"    ratio naive / (build + detect_all):   {naive / (sub_build + sub_batch):6.1f}x")


if __name__ == "__main__":
    main()
