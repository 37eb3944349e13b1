"""Schema of the embedded SQLite store and the migrations that build it.

Migration steps are frozen DDL: once released, a step never changes, so a
store created by an old release and one created today end up identical.
New columns or indexes come as new steps appended to ``MIGRATIONS``. Each
step runs in its own transaction together with the row that records it in
``zugabe_schema_version``, so a crash leaves the store at the last complete
step and the next open carries on from there.

The Core tables at the bottom describe the *current* schema for queries;
``tests/test_storage_sqlite.py`` checks them against a migrated store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Date,
    Engine,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    column,
    func,
    insert,
    inspect,
    select,
    table,
)
from sqlalchemy.engine import Dialect

from zugabe.errors import StorageError

VERSION_TABLE = "zugabe_schema_version"


@dataclass(frozen=True)
class MigrationStep:
    """One schema change; ``apply`` runs inside the step's transaction."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _create_projects(conn: Connection) -> None:
    # AUTOINCREMENT: ids of deleted projects are never handed out again, so
    # links and coordination cases cannot silently point at a new project.
    conn.exec_driver_sql(
        """
        CREATE TABLE projects (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL,
            title_folded TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            organisation TEXT NOT NULL,
            department TEXT NOT NULL,
            measure_type TEXT NOT NULL,
            status TEXT NOT NULL,
            start_date DATE,
            end_date DATE,
            contact TEXT NOT NULL DEFAULT '',
            cost_eur REAL,
            geometry BLOB NOT NULL,
            min_x REAL NOT NULL,
            min_y REAL NOT NULL,
            max_x REAL NOT NULL,
            max_y REAL NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 1
        )
        """
    )
    conn.exec_driver_sql("CREATE INDEX ix_projects_organisation ON projects (organisation)")
    conn.exec_driver_sql("CREATE INDEX ix_projects_department ON projects (department)")
    conn.exec_driver_sql("CREATE INDEX ix_projects_status ON projects (status)")


def _create_projects_rtree(conn: Connection) -> None:
    # R*Tree ships with the sqlite3 module of every CPython build, unlike
    # SpatiaLite; it holds bounding boxes only, the exact test runs in Python.
    conn.exec_driver_sql(
        "CREATE VIRTUAL TABLE projects_rtree USING rtree(id, min_x, max_x, min_y, max_y)"
    )
    conn.exec_driver_sql(
        "INSERT INTO projects_rtree (id, min_x, max_x, min_y, max_y) "
        "SELECT id, min_x, max_x, min_y, max_y FROM projects"
    )


def _create_layers(conn: Connection) -> None:
    # One row per layer key: the current version. ``layer_versions`` keeps
    # the metadata and import report of every version, for the record.
    metadata_columns = """
            feature_count INTEGER NOT NULL,
            min_x REAL,
            min_y REAL,
            max_x REAL,
            max_y REAL,
            source TEXT NOT NULL,
            source_layer TEXT,
            source_crs TEXT NOT NULL,
            transformation TEXT NOT NULL,
            imported_at TEXT NOT NULL,
            imported_by TEXT NOT NULL,
            report TEXT NOT NULL
    """
    conn.exec_driver_sql(
        f"""
        CREATE TABLE layers (
            key TEXT PRIMARY KEY NOT NULL,
            version INTEGER NOT NULL,
            {metadata_columns}
        )
        """
    )
    conn.exec_driver_sql(
        f"""
        CREATE TABLE layer_versions (
            key TEXT NOT NULL,
            version INTEGER NOT NULL,
            {metadata_columns},
            PRIMARY KEY (key, version)
        )
        """
    )
    # AUTOINCREMENT, as for projects: a feature id is never handed out twice,
    # so ids seen in an old version cannot silently name a new feature.
    conn.exec_driver_sql(
        """
        CREATE TABLE layer_features (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            layer_key TEXT NOT NULL,
            attributes TEXT NOT NULL,
            geometry BLOB NOT NULL,
            derived BLOB,
            source_row INTEGER NOT NULL,
            min_x REAL NOT NULL,
            min_y REAL NOT NULL,
            max_x REAL NOT NULL,
            max_y REAL NOT NULL
        )
        """
    )
    # The index holds the rowid too, so it serves "layer_key = ? AND id > ?
    # ORDER BY id" (paging through one layer) without sorting.
    conn.exec_driver_sql("CREATE INDEX ix_layer_features_layer_key ON layer_features (layer_key)")
    conn.exec_driver_sql(
        "CREATE VIRTUAL TABLE layer_features_rtree USING rtree(id, min_x, max_x, min_y, max_y)"
    )


def _create_cases(conn: Connection) -> None:
    # One row per coordination case; ``pair_key`` (rule + ordered pair of
    # subjects) is its identity across recomputations, so it is UNIQUE.
    # AUTOINCREMENT, as for projects: case ids are quoted in mails and
    # minutes and must never name another case.
    conn.exec_driver_sql(
        """
        CREATE TABLE cases (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            pair_key TEXT NOT NULL UNIQUE,
            rule_id TEXT NOT NULL,
            subject_a_key TEXT NOT NULL,
            subject_a_kind TEXT NOT NULL,
            subject_a_ref TEXT NOT NULL,
            subject_a_layer TEXT,
            subject_b_key TEXT NOT NULL,
            subject_b_kind TEXT NOT NULL,
            subject_b_ref TEXT NOT NULL,
            subject_b_layer TEXT,
            relation TEXT NOT NULL,
            severity TEXT NOT NULL,
            geometry BLOB,
            measures TEXT NOT NULL,
            organisations TEXT NOT NULL,
            departments TEXT NOT NULL,
            message TEXT NOT NULL,
            window_start DATE,
            window_end DATE,
            min_x REAL,
            min_y REAL,
            max_x REAL,
            max_y REAL,
            status TEXT NOT NULL,
            status_reason TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 1
        )
        """
    )
    for name in ("subject_a_key", "subject_b_key", "status", "rule_id"):
        conn.exec_driver_sql(f"CREATE INDEX ix_cases_{name} ON cases ({name})")
    # Organisations and departments to involve, one row each, for the
    # "involves organisation X" filter; the JSON columns above keep the
    # finding's own order for reading. Clustered by (kind, value): a filter
    # reads one contiguous range of case ids. No index on case_id: rows are
    # replaced by their whole key (the old values are in the JSON columns),
    # and cases are never deleted.
    conn.exec_driver_sql(
        """
        CREATE TABLE case_involvements (
            case_id INTEGER NOT NULL REFERENCES cases (id),
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (kind, value, case_id)
        ) WITHOUT ROWID
        """
    )
    conn.exec_driver_sql(
        """
        CREATE TABLE case_comments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            case_id INTEGER NOT NULL REFERENCES cases (id),
            at TEXT NOT NULL,
            by_user TEXT NOT NULL,
            text TEXT NOT NULL
        )
        """
    )
    conn.exec_driver_sql("CREATE INDEX ix_case_comments_case_id ON case_comments (case_id)")
    # Append-only and never deleted, so the rowid alone keeps ids unique.
    conn.exec_driver_sql(
        """
        CREATE TABLE case_history (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases (id),
            at TEXT NOT NULL,
            by_user TEXT NOT NULL,
            what TEXT NOT NULL
        )
        """
    )
    conn.exec_driver_sql("CREATE INDEX ix_case_history_case_id ON case_history (case_id)")
    # Boxes of the overlap geometries; cases without one have no row here.
    conn.exec_driver_sql(
        "CREATE VIRTUAL TABLE cases_rtree USING rtree(id, min_x, max_x, min_y, max_y)"
    )


def _create_revision(conn: Connection) -> None:
    # Triggers, so every writer bumps the counter, whatever code path it takes. On ``layers``
    # (one row per layer), not on its features: a layer import adds one, not a million.
    conn.exec_driver_sql(
        """
        CREATE TABLE store_revision (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            revision INTEGER NOT NULL
        )
        """
    )
    conn.exec_driver_sql("INSERT INTO store_revision (id, revision) VALUES (1, 0)")
    for source in ("projects", "layers"):
        for event in ("INSERT", "UPDATE", "DELETE"):
            conn.exec_driver_sql(
                f"""
                CREATE TRIGGER {source}_{event.lower()}_revision AFTER {event} ON {source}
                BEGIN
                    UPDATE store_revision SET revision = revision + 1 WHERE id = 1;
                END
                """
            )


def _rewrite_pair_keys(conn: Connection) -> None:
    # Case identities were written as ``rule|project/1|layer/trees/B-7`` before the engine
    # and the case store shared one subject type; now ``rule|project:1|layer:trees:B-7``,
    # the subject keys of the case columns. Self-contained (frozen with the step): projects
    # first by number, then layer features by layer and reference.
    rows = conn.exec_driver_sql(
        "SELECT id, rule_id, subject_a_key, subject_a_kind, subject_a_ref, subject_a_layer, "
        "subject_b_key, subject_b_kind, subject_b_ref, subject_b_layer FROM cases"
    ).all()

    def order(kind: str, ref: str, layer: str | None) -> tuple[int, str, int, str]:
        return (0, "", int(ref), "") if kind == "project" else (1, layer or "", 0, ref)

    for row in rows:
        subjects = sorted(
            [(order(*row[3:6]), row[2]), (order(*row[7:10]), row[6])], key=lambda s: s[0]
        )
        conn.exec_driver_sql(
            "UPDATE cases SET pair_key = ? WHERE id = ?",
            (f"{row[1]}|{subjects[0][1]}|{subjects[1][1]}", row[0]),
        )


def _create_accounts(conn: Connection) -> None:
    # Accounts: roles, departments and themes as JSON lists (a handful per account).
    # ``username`` is stored lower-case and unique. A password hash (argon2id) is never
    # read with the account, only by the sign-in (``password_hash``).
    conn.exec_driver_sql(
        """
        CREATE TABLE accounts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            username TEXT NOT NULL UNIQUE,
            display_name TEXT NOT NULL,
            email TEXT NOT NULL DEFAULT '',
            organisation TEXT,
            departments TEXT NOT NULL DEFAULT '[]',
            roles TEXT NOT NULL DEFAULT '[]',
            themes TEXT NOT NULL DEFAULT '[]',
            active INTEGER NOT NULL DEFAULT 1,
            password_hash TEXT,
            demo_password INTEGER NOT NULL DEFAULT 0,
            external_subject TEXT UNIQUE,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            version INTEGER NOT NULL
        )
        """
    )
    # Personal API tokens: only the SHA-256 of the secret is kept.
    conn.exec_driver_sql(
        """
        CREATE TABLE api_tokens (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            account_id INTEGER NOT NULL REFERENCES accounts (id),
            name TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            scope TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        )
        """
    )
    conn.exec_driver_sql("CREATE INDEX api_tokens_account ON api_tokens (account_id)")
    # Browser sessions, server side: the cookie holds a random id, the store its SHA-256,
    # so signing out (or disabling an account) ends a session for good.
    conn.exec_driver_sql(
        """
        CREATE TABLE sessions (
            id_hash TEXT PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts (id),
            via TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )
        """
    )
    conn.exec_driver_sql("CREATE INDEX sessions_account ON sessions (account_id)")
    # The audit log, hash-chained (``zugabe.domain.audit``); ``audit_head`` holds the last
    # entry's number and hash, so deleting the newest entries is noticed too.
    conn.exec_driver_sql(
        """
        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            actor_id INTEGER,
            address TEXT,
            action TEXT NOT NULL,
            object_type TEXT NOT NULL,
            object_id TEXT NOT NULL,
            before TEXT,
            after TEXT,
            previous_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )
        """
    )
    conn.exec_driver_sql("CREATE INDEX audit_log_at ON audit_log (at)")
    conn.exec_driver_sql(
        """
        CREATE TABLE audit_head (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            seq INTEGER NOT NULL,
            hash TEXT NOT NULL
        )
        """
    )


def _create_layer_archive(conn: Connection) -> None:
    # The features of earlier layer versions, kept for a rollback (``keep_layer_versions``):
    # no spatial index, as they are only ever read whole, to be written back.
    conn.exec_driver_sql(
        """
        CREATE TABLE layer_feature_archive (
            id INTEGER PRIMARY KEY,
            layer_key TEXT NOT NULL,
            version INTEGER NOT NULL,
            attributes TEXT NOT NULL,
            geometry BLOB NOT NULL,
            derived BLOB,
            source_row INTEGER NOT NULL
        )
        """
    )
    conn.exec_driver_sql(
        "CREATE INDEX ix_layer_feature_archive_version "
        "ON layer_feature_archive (layer_key, version)"
    )


def _add_external_ids(conn: Connection) -> None:
    # A project's number in the system it comes from; unique where given, so that a bulk
    # import of that system's list finds the project again.
    conn.exec_driver_sql("ALTER TABLE projects ADD COLUMN external_id TEXT NOT NULL DEFAULT ''")
    conn.exec_driver_sql(
        "CREATE UNIQUE INDEX ux_projects_external_id ON projects (external_id) "
        "WHERE external_id != ''"
    )


def _create_mail_outbox(conn: Connection) -> None:
    # E-mails waiting to be sent, written in the transaction of the change they tell about
    # and sent later (``zugabe.services.mail``): a save never waits for the mail server.
    # ``next_attempt_at`` is NULL once a mail is sent or given up; ``dedup_key``, where
    # given, is unique, so one notification is queued once.
    conn.exec_driver_sql(
        """
        CREATE TABLE mail_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            dedup_key TEXT,
            recipient TEXT NOT NULL,
            subject TEXT NOT NULL,
            text_body TEXT NOT NULL,
            html_body TEXT,
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            sent_at TEXT,
            last_error TEXT
        )
        """
    )
    conn.exec_driver_sql("CREATE UNIQUE INDEX ux_mail_outbox_dedup_key ON mail_outbox (dedup_key)")
    conn.exec_driver_sql(
        "CREATE INDEX ix_mail_outbox_next_attempt_at ON mail_outbox (next_attempt_at)"
    )


_LEGACY_CLOSED = {"resolved": "other", "dismissed": "no_action"}
"""Statuses before the agreement step, and the decision kind their cases keep."""


def _legacy_event(what: str) -> tuple[str, dict[str, Any]]:
    """A history sentence of before step 11 as a structured event, where it is one of
    the fixed sentences; anything else (recomputed changes) stays as its text."""
    if what == "created":
        return "created", {}
    if what.startswith("reopened"):
        return "reopened", {}
    if what == "comment":
        return "commented", {}
    if what == "obsolete" or what.startswith("obsolete: "):
        return "obsoleted", {"reason": _legacy_reason(what.removeprefix("obsolete").lstrip(": "))}
    status = re.fullmatch(r"status (\w+) → (\w+)(?:: (.*))?", what, re.DOTALL)
    if status:
        before, after, reason = status.groups()
        return "status_changed", {"from": before, "to": after, "reason": reason or ""}
    return "legacy", {"text": what}


def _legacy_reason(text: str) -> dict[str, Any]:
    if text == "the rule no longer applies to this pair":
        return {"code": "rule_no_longer_applies"}
    deleted = re.fullmatch(r"project (\d+) was deleted", text)
    if deleted:
        return {"code": "project_deleted", "project": int(deleted.group(1))}
    return {"code": "text", "text": text} if text else {}


def _create_case_desk(conn: Connection) -> None:
    # The coordination desk: who works a case and by when, the decisions proposed on it
    # and each organisation's vote, who has seen what, and history as structured events
    # (worded when read, in the reader's language).
    conn.exec_driver_sql("ALTER TABLE cases ADD COLUMN assignee TEXT")
    conn.exec_driver_sql("ALTER TABLE cases ADD COLUMN due_date DATE")
    conn.exec_driver_sql("CREATE INDEX ix_cases_assignee ON cases (assignee)")
    conn.exec_driver_sql(
        """
        CREATE TABLE case_decisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            case_id INTEGER NOT NULL REFERENCES cases (id),
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            measures TEXT NOT NULL,
            proposed_by TEXT NOT NULL,
            proposed_at TEXT NOT NULL,
            state TEXT NOT NULL,
            closed_at TEXT
        )
        """
    )
    conn.exec_driver_sql("CREATE INDEX ix_case_decisions_case_id ON case_decisions (case_id)")
    conn.exec_driver_sql(
        """
        CREATE TABLE case_votes (
            decision_id INTEGER NOT NULL REFERENCES case_decisions (id),
            organisation TEXT NOT NULL,
            choice TEXT NOT NULL,
            reason TEXT NOT NULL,
            by_user TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (decision_id, organisation)
        )
        """
    )
    conn.exec_driver_sql(
        """
        CREATE TABLE case_reads (
            username TEXT NOT NULL,
            case_id INTEGER NOT NULL,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (username, case_id)
        ) WITHOUT ROWID
        """
    )
    conn.exec_driver_sql(
        "CREATE TABLE desk_visits (username TEXT PRIMARY KEY, seen_at TEXT NOT NULL)"
    )
    conn.exec_driver_sql("ALTER TABLE case_history ADD COLUMN event TEXT NOT NULL DEFAULT ''")
    conn.exec_driver_sql("ALTER TABLE case_history ADD COLUMN details TEXT NOT NULL DEFAULT '{}'")
    for row_id, what in conn.exec_driver_sql("SELECT id, what FROM case_history").fetchall():
        kind, details = _legacy_event(what)
        conn.exec_driver_sql(
            "UPDATE case_history SET event = ?, details = ? WHERE id = ?",
            (kind, json.dumps(details, ensure_ascii=False, sort_keys=True), row_id),
        )
    conn.exec_driver_sql("ALTER TABLE case_history DROP COLUMN what")
    # Reasons become structured too; only obsolete cases keep one.
    for case_id, status, reason in conn.exec_driver_sql(
        "SELECT id, status, status_reason FROM cases"
    ).fetchall():
        structured = _legacy_reason(reason) if status == "obsolete" else {}
        conn.exec_driver_sql(
            "UPDATE cases SET status_reason = ? WHERE id = ?",
            (json.dumps(structured, sort_keys=True), case_id),
        )
        if status in _LEGACY_CLOSED:
            # Closed by one click before agreements existed: kept as agreed, with a decision
            # that says so and has no votes.
            closed = conn.exec_driver_sql(
                "SELECT by_user, at FROM case_history WHERE case_id = ? "
                "AND event = 'status_changed' ORDER BY id DESC LIMIT 1",
                (case_id,),
            ).first()
            by, at = closed if closed else ("migration", _now_iso())
            conn.exec_driver_sql(
                "INSERT INTO case_decisions (case_id, kind, text, measures, proposed_by, "
                "proposed_at, state, closed_at) VALUES (?, ?, ?, '[]', ?, ?, 'agreed', ?)",
                (case_id, _LEGACY_CLOSED[status], reason or status, by, at, at),
            )
            conn.exec_driver_sql("UPDATE cases SET status = 'agreed' WHERE id = ?", (case_id,))


def _add_layer_responsibility(conn: Connection) -> None:
    # Whom to talk to about a layer's features: the organisation responsible for the data,
    # recorded with each version at import (and taken along by a rollback).
    for name in ("layers", "layer_versions"):
        conn.exec_driver_sql(f"ALTER TABLE {name} ADD COLUMN responsible_organisation TEXT")


def _create_notifications(conn: Connection) -> None:
    # Watch areas and notifications (``zugabe.services.notifications``): per account its mail
    # settings and drawn area (WKB, storage CRS), what it watches (district ids, organisation,
    # department and layer keys), and its notifications, written with the change they tell
    # about. ``mail_pending`` marks those waiting for the daily digest; ``last_digest_on``
    # makes a digest once a day at most.
    conn.exec_driver_sql(
        """
        CREATE TABLE notification_settings (
            username TEXT PRIMARY KEY,
            mail TEXT NOT NULL,
            language TEXT NOT NULL,
            area BLOB,
            last_digest_on DATE,
            updated_at TEXT NOT NULL
        )
        """
    )
    conn.exec_driver_sql(
        """
        CREATE TABLE watches (
            username TEXT NOT NULL,
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (username, kind, value)
        ) WITHOUT ROWID
        """
    )
    conn.exec_driver_sql(
        """
        CREATE TABLE notifications (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            recipient TEXT NOT NULL,
            kind TEXT NOT NULL,
            case_id INTEGER,
            project_id INTEGER,
            layer TEXT,
            details TEXT NOT NULL,
            created_at TEXT NOT NULL,
            read_at TEXT,
            mail_pending INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    conn.exec_driver_sql(
        "CREATE INDEX ix_notifications_recipient_id ON notifications (recipient, id)"
    )
    conn.exec_driver_sql(
        "CREATE INDEX ix_notifications_mail_pending ON notifications (recipient) "
        "WHERE mail_pending = 1"
    )


def _create_change_log(conn: Connection) -> None:
    # What each revision changed, written by the same triggers that count revisions, so
    # that a process whose detection index is behind reloads only the changed projects.
    # The triggers trim the log as they write, to its last 10,000 entries: it stays bounded
    # whoever writes, and a reader further behind finds it trimmed and starts over.
    conn.exec_driver_sql(
        """
        CREATE TABLE store_changes (
            revision INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            ref TEXT NOT NULL
        )
        """
    )
    for source, kind, ref in (("projects", "project", "id"), ("layers", "layer", "key")):
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            name = f"{source}_{event.lower()}_revision"
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
            conn.exec_driver_sql(
                f"""
                CREATE TRIGGER {name} AFTER {event} ON {source}
                BEGIN
                    UPDATE store_revision SET revision = revision + 1 WHERE id = 1;
                    INSERT INTO store_changes (revision, kind, ref)
                        SELECT revision, '{kind}', {row}.{ref} FROM store_revision WHERE id = 1;
                    DELETE FROM store_changes WHERE revision <=
                        (SELECT revision FROM store_revision WHERE id = 1) - 10000;
                END
                """
            )


def _create_sign_in_attempts(conn: Connection) -> None:
    # The sign-in throttle's moving windows, shared by every process on the store: one row
    # per failed sign-in and throttle key (an account, a client address).
    conn.exec_driver_sql(
        """
        CREATE TABLE sign_in_attempts (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL,
            at REAL NOT NULL
        )
        """
    )
    conn.exec_driver_sql("CREATE INDEX ix_sign_in_attempts_key_at ON sign_in_attempts (key, at)")
    conn.exec_driver_sql("CREATE INDEX ix_sign_in_attempts_at ON sign_in_attempts (at)")


def _create_good_practice(conn: Connection) -> None:
    # Good-practice examples (``zugabe.domain.good_practice``): the content, the round of
    # votes (who votes: ``involved``; on which synergies: a JSON snapshot of the agreed
    # cases), the project's geometry (WKB, storage CRS) for the public map, the votes of
    # every round, and the photos with their thumbnails as blobs (they go with the store
    # into every backup and copy).
    conn.exec_driver_sql(
        """
        CREATE TABLE good_practices (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            project_id INTEGER NOT NULL UNIQUE,
            organisation TEXT NOT NULL,
            measure_type TEXT NOT NULL,
            geometry BLOB NOT NULL,
            title TEXT NOT NULL,
            description TEXT NOT NULL,
            costs_eur REAL,
            costs_note TEXT NOT NULL,
            lessons TEXT NOT NULL,
            contacts TEXT NOT NULL,
            tags TEXT NOT NULL,
            state TEXT NOT NULL,
            round INTEGER NOT NULL,
            involved TEXT NOT NULL,
            synergies TEXT NOT NULL,
            proposed_by TEXT NOT NULL,
            proposed_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            version INTEGER NOT NULL,
            released_at TEXT,
            withdrawn_by TEXT,
            withdrawn_at TEXT,
            withdraw_reason TEXT NOT NULL DEFAULT ''
        )
        """
    )
    conn.exec_driver_sql("CREATE INDEX ix_good_practices_state ON good_practices (state)")
    conn.exec_driver_sql(
        """
        CREATE TABLE good_practice_votes (
            example_id INTEGER NOT NULL REFERENCES good_practices (id),
            round INTEGER NOT NULL,
            organisation TEXT NOT NULL,
            choice TEXT NOT NULL,
            reason TEXT NOT NULL,
            by_user TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (example_id, round, organisation)
        )
        """
    )
    conn.exec_driver_sql(
        """
        CREATE TABLE good_practice_photos (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            example_id INTEGER NOT NULL REFERENCES good_practices (id),
            caption TEXT NOT NULL,
            media_type TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            size INTEGER NOT NULL,
            kept_location INTEGER NOT NULL,
            image BLOB NOT NULL,
            thumbnail BLOB NOT NULL,
            added_by TEXT NOT NULL,
            added_at TEXT NOT NULL
        )
        """
    )
    conn.exec_driver_sql(
        "CREATE INDEX ix_good_practice_photos_example_id ON good_practice_photos (example_id)"
    )


def _create_checklist_answers(conn: Connection) -> None:
    # Planners' answers to the checklist of a development plan: one row per project and item
    # (the item ids are the checklist file's); deleted with their project.
    conn.exec_driver_sql(
        """
        CREATE TABLE checklist_answers (
            project_id INTEGER NOT NULL,
            item TEXT NOT NULL,
            answer TEXT NOT NULL,
            note TEXT NOT NULL,
            answered_by TEXT NOT NULL,
            answered_at TEXT NOT NULL,
            PRIMARY KEY (project_id, item)
        ) WITHOUT ROWID
        """
    )


MIGRATIONS: tuple[MigrationStep, ...] = (
    MigrationStep(1, "projects table", _create_projects),
    MigrationStep(2, "bounding-box spatial index for projects", _create_projects_rtree),
    MigrationStep(3, "thematic layers: versions, features and their spatial index", _create_layers),
    MigrationStep(
        4, "coordination cases: involvements, comments, history, spatial index", _create_cases
    ),
    MigrationStep(5, "a revision counter of project and layer changes", _create_revision),
    MigrationStep(6, "case identities in the subject key format", _rewrite_pair_keys),
    MigrationStep(7, "accounts, API tokens, sessions and the audit log", _create_accounts),
    MigrationStep(8, "features of earlier layer versions, for a rollback", _create_layer_archive),
    MigrationStep(9, "external ids of projects, for bulk updates", _add_external_ids),
    MigrationStep(10, "the outbox of e-mails", _create_mail_outbox),
    MigrationStep(
        11,
        "the coordination desk: assignees, due dates, decisions, votes, events",
        _create_case_desk,
    ),
    MigrationStep(12, "the organisation responsible for a layer", _add_layer_responsibility),
    MigrationStep(13, "watch areas and notifications", _create_notifications),
    MigrationStep(14, "a log of what each revision changed", _create_change_log),
    MigrationStep(15, "failed sign-ins counted for the throttle", _create_sign_in_attempts),
    MigrationStep(16, "good-practice examples, their votes and photos", _create_good_practice),
    MigrationStep(17, "answers to the checklists of development plans", _create_checklist_answers),
)

LATEST_VERSION = MIGRATIONS[-1].version


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _ensure_version_table(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS zugabe_schema_version ("
            "version INTEGER PRIMARY KEY, "
            "description TEXT NOT NULL, "
            "applied_at TEXT NOT NULL)"
        )


def read_version(conn: Connection) -> int:
    """The highest applied step, 0 for a store without any."""
    value = conn.execute(select(func.max(schema_version_table.c.version))).scalar()
    return int(value or 0)


def _refuse_newer(version: int, latest: int, where: str) -> None:
    if version > latest:
        raise StorageError(
            f"the store {where} has schema version {version}, but this version of "
            f"ZUGABE only knows schema versions up to {latest}; it was written by a "
            "newer ZUGABE. Upgrade ZUGABE (or restore a backup) instead of opening it "
            "with this version"
        )


def migrate(
    reader: Engine,
    writer: Engine,
    steps: Sequence[MigrationStep] = MIGRATIONS,
    where: str = "",
) -> list[int]:
    """Bring the schema up to the last step; return the versions applied now.

    An up-to-date store is only read, so opening it takes no write lock.
    ``writer`` must open write transactions (``BEGIN IMMEDIATE``): two
    processes opening a new store at once then take turns, and as the
    version is re-read inside each step's transaction, no step runs twice.
    """
    for position, step in enumerate(steps, start=1):
        if step.version != position:
            raise ValueError(f"migration steps must be numbered 1, 2, …; got {step.version}")
    latest = steps[-1].version if steps else 0
    with reader.connect() as conn:
        current = read_version(conn) if inspect(conn).has_table(VERSION_TABLE) else 0
    _refuse_newer(current, latest, where)
    if current == latest:
        return []
    _ensure_version_table(writer)
    applied: list[int] = []
    for step in steps:
        with writer.begin() as conn:
            current = read_version(conn)
            _refuse_newer(current, latest, where)
            if current >= step.version:
                continue
            step.apply(conn)
            conn.execute(
                insert(schema_version_table).values(
                    version=step.version, description=step.description, applied_at=_now_iso()
                )
            )
        applied.append(step.version)
    return applied


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes stored as ISO 8601 text.

    SQLite has no timestamp type and SQLAlchemy's ``DateTime`` drops the
    offset there; fixed-width UTC text keeps round trips exact and sortable.
    """

    impl = String
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC).isoformat(timespec="microseconds")

    def process_result_value(self, value: str | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return datetime.fromisoformat(value).astimezone(UTC)


metadata = MetaData()

schema_version_table = Table(
    VERSION_TABLE,
    metadata,
    Column("version", Integer, primary_key=True),
    Column("description", Text, nullable=False),
    Column("applied_at", Text, nullable=False),
)

projects_table = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", Text, nullable=False),
    Column("title_folded", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("organisation", Text, nullable=False),
    Column("department", Text, nullable=False),
    Column("measure_type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("start_date", Date),
    Column("end_date", Date),
    Column("contact", Text, nullable=False),
    Column("external_id", Text, nullable=False, server_default=""),
    Column("cost_eur", Float),
    Column("geometry", LargeBinary, nullable=False),
    Column("min_x", Float, nullable=False),
    Column("min_y", Float, nullable=False),
    Column("max_x", Float, nullable=False),
    Column("max_y", Float, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("updated_by", Text, nullable=False),
    Column("version", Integer, nullable=False),
    sqlite_autoincrement=True,
)

projects_rtree_table = Table(
    "projects_rtree",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("min_x", Float, nullable=False),
    Column("max_x", Float, nullable=False),
    Column("min_y", Float, nullable=False),
    Column("max_y", Float, nullable=False),
)


def _layer_metadata_columns() -> list[Column[Any]]:
    return [
        Column("feature_count", Integer, nullable=False),
        Column("min_x", Float),
        Column("min_y", Float),
        Column("max_x", Float),
        Column("max_y", Float),
        Column("source", Text, nullable=False),
        Column("source_layer", Text),
        Column("source_crs", Text, nullable=False),
        Column("transformation", Text, nullable=False),
        Column("imported_at", UtcDateTime, nullable=False),
        Column("imported_by", Text, nullable=False),
        Column("report", Text, nullable=False),
        Column("responsible_organisation", Text),  # step 12
    ]


layers_table = Table(
    "layers",
    metadata,
    Column("key", Text, primary_key=True),
    Column("version", Integer, nullable=False),
    *_layer_metadata_columns(),
)

layer_versions_table = Table(
    "layer_versions",
    metadata,
    Column("key", Text, primary_key=True),
    Column("version", Integer, primary_key=True),
    *_layer_metadata_columns(),
)

layer_features_table = Table(
    "layer_features",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("layer_key", Text, nullable=False),
    Column("attributes", Text, nullable=False),
    Column("geometry", LargeBinary, nullable=False),
    Column("derived", LargeBinary),
    Column("source_row", Integer, nullable=False),
    Column("min_x", Float, nullable=False),
    Column("min_y", Float, nullable=False),
    Column("max_x", Float, nullable=False),
    Column("max_y", Float, nullable=False),
    sqlite_autoincrement=True,
)

layer_feature_archive_table = Table(
    "layer_feature_archive",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("layer_key", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("attributes", Text, nullable=False),
    Column("geometry", LargeBinary, nullable=False),
    Column("derived", LargeBinary),
    Column("source_row", Integer, nullable=False),
)

layer_features_rtree_table = Table(
    "layer_features_rtree",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("min_x", Float, nullable=False),
    Column("max_x", Float, nullable=False),
    Column("min_y", Float, nullable=False),
    Column("max_y", Float, nullable=False),
)

cases_table = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("pair_key", Text, nullable=False, unique=True),
    # Identity: fixed by the pair key when the case is created.
    Column("rule_id", Text, nullable=False),
    *(
        column_
        for side in ("a", "b")
        for column_ in (
            Column(f"subject_{side}_key", Text, nullable=False),
            Column(f"subject_{side}_kind", Text, nullable=False),
            Column(f"subject_{side}_ref", Text, nullable=False),
            Column(f"subject_{side}_layer", Text),
        )
    ),
    # What recomputation may change.
    Column("relation", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("geometry", LargeBinary),
    Column("measures", Text, nullable=False),
    Column("organisations", Text, nullable=False),
    Column("departments", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("window_start", Date),
    Column("window_end", Date),
    Column("min_x", Float),
    Column("min_y", Float),
    Column("max_x", Float),
    Column("max_y", Float),
    # The review.
    Column("status", Text, nullable=False),
    Column("status_reason", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    # The desk (step 11).
    Column("assignee", Text),
    Column("due_date", Date),
    sqlite_autoincrement=True,
)

case_involvements_table = Table(
    "case_involvements",
    metadata,
    Column("case_id", Integer, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("value", Text, primary_key=True),
)

case_comments_table = Table(
    "case_comments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("by_user", Text, nullable=False),
    Column("text", Text, nullable=False),
    sqlite_autoincrement=True,
)

case_history_table = Table(
    "case_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("by_user", Text, nullable=False),
    Column("event", Text, nullable=False),
    Column("details", Text, nullable=False),
)

case_decisions_table = Table(
    "case_decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("measures", Text, nullable=False),
    Column("proposed_by", Text, nullable=False),
    Column("proposed_at", UtcDateTime, nullable=False),
    Column("state", Text, nullable=False),
    Column("closed_at", UtcDateTime),
    sqlite_autoincrement=True,
)

case_votes_table = Table(
    "case_votes",
    metadata,
    Column("decision_id", Integer, primary_key=True),
    Column("organisation", Text, primary_key=True),
    Column("choice", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("by_user", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

case_reads_table = Table(
    "case_reads",
    metadata,
    Column("username", Text, primary_key=True),
    Column("case_id", Integer, primary_key=True),
    Column("seen_at", UtcDateTime, nullable=False),
)

desk_visits_table = Table(
    "desk_visits",
    metadata,
    Column("username", Text, primary_key=True),
    Column("seen_at", UtcDateTime, nullable=False),
)

cases_rtree_table = Table(
    "cases_rtree",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("min_x", Float, nullable=False),
    Column("max_x", Float, nullable=False),
    Column("min_y", Float, nullable=False),
    Column("max_y", Float, nullable=False),
)

store_revision_table = Table(
    "store_revision",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("revision", Integer, nullable=False),
)

sign_in_attempts_table = Table(
    "sign_in_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", Text, nullable=False),
    Column("at", Float, nullable=False),
)

store_changes_table = Table(
    "store_changes",
    metadata,
    Column("revision", Integer, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("ref", Text, nullable=False),
)


accounts_table = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", Text, nullable=False, unique=True),
    Column("display_name", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("organisation", Text),
    Column("departments", Text, nullable=False),
    Column("roles", Text, nullable=False),
    Column("themes", Text, nullable=False),
    Column("active", Integer, nullable=False),
    Column("password_hash", Text),
    Column("demo_password", Integer, nullable=False),
    Column("external_subject", Text, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    sqlite_autoincrement=True,
)

api_tokens_table = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("prefix", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
    sqlite_autoincrement=True,
)

sessions_table = Table(
    "sessions",
    metadata,
    Column("id_hash", Text, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("via", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

audit_log_table = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime, nullable=False, index=True),
    Column("actor", Text, nullable=False),
    Column("actor_id", Integer),
    Column("address", Text),
    Column("action", Text, nullable=False),
    Column("object_type", Text, nullable=False),
    Column("object_id", Text, nullable=False),
    Column("before", Text),
    Column("after", Text),
    Column("previous_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
)

audit_head_table = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", Text, nullable=False),
)

mail_outbox_table = Table(
    "mail_outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("dedup_key", Text, unique=True),
    Column("recipient", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("text_body", Text, nullable=False),
    Column("html_body", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, index=True),
    Column("sent_at", UtcDateTime),
    Column("last_error", Text),
    sqlite_autoincrement=True,
)

notification_settings_table = Table(
    "notification_settings",
    metadata,
    Column("username", Text, primary_key=True),
    Column("mail", Text, nullable=False),
    Column("language", Text, nullable=False),
    Column("area", LargeBinary),
    Column("last_digest_on", Date),
    Column("updated_at", UtcDateTime, nullable=False),
)

watches_table = Table(
    "watches",
    metadata,
    Column("username", Text, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("value", Text, primary_key=True),
)

notifications_table = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("recipient", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("case_id", Integer),
    Column("project_id", Integer),
    Column("layer", Text),
    Column("details", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("read_at", UtcDateTime),
    Column("mail_pending", Integer, nullable=False),
    sqlite_autoincrement=True,
)

good_practices_table = Table(
    "good_practices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", Integer, nullable=False, unique=True),
    Column("organisation", Text, nullable=False),
    Column("measure_type", Text, nullable=False),
    Column("geometry", LargeBinary, nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("costs_eur", Float),
    Column("costs_note", Text, nullable=False),
    Column("lessons", Text, nullable=False),
    Column("contacts", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("state", Text, nullable=False, index=True),
    Column("round", Integer, nullable=False),
    Column("involved", Text, nullable=False),
    Column("synergies", Text, nullable=False),
    Column("proposed_by", Text, nullable=False),
    Column("proposed_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("released_at", UtcDateTime),
    Column("withdrawn_by", Text),
    Column("withdrawn_at", UtcDateTime),
    Column("withdraw_reason", Text, nullable=False, server_default=""),
    sqlite_autoincrement=True,
)

good_practice_votes_table = Table(
    "good_practice_votes",
    metadata,
    Column("example_id", Integer, ForeignKey("good_practices.id"), primary_key=True),
    Column("round", Integer, primary_key=True),
    Column("organisation", Text, primary_key=True),
    Column("choice", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("by_user", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

good_practice_photos_table = Table(
    "good_practice_photos",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("example_id", Integer, ForeignKey("good_practices.id"), nullable=False, index=True),
    Column("caption", Text, nullable=False),
    Column("media_type", Text, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("size", Integer, nullable=False),
    Column("kept_location", Integer, nullable=False),
    Column("image", LargeBinary, nullable=False),
    Column("thumbnail", LargeBinary, nullable=False),
    Column("added_by", Text, nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
    sqlite_autoincrement=True,
)
checklist_answers_table = Table(
    "checklist_answers",
    metadata,
    Column("project_id", Integer, primary_key=True),
    Column("item", Text, primary_key=True),
    Column("answer", Text, nullable=False),
    Column("note", Text, nullable=False),
    Column("answered_by", Text, nullable=False),
    Column("answered_at", UtcDateTime, nullable=False),
)

# SQLite's own tables, written by the store only to bulk-load the R*Tree
# (see ``zugabe.storage.sqlite_rtree``); not part of ``metadata``, which the schema
# test compares with the migrated file. Their layout is SQLite's documented
# file format: https://sqlite.org/src/file?name=ext/rtree/rtree.c (header).
sqlite_sequence = table("sqlite_sequence", column("name"), column("seq"))
layer_features_rtree_node = table(
    "layer_features_rtree_node", column("nodeno", Integer), column("data", LargeBinary)
)
layer_features_rtree_parent = table(
    "layer_features_rtree_parent", column("nodeno", Integer), column("parentnode", Integer)
)
layer_features_rtree_rowid = table(
    "layer_features_rtree_rowid", column("rowid", Integer), column("nodeno", Integer)
)
cases_rtree_node = table("cases_rtree_node", column("nodeno", Integer), column("data", LargeBinary))
cases_rtree_parent = table(
    "cases_rtree_parent", column("nodeno", Integer), column("parentnode", Integer)
)
cases_rtree_rowid = table("cases_rtree_rowid", column("rowid", Integer), column("nodeno", Integer))
