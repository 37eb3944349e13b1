"""Accounts, roles and the acting account (``Actor``) every use case receives.

An account belongs to one organisation (a region admin may belong to none) and
holds roles; what a role allows is decided in ``zugabe.domain.policy``, in one
place, so the web layer and the CLI cannot disagree about it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    """The roles of the accounts issue; a person may hold several."""

    VIEWER = "viewer"
    PLANNER = "planner"
    COORDINATOR = "coordinator"
    DATA_STEWARD = "data_steward"
    ORG_ADMIN = "org_admin"
    REGION_ADMIN = "region_admin"


ORGANISATION_ROLES = frozenset({Role.PLANNER, Role.COORDINATOR, Role.ORG_ADMIN})
"""Roles that act for an organisation: an account holding one must belong to one."""

ROLE_LABELS: dict[Role, dict[str, str]] = {
    Role.VIEWER: {"de": "Lesend", "en": "Viewer"},
    Role.PLANNER: {"de": "Planung", "en": "Planner"},
    Role.COORDINATOR: {"de": "Koordination", "en": "Coordinator"},
    Role.DATA_STEWARD: {"de": "Datenpflege", "en": "Data steward"},
    Role.ORG_ADMIN: {"de": "Organisations-Admin", "en": "Organisation admin"},
    Role.REGION_ADMIN: {"de": "Regions-Admin", "en": "Region admin"},
}

ALL_THEMES = "*"
"""A data steward's theme grant that covers every theme."""

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")
"""Usernames: lower-case ASCII, so that 'A.Kaya' and 'a.kaya' are never two people."""


class Scope(StrEnum):
    """What a credential may do: a read token never writes, whatever the account's roles."""

    READ = "read"
    WRITE = "write"


@dataclass(frozen=True)
class Account:
    """A person (or a script's account) known to ZUGABE; no secret is held here."""

    id: int
    username: str
    display_name: str
    email: str
    organisation: str | None
    departments: tuple[str, ...]
    roles: frozenset[Role]
    themes: tuple[str, ...]
    active: bool
    demo_password: bool
    external_subject: str | None
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True)
class Actor:
    """Who acts in one use case: an account as authenticated for this request or command.

    ``scope`` narrows what the account may do (a read token); ``address`` is the
    client's address for the audit log; ``via`` says how the actor was
    authenticated (``session``, ``token``, ``cli``, ``public``, ``system``).
    """

    username: str
    display_name: str
    account_id: int | None = None
    organisation: str | None = None
    departments: tuple[str, ...] = ()
    roles: frozenset[Role] = field(default_factory=frozenset)
    themes: tuple[str, ...] = ()
    scope: Scope = Scope.WRITE
    via: str = "session"
    address: str | None = None

    @classmethod
    def of(
        cls, account: Account, *, scope: Scope = Scope.WRITE, via: str, address: str | None
    ) -> Actor:
        return cls(
            username=account.username,
            display_name=account.display_name,
            account_id=account.id,
            organisation=account.organisation,
            departments=account.departments,
            roles=account.roles,
            themes=account.themes,
            scope=scope,
            via=via,
            address=address,
        )

    @classmethod
    def anonymous(cls, address: str | None = None, *, public_read: bool = False) -> Actor:
        """Nobody signed in; with ``public_read`` (a setting) allowed to read, nothing more."""
        roles = frozenset({Role.VIEWER}) if public_read else frozenset()
        return cls(
            "anonymous", "anonymous", roles=roles, scope=Scope.READ, via="public", address=address
        )

    @classmethod
    def system(cls, name: str, *, roles: frozenset[Role] = frozenset()) -> Actor:
        """A non-person actor: the local operator of the CLI, a start-up task."""
        return cls(name, name, roles=roles, via="system")

    @property
    def authenticated(self) -> bool:
        """Signed in, or a trusted local actor (CLI operator, system task): not anonymous."""
        return self.via != "public"

    def has(self, role: Role) -> bool:
        return role in self.roles

    @property
    def is_region_admin(self) -> bool:
        return Role.REGION_ADMIN in self.roles

    def may_theme(self, theme: str) -> bool:
        return ALL_THEMES in self.themes or theme in self.themes
