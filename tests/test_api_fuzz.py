"""Schemathesis against the app in-process: the OpenAPI document is the truth.

Every operation is fuzzed with all of Schemathesis' checks (no server error; only
documented status codes, content types and headers; responses as their schemas say;
schema-valid requests accepted and schema-violating ones refused; authentication enforced;
405 for other methods; no use after delete): alone, through the examples, coverage and
fuzzing phases (``test_operation``), and in sequences along the document's links
(``test_workflows``). Each test starts from its own copy of the demo town and acts as a
region admin, who may do everything.

The budget is bounded and the run seeded, so CI sees the same requests every time.
"""

from __future__ import annotations

import copy
import math
import re
import shutil
from itertools import count
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck

from tests.conftest import ADMIN, default_document, ensure_account
from zugabe.config import Settings
from zugabe.domain.accounts import Scope
from zugabe.domain.vocabulary import Vocabulary
from zugabe.io.crs import Reprojector
from zugabe.services import Services
from zugabe.services.synergy import MAX_CELLS
from zugabe.web import create_app

FUZZ_EXAMPLES = 12
"""Generated cases per operation in the fuzzing phase (the coverage phase adds its own
boundary cases, from a few dozen to several hundred for the project writes). With 52
operations and the workflows, about 6,000 requests: 80 s on two cores, up to two minutes
while other jobs run. Raise it locally to look harder."""
WORKFLOWS = 20
"""Stateful sequences along the links, each at most ``WORKFLOW_STEPS`` calls."""
WORKFLOW_STEPS = 8
SEED = 11
UPLOADS = ["importLayer", "importProjects"]
"""A schema cannot describe a readable GIS file, CRS or column mapping: their acceptance is
tested with real files (test_layer_import, test_project_import); every other check runs."""

SETTINGS = Settings()
VOCABULARY = Vocabulary.default()
DOCUMENT = default_document()
"""The document of a default instance; ``fuzzed_app`` checks that the app serves this one."""
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]
REFUSED = [
    "400",
    "401",
    "403",
    "404",
    "405",
    "406",
    "409",
    "412",
    "415",
    "422",
    "428",
    "429",
    "5xx",
]
"""Schemathesis' statuses for schema-valid and schema-violating requests, both with 412: an
If-Match that names no current version fails, whatever the rest (RFC 9110 §13.2.1 evaluates
preconditions before the content), on the object's state, not the request's shape."""

schema = schemathesis.openapi.from_dict(
    copy.deepcopy(DOCUMENT),  # Schemathesis adds the links it infers to its copy
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": FUZZ_EXAMPLES,
                "deterministic": True,
                "database": "none",
                # The test sends a real token (``FuzzedApp.authorization``), not made-up ones.
                "with-security-parameters": False,
            },
            "checks": {
                "positive_data_acceptance": {"expected-statuses": ACCEPTED},
                "negative_data_rejection": {"expected-statuses": REFUSED},
            },
            "operations": [
                {
                    "include-operation-id": UPLOADS,
                    "checks": {"positive_data_acceptance": {"enabled": False}},
                },
                {
                    # OGC API paths overlap by design: /collections/{id}/items/{fid} (read,
                    # any collection) and /collections/projects/items/{fid} (Part 4 writes)
                    # are one URL, so it takes, and its Allow names, the methods of both.
                    "include-path-regex": "^/ogc/collections/",
                    "checks": {
                        "allow_header_conformance": {"enabled": False},
                        "unsupported_method": {"enabled": False},
                    },
                },
            ],
        }
    ),
)


class FuzzedApp:
    """The WSGI entry of the schema: the app of the running test, a fresh one each time,
    and the region admin's bearer token its requests carry."""

    def __init__(self) -> None:
        self.app: Flask | None = None
        self._token: tuple[int, str] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.app is not None, "use the fuzzed_app fixture"
        return self.app(environ, start_response)

    def start(self, app: Flask) -> None:
        self.app, self._token = app, None

    def authorization(self) -> dict[str, str]:
        """The header of a live token: a new one should the fuzzer have revoked it."""
        assert self.app is not None
        services: Services = self.app.extensions["zugabe"]
        stored = services.store.get_token(self._token[0]) if self._token else None
        if stored is None or stored.revoked_at is not None:
            ensure_account(services, "r.admin")
            token, secret = services.accounts.create_token(ADMIN, "r.admin", "fuzz", Scope.WRITE)
            self._token = token.id, secret
        assert self._token is not None
        return {"Authorization": f"Bearer {self._token[1]}"}


TESTED = FuzzedApp()
schema.app = TESTED  # what schemathesis.openapi.from_wsgi sets: calls go to the app in-process


def serve(app: Flask) -> None:
    """Send the cases to ``app``, once it is seen to serve the document they come from."""
    assert app.test_client().get("/api/openapi.json").get_json() == DOCUMENT
    TESTED.start(app)


@pytest.fixture
def fuzzed_app(demo_instance: Path, app: Flask) -> Flask:
    """The demo town's app, a fresh copy for each operation."""
    serve(app)
    return app


# ---------------------------------------------------------------- rules said in prose

PROJECT_WRITES = (
    "/api/projects",
    "/api/projects/{project_id}",
    "/ogc/collections/projects/items",
    "/ogc/collections/projects/items/{feature_id}",
)
OGC_ITEMS = re.compile(r"/ogc/collections/[^/]+/items")
_REGION = Reprojector(SETTINGS.storage_crs).bbox_to_storage(SETTINGS.region_bbox).bounds
SMALLEST_REGION_CELL = max(_REGION[2] - _REGION[0], _REGION[3] - _REGION[1]) / (
    math.sqrt(MAX_CELLS) - 1
)
"""The smallest synergy cell a grid over the whole region may have."""


@schema.hook
def map_case(_ctx: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    """Let schema-valid cases also follow the rules the document can only say in words
    (a box's minimum below its maximum, a period's end not before its start, an area report
    of a district or a box, a project's department of its organisation …), so that a
    refusal of one is a finding. Schema-violating cases stay as they were generated."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return case
    case.query = _ordered_query(case.query or {}, case.operation.path)
    if case.operation.path in PROJECT_WRITES and isinstance(case.body, dict):
        case.body = _plausible_project(case.body)
    if case.operation.path == "/api/subscriptions" and isinstance(case.body, dict):
        case.body = _plausible_subscriptions(case.body)
    if OGC_ITEMS.fullmatch(case.operation.path):  # a filter of the queryables, a real
        for name in ("filter", "filter-lang", "filter-crs"):  # day: said in words only
            case.query.pop(name, None)
        if "datetime" in case.query:
            case.query["datetime"] = "2027-01-01/.."
    if case.operation.path == "/api/cases/{case_id}/assignee":  # a person of the case's
        case.body = {"assignee": None}  # organisations, says the document: here nobody
    return case


def _ordered_query(query: dict[str, Any], path: str) -> dict[str, Any]:
    query = dict(query)
    if isinstance(query.get("bbox"), str):
        values = [float(v) for v in query["bbox"].split(",")]
        lons, lats = sorted(values[0::2]), sorted(values[1::2])
        if lons[0] < lons[1] and lats[0] < lats[1]:
            query["bbox"] = f"{lons[0]},{lats[0]},{lons[1]},{lats[1]}"
        else:  # a box of no area: leave it out
            del query["bbox"]
    if isinstance(query.get("from"), str) and isinstance(query.get("to"), str):
        query["from"], query["to"] = sorted([query["from"], query["to"]])
    if "cell_size" in query:  # a synergy grid of at most MAX_CELLS over the whole region
        query["cell_size"] = max(float(query["cell_size"]), SMALLEST_REGION_CELL)
    if path.startswith("/reports/area"):  # a district or a box: keep one, or make one
        if "district" in query:
            query.pop("bbox", None)
        else:
            query.setdefault("bbox", ",".join(map(str, SETTINGS.region_bbox)))
    return query


def _plausible_subscriptions(body: dict[str, Any]) -> dict[str, Any]:
    """Subscriptions of districts the demo town has, and an area that is a valid polygon."""
    body = dict(body)
    if "districts" in body:
        body["districts"] = []
    if body.get("area") is not None:
        min_lon, min_lat, max_lon, max_lat = SETTINGS.region_bbox
        lon, lat = (min_lon + max_lon) / 2, (min_lat + max_lat) / 2
        ring = [[lon, lat], [lon + 0.01, lat], [lon + 0.01, lat + 0.01], [lon, lat]]
        body["area"] = {"type": "Polygon", "coordinates": [ring]}
    return body


def _plausible_project(body: dict[str, Any]) -> dict[str, Any]:
    """A project body whose geometry, vocabulary keys, cost and window fit together."""
    body = dict(body)
    if "geometry" in body:
        min_lon, min_lat, max_lon, max_lat = SETTINGS.region_bbox
        body["geometry"] = {
            "type": "Point",
            "coordinates": [(min_lon + max_lon) / 2, (min_lat + max_lat) / 2],
        }
    properties = body.get("properties")
    if not isinstance(properties, dict):
        return body
    properties = dict(properties)
    vocabulary = VOCABULARY
    if {"organisation", "department", "measure_type"} & set(properties):
        organisation = properties.get("organisation")
        if organisation not in vocabulary.organisations:
            organisation = next(iter(vocabulary.organisations))
        departments = vocabulary.organisations[organisation].departments
        department = properties.get("department")
        if department not in departments:
            department = next(iter(departments))
        measure_types = vocabulary.departments[department].measure_types
        measure_type = properties.get("measure_type")
        if measure_type not in measure_types:
            measure_type = next(iter(measure_types))
        properties |= {
            "organisation": organisation,
            "department": department,
            "measure_type": measure_type,
        }
    if isinstance(properties.get("cost_eur"), int | float):
        cheapest = min(vocabulary.limits_of(m).max_cost_eur for m in vocabulary.measure_types)
        properties["cost_eur"] = min(properties["cost_eur"], cheapest)
    days = [properties.get(name) for name in ("start", "end")]
    if any(isinstance(d, str) and d for d in days):  # both, in order (a patch meets the stored)
        given = sorted(d for d in days if isinstance(d, str) and d)
        properties["start"], properties["end"] = given[0], given[-1]
    body["properties"] = properties
    return body


# ---------------------------------------------------------------------------- the tests


FUZZED = schema.exclude(operation_id_regex=r"^getOgcItemsOf_(?!projects$|cases$|trees$)")
"""Every operation; of the collections' own items paths (the same view, with a parameter per
queryable) those of projects, cases and one layer."""


@FUZZED.parametrize()
@hypothesis.settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_operation(case: schemathesis.Case, fuzzed_app: Flask) -> None:
    case.call_and_validate(headers=TESTED.authorization())


def test_workflows(demo_template: Path, tmp_path: Path) -> None:
    """Sequences along the links: create a project, then read, change, report, delete it."""
    towns = count()

    # Part 4's writes name a project by another path than /api/projects does, so a
    # sequence that deletes it there and reads it here would look like a lost project;
    # they are fuzzed one by one (test_operation) and driven by OWSLib (test_ogc_clients).
    linked = schema.exclude(path_regex="^/ogc/collections/projects/items")

    class Workflows(linked.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            """Each sequence starts from the demo town as loaded: Hypothesis replays a
            sequence to shrink it, and must then get the same answers."""
            instance = tmp_path / f"town-{next(towns)}"
            shutil.copytree(demo_template, instance)
            app = create_app({"instance_path": instance})
            app.testing = True
            serve(app)

        def teardown(self) -> None:
            assert TESTED.app is not None
            TESTED.app.extensions["zugabe"].close()

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": TESTED.authorization()}

        def validate_response(
            self,
            response: Any,
            case: schemathesis.Case,
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            """As Schemathesis' own, but saying that the token is the test's, not generated."""
            case.validate_response(
                response,
                additional_checks=additional_checks,
                headers=kwargs["headers"],
                transport_kwargs=kwargs,
                recorder=self.recorder,
            )

    Workflows.run(
        settings=hypothesis.settings(
            max_examples=WORKFLOWS,
            stateful_step_count=WORKFLOW_STEPS,
            derandomize=True,
            database=None,
            deadline=None,
        )
    )
