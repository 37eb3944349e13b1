"""Watch areas and notifications: who is told about a change, and in which words.

A person watches districts, one drawn area, organisations, departments and thematic
layers (``Subscriptions``); a change touches some of those (``Touched``), and ``watches``
says whether it concerns that person. The desk's steps go to the people they name
(the assignee, the coordinators asked to agree) whatever they watch. Notifications are
stored as a kind plus details and worded when read or mailed, in German or English.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from shapely.geometry.base import BaseGeometry

from zugabe.domain.desk_vocabulary import VOTE_LABELS
from zugabe.domain.i18n import Lang, pick

WATCH_MAX = 50
"""Most districts, organisations, departments or layers one person watches (each list)."""
AREA_VERTICES_MAX = 500
"""Most vertices of a drawn watch area: an area, not a survey."""
EXCERPT_MAX = 160
"""Longest excerpt of a case message, comment or decision kept with a notification."""
UNSUBSCRIBE = "notifications"
"""What an unsubscribe token is signed for: every mail of notifications."""


class MailMode(StrEnum):
    OFF = "off"
    IMMEDIATE = "immediate"  # one mail per change, as it happens
    DAILY = "daily"  # one digest a day of everything since the last one


class Kind(StrEnum):
    PROJECT_CREATED = "project_created"
    PROJECT_CHANGED = "project_changed"
    CASE_CREATED = "case_created"
    CASE_CHANGED = "case_changed"
    CASE_REOPENED = "case_reopened"
    LAYER_IMPORTED = "layer_imported"
    ASSIGNED = "assigned"
    REQUEST_TO_AGREE = "request_to_agree"
    VOTED = "voted"
    AGREED = "agreed"
    SENT_BACK = "sent_back"
    COMMENTED = "commented"


@dataclass(frozen=True)
class Subscriptions:
    """What one account watches and how it wants to hear of it; ``area`` in the storage
    CRS. Someone who never chose gets the defaults: nothing watched, mail at once, German."""

    username: str
    mail: MailMode = MailMode.IMMEDIATE
    language: Lang = "de"
    districts: tuple[str, ...] = ()  # values of the districts layer's id attribute
    area: BaseGeometry | None = None
    organisations: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()

    @property
    def watches_anything(self) -> bool:
        return bool(
            self.districts
            or self.area is not None
            or self.organisations
            or self.departments
            or self.layers
        )


@dataclass(frozen=True)
class Touched:
    """What a change concerns: a project's or case's organisations, departments, layers
    and geometry (storage CRS)."""

    organisations: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()
    layers: frozenset[str] = frozenset()
    geometry: BaseGeometry | None = None


def watches(
    subscriptions: Subscriptions, touched: Touched, districts: Mapping[str, BaseGeometry]
) -> bool:
    """Whether the change falls under the subscriptions: an organisation, department or
    layer watched, or its geometry meeting a watched district (``districts``: id → shape;
    a district no longer stored watches nothing) or the drawn area."""
    if touched.organisations & set(subscriptions.organisations):
        return True
    if touched.departments & set(subscriptions.departments):
        return True
    if touched.layers & set(subscriptions.layers):
        return True
    geometry = touched.geometry
    if geometry is None or geometry.is_empty:
        return False
    areas = [districts[d] for d in subscriptions.districts if d in districts]
    if subscriptions.area is not None:
        areas.append(subscriptions.area)
    return any(area.intersects(geometry) for area in areas)


@dataclass(frozen=True)
class NewNotification:
    """A notification to store for one recipient; ``details`` holds JSON-safe values for
    the wording (title, case message, who, organisation …)."""

    recipient: str
    kind: Kind
    case_id: int | None = None
    project_id: int | None = None
    layer: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    mail_pending: bool = False  # waits for the recipient's daily digest


@dataclass(frozen=True)
class Notification:
    id: int
    recipient: str
    kind: Kind
    case_id: int | None
    project_id: int | None
    layer: str | None
    details: Mapping[str, Any]
    created_at: datetime
    read_at: datetime | None = None


def excerpt(text: str) -> str:
    """One line of at most ``EXCERPT_MAX`` characters: fit for a list and a mail subject."""
    line = " ".join(text.split())
    return line if len(line) <= EXCERPT_MAX else line[: EXCERPT_MAX - 1] + "…"


# ---------------------------------------------------------------- wording

Words = Callable[[str, Lang], str]
"""Names an organisation, layer or vote choice in a language."""

_WORDING: dict[Kind, tuple[str, str]] = {
    Kind.PROJECT_CREATED: ("Neue Maßnahme {project}: {title}", "New project {project}: {title}"),
    Kind.PROJECT_CHANGED: (
        "Maßnahme {project} geändert: {title}",
        "Project {project} changed: {title}",
    ),
    Kind.CASE_CREATED: (
        "Neuer Koordinierungsfall {case}: {message}",
        "New coordination case {case}: {message}",
    ),
    Kind.CASE_CHANGED: (
        "Koordinierungsfall {case} neu berechnet: {message}",
        "Coordination case {case} recomputed: {message}",
    ),
    Kind.CASE_REOPENED: (
        "Koordinierungsfall {case} wieder offen: {message}",
        "Coordination case {case} reopened: {message}",
    ),
    Kind.LAYER_IMPORTED: (
        "Themenkarte {layer} neu eingelesen ({features} Objekte)",
        "Layer {layer} imported again ({features} features)",
    ),
    Kind.ASSIGNED: (
        "{by} hat Ihnen Koordinierungsfall {case} zugewiesen: {message}",
        "{by} assigned coordination case {case} to you: {message}",
    ),
    Kind.REQUEST_TO_AGREE: (
        "Bitte um Zustimmung zu Fall {case} ({by}): {text}",
        "Request to agree on case {case} ({by}): {text}",
    ),
    Kind.VOTED: ("Fall {case}: {organisation} {choice}", "Case {case}: {organisation} {choice}"),
    Kind.AGREED: (
        "Fall {case} vereinbart: alle Beteiligten haben zugestimmt",
        "Case {case} agreed: every organisation involved agreed",
    ),
    Kind.SENT_BACK: (
        "Fall {case}: Einwand von {organisation}, zurück in Abstimmung",
        "Case {case}: objection by {organisation}, back in coordination",
    ),
    Kind.COMMENTED: ("{by} zu Fall {case}: {text}", "{by} on case {case}: {text}"),
}


def word(notification: Notification, lang: Lang, words: Words) -> str:
    """A notification in one line of the reader's language."""
    d = notification.details
    message = d.get("message")
    message = message if isinstance(message, dict) else {}
    values = {
        "project": notification.project_id,
        "case": notification.case_id,
        "title": d.get("title", ""),
        "message": message.get(lang) or message.get("de", ""),
        "layer": words(notification.layer or "", lang),
        "features": d.get("features", ""),
        "by": d.get("by", ""),
        "organisation": words(str(d.get("organisation", "")), lang),
        "choice": pick(VOTE_LABELS.get(str(d.get("choice")), ("", "")), lang),
        "text": d.get("text", ""),
    }
    return pick(_WORDING[notification.kind], lang).format(**values)


@dataclass(frozen=True)
class MailText:
    subject: str
    text: str


_MAIL: dict[str, tuple[str, str]] = {
    "many": ("ZUGABE: {n} Neuigkeiten", "ZUGABE: {n} updates"),
    "digest": ("ZUGABE: Ihre Übersicht vom {day} ({n})", "ZUGABE: your digest of {day} ({n})"),
    "hello": ("Guten Tag {name},", "Hello {name},"),
    "intro": (
        "in ZUGABE gibt es Neues, das Sie beobachten oder das Sie betrifft:",
        "there is news in ZUGABE that you watch or that concerns you:",
    ),
    "footer": (
        "Was Sie beobachten, stellen Sie in der Karte unter „Beobachten“ ein.\n"
        "Keine E-Mails mehr von ZUGABE: {unsubscribe}",
        "Choose what you watch in the map's “Watch” panel.\n"
        "No more e-mail from ZUGABE: {unsubscribe}",
    ),
}


def compose_mail(
    notifications: Sequence[Notification],
    lang: Lang,
    *,
    name: str,
    words: Words,
    link: Callable[[Notification], str],
    unsubscribe_url: str,
    digest_of: date | None = None,
) -> MailText:
    """The mail of one or several notifications (a digest when ``digest_of`` is given):
    each in a line with its address in the map, and an unsubscribe link at the end."""
    lines = [word(n, lang, words) for n in notifications]
    if digest_of is not None:
        subject = pick(_MAIL["digest"], lang).format(day=digest_of.isoformat(), n=len(lines))
    elif len(lines) == 1:
        subject = f"ZUGABE: {lines[0]}"
    else:
        subject = pick(_MAIL["many"], lang).format(n=len(lines))
    body = [pick(_MAIL["hello"], lang).format(name=name), "", pick(_MAIL["intro"], lang), ""]
    for notification, line in zip(notifications, lines, strict=True):
        body += [f"- {line}", f"  {link(notification)}"]
    body += ["", "-- ", pick(_MAIL["footer"], lang).format(unsubscribe=unsubscribe_url), ""]
    return MailText(_one_line(subject)[:200], "\n".join(body))


def _one_line(text: str) -> str:
    """No line break or other control character reaches a header."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())
