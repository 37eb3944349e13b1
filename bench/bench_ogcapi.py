"""Benchmark: ZUGABE's OGC API – Features against pygeoapi and tipg on the same 50,000 projects.

Targets (issue 13, item 7): with 8 concurrent clients of ``items?bbox=…&limit=1000`` over
random district-sized views, ZUGABE serves ≥ 1.5× the requests per second of pygeoapi and
≥ 1.0× those of tipg, both on the same projects in PostGIS with a GiST index.

Data: the seeded projects of ``bench_detection.py`` (``synthetic_region``, ``--seed``), written
(a) into ZUGABE's SQLite store in a temporary instance folder, served by ``zugabe serve``
(gunicorn, its default request threads per worker) in a child process with a read token;
(b)/(c) into a throwaway PostgreSQL 15 + PostGIS 3 cluster (``postgis_baseline.py``; table
``projects``: id, the attributes, geometry in EPSG:4326 with a GiST index, VACUUM ANALYZEd;
rows copied with bound values), served by pygeoapi's PostgreSQL provider under gunicorn (as
many threads per worker as ZUGABE) and by tipg under uvicorn, each in its own venv under
``bench/.venvs`` (``ogc_servers.py``). ``--workers 1,2`` runs every server once with one and
once with two worker processes, and compares them at equal counts. Storing lon/lat spares both the
reprojection that ZUGABE does per request (it stores EPSG:25832): the comparison is their
best case. All servers listen on
loopback; the clients are threads of this process, each with its own keep-alive connection,
reading whole responses.

Views: ``--views`` seeded squares of 2 × 2 km (about a district of the demo town) with centres
uniform in the region, as CRS84 ``bbox``; every server gets the same views in the same order.
Measured per server: single client p50/p95 over ``--requests`` requests (after ``--warm-up``),
requests per second with ``--clients`` clients over ``--concurrent`` requests, and the time to
page through all projects with ``limit=1000`` following the ``next`` links (features counted).

If ZUGABE has no ``/ogc`` yet, it is skipped with a message and the others still run::

    .venv/bin/python bench/bench_ogcapi.py            # 50,000 projects
    .venv/bin/python bench/bench_ogcapi.py --quick    # 5,000 projects, fewer requests
    .venv/bin/python bench/bench_ogcapi.py --workers 1,2  # one and two processes each
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
import shapely
from bench_detection import SIZE, X0, Y0, synthetic_region
from ogc_servers import (
    ServerProcess,
    collection,
    free_port,
    pygeoapi_config,
    running,
    start_pygeoapi,
    start_tipg,
)
from postgis_baseline import PostgisBaseline
from psycopg import sql

from zugabe.config import Settings
from zugabe.domain.accounts import Actor, Role, Scope
from zugabe.domain.project import Project
from zugabe.services import Services
from zugabe.services.accounts import AccountInput
from zugabe.storage.contract import NewProject
from zugabe.web import create_app

SYSTEM = Actor.system("bench", roles=frozenset({Role.REGION_ADMIN}))
VIEW = 2_000.0  # metres: a district of the demo town
LIMIT = 1000
ZUGABE_THREADS = Settings.model_fields["threads"].default  # pygeoapi gets as many
TO_LONLAT = pyproj.Transformer.from_crs(25832, 4326, always_xy=True)


@dataclass
class Target:
    """One server under test: where its projects' items are, and how to ask."""

    name: str
    host: str
    port: int
    items: str  # path of the projects' items
    headers: dict[str, str]


@dataclass
class Figures:
    p50: float
    p95: float
    rps: float
    page_seconds: float
    paged: int
    matched: list[int]


def views(seed: int, count: int) -> list[str]:
    """Seeded CRS84 bboxes of VIEW × VIEW squares inside the region."""
    rng = np.random.default_rng(seed + 13)
    half = VIEW / 2
    xs = rng.uniform(X0 + half, X0 + SIZE - half, count)
    ys = rng.uniform(Y0 + half, Y0 + SIZE - half, count)
    boxes = []
    for x, y in zip(xs, ys, strict=True):
        lon0, lat0 = TO_LONLAT.transform(x - half, y - half)
        lon1, lat1 = TO_LONLAT.transform(x + half, y + half)
        boxes.append(f"{lon0:.6f},{lat0:.6f},{lon1:.6f},{lat1:.6f}")
    return boxes


def get(conn: http.client.HTTPConnection, target: Target, path: str) -> bytes:
    conn.request("GET", path, headers=target.headers)
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{target.name}: {path} answered {response.status}: {body[:300]!r}")
    return body


def bbox_path(target: Target, bbox: str) -> str:
    return f"{target.items}?{urllib.parse.urlencode({'bbox': bbox, 'limit': LIMIT})}"


def single_client(target: Target, boxes: Sequence[str], warm_up: int) -> tuple[list[float], list]:
    """Seconds per request, one keep-alive client; the features returned per view."""
    conn = http.client.HTTPConnection(target.host, target.port, timeout=120)
    for bbox in boxes[:warm_up]:
        get(conn, target, bbox_path(target, bbox))
    seconds, returned = [], []
    for bbox in boxes:
        started = time.perf_counter()
        body = get(conn, target, bbox_path(target, bbox))
        seconds.append(time.perf_counter() - started)
        returned.append(len(json.loads(body)["features"]))
    conn.close()
    return seconds, returned


def concurrent(target: Target, boxes: Sequence[str], clients: int) -> float:
    """Requests per second of ``clients`` keep-alive clients sharing the views."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(clients + 1)

    def work(mine: Sequence[str]) -> None:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=120)
        barrier.wait()
        try:
            for bbox in mine:
                get(conn, target, bbox_path(target, bbox))
        except BaseException as exc:
            errors.append(exc)
        conn.close()

    threads = [threading.Thread(target=work, args=(boxes[k::clients],)) for k in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return len(boxes) / elapsed


def page_through(target: Target) -> tuple[float, int]:
    """Seconds to fetch every project, ``limit=1000`` pages following ``next``; features."""
    conn = http.client.HTTPConnection(target.host, target.port, timeout=300)
    path: str | None = f"{target.items}?limit={LIMIT}"
    total = 0
    started = time.perf_counter()
    while path is not None:
        page = json.loads(get(conn, target, path))
        total += len(page["features"])
        nxt = [link["href"] for link in page.get("links", []) if link.get("rel") == "next"]
        path = None
        if nxt and page["features"]:
            parts = urllib.parse.urlsplit(nxt[0])
            path = parts.path + (f"?{parts.query}" if parts.query else "")
    conn.close()
    return time.perf_counter() - started, total


def measure(target: Target, args: argparse.Namespace, boxes: list[str]) -> Figures:
    seconds, returned = single_client(target, boxes[: args.requests], args.warm_up)
    p50, p95 = (float(v) for v in np.percentile(np.array(seconds) * 1000, [50, 95]))
    rps = concurrent(target, boxes[: args.concurrent], args.clients)
    page_seconds, paged = page_through(target)
    return Figures(p50, p95, rps, page_seconds, paged, returned)


# --------------------------------------------------------------------------- the servers


def zugabe_instance(projects: list[Project], folder: Path) -> tuple[Path, dict[str, str]]:
    """ZUGABE's store with the projects and a read token: the instance and the headers."""
    instance = folder / "instance"
    app = create_app({"instance_path": instance})
    services: Services = app.extensions["zugabe"]
    services.store.add_projects(NewProject(p.attributes, p.geometry, "bench") for p in projects)
    services.accounts.add(
        SYSTEM,
        AccountInput(
            username="bench.reader",
            display_name="Benchmark reader",
            roles=frozenset({Role.REGION_ADMIN}),
        ),
    )
    _token, secret = services.accounts.create_token(SYSTEM, "bench.reader", "bench", Scope.READ)
    services.close()
    return instance, {"Authorization": f"Bearer {secret}", "Accept": "application/geo+json"}


@contextmanager
def zugabe_server(instance: Path, headers: dict[str, str], workers: int) -> Iterator[Target | None]:
    """``zugabe serve --workers N`` of the instance on a free port; None if no /ogc."""
    port = free_port()
    zugabe = Path(sys.executable).parent / "zugabe"
    command = [str(zugabe), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    env = {"ZUGABE_INSTANCE_PATH": str(instance)}
    name = server_name("zugabe", workers)
    with running(name, command, f"http://127.0.0.1:{port}", probe="/", env=env) as server:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/ogc/collections/projects?f=json", headers=headers)
        status = conn.getresponse().status
        conn.close()
        if status != 200:
            print(
                f"ZUGABE skipped: /ogc/collections/projects answers {status} — the OGC API "
                "(issue 13) is not in this tree yet; pygeoapi and tipg still run"
            )
            yield None
            return
        yield Target(server.name, "127.0.0.1", port, "/ogc/collections/projects/items", headers)


def load_postgis(pg: PostgisBaseline, projects: list[Project]) -> float:
    """Table ``projects`` (lon/lat, GiST index), rows copied with bound values; seconds."""
    started = time.perf_counter()
    db = pg.db
    db.execute(
        """CREATE TABLE projects (
            id bigint PRIMARY KEY, title text, organisation text, department text,
            measure_type text, status text, start_day date, end_day date,
            geom geometry(Geometry, 4326) NOT NULL)"""
    )
    lonlat = shapely.transform(
        np.array([p.geometry for p in projects]),
        lambda xy: np.column_stack(TO_LONLAT.transform(xy[:, 0], xy[:, 1])),
    )
    wkb = shapely.to_wkb(shapely.set_srid(lonlat, 4326), hex=True, include_srid=True)
    with db.cursor() as cur, cur.copy(sql.SQL("COPY projects FROM STDIN")) as copy:
        for number, (project, geom) in enumerate(zip(projects, wkb, strict=True), start=1):
            a = project.attributes
            copy.write_row(
                (
                    number,
                    a.title,
                    a.organisation,
                    a.department,
                    a.measure_type,
                    a.status.value,
                    a.start,
                    a.end,
                    geom,
                )
            )
    db.execute("CREATE INDEX ON projects USING gist (geom)")
    db.execute("VACUUM ANALYZE projects")
    return time.perf_counter() - started


def server_name(name: str, workers: int) -> str:
    """A server as the figures name it: ``tipg``, or ``tipg×2`` with two worker processes."""
    return name if workers == 1 else f"{name}×{workers}"


@contextmanager
def reference_servers(
    pg: PostgisBaseline, folder: Path, which: Sequence[str], workers: int
) -> Iterator[list[Target]]:
    """pygeoapi (PostgreSQL provider) and tipg on the PostGIS table, ``workers`` processes."""
    assert pg.directory is not None
    targets: list[Target] = []
    accept = {"Accept": "application/geo+json"}
    with ExitStack() as stack:
        if "pygeoapi" in which:
            port = free_port()
            provider = {
                "type": "feature",
                "name": "PostgreSQL",
                "data": {
                    "host": "127.0.0.1",
                    "port": 5432,
                    "dbname": "postgres",
                    "user": "postgres",
                    "password": "",
                    "search_path": ["public"],
                },
                "id_field": "id",
                "table": "projects",
                "geom_field": "geom",
            }
            config = pygeoapi_config(
                folder / "pygeoapi.json",
                f"http://127.0.0.1:{port}",
                {"projects": collection("projects", [6.9, 51.3, 7.5, 51.7], provider)},
            )
            server: ServerProcess = stack.enter_context(
                start_pygeoapi(config, port, threads=ZUGABE_THREADS, workers=workers)
            )
            name = server_name(server.name, workers)
            targets.append(Target(name, "127.0.0.1", port, "/collections/projects/items", accept))
        if "tipg" in which:
            port = free_port()
            url = "postgresql://postgres@127.0.0.1:5432/postgres"
            server = stack.enter_context(start_tipg(url, port, workers=workers))
            name = server_name(server.name, workers)
            items = "/collections/public.projects/items"
            targets.append(Target(name, "127.0.0.1", port, items, accept))
        yield targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--views", type=int, default=1000, help="seeded views (bboxes)")
    parser.add_argument("--requests", type=int, default=300, help="single-client requests")
    parser.add_argument("--warm-up", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=800, help="requests with --clients")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--servers", default="zugabe,pygeoapi,tipg")
    parser.add_argument("--quick", action="store_true", help="5,000 projects, 60/160 requests")
    parser.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1],
        help="worker processes of every server, one round each (e.g. 1,2)",
    )
    args = parser.parse_args()
    if args.quick:
        args.projects, args.requests, args.concurrent, args.warm_up = 5_000, 60, 160, 5
    which = args.servers.split(",")
    boxes = views(args.seed, max(args.views, args.requests, args.concurrent))

    started = time.perf_counter()
    probe = create_app({"instance_path": tempfile.mkdtemp(prefix="zugabe-probe-")})
    services: Services = probe.extensions["zugabe"]
    projects, _layers = synthetic_region(
        args.seed, args.projects, 2_000, services.vocabulary, services.layers.definitions
    )
    services.close()
    print(f"generated {len(projects):,} projects in {time.perf_counter() - started:.1f} s")

    results: dict[str, Figures] = {}

    def run(target: Target) -> None:
        started = time.perf_counter()
        try:
            results[target.name] = measure(target, args, boxes)
        except RuntimeError as exc:  # a server answering 500 under load: said, not fatal
            print(f"{target.name:11s} failed: {str(exc)[:160]}", flush=True)
            return
        f = results[target.name]
        print(
            f"{target.name:11s} p50 {f.p50:7.1f} ms  p95 {f.p95:7.1f} ms  "
            f"{f.rps:6.1f} req/s ({args.clients} clients)  all {f.paged:,} in "
            f"{f.page_seconds:5.1f} s  (measured in {time.perf_counter() - started:.0f} s)",
            flush=True,
        )

    with tempfile.TemporaryDirectory(prefix="zugabe-bench-ogc-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        instance, headers = zugabe_instance(projects, folder) if "zugabe" in which else (None, {})
        pg = None
        if {"pygeoapi", "tipg"} & set(which):
            pg = stack.enter_context(
                PostgisBaseline(
                    parallel_workers=0,
                    settings={"max_connections": "200", "listen_addresses": "'127.0.0.1'"},
                )
            )
            print(f"postgis: loaded in {load_postgis(pg, projects):.1f} s ({pg.describe()})")
        for workers in args.workers:
            if instance is not None:
                with zugabe_server(instance, headers, workers) as target:
                    if target is not None:
                        run(target)
            if pg is not None:
                with reference_servers(pg, folder, which, workers) as targets:
                    for target in targets:
                        run(target)

    names = list(results)
    if len(names) > 1:
        first = results[names[0]].matched
        for name in names[1:]:
            other = results[name].matched
            differ = sum(a != b for a, b in zip(first, other, strict=True))
            print(f"views where {names[0]} and {name} return different counts: {differ}")
    for workers in args.workers:
        mine = server_name("zugabe", workers)
        for other, target in (("pygeoapi", 1.5), ("tipg", 1.0)):
            theirs = server_name(other, workers)
            if mine in results and theirs in results:
                ratio = results[mine].rps / results[theirs].rps
                print(
                    f"throughput {mine} / {theirs}: {ratio:.2f}× (target ≥ {target}×), "
                    f"{workers} worker process{'es' if workers > 1 else ''} each"
                )


if __name__ == "__main__":
    main()
