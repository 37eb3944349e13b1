"""Benchmark: saving one project over HTTP, detection included, in a big store.

Target (issue 4, deliverable 7): with 50,000 projects and 1,000,000 layer features stored,
saving one project over HTTP — validation, the write, detection against the in-memory
index, syncing its cases and the response with those cases — takes p95 ≤ 50 ms, of which
the engine (``detect_for_project``) ≤ 5 ms.

The store is the embedded SQLite store in a temporary instance folder, filled with the
seeded synthetic region of ``bench_detection.py`` (same generator and ``--seed``). Filling
it, the batch run that creates the cases, and the warm-up that loads the detection index
are timed and printed but are not the figure. Then the app runs under waitress (the server
``zugabe serve`` uses) on a free local port, and one HTTP/1.1 keep-alive client sends
``--saves`` requests, alternating a PUT of an existing project moved by 5–50 m with a
POST of a new one copied from a random project; each request's wall time is measured at
the client. In the same run, the engine's share is measured as ``detect_for_project`` of
the same projects against the live index.

    .venv/bin/python bench/bench_save_http.py                # 50,000 × 1,000,000
    .venv/bin/python bench/bench_save_http.py --quick        # 5,000 × 100,000
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import time
from collections import Counter

import numpy as np
import shapely
from bench_detection import synthetic_region

from zugabe.domain.project import Project
from zugabe.engine import detect_for_project
from zugabe.io.geojson import project_to_feature
from zugabe.services import Services
from zugabe.storage.contract import LayerFeatureBatch, NewLayerVersion, NewProject
from zugabe.web import create_app
from zugabe.web.background import BackgroundServer

BATCH = 50_000


def fill(services: Services, projects: list[Project], layers: dict) -> None:
    """Write the region into the store: layers in batches, then all projects at once."""
    store = services.store
    for key, features in layers.items():
        batches = (
            LayerFeatureBatch(
                geometries=[f.geometry for f in chunk],
                attributes=[f.attributes for f in chunk],
                source_rows=[f.source_row for f in chunk],
                derived=[f.derived for f in chunk],
            )
            for chunk in (features[i : i + BATCH] for i in range(0, len(features), BATCH))
        )
        version = NewLayerVersion(key, "bench", None, "EPSG:25832", "none", "bench", {})
        store.replace_layer(version, batches)
    store.add_projects(NewProject(p.attributes, p.geometry, "bench") for p in projects)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=50_000)
    parser.add_argument("--features", type=int, default=1_000_000)
    parser.add_argument("--saves", type=int, default=400, help="HTTP saves measured")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="5,000 projects × 100,000 features")
    args = parser.parse_args()
    if args.quick:
        args.projects, args.features = 5_000, 100_000

    with tempfile.TemporaryDirectory(prefix="zugabe-bench-") as instance:
        app = create_app({"instance_path": instance})
        services: Services = app.extensions["zugabe"]
        started = time.perf_counter()
        projects, layers = synthetic_region(
            args.seed,
            args.projects,
            args.features,
            services.vocabulary,
            services.layers.definitions,
        )
        generated = time.perf_counter() - started
        started = time.perf_counter()
        fill(services, projects, layers)
        filled = time.perf_counter() - started
        del layers
        started = time.perf_counter()
        run = services.cases.detect_everything("bench")
        batch = time.perf_counter() - started
        started = time.perf_counter()
        services.cases.warm_up()
        warm = time.perf_counter() - started
        print(
            f"store: {args.projects:,} projects, {args.features:,} layer features "
            f"(generated {generated:.1f} s, written {filled:.1f} s; not measured)"
        )
        print(
            f"batch run through the service (load, detect_all, sync): {batch:.1f} s, "
            f"{run.findings:,} findings, {len(run.sync.created):,} cases created"
        )
        print(f"warm-up (index already current): {warm * 1000:.1f} ms")

        server = BackgroundServer.start(app, threads=8)
        connection = http.client.HTTPConnection(server.url.removeprefix("http://"))
        rng = np.random.default_rng(args.seed + 2)
        reprojector = services.projects.reprojector
        headers = {"Content-Type": "application/json", "X-Zugabe-User": "bench"}
        times: list[float] = []
        statuses: Counter[int] = Counter()
        case_counts: list[int] = []
        saved_ids: list[int] = []
        for k in range(args.saves):
            source = projects[int(rng.integers(len(projects)))]
            shift = rng.uniform(5, 50, 2) * rng.choice([-1, 1], 2)
            moved = Project(
                source.id,
                source.attributes,
                shapely.transform(source.geometry, lambda xy, s=shift: xy + s),
                source.created_at,
                source.created_by,
                source.updated_at,
                source.updated_by,
            )
            # Read-only members (id, version, timestamps) are ignored by the API.
            body = json.dumps(project_to_feature(moved, reprojector))
            if k % 2:
                method, path = "PUT", f"/api/projects/{source.id}"
            else:
                method, path = "POST", "/api/projects"
            started = time.perf_counter()
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            times.append(time.perf_counter() - started)
            statuses[response.status] += 1
            if response.status in (200, 201):
                answer = json.loads(payload)
                case_counts.append(len(answer["cases"]))
                saved_ids.append(int(answer["id"]))
        connection.close()
        server.stop()

        live = services.cases._live
        assert live is not None
        engine_times = []
        for project_id in saved_ids:
            project = live.index.project(project_id)
            assert project is not None
            started = time.perf_counter()
            detect_for_project(project, live.index, services.cases.rules)
            engine_times.append(time.perf_counter() - started)
        services.close()

    p50, p95, worst = np.percentile(np.array(times) * 1000, [50, 95, 100])
    e50, e95 = np.percentile(np.array(engine_times) * 1000, [50, 95])
    print(f"HTTP saves: {len(times)} ({dict(statuses)}), {np.mean(case_counts):.1f} cases each")
    print(f"    wall time per save:  p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {worst:.1f} ms")
    print("    target p95 <= 50 ms")
    print(f"    engine (detect_for_project): p50 {e50:.2f} ms, p95 {e95:.2f} ms  (target <= 5 ms)")


if __name__ == "__main__":
    main()
