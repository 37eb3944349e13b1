"""Benchmark: what one machine holds — the detection index's memory and the batch run's time.

For the "Scaling" section of the docs (issue 14, items 5 and 7): a store (``--store sqlite``
or ``postgis``, ``bench_stores.py``; both with ``--store sqlite,postgis``) is filled with the seeded
synthetic region of ``bench_detection.py`` (``--projects`` × ``--features``, default 50,000 ×
1,000,000; the point beyond the other benches: ``--projects 200000 --features 4000000``, the
region grown to 60 × 60 km at the same density). Then a FRESH process opens that store, as a
worker does at start, and reports

- its resident memory before and after building the detection index (``build_index``): the
  index's memory, and per million layer features;
- in another fresh process, the batch run through the service (``batch_run``, as ``POST
  /api/cases/detect`` and ``zugabe detect`` run it: load, detect, write the cases and the
  audit record in one transaction; with the default ``detection_processes``, one per CPU,
  so its helper processes detect a share of the rules), timed, and the process's peak
  resident memory (which counts the pages of the store it read through SQLite's memory
  map), and its largest helper's.

Generating and filling run in a process of their own too, so that nothing of them (the
generated objects, freed but kept by the allocator) is counted or kept while measuring.

    .venv/bin/python bench/bench_scale.py --store sqlite,postgis
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
from typing import Any

from bench_detection import synthetic_region
from bench_save_http import SYSTEM, fill
from bench_stores import STORES, store_url

from zugabe.web import create_app

BASE_PROJECTS = 50_000  # the density of bench_detection's 30 × 30 km region


def resident_mib() -> float:
    """The memory this process holds of its own now (RssAnon), MiB: not the pages of the
    store file it read through SQLite's memory map (``sqlite_engine.MMAP_BYTES``), which
    are the operating system's file cache, shared by every process reading the store."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


def fill_store(instance: Path, url: str, projects: int, features: int, seed: int) -> str:
    """Generate the seeded region and write it into the store; what was written, and how
    long it took (in a process of its own: the generated objects leave with it)."""
    scale = math.sqrt(projects / BASE_PROJECTS)
    app = create_app({"instance_path": instance, "database_url": url})
    services = app.extensions["zugabe"]
    started = time.perf_counter()
    found, layers = synthetic_region(
        seed, projects, features, services.vocabulary, services.layers.definitions, scale
    )
    generated = time.perf_counter() - started
    started = time.perf_counter()
    fill(services, found, layers)
    services.close()
    return (
        f"{projects:,} projects, {features:,} layer features, {30 * scale:.0f} × "
        f"{30 * scale:.0f} km (generated in {generated:.0f} s, written in "
        f"{time.perf_counter() - started:.0f} s; not measured)"
    )


def measure(instance: Path, url: str, what: str) -> dict[str, float]:
    """On the filled store: the index's memory (``index``), or the batch run with its load
    (``batch``; the index is not built before)."""
    app = create_app({"instance_path": instance, "database_url": url})
    services = app.extensions["zugabe"]
    before = resident_mib()
    started = time.perf_counter()
    if what == "index":
        services.cases.build_index()
        figures = {"opened_mib": before, "index_mib": resident_mib() - before}
    else:
        run = services.cases.batch_run(SYSTEM)  # POST /api/cases/detect, `zugabe detect`
        figures = {"findings": run.findings, "cases": len(run.sync.created)}
    figures[f"{what}_s"] = time.perf_counter() - started
    figures[f"{what}_peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The batch run's helper processes (``detection_processes``): the largest one's peak.
    figures[f"{what}_helper_peak_mib"] = (
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    )
    services.close()
    return figures


def in_fresh_process(*arguments: str) -> Any:
    """This script run again with ``arguments``: the JSON its last line prints."""
    done = subprocess.run(
        [sys.executable, __file__, *arguments], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=50_000)
    parser.add_argument("--features", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--store", default="sqlite", help="sqlite, postgis or both: sqlite,postgis")
    parser.add_argument("--fill", nargs=2, help=argparse.SUPPRESS)  # the fresh processes
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill:
        instance, url = args.fill
        written = fill_store(Path(instance), url, args.projects, args.features, args.seed)
        print(json.dumps(written))
        return
    if args.measure:
        instance, url, what = args.measure
        print(json.dumps(measure(Path(instance), url, what)))
        return
    stores = args.store.split(",")
    if not set(stores) <= set(STORES):
        parser.error(f"--store: one or more of {', '.join(STORES)}")

    sizes = ("--projects", str(args.projects), "--features", str(args.features))
    for kind in stores:
        with tempfile.TemporaryDirectory(prefix="zugabe-bench-scale-") as tmp:
            folder = Path(tmp)
            with store_url(kind, folder) as url:
                instance = str(folder / "instance")
                seed = ("--seed", str(args.seed))
                print(f"{kind}: {in_fresh_process('--fill', instance, url, *sizes, *seed)}")
                figures = in_fresh_process("--measure", instance, url, "index")
                figures |= in_fresh_process("--measure", instance, url, "batch")
                report(kind, figures, args.features)


def report(kind: str, figures: dict[str, float], features: int) -> None:
    per_million = figures["index_mib"] / (features / 1e6)
    print(
        f"{kind}: fresh process after opening the store: {figures['opened_mib']:,.0f} MiB "
        "of its own (peaks: resident, with the pages of the store read)\n"
        f"{kind}: detection index: {figures['index_mib']:,.0f} MiB "
        f"({per_million:,.0f} MiB per million layer features with their projects), "
        f"built in {figures['index_s']:.1f} s, peak {figures['index_peak_mib']:,.0f} MiB\n"
        f"{kind}: batch run through the service (load, detect, write), another fresh "
        f"process: {figures['batch_s']:.1f} s, {figures['findings']:,} findings, "
        f"{figures['cases']:,} cases created, peak {figures['batch_peak_mib']:,.0f} MiB "
        f"(a helper process: {figures['batch_helper_peak_mib']:,.0f} MiB)",
        flush=True,
    )


if __name__ == "__main__":
    main()
