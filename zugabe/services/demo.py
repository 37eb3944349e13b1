"""Load the demo town into a store (``zugabe demo``, ``make run``): its accounts, layers
and projects."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from zugabe.domain.accounts import ALL_THEMES, Actor, Role
from zugabe.errors import InvalidInput
from zugabe.services import Services
from zugabe.services.accounts import AccountInput
from zugabe.services.layers import LayerService
from zugabe.services.projects import ProjectFilter, ProjectService

DEMO_ADMIN = "region.admin"
"""The demo's region admin: it loads the demo data, so the audit log names an author."""

# The demo town's organisations, and the people the demo gives each (name, role, departments).
DEMO_PEOPLE: dict[str | None, list[tuple[str, Role, tuple[str, ...]]]] = {
    None: [
        ("Łukasz Nowak", Role.REGION_ADMIN, ()),
        ("Ingrid Schäfer", Role.DATA_STEWARD, ()),
    ],
    "herne": [
        ("Ayşe Yılmaz", Role.PLANNER, ("roads", "drainage")),
        ("Jens Krüger", Role.COORDINATOR, ()),
        ("Maria Lopes", Role.VIEWER, ()),
        ("Tobias Heß", Role.ORG_ADMIN, ()),
    ],
    "bochum": [
        ("Kemal Aydın", Role.PLANNER, ("drainage", "green")),
        ("Svenja Brückner", Role.COORDINATOR, ()),
        ("Piotr Wiśniewski", Role.VIEWER, ()),
        ("Anke Voß", Role.ORG_ADMIN, ()),
    ],
    "eglv": [
        ("Dirk Großmann", Role.PLANNER, ("water_management", "drainage")),
        ("Zeynep Çelik", Role.COORDINATOR, ()),
        ("Ole Jürgensen", Role.VIEWER, ()),
        ("Birgit Roß", Role.ORG_ADMIN, ()),
    ],
    "gelsenwasser": [
        ("Marek Dvořák", Role.PLANNER, ("utility_network",)),
        ("Sabine Kühn", Role.COORDINATOR, ()),
        ("Nils Öztürk", Role.VIEWER, ()),
        ("Hanna Weiß", Role.ORG_ADMIN, ()),
    ],
}


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    organisation: str | None
    role: Role
    password: str


def demo_username(organisation: str | None, role: Role) -> str:
    """``herne.planner``, ``region.admin``: one account per organisation and role."""
    suffix = {Role.REGION_ADMIN: "admin", Role.DATA_STEWARD: "steward"}.get(role, role.value)
    return f"{organisation or 'region'}.{suffix}"


def create_demo_accounts(services: Services) -> list[DemoAccount]:
    """Create the demo accounts that do not exist yet, each with a new random password
    (flagged as a demo password: only a ``demo_instance`` starts with them)."""
    created: list[DemoAccount] = []
    bootstrap = Actor.system("zugabe demo", roles=frozenset({Role.REGION_ADMIN}))
    for organisation, people in DEMO_PEOPLE.items():
        for display_name, role, departments in people:
            username = demo_username(organisation, role)
            if services.store.find_account(username) is not None:
                continue
            password = secrets.token_urlsafe(12)
            services.accounts.add(
                bootstrap,
                AccountInput(
                    username=username,
                    display_name=display_name,
                    email=f"{username}@demo.invalid",
                    organisation=organisation,
                    departments=departments,
                    roles=frozenset({role}),
                    themes=(ALL_THEMES,) if role is Role.DATA_STEWARD else (),
                ),
                password,
                demo_password=True,
            )
            created.append(DemoAccount(username, display_name, organisation, role, password))
    return created


def demo_actor(services: Services) -> Actor:
    account = services.store.find_account(DEMO_ADMIN)
    if account is None:
        raise InvalidInput(f"the demo account {DEMO_ADMIN} is missing")
    return Actor.of(account, via="cli", address="zugabe demo")


def load_demo_projects(projects: ProjectService, folder: Path, actor: Actor) -> int:
    """Load ``projects.geojson`` of the demo town, unless the store has projects.

    Returns how many projects were loaded (0 when the store was not empty),
    so re-running ``make run`` never duplicates the demo. The features go
    through the same checks as the API, in one transaction.
    """
    if projects.list(actor, ProjectFilter(), limit=1).number_matched:
        return 0
    path = folder / "projects.geojson"
    try:
        collection = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"demo file {path} cannot be read: {exc}") from exc
    return len(projects.create_many(collection["features"], actor))


def load_demo_layers(layers: LayerService, folder: Path, actor: Actor) -> dict[str, int]:
    """Import the demo town's thematic layers (``layers/<key>.geojson``) not yet stored.

    They go through the same importer as a user's files; returns the feature
    count per layer imported now.
    """
    loaded: dict[str, int] = {}
    for path in sorted((folder / "layers").glob("*.geojson")):
        if layers.store.get_layer(path.stem) is not None:
            continue
        info, _report = layers.import_file(path, path.stem, actor)
        loaded[path.stem] = info.feature_count
    return loaded
