"""Watch areas and notifications: who hears of a change, in the app and by e-mail.

The use cases that change things call an entry point inside their store transaction —
``project_changed``/``projects_changed`` (ProjectService), ``cases_changed`` and
``layer_imported`` (ProjectService, LayerService, after detection), ``case_step`` (the
desk) — so a notification commits with its change, or not at all. Each recipient gets
stored notifications (the bell in the map) and, by their choice, a mail through the outbox
at once (one per change), a daily digest (``send_digests``) or none. Nobody is told of
their own change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from zugabe.config import Settings, secret_key
from zugabe.domain.accounts import Account, Actor, Role
from zugabe.domain.case_history import Event, HistoryEvent
from zugabe.domain.cases import CoordinationCase
from zugabe.domain.i18n import LANGUAGES, Lang
from zugabe.domain.layers import LayerDefinition
from zugabe.domain.notifications import (
    AREA_VERTICES_MAX,
    UNSUBSCRIBE,
    WATCH_MAX,
    Kind,
    MailMode,
    NewNotification,
    Notification,
    Subscriptions,
    Touched,
    compose_mail,
    excerpt,
    watches,
    word,
)
from zugabe.domain.policy import Policy
from zugabe.domain.project import Project
from zugabe.domain.vocabulary import Vocabulary
from zugabe.errors import BadRequest, FieldError, InvalidInput
from zugabe.io.crs import Reprojector
from zugabe.io.geojson import GeometryRules, geometry_to_json, read_geometry
from zugabe.services.audit import AuditService, Change
from zugabe.services.mail import MailService, read_unsubscribe_token, unsubscribe_token
from zugabe.storage.contract import CaseQuery, CaseSync, NewMail, Store

DISTRICTS = "districts"
"""The layer whose features people watch by id."""
FEW_CASES = 50
"""Up to this many changed cases are read one by one; more are read in one listing."""


@dataclass(frozen=True)
class NotificationPage:
    notifications: list[Notification]
    unread: int
    total: int
    next_before: int | None


class NotificationService:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        policy: Policy,
        audit: AuditService,
        mail: MailService,
        vocabulary: Vocabulary,
        definitions: Mapping[str, LayerDefinition],
        reprojector: Reprojector,
    ) -> None:
        self.store = store
        self.settings = settings
        self.policy = policy
        self.audit = audit
        self.mail = mail
        self.vocabulary = vocabulary
        self.definitions = definitions
        self.reprojector = reprojector

    # ------------------------------------------------------------ entry points

    def project_changed(self, project: Project, created: bool, actor: Actor) -> None:
        """A project was created or changed: tell those watching its place, organisation or
        department. Call inside the transaction of the change."""
        self.projects_changed([project] if created else [], [] if created else [project], actor)

    def projects_changed(
        self, created: Sequence[Project], updated: Sequence[Project], actor: Actor
    ) -> None:
        """``project_changed`` for many at once (a bulk import): subscriptions read once."""
        watching = self.store.list_subscriptions()
        if not watching or not (created or updated):
            return
        districts = self._districts(watching)
        drafts = []
        for project, kind in [(p, Kind.PROJECT_CREATED) for p in created] + [
            (p, Kind.PROJECT_CHANGED) for p in updated
        ]:
            attributes = project.attributes
            touched = Touched(
                organisations=frozenset({attributes.organisation}),
                departments=frozenset({attributes.department}),
                geometry=project.geometry,
            )
            details = {"title": excerpt(attributes.title), "by": actor.display_name}
            drafts += [
                NewNotification(s.username, kind, project_id=project.id, details=details)
                for s in watching
                if watches(s, touched, districts)
            ]
        self._notify(drafts, actor)

    def cases_changed(self, sync: CaseSync, actor: Actor) -> None:
        """Cases a detection run created, updated or reopened: tell those watching their
        place, organisations, departments or layers. Call inside the run's transaction."""
        kinds = {case_id: Kind.CASE_CREATED for case_id in sync.created}
        kinds |= {case_id: Kind.CASE_CHANGED for case_id in sync.updated}
        kinds |= {case_id: Kind.CASE_REOPENED for case_id in sync.reopened}
        watching = self.store.list_subscriptions()
        if not watching or not kinds:
            return
        districts = self._districts(watching)
        drafts = []
        for case in self._cases(kinds):
            touched = _touched(case)
            drafts += [
                NewNotification(
                    s.username, kinds[case.id], case_id=case.id, details=_case_details(case, actor)
                )
                for s in watching
                if watches(s, touched, districts)
            ]
        self._notify(drafts, actor)

    def layer_imported(self, key: str, features: int, actor: Actor) -> None:
        """A layer got a new version (an import or a rollback): tell those watching it."""
        drafts = [
            NewNotification(
                s.username,
                Kind.LAYER_IMPORTED,
                layer=key,
                details={"features": features, "by": actor.display_name},
            )
            for s in self.store.list_subscriptions()
            if key in s.layers
        ]
        self._notify(drafts, actor)

    def case_step(
        self, case: CoordinationCase, events: Sequence[HistoryEvent], actor: Actor
    ) -> None:
        """The desk's events on a case (``case`` as it is after the step): an assignment to
        the assignee; a proposal to the coordinators of every organisation involved, as a
        request to agree; votes and their outcome to the proposer and those coordinators;
        a comment to the assignee and those watching the case."""
        details = _case_details(case, actor)
        drafts: list[NewNotification] = []

        def to(people: Iterable[str | None], kind: Kind, **more: Any) -> None:
            drafts.extend(
                NewNotification(p, kind, case_id=case.id, details=details | more)
                for p in dict.fromkeys(people)
                if p
            )

        for event in events:
            d = event.details
            if event.kind is Event.ASSIGNED:
                to([d.get("assignee")], Kind.ASSIGNED)
            elif event.kind is Event.PROPOSED:
                to(self._coordinators(case), Kind.REQUEST_TO_AGREE, text=excerpt(d.get("text", "")))
            elif event.kind in _VOTE_KINDS:
                proposer = next(
                    (x.proposed_by for x in case.decisions if x.id == d.get("decision")), None
                )
                to(
                    [proposer, *self._coordinators(case)],
                    _VOTE_KINDS[event.kind],
                    organisation=d.get("organisation", ""),
                    choice=d.get("choice", ""),
                )
            elif event.kind is Event.COMMENTED:
                comment = next((c for c in case.comments if c.id == d.get("comment")), None)
                watching = self.store.list_subscriptions()
                districts = self._districts(watching)
                watchers = [s.username for s in watching if watches(s, _touched(case), districts)]
                text = excerpt(comment.text) if comment else ""
                to([case.assignee, *watchers], Kind.COMMENTED, text=text)
        self._notify(drafts, actor)

    # ------------------------------------------------------------ one's own list

    def page(
        self, actor: Actor, limit: int | None = None, before: int | None = None
    ) -> NotificationPage:
        """The acting account's notifications, newest first, with the unread count."""
        self.policy.require_own_notifications(actor, write=False)
        limit = self.settings.page_size if limit is None else limit
        if not 1 <= limit <= self.settings.max_page_size:
            raise BadRequest(f"'limit' must be between 1 and {self.settings.max_page_size}")
        found = self.store.list_notifications(actor.username, before, limit + 1)
        more = len(found) > limit
        found = found[:limit]
        return NotificationPage(
            notifications=found,
            unread=self.store.count_notifications(actor.username, unread=True),
            total=self.store.count_notifications(actor.username),
            next_before=found[-1].id if more else None,
        )

    def mark_read(self, actor: Actor, ids: Sequence[int] | None) -> int:
        """Mark some (None: all) of one's own notifications read; the unread count after."""
        self.policy.require_own_notifications(actor, write=True)
        if ids is not None and len(ids) > self.settings.max_page_size:
            raise InvalidInput(
                f"at most {self.settings.max_page_size} ids at once",
                field_errors=[FieldError("/ids", "too many")],
            )
        self.store.mark_notifications_read(actor.username, ids, datetime.now(UTC))
        return self.store.count_notifications(actor.username, unread=True)

    def word(self, notification: Notification, lang: Lang) -> str:
        return word(notification, lang, self._name)

    # ------------------------------------------------------------ subscriptions

    def subscriptions(self, actor: Actor) -> Subscriptions:
        self.policy.require_own_notifications(actor, write=False)
        return self.store.get_subscriptions(actor.username) or Subscriptions(actor.username)

    def save_subscriptions(self, actor: Actor, body: Mapping[str, Any]) -> Subscriptions:
        """Replace one's own subscriptions with a checked body (``subscriptions_json``'s
        shape, the area in lon/lat); nothing is stored if any part is refused."""
        self.policy.require_own_notifications(actor, write=True)
        errors: list[FieldError] = []
        mail = body.get("mail", MailMode.IMMEDIATE.value)
        modes = [m.value for m in MailMode]
        if not isinstance(mail, str) or mail not in modes:
            errors.append(FieldError("/mail", f"one of {', '.join(modes)}"))
        language = body.get("language", "de")
        if not isinstance(language, str) or language not in LANGUAGES:
            errors.append(FieldError("/language", "de or en"))
        lists = {
            "districts": self._district_ids(),
            "organisations": set(self.vocabulary.organisations),
            "departments": set(self.vocabulary.departments),
            "layers": set(self.definitions),
        }
        chosen: dict[str, tuple[str, ...]] = {}
        for name, known in lists.items():
            values = body.get(name, [])
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                errors.append(FieldError(f"/{name}", "a list of keys"))
            elif len(values) > WATCH_MAX:
                errors.append(FieldError(f"/{name}", f"at most {WATCH_MAX}"))
            elif unknown := [v for v in values if v not in known]:
                errors.append(FieldError(f"/{name}", f"unknown: {', '.join(unknown[:5])}"))
            else:
                chosen[name] = tuple(sorted(set(values)))
        area = self._area(body.get("area"), errors)
        if errors:
            raise InvalidInput("the subscriptions were not saved", field_errors=errors)
        subscriptions = Subscriptions(actor.username, MailMode(mail), language, area=area, **chosen)
        before = self.store.get_subscriptions(actor.username)
        with self.store.transaction():
            self.store.save_subscriptions(subscriptions)
            self.audit.record(
                actor,
                Change(
                    "subscriptions.change",
                    "account",
                    actor.username,
                    None if before is None else self._summary(before),
                    self._summary(subscriptions),
                ),
            )
        return subscriptions

    def subscriptions_json(self, subscriptions: Subscriptions) -> dict[str, Any]:
        area = subscriptions.area
        return {
            "mail": subscriptions.mail.value,
            "language": subscriptions.language,
            "districts": list(subscriptions.districts),
            "area": None if area is None else geometry_to_json(self.reprojector.to_wgs84(area)),
            "organisations": list(subscriptions.organisations),
            "departments": list(subscriptions.departments),
            "layers": list(subscriptions.layers),
        }

    def unsubscribe_owner(self, token: str) -> Account | None:
        """The account a mail's unsubscribe link was signed for (None: not one of ours)."""
        signed = read_unsubscribe_token(secret_key(self.settings), token)
        if signed is None or signed[1] != UNSUBSCRIBE:
            return None
        return self.store.find_account(signed[0])

    def unsubscribe(self, account: Account, address: str | None) -> None:
        """Turn mail off for the account of an unsubscribe link (the link is the credential:
        it grants this and nothing else). Whatever it watches stays in the app."""
        current = self.store.get_subscriptions(account.username) or Subscriptions(account.username)
        actor = Actor.of(account, via="unsubscribe-link", address=address)
        with self.store.transaction():
            self.store.save_subscriptions(replace(current, mail=MailMode.OFF))
            self.audit.record(
                actor,
                Change(
                    "subscriptions.unsubscribe",
                    "account",
                    account.username,
                    {"mail": current.mail.value},
                    {"mail": MailMode.OFF.value},
                ),
            )

    # ------------------------------------------------------------ daily digest

    def send_digests(self, now: datetime, *, at_digest_hour: bool = True) -> int:
        """Queue the day's digest for everyone who chose one and has something waiting;
        how many were queued. Idempotent per day (server time): a second run that day
        queues none. With ``at_digest_hour`` (the server's loop) not before
        ``mail_digest_hour``; ``zugabe mail digest`` runs at any hour."""
        local = now.astimezone()
        if not self.mail.enabled or (
            at_digest_hour and local.hour < self.settings.mail_digest_hour
        ):
            return 0
        day = local.date()
        queued = 0
        for username in self.store.digest_due(day):
            with self.store.transaction():
                taken = self.store.take_digest(username, day)
                account = self.store.find_account(username)
                chosen = self.store.get_subscriptions(username) or Subscriptions(username)
                if taken and account is not None and account.active and account.email:
                    queued += self._mail(account, chosen, taken, day) is not None
        return queued

    # ------------------------------------------------------------ helpers

    def _notify(self, drafts: Sequence[NewNotification], actor: Actor) -> None:
        """Store the drafts for everyone but the actor — once per recipient and target — and
        mail those who want it at once, one mail per recipient."""
        by_recipient: dict[str, dict[tuple[Any, ...], NewNotification]] = {}
        for draft in drafts:
            if draft.recipient == actor.username:
                continue
            key = (draft.kind, draft.case_id, draft.project_id, draft.layer)
            by_recipient.setdefault(draft.recipient, {}).setdefault(key, draft)
        if not by_recipient:
            return
        with self.store.transaction():
            for username, items in by_recipient.items():
                account = self.store.find_account(username)
                if account is None or not account.active:
                    continue
                if not self.policy.may_read(Actor.of(account, via="notification", address=None)):
                    continue
                chosen = self.store.get_subscriptions(username) or Subscriptions(username)
                mails = self.mail.enabled and bool(account.email)
                pending = mails and chosen.mail is MailMode.DAILY
                stored = self.store.add_notifications(
                    [replace(item, mail_pending=pending) for item in items.values()]
                )
                if mails and chosen.mail is MailMode.IMMEDIATE:
                    self._mail(account, chosen, stored, None)

    def _mail(
        self,
        account: Account,
        subscriptions: Subscriptions,
        notifications: Sequence[Notification],
        digest_of: date | None,
    ) -> int | None:
        """Queue one mail of these notifications in the recipient's language."""
        base = self.settings.public_url.rstrip("/")
        token = unsubscribe_token(secret_key(self.settings), account.username, UNSUBSCRIBE)
        text = compose_mail(
            notifications,
            subscriptions.language,
            name=account.display_name,
            words=self._name,
            link=lambda n: f"{base}/{map_anchor(n)}",
            unsubscribe_url=f"{base}/unsubscribe/{token}",
            digest_of=digest_of,
        )
        key = (
            f"digest:{account.username}:{digest_of.isoformat()}"
            if digest_of
            else f"notification:{notifications[0].id}"
        )
        return self.mail.enqueue(
            NewMail(
                account.email,
                text.subject,
                text.text,
                "notification.digest" if digest_of else f"notification.{notifications[0].kind}",
                dedup_key=key,
            )
        )

    def _name(self, key: str, lang: Lang) -> str:
        """An organisation's or layer's name in a language; anything else as it is."""
        organisation = self.vocabulary.organisations.get(key)
        if organisation is not None:
            return organisation.en if lang == "en" else organisation.de
        definition = self.definitions.get(key)
        if definition is not None:
            return definition.title.en if lang == "en" else definition.title.de
        return key

    def _districts(self, watching: Sequence[Subscriptions]) -> dict[str, BaseGeometry]:
        """The watched districts' shapes by id (read only when someone watches one)."""
        if not any(s.districts for s in watching) or self.store.get_layer(DISTRICTS) is None:
            return {}
        id_name = self._district_id_name()
        return {
            str(f.attributes.get(id_name)): f.geometry for f in self.store.layer_features(DISTRICTS)
        }

    def _district_ids(self) -> set[str]:
        if self.store.get_layer(DISTRICTS) is None:
            return set()
        id_name = self._district_id_name()
        return {str(f.attributes.get(id_name)) for f in self.store.layer_features(DISTRICTS)}

    def _district_id_name(self) -> str:
        definition = self.definitions.get(DISTRICTS)
        return (definition.id_attribute if definition else None) or "district_id"

    def _area(self, raw: Any, errors: list[FieldError]) -> BaseGeometry | None:
        """A drawn area: a GeoJSON (Multi)Polygon in lon/lat inside the region, to storage."""
        if raw is None:
            return None
        rules = GeometryRules(self.settings.region_bbox, AREA_VERTICES_MAX)
        lonlat, problems = read_geometry(raw, rules, "/area")
        if problems or lonlat is None:
            errors.extend(problems)
            return None
        if not isinstance(lonlat, Polygon | MultiPolygon):
            errors.append(FieldError("/area/type", "an area: Polygon or MultiPolygon"))
            return None
        return self.reprojector.to_storage(lonlat)

    def _coordinators(self, case: CoordinationCase) -> list[str]:
        """The active coordinators of the organisations involved in a case."""
        return [
            account.username
            for organisation in case.finding.organisations
            for account in self.store.list_accounts(organisation)
            if account.active and Role.COORDINATOR in account.roles
        ]

    def _cases(self, ids: Iterable[int]) -> list[CoordinationCase]:
        wanted = set(ids)
        if len(wanted) <= FEW_CASES:
            return [c for c in map(self.store.get_case, sorted(wanted)) if c is not None]
        return [c for c in self.store.list_cases(CaseQuery()) if c.id in wanted]

    @staticmethod
    def _summary(subscriptions: Subscriptions) -> dict[str, Any]:
        """What the audit log keeps of a change of subscriptions (the area as a flag)."""
        return {
            "mail": subscriptions.mail.value,
            "language": subscriptions.language,
            "districts": list(subscriptions.districts),
            "area": subscriptions.area is not None,
            "organisations": list(subscriptions.organisations),
            "departments": list(subscriptions.departments),
            "layers": list(subscriptions.layers),
        }


_VOTE_KINDS = {Event.VOTED: Kind.VOTED, Event.AGREED: Kind.AGREED, Event.SENT_BACK: Kind.SENT_BACK}


def map_anchor(notification: Notification) -> str:
    """Where the map opens a notification's case or project (``#case=12``, ``#project=7``)."""
    if notification.case_id is not None:
        return f"#case={notification.case_id}"
    if notification.project_id is not None:
        return f"#project={notification.project_id}"
    return ""


def _touched(case: CoordinationCase) -> Touched:
    finding = case.finding
    return Touched(
        organisations=frozenset(finding.organisations),
        departments=frozenset(finding.departments),
        layers=frozenset(s.layer for s in (finding.subject_a, finding.subject_b) if s.layer),
        geometry=finding.geometry,
    )


def _case_details(case: CoordinationCase, actor: Actor) -> dict[str, Any]:
    message = case.finding.message
    return {
        "message": {lang: excerpt(message.get(lang, "")) for lang in LANGUAGES},
        "by": actor.display_name,
    }
