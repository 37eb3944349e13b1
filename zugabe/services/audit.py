"""The audit log as a use case: record changes and sign-ins, read and verify the chain.

Services call ``record`` inside the store transaction of the change itself, so a
change and its entry commit together or not at all.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from zugabe.domain.accounts import Actor
from zugabe.domain.audit import AuditEntry, AuditEvent, ChainCheck, verify_chain
from zugabe.domain.policy import Policy
from zugabe.errors import BadRequest
from zugabe.io.report_tables import neutralise
from zugabe.storage.contract import AuditQuery, Store

AUDIT_CSV_COLUMNS = (
    "seq",
    "at",
    "actor",
    "address",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "hash",
)


@dataclass(frozen=True)
class Change:
    """One audited change: what happened to which object, with the values before and after."""

    action: str
    object_type: str
    object_id: str
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None


class AuditService:
    def __init__(self, store: Store, policy: Policy) -> None:
        self.store = store
        self.policy = policy

    def record(self, actor: Actor, *changes: Change) -> None:
        """Append the changes as ``actor``'s (call inside the change's transaction)."""
        self.store.append_audit([_event(actor, change) for change in changes])

    def verify(self) -> ChainCheck:
        """Walk the whole chain; the first entry changed or deleted behind ZUGABE's back."""
        return verify_chain(self.store.iter_audit(), self.store.audit_head())

    def list(self, actor: Actor, query: AuditQuery) -> tuple[list[AuditEntry], int]:
        self.policy.require_audit_read(actor)
        return self.store.list_audit(query), self.store.count_audit(query)

    def csv_rows(self, actor: Actor, query: AuditQuery) -> Iterator[str]:
        """The matching entries as CSV text, page by page (no limit)."""
        self.policy.require_audit_read(actor)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(AUDIT_CSV_COLUMNS)
        after = query.after_seq
        while True:
            page = self.store.list_audit(replace(query, after_seq=after, limit=2000))
            for entry in page:
                writer.writerow([neutralise(cell) for cell in _csv_cells(entry)])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(page) < 2000:
                return
            after = page[-1].seq

    @staticmethod
    def to_json(entry: AuditEntry) -> dict[str, Any]:
        event = entry.event
        return {
            "seq": entry.seq,
            "at": entry.at.isoformat(),
            "actor": event.actor,
            "address": event.address,
            "action": event.action,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "before": event.before,
            "after": event.after,
            "hash": entry.hash,
        }


def parse_audit_query(params: Mapping[str, str]) -> AuditQuery:
    """Filters of ``GET /api/audit`` and ``zugabe audit list``."""

    def moment(name: str) -> datetime | None:
        raw = params.get(name)
        if not raw:
            return None
        try:
            value = datetime.fromisoformat(raw.upper())  # RFC 3339 allows "t" and "z"
        except ValueError:
            raise BadRequest(f"'{name}' must be a date or ISO 8601 time, got {raw!r}") from None
        return value if value.tzinfo else value.astimezone()

    return AuditQuery(
        actor=params.get("actor") or None,
        action=params.get("action") or None,
        object_type=params.get("object_type") or None,
        object_id=params.get("object_id") or None,
        time_from=moment("from"),
        time_to=moment("to"),
    )


def _event(actor: Actor, change: Change) -> AuditEvent:
    return AuditEvent(
        actor=actor.username,
        actor_id=actor.account_id,
        address=actor.address,
        action=change.action,
        object_type=change.object_type,
        object_id=change.object_id,
        before=_plain(change.before),
        after=_plain(change.after),
    )


def _plain(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """JSON-native values only (dates as ISO text), so the stored entry hashes the same."""
    if values is None:
        return None
    return json.loads(json.dumps(dict(values), default=str, ensure_ascii=False))


def _csv_cells(entry: AuditEntry) -> list[Any]:
    event = entry.event
    return [
        entry.seq,
        entry.at.isoformat(),
        event.actor,
        event.address or "",
        event.action,
        event.object_type,
        event.object_id,
        "" if event.before is None else json.dumps(event.before, ensure_ascii=False),
        "" if event.after is None else json.dumps(event.after, ensure_ascii=False),
        entry.hash,
    ]
