"""Benchmark: the inbox of an organisation with 10,000 live cases, over HTTP.

Target (issue 12, deliverable 9): ``GET /api/inbox`` for a coordinator of an organisation
with 10,000 live cases answers in p95 ≤ 200 ms.

The store is the embedded SQLite store in a temporary instance folder. It holds
``--cases`` live cases of the organisation ``herne`` (with Bochum, Gelsenwasser or the
water board as the other side) among ``--others`` cases of other organisations, written
through ``sync_cases`` as detection writes them, with overlap polygons spread over the
region, windows from 2026 to 2031, every severity and relation. Then the desk is worked
as a region would: a tenth of Herne's cases assigned to the coordinator, 500 proposals
of which half have Herne's vote, 200 agreed; the coordinator has seen 3,000 cases. None
of this is measured.

The app runs under waitress (as ``zugabe serve``) on a free local port; one keep-alive
client with the coordinator's token sends ``--requests`` requests of each kind: the
default inbox page (100 cases, most urgent first, with the counts), the unread ones,
those assigned to me, the proposals waiting for our vote, those due within a month. For
comparison, in the same run: ``GET /api/cases?organisation=herne&limit=100`` (the plain
case list by id, no sorting by urgency, no read state).

    .venv/bin/python bench/bench_inbox.py                 # 10,000 of 50,000 cases
    .venv/bin/python bench/bench_inbox.py --quick         # 1,000 of 5,000
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
from shapely.geometry import box

from zugabe.domain.accounts import Actor, Role, Scope
from zugabe.domain.case_history import OBSOLETE_RULE
from zugabe.domain.cases import CaseFinding, Subject
from zugabe.services import Services
from zugabe.services.accounts import AccountInput
from zugabe.web import create_app
from zugabe.web.background import BackgroundServer

SYSTEM = Actor.system("bench", roles=frozenset({Role.REGION_ADMIN}))
COORDINATOR = "bench.coordinator"
OTHERS = ("bochum", "gelsenwasser", "eglv")
KINDS = {
    "inbox (first page)": "/api/inbox?limit=100",
    "unread": "/api/inbox?limit=100&unread=true",
    "assigned to me": "/api/inbox?limit=100&assigned=me",
    "waiting for our vote": "/api/inbox?limit=100&waiting=me",
    "due within a month": "/api/inbox?limit=100&due=month",
    "baseline: /api/cases by id": "/api/cases?organisation=herne&limit=100",
}


def findings(count: int, others: int, seed: int) -> list[CaseFinding]:
    """``count`` findings involving Herne and ``others`` not, spread over the region."""
    rng = random.Random(seed)
    result = []
    for n in range(count + others):
        organisations = ["herne", rng.choice(OTHERS)] if n < count else rng.sample(OTHERS, 2)
        x, y = 360_000 + rng.uniform(0, 40_000), 5_700_000 + rng.uniform(0, 30_000)
        start = date(2026, 1, 1) + timedelta(days=rng.randrange(6 * 365))
        a, b = Subject("project", str(2 * n + 1)), Subject("project", str(2 * n + 2))
        result.append(
            CaseFinding(
                pair_key=f"bench|{a.key}|{b.key}",
                rule_id="road_works_sewer_bundle",
                relation=rng.choice(("conflict", "synergy", "note")),
                severity=rng.choice(("high", "medium", "low")),
                subject_a=a,
                subject_b=b,
                geometry=box(x, y, x + 20, y + 8),
                measures={"overlap_area_m2": 160.0, "overlap_days": 90},
                organisations=tuple(sorted(organisations)),
                departments=("drainage", "roads"),
                message={"de": "Baumaßnahmen bündeln", "en": "Bundle the works"},
                window_start=start,
                window_end=start + timedelta(days=rng.randrange(30, 400)),
            )
        )
    return result


def work_the_desk(
    services: Services, coordinator: Actor, herne_cases: list[int], seed: int
) -> None:
    """Assignments, proposals, votes and reads, as a region's desk has them."""
    rng = random.Random(seed)
    desk = services.desk
    for case_id in rng.sample(herne_cases, len(herne_cases) // 10):
        desk.assign(case_id, COORDINATOR, coordinator, None)
    proposed = rng.sample(herne_cases, min(500, len(herne_cases) // 4))
    for n, case_id in enumerate(proposed):
        desk.propose(case_id, "bundle_works", "Eine Baustelle.", [], coordinator, None)
        if n % 2:
            desk.vote(case_id, "agree", "", coordinator)
    services.store.seen_cases(
        COORDINATOR, rng.sample(herne_cases, min(3000, len(herne_cases))), datetime.now(UTC)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="live cases of Herne")
    parser.add_argument("--others", type=int, default=40_000, help="cases of others")
    parser.add_argument("--requests", type=int, default=200, help="measured of each kind")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="1,000 of 5,000 cases")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.others, args.requests = 1_000, 4_000, 50

    with tempfile.TemporaryDirectory(prefix="zugabe-bench-") as instance:
        app = create_app({"instance_path": instance})
        services: Services = app.extensions["zugabe"]
        services.accounts.add(
            SYSTEM,
            AccountInput(
                username=COORDINATOR,
                display_name="Benchmark coordinator",
                organisation="herne",
                roles=frozenset({Role.COORDINATOR}),
            ),
        )
        _token, secret = services.accounts.create_token(SYSTEM, COORDINATOR, "bench", Scope.WRITE)
        coordinator = services.accounts.token_actor(secret, "127.0.0.1")
        started = time.perf_counter()
        sync = services.store.sync_cases(
            findings(args.cases, args.others, args.seed), None, "bench", OBSOLETE_RULE
        )
        herne_cases = list(sync.created[: args.cases])
        work_the_desk(services, coordinator, herne_cases, args.seed)
        print(
            f"store: {args.cases:,} live cases of herne among {args.cases + args.others:,} "
            f"(written and worked in {time.perf_counter() - started:.1f} s; not measured)"
        )
        server = BackgroundServer.start(app, threads=4)
        connection = http.client.HTTPConnection(server.url.removeprefix("http://"))
        headers = {"Authorization": f"Bearer {secret}"}
        try:
            figures = {}
            for name, path in KINDS.items():
                times = []
                for n in range(args.requests + 5):
                    started = time.perf_counter()
                    connection.request("GET", path, headers=headers)
                    response = connection.getresponse()
                    body = response.read()
                    elapsed = time.perf_counter() - started
                    if response.status != 200:
                        raise SystemExit(f"{path}: {response.status} {body[:300]!r}")
                    if n >= 5:  # the first ones warm caches up
                        times.append(elapsed)
                page = json.loads(body)
                p50, p95 = np.percentile(np.array(times) * 1000, [50, 95])
                figures[name] = p95
                print(
                    f"{name:28} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
                    f"({page['numberMatched']:,} matched, {page['numberReturned']} returned"
                    + (f", {page['unread']:,} unread)" if "unread" in page else ")")
                )
        finally:
            connection.close()
            server.stop()
            services.close()
    baseline = figures["baseline: /api/cases by id"]
    worst = max(v for k, v in figures.items() if not k.startswith("baseline"))
    print(
        f"worst inbox p95 {worst:.1f} ms (target ≤ 200 ms); "
        f"{worst / baseline:.2f}× the plain case list's p95"
    )


if __name__ == "__main__":
    main()
