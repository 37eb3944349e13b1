"""The good-practice collection: proposing a finished project, the release vote (one
organisation, one vote), withdrawing, photos checked by their content, and the public page,
GeoJSON and Atom feed that show released examples and nothing else."""

from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from tests.conftest import client_as, feature
from zugabe.cli import cli
from zugabe.errors import Forbidden, InvalidInput, NotFound
from zugabe.io.photos import demo_photo

SEWER_LINE = {
    "type": "LineString",
    "coordinates": [[7.2101, 51.54023], [7.2135, 51.54113], [7.2170, 51.54153]],
}


@dataclass
class Pair:
    """A Herne road renewal and a Bochum sewer beside it, their synergy agreed by both, the
    road works finished since (so the case is obsolete with its agreement on record)."""

    project: int
    other: int
    case: int
    clients: dict[str, FlaskClient]

    def __getitem__(self, username: str) -> FlaskClient:
        return self.clients[username]


def _agreed_pair(app: Flask, title: str = "Fahrbahnerneuerung Bahnhofstraße") -> Pair:
    users = ("r.admin", "h.planner", "h.coordinator", "h.viewer", "b.planner", "b.coordinator")
    clients = {u: client_as(app, u) for u in users}
    clients["anonymous"] = app.test_client()
    admin = clients["r.admin"]
    window = {"start": "2026-03-01", "end": "2026-10-31", "status": "under_construction"}
    road = admin.post("/api/projects", json=feature(title=title, **window)).get_json()
    sewer = admin.post(
        "/api/projects",
        json=feature(
            SEWER_LINE,
            title="Kanalsanierung Bahnhofstraße",
            organisation="bochum",
            department="drainage",
            measure_type="sewer_rehabilitation",
            **window,
        ),
    ).get_json()
    case = next(c for c in sewer["cases"] if c["properties"]["rule"] == "road_works_sewer_bundle")
    case_id = case["id"]
    proposal = {"kind": "bundle_works", "text": "Straße einmal öffnen: Kanal und Fahrbahn."}
    assert (
        clients["h.coordinator"].post(f"/api/cases/{case_id}/proposal", json=proposal).status_code
        == 201
    )
    for coordinator in ("h.coordinator", "b.coordinator"):
        answer = clients[coordinator].post(f"/api/cases/{case_id}/votes", json={"vote": "agree"})
        assert answer.status_code == 201, answer.get_json()
    done = admin.patch(f"/api/projects/{road['id']}", json={"properties": {"status": "done"}})
    assert done.status_code == 200, done.get_json()
    return Pair(road["id"], sewer["id"], case_id, clients)


@pytest.fixture
def pair(app: Flask) -> Pair:
    return _agreed_pair(app)


CONTENT: dict[str, Any] = {
    "title": "Bahnhofstraße: Kanal und Fahrbahn in einem Zug",
    "description": "Die Straße wurde einmal geöffnet: Kanal erneuert, Fahrbahn neu gebaut.",
    "costs_eur": 1250000,
    "costs_note": "Anteil Kanal 40 %",
    "lessons": "Früh gemeinsam ausschreiben.",
    "contacts": "Tiefbauamt Herne, 02323 16-0",
    "tags": ["road_renewal", "sewer_rehabilitation"],
}


def _propose(pair: Pair, who: str = "h.planner", **changes: Any) -> dict[str, Any]:
    answer = pair[who].post(
        "/api/good-practice", json={"project_id": pair.project, **CONTENT, **changes}
    )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def _public(client: FlaskClient, title: str) -> dict[str, bool]:
    """Where ``title`` shows to ``client``: the page, the GeoJSON, the feed."""
    page = client.get("/good-practice").get_data(as_text=True)
    geojson = client.get("/good-practice.geojson").get_json()
    feed = client.get("/good-practice.atom").get_data(as_text=True)
    return {
        "page": title in page,
        "geojson": any(f["properties"]["title"] == title for f in geojson["features"]),
        "feed": title in feed,
    }


NOWHERE = {"page": False, "geojson": False, "feed": False}
EVERYWHERE = {"page": True, "geojson": True, "feed": True}


def test_release_needs_every_organisation_involved(pair: Pair) -> None:
    example = _propose(pair)
    assert example["state"] == "proposed"
    assert example["involved"] == ["bochum", "herne"]
    assert [s["case_id"] for s in example["synergies"]] == [pair.case]
    assert example["synergies"][0]["decision_text"].startswith("Straße einmal öffnen")
    assert example["waiting_for"] == ["bochum", "herne"]
    anonymous = pair["anonymous"]
    assert _public(anonymous, CONTENT["title"]) == NOWHERE  # pending: nowhere public
    assert anonymous.get(f"/good-practice/{example['id']}").status_code == 404

    herne = pair["h.coordinator"].post(
        f"/api/good-practice/{example['id']}/votes", json={"vote": "agree"}
    )
    assert herne.status_code == 201
    assert herne.get_json()["waiting_for"] == ["bochum"]
    assert _public(anonymous, CONTENT["title"]) == NOWHERE

    bochum = pair["b.coordinator"].post(
        f"/api/good-practice/{example['id']}/votes", json={"vote": "agree"}
    )
    assert bochum.get_json()["state"] == "released"
    assert _public(anonymous, CONTENT["title"]) == EVERYWHERE
    page = anonymous.get(f"/good-practice/{example['id']}?lang=en").get_data(as_text=True)
    assert "Lessons learned" in page and "Früh gemeinsam ausschreiben." in page
    assert "Bundle road and sewer works" in page  # the synergy realised, by its rule
    geojson = anonymous.get("/good-practice.geojson")
    assert geojson.headers["Access-Control-Allow-Origin"] == "*"
    assert geojson.mimetype == "application/geo+json"
    assert geojson.get_json()["features"][0]["geometry"]["type"] == "LineString"


def test_one_organisation_one_vote_by_its_coordinator(pair: Pair) -> None:
    example = _propose(pair)
    votes = f"/api/good-practice/{example['id']}/votes"
    assert pair["h.planner"].post(votes, json={"vote": "agree"}).status_code == 403
    assert pair["r.admin"].post(votes, json={"vote": "agree"}).status_code == 403
    assert pair["anonymous"].post(votes, json={"vote": "agree"}).status_code == 401
    assert pair["h.coordinator"].post(votes, json={"vote": "agree"}).status_code == 201
    again = pair["h.coordinator"].post(votes, json={"vote": "object", "reason": "doch nicht"})
    assert again.status_code == 409
    assert "one vote" in again.get_json()["detail"]


def test_an_objection_needs_a_reason_and_sends_the_proposal_back(pair: Pair) -> None:
    example = _propose(pair)
    votes = f"/api/good-practice/{example['id']}/votes"
    pair["h.coordinator"].post(votes, json={"vote": "agree"})
    bare = pair["b.coordinator"].post(votes, json={"vote": "object"})
    assert bare.status_code == 422
    assert bare.get_json()["errors"][0]["pointer"] == "/reason"
    back = pair["b.coordinator"].post(votes, json={"vote": "object", "reason": "Kosten fehlen."})
    assert back.get_json()["state"] == "sent_back"
    assert _public(pair["anonymous"], CONTENT["title"]) == NOWHERE
    # Revised: proposed again, and the earlier votes no longer count.
    revised = pair["h.planner"].patch(
        f"/api/good-practice/{example['id']}", json={"costs_note": "Kanal 500.000 €"}
    )
    body = revised.get_json()
    assert (body["state"], body["round"], body["votes"]) == ("proposed", 2, [])
    assert body["costs_note"] == "Kanal 500.000 €" and body["lessons"] == CONTENT["lessons"]


def _release(pair: Pair, example_id: int) -> dict[str, Any]:
    for coordinator in ("h.coordinator", "b.coordinator"):
        answer = pair[coordinator].post(
            f"/api/good-practice/{example_id}/votes", json={"vote": "agree"}
        )
    return answer.get_json()


def test_withdrawing_takes_it_off_everywhere_and_is_audited(pair: Pair) -> None:
    example = _propose(pair)
    assert _release(pair, example["id"])["state"] == "released"
    url = f"/api/good-practice/{example['id']}/withdrawal"
    assert pair["h.planner"].post(url, json={"reason": "x"}).status_code == 403
    assert pair["b.coordinator"].post(url, json={"reason": " "}).status_code == 422
    withdrawn = pair["b.coordinator"].post(url, json={"reason": "Foto zeigt Privatgrund."})
    assert withdrawn.get_json()["state"] == "withdrawn"
    anonymous = pair["anonymous"]
    assert _public(anonymous, CONTENT["title"]) == NOWHERE
    assert anonymous.get(f"/good-practice/{example['id']}").status_code == 404
    audit = pair["r.admin"].get("/api/audit?action=good_practice.withdraw").get_json()
    entry = audit["entries"][0]
    assert entry["object_id"] == str(example["id"]) and entry["actor"] == "b.coordinator"
    assert entry["before"]["state"] == "released" and entry["after"]["state"] == "withdrawn"
    assert entry["after"]["withdraw_reason"] == "Foto zeigt Privatgrund."


def test_only_a_finished_project_and_only_by_an_organisation_involved(app: Flask) -> None:
    admin, planner = client_as(app, "r.admin"), client_as(app, "b.planner")
    planned = admin.post("/api/projects", json=feature()).get_json()
    refused = admin.post("/api/good-practice", json={"project_id": planned["id"], **CONTENT})
    assert refused.status_code == 409
    assert "not finished" in refused.get_json()["detail"]
    done = admin.post("/api/projects", json=feature(title="Fertig", status="done")).get_json()
    other = planner.post("/api/good-practice", json={"project_id": done["id"], **CONTENT})
    assert other.status_code == 403  # Bochum is not involved in a Herne project alone
    mine = client_as(app, "h.planner").post(  # a whole number, as JSON Schema counts
        "/api/good-practice", json={"project_id": float(done["id"]), **CONTENT}
    )
    assert mine.get_json()["involved"] == ["herne"]
    twice = admin.post("/api/good-practice", json={"project_id": done["id"], **CONTENT})
    assert twice.status_code == 409


def test_bad_content_is_refused_field_by_field(pair: Pair) -> None:
    for changes, pointer in (
        ({"title": " "}, "/title"),
        ({"costs_eur": -5}, "/costs_eur"),
        ({"tags": ["swimming_pool"]}, "/tags"),
        ({"description": "x" * 5001}, "/description"),
        ({"project_id": 2**63}, "/project_id"),  # beyond the store's 64 bits: the fuzzer's
        ({"project_id": 0}, "/project_id"),
    ):
        answer = pair["h.planner"].post(
            "/api/good-practice", json={"project_id": pair.project, **CONTENT, **changes}
        )
        assert answer.status_code == 422, changes
        assert answer.get_json()["errors"][0]["pointer"] == pointer


# ------------------------------------------------------------------ photos


def _with_gps(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data))
    exif = image.getexif()
    exif[0x8825] = {1: "N", 2: (51.0, 32.0, 24.0), 3: "E", 4: (7.0, 12.0, 36.0)}
    exif[0x010F] = "Kamerahersteller"
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def _gps(data: bytes) -> dict[int, Any]:
    return dict(Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825))


def _upload(pair: Pair, example_id: int, data: bytes, name: str = "foto.jpg", **form: str):
    return pair["h.planner"].post(
        f"/api/good-practice/{example_id}/photos",
        data={"file": (io.BytesIO(data), name, "image/jpeg"), **form},
        content_type="multipart/form-data",
    )


def _bomb() -> bytes:
    """A small PNG whose header claims 100,000 × 100,000 pixels."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG")
    data = bytearray(out.getvalue())
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def test_photos_with_bad_content_are_refused(pair: Pair) -> None:
    example = _propose(pair)
    photo = demo_photo(1, "Bahnhofstraße")
    for data, phrase in (
        (b"Das ist kein Bild, nur Text in einer .jpg-Datei.\n", "not a JPEG or PNG"),
        (photo[: len(photo) // 2], "truncated or damaged"),
        (_bomb(), "more than 50 megapixels"),
        (b"\xff\xd8" + b"\0" * (10 * 1024 * 1024 + 10), "larger than 10 MB"),
    ):
        answer = _upload(pair, example["id"], data)
        assert answer.status_code == 422, phrase
        assert phrase in answer.get_json()["detail"]
        assert answer.get_json()["errors"][0]["pointer"] == "/file"
    assert pair["h.planner"].get(f"/api/good-practice/{example['id']}").get_json()["photos"] == []


def test_gps_is_removed_unless_kept_and_thumbnails_are_made(pair: Pair) -> None:
    example = _propose(pair)
    original = _with_gps(demo_photo(2, "Mulde", width=3000, height=2000))
    assert _gps(original)
    stripped = _upload(pair, example["id"], original, caption="Mulde am Straßenrand")
    assert stripped.status_code == 201
    body = stripped.get_json()
    assert body["state"] == "proposed" and body["round"] == 2  # a photo is voted on too
    first = body["photos"][0]
    assert (first["width"], first["height"], first["kept_location"]) == (2400, 1600, False)
    kept = _upload(pair, example["id"], original, name="x.png", keep_location="true")
    second = kept.get_json()["photos"][1]
    assert second["kept_location"] is True
    reader = pair["h.viewer"]
    image = reader.get(first["url"])
    assert image.mimetype == "image/jpeg"
    assert _gps(image.data) == {}
    assert Image.open(io.BytesIO(image.data)).getexif()[0x010F] == "Kamerahersteller"
    assert _gps(reader.get(second["url"]).data)[1] == "N"
    thumbnail = Image.open(io.BytesIO(reader.get(first["thumbnail"]).data))
    assert max(thumbnail.size) == 360
    # Unreleased: not for the public, not even whether it exists.
    assert pair["anonymous"].get(first["url"]).status_code == 404
    _release(pair, example["id"])
    assert pair["anonymous"].get(first["thumbnail"]).status_code == 200
    page = pair["anonymous"].get(f"/good-practice/{example['id']}").get_data(as_text=True)
    assert first["thumbnail"] in page and "Mulde am Straßenrand" in page


# ------------------------------------------------------------------ the public page


def test_the_public_page_filters_escapes_and_speaks_both_languages(app: Flask) -> None:
    pair = _agreed_pair(app, title="<script>alert(1)</script> Straße")
    example = _propose(pair, title="<img src=x onerror=alert(1)> Beispiel")
    _release(pair, example["id"])
    anonymous = pair["anonymous"]
    page = anonymous.get("/good-practice").get_data(as_text=True)
    assert "<img src=x onerror" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "Gute Beispiele" in page and "Maßnahmenart" in page
    assert "Good practice" in anonymous.get("/good-practice?lang=en").get_data(as_text=True)
    feed = anonymous.get("/good-practice.atom")
    assert feed.mimetype == "application/atom+xml"
    assert "&lt;img src=x" in feed.get_data(as_text=True)

    def titles(query: str) -> list[str]:
        found = anonymous.get(f"/good-practice.geojson?{query}").get_json()["features"]
        return [f["properties"]["title"] for f in found]

    assert titles("measure_type=sewer_rehabilitation") == [example["title"]]  # a tag
    assert titles("measure_type=green_roof") == []
    assert titles("city=herne") == [example["title"]]
    assert titles("city=bochum") == []
    assert titles("synergy=road_works_sewer_bundle") == [example["title"]]
    assert titles("synergy=shared_trench") == []
    assert anonymous.get("/good-practice.geojson?colour=red").status_code == 400
    assert "Straßen- und Kanalbau bündeln" in anonymous.get(
        "/good-practice?synergy=road_works_sewer_bundle&lang=de"
    ).get_data(as_text=True)


# ------------------------------------------------------------------ the command line


def test_the_cli_lists_shows_and_withdraws_as_the_api_does(
    pair: Pair, instance_path: Path, runner: CliRunner
) -> None:
    example = _propose(pair)
    _release(pair, example["id"])
    instance = ["--instance", str(instance_path)]

    def zugabe(*args: str, user: str | None = None) -> Result:
        return runner.invoke(cli, [*instance, *(["--user", user] if user else []), *args])

    listed = zugabe("good-practice", "list")
    assert listed.exit_code == 0, listed.output
    assert "released" in listed.output and CONTENT["title"] in listed.output
    assert zugabe("good-practice", "list", "--state", "proposed").output == ""
    assert zugabe("good-practice", "list", "--state", "gone").exit_code == 2
    api = pair["h.viewer"].get(f"/api/good-practice/{example['id']}").get_json()
    shown = zugabe("good-practice", "show", str(example["id"]), "--json")
    assert json.loads(shown.output) == api
    assert json.loads(zugabe("good-practice", "list", "--json").output) == [api]
    text = zugabe("good-practice", "show", str(example["id"]), "--lang", "en").output
    assert f"good-practice example {example['id']}: {CONTENT['title']}" in text
    assert "state: released" in text and "vote: bochum agree by b.coordinator" in text
    assert "synergy: Bundle road and sewer works" in text and CONTENT["lessons"] in text
    assert isinstance(zugabe("good-practice", "show", "999").exception, NotFound)

    withdraw = ("good-practice", "withdraw", str(example["id"]), "--reason")
    assert "changes need an author" in zugabe(*withdraw, "Privatgrund").output
    assert isinstance(zugabe(*withdraw, "x", user="h.planner").exception, Forbidden)
    assert isinstance(zugabe(*withdraw, " ", user="b.coordinator").exception, InvalidInput)
    withdrawn = zugabe(*withdraw, "Foto zeigt Privatgrund.", user="b.coordinator")
    assert withdrawn.exit_code == 0, withdrawn.output
    assert "withdrawn: Foto zeigt Privatgrund." in withdrawn.output
    assert _public(pair["anonymous"], CONTENT["title"]) == NOWHERE
    audit = pair["r.admin"].get("/api/audit?action=good_practice.withdraw").get_json()
    entry = audit["entries"][0]
    assert entry["actor"] == "b.coordinator" and entry["address"].startswith("cli:")
    assert entry["after"]["withdraw_reason"] == "Foto zeigt Privatgrund."
