"""Benchmark: many map users at once — 50 clients for 60 s, 90 % reads, 10 % saves.

Targets (issue 14, item 6) on this 2-core machine: on the demo town ≥ 250 requests/s with
p95 ≤ 300 ms; with 50,000 projects p95 ≤ 500 ms; no errors.

The server is ``zugabe serve --workers N`` (the production server, several processes) on a
loopback port over a temporary instance, filled with

- ``--town demo``: the demo town of ``sample_data/`` (``zugabe demo``), its cases detected;
- ``--town synthetic``: the seeded synthetic region of ``bench_detection.py`` (50,000
  projects × 1,000,000 layer features by default), its cases detected by a batch run.

and stored in SQLite (``--store sqlite``, the embedded default) or PostGIS (``--store
postgis``: a throw-away PostgreSQL 15 + PostGIS 3 cluster, durable, ``bench_stores.py``;
vacuumed and analysed after filling, as after any bulk load, so that autovacuum's first
pass over the rows just written does not fall into the measured minute).

Once every worker has built its detection index (``/health``; with 1,000,000 features that
takes each worker some seconds), ``--clients`` keep-alive clients (aiohttp, one asyncio loop
in this process) each repeat, for ``--duration`` seconds after ``--warm-up`` unmeasured
seconds, what the web map does: of
every ten requests three read the projects of a district-sized view (2 × 2 km,
``/api/projects?bbox=…&limit=1000``), three the project points of a view
(``/api/projects/points``), three the cases of a view (``/api/cases?bbox=…&limit=1000``),
and one saves a project (a PUT with ``If-Match`` moving one of the client's own projects by
5–50 m; detection included). Every client saves its own projects, so no save meets another
client's, and a 412 would be an error like any other non-2xx answer or broken connection.
All requests carry a region admin's API token. Printed per worker count: requests/s,
p50/p95/p99 of all requests and by kind, the errors, and the CPU the server's processes and
the load generator used while measured (``/proc``): CPU per request, and how many of the
machine's cores each kept busy.

    .venv/bin/python bench/bench_load.py                           # demo town, 1 and 2 workers
    .venv/bin/python bench/bench_load.py --town synthetic          # 50,000 × 1,000,000
    .venv/bin/python bench/bench_load.py --store postgis --workers 2
    .venv/bin/python bench/bench_load.py --threads 8 --workers 3     # 8 threads per worker
    .venv/bin/python bench/bench_load.py --quick                   # 20 clients, 15 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pyproj
import shapely
import shapely.affinity
import shapely.geometry
from bench_stores import STORES, store_url
from ogc_servers import free_port, running

from zugabe.config import Settings
from zugabe.domain.accounts import Actor, Role, Scope
from zugabe.services import Services
from zugabe.services.accounts import AccountInput
from zugabe.storage import open_store
from zugabe.storage.contract import CaseQuery, ProjectQuery
from zugabe.storage.postgis import PostgisStore
from zugabe.web import create_app

SYSTEM = Actor.system("bench", roles=frozenset({Role.REGION_ADMIN}))
USERNAME = "bench.load"
VIEW = 2_000.0  # metres: a district
LIMIT = 1000
PROJECTS_PER_CLIENT = 20
REPO = Path(__file__).resolve().parent.parent
ZUGABE = Path(sys.executable).parent / "zugabe"

KINDS = ("projects", "points", "cases", "save")
WARMED_UP = ("detection_index", "rendered_projects", "rendered_cases")  # checks of /health
MIX = ("projects",) * 3 + ("points",) * 3 + ("cases",) * 3 + ("save",)


@dataclass
class Instance:
    """A filled instance: its folder and environment, the views and the saves' features."""

    env: dict[str, str]
    secret: str
    views: list[str]
    features: list[dict[str, Any]]  # GeoJSON of projects the clients may move
    description: str


@dataclass
class Tally:
    """What the clients measured: seconds per request by kind, errors by cause."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    server_cpu: float = 0.0  # CPU seconds of the server's processes while measured
    client_cpu: float = 0.0  # and of this process, the load generator


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process and its children (gunicorn's workers)."""
    total, tick, waiting = 0.0, os.sysconf("SC_CLK_TCK"), [pid]
    while waiting:
        process = Path(f"/proc/{waiting.pop()}")
        try:
            fields = (process / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in (process / "task").iterdir():
                waiting.extend(int(c) for c in (task / "children").read_text().split())
        except FileNotFoundError:  # a worker that just ended
            continue
    return total


async def cpu_while_measured(pid: int, measure_from: float, until: float, tally: Tally) -> None:
    """The server's and the load generator's CPU seconds between the two moments."""
    await asyncio.sleep(max(measure_from - time.perf_counter(), 0))
    server, client = tree_cpu_seconds(pid), time.process_time()
    await asyncio.sleep(max(until - time.perf_counter(), 0))
    tally.server_cpu = tree_cpu_seconds(pid) - server
    tally.client_cpu = time.process_time() - client


# --------------------------------------------------------------------------- filling


def fill_demo(folder: Path, env: dict[str, str]) -> None:
    """``zugabe init`` and ``zugabe demo``, as ``make run`` does."""
    for command in (["init"], ["demo", "--source", str(REPO / "sample_data")]):
        subprocess.run([str(ZUGABE), *command], env=env, check=True, capture_output=True)


def fill_synthetic(services: Services, projects: int, features: int, seed: int) -> None:
    """The synthetic region of ``bench_detection.py``, written as ``bench_save_http`` does,
    and its cases detected."""
    from bench_detection import synthetic_region
    from bench_save_http import fill

    found, layers = synthetic_region(
        seed, projects, features, services.vocabulary, services.layers.definitions
    )
    fill(services, found, layers)
    services.cases.detect_everything(SYSTEM)


def prepare(args: argparse.Namespace, folder: Path, url: str) -> Instance:
    """Fill the store, create the bench account and token, pick views and projects."""
    # The demo's accounts keep their printed passwords: only a demo instance starts so.
    env = {
        "ZUGABE_INSTANCE_PATH": str(folder),
        "ZUGABE_DATABASE_URL": url,
        "ZUGABE_DEMO_INSTANCE": "true",
    }
    started = time.perf_counter()
    if args.town == "demo":
        fill_demo(folder, env)
    app = create_app({"instance_path": folder, "database_url": url, "demo_instance": True})
    services: Services = app.extensions["zugabe"]
    try:
        if args.town == "synthetic":
            fill_synthetic(services, args.projects, args.features, args.seed)
        services.accounts.add(
            SYSTEM,
            AccountInput(
                username=USERNAME,
                display_name="Load benchmark",
                roles=frozenset({Role.REGION_ADMIN}),
            ),
        )
        _token, secret = services.accounts.create_token(SYSTEM, USERNAME, "load", Scope.WRITE)
        stored = services.store.list_projects(ProjectQuery())
        rng = np.random.default_rng(args.seed)
        chosen = rng.permutation(len(stored))[: args.clients * PROJECTS_PER_CLIENT]
        features = [services.projects.to_feature(stored[int(k)]) for k in chosen]
        bounds = shapely.total_bounds([p.geometry for p in stored])
        views = district_views(bounds, services.settings.storage_crs, rng, 1000)
        cases = services.store.count_cases(CaseQuery())
    finally:
        services.close()
    if args.store == "postgis":
        settle(url)
    return Instance(
        env,
        secret,
        views,
        json.loads(json.dumps(features)),
        f"{args.town} town: {len(stored):,} projects, {cases:,} cases, {args.store} "
        f"(filled in {time.perf_counter() - started:.0f} s)",
    )


def settle(url: str) -> None:
    """VACUUM and ANALYZE the PostGIS store after filling it, as after any bulk load: else
    autovacuum's first pass over the million and a half rows just written (cases, their
    involvements and history) runs within the measured minute, and the first reads set the
    rows' hint bits, writing their pages again."""
    store = open_store(url)
    assert isinstance(store, PostgisStore)
    try:
        store.vacuum()
    finally:
        store.close()


def district_views(
    bounds: np.ndarray, storage_crs: str, rng: np.random.Generator, count: int
) -> list[str]:
    """Seeded lon/lat bboxes of VIEW × VIEW squares inside the projects' extent."""
    to_lonlat = pyproj.Transformer.from_crs(storage_crs, "EPSG:4326", always_xy=True)
    x0, y0, x1, y1 = (float(v) for v in bounds)
    half = VIEW / 2
    xs = rng.uniform(x0 + half, max(x1 - half, x0 + half), count)
    ys = rng.uniform(y0 + half, max(y1 - half, y0 + half), count)
    boxes = []
    for x, y in zip(xs, ys, strict=True):
        lon0, lat0 = to_lonlat.transform(x - half, y - half)
        lon1, lat1 = to_lonlat.transform(x + half, y + half)
        boxes.append(f"{lon0:.6f},{lat0:.6f},{lon1:.6f},{lat1:.6f}")
    return boxes


# --------------------------------------------------------------------------- the load


def moved(feature: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """The feature shifted by 5–50 m (in degrees, near enough at 51° N)."""
    distance, angle = rng.uniform(5, 50), rng.uniform(0, 2 * np.pi)
    dx = distance * np.cos(angle) / 70_000
    dy = distance * np.sin(angle) / 111_000
    geometry = shapely.geometry.shape(feature["geometry"])
    shifted = shapely.affinity.translate(geometry, dx, dy)
    return {**feature, "geometry": shapely.geometry.mapping(shifted)}


async def client(
    number: int,
    session: aiohttp.ClientSession,
    base: str,
    instance: Instance,
    own: list[dict[str, Any]],
    until: float,
    measure_from: float,
    tally: Tally,
) -> None:
    """One map user: the mix of requests, one after the other, until ``until``."""
    rng = np.random.default_rng(number)
    versions = {}  # read now: an earlier round (another worker count) has moved them
    for feature in own:
        async with session.get(f"{base}/api/projects/{feature['id']}") as r:
            versions[feature["id"]] = (await r.json(content_type=None))["properties"]["version"]
    step = int(rng.integers(len(MIX)))
    while (now := time.perf_counter()) < until:
        kind = MIX[step % len(MIX)]
        step += 1
        bbox = instance.views[int(rng.integers(len(instance.views)))]
        method, path, body, headers = "GET", "", None, {}
        if kind == "projects":
            path = f"/api/projects?bbox={bbox}&limit={LIMIT}"
        elif kind == "points":
            path = f"/api/projects/points?bbox={bbox}"
        elif kind == "cases":
            path = f"/api/cases?bbox={bbox}&limit={LIMIT}"
        else:
            feature = own[int(rng.integers(len(own)))]
            method, path = "PUT", f"/api/projects/{feature['id']}"
            body = moved(feature, rng)
            headers = {"If-Match": f'"v{versions[feature["id"]]}"'}
        started = time.perf_counter()
        try:
            async with session.request(method, base + path, json=body, headers=headers) as r:
                payload = await r.read()
                if r.status >= 300:
                    if now >= measure_from:
                        tally.errors[f"{kind}: {r.status} {payload[:120]!r}"] += 1
                    continue
                if kind == "save":
                    versions[feature["id"]] = json.loads(payload)["properties"]["version"]
        except (aiohttp.ClientError, TimeoutError) as exc:
            if now >= measure_from:
                tally.errors[f"{kind}: {type(exc).__name__}"] += 1
            continue
        if started >= measure_from:
            tally.seconds[kind].append(time.perf_counter() - started)


async def load(base: str, instance: Instance, args: argparse.Namespace, pid: int) -> Tally:
    tally = Tally()
    connector = aiohttp.TCPConnector(limit=args.clients)
    # The map asks in its page's language (German unless its user switched).
    headers = {"Authorization": f"Bearer {instance.secret}", "Accept-Language": "de"}
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=timeout
    ) as session:
        start = time.perf_counter()
        measure_from = start + args.warm_up
        until = measure_from + args.duration
        per_client = max(len(instance.features) // args.clients, 1)
        await asyncio.gather(
            cpu_while_measured(pid, measure_from, until, tally),
            *(
                client(
                    k,
                    session,
                    base,
                    instance,
                    instance.features[k * per_client : (k + 1) * per_client]
                    or instance.features[:1],
                    until,
                    measure_from,
                    tally,
                )
                for k in range(args.clients)
            ),
        )
    return tally


def wait_until_warm(base: str, workers: int, timeout: float = 900) -> float:
    """Seconds until every worker has built its detection index and rendered the projects
    and the newest cases (a worker does that beside serving at its start; measuring then
    would count it): ``/health`` on new connections, which the kernel spreads over the
    workers, says "warm" for all three 3 × ``workers`` times in a row."""
    started = time.perf_counter()
    in_a_row = 0
    while in_a_row < 3 * workers:
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"the workers were not warm after {timeout:.0f} s")
        with urllib.request.urlopen(f"{base}/health", timeout=60) as answer:
            checks = json.load(answer)["checks"]
        warm = all(checks[name] == "warm" for name in WARMED_UP)
        in_a_row = in_a_row + 1 if warm else 0
        if not warm:
            time.sleep(0.5)
    return time.perf_counter() - started


def report(workers: int, tally: Tally, duration: float) -> None:
    everything = [s for kind in KINDS for s in tally.seconds[kind]]
    errors = sum(tally.errors.values())
    rps = len(everything) / duration
    p50, p95, p99 = np.percentile(np.array(everything) * 1000, [50, 95, 99])
    print(
        f"{workers} worker{'s' if workers > 1 else ' '}: {rps:6.1f} requests/s  "
        f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  errors {errors}",
        flush=True,
    )
    print(
        f"    server CPU {tally.server_cpu / max(len(everything), 1) * 1000:.1f} ms per request "
        f"({tally.server_cpu / duration:.2f} cores busy); load generator "
        f"{tally.client_cpu / duration:.2f} cores"
    )
    for kind in KINDS:
        seconds = np.array(tally.seconds[kind]) * 1000
        if len(seconds):
            k50, k95 = np.percentile(seconds, [50, 95])
            print(f"    {kind:9s} {len(seconds):6d}  p50 {k50:6.1f} ms  p95 {k95:6.1f} ms")
    for cause, count in tally.errors.most_common(5):
        print(f"    error ×{count}: {cause}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--town", choices=("demo", "synthetic"), default="demo")
    parser.add_argument("--store", choices=STORES, default="sqlite")
    parser.add_argument("--workers", default="1,2", help="worker counts to run, e.g. 1,2")
    parser.add_argument(
        "--threads", type=int, help="request threads per worker (default: the setting's)"
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--warm-up", type=float, default=5.0, help="unmeasured seconds first")
    parser.add_argument("--projects", type=int, default=50_000, help="--town synthetic")
    parser.add_argument("--features", type=int, default=1_000_000, help="--town synthetic")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="20 clients for 15 s")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.duration = 20, 15.0
    worker_counts = [int(n) for n in args.workers.split(",")]

    with tempfile.TemporaryDirectory(prefix="zugabe-bench-load-") as tmp:
        folder = Path(tmp) / "instance"
        folder.mkdir()
        with store_url(args.store, Path(tmp)) as url:
            instance = prepare(args, folder, url)
            print(instance.description)
            threads = args.threads or Settings.model_fields["threads"].default
            print(
                f"{args.clients} clients, {args.duration:.0f} s measured after "
                f"{args.warm_up:.0f} s warm-up, {threads} request threads per worker; 30 % "
                "projects, 30 % points, 30 % cases by district-sized view, 10 % saves"
            )
            for workers in worker_counts:
                port = free_port()
                command = [
                    str(ZUGABE),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    str(workers),
                    *(["--threads", str(args.threads)] if args.threads else []),
                ]
                base = f"http://127.0.0.1:{port}"
                with running("zugabe", command, base, probe="/login", env=instance.env) as s:
                    warming = wait_until_warm(base, workers)
                    print(f"{workers} worker(s) warm after {warming:.1f} s", flush=True)
                    tally = asyncio.run(load(base, instance, args, s.process.pid))
                report(workers, tally, args.duration)


if __name__ == "__main__":
    main()
