"""Issue 11, item 7: every bad input gets a 4xx that says what is wrong, never a 5xx, and
nothing of it is stored; error texts show no path and quote little of the input."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import VALID_FEATURE, feature

JSON = {"Content-Type": "application/json"}
BODY = json.dumps(VALID_FEATURE)


def _csv(text: str, **form: str) -> dict[str, object]:
    return {"file": (io.BytesIO(text.encode("utf-8")), "projects.csv"), **form}


CASES: dict[str, tuple[Callable[[FlaskClient, int], object], int, str]] = {
    "deeply nested JSON": (
        lambda c, _: c.post("/api/projects", data="[" * 100_000 + "]" * 100_000, headers=JSON),
        422,
        "nested too deeply",
    ),
    "an integer of 4,400 digits": (
        lambda c, _: c.post("/api/projects", data=BODY.replace("850000", "9" * 4400), headers=JSON),
        422,
        "cannot be read",
    ),
    "a lone surrogate in the title": (
        lambda c, _: c.post(
            "/api/projects", data=BODY.replace("Fahrbahnerneuerung", "Fahr\\ud800"), headers=JSON
        ),
        422,
        "lone surrogate",
    ),
    "a control character in the title": (
        lambda c, _: c.post("/api/projects", json=feature(title="Bahn\x07hof")),
        422,
        "control character (U+0007)",
    ),
    "an end in the year 9999": (
        lambda c, _: c.post("/api/projects", json=feature(end="9999-12-31")),
        422,
        "years 1900 to 2200",
    ),
    "a geometry type that is an object": (
        lambda c, _: c.post(
            "/api/projects", json=feature(geometry={"type": {}, "coordinates": []})
        ),
        422,
        "unknown geometry type",
    ),
    "a geometry type that is a list": (
        lambda c, _: c.post(
            "/api/projects", json=feature(geometry={"type": [], "coordinates": []})
        ),
        422,
        "unknown geometry type",
    ),
    "an empty If-Match": (
        lambda c, pid: c.patch(
            f"/api/projects/{pid}",
            json={"properties": {"contact": "x"}},
            headers={"If-Match": '""'},
        ),
        412,
        "If-Match",
    ),
    "a version of 2^63 in If-Match": (
        lambda c, pid: c.patch(
            f"/api/projects/{pid}",
            json={"properties": {"contact": "x"}},
            headers={"If-Match": f'"v{2**63}"'},
        ),
        412,
        "If-Match",
    ),
    "a project id of 2^63": (lambda c, _: c.get(f"/api/projects/{2**63}"), 404, ""),
    "a case id of 2^63": (lambda c, _: c.get(f"/api/cases/{2**63}"), 404, ""),
    "a project id of 2^63, to replace": (
        lambda c, _: c.put(f"/api/projects/{2**63}", json={}),
        404,
        "",
    ),
    "a case id of 2^63, to vote": (
        lambda c, _: c.post(f"/api/cases/{2**63}/votes", json={"vote": "agree"}),
        404,
        "",
    ),
    "a cursor of 2^63": (lambda c, _: c.get(f"/api/projects?after={2**63}"), 400, "between 0 and"),
    "a cursor in other digits": (lambda c, _: c.get("/api/projects?after=²"), 400, "whole number"),
    "a bbox outside WGS84": (
        lambda c, _: c.get("/api/projects?bbox=-500,-100,500,100"),
        400,
        "longitude -180..180",
    ),
    "a search of 100,000 characters": (
        lambda c, _: c.get("/api/projects?q=" + "a" * 100_000),
        400,
        "at most 200 characters",
    ),
    "a cell size of nan": (lambda c, _: c.get("/api/synergy?cell_size=nan"), 400, "a number"),
    "a cell size of -5": (lambda c, _: c.get("/api/synergy?cell_size=-5"), 400, "above 0"),
    "limit=0 on cases": (lambda c, _: c.get("/api/cases?limit=0"), 400, "between 1 and"),
    "a two-character CSV delimiter": (
        lambda c, _: c.post(
            "/api/projects/import", data=_csv("title;x;y\na;1;2\n", delimiter="ab")
        ),
        422,
        "one character",
    ),
    "a CSV field of 140,000 characters": (
        lambda c, _: c.post(
            "/api/projects/import", data=_csv("title,x,y\n" + "a" * 140_000 + ",1,2\n")
        ),
        422,
        "line 2",
    ),
    "a GeoPackage that is not one": (
        lambda c, _: c.post(
            "/api/layers/trees",
            data={"file": (io.BytesIO(b"SQLite format 3\x00" + b"\x01" * 4000), "trees.gpkg")},
        ),
        422,
        "trees.gpkg cannot be read",
    ),
    "a zip whose shapefile is broken": (
        lambda c, _: c.post("/api/layers/trees", data={"file": (_broken_zip(), "trees.zip")}),
        422,
        "trees.zip cannot be read",
    ),
    "a project list that is no GeoPackage": (
        lambda c, _: c.post(
            "/api/projects/import",
            data={"file": (io.BytesIO(b"SQLite format 3\x00" + b"\x00" * 500), "p.gpkg")},
        ),
        422,
        "p.gpkg cannot be read",
    ),
}


def _broken_zip() -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("baeume.shp", b"\x00\x00\x27\x0a" + b"\x00" * 200)
        archive.writestr("baeume.dbf", b"not a dbf")
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_a_clear_4xx_and_stores_nothing(
    app: Flask, client: FlaskClient, name: str
) -> None:
    app.testing = False  # a bug must show as the 500 a user would get, not as an exception
    pid = client.post("/api/projects", json=VALID_FEATURE).get_json()["id"]
    call, status, words = CASES[name]
    response = call(client, pid)
    assert response.status_code == status, response.get_data(as_text=True)[:500]  # type: ignore[attr-defined]
    text = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert words in text
    assert not re.search(r"/(tmp|root|home|work|srv)/", text)  # no path of the machine
    assert len(text) < 3000  # the input is not echoed back
    listed = client.get("/api/projects").get_json()
    assert listed["numberMatched"] == 1  # nothing but the first project
    assert listed["features"][0]["properties"]["version"] == 1


def test_a_huge_unknown_value_is_not_echoed_back(client: FlaskClient) -> None:
    huge = "x" * 10_000_000
    response = client.post("/api/projects", json=feature(organisation=huge))
    assert response.status_code == 422
    assert len(response.get_data()) < 5_000
    assert "10,000,002 characters" in response.get_json()["detail"]
