"""Watch areas and notifications in the SQLite store.

A mixin of ``SqlStore``, so of both stores (the SQL is plain Core): it uses the store's
``_read``/``_write`` connections, so the notifications of a change commit (or roll back)
with it inside ``transaction``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime

import shapely
from sqlalchemy import Row, delete, func, insert, or_, select, update

from zugabe.domain.notifications import (
    Kind,
    MailMode,
    NewNotification,
    Notification,
    Subscriptions,
)
from zugabe.storage.sql_connections import StoreConnections
from zugabe.storage.sqlite_schema import (
    notification_settings_table,
    notifications_table,
    watches_table,
)

_settings = notification_settings_table.c
_watches = watches_table.c
_notes = notifications_table.c
_LISTS = ("districts", "organisations", "departments", "layers")
"""The watched things kept in ``watches``, by the ``Subscriptions`` field (= ``kind``)."""


class SqliteNotifications(StoreConnections):
    """The ``NotificationStore`` part of ``SqliteStore``."""

    def get_subscriptions(self, username: str) -> Subscriptions | None:
        with self._read() as conn:
            row = conn.execute(
                select(notification_settings_table).where(_settings.username == username)
            ).first()
            if row is None:
                return None
            watched = conn.execute(select(watches_table).where(_watches.username == username))
            return _subscriptions(row, _by_kind(watched.all()).get(username, {}))

    def save_subscriptions(self, subscriptions: Subscriptions) -> None:
        username = subscriptions.username
        area = None if subscriptions.area is None else shapely.to_wkb(subscriptions.area)
        values = {
            "mail": subscriptions.mail.value,
            "language": subscriptions.language,
            "area": area,
            "updated_at": datetime.now(UTC),
        }
        with self._write() as conn:
            changed = conn.execute(
                update(notification_settings_table)
                .where(_settings.username == username)
                .values(**values)
            )
            if changed.rowcount == 0:
                conn.execute(
                    insert(notification_settings_table).values(username=username, **values)
                )
            conn.execute(delete(watches_table).where(_watches.username == username))
            rows = [
                {"username": username, "kind": kind, "value": value}
                for kind in _LISTS
                for value in dict.fromkeys(getattr(subscriptions, kind))
            ]
            if rows:
                conn.execute(insert(watches_table), rows)
            if subscriptions.mail is not MailMode.DAILY:
                conn.execute(
                    update(notifications_table)
                    .where(_notes.recipient == username, _notes.mail_pending == 1)
                    .values(mail_pending=0)
                )

    def list_subscriptions(self) -> list[Subscriptions]:
        with self._read() as conn:
            watched = _by_kind(conn.execute(select(watches_table)).all())
            rows = conn.execute(
                select(notification_settings_table)
                .where(
                    or_(
                        _settings.area.is_not(None),
                        _settings.username.in_(select(_watches.username).distinct()),
                    )
                )
                .order_by(_settings.username)
            ).all()
        return [_subscriptions(row, watched.get(row.username, {})) for row in rows]

    def add_notifications(self, notifications: Sequence[NewNotification]) -> list[Notification]:
        now = datetime.now(UTC)
        stored = []
        with self._write() as conn:
            for item in notifications:
                details = json.dumps(dict(item.details), ensure_ascii=False, sort_keys=True)
                result = conn.execute(
                    insert(notifications_table).values(
                        recipient=item.recipient,
                        kind=item.kind.value,
                        case_id=item.case_id,
                        project_id=item.project_id,
                        layer=item.layer,
                        details=details,
                        created_at=now,
                        mail_pending=int(item.mail_pending),
                    )
                )
                stored.append(
                    Notification(
                        id=int(result.inserted_primary_key[0]),
                        recipient=item.recipient,
                        kind=item.kind,
                        case_id=item.case_id,
                        project_id=item.project_id,
                        layer=item.layer,
                        details=json.loads(details),
                        created_at=now,
                    )
                )
        return stored

    def list_notifications(
        self, username: str, before_id: int | None = None, limit: int | None = None
    ) -> list[Notification]:
        statement = (
            select(notifications_table)
            .where(_notes.recipient == username)
            .order_by(_notes.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            statement = statement.where(_notes.id < before_id)
        with self._read() as conn:
            return [_notification(row) for row in conn.execute(statement)]

    def count_notifications(self, username: str, *, unread: bool = False) -> int:
        statement = select(func.count()).where(_notes.recipient == username)
        if unread:
            statement = statement.where(_notes.read_at.is_(None))
        with self._read() as conn:
            return int(conn.execute(statement).scalar_one())

    def mark_notifications_read(
        self, username: str, ids: Sequence[int] | None, at: datetime
    ) -> None:
        statement = (
            update(notifications_table)
            .where(_notes.recipient == username, _notes.read_at.is_(None))
            .values(read_at=at)
        )
        if ids is not None:
            statement = statement.where(_notes.id.in_(list(ids)))
        with self._write() as conn:
            conn.execute(statement)

    def digest_due(self, day: date) -> list[str]:
        statement = (
            select(_notes.recipient)
            .distinct()
            .join(notification_settings_table, _settings.username == _notes.recipient)
            .where(
                _notes.mail_pending == 1,
                _settings.mail == MailMode.DAILY.value,
                or_(_settings.last_digest_on.is_(None), _settings.last_digest_on != day),
            )
            .order_by(_notes.recipient)
        )
        with self._read() as conn:
            return list(conn.execute(statement).scalars())

    def take_digest(self, username: str, day: date) -> list[Notification]:
        with self._write() as conn:
            made = conn.execute(
                update(notification_settings_table)
                .where(
                    _settings.username == username,
                    or_(_settings.last_digest_on.is_(None), _settings.last_digest_on != day),
                )
                .values(last_digest_on=day)
            )
            if made.rowcount == 0:
                return []
            pending = (_notes.recipient == username, _notes.mail_pending == 1)
            rows = conn.execute(select(notifications_table).where(*pending).order_by(_notes.id))
            taken = [_notification(row) for row in rows]
            conn.execute(update(notifications_table).where(*pending).values(mail_pending=0))
        return taken


def _by_kind(rows: Sequence[Row]) -> dict[str, dict[str, list[str]]]:
    """Watched values by username and kind."""
    watched: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        watched[row.username][row.kind].append(row.value)
    return watched


def _subscriptions(row: Row, watched: dict[str, list[str]]) -> Subscriptions:
    return Subscriptions(
        username=row.username,
        mail=MailMode(row.mail),
        language="en" if row.language == "en" else "de",
        area=None if row.area is None else shapely.from_wkb(row.area),
        **{kind: tuple(sorted(watched.get(kind, ()))) for kind in _LISTS},
    )


def _notification(row: Row) -> Notification:
    return Notification(
        id=row.id,
        recipient=row.recipient,
        kind=Kind(row.kind),
        case_id=row.case_id,
        project_id=row.project_id,
        layer=row.layer,
        details=json.loads(row.details),
        created_at=row.created_at,
        read_at=row.read_at,
    )
