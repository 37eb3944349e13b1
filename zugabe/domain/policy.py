"""The one place that says who may do what: deny by default.

Every use case in ``zugabe.services`` asks this policy before it acts; the web
layer and the CLI only turn credentials into an ``Actor``. A refusal names
what would be needed (a role, an organisation, a theme), so a user knows whom
to ask. Anonymous actors get ``Unauthorized`` (401): signing in may help;
signed-in ones ``Forbidden`` (403).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from zugabe.domain.accounts import Actor, Role, Scope
from zugabe.errors import Forbidden, Unauthorized

# What an organisation admin may hand out within their own organisation.
ORG_GRANTABLE = frozenset(
    {Role.VIEWER, Role.PLANNER, Role.COORDINATOR, Role.DATA_STEWARD, Role.ORG_ADMIN}
)
READING_ROLES = frozenset(Role)  # every role includes reading the region


class Policy:
    """Permission checks for every use case.

    ``department_bound`` lists the organisations whose planners may only touch
    the projects of their own department(s) (vocabulary: ``planners_by_department``).
    """

    def __init__(self, department_bound: Collection[str] = ()) -> None:
        self.department_bound = frozenset(department_bound)

    # ------------------------------------------------------------ reading

    def may_read(self, actor: Actor) -> bool:
        return bool(actor.roles & READING_ROLES)

    def require_read(self, actor: Actor) -> None:
        """Map, GET API, reports and exports: any role, or public access when configured."""
        if not self.may_read(actor):
            self._deny(actor, "reading needs a role (viewer or any other)")

    def require_own_notifications(self, actor: Actor, *, write: bool) -> None:
        """One's own notifications and subscriptions: any account, and nobody else's (the
        services only ever look up the acting account's own)."""
        if write:
            self._require_write_scope(actor)
        if actor.account_id is None:
            self._deny(actor, "notifications and subscriptions belong to a signed-in account")

    def require_audit_read(self, actor: Actor) -> None:
        if not actor.is_region_admin:
            self._deny(actor, "the audit log needs the role region_admin")

    # ------------------------------------------------------------ projects

    def may_write_project(self, actor: Actor, organisation: str, department: str) -> bool:
        if actor.scope is not Scope.WRITE:
            return False
        if actor.is_region_admin:
            return True
        if not actor.has(Role.PLANNER) or actor.organisation != organisation:
            return False
        return organisation not in self.department_bound or department in actor.departments

    def require_project_creator(self, actor: Actor) -> None:
        """Any project writing at all: a planner (or region admin) with a write credential."""
        self._require_write_scope(actor)
        if not (actor.is_region_admin or actor.has(Role.PLANNER)):
            self._deny(actor, "changing projects needs the role planner")

    def require_project_write(
        self, actor: Actor, organisation: str, department: str, what: str
    ) -> None:
        """Create, change or delete a project of ``organisation``/``department``."""
        self._require_write_scope(actor)
        if self.may_write_project(actor, organisation, department):
            return
        needed = f"the role planner in organisation {organisation}"
        if organisation in self.department_bound:
            needed += f", department {department}"
        self._deny(actor, f"{what} needs {needed}")

    # ------------------------------------------------------------ cases

    def may_comment_case(self, actor: Actor, organisations: Iterable[str]) -> bool:
        return self._case_right(actor, organisations, {Role.PLANNER, Role.COORDINATOR})

    def may_review_case(self, actor: Actor, organisations: Iterable[str]) -> bool:
        return self._case_right(actor, organisations, {Role.COORDINATOR})

    def require_case_comment(self, actor: Actor, organisations: Iterable[str], what: str) -> None:
        self._require_write_scope(actor)
        organisations = tuple(organisations)
        if not self.may_comment_case(actor, organisations):
            self._deny(
                actor,
                f"{what} needs the role planner or coordinator in one of the organisations "
                f"involved ({', '.join(organisations) or 'none'})",
            )

    def require_case_review(self, actor: Actor, organisations: Iterable[str], what: str) -> None:
        """Status, assignment and decision of a case: coordinators of an involved organisation."""
        self._require_write_scope(actor)
        organisations = tuple(organisations)
        if not self.may_review_case(actor, organisations):
            self._deny(
                actor,
                f"{what} needs the role coordinator in one of the organisations involved "
                f"({', '.join(organisations) or 'none'})",
            )

    def may_vote_case(self, actor: Actor, organisations: Iterable[str]) -> bool:
        """One organisation, one vote: only a coordinator votes, and only for their own
        organisation (a region admin has no vote of their own)."""
        return (
            actor.scope is Scope.WRITE
            and actor.has(Role.COORDINATOR)
            and actor.organisation in set(organisations)
        )

    def require_case_vote(self, actor: Actor, organisations: Iterable[str], what: str) -> None:
        self._require_write_scope(actor)
        organisations = tuple(organisations)
        if not self.may_vote_case(actor, organisations):
            self._deny(
                actor,
                f"{what} needs the role coordinator in one of the organisations involved "
                f"({', '.join(organisations) or 'none'}), voting for that organisation",
            )

    # ------------------------------------------------------------ good practice

    def require_good_practice_edit(
        self, actor: Actor, organisations: Iterable[str], what: str
    ) -> None:
        """Propose or change a good-practice example: a planner or coordinator of an
        organisation involved in it (a region admin too). Votes: ``require_case_vote``;
        withdrawing: ``require_case_review`` — the same rights as on a case."""
        self.require_case_comment(actor, organisations, what)

    def require_region_admin(self, actor: Actor, what: str) -> None:
        """Region-wide operations: the batch detection run, vocabulary, rules."""
        self._require_write_scope(actor)
        if not actor.is_region_admin:
            self._deny(actor, f"{what} needs the role region_admin")

    # ------------------------------------------------------------ layers

    def may_write_layer(self, actor: Actor, theme: str) -> bool:
        if actor.scope is not Scope.WRITE:
            return False
        return actor.is_region_admin or (actor.has(Role.DATA_STEWARD) and actor.may_theme(theme))

    def require_layer_write(self, actor: Actor, theme: str, what: str) -> None:
        self._require_write_scope(actor)
        if not self.may_write_layer(actor, theme):
            self._deny(actor, f"{what} needs the role data_steward for the theme {theme}")

    # ------------------------------------------------------------ accounts

    def may_manage_accounts(self, actor: Actor, organisation: str | None) -> bool:
        if actor.scope is not Scope.WRITE:
            return False
        if actor.is_region_admin:
            return True
        return (
            actor.has(Role.ORG_ADMIN)
            and organisation is not None
            and actor.organisation == organisation
        )

    def require_account_manage(
        self,
        actor: Actor,
        organisation: str | None,
        what: str,
        roles: Collection[Role] = (),
    ) -> None:
        """Create, change or disable an account of ``organisation`` with ``roles``."""
        self._require_write_scope(actor)
        if not self.may_manage_accounts(actor, organisation):
            self._deny(
                actor,
                f"{what} needs the role org_admin in organisation {organisation or '(none)'} "
                "or region_admin",
            )
        beyond = sorted(set(roles) - ORG_GRANTABLE)
        if beyond and not actor.is_region_admin:
            self._deny(actor, f"granting {', '.join(beyond)} needs the role region_admin")

    def require_account_read(self, actor: Actor, organisation: str | None) -> None:
        if actor.is_region_admin or (
            actor.has(Role.ORG_ADMIN)
            and organisation is not None
            and actor.organisation == organisation
        ):
            return
        self._deny(actor, "the accounts of an organisation are for its org_admin or region_admin")

    def require_own_or_managed(self, actor: Actor, owner_id: int, owner_org: str | None) -> None:
        """An account's own tokens and sessions; an admin's of the accounts they manage."""
        self._require_write_scope(actor)
        if actor.account_id is not None and actor.account_id == owner_id:
            return
        self.require_account_manage(actor, owner_org, "managing another account's tokens")

    # ------------------------------------------------------------ what the map may offer

    def permissions(self, actor: Actor) -> dict[str, object]:
        """What the user interface should offer this actor (the server still checks)."""
        write = actor.scope is Scope.WRITE and actor.authenticated
        return {
            "read": bool(actor.roles),
            "create_projects": write and (actor.is_region_admin or actor.has(Role.PLANNER)),
            "project_organisations": None
            if actor.is_region_admin
            else ([actor.organisation] if write and actor.has(Role.PLANNER) else []),
            "project_departments": None
            if actor.is_region_admin or actor.organisation not in self.department_bound
            else list(actor.departments),
            "comment_cases": write
            and (actor.is_region_admin or bool(actor.roles & {Role.PLANNER, Role.COORDINATOR})),
            "review_cases": write and (actor.is_region_admin or actor.has(Role.COORDINATOR)),
            "vote_cases": write and actor.has(Role.COORDINATOR) and actor.organisation is not None,
            "import_layers": write and (actor.is_region_admin or actor.has(Role.DATA_STEWARD)),
            "manage_accounts": write and (actor.is_region_admin or actor.has(Role.ORG_ADMIN)),
            "read_audit": actor.is_region_admin,
            "detect_all": write and actor.is_region_admin,
        }

    # ------------------------------------------------------------ helpers

    def _case_right(self, actor: Actor, organisations: Iterable[str], roles: set[Role]) -> bool:
        if actor.scope is not Scope.WRITE:
            return False
        if actor.is_region_admin:
            return True
        return bool(actor.roles & roles) and actor.organisation in set(organisations)

    def require_writer(self, actor: Actor) -> None:
        """Signed in with a write credential: checked before an object is even looked up,
        so an anonymous caller learns nothing about which objects exist."""
        self._require_write_scope(actor)

    @staticmethod
    def _require_write_scope(actor: Actor) -> None:
        if not actor.authenticated:
            raise Unauthorized("sign in (or send a bearer token) to change anything")
        if actor.scope is not Scope.WRITE:
            raise Forbidden(
                "this token may only read; create a token with the scope 'write' to change data"
            )

    @staticmethod
    def _deny(actor: Actor, needed: str) -> None:
        if not actor.authenticated:
            raise Unauthorized(f"sign in first: {needed}")
        roles = ", ".join(sorted(actor.roles)) or "no role"
        where = f" in organisation {actor.organisation}" if actor.organisation else ""
        raise Forbidden(f"{needed} (you: {roles}{where})")
