"""Benchmark: what one machine holds — the detection index's memory and the batch run's time.

For the "Scaling" section of the docs (issue 14, item 7): a store is filled with the seeded
synthetic region of ``bench_detection.py`` (``--projects`` × ``--features``, default 50,000 ×
1,000,000; the point beyond the other benches: ``--projects 200000 --features 4000000``, the
region grown to 60 × 60 km at the same density). Then a FRESH process opens that store, as a
worker does at start, and reports

- its resident memory before and after building the detection index (``warm_up``): the
  index's memory, and per million layer features;
- the batch run through the service (``detect_everything``: load, detect, write the cases),
  timed, and the process's peak memory.

A fresh process, so that nothing of the filling (the generated objects, freed but kept by
the allocator) is counted.

    .venv/bin/python bench/bench_scale.py
    .venv/bin/python bench/bench_scale.py --projects 200000 --features 4000000
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_detection import synthetic_region
from bench_save_http import SYSTEM, fill

from zugabe.web import create_app

BASE_PROJECTS = 50_000  # the density of bench_detection's 30 × 30 km region


def resident_mib() -> float:
    """This process's resident memory now (VmRSS), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure(instance: Path) -> dict[str, float]:
    """In a fresh process: the index's memory and the batch run on the filled store."""
    app = create_app({"instance_path": instance})
    services = app.extensions["zugabe"]
    before = resident_mib()
    started = time.perf_counter()
    services.cases.warm_up()
    warm = time.perf_counter() - started
    after = resident_mib()
    started = time.perf_counter()
    run = services.cases.detect_everything(SYSTEM)
    batch = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    services.close()
    return {
        "opened_mib": before,
        "index_mib": after - before,
        "warm_up_s": warm,
        "batch_s": batch,
        "findings": run.findings,
        "cases": len(run.sync.created),
        "peak_mib": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=50_000)
    parser.add_argument("--features", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the fresh process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return

    scale = math.sqrt(args.projects / BASE_PROJECTS)
    with tempfile.TemporaryDirectory(prefix="zugabe-bench-scale-") as tmp:
        instance = Path(tmp) / "instance"
        app = create_app({"instance_path": instance})
        services = app.extensions["zugabe"]
        started = time.perf_counter()
        projects, layers = synthetic_region(
            args.seed,
            args.projects,
            args.features,
            services.vocabulary,
            services.layers.definitions,
            size_factor=scale,
        )
        generated = time.perf_counter() - started
        started = time.perf_counter()
        fill(services, projects, layers)
        filled = time.perf_counter() - started
        services.close()
        del projects, layers
        size = (instance / "zugabe.sqlite").stat().st_size / 2**20
        print(
            f"store: {args.projects:,} projects, {args.features:,} layer features, "
            f"{30 * scale:.0f} × {30 * scale:.0f} km (generated {generated:.0f} s, written "
            f"{filled:.0f} s; not measured), file {size:,.0f} MiB",
            flush=True,
        )
        done = subprocess.run(
            [sys.executable, __file__, "--measure", str(instance)],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    per_million = figures["index_mib"] / (args.features / 1e6)
    print(
        f"fresh process after opening the store: {figures['opened_mib']:,.0f} MiB resident\n"
        f"detection index: {figures['index_mib']:,.0f} MiB "
        f"({per_million:,.0f} MiB per million layer features with their projects), "
        f"built in {figures['warm_up_s']:.1f} s\n"
        f"batch run through the service (load, detect, write): {figures['batch_s']:.1f} s, "
        f"{figures['findings']:,} findings, {figures['cases']:,} cases created\n"
        f"peak resident memory of that process: {figures['peak_mib']:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
