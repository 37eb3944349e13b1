"""The audit log's entries and their hash chain.

Each entry stores the SHA-256 of its own content together with the hash of the
entry before it, so an entry changed or deleted behind ZUGABE's back breaks the
chain from there on: ``verify_chain`` names the first entry that does not fit.
The content is hashed as canonical JSON (sorted keys, no spaces), so any
backend that stores the same values computes the same hashes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64
"""The 'previous hash' of the first entry."""


@dataclass(frozen=True)
class AuditEvent:
    """One change or sign-in, as a use case reports it.

    ``before``/``after`` hold the changed values (no secrets: password hashes
    and tokens never reach the log).
    """

    actor: str
    actor_id: int | None
    address: str | None
    action: str  # project.create, case.status, layer.import, auth.sign_in_failed, …
    object_type: str
    object_id: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


@dataclass(frozen=True)
class AuditEntry:
    """An event as stored: its place in the chain, time and hashes."""

    seq: int
    at: datetime
    event: AuditEvent
    previous_hash: str
    hash: str


def entry_hash(seq: int, at: datetime, event: AuditEvent, previous_hash: str) -> str:
    """SHA-256 of an entry's canonical content and the previous entry's hash."""
    content = {
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "actor": event.actor,
        "actor_id": event.actor_id,
        "address": event.address,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "before": event.before,
        "after": event.after,
        "previous": previous_hash,
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seal(seq: int, at: datetime, event: AuditEvent, previous_hash: str) -> AuditEntry:
    """The entry that follows ``previous_hash`` in the chain."""
    return AuditEntry(seq, at, event, previous_hash, entry_hash(seq, at, event, previous_hash))


@dataclass(frozen=True)
class ChainCheck:
    """Result of ``verify_chain``: entries checked, and the first broken one if any."""

    checked: int
    broken_seq: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_seq is None


def verify_chain(entries: Iterable[AuditEntry], head: tuple[int, str] | None = None) -> ChainCheck:
    """Walk the log in order; the first entry whose hash, link or number is off is named.

    ``head`` is the last (seq, hash) the store recorded beside the log, so that
    deleting the newest entries is noticed too.
    """
    previous_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    for entry in entries:
        if entry.seq != expected_seq:
            return ChainCheck(
                checked, expected_seq, f"entry {expected_seq} is missing (next is {entry.seq})"
            )
        if entry.previous_hash != previous_hash:
            return ChainCheck(
                checked, entry.seq, f"entry {entry.seq} does not follow entry {entry.seq - 1}"
            )
        if entry_hash(entry.seq, entry.at, entry.event, entry.previous_hash) != entry.hash:
            return ChainCheck(
                checked, entry.seq, f"entry {entry.seq} was changed after it was written"
            )
        previous_hash, expected_seq, checked = entry.hash, expected_seq + 1, checked + 1
    if head is not None and head != (expected_seq - 1, previous_hash):
        last_seq = head[0]
        if last_seq >= expected_seq:
            return ChainCheck(
                checked, expected_seq, f"entries {expected_seq} to {last_seq} were deleted"
            )
        return ChainCheck(checked, head[0], f"entry {head[0]} was changed after it was written")
    return ChainCheck(checked)
