"""Benchmark: import 500,000 sewer sections from a GeoPackage.

Target (issue 3): at most 15 s for the whole import (read, field matching,
value checks, geometry checks, reprojection, spatial index, commit) on a
2-core machine. The baseline is a bare ``pyogrio.read_dataframe`` of the same
file, measured in the same run, so the ratio means the same on any machine.

    .venv/bin/python bench/bench_layer_import.py [--rows 500000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyogrio
import shapely

from zugabe.config import load_settings
from zugabe.domain.accounts import Actor, Role
from zugabe.services import Services

MATERIALS = np.array(["Steinzeug", "Beton", "PVC", "PE-HD", "GFK", "Mauerwerk"])
SYSTEMS = np.array(["KM", "KS", "KR"])
# Who imports: a region admin (may import every theme), as a script's system actor.
ACTOR = Actor.system("bench", roles=frozenset({Role.REGION_ADMIN}))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sewers.gpkg"
        started = time.perf_counter()
        write_sewers(path, args.rows)
        print(
            f"wrote {args.rows} sections to a GeoPackage in {time.perf_counter() - started:.1f} s"
        )

        started = time.perf_counter()
        frame = pyogrio.read_dataframe(path)
        bare = time.perf_counter() - started
        assert len(frame) == args.rows
        del frame

        settings = load_settings({"instance_path": Path(folder) / "instance"}, {})
        services = Services.open(settings)
        try:
            started = time.perf_counter()
            info, report = services.layers.import_file(path, "sewer_sections", ACTOR)
            full = time.perf_counter() - started
        finally:
            services.close()
        assert info.feature_count == args.rows, report.refused_rows[:5]
    print(f"bare pyogrio.read_dataframe: {bare:6.2f} s")
    print(f"zugabe layers import:        {full:6.2f} s  ({args.rows / full:,.0f} features/s)")
    print(f"ratio import / bare read:    {full / bare:6.1f}x   (target: import <= 15 s)")


if __name__ == "__main__":
    main()
