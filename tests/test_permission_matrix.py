"""Every operation of the OpenAPI document × every role (and anonymous): the expected status.

The operations come from the live OpenAPI document, and every Flask route must be one of
them: a new route that is not described, or described without a row in ``EXPECTED``, fails
here, so nothing escapes the permission check. The expected statuses are written down by
hand (they are the specification), not computed from the policy they test.

The world is the demo town (herne, bochum, eglv, gelsenwasser). The actors are accounts of
``tests.conftest.TEST_ACCOUNTS``: the "own" organisation of every target is Herne; the
``*_other`` actors belong to Bochum.
"""

from __future__ import annotations

import copy
import io
import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import ADMIN, VALID_FEATURE, client_as, ensure_account
from zugabe.config import secret_key
from zugabe.domain.accounts import Actor, Scope
from zugabe.domain.cases import CaseStatus
from zugabe.domain.notifications import UNSUBSCRIBE
from zugabe.io.photos import demo_photo
from zugabe.services import Services
from zugabe.services.demo import load_demo_layers, load_demo_projects
from zugabe.services.mail import unsubscribe_token
from zugabe.storage.contract import CaseQuery, ProjectQuery
from zugabe.web import create_app

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"

ACTORS = {
    "anonymous": None,
    "viewer": "h.viewer",
    "planner": "h.planner",
    "planner_other": "b.planner",
    "coordinator": "h.coordinator",
    "coordinator_other": "b.coordinator",
    "steward": "steward",
    "org_admin": "h.orgadmin",
    "region_admin": "r.admin",
}


def row(anonymous: int, default: int, **others: int) -> dict[str, int]:
    """Expected statuses: anonymous, then every signed-in actor ``default`` unless named."""
    expected = {actor: default for actor in ACTORS} | {"anonymous": anonymous}
    unknown = set(others) - set(ACTORS)
    assert not unknown, unknown
    return expected | others


READ = row(401, 200)
FILTERABLE = (
    *("projects", "cases", "cso_catchments", "disconnection_potential", "districts"),
    *("green_roof_potential", "green_spaces", "heat_stress", "heavy_rain_hazard", "manholes"),
    *("sewer_sections", "stormwater_basins", "streets", "trees", "water_bodies"),
)
"""The collections with items of their own path (property parameters): projects, cases
and the demo town's layers."""
PAGE = row(302, 200)  # an HTML page: signed out, to the login page
PUBLIC = row(200, 200)

EXPECTED: dict[str, dict[str, int]] = {
    # projects
    "listProjects": READ,
    "listProjectPoints": READ,
    "getProject": READ,
    "createProject": row(401, 403, planner=201, region_admin=201),
    "replaceProject": row(401, 403, planner=200, region_admin=200),
    "patchProject": row(401, 403, planner=200, region_admin=200),
    "deleteProject": row(401, 403, planner=204, region_admin=204),
    # a bochum planner's rows for herne are problems of those rows: 422, nothing stored
    "importProjects": row(401, 403, planner=201, planner_other=422, region_admin=201),
    "getVocabulary": READ,
    # layers
    "listLayers": READ,
    "getLayer": READ,
    "getLayerFeatures": READ,
    "importLayer": row(401, 403, steward=201, region_admin=201),
    "deleteLayer": row(401, 403, steward=204, region_admin=204),
    "listLayerVersions": READ,
    "rollbackLayer": row(401, 403, steward=200, region_admin=200),
    # cases
    "listCases": READ,
    "getCase": READ,
    "changeCaseStatus": row(401, 403, coordinator=200, region_admin=200),
    "commentCase": row(401, 403, planner=201, coordinator=201, region_admin=201),
    "assignCase": row(401, 403, coordinator=200, region_admin=200),
    "listCaseAssignees": row(401, 403, coordinator=200, region_admin=200),
    "setCaseDueDate": row(401, 403, coordinator=200, region_admin=200),
    "proposeDecision": row(401, 403, coordinator=201, region_admin=201),
    "withdrawProposal": row(401, 403, coordinator=200, region_admin=200),
    # one organisation, one vote: a coordinator of an involved one; a region admin has none
    "voteOnCase": row(401, 403, coordinator=201),
    # the cases of one's organisation: accounts without one have no inbox
    "getInbox": row(401, 200, steward=403, region_admin=403),
    "markInboxSeen": row(401, 204),
    "detectAll": row(401, 403, region_admin=200),
    "getJob": row(401, 404, region_admin=200),  # a region admin's job: others may not see it
    "getSynergyGrid": READ,
    "search": READ,
    # reports, exports
    "getProjectReport": PAGE,
    "getProjectReportCases": READ,
    "getOrganisationReport": PAGE,
    "getOrganisationReportCases": READ,
    "getDepartmentReport": PAGE,
    "getDepartmentReportCases": READ,
    "getAreaReport": PAGE,
    "getAreaReportCases": READ,
    "getStrategiesPage": PAGE,
    "getStrategyChartCSV": READ,
    # the checklist of a development plan: planners of the plan's organisation answer
    "getProjectChecklist": READ,
    "replaceProjectChecklist": row(401, 403, planner=200, region_admin=200),
    "answerProjectChecklist": row(401, 403, planner=200, region_admin=200),
    "getChecklistPage": PAGE,
    "answerChecklistForm": row(401, 403, planner=303, region_admin=303),
    "getChecklistOverview": PAGE,
    "getChecklistOverviewCSV": READ,
    "exportGeoPackage": READ,
    "exportProjectsGeoJSON": READ,
    "exportProjectsCSV": READ,
    "exportCasesGeoJSON": READ,
    "exportCasesCSV": READ,
    # accounts, tokens, audit
    "getMe": READ,
    "listTokens": READ,
    "createToken": row(401, 201),
    "revokeToken": row(401, 204),
    "listAccounts": row(401, 403, org_admin=200, region_admin=200),
    "createAccount": row(401, 403, org_admin=201, region_admin=201),
    "changeAccount": row(401, 403, org_admin=200, region_admin=200),
    "listAudit": row(401, 403, region_admin=200),
    "exportAudit": row(401, 403, region_admin=200),
    # notifications and subscriptions: every account its own (the routes read no other's)
    "listNotifications": row(401, 200),
    "markNotificationsRead": row(401, 200),
    "getSubscriptions": row(401, 200),
    "putSubscriptions": row(401, 200),
    # the unsubscribe link of a mail: its signed token is the credential
    "getUnsubscribePage": PUBLIC,
    "unsubscribe": PUBLIC,
    # OGC API – Features: reading as the JSON API, Part 4 writes of projects as /api/projects
    "getOgcLandingPage": READ,
    "getOgcConformance": READ,
    "getOgcCollections": READ,
    "getOgcCollection": READ,
    "getOgcItems": READ,
    **{f"getOgcItemsOf_{collection}": READ for collection in FILTERABLE},
    "getOgcItemsOf_discharge_points": row(401, 404),  # a layer type without data
    "getOgcQueryables": READ,
    "getOgcItem": READ,
    "createOgcProject": row(401, 403, planner=201, region_admin=201),
    "replaceOgcProject": row(401, 403, planner=200, region_admin=200),
    "patchOgcProject": row(401, 403, planner=200, region_admin=200),
    "deleteOgcProject": row(401, 403, planner=204, region_admin=204),
    "getOgcAPIDescription": PUBLIC,
    # good practice: proposed and changed by planners and coordinators of an organisation
    # involved, released by a coordinator of each (one vote), withdrawn by a coordinator;
    # released examples are public (page, GeoJSON, feed, photos)
    "listGoodPractice": READ,
    "getGoodPractice": READ,
    "proposeGoodPractice": row(401, 403, planner=201, coordinator=201, region_admin=201),
    "reviseGoodPractice": row(401, 403, planner=200, coordinator=200, region_admin=200),
    "addGoodPracticePhoto": row(401, 403, planner=201, coordinator=201, region_admin=201),
    "deleteGoodPracticePhoto": row(401, 403, planner=200, coordinator=200, region_admin=200),
    "voteOnGoodPractice": row(401, 403, coordinator=201),
    "withdrawGoodPractice": row(401, 403, coordinator=200, region_admin=200),
    "getGoodPracticePage": PUBLIC,
    "getGoodPracticeExamplePage": PUBLIC,
    "getGoodPracticeGeoJSON": PUBLIC,
    "getGoodPracticeFeed": PUBLIC,
    "getGoodPracticePhoto": PUBLIC,
    "getGoodPracticeThumbnail": PUBLIC,
    "getGoodPracticeProposePage": PAGE,
    "getGoodPracticeReviewPage": PAGE,
    # pages and documents anyone may see
    "getMap": PAGE,
    "getOpenAPI": PUBLIC,
    "getHealth": PUBLIC,  # load balancers and monitors have no account
    "getAPIDocs": PUBLIC,
    "getLoginPage": PUBLIC,
    "signIn": row(401, 401),  # a wrong password, whoever sends it
    "signOut": row(303, 303),
    "startSingleSignOn": row(403, 403),  # not configured in this instance
    "finishSingleSignOn": row(403, 403),
}

# Routes that serve files every visitor's browser needs (scripts, styles), not data.
ASSET_ENDPOINTS = {"static", "webmap.page_script", "webmap.vendor_file", "webmap.app_file"}


@dataclass
class World:
    app: Flask
    services: Services
    clients: dict[str, FlaskClient] = field(default_factory=dict)
    counter: int = 0

    def herne_project(self) -> int:
        """A fresh Herne roads project (a target every call may change or delete)."""
        self.counter += 1
        doc = copy.deepcopy(VALID_FEATURE)
        doc["properties"]["title"] = f"Matrix {self.counter}"
        return self.services.projects.create(doc, ADMIN).id

    def herne_plan(self) -> int:
        """Herne's development plan "Brückenfeld-Mitte" of the demo town."""
        plans = self.services.store.list_projects(
            ProjectQuery(organisations=("herne",), measure_types=("development_plan",))
        )
        return plans[0].id

    def herne_case(self, operation: str = "") -> tuple[int, str]:
        """A case involving Herne and another organisation but not Bochum (so Herne's vote
        never agrees it alone), set up for ``operation``, and a status it may move to."""
        statuses = (CaseStatus.OPEN, CaseStatus.IN_COORDINATION, CaseStatus.PROPOSED)
        cases, _ = self.services.cases.list(
            ADMIN, CaseQuery(organisations=("herne",), statuses=statuses)
        )
        case = next(
            c
            for c in cases
            if "bochum" not in c.finding.organisations and len(c.finding.organisations) > 1
        )
        proposed = case.status is CaseStatus.PROPOSED
        if proposed and operation != "withdrawProposal":
            case = self.services.desk.withdraw(case.id, ADMIN, None)
        if operation in {"withdrawProposal", "voteOnCase"} and not proposed:
            case = self.services.desk.propose(case.id, "other", "Matrix", [], ADMIN, None)
        target = "open" if case.status is CaseStatus.IN_COORDINATION else "in_coordination"
        return case.id, target

    def done_project(self) -> int:
        """A fresh finished Herne project, not yet proposed as good practice."""
        self.counter += 1
        doc = copy.deepcopy(VALID_FEATURE)
        doc["properties"].update(title=f"Fertig {self.counter}", status="done")
        return self.services.projects.create(doc, ADMIN).id

    def own_token_id(self, actor: str) -> int:
        """A token of the acting account to revoke (the anonymous caller gets one of r.admin)."""
        username = ACTORS[actor] or "r.admin"
        token, _ = self.services.accounts.create_token(ADMIN, username, "matrix", Scope.READ)
        return token.id

    def unsubscribe_token(self) -> str:
        """The token of an unsubscribe link in a mail to h.viewer."""
        return unsubscribe_token(secret_key(self.services.settings), "h.viewer", UNSUBSCRIBE)

    def admin_job(self) -> str:
        """A finished job of a region admin (no other account may read it)."""
        return self.services.jobs.start(ADMIN, "cases.detect_all", "*", lambda _p: {}).id

    def good_practice(self, *, photo: bool = False, released: bool = False) -> tuple[int, int]:
        """A fresh example of a finished Herne project (involving Herne only), proposed or
        released, and the id of its photo (0 without)."""
        self.counter += 1
        doc = copy.deepcopy(VALID_FEATURE)
        doc["properties"].update(title=f"Beispiel {self.counter}", status="done")
        project = self.services.projects.create(doc, ADMIN)
        good = self.services.good_practice
        body = {"title": f"Beispiel {self.counter}", "description": "Matrix"}
        example = good.propose(project.id, body, ADMIN)
        if photo:
            example = good.add_photo(example.id, demo_photo(1, "Matrix"), "", False, ADMIN, None)
        if released:
            coordinator = self.services.store.find_account("h.coordinator")
            assert coordinator is not None
            example = good.vote(
                example.id, "agree", "", Actor.of(coordinator, via="cli", address=None)
            )
        return example.id, example.photos[0].id if example.photos else 0

    def ensure_layer(self, key: str) -> None:
        if self.services.store.get_layer(key) is None:
            self.services.layers.import_file(SAMPLE / "layers" / f"{key}.geojson", key, ADMIN)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    app = create_app({"instance_path": tmp_path_factory.mktemp("matrix") / "instance"})
    app.testing = True
    services: Services = app.extensions["zugabe"]
    load_demo_layers(services.layers, SAMPLE, ADMIN)
    load_demo_projects(services.projects, SAMPLE, ADMIN)
    world = World(app, services)
    for actor, username in ACTORS.items():
        if username is not None:
            ensure_account(services, username)
        world.clients[actor] = client_as(app, username)
    yield world
    services.close()


Request = tuple[str, str, dict[str, Any]]
JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}


def _request(operation: str, world: World, actor: str) -> Request:
    """A well-formed request of ``operation``: only the permission decides its status."""
    desk = operation in _DESK
    case_id, target = world.herne_case(operation) if "Case" in operation or desk else (0, "")
    project_id = world.herne_project() if operation in _FRESH_PROJECT else 1
    example, photo = (0, 0)
    if "GoodPractice" in operation and operation not in _NO_EXAMPLE:
        example, photo = world.good_practice(
            photo=operation in _EXAMPLE_PHOTO, released=operation in _RELEASED_EXAMPLE
        )
    fixed: dict[str, Request] = {
        "listProjects": ("GET", "/api/projects?organisation=herne&limit=5", {}),
        "listProjectPoints": ("GET", "/api/projects/points?organisation=herne", {}),
        "getProject": ("GET", "/api/projects/1", {}),
        "createProject": ("POST", "/api/projects", {"json": VALID_FEATURE}),
        "replaceProject": ("PUT", f"/api/projects/{project_id}", {"json": VALID_FEATURE}),
        "patchProject": (
            "PATCH",
            f"/api/projects/{project_id}",
            {"json": {"properties": {"status": "approved"}}},
        ),
        "deleteProject": ("DELETE", f"/api/projects/{project_id}", {}),
        "importProjects": ("POST", "/api/projects/import", {"data": _project_csv()}),
        "getVocabulary": ("GET", "/api/vocab", {}),
        "listLayers": ("GET", "/api/layers", {}),
        "getLayer": ("GET", "/api/layers/districts", {}),
        "getLayerFeatures": ("GET", "/api/layers/districts/features?limit=2", {}),
        "importLayer": ("POST", "/api/layers/stormwater_basins", {"data": _basins_upload()}),
        "deleteLayer": ("DELETE", "/api/layers/stormwater_basins", {}),
        "listLayerVersions": ("GET", "/api/layers/districts/versions", {}),
        "rollbackLayer": ("POST", "/api/layers/stormwater_basins/rollback", {}),
        "listCases": ("GET", "/api/cases?limit=5", {}),
        "getCase": ("GET", f"/api/cases/{case_id}", {}),
        "changeCaseStatus": (
            "POST",
            f"/api/cases/{case_id}/status",
            {"json": {"status": target}},
        ),
        "commentCase": ("POST", f"/api/cases/{case_id}/comments", {"json": {"text": "ok"}}),
        "assignCase": ("PUT", f"/api/cases/{case_id}/assignee", {"json": {"assignee": None}}),
        "listCaseAssignees": ("GET", f"/api/cases/{case_id}/assignees", {}),
        "setCaseDueDate": (
            "PUT",
            f"/api/cases/{case_id}/due-date",
            {"json": {"due_date": "2027-01-31"}},
        ),
        "proposeDecision": (
            "POST",
            f"/api/cases/{case_id}/proposal",
            {"json": {"kind": "bundle_works", "text": "Matrix"}},
        ),
        "withdrawProposal": ("DELETE", f"/api/cases/{case_id}/proposal", {}),
        "voteOnCase": ("POST", f"/api/cases/{case_id}/votes", {"json": {"vote": "agree"}}),
        "getInbox": ("GET", "/api/inbox?limit=5", {}),
        "markInboxSeen": ("POST", "/api/inbox/seen", {"json": {"all": True}}),
        "detectAll": ("POST", "/api/cases/detect", {}),
        "getJob": ("GET", f"/api/jobs/{world.admin_job()}", {}),
        "getSynergyGrid": ("GET", "/api/synergy?cell_size=500&bbox=7.21,51.52,7.23,51.53", {}),
        "search": ("GET", "/api/search?q=stra%C3%9Fe&limit=3", {}),
        "getProjectReport": ("GET", "/reports/projects/1", {"headers": HTML}),
        "getProjectReportCases": ("GET", "/reports/projects/1/cases.csv", {}),
        "getOrganisationReport": ("GET", "/reports/organisations/herne", {"headers": HTML}),
        "getOrganisationReportCases": ("GET", "/reports/organisations/herne/cases.csv", {}),
        "getDepartmentReport": ("GET", "/reports/departments/roads", {"headers": HTML}),
        "getDepartmentReportCases": ("GET", "/reports/departments/roads/cases.csv", {}),
        "getAreaReport": ("GET", "/reports/area?district=05916000-01", {"headers": HTML}),
        "getAreaReportCases": ("GET", "/reports/area/cases.csv?district=05916000-01", {}),
        "getStrategiesPage": ("GET", "/strategies", {"headers": HTML}),
        "getStrategyChartCSV": ("GET", "/strategies/green-roofs.csv", {}),
        "getProjectChecklist": ("GET", f"/api/projects/{world.herne_plan()}/checklist", {}),
        "replaceProjectChecklist": (
            "PUT",
            f"/api/projects/{world.herne_plan()}/checklist",
            {"json": {"answers": {"green_roofs": {"answer": "planned"}}}},
        ),
        "answerProjectChecklist": (
            "PATCH",
            f"/api/projects/{world.herne_plan()}/checklist",
            {"json": {"answers": {"green_roofs": {"answer": "fulfilled", "note": "ok"}}}},
        ),
        "getChecklistPage": (
            "GET",
            f"/checklists/projects/{world.herne_plan()}",
            {"headers": HTML},
        ),
        "answerChecklistForm": (
            "POST",
            f"/checklists/projects/{world.herne_plan()}",
            {"data": {"answer__green_roofs": "planned"}},
        ),
        "getChecklistOverview": ("GET", "/reports/checklists", {"headers": HTML}),
        "getChecklistOverviewCSV": ("GET", "/reports/checklists.csv", {}),
        "exportGeoPackage": ("GET", "/api/export.gpkg?layers=none&synergy=false", {}),
        "exportProjectsGeoJSON": ("GET", "/api/export/projects.geojson?organisation=herne", {}),
        "exportProjectsCSV": ("GET", "/api/export/projects.csv?organisation=herne", {}),
        "exportCasesGeoJSON": ("GET", "/api/export/cases.geojson?organisation=herne", {}),
        "exportCasesCSV": ("GET", "/api/export/cases.csv?organisation=herne", {}),
        "getMe": ("GET", "/api/me", {}),
        "listTokens": ("GET", "/api/tokens", {}),
        "createToken": ("POST", "/api/tokens", {"json": {"name": "QGIS", "scope": "read"}}),
        "revokeToken": ("DELETE", f"/api/tokens/{world.own_token_id(actor)}", {}),
        "listAccounts": ("GET", "/api/accounts?organisation=herne", {}),
        "createAccount": ("POST", "/api/accounts", {"json": _new_account(world)}),
        "changeAccount": ("PATCH", "/api/accounts/h.viewer", {"json": {"roles": ["viewer"]}}),
        "listAudit": ("GET", "/api/audit?limit=5", {}),
        "exportAudit": ("GET", "/api/audit.csv?action=project.", {}),
        "listNotifications": ("GET", "/api/notifications?limit=5", {}),
        "markNotificationsRead": ("POST", "/api/notifications/read", {"json": {"all": True}}),
        "getSubscriptions": ("GET", "/api/subscriptions", {}),
        "putSubscriptions": (
            "PUT",
            "/api/subscriptions",
            {"json": {"organisations": ["herne"], "mail": "daily", "language": "en"}},
        ),
        "getUnsubscribePage": (
            "GET",
            f"/unsubscribe/{world.unsubscribe_token()}",
            {"headers": HTML},
        ),
        "unsubscribe": ("POST", f"/unsubscribe/{world.unsubscribe_token()}", {}),
        "getOgcLandingPage": ("GET", "/ogc", {}),
        "getOgcConformance": ("GET", "/ogc/conformance", {}),
        "getOgcCollections": ("GET", "/ogc/collections", {}),
        "getOgcCollection": ("GET", "/ogc/collections/trees", {}),
        "getOgcItems": ("GET", "/ogc/collections/synergy/items?limit=2", {}),
        **{
            f"getOgcItemsOf_{collection}": ("GET", f"/ogc/collections/{collection}/items?id=1", {})
            for collection in (*FILTERABLE, "discharge_points")
        },
        "getOgcQueryables": ("GET", "/ogc/collections/projects/queryables", {}),
        "getOgcItem": ("GET", "/ogc/collections/projects/items/1", {}),
        "createOgcProject": ("POST", "/ogc/collections/projects/items", {"json": VALID_FEATURE}),
        "replaceOgcProject": (
            "PUT",
            f"/ogc/collections/projects/items/{project_id}",
            {"json": VALID_FEATURE},
        ),
        "patchOgcProject": (
            "PATCH",
            f"/ogc/collections/projects/items/{project_id}",
            {"json": {"properties": {"status": "approved"}}},
        ),
        "deleteOgcProject": ("DELETE", f"/ogc/collections/projects/items/{project_id}", {}),
        "getOgcAPIDescription": ("GET", "/ogc/api", {}),
        "listGoodPractice": ("GET", "/api/good-practice?state=proposed", {}),
        "getGoodPractice": ("GET", f"/api/good-practice/{example}", {}),
        "proposeGoodPractice": (
            "POST",
            "/api/good-practice",
            {"json": {"project_id": world.done_project(), "title": "T", "description": "D"}},
        ),
        "reviseGoodPractice": (
            "PATCH",
            f"/api/good-practice/{example}",
            {"json": {"lessons": "Früh reden."}},
        ),
        "addGoodPracticePhoto": (
            "POST",
            f"/api/good-practice/{example}/photos",
            {"data": {"file": (io.BytesIO(demo_photo(2, "M")), "m.jpg")}},
        ),
        "deleteGoodPracticePhoto": (
            "DELETE",
            f"/api/good-practice/{example}/photos/{photo}",
            {},
        ),
        "voteOnGoodPractice": (
            "POST",
            f"/api/good-practice/{example}/votes",
            {"json": {"vote": "agree"}},
        ),
        "withdrawGoodPractice": (
            "POST",
            f"/api/good-practice/{example}/withdrawal",
            {"json": {"reason": "Matrix"}},
        ),
        "getGoodPracticePage": ("GET", "/good-practice?lang=en", {"headers": HTML}),
        "getGoodPracticeExamplePage": ("GET", f"/good-practice/{example}", {"headers": HTML}),
        "getGoodPracticeGeoJSON": ("GET", "/good-practice.geojson?city=herne", {}),
        "getGoodPracticeFeed": ("GET", "/good-practice.atom", {}),
        "getGoodPracticePhoto": ("GET", f"/good-practice/photos/{photo}", {}),
        "getGoodPracticeThumbnail": ("GET", f"/good-practice/photos/{photo}/thumbnail", {}),
        "getGoodPracticeProposePage": (
            "GET",
            "/good-practice/propose?project=1",
            {"headers": HTML},
        ),
        "getGoodPracticeReviewPage": (
            "GET",
            f"/good-practice/{example}/review",
            {"headers": HTML},
        ),
        "getMap": ("GET", "/", {"headers": HTML}),
        "getOpenAPI": ("GET", "/api/openapi.json", {}),
        "getHealth": ("GET", "/health", {}),
        "getAPIDocs": ("GET", "/api/docs", {}),
        "getLoginPage": ("GET", "/login", {}),
        "signIn": ("POST", "/login", {"data": _wrong_sign_in(world.clients[actor], actor)}),
        "signOut": ("POST", "/logout", {}),
        "startSingleSignOn": ("GET", "/login/oidc", {}),
        "finishSingleSignOn": ("GET", "/login/oidc/callback?code=x&state=y", {}),
    }
    if operation in {"deleteLayer", "importLayer", "rollbackLayer"}:
        world.ensure_layer("stormwater_basins")
    if operation == "rollbackLayer":  # a version to go back to
        world.services.layers.import_file(
            SAMPLE / "layers" / "stormwater_basins.geojson", "stormwater_basins", ADMIN
        )
    return fixed[operation]


_FRESH_PROJECT = {
    "replaceProject",
    "patchProject",
    "deleteProject",
    "replaceOgcProject",
    "patchOgcProject",
    "deleteOgcProject",
}
_DESK = {"proposeDecision", "withdrawProposal", "voteOnCase"}
_NO_EXAMPLE = {
    "listGoodPractice",
    "proposeGoodPractice",
    "getGoodPracticePage",
    "getGoodPracticeGeoJSON",
    "getGoodPracticeFeed",
    "getGoodPracticeProposePage",
}
_EXAMPLE_PHOTO = {"deleteGoodPracticePhoto", "getGoodPracticePhoto", "getGoodPracticeThumbnail"}
_RELEASED_EXAMPLE = {
    "withdrawGoodPractice",
    "getGoodPracticeExamplePage",
    "getGoodPracticePhoto",
    "getGoodPracticeThumbnail",
}


def _project_csv() -> dict[str, Any]:
    text = (
        "title;organisation;department;measure_type;status;start;end;wkt\n"
        "Kanal Matrix;herne;drainage;sewer_rehabilitation;planning;2028-01-01;2028-12-31;"
        "POINT (7.2101 51.5402)\n"
    )
    return {
        "file": (io.BytesIO(text.encode("utf-8")), "matrix.csv"),
        "wkt_field": "wkt",
        "source_crs": "EPSG:4326",
    }


def _basins_upload() -> dict[str, Any]:
    data = (SAMPLE / "layers" / "stormwater_basins.geojson").read_bytes()
    return {"file": (io.BytesIO(data), "basins.geojson")}


def _wrong_sign_in(client: FlaskClient, actor: str) -> dict[str, str]:
    """The login form as the page gives it (with its CSRF token), with a wrong password
    (for a different account each time: failures are limited per account)."""
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    return {"username": f"nobody.{actor}", "password": "x" * 12, "csrf_token": token[1]}


def _new_account(world: World) -> dict[str, Any]:
    world.counter += 1
    return {
        "username": f"matrix.{world.counter}",
        "display_name": "Matrix Person",
        "organisation": "herne",
        "roles": ["viewer"],
    }


def _operations(app: Flask) -> list[tuple[str, str, str]]:
    spec = app.test_client().get("/api/openapi.json").get_json()
    return [
        (path, method, operation["operationId"])
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _spec_operations() -> list[str]:
    """The operations of the OpenAPI document, read once at collection."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"instance_path": Path(folder)})
        try:
            return [operation for _path, _method, operation in _operations(app)]
        finally:
            app.extensions["zugabe"].close()


def test_every_route_is_described_and_in_the_matrix(world: World) -> None:
    described = {(path, method) for path, method, _ in _operations(world.app)}
    operations = {operation for _, _, operation in _operations(world.app)}
    assert operations == set(EXPECTED), "operations without a row, or rows without operation"
    for rule in world.app.url_map.iter_rules():
        if rule.endpoint in ASSET_ENDPOINTS:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            assert (path, method.lower()) in described, f"{method} {rule.rule} is not described"


@pytest.mark.parametrize("actor", list(ACTORS))
@pytest.mark.parametrize("operation", _spec_operations())
def test_permission(world: World, operation: str, actor: str) -> None:
    method, url, options = _request(operation, world, actor)
    headers = {**JSON, **options.pop("headers", {})}
    response = world.clients[actor].open(url, method=method, headers=headers, **options)
    expected = EXPECTED[operation][actor]
    assert response.status_code == expected, (
        f"{method} {url} as {actor}: {response.status_code}, expected {expected}: "
        f"{response.get_data(as_text=True)[:300]}"
    )
    if response.status_code in (401, 403) and response.mimetype == "application/problem+json":
        detail = json.loads(response.get_data(as_text=True))["detail"]
        assert detail  # says what is needed, e.g. "needs the role planner in organisation herne"
