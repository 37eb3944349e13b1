"""The outbox of e-mails in the SQLite store.

A mixin of ``SqlStore``, so of both stores (the SQL is plain Core): it uses the store's
``_read``/``_write`` connections, so a mail queued inside ``transaction`` commits (or
rolls back) with the change it reports. Claiming takes the write lock (``BEGIN
IMMEDIATE``), so two senders — the server's background thread and ``zugabe mail send-due``
— never take the same mail.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import Row, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from zugabe.storage.contract import MailState, NewMail, OutboxMail
from zugabe.storage.sql_connections import StoreConnections
from zugabe.storage.sqlite_schema import mail_outbox_table

_outbox = mail_outbox_table.c


class SqliteMail(StoreConnections):
    """The ``MailStore`` part of ``SqliteStore``."""

    def enqueue_mail(self, mail: NewMail) -> int | None:
        now = datetime.now(UTC)
        values = {
            "kind": mail.kind,
            "dedup_key": mail.dedup_key,
            "recipient": mail.recipient,
            "subject": mail.subject,
            "text_body": mail.text,
            "html_body": mail.html,
            "created_at": now,
            "attempts": 0,
            "next_attempt_at": now,
        }
        with self._write() as conn:
            try:
                # A savepoint: a repeated dedup key must not end the caller's transaction.
                with conn.begin_nested():
                    result = conn.execute(insert(mail_outbox_table), values)
            except IntegrityError:
                return None
        return int(result.inserted_primary_key[0])

    def claim_due_mail(self, now: datetime, lease_until: datetime, limit: int) -> list[OutboxMail]:
        due = (
            select(mail_outbox_table)
            .where(_outbox.next_attempt_at <= now, _outbox.sent_at.is_(None))
            .order_by(_outbox.next_attempt_at, _outbox.id)
            .limit(limit)
        )
        with self._read() as conn:  # the usual answer is "nothing": no write lock for it
            if conn.execute(due.with_only_columns(_outbox.id)).first() is None:
                return []
        with self._write() as conn:
            rows = conn.execute(due).all()  # again, under the lock
            conn.execute(
                update(mail_outbox_table)
                .where(_outbox.id.in_([row.id for row in rows]))
                .values(attempts=_outbox.attempts + 1, next_attempt_at=lease_until)
            )
        return [
            replace(_mail(row), attempts=row.attempts + 1, next_attempt_at=lease_until)
            for row in rows
        ]

    def mail_sent(self, mail_id: int, at: datetime) -> None:
        self._set(mail_id, sent_at=at, next_attempt_at=None, last_error=None)

    def mail_not_sent(self, mail_id: int, error: str, retry_at: datetime | None) -> None:
        self._set(mail_id, next_attempt_at=retry_at, last_error=error)

    def _set(self, mail_id: int, **values: object) -> None:
        with self._write() as conn:
            conn.execute(update(mail_outbox_table).where(_outbox.id == mail_id).values(**values))

    def list_mail(self, limit: int) -> list[OutboxMail]:
        statement = select(mail_outbox_table).order_by(_outbox.id.desc()).limit(limit)
        with self._read() as conn:
            return [_mail(row) for row in conn.execute(statement)]

    def count_mail(self) -> dict[MailState, int]:
        state = case(
            (_outbox.sent_at.is_not(None), MailState.SENT.value),
            (_outbox.next_attempt_at.is_not(None), MailState.QUEUED.value),
            else_=MailState.FAILED.value,
        )
        counts = dict.fromkeys(MailState, 0)
        with self._read() as conn:
            for name, count in conn.execute(select(state, func.count()).group_by(state)):
                counts[MailState(name)] = count
        return counts


def _mail(row: Row) -> OutboxMail:
    return OutboxMail(
        id=row.id,
        recipient=row.recipient,
        subject=row.subject,
        text=row.text_body,
        html=row.html_body,
        kind=row.kind,
        dedup_key=row.dedup_key,
        created_at=row.created_at,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )
