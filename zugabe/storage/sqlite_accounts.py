"""Accounts, API tokens, browser sessions and the audit log of the SQLite store.

A mixin of ``SqlStore``, so of both stores (the SQL is plain Core): it uses the store's
``_read``/``_write`` connections, so these writes join a ``transaction`` like every other
write. The audit chain is sealed here under the write lock (``BEGIN IMMEDIATE``), so two
writers can never both append after the same entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Row, Table, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from zugabe.domain.accounts import Account, Role, Scope
from zugabe.domain.audit import GENESIS_HASH, AuditEntry, AuditEvent, seal
from zugabe.errors import FieldError, InvalidInput, NotFound, VersionConflict
from zugabe.storage.contract import (
    ACCOUNT_FIELDS,
    ApiToken,
    AuditQuery,
    BrowserSession,
    NewAccount,
    NewApiToken,
)
from zugabe.storage.sql_connections import StoreConnections
from zugabe.storage.sqlite_schema import (
    accounts_table,
    api_tokens_table,
    audit_head_table,
    audit_log_table,
    sessions_table,
)

_AUDIT_BATCH = 5000
_JSON_LISTS = ("departments", "roles", "themes")


class SqliteAccountsAndAudit(StoreConnections):
    """The ``AccountStore`` and ``AuditStore`` parts of ``SqliteStore``."""

    # -- accounts ---------------------------------------------------------------

    def add_account(self, account: NewAccount) -> Account:
        now = datetime.now(UTC)
        values = {
            "username": account.username.lower(),
            "display_name": account.display_name,
            "email": account.email,
            "organisation": account.organisation,
            "departments": _json_list(account.departments),
            "roles": _json_list(sorted(account.roles)),
            "themes": _json_list(account.themes),
            "active": int(account.active),
            "password_hash": account.password_hash,
            "demo_password": int(account.demo_password),
            "external_subject": account.external_subject,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        with self._write() as conn:
            try:
                # A savepoint: a taken name inside a caller's transaction must not end it.
                with conn.begin_nested():
                    result = conn.execute(insert(accounts_table), values)
            except IntegrityError:
                raise InvalidInput(
                    f"the username '{values['username']}' is taken",
                    field_errors=[FieldError("/username", "already taken")],
                ) from None
            account_id = result.inserted_primary_key[0]
            row = conn.execute(
                select(accounts_table).where(accounts_table.c.id == account_id)
            ).one()
        return _account(row)

    def get_account(self, account_id: int) -> Account | None:
        return self._one_account(accounts_table.c.id == account_id)

    def find_account(self, username: str) -> Account | None:
        return self._one_account(accounts_table.c.username == username.lower())

    def find_account_by_subject(self, external_subject: str) -> Account | None:
        return self._one_account(accounts_table.c.external_subject == external_subject)

    def _one_account(self, condition: Any) -> Account | None:
        with self._read() as conn:
            row = conn.execute(select(accounts_table).where(condition)).first()
        return _account(row) if row is not None else None

    def list_accounts(self, organisation: str | None = None) -> list[Account]:
        statement = select(accounts_table).order_by(accounts_table.c.username)
        if organisation is not None:
            statement = statement.where(accounts_table.c.organisation == organisation)
        with self._read() as conn:
            return [_account(row) for row in conn.execute(statement)]

    def update_account(
        self, account_id: int, changes: dict[str, Any], expected_version: int | None = None
    ) -> Account:
        unknown = set(changes) - ACCOUNT_FIELDS
        if unknown:
            raise ValueError(f"not account fields: {sorted(unknown)}")
        values = dict(changes)
        for name in _JSON_LISTS:
            if name in values:
                items = values[name]
                values[name] = _json_list(sorted(items) if name == "roles" else items)
        for name in ("active", "demo_password"):
            if name in values:
                values[name] = int(values[name])
        with self._write() as conn:
            statement = update(accounts_table).where(accounts_table.c.id == account_id)
            if expected_version is not None:
                statement = statement.where(accounts_table.c.version == expected_version)
            result = conn.execute(
                statement.values(
                    **values, updated_at=datetime.now(UTC), version=accounts_table.c.version + 1
                )
            )
            if result.rowcount == 0:
                current = conn.execute(
                    select(accounts_table.c.version).where(accounts_table.c.id == account_id)
                ).scalar_one_or_none()
                if current is None:
                    raise NotFound(f"account {account_id} does not exist")
                raise VersionConflict(
                    f"account {account_id} was changed by someone else: you edited version "
                    f"{expected_version}, the current version is {current}"
                )
            row = conn.execute(
                select(accounts_table).where(accounts_table.c.id == account_id)
            ).one()
        return _account(row)

    def password_hash(self, account_id: int) -> str | None:
        with self._read() as conn:
            return conn.execute(
                select(accounts_table.c.password_hash).where(accounts_table.c.id == account_id)
            ).scalar_one_or_none()

    # -- API tokens -------------------------------------------------------------

    def add_token(self, token: NewApiToken) -> ApiToken:
        with self._write() as conn:
            token_id = conn.execute(
                insert(api_tokens_table),
                {
                    "account_id": token.account_id,
                    "name": token.name,
                    "token_hash": token.token_hash,
                    "prefix": token.prefix,
                    "scope": token.scope.value,
                    "created_at": datetime.now(UTC),
                    "expires_at": token.expires_at,
                },
            ).inserted_primary_key[0]
            row = conn.execute(
                select(api_tokens_table).where(api_tokens_table.c.id == token_id)
            ).one()
        return _token(row)

    def get_token(self, token_id: int) -> ApiToken | None:
        with self._read() as conn:
            row = conn.execute(
                select(api_tokens_table).where(api_tokens_table.c.id == token_id)
            ).first()
        return _token(row) if row is not None else None

    def find_token(self, token_hash: str) -> tuple[ApiToken, Account] | None:
        found = self._with_account(api_tokens_table, api_tokens_table.c.token_hash == token_hash)
        return (_token(found[0]), found[1]) if found is not None else None

    def list_tokens(self, account_id: int | None = None) -> list[ApiToken]:
        statement = select(api_tokens_table).order_by(api_tokens_table.c.id)
        if account_id is not None:
            statement = statement.where(api_tokens_table.c.account_id == account_id)
        with self._read() as conn:
            return [_token(row) for row in conn.execute(statement)]

    def update_token(
        self,
        token_id: int,
        *,
        last_used_at: datetime | None = None,
        revoked_at: datetime | None = None,
    ) -> None:
        values: dict[str, Any] = {}
        if last_used_at is not None:
            values["last_used_at"] = last_used_at
        if revoked_at is not None:
            values["revoked_at"] = revoked_at
        if not values:
            return
        with self._write() as conn:
            result = conn.execute(
                update(api_tokens_table).where(api_tokens_table.c.id == token_id).values(**values)
            )
            if result.rowcount == 0:
                raise NotFound(f"token {token_id} does not exist")

    # -- browser sessions -------------------------------------------------------

    def add_session(self, session: BrowserSession) -> None:
        with self._write() as conn:
            conn.execute(
                insert(sessions_table),
                {
                    "id_hash": session.id_hash,
                    "account_id": session.account_id,
                    "via": session.via,
                    "created_at": session.created_at,
                    "last_seen_at": session.last_seen_at,
                    "expires_at": session.expires_at,
                },
            )

    def find_session(self, id_hash: str) -> tuple[BrowserSession, Account] | None:
        found = self._with_account(sessions_table, sessions_table.c.id_hash == id_hash)
        if found is None:
            return None
        row = found[0]
        session = BrowserSession(
            row.id_hash, row.account_id, row.via, row.created_at, row.last_seen_at, row.expires_at
        )
        return session, found[1]

    def _with_account(self, rows: Table, condition: Any) -> tuple[Any, Account] | None:
        """One row of ``rows`` and its account, in one read (it runs on every request)."""
        statement = (
            select(rows, accounts_table)
            .join(accounts_table, accounts_table.c.id == rows.c.account_id)
            .where(condition)
        )
        with self._read() as conn:
            row = conn.execute(statement).first()
        if row is None:
            return None
        width = len(rows.c)
        return _part(row, rows, 0), _account(_part(row, accounts_table, width))

    def touch_session(self, id_hash: str, last_seen_at: datetime, expires_at: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                update(sessions_table)
                .where(sessions_table.c.id_hash == id_hash)
                .values(last_seen_at=last_seen_at, expires_at=expires_at)
            )

    def delete_sessions(
        self,
        *,
        id_hash: str | None = None,
        account_id: int | None = None,
        expired_before: datetime | None = None,
    ) -> int:
        conditions = []
        if id_hash is not None:
            conditions.append(sessions_table.c.id_hash == id_hash)
        if account_id is not None:
            conditions.append(sessions_table.c.account_id == account_id)
        if expired_before is not None:
            conditions.append(sessions_table.c.expires_at < expired_before)
        if not conditions:
            raise ValueError("delete_sessions needs a condition")
        with self._write() as conn:
            return conn.execute(delete(sessions_table).where(or_(*conditions))).rowcount

    # -- audit log --------------------------------------------------------------

    def append_audit(self, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        if not events:
            return []
        with self._write() as conn:
            head = conn.execute(select(audit_head_table.c.seq, audit_head_table.c.hash)).first()
            seq, previous = (head.seq, head.hash) if head is not None else (0, GENESIS_HASH)
            now = datetime.now(UTC)
            entries = []
            for event in events:
                seq += 1
                entry = seal(seq, now, event, previous)
                entries.append(entry)
                previous = entry.hash
            conn.execute(insert(audit_log_table), [_audit_row(entry) for entry in entries])
            if head is None:
                conn.execute(insert(audit_head_table).values(id=1, seq=seq, hash=previous))
            else:
                conn.execute(update(audit_head_table).values(seq=seq, hash=previous))
        return entries

    def list_audit(self, query: AuditQuery) -> list[AuditEntry]:
        statement = select(audit_log_table).where(*_audit_conditions(query))
        statement = statement.order_by(audit_log_table.c.seq)
        if query.after_seq is not None:
            statement = statement.where(audit_log_table.c.seq > query.after_seq)
        if query.limit is not None:
            statement = statement.limit(query.limit)
        with self._read() as conn:
            return [_audit_entry(row) for row in conn.execute(statement)]

    def count_audit(self, query: AuditQuery) -> int:
        statement = select(func.count()).select_from(audit_log_table)
        with self._read() as conn:
            return int(conn.execute(statement.where(*_audit_conditions(query))).scalar_one())

    def iter_audit(self) -> Iterator[AuditEntry]:
        after = 0
        while True:
            batch = self.list_audit(AuditQuery(after_seq=after, limit=_AUDIT_BATCH))
            yield from batch
            if len(batch) < _AUDIT_BATCH:
                return
            after = batch[-1].seq

    def audit_head(self) -> tuple[int, str] | None:
        with self._read() as conn:
            head = conn.execute(select(audit_head_table.c.seq, audit_head_table.c.hash)).first()
        return (int(head.seq), str(head.hash)) if head is not None else None


def _part(row: Row[Any], table: Table, start: int) -> Any:
    """The columns of ``table`` in a joined row, by name (both tables have an ``id``)."""
    values = row[start : start + len(table.c)]
    return SimpleNamespace(**dict(zip(table.c.keys(), values, strict=True)))


def _json_list(values: Any) -> str:
    return json.dumps([str(v) for v in values], ensure_ascii=False)


def _account(row: Row[Any]) -> Account:
    return Account(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        email=row.email,
        organisation=row.organisation,
        departments=tuple(json.loads(row.departments)),
        roles=frozenset(Role(r) for r in json.loads(row.roles)),
        themes=tuple(json.loads(row.themes)),
        active=bool(row.active),
        demo_password=bool(row.demo_password),
        external_subject=row.external_subject,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def _token(row: Row[Any]) -> ApiToken:
    return ApiToken(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        prefix=row.prefix,
        scope=Scope(row.scope),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _audit_row(entry: AuditEntry) -> dict[str, Any]:
    event = entry.event
    return {
        "seq": entry.seq,
        "at": entry.at,
        "actor": event.actor,
        "actor_id": event.actor_id,
        "address": event.address,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "before": None if event.before is None else _json(event.before),
        "after": None if event.after is None else _json(event.after),
        "previous_hash": entry.previous_hash,
        "hash": entry.hash,
    }


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _audit_entry(row: Row[Any]) -> AuditEntry:
    event = AuditEvent(
        actor=row.actor,
        actor_id=row.actor_id,
        address=row.address,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        before=None if row.before is None else json.loads(row.before),
        after=None if row.after is None else json.loads(row.after),
    )
    return AuditEntry(row.seq, row.at, event, row.previous_hash, row.hash)


def _audit_conditions(query: AuditQuery) -> list[Any]:
    table = audit_log_table.c
    conditions: list[Any] = []
    if query.actor:
        conditions.append(table.actor == query.actor)
    if query.action:
        if query.action.endswith("."):
            conditions.append(func.substr(table.action, 1, len(query.action)) == query.action)
        else:
            conditions.append(table.action == query.action)
    if query.object_type:
        conditions.append(table.object_type == query.object_type)
    if query.object_id:
        conditions.append(table.object_id == query.object_id)
    if query.time_from:
        conditions.append(table.at >= query.time_from)
    if query.time_to:
        conditions.append(table.at <= query.time_to)
    return conditions
