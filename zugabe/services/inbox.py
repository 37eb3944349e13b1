"""A person's starting point at the desk: the live cases of their organisation, most
urgent first, with what is new since they last looked.

Shared by ``GET /api/inbox``, the map's inbox panel and ``zugabe inbox``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

from zugabe.config import Settings
from zugabe.domain.accounts import Actor
from zugabe.domain.cases import LIVE_STATUSES, CaseStatus
from zugabe.domain.policy import Policy
from zugabe.errors import BadRequest, Forbidden, Unauthorized
from zugabe.storage.contract import InboxPage, InboxQuery, Store

DUE_WINDOWS = {"overdue": -1, "week": 7, "month": 30}
"""``due=``: due before today, within a week, within a month (days from today)."""
SEEN_MAX = 1000
"""Most case ids one "seen" call names."""


class InboxService:
    def __init__(self, store: Store, policy: Policy, settings: Settings) -> None:
        self.store = store
        self.policy = policy
        self.settings = settings

    def query(self, actor: Actor, params: Mapping[str, str]) -> InboxQuery:
        """The inbox filters of a request or command (checked before, against the API
        description, for the web): comma lists mean "any of"."""
        self.policy.require_read(actor)
        if not actor.authenticated:
            raise Unauthorized("sign in to see your inbox")
        if actor.organisation is None:
            raise Forbidden(
                "the inbox lists the cases of your organisation: it needs an account that "
                "belongs to one"
            )

        def many(name: str) -> tuple[str, ...]:
            return tuple(v.strip() for v in params.get(name, "").split(",") if v.strip())

        statuses = []
        for raw in many("status"):
            try:
                status = CaseStatus(raw)
            except ValueError:
                status = None
            if status not in LIVE_STATUSES:
                allowed = ", ".join(s.value for s in LIVE_STATUSES)
                raise BadRequest(f"'status': {raw!r} is not a live status ({allowed})")
            statuses.append(status)
        due = params.get("due")
        due_by = None
        if due:
            if due not in DUE_WINDOWS:
                raise BadRequest(f"'due' must be one of {', '.join(DUE_WINDOWS)}, got {due!r}")
            due_by = date.today() + timedelta(days=DUE_WINDOWS[due])
        scope = params.get("scope", "organisation")
        if scope not in ("organisation", "department"):
            raise BadRequest(f"'scope' must be organisation or department, got {scope!r}")
        limit = int(params.get("limit") or self.settings.page_size)
        return InboxQuery(
            username=actor.username,
            organisation=actor.organisation,
            departments=actor.departments if scope == "department" else (),
            assignee=actor.username if params.get("assigned") == "me" else None,
            statuses=tuple(statuses),
            relations=many("relation"),
            severities=many("severity"),
            due_by=due_by,
            unread_only=params.get("unread") == "true",
            waiting_for_vote=params.get("waiting") == "me",
            due_days_before_start=self.settings.case_due_days_before_start,
            offset=int(params.get("offset") or 0),
            limit=min(limit, self.settings.max_page_size),
        )

    def page(self, actor: Actor, query: InboxQuery) -> InboxPage:
        self.policy.require_read(actor)
        if query.username != actor.username:
            raise Forbidden("an inbox is its owner's only")
        return self.store.inbox(query)

    def seen(self, actor: Actor, case_ids: Sequence[int] | None) -> None:
        """The person has seen these cases (None: everything, as of now)."""
        self.policy.require_read(actor)
        if not actor.authenticated:
            raise Unauthorized("sign in to mark cases as seen")
        now = datetime.now(UTC)
        if case_ids is None:
            self.store.seen_desk(actor.username, now)
        else:
            if len(case_ids) > SEEN_MAX:
                raise BadRequest(f"at most {SEEN_MAX} cases at once")
            self.store.seen_cases(actor.username, case_ids, now)
