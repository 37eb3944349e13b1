"""Issue 11, item 5: two concurrent PATCHes of different fields without ``If-Match`` never
lose an acknowledged change (read, merge and write happen in one transaction)."""

from __future__ import annotations

import threading

from flask import Flask

from tests.conftest import VALID_FEATURE, client_as

RACES = 400


def test_concurrent_patches_of_different_fields_keep_both(app: Flask) -> None:
    planner = client_as(app, "h.planner")
    pid = planner.post("/api/projects", json=VALID_FEATURE).get_json()["id"]
    clients = [client_as(app, "h.planner"), client_as(app, "r.admin")]
    fields = ("description", "contact")
    lost = 0
    for race in range(RACES):
        start = threading.Barrier(2)
        answers: list[int] = [0, 0]

        def patch(
            side: int,
            race: int = race,
            start: threading.Barrier = start,
            answers: list[int] = answers,
        ) -> None:
            start.wait()
            body = {"properties": {fields[side]: f"{fields[side]} {race}"}}
            answers[side] = clients[side].patch(f"/api/projects/{pid}", json=body).status_code

        threads = [threading.Thread(target=patch, args=(side,)) for side in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == [200, 200], answers
        stored = planner.get(f"/api/projects/{pid}").get_json()["properties"]
        lost += sum(stored[name] != f"{name} {race}" for name in fields)
    assert lost == 0, f"{lost} acknowledged changes lost in {RACES} races"
