"""The storage contract every backend implements.

The services talk only to this interface; the embedded SQLite backend is the
default and a PostGIS backend follows. ``tests/storage_contract.py`` holds
the tests every backend must pass, unchanged.

All geometry crossing this boundary is shapely geometry in the storage CRS.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from zugabe.domain.accounts import Account, Role, Scope
from zugabe.domain.audit import AuditEntry, AuditEvent
from zugabe.domain.case_workflow import CaseWork
from zugabe.domain.cases import CaseFinding, CaseStatus, Comment, CoordinationCase
from zugabe.domain.checklist import ChecklistAnswer
from zugabe.domain.filters import Filter
from zugabe.domain.good_practice import (
    ExampleState,
    ExampleWork,
    GoodPractice,
    NewGoodPractice,
    Photo,
)
from zugabe.domain.jobs import Job
from zugabe.domain.notifications import NewNotification, Notification, Subscriptions
from zugabe.domain.project import Project, ProjectAttributes, Status, attributes_to_json

if TYPE_CHECKING:  # the SQL stores' encoding, a concrete module the contract does not load
    from zugabe.storage.case_rows import PreparedFindings


@dataclass(frozen=True)
class NewProject:
    """A project to be stored; the backend assigns id and version."""

    attributes: ProjectAttributes
    geometry: BaseGeometry
    user: str


@dataclass(frozen=True)
class ProjectQuery:
    """Filters for listing projects; all given filters must hold.

    ``area`` is a polygon in the storage CRS: a project matches when its
    geometry intersects it. ``time_from``/``time_to`` select projects whose
    planned window overlaps [time_from, time_to]; a missing start or end of a
    project counts as open-ended. ``text`` matches a case-insensitive
    substring of the title. ``filter`` (CQL2 on the project queryables, see
    ``zugabe.domain.queryables``) is translated into the store's own query, so
    counting and paging see it too. Results are ordered by id; ``after_id`` and
    ``limit`` page through them.
    """

    area: BaseGeometry | None = None
    organisations: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    measure_types: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = ()
    time_from: date | None = None
    time_to: date | None = None
    text: str | None = None
    filter: Filter | None = None
    after_id: int | None = None
    limit: int | None = None


PROJECT_TEXT_COLUMNS = (
    "title",
    "description",
    "organisation",
    "department",
    "measure_type",
    "status",
    "contact",
    "external_id",
    "created_by",
    "updated_by",
)


@dataclass(frozen=True)
class ProjectColumns:
    """Matching projects column by column, in id order: what a bulk export writes.

    Exporting 100,000 projects through one ``Project`` object each (and a shapely geometry
    parsed from WKB only to be encoded again) costs more than writing the file; this form
    lets a backend hand over its columns as they are. ``wkb`` holds the stored geometries
    (storage CRS); ``text`` the columns of ``PROJECT_TEXT_COLUMNS`` (status as its value);
    ``start``/``end`` are ``datetime64[D]`` (NaT: none), ``cost_eur`` float (NaN: none),
    ``created_at``/``updated_at`` ``datetime64[us]`` in UTC.
    """

    id: npt.NDArray[np.int64]
    wkb: npt.NDArray[np.object_]
    text: dict[str, npt.NDArray[np.object_]]
    start: npt.NDArray[np.datetime64]
    end: npt.NDArray[np.datetime64]
    cost_eur: npt.NDArray[np.float64]
    version: npt.NDArray[np.int64]
    created_at: npt.NDArray[np.datetime64]
    updated_at: npt.NDArray[np.datetime64]

    def __len__(self) -> int:
        return len(self.id)

    @classmethod
    def of(cls, projects: Sequence[Project]) -> ProjectColumns:
        """The columns of project objects (the default of ``ProjectStore.project_columns``)."""
        rows = [
            attributes_to_json(p.attributes)
            | {"created_by": p.created_by, "updated_by": p.updated_by}
            for p in projects
        ]

        def utc(moments: list[datetime]) -> npt.NDArray[np.datetime64]:
            naive = [m.astimezone(UTC).replace(tzinfo=None) for m in moments]
            return np.array(naive, dtype="datetime64[us]")

        return cls(
            id=np.array([p.id for p in projects], dtype=np.int64),
            wkb=shapely.to_wkb(np.array([p.geometry for p in projects], dtype=object)),
            text={
                name: np.array([r[name] for r in rows], dtype=object)
                for name in PROJECT_TEXT_COLUMNS
            },
            start=np.array([r["start"] or "NaT" for r in rows], dtype="datetime64[D]"),
            end=np.array([r["end"] or "NaT" for r in rows], dtype="datetime64[D]"),
            cost_eur=np.array(
                [np.nan if r["cost_eur"] is None else r["cost_eur"] for r in rows], dtype=float
            ),
            version=np.array([p.version for p in projects], dtype=np.int64),
            created_at=utc([p.created_at for p in projects]),
            updated_at=utc([p.updated_at for p in projects]),
        )


@dataclass(frozen=True)
class ProjectShapes:
    """Matching projects as a map shows them from afar, column by column in id order: the
    stored geometry (WKB) and what a point is coloured by. ``ProjectColumns`` narrowed to
    five columns: a map asks for them on every move."""

    id: npt.NDArray[np.int64]
    wkb: npt.NDArray[np.object_]
    organisation: npt.NDArray[np.object_]
    department: npt.NDArray[np.object_]
    status: npt.NDArray[np.object_]

    def __len__(self) -> int:
        return len(self.id)


class ProjectStore(ABC):
    """Persistent, transactional registry of projects.

    Every write is atomic: it happens completely or not at all. Writes take
    the acting user for the audit fields.
    """

    @abstractmethod
    def add_projects(self, projects: Iterable[NewProject]) -> list[Project]:
        """Store all projects in one transaction and return them with ids.

        If anything fails (including the iterable raising), nothing is stored.
        """

    @abstractmethod
    def get_project(self, project_id: int) -> Project | None:
        """The project with this id, or None."""

    @abstractmethod
    def project_stamps(self, query: ProjectQuery) -> Stamps:
        """``list_projects`` without the projects: what identifies each one's stored state."""

    @abstractmethod
    def get_projects(
        self, ids: Sequence[int] = (), external_ids: Sequence[str] = ()
    ) -> list[Project]:
        """The projects with any of these ids or external ids (those that exist), by id."""

    @abstractmethod
    def update_project(
        self,
        project_id: int,
        attributes: ProjectAttributes,
        geometry: BaseGeometry,
        user: str,
        expected_version: int | None,
    ) -> Project:
        """Replace a project's attributes and geometry; version grows by one.

        Raises ``NotFound`` if the id is unknown and ``VersionConflict`` when
        ``expected_version`` is given and is not the stored version; the check
        and the write are one transaction, so concurrent editors cannot both
        win.
        """

    @abstractmethod
    def delete_project(self, project_id: int, user: str, expected_version: int | None) -> None:
        """Delete a project (``NotFound``, ``VersionConflict`` as for update)."""

    @abstractmethod
    def list_projects(self, query: ProjectQuery) -> list[Project]:
        """Projects matching the query, ordered by id."""

    @abstractmethod
    def count_projects(self, query: ProjectQuery) -> int:
        """How many projects match the query, ignoring ``after_id`` and ``limit``."""

    def project_columns(self, query: ProjectQuery) -> ProjectColumns:
        """``list_projects`` column by column; a backend overrides it with a faster read."""
        return ProjectColumns.of(self.list_projects(query))

    def project_shapes(self, query: ProjectQuery) -> ProjectShapes:
        """``project_columns`` narrowed to what a map's points show; a backend overrides it
        with a narrower read."""
        columns = self.project_columns(query)
        text = columns.text
        return ProjectShapes(
            columns.id, columns.wkb, text["organisation"], text["department"], text["status"]
        )

    @abstractmethod
    def schema_version(self) -> int:
        """The schema version the store is migrated to."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store must not be used afterwards."""


@dataclass(frozen=True)
class LayerFeatureBatch:
    """Checked features of one layer, column by column (fast bulk writes).

    ``geometries`` are shapely geometries in the storage CRS; ``derived``
    holds the derived geometry of each row where the layer defines one (a
    tree's root-protection zone), else None; ``source_rows`` are the row
    numbers in the source file, kept for reports.
    """

    geometries: Sequence[BaseGeometry]
    attributes: Sequence[dict[str, Any]]
    source_rows: Sequence[int]
    derived: Sequence[BaseGeometry | None] | None = None


@dataclass(frozen=True)
class NewLayerVersion:
    """What an import knows about the version it is writing."""

    key: str
    source: str
    source_layer: str | None
    source_crs: str
    transformation: str
    user: str
    report: dict[str, Any]
    keep_earlier: int = 0
    """How many earlier versions keep their features, for ``archived_layer_features``."""
    responsible_organisation: str | None = None
    """The organisation that answers for the data (involved in its features' cases)."""


@dataclass(frozen=True)
class LayerInfo:
    """A stored layer version: metadata, counts and the import report."""

    key: str
    version: int
    feature_count: int
    extent: tuple[float, float, float, float] | None
    source: str
    source_layer: str | None
    source_crs: str
    transformation: str
    imported_at: datetime
    imported_by: str
    report: dict[str, Any]
    responsible_organisation: str | None = None


@dataclass(frozen=True)
class LayerFeature:
    id: int
    geometry: BaseGeometry
    attributes: dict[str, Any]
    source_row: int
    derived: BaseGeometry | None


@dataclass(frozen=True)
class LayerFeatureColumns:
    """The features of one layer column by column, ordered by id.

    What a detection index loads: a million features as a few arrays, decoded in one
    vectorised call each, rather than a million ``LayerFeature`` objects; one is built
    only for a feature a caller asks for (``feature``).
    """

    ids: npt.NDArray[np.int64]
    geometries: npt.NDArray[np.object_]
    attributes: Sequence[dict[str, Any]]
    source_rows: Sequence[int]
    derived: npt.NDArray[np.object_]
    """The derived geometry of each feature, None where it has none."""

    @classmethod
    def of(cls, features: Iterable[LayerFeature]) -> LayerFeatureColumns:
        """Features given one by one, as columns ordered by id."""
        items = sorted(features, key=lambda f: f.id)
        return cls(
            ids=np.fromiter((f.id for f in items), dtype=np.int64, count=len(items)),
            geometries=_object_array([f.geometry for f in items]),
            attributes=[f.attributes for f in items],
            source_rows=[f.source_row for f in items],
            derived=_object_array([f.derived for f in items]),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def position(self, feature_id: int) -> int | None:
        """Where the feature with this id is, None if the layer has none."""
        position = int(self.ids.searchsorted(feature_id))  # the method: a third of the call
        found = position < len(self.ids) and self.ids[position] == feature_id
        return position if found else None

    def feature(self, position: int) -> LayerFeature:
        return LayerFeature(
            int(self.ids[position]),
            self.geometries[position],
            self.attributes[position],
            self.source_rows[position],
            self.derived[position],
        )

    def features(self) -> list[LayerFeature]:
        return [self.feature(position) for position in range(len(self.ids))]


def _object_array(values: Sequence[Any]) -> npt.NDArray[np.object_]:
    """Values as a numpy object array (geometries stay objects, not sequences)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


class LayerStore(ABC):
    """Thematic layers: each key holds one current version of its features."""

    @abstractmethod
    def replace_layer(
        self, version: NewLayerVersion, batches: Iterable[LayerFeatureBatch]
    ) -> LayerInfo:
        """Write a new version of a layer from the batches, in one transaction.

        The previous version stays visible to readers until the new one is
        complete; if anything fails (including the iterable raising, or the
        process being killed) the previous version is kept unchanged. The
        version number grows by one per successful import. The features of the
        ``version.keep_earlier`` newest earlier versions are kept, older ones dropped.
        """

    @abstractmethod
    def layer_versions(self, key: str) -> list[tuple[LayerInfo, bool]]:
        """Every version of a layer on record, newest first, each with whether its
        features are kept (the current one's always are)."""

    @abstractmethod
    def archived_layer_features(self, key: str, version: int) -> list[LayerFeature]:
        """The features of a kept earlier version, in their source order (``NotFound``
        if that version's features are not kept)."""

    @abstractmethod
    def list_layers(self) -> list[LayerInfo]:
        """Every stored layer, ordered by key."""

    @abstractmethod
    def get_layer(self, key: str) -> LayerInfo | None:
        """The current version of a layer, or None."""

    @abstractmethod
    def layer_features(
        self,
        key: str,
        area: BaseGeometry | None = None,
        after_id: int | None = None,
        limit: int | None = None,
        filter: Filter | None = None,
    ) -> list[LayerFeature]:
        """Features of a layer ordered by id, optionally those intersecting ``area`` and
        matching ``filter`` (CQL2 on the layer's queryables: ``id`` and its attributes)."""

    @abstractmethod
    def layer_feature_columns(self, key: str) -> LayerFeatureColumns:
        """Every feature of a layer, as columns ordered by id (what a detection index
        loads: the same features as ``layer_features`` without paging, decoded in bulk)."""

    @abstractmethod
    def count_layer_features(
        self, key: str, area: BaseGeometry | None = None, filter: Filter | None = None
    ) -> int:
        """How many features ``layer_features`` would return without paging."""

    @abstractmethod
    def delete_layer(self, key: str, user: str) -> None:
        """Remove a layer and its features (``NotFound`` if unknown)."""


@dataclass(frozen=True)
class CaseQuery:
    """Filters for listing cases; all given filters must hold; ordered by id.

    ``organisations``/``departments`` match cases that involve any of them;
    ``subject`` (a ``Subject.key``) selects the cases of one project or
    feature; ``area`` (storage CRS) those whose overlap geometry intersects
    it; ``time_from``/``time_to`` those whose window overlaps the period;
    ``filter`` is CQL2 on the case queryables (a case's organisations and
    departments: any of them), translated into the store's own query; ``ids``
    (when given) only these cases.
    """

    ids: tuple[int, ...] = ()
    organisations: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    relations: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    statuses: tuple[CaseStatus, ...] = ()
    rule_ids: tuple[str, ...] = ()
    subject: str | None = None
    area: BaseGeometry | None = None
    time_from: date | None = None
    time_to: date | None = None
    filter: Filter | None = None
    after_id: int | None = None
    limit: int | None = None


class RowStamp(NamedTuple):
    """A stored project's or case's state, told apart cheaply: every write of its row moves
    its ``updated_at`` (of a case: a recomputation, a step at the desk, a vote, a comment),
    and all but a comment its ``version``. A tuple: a map view reads a thousand at once."""

    id: int
    version: int
    updated_at: datetime


@dataclass(frozen=True)
class Stamps:
    """The stamps of a listing, and how many rows match in all where the store learnt it
    on the way (SQLite tests every candidate of an area for a first page), else None."""

    rows: list[RowStamp]
    matched: int | None = None


@dataclass(frozen=True)
class InboxQuery:
    """One person's inbox: the cases involving their organisation, most urgent first
    (the earlier start of the two subjects, then severity, then id); ``statuses``
    defaults to the live ones (the services never ask for obsolete ones).

    ``departments`` narrows to cases involving any of them; ``due_by`` to cases due on or
    before that day (the due date set, else ``due_days_before_start`` before the start);
    ``unread_only`` to cases changed since the person last saw them (``seen_cases``) or
    last marked everything seen (``seen_desk``); ``waiting_for_vote`` to proposals that
    still wait for the organisation's vote.
    """

    username: str
    organisation: str
    departments: tuple[str, ...] = ()
    assignee: str | None = None
    statuses: tuple[CaseStatus, ...] = ()
    relations: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    due_by: date | None = None
    unread_only: bool = False
    waiting_for_vote: bool = False
    due_days_before_start: int = 42
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True)
class InboxPage:
    cases: list[tuple[CoordinationCase, bool]]  # each with: unread?
    matched: int  # cases matching every filter
    unread: int  # unread live cases of the organisation, whatever the filters


@dataclass(frozen=True)
class CaseSync:
    """What ``sync_cases`` changed, by case id."""

    created: tuple[int, ...]
    updated: tuple[int, ...]
    unchanged: tuple[int, ...]
    reopened: tuple[int, ...]
    obsoleted: tuple[int, ...]


class CaseStore(ABC):
    """Coordination cases with a stable identity, comments and history."""

    @abstractmethod
    def sync_cases(
        self,
        findings: Sequence[CaseFinding],
        scope: str | None,
        user: str,
        reason: dict[str, Any],
    ) -> CaseSync:
        """Make the stored cases in ``scope`` match ``findings``, in one transaction.

        ``scope`` is a ``Subject.key`` (the cases involving that project, for
        an incremental check) or None (all cases, for a batch run). A finding
        with a new ``pair_key`` creates an open case; one with a known key
        updates its geometry, measures and message; a case in scope without a
        finding becomes obsolete for ``reason`` (``case_history`` reasons). What
        happens to each case's status, decision and history is what
        ``case_workflow.found``/``vanished`` decide; the store only writes it.
        Case ids are never reused and a case is never duplicated.
        """

    @abstractmethod
    def sync_case_parts(
        self, parts: Iterable[PreparedFindings], user: str, reason: dict[str, Any]
    ) -> CaseSync:
        """``sync_cases`` of a batch run (no scope) whose findings come in parts, checked
        and encoded already (``case_rows.PreparedFindings``): the shares of the rules
        detected in helper processes. Each part is written as it comes, while later ones
        are still being detected; the cases no part names become obsolete at the end.
        New cases take ids in the order the parts come."""

    @abstractmethod
    def get_case(self, case_id: int) -> CoordinationCase | None:
        """A case with its comments and history, or None."""

    @abstractmethod
    def list_cases(self, query: CaseQuery) -> list[CoordinationCase]:
        """Matching cases ordered by id (comments and history left empty)."""

    @abstractmethod
    def count_cases(self, query: CaseQuery) -> int:
        """How many cases match, ignoring ``after_id`` and ``limit``."""

    @abstractmethod
    def case_stamps(self, query: CaseQuery) -> Stamps:
        """``list_cases`` without the cases: what identifies each one's stored state."""

    @abstractmethod
    def apply_case_work(
        self, case_id: int, work: CaseWork, user: str, expected_version: int
    ) -> CoordinationCase:
        """Write one step of the desk as ``case_workflow`` planned it, in one transaction.

        ``VersionConflict`` unless the case is at ``expected_version`` (the version the
        plan was made from), ``NotFound`` if unknown; the version grows by one.
        """

    @abstractmethod
    def inbox(self, query: InboxQuery) -> InboxPage:
        """A page of one person's inbox (see ``InboxQuery``)."""

    @abstractmethod
    def seen_cases(self, username: str, case_ids: Sequence[int], at: datetime) -> None:
        """The person has seen these cases as they are now (they leave the unread count)."""

    @abstractmethod
    def seen_desk(self, username: str, at: datetime) -> None:
        """The person has seen everything up to ``at`` ("mark all as read")."""

    @abstractmethod
    def add_case_comment(self, case_id: int, text: str, user: str) -> Comment:
        """Append a comment (and a ``commented`` event); ``NotFound`` if unknown. The case's
        ``updated_at`` moves (it is news in the inbox), its version does not."""


@dataclass(frozen=True)
class NewAccount:
    """An account to be stored; ``username`` lower-case (``USERNAME_PATTERN``)."""

    username: str
    display_name: str
    email: str
    organisation: str | None
    departments: tuple[str, ...]
    roles: frozenset[Role]
    themes: tuple[str, ...] = ()
    password_hash: str | None = None
    demo_password: bool = False
    external_subject: str | None = None
    active: bool = True


ACCOUNT_FIELDS = frozenset(
    {
        "display_name",
        "email",
        "organisation",
        "departments",
        "roles",
        "themes",
        "active",
        "password_hash",
        "demo_password",
        "external_subject",
    }
)
"""What ``update_account`` may change."""


@dataclass(frozen=True)
class ApiToken:
    """A personal API token as stored: never the secret, only its first characters."""

    id: int
    account_id: int
    name: str
    prefix: str
    scope: Scope
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewApiToken:
    account_id: int
    name: str
    token_hash: str
    prefix: str
    scope: Scope
    expires_at: datetime


@dataclass(frozen=True)
class BrowserSession:
    """A signed-in browser: the SHA-256 of the cookie's random id, never the id itself."""

    id_hash: str
    account_id: int
    via: str  # password | oidc
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class AuditQuery:
    """Filters of the audit log; ordered by ``seq``; ``after_seq``/``limit`` page."""

    actor: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." (``project.``)
    object_type: str | None = None
    object_id: str | None = None
    time_from: datetime | None = None
    time_to: datetime | None = None
    after_seq: int | None = None
    limit: int | None = None


class AccountStore(ABC):
    """Accounts, their API tokens and browser sessions."""

    @abstractmethod
    def add_account(self, account: NewAccount) -> Account:
        """Store a new account; ``InvalidInput`` if the username (or subject) is taken."""

    @abstractmethod
    def get_account(self, account_id: int) -> Account | None: ...

    @abstractmethod
    def find_account(self, username: str) -> Account | None:
        """The account of a username (compared lower-case), or None."""

    @abstractmethod
    def find_account_by_subject(self, external_subject: str) -> Account | None:
        """The account linked to a single sign-on subject (``issuer|sub``), or None."""

    @abstractmethod
    def list_accounts(self, organisation: str | None = None) -> list[Account]:
        """Accounts ordered by username; of one organisation when given."""

    @abstractmethod
    def update_account(
        self, account_id: int, changes: dict[str, Any], expected_version: int | None = None
    ) -> Account:
        """Change fields of ``ACCOUNT_FIELDS``; the version grows by one.

        ``NotFound``/``VersionConflict`` as for projects.
        """

    @abstractmethod
    def password_hash(self, account_id: int) -> str | None:
        """The stored password hash: read by the sign-in only."""

    @abstractmethod
    def add_token(self, token: NewApiToken) -> ApiToken: ...

    @abstractmethod
    def get_token(self, token_id: int) -> ApiToken | None: ...

    @abstractmethod
    def find_token(self, token_hash: str) -> tuple[ApiToken, Account] | None:
        """The token with this hash and its account (one read: it runs on every request),
        revoked and expired ones included."""

    @abstractmethod
    def list_tokens(self, account_id: int | None = None) -> list[ApiToken]:
        """Tokens ordered by id; of one account when given."""

    @abstractmethod
    def update_token(
        self,
        token_id: int,
        *,
        last_used_at: datetime | None = None,
        revoked_at: datetime | None = None,
    ) -> None:
        """Record a token's use or revocation; ``NotFound`` if unknown."""

    @abstractmethod
    def add_session(self, session: BrowserSession) -> None: ...

    @abstractmethod
    def find_session(self, id_hash: str) -> tuple[BrowserSession, Account] | None:
        """The session with this id hash and its account (one read, on every request)."""

    @abstractmethod
    def touch_session(self, id_hash: str, last_seen_at: datetime, expires_at: datetime) -> None:
        """Move a session's idle deadline (no error if it is gone)."""

    @abstractmethod
    def delete_sessions(
        self,
        *,
        id_hash: str | None = None,
        account_id: int | None = None,
        expired_before: datetime | None = None,
    ) -> int:
        """End one session, all of an account, or all expired before a moment; how many."""


class AuditStore(ABC):
    """The append-only, hash-chained audit log."""

    @abstractmethod
    def append_audit(self, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        """Append events at the chain's end (``zugabe.domain.audit.seal``), under the write
        lock, in the caller's transaction when there is one (``Store.transaction``)."""

    @abstractmethod
    def list_audit(self, query: AuditQuery) -> list[AuditEntry]: ...

    @abstractmethod
    def count_audit(self, query: AuditQuery) -> int:
        """How many entries match, ignoring ``after_seq`` and ``limit``."""

    @abstractmethod
    def iter_audit(self) -> Iterator[AuditEntry]:
        """Every entry in ``seq`` order, read in batches: for ``verify_chain``."""

    @abstractmethod
    def audit_head(self) -> tuple[int, str] | None:
        """The last entry's (seq, hash) as recorded beside the log; None when empty."""


@dataclass(frozen=True)
class NewMail:
    """An e-mail to queue. ``kind`` says what it is about (``case.created``, ``digest``);
    a ``dedup_key``, where given, queues the mail only once."""

    recipient: str
    subject: str
    text: str
    kind: str
    html: str | None = None
    dedup_key: str | None = None


class MailState(StrEnum):
    QUEUED = "queued"  # waiting for its first or next attempt
    SENT = "sent"
    FAILED = "failed"  # given up after the last attempt


@dataclass(frozen=True)
class OutboxMail:
    """A queued e-mail as stored; ``last_error`` holds the mail server's answer, no secret."""

    id: int
    recipient: str
    subject: str
    text: str
    html: str | None
    kind: str
    dedup_key: str | None
    created_at: datetime
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None

    @property
    def state(self) -> MailState:
        if self.sent_at is not None:
            return MailState.SENT
        return MailState.QUEUED if self.next_attempt_at is not None else MailState.FAILED


class MailStore(ABC):
    """The durable outbox of e-mails: written with the change they report, sent later."""

    @abstractmethod
    def enqueue_mail(self, mail: NewMail) -> int | None:
        """Queue a mail, due at once, in the caller's transaction when there is one
        (``Store.transaction``); its id, or None when its ``dedup_key`` was queued before."""

    @abstractmethod
    def claim_due_mail(self, now: datetime, lease_until: datetime, limit: int) -> list[OutboxMail]:
        """Take up to ``limit`` queued mails due at ``now`` (oldest due first) for sending.

        Each gets one more attempt and is due again only at ``lease_until``, in one write
        transaction: two senders never claim the same mail, and one whose sender died is
        tried again after the lease.
        """

    @abstractmethod
    def mail_sent(self, mail_id: int, at: datetime) -> None:
        """Record a delivery (the error of an earlier attempt is cleared)."""

    @abstractmethod
    def mail_not_sent(self, mail_id: int, error: str, retry_at: datetime | None) -> None:
        """Record a failed attempt: tried again at ``retry_at``, or never (None: failed)."""

    @abstractmethod
    def list_mail(self, limit: int) -> list[OutboxMail]:
        """The newest ``limit`` mails of the outbox, newest first."""

    @abstractmethod
    def count_mail(self) -> dict[MailState, int]:
        """How many mails are in each state (every state present, zeros included)."""


class NotificationStore(ABC):
    """What each account watches, and its notifications: written in the transaction of the
    change they tell about (``Store.transaction``), so none is lost or told of a rollback."""

    @abstractmethod
    def get_subscriptions(self, username: str) -> Subscriptions | None:
        """An account's subscriptions and mail settings; None if it never chose any."""

    @abstractmethod
    def save_subscriptions(self, subscriptions: Subscriptions) -> None:
        """Replace an account's subscriptions and mail settings. Leaving the daily digest
        drops the notifications that waited for it (they stay in the list, read or not)."""

    @abstractmethod
    def list_subscriptions(self) -> list[Subscriptions]:
        """Every account's subscriptions that watch something, by username."""

    @abstractmethod
    def add_notifications(self, notifications: Sequence[NewNotification]) -> list[Notification]:
        """Store notifications, in the caller's transaction when there is one."""

    @abstractmethod
    def list_notifications(
        self, username: str, before_id: int | None = None, limit: int | None = None
    ) -> list[Notification]:
        """An account's notifications, newest first; ``before_id`` pages on."""

    @abstractmethod
    def count_notifications(self, username: str, *, unread: bool = False) -> int:
        """How many notifications an account has (only the unread ones with ``unread``)."""

    @abstractmethod
    def mark_notifications_read(
        self, username: str, ids: Sequence[int] | None, at: datetime
    ) -> None:
        """Mark these (None: all) of the account's unread notifications read at ``at``;
        ids of other accounts are left alone."""

    @abstractmethod
    def digest_due(self, day: date) -> list[str]:
        """Usernames with notifications waiting for a daily digest not yet made on ``day``."""

    @abstractmethod
    def take_digest(self, username: str, day: date) -> list[Notification]:
        """The notifications waiting for the account's digest of ``day``, oldest first, no
        longer waiting afterwards; none when that day's digest was taken already."""


class ThrottleStore(ABC):
    """Failed sign-ins by throttle key (an account, a client address), for the moving
    windows of the sign-in throttle: every process on the store counts the same."""

    @abstractmethod
    def add_attempts(self, key: str, at: float, count: int, limit: int, window: float) -> bool:
        """Record ``count`` attempts at ``at`` (seconds since the epoch) unless that would
        make more than ``limit`` within the ``window`` seconds before ``at``; whether they
        were recorded. Attempts older than the window are forgotten."""

    @abstractmethod
    def attempts_since(self, key: str, since: float) -> tuple[float | None, int]:
        """The oldest attempt after ``since`` (None without any) and how many there are."""

    @abstractmethod
    def forget_attempts(self, key: str | None = None) -> None:
        """Forget the attempts of ``key``, or (None) of every key."""


class ChecklistStore(ABC):
    """Planners' answers to the checklist of a development plan, one per project and item."""

    @abstractmethod
    def checklist_answers(
        self, project_ids: Sequence[int]
    ) -> dict[int, dict[str, ChecklistAnswer]]:
        """The stored answers of these projects, by project id and item id (projects without
        any are left out)."""

    @abstractmethod
    def save_checklist_answers(
        self, project_id: int, answers: Sequence[ChecklistAnswer], cleared: Sequence[str] = ()
    ) -> None:
        """Write these answers of the project (replacing earlier ones of the same items) and
        forget those of the ``cleared`` items, in one transaction."""


class JobStore(ABC):
    """Jobs run beside serving, readable by every process of the instance.

    Each write commits at once and is seen by every process, also while the calling thread
    holds a ``transaction`` (a job's own work holds one for its whole length, and reports
    its progress from inside it).
    """

    @abstractmethod
    def save_job(self, job: Job) -> None:
        """Write the job as it is now (a new one or a newer state of it)."""

    @abstractmethod
    def beat_jobs(self, job_ids: Sequence[str], at: datetime) -> None:
        """The process running these jobs is alive at ``at``."""

    @abstractmethod
    def get_job(self, job_id: str) -> Job | None:
        """The job as last written, None if there is none by this id."""

    @abstractmethod
    def trim_jobs(self, keep: int) -> None:
        """Forget finished jobs but the ``keep`` newest; unfinished ones stay."""


@dataclass(frozen=True)
class NewPhoto:
    """A photo checked and cleaned (``zugabe.io.photos``), ready to store with its thumbnail."""

    image: bytes
    thumbnail: bytes
    media_type: str
    width: int
    height: int
    caption: str
    kept_location: bool


@dataclass(frozen=True)
class PhotoFile:
    """A stored photo's bytes (or its thumbnail's), and the example it belongs to."""

    example_id: int
    media_type: str
    data: bytes


class GoodPracticeStore(ABC):
    """Good-practice examples, their votes and photos (blobs in the store: one backup, one
    ``zugabe store copy`` and one transaction hold an example and its pictures together).

    The store writes what ``zugabe.domain.good_practice`` planned and decides nothing.
    """

    @abstractmethod
    def add_good_practice(self, example: NewGoodPractice, user: str) -> GoodPractice:
        """Store a proposal (state proposed, round 1)."""

    @abstractmethod
    def get_good_practice(self, example_id: int) -> GoodPractice | None: ...

    @abstractmethod
    def good_practice_of_project(self, project_id: int) -> GoodPractice | None: ...

    @abstractmethod
    def list_good_practices(self, states: Sequence[ExampleState] = ()) -> list[GoodPractice]:
        """Examples in these states (all without), newest release or proposal first."""

    @abstractmethod
    def apply_good_practice_work(
        self, example_id: int, work: ExampleWork, user: str, expected_version: int
    ) -> GoodPractice:
        """Write one step, guarded by the version it was planned from (``VersionConflict``)."""

    @abstractmethod
    def add_good_practice_photo(self, example_id: int, photo: NewPhoto, user: str) -> Photo: ...

    @abstractmethod
    def delete_good_practice_photo(self, example_id: int, photo_id: int) -> bool:
        """Whether the example had that photo."""

    @abstractmethod
    def good_practice_photo(self, photo_id: int, *, thumbnail: bool) -> PhotoFile | None: ...


@dataclass(frozen=True)
class StoreChange:
    """One entry of the change log: revision ``revision`` wrote, updated or deleted the
    project (``kind`` "project", ``ref`` its id) or the layer (``kind`` "layer", its key)."""

    revision: int
    kind: str
    ref: str


class Store(
    ProjectStore,
    LayerStore,
    CaseStore,
    AccountStore,
    AuditStore,
    MailStore,
    NotificationStore,
    JobStore,
    ThrottleStore,
    GoodPracticeStore,
    ChecklistStore,
    ABC,
):
    """Everything a backend stores; ``open_store`` returns one."""

    @abstractmethod
    def revision(self) -> int:
        """A counter of changes to projects and layers, by any process.

        Each project written, updated or deleted and each layer version written or removed
        adds one, in the same transaction. Whoever keeps projects or features in memory (the
        detection index) compares it to know whether anything changed behind its back.
        """

    @abstractmethod
    def changes_since(self, revision: int) -> list[StoreChange]:
        """What each revision after ``revision`` changed, oldest first.

        The log is bounded: when the first entry is not ``revision + 1``, older entries were
        trimmed and the caller must start over (reload everything).
        """

    @abstractmethod
    def transaction(self, *, bulk: bool = False) -> AbstractContextManager[None]:
        """Group this thread's writes (and reads) in one transaction: all or nothing.

        ``bulk`` readies it for a large write (a layer import). Writers are serialised from
        its start: what is read inside it is not changed by anyone else before it commits,
        so a read-merge-write (a PATCH without ``If-Match``) loses no concurrent change
        (SQLite: ``BEGIN IMMEDIATE``; a server database locks what it reads for update).

        Used by the services so that a change and its audit entry (and a project's case
        changes) commit together; nested use joins the outer transaction.
        """
