"""Benchmark: the strategies dashboard (``/strategies``) on the demo town, against a naive
geopandas overlay of the same figures.

Target (issue 15, item 3): the page is fast enough to open on every visit, at most 1 s for
the demo region.

The store is the embedded SQLite store in a temporary instance folder with the demo town of
``sample_data/`` loaded (layers, 150 projects, their cases; not measured). Measured, each
``--rounds`` times, the median printed:

- the whole page as a visit after a change sees it: ``GET /strategies`` through the app
  (in-process WSGI, a viewer's token), every chart computed from the store, drawn and
  rendered (the service's figures dropped before each round, as a write would);
- the same page again with nothing changed (the figures kept for the store's revision);
- each chart alone (``StrategyService.green_roofs`` …, the store reads included) and the
  cities they share (the districts dissolved by ``municipality``);
- the baseline, in the same process: the independent computation of
  ``tests/test_strategies.py`` (``geopandas.overlay`` for every area, ``sjoin`` for every
  count, on GeoDataFrames read from the same store), chart by chart.

    .venv/bin/python bench/bench_strategies.py                # 5 rounds
    .venv/bin/python bench/bench_strategies.py --rounds 11
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the baseline is the tests' independent computation

from tests.conftest import client_as  # noqa: E402
from tests.test_strategies import EXPECTED  # noqa: E402
from zugabe.domain.accounts import Actor, Role  # noqa: E402
from zugabe.services import Services  # noqa: E402
from zugabe.services.demo import load_demo_layers, load_demo_projects  # noqa: E402
from zugabe.services.strategies import CHARTS, StrategyService  # noqa: E402
from zugabe.web import create_app  # noqa: E402

TARGET_S = 1.0
ADMIN = Actor.system("bench", roles=frozenset({Role.REGION_ADMIN}))


def median_time(rounds: int, work: Callable[[], object], before: Callable[[], None]) -> float:
    times = []
    for _ in range(rounds):
        before()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of each, the median counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zugabe-bench-") as instance:
        app = create_app({"instance_path": instance})
        services: Services = app.extensions["zugabe"]
        started = time.perf_counter()
        load_demo_layers(services.layers, ROOT / "sample_data", ADMIN)
        load_demo_projects(services.projects, ROOT / "sample_data", ADMIN)
        print(f"demo town loaded in {time.perf_counter() - started:.1f} s (not measured)")
        client = client_as(app, "h.viewer")

        def forget() -> None:  # as a write would: the next visit computes anew
            services.strategies = StrategyService(
                services.store, services.policy, services.vocabulary, services.synergy
            )

        def visit() -> None:
            response = client.get("/strategies", headers={"Accept": "text/html"})
            assert response.status_code == 200, response.status_code

        strategies = services.strategies
        cities = strategies.cities()
        charts: dict[str, Callable[[], object]] = {
            "green-roofs": lambda: strategies.green_roofs(cities),
            "cooling": lambda: strategies.cooling(cities),
            "disconnection": strategies.disconnection,
            "attention": lambda: strategies.attention(ADMIN, cities),
        }
        visit()  # warm up imports, templates and the detection index (not measured)
        nothing = lambda: None  # noqa: E731
        rows = [
            ("page after a change (GET /strategies)", median_time(args.rounds, visit, forget)),
            ("page, nothing changed", median_time(args.rounds, visit, nothing)),
            (
                "cities (districts by municipality)",
                median_time(args.rounds, strategies.cities, nothing),
            ),
        ]
        baseline = {}
        for key in CHARTS:
            rows.append((f"chart {key}", median_time(args.rounds, charts[key], nothing)))
            baseline[key] = median_time(args.rounds, lambda k=key: EXPECTED[k](services), nothing)
        services.close()

    width = max(len(name) for name, _ in rows) + 2
    print(f"\n{'':{width}}{'ZUGABE':>10}{'geopandas':>12}{'ratio':>8}")
    for name, seconds in rows:
        key = name.removeprefix("chart ")
        if key in baseline:
            base = baseline[key]
            figures = f"{seconds * 1000:>8.1f} ms{base * 1000:>9.1f} ms{base / seconds:>7.1f}×"
            print(f"{name:{width}}{figures}")
        else:
            print(f"{name:{width}}{seconds * 1000:>8.1f} ms")
    total = sum(baseline.values())
    print(f"{'all four charts, geopandas':{width}}{'':>10}{total * 1000:>9.1f} ms")
    page = rows[0][1]
    verdict = "reached" if page <= TARGET_S else "NOT reached"
    print(f"\ntarget: the page after a change ≤ {TARGET_S:g} s: {page:.3f} s, {verdict}")


if __name__ == "__main__":
    main()
