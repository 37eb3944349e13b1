"""Whom to talk to (issue 12, item 5): a case names both subjects as people do and gives
organisation, department, contact and e-mail for each; the organisation responsible for a
layer, recorded at import, is involved in the cases of its features."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from flask import Flask

from tests.conftest import ADMIN, SAMPLE_DATA, client_as, feature
from zugabe.domain.accounts import Role, Scope
from zugabe.domain.cases import LIVE_STATUSES
from zugabe.services import Services
from zugabe.services.accounts import AccountInput
from zugabe.storage.contract import CaseQuery

LINE = {"type": "LineString", "coordinates": [[7.2101, 51.5402], [7.2135, 51.5411]]}


def test_a_layer_case_names_the_feature_its_street_and_the_responsible_organisation(
    app: Flask, demo_instance: Path
) -> None:
    services: Services = app.extensions["zugabe"]
    services.accounts.add(
        ADMIN,
        AccountInput(
            "e.steward",
            "Erik Kanal",
            "kanal@eglv.example",
            "eglv",
            roles=frozenset({Role.DATA_STEWARD, Role.COORDINATOR}),
            themes=("*",),
        ),
    )
    steward = services.accounts.token_actor(
        services.accounts.create_token(ADMIN, "e.steward", "t", Scope.WRITE)[1], "127.0.0.1"
    )
    # The water board's steward re-imports the sewer register: for the water board.
    sewers = SAMPLE_DATA / "layers" / "sewer_sections.geojson"
    services.layers.import_file(sewers, "sewer_sections", steward)
    stored = services.layers.describe(ADMIN, "sewer_sections")["stored"]
    assert stored["responsible_organisation"] == "eglv"
    cases = services.store.list_cases(CaseQuery(rule_ids=("road_works_poor_sewer",)))
    live = [c for c in cases if c.status in LIVE_STATUSES]
    assert live and all("eglv" in c.finding.organisations for c in live)
    # So the water board finds them in its inbox, and votes on them.
    water_board = client_as(app, None)
    water_board.environ_base["HTTP_AUTHORIZATION"] = (
        f"Bearer {services.accounts.create_token(ADMIN, 'e.steward', 'inbox', Scope.READ)[1]}"
    )
    inbox = water_board.get("/api/inbox?limit=1000").get_json()
    assert {c.id for c in live} <= {f["id"] for f in inbox["features"]}

    case = client_as(app, "h.coordinator").get(f"/api/cases/{live[0].id}").get_json()
    project, sewer = case["subjects"]
    stored = services.store.get_project(int(project["ref"]))
    assert stored is not None
    assert project["label"] == {"de": stored.attributes.title, "en": stored.attributes.title}
    assert project["contact"]["organisation"] == stored.attributes.organisation
    assert project["contact"]["department"] == stored.attributes.department
    # "Haltungen HE-H00605, Bahnhofstraße": the layer, the section and its street.
    assert sewer["label"]["de"].startswith(f"Haltungen {sewer['ref']}, ")
    assert sewer["label"]["en"].startswith(f"Sewer sections {sewer['ref']}, ")
    street = sewer["label"]["de"].split(", ", 1)[1]
    assert street in {f.attributes["name"] for f in services.store.layer_features("streets")}
    assert sewer["contact"] == {
        "organisation": "eglv",
        "department": None,
        "contact": "",
        "person": "Erik Kanal",
        "email": "kanal@eglv.example",
    }


def test_a_project_case_names_both_planners_with_their_email(app: Flask) -> None:
    services: Services = app.extensions["zugabe"]
    for username, name, organisation in (
        ("h.anna", "Anna Tief", "herne"),
        ("b.bert", "Bert Kanal", "bochum"),
    ):
        services.accounts.add(
            ADMIN,
            AccountInput(
                username,
                name,
                f"{username}@example.org",
                organisation,
                ("roads", "drainage"),
                frozenset({Role.PLANNER}),
            ),
        )

    def saved(username: str, **properties: Any) -> dict[str, Any]:
        client = client_as(app, None)
        secret = services.accounts.create_token(ADMIN, username, "t", Scope.WRITE)[1]
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
        response = client.post("/api/projects", json=feature(LINE, **properties))
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    saved("h.anna", title="Fahrbahn Ringstraße", contact="Tiefbauamt, Zi. 12")
    sewer = saved(
        "b.bert",
        title="Kanal Ringstraße",
        organisation="bochum",
        department="drainage",
        measure_type="sewer_rehabilitation",
    )
    case_id = sewer["cases"][0]["id"]
    case = client_as(app, "h.coordinator").get(f"/api/cases/{case_id}").get_json()
    contacts = {s["label"]["de"]: s["contact"] for s in case["subjects"]}
    assert contacts["Fahrbahn Ringstraße"] == {
        "organisation": "herne",
        "department": "roads",
        "contact": "Tiefbauamt, Zi. 12",
        "person": "Anna Tief",
        "email": "h.anna@example.org",
    }
    assert contacts["Kanal Ringstraße"]["email"] == "b.bert@example.org"


def test_an_unknown_responsible_organisation_is_refused(app: Flask) -> None:
    upload = (SAMPLE_DATA / "layers" / "stormwater_basins.geojson").read_bytes()
    response = client_as(app, "r.admin").post(
        "/api/layers/stormwater_basins",
        data={"file": (io.BytesIO(upload), "basins.geojson"), "organisation": "atlantis"},
    )
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["pointer"] == "/organisation"
    layer = client_as(app, "r.admin").get("/api/layers/stormwater_basins").get_json()
    assert layer["stored"] is None  # nothing stored
