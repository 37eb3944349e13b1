"""Accounts as use cases: manage accounts and roles, sign in, sessions, API tokens.

Secrets never leave this module in clear text except once, to the person who
asked for them: passwords are kept as argon2id hashes (OWASP parameters), and
session ids and API tokens as SHA-256 hashes (they are long random values, so a
fast hash is enough and a lookup stays cheap on every request).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from zugabe.config import Settings
from zugabe.domain.accounts import (
    ALL_THEMES,
    ORGANISATION_ROLES,
    USERNAME_PATTERN,
    Account,
    Actor,
    Role,
    Scope,
)
from zugabe.domain.layers import THEMES
from zugabe.domain.policy import Policy
from zugabe.domain.vocabulary import Vocabulary
from zugabe.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from zugabe.services.audit import AuditService, Change
from zugabe.services.throttle import SignInThrottle
from zugabe.storage.contract import ApiToken, BrowserSession, NewAccount, NewApiToken, Store

# OWASP Password Storage Cheat Sheet, argon2id: m=19 MiB, t=2, p=1.
PASSWORD_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
PASSWORD_MIN = 12  # OWASP ASVS 2.1.1
PASSWORD_MAX = 128  # ASVS 2.1.2: at least 64 allowed
TOKEN_NAME_MAX = 100
TOKEN_PREFIX = "zgb_"
SIGN_IN_REFUSED = "unknown username or wrong password"
_DUMMY_HASH = PASSWORD_HASHER.hash("not a password: keeps unknown names as slow as known ones")
_NAMES_TTL_S = 30.0


@dataclass(frozen=True)
class AccountInput:
    """The fields of a new account as the CLI and the API take them."""

    username: str
    display_name: str
    email: str = ""
    organisation: str | None = None
    departments: tuple[str, ...] = ()
    roles: frozenset[Role] = frozenset()
    themes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExternalIdentity:
    """What a single sign-on provider told us about a person, mapped by configuration."""

    subject: str  # issuer|sub
    username: str
    display_name: str
    email: str
    organisation: str | None
    departments: tuple[str, ...]
    roles: frozenset[Role]


class RecentLookups:
    """Credential lookups of the last ``ttl_s``: the requests of one map view (a dozen, with
    one token or session) read the store once. Every change of an account, token or session
    in this process clears it at once; another worker process sees such a change within
    ``ttl_s``."""

    def __init__(self, ttl_s: float = 1.0, size: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._found: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._found.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        value = load()
        with self._lock:
            if len(self._found) >= self.size:
                self._found.clear()
            self._found[key] = (now, value)
        return value

    def forget(self, key: str) -> None:
        with self._lock:
            self._found.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._found.clear()


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class AccountService:
    def __init__(
        self,
        store: Store,
        vocabulary: Vocabulary,
        settings: Settings,
        policy: Policy,
        audit: AuditService,
    ) -> None:
        self.store = store
        self.vocabulary = vocabulary
        self.settings = settings
        self.policy = policy
        self.audit = audit
        self.throttle = SignInThrottle(settings, store)
        self._names: dict[str, str] = {}
        self._names_generation = 0
        self._names_at = 0.0
        self._names_lock = threading.Lock()
        self._recent = RecentLookups()

    # ------------------------------------------------------------ managing accounts

    def add(
        self,
        actor: Actor,
        new: AccountInput,
        password: str | None = None,
        *,
        demo_password: bool = False,
    ) -> Account:
        """Create an account; an org admin only in their organisation, without region_admin."""
        self.policy.require_account_manage(
            actor, new.organisation, f"creating an account in {new.organisation}", new.roles
        )
        self._check(new)
        if self.store.find_account(new.username) is not None:  # the store checks it again
            raise Conflict(
                f"the username '{new.username}' is taken",
                field_errors=[FieldError("/username", "already taken")],
            )
        if password is not None:
            self._check_password(password, new.username)
        draft = NewAccount(
            username=new.username,
            display_name=new.display_name.strip(),
            email=new.email.strip(),
            organisation=new.organisation,
            departments=new.departments,
            roles=new.roles,
            themes=new.themes,
            password_hash=PASSWORD_HASHER.hash(password) if password is not None else None,
            demo_password=demo_password,
        )
        with self.store.transaction():
            account = self.store.add_account(draft)
            self.audit.record(
                actor,
                Change(
                    "account.create", "account", account.username, None, account_values(account)
                ),
            )
        self._accounts_changed()
        return account

    def bootstrap_allowed(self) -> bool:
        """The CLI may add the first region admin without an acting account while there is none."""
        return not any(
            a.active and Role.REGION_ADMIN in a.roles for a in self.store.list_accounts()
        )

    def list(self, actor: Actor, organisation: str | None = None) -> list[Account]:
        if not actor.is_region_admin:
            organisation = actor.organisation
        self.policy.require_account_read(actor, organisation)
        return self.store.list_accounts(organisation)

    def get(self, actor: Actor, username: str) -> Account:
        account = self._find(username)
        if actor.account_id != account.id:
            self.policy.require_account_read(actor, account.organisation)
        return account

    def set_roles(
        self,
        actor: Actor,
        username: str,
        roles: Collection[Role],
        themes: Collection[str] | None = None,
    ) -> Account:
        account = self._find(username)
        self.policy.require_account_manage(
            actor,
            account.organisation,
            f"changing the roles of {account.username}",
            set(roles) | set(account.roles),
        )
        changes: dict[str, Any] = {"roles": frozenset(roles)}
        if themes is not None:
            changes["themes"] = tuple(themes)
        self._check_themes(tuple(themes or ()))
        return self._update(actor, account, changes, "account.roles")

    def set_active(self, actor: Actor, username: str, active: bool) -> Account:
        account = self._find(username)
        self.policy.require_account_manage(
            actor,
            account.organisation,
            f"{'enabling' if active else 'disabling'} {account.username}",
            account.roles,
        )
        if actor.account_id == account.id and not active:
            raise InvalidInput("you cannot disable your own account")
        action = "account.enable" if active else "account.disable"
        with self.store.transaction():  # disabled and signed out together
            updated = self._update(actor, account, {"active": active}, action)
            if not active:
                self.store.delete_sessions(account_id=account.id)
        return updated

    def set_password(self, actor: Actor, username: str, password: str) -> Account:
        """A new password (not a demo one); every session of the account ends."""
        account = self._find(username)
        if actor.account_id != account.id:
            self.policy.require_account_manage(
                actor,
                account.organisation,
                f"setting the password of {account.username}",
                account.roles,
            )
        self._check_password(password, account.username)
        with self.store.transaction():
            updated = self.store.update_account(
                account.id,
                {"password_hash": PASSWORD_HASHER.hash(password), "demo_password": False},
            )
            self.audit.record(
                actor,
                Change(
                    "account.password", "account", account.username, None, {"password": "changed"}
                ),
            )
            self.store.delete_sessions(account_id=account.id)
        self._accounts_changed()
        return updated

    def _update(
        self, actor: Actor, account: Account, changes: dict[str, Any], action: str
    ) -> Account:
        with self.store.transaction():
            updated = self.store.update_account(account.id, changes, account.version)
            before, after = account_values(account), account_values(updated)
            self.audit.record(
                actor,
                Change(
                    action,
                    "account",
                    account.username,
                    {k: v for k, v in before.items() if after[k] != v},
                    {k: v for k, v in after.items() if before[k] != v},
                ),
            )
        self._accounts_changed()
        return updated

    def demo_passwords_in_use(self) -> list[str]:
        """Usernames of active accounts that still have a password printed by ``zugabe demo``."""
        return [a.username for a in self.store.list_accounts() if a.active and a.demo_password]

    # ------------------------------------------------------------ signing in

    def sign_in(self, username: str, password: str, address: str | None) -> Account:
        """Check a password; the same answer and about the same time for every failure.

        Failures are throttled per account and per address (429 with the wait time).
        """
        self.throttle.check(username, address)
        account = self.store.find_account(username.strip())
        stored = self.store.password_hash(account.id) if account is not None else None
        ok = False
        try:
            ok = PASSWORD_HASHER.verify(stored or _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if account is None or stored is None or not ok or not account.active:
            self.throttle.failed(username, address)
            self._audit_sign_in(username, account, address, "password", failed=True)
            raise Unauthorized(SIGN_IN_REFUSED)
        if PASSWORD_HASHER.check_needs_rehash(stored):
            self.store.update_account(account.id, {"password_hash": PASSWORD_HASHER.hash(password)})
        self._audit_sign_in(username, account, address, "password", failed=False)
        return account

    def sign_in_external(self, identity: ExternalIdentity, address: str | None) -> Account:
        """A single sign-on: the account linked to the subject, created or brought in step
        with the provider's claims (organisation and roles are the provider's to decide)."""
        values = {
            "display_name": identity.display_name,
            "email": identity.email,
            "organisation": identity.organisation,
            "departments": identity.departments,
            "roles": identity.roles,
        }
        with self.store.transaction():
            account = self.store.find_account_by_subject(identity.subject)
            if account is None:
                account = self.store.add_account(
                    NewAccount(
                        username=identity.username,
                        external_subject=identity.subject,
                        display_name=identity.display_name,
                        email=identity.email,
                        organisation=identity.organisation,
                        departments=identity.departments,
                        roles=identity.roles,
                    )
                )
                self.audit.record(
                    Actor.system("single-sign-on"),
                    Change(
                        "account.create", "account", account.username, None, account_values(account)
                    ),
                )
            elif any(getattr(account, k) != v for k, v in values.items()):
                before = account_values(account)
                account = self.store.update_account(account.id, values)
                after = account_values(account)
                self.audit.record(
                    Actor.system("single-sign-on"),
                    Change(
                        "account.roles",
                        "account",
                        account.username,
                        {k: v for k, v in before.items() if after[k] != v},
                        {k: v for k, v in after.items() if before[k] != v},
                    ),
                )
        if not account.active:
            self._audit_sign_in(account.username, account, address, "oidc", failed=True)
            raise Forbidden(f"the account {account.username} is disabled")
        self._audit_sign_in(account.username, account, address, "oidc", failed=False)
        self._accounts_changed()
        return account

    def _audit_sign_in(
        self, username: str, account: Account | None, address: str | None, via: str, *, failed: bool
    ) -> None:
        actor = (
            Actor.of(account, via=via, address=address)
            if account is not None and not failed
            else Actor.anonymous(address)
        )
        action = "auth.sign_in_failed" if failed else "auth.sign_in"
        with self.store.transaction():
            self.audit.record(
                actor, Change(action, "account", username.strip().lower()[:100], None, {"via": via})
            )

    # ------------------------------------------------------------ browser sessions

    def start_session(self, account: Account, via: str) -> str:
        """A new session id (the cookie's value); only its hash is stored."""
        session_id = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        self.store.add_session(
            BrowserSession(
                hash_secret(session_id), account.id, via, now, now, self._session_deadline(now, now)
            )
        )
        self.store.delete_sessions(expired_before=now)
        return session_id

    def session_actor(self, session_id: str, address: str | None) -> Actor | None:
        """The actor of a live session, or None (unknown, expired, account disabled)."""
        id_hash = hash_secret(session_id)
        found = self._recent.get(id_hash, lambda: self.store.find_session(id_hash))
        now = datetime.now(UTC)
        if found is None:
            return None
        session, account = found
        if session.expires_at <= now or not account.active:
            return None
        if (now - session.last_seen_at).total_seconds() > 60:  # one write a minute at most
            self.store.touch_session(id_hash, now, self._session_deadline(session.created_at, now))
        return Actor.of(account, via="session", address=address)

    def end_session(self, session_id: str, actor: Actor) -> None:
        with self.store.transaction():
            self.store.delete_sessions(id_hash=hash_secret(session_id))
            self._accounts_changed()
            if actor.authenticated:
                self.audit.record(actor, Change("auth.sign_out", "account", actor.username))

    def _session_deadline(self, created: datetime, now: datetime) -> datetime:
        """Idle timeout, never past the absolute lifetime."""
        return min(
            now + timedelta(minutes=self.settings.session_idle_minutes),
            created + timedelta(hours=self.settings.session_hours),
        )

    # ------------------------------------------------------------ API tokens

    def create_token(
        self, actor: Actor, username: str, name: str, scope: Scope, days: int | None = None
    ) -> tuple[ApiToken, str]:
        """A new token; the secret is returned once and never stored."""
        account = self._find(username)
        self.policy.require_own_or_managed(actor, account.id, account.organisation)
        days = self.settings.token_days if days is None else days
        if not 1 <= days <= self.settings.token_max_days:
            raise InvalidInput(
                f"a token lives 1 to {self.settings.token_max_days} days, not {days}",
                field_errors=[FieldError("/days", f"1 to {self.settings.token_max_days}")],
            )
        name = name.strip()
        if not name or len(name) > TOKEN_NAME_MAX:
            raise InvalidInput(
                f"a token needs a name (1-{TOKEN_NAME_MAX} characters), e.g. 'QGIS'",
                field_errors=[FieldError("/name", f"1-{TOKEN_NAME_MAX} characters")],
            )
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.store.transaction():
            token = self.store.add_token(
                NewApiToken(
                    account.id,
                    name,
                    hash_secret(secret),
                    secret[:12],
                    scope,
                    datetime.now(UTC) + timedelta(days=days),
                )
            )
            self.audit.record(
                actor,
                Change(
                    "token.create",
                    "token",
                    str(token.id),
                    None,
                    token_values(token, account.username),
                ),
            )
        return token, secret

    def list_tokens(self, actor: Actor, username: str | None = None) -> list[ApiToken]:
        if username is None:
            if actor.account_id is None:
                raise Unauthorized("sign in to list your tokens")
            return self.store.list_tokens(actor.account_id)
        account = self._find(username)
        if actor.account_id != account.id:
            self.policy.require_account_read(actor, account.organisation)
        return self.store.list_tokens(account.id)

    def revoke_token(self, actor: Actor, token_id: int) -> ApiToken:
        token = self.store.get_token(token_id)
        if token is None:
            raise NotFound(f"token {token_id} does not exist")
        owner = self.store.get_account(token.account_id)
        assert owner is not None
        self.policy.require_own_or_managed(actor, owner.id, owner.organisation)
        with self.store.transaction():
            self.store.update_token(token.id, revoked_at=datetime.now(UTC))
            self._accounts_changed()
            self.audit.record(
                actor,
                Change("token.revoke", "token", str(token.id), self.token_json(token), None),
            )
        revoked = self.store.get_token(token_id)
        assert revoked is not None
        return revoked

    def token_json(self, token: ApiToken) -> dict[str, Any]:
        """A token as the API shows it and the audit log records it (never its secret)."""
        owner = self.store.get_account(token.account_id)
        return token_values(token, owner.username if owner else str(token.account_id))

    def token_actor(self, secret: str, address: str | None) -> Actor:
        """The actor of a bearer token; 401 for an unknown, expired or revoked one."""
        token_hash = hash_secret(secret)
        found = (
            self._recent.get(token_hash, lambda: self.store.find_token(token_hash))
            if secret.startswith(TOKEN_PREFIX)
            else None
        )
        now = datetime.now(UTC)
        if found is None:
            raise Unauthorized("the bearer token is unknown, expired or revoked")
        token, account = found
        if token.revoked_at is not None or token.expires_at <= now:
            raise Unauthorized("the bearer token is unknown, expired or revoked")
        if not account.active:
            raise Unauthorized("the bearer token's account is disabled")
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 600:
            self.store.update_token(token.id, last_used_at=now)
            self._recent.forget(token_hash)  # else each use until it expires writes again
        return Actor.of(account, scope=token.scope, via="token", address=address)

    # ------------------------------------------------------------ display names

    def display_name(self, username: str) -> str:
        """The display name of a username for histories; the username if unknown."""
        with self._names_lock:
            return self._current_names().get(username, username)

    def names_generation(self) -> int:
        """Grows whenever the display names read from the store change: a text that shows
        names (a rendered case) is current as long as this stays the same."""
        with self._names_lock:
            self._current_names()
            return self._names_generation

    def _current_names(self) -> dict[str, str]:
        """The display names, read again when older than ``_NAMES_TTL_S`` (under the lock)."""
        if time.monotonic() - self._names_at > _NAMES_TTL_S:
            names = {a.username: a.display_name for a in self.store.list_accounts()}
            if names != self._names:
                self._names, self._names_generation = names, self._names_generation + 1
            self._names_at = time.monotonic()
        return self._names

    def _accounts_changed(self) -> None:
        """An account, token or session changed here: forget what was read before."""
        self._names_at = 0.0
        self._recent.clear()

    # ------------------------------------------------------------ checks

    def _find(self, username: str) -> Account:
        account = self.store.find_account(username)
        if account is None:
            raise NotFound(f"there is no account '{username}'")
        return account

    def _check(self, new: AccountInput) -> None:
        errors: list[FieldError] = []
        if not USERNAME_PATTERN.fullmatch(new.username):
            errors.append(FieldError("/username", "2-64 lower-case letters, digits or . _ @ -"))
        if not new.display_name.strip() or len(new.display_name) > 200:
            errors.append(FieldError("/display_name", "1-200 characters"))
        if new.email and ("@" not in new.email or len(new.email) > 254):
            errors.append(FieldError("/email", "an e-mail address"))
        org = self.vocabulary.organisations.get(new.organisation or "")
        if new.organisation is not None and org is None:
            errors.append(FieldError("/organisation", f"unknown organisation '{new.organisation}'"))
        if new.organisation is None and new.roles & ORGANISATION_ROLES:
            errors.append(FieldError("/organisation", "needed for these roles"))
        for department in new.departments:
            if org is not None and department not in org.departments:
                errors.append(
                    FieldError(
                        "/departments", f"'{department}' is not a department of {new.organisation}"
                    )
                )
        errors += self._theme_errors(new.themes)
        if errors:
            raise InvalidInput(
                "the account cannot be stored: "
                + "; ".join(f"{e.pointer[1:]}: {e.detail}" for e in errors),
                field_errors=errors,
            )

    def _check_themes(self, themes: tuple[str, ...]) -> None:
        errors = self._theme_errors(themes)
        if errors:
            raise InvalidInput(errors[0].detail, field_errors=errors)

    @staticmethod
    def _theme_errors(themes: Iterable[str]) -> list[FieldError]:
        return [
            FieldError("/themes", f"unknown theme '{t}' (themes: {', '.join(THEMES)}, or *)")
            for t in themes
            if t != ALL_THEMES and t not in THEMES
        ]

    @staticmethod
    def _check_password(password: str, username: str) -> None:
        problem = None
        if len(password) < PASSWORD_MIN:
            problem = f"at least {PASSWORD_MIN} characters"
        elif len(password) > PASSWORD_MAX:
            problem = f"at most {PASSWORD_MAX} characters"
        elif password.casefold() == username.casefold():
            problem = "must not be the username"
        if problem:
            raise InvalidInput(
                f"the password is too weak: {problem}",
                field_errors=[FieldError("/password", problem)],
            )


def account_values(account: Account) -> dict[str, Any]:
    """An account's values as the API shows them and the audit log records them."""
    return {
        "username": account.username,
        "display_name": account.display_name,
        "email": account.email,
        "organisation": account.organisation,
        "departments": list(account.departments),
        "roles": sorted(account.roles),
        "themes": list(account.themes),
        "active": account.active,
        "single_sign_on": account.external_subject is not None,
    }


def token_values(token: ApiToken, owner: str) -> dict[str, Any]:
    return {
        "id": token.id,
        "account": owner,
        "name": token.name,
        "prefix": token.prefix,
        "scope": token.scope.value,
        "created_at": token.created_at.isoformat(),
        "expires_at": token.expires_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


def parse_roles(raw: Iterable[str]) -> frozenset[Role]:
    roles = set()
    for value in raw:
        try:
            roles.add(Role(value.strip()))
        except ValueError:
            raise InvalidInput(
                f"unknown role '{value}'; roles: {', '.join(r.value for r in Role)}",
                field_errors=[FieldError("/roles", f"unknown role '{value}'")],
            ) from None
    return frozenset(roles)


def mapped_identity(claims: Mapping[str, Any], issuer: str, settings: Settings) -> ExternalIdentity:
    """Turn ID token / userinfo claims into an identity by the ``oidc_*`` settings."""
    username = str(claims.get(settings.oidc_username_claim) or claims.get("sub") or "").lower()
    if not USERNAME_PATTERN.fullmatch(username):
        raise Forbidden(
            f"the sign-on's '{settings.oidc_username_claim}' claim is not a usable username"
        )
    organisation = claims.get(settings.oidc_organisation_claim)
    organisation = settings.oidc_organisation_map.get(str(organisation), organisation)
    groups = claims.get(settings.oidc_roles_claim) or []
    if isinstance(groups, str):
        groups = [groups]
    roles = frozenset(
        Role(settings.oidc_role_map[g]) for g in groups if g in settings.oidc_role_map
    )
    departments = claims.get(settings.oidc_departments_claim) or []
    if isinstance(departments, str):
        departments = [departments]
    return ExternalIdentity(
        subject=f"{issuer}|{claims['sub']}",
        username=username,
        display_name=str(claims.get("name") or username),
        email=str(claims.get("email") or ""),
        organisation=str(organisation) if organisation else None,
        departments=tuple(str(d) for d in departments),
        roles=roles,
    )
