"""Benchmark: import 500,000 sewer sections from a GeoPackage.

Targets (issue 11, item 6): at most 10 s for the whole import (read, field
matching, value checks, geometry checks, reprojection, spatial index, commit)
on a 2-core machine, and at most 2 GB peak memory of the process that imports.
The baseline is a bare ``pyogrio.read_dataframe`` of the same file, measured in
the same run, so the ratio means the same on any machine.

The bare read and the import each run in a fresh process (multiprocessing
"spawn"), which reports its own peak resident memory (``VmHWM``): what a
server process would need for that import, the interpreter and ZUGABE's
modules (about 160 MB) included.

    .venv/bin/python bench/bench_layer_import.py [--rows 500000]
    .venv/bin/python bench/bench_layer_import.py --rows 100000 --polygons 600
    .venv/bin/python bench/bench_layer_import.py --postgis   # into the PostGIS store

``--postgis`` imports into a PostGIS store in a throw-away cluster
(``zugabe.devtools.pg_cluster``) instead of the instance's SQLite file.

The second imports 100,000 round green spaces of 600 vertices (a 0.9 GB file):
few rows, many bytes, the worst case for memory near the default
``max_import_expanded_bytes``; the 10 s target is the sewer sections'.
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import psycopg
import pyogrio
import shapely

from zugabe.config import load_settings
from zugabe.devtools.pg_cluster import ThrowawayCluster
from zugabe.domain.accounts import Actor, Role
from zugabe.services import Services

MATERIALS = np.array(["Steinzeug", "Beton", "PVC", "PE-HD", "GFK", "Mauerwerk"])
SYSTEMS = np.array(["KM", "KS", "KR"])
# Who imports: a region admin (may import every theme), as a script's system actor.
ACTOR = Actor.system("bench", roles=frozenset({Role.REGION_ADMIN}))
TARGET_S = 10.0
TARGET_MB = 2000

Measured = tuple[float, int, float]  # seconds, rows, peak MB


def write_sewers(path: Path, rows: int, seed: int = 42) -> None:
    """Seeded sewer sections in a 30 × 30 km square of EPSG:25832: 4-vertex lines, 8 attributes."""
    rng = np.random.default_rng(seed)
    start = np.column_stack(
        [rng.uniform(360_000, 390_000, rows), rng.uniform(5_695_000, 5_725_000, rows)]
    )
    steps = rng.normal(0, 15, size=(rows, 3, 2)).cumsum(axis=1)
    coords = np.concatenate([start[:, None, :], start[:, None, :] + steps], axis=1)
    lines = shapely.linestrings(coords)
    fields = {
        "haltung": np.array([f"H{i:07d}" for i in range(rows)], dtype=object),
        "schacht_oben": np.array([f"S{i:07d}" for i in range(rows)], dtype=object),
        "schacht_unten": np.array([f"S{i + 1:07d}" for i in range(rows)], dtype=object),
        "kanalart": SYSTEMS[rng.integers(0, 3, rows)].astype(object),
        "werkstoff": MATERIALS[rng.integers(0, len(MATERIALS), rows)].astype(object),
        "dn": rng.choice([200, 250, 300, 400, 500, 600, 800, 1000], rows).astype(np.int32),
        "baujahr": rng.integers(1900, 2020, rows).astype(np.int32),
        "zustandsklasse": rng.integers(0, 6, rows).astype(np.int32),
    }
    pyogrio.raw.write(
        path,
        shapely.to_wkb(lines),
        list(fields.values()),
        list(fields),
        layer="haltungen",
        driver="GPKG",
        geometry_type="LineString",
        crs="EPSG:25832",
    )


def write_green_spaces(path: Path, rows: int, vertices: int, seed: int = 42) -> None:
    """Seeded round green spaces of ``vertices`` vertices each (radius 40 m): few rows, many
    bytes, the memory's worst case for a file near ``max_import_expanded_bytes``."""
    rng = np.random.default_rng(seed)
    centres = np.column_stack(
        [rng.uniform(360_000, 390_000, rows), rng.uniform(5_695_000, 5_725_000, rows)]
    )
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    ring = np.column_stack([np.cos(angles), np.sin(angles)])
    for start in range(0, rows, 10_000):  # in parts: the coordinates of all take gigabytes
        part = centres[start : start + 10_000, None, :] + 40 * ring
        polygons = shapely.polygons(np.concatenate([part, part[:, :1]], axis=1))
        ids = np.array([f"G{start + i:07d}" for i in range(len(polygons))], dtype=object)
        pyogrio.raw.write(
            path,
            shapely.to_wkb(polygons),
            [ids],
            ["green_space_id"],
            layer="gruenflaechen",
            driver="GPKG",
            geometry_type="Polygon",
            crs="EPSG:25832",
            append=start > 0,
        )


def bare_read(path: Path) -> Measured:
    """Seconds of a bare ``read_dataframe``, the rows read and this process's peak MB."""
    started = time.perf_counter()
    frame = pyogrio.read_dataframe(path)
    return time.perf_counter() - started, len(frame), _peak_mb()


def zugabe_import(path: Path, instance: Path, layer: str, database_url: str = "") -> Measured:
    """Seconds of the whole import, the features stored and this process's peak MB."""
    overrides = {"instance_path": instance, "database_url": database_url}
    services = Services.open(load_settings(overrides, {}))
    try:
        started = time.perf_counter()
        info, report = services.layers.import_file(path, layer, ACTOR)
        seconds = time.perf_counter() - started
    finally:
        services.close()
    assert not report.refused, report.refused_rows[:5]
    return seconds, info.feature_count, _peak_mb()


def _peak_mb() -> float:
    """This process's peak resident memory (Linux). Not ``ru_maxrss``: that keeps the
    parent's resident size at the fork, across the exec of a spawned process."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)[1]) / 1024


def _in_fresh_process(function: Callable[..., Measured], *args: object) -> Measured:
    """Run ``function`` in a new interpreter, so its peak memory is its own."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument(
        "--polygons",
        type=int,
        metavar="VERTICES",
        help="import green spaces of VERTICES vertices each instead of sewer sections",
    )
    parser.add_argument(
        "--postgis", action="store_true", help="import into a throw-away PostGIS store"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        database_url = ""
        if args.postgis:
            cluster = stack.enter_context(ThrowawayCluster({"shared_buffers": "1GB"}))
            with psycopg.connect(**cluster.connect_kwargs(), autocommit=True) as conn:
                conn.execute("CREATE DATABASE zugabe")
            database_url = cluster.url("zugabe").render_as_string(hide_password=False)
        path = Path(folder) / "layer.gpkg"
        started = time.perf_counter()
        if args.polygons:
            layer, what = "green_spaces", f"green spaces of {args.polygons} vertices"
            write_green_spaces(path, args.rows, args.polygons)
        else:
            layer, what = "sewer_sections", "sewer sections"
            write_sewers(path, args.rows)
        size_mb = path.stat().st_size / 1024**2
        print(
            f"wrote {args.rows} {what} to a GeoPackage ({size_mb:.0f} MB) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        bare, read, bare_mb = _in_fresh_process(bare_read, path)
        assert read == args.rows
        instance = Path(folder) / "instance"
        full, stored, import_mb = _in_fresh_process(
            zugabe_import, path, instance, layer, database_url
        )
        assert stored == args.rows
    print(f"bare pyogrio.read_dataframe: {bare:6.2f} s, peak memory {bare_mb:6.0f} MB")
    store = "PostGIS" if args.postgis else "SQLite"
    print(
        f"zugabe layers import ({store}): {full:6.2f} s, peak memory {import_mb:6.0f} MB "
        f"({args.rows / full:,.0f} features/s)"
    )
    print(f"ratio import / bare read:    {full / bare:6.1f}x")
    targets = [f"peak memory <= {TARGET_MB} MB ({_verdict(import_mb <= TARGET_MB)})"]
    if not args.polygons:  # the time target is the sewer sections'
        targets.insert(0, f"import <= {TARGET_S:.0f} s ({_verdict(full <= TARGET_S)})")
    print("targets: " + ", ".join(targets))


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


if __name__ == "__main__":
    main()
