"""What happened to a case, stored as structured events and worded only when read.

A history entry is an event kind plus its details (the changed measures, the old and new
status, the decision, the vote and its reason); the server words it in German or English
for whoever reads it. Stored sentences would freeze one language and one wording forever.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from zugabe.domain.i18n import Lang, pick


class Event(StrEnum):
    """Every kind of history entry; the details each one carries are in ``_WORDING``."""

    CREATED = "created"
    UPDATED = "updated"  # changes: what recomputation changed
    REOPENED = "reopened"  # an obsolete case: the rule applies again
    OBSOLETED = "obsoleted"  # reason: why the rule no longer applies
    STATUS_CHANGED = "status_changed"  # from, to
    COMMENTED = "commented"  # comment: its id
    ASSIGNED = "assigned"  # assignee (None: unassigned), previous
    DUE_SET = "due_set"  # due (ISO date, None: back to the default), previous
    PROPOSED = "proposed"  # decision, kind, text
    WITHDRAWN = "withdrawn"  # decision
    VOTED = "voted"  # decision, organisation, choice, reason
    AGREED = "agreed"  # decision: every organisation involved agreed
    SENT_BACK = "sent_back"  # decision, organisation: an objection
    REOPENED_AFTER_CHANGE = "reopened_after_change"  # decision, changes, from
    LEGACY = "legacy"  # text: an entry written before events were structured


@dataclass(frozen=True)
class HistoryEvent:
    """One thing that happened, as stored: kind and details (JSON-safe values)."""

    kind: Event
    details: Mapping[str, Any] = field(default_factory=dict)

    def details_json(self) -> str:
        return json.dumps(dict(self.details), ensure_ascii=False, sort_keys=True)

    @classmethod
    def stored(cls, kind: str, details: str) -> HistoryEvent:
        return cls(Event(kind), json.loads(details))


# ---------------------------------------------------------------- reasons

OBSOLETE_RULE = {"code": "rule_no_longer_applies"}
"""Why recomputation found no finding for a case any more (its ``status_reason``)."""


def project_deleted(project_id: int) -> dict[str, Any]:
    return {"code": "project_deleted", "project": project_id}


_REASONS: dict[str, tuple[str, str]] = {
    "rule_no_longer_applies": (
        "die Regel trifft auf dieses Paar nicht mehr zu",
        "the rule no longer applies to this pair",
    ),
    "project_deleted": ("Maßnahme {project} wurde gelöscht", "project {project} was deleted"),
}


def word_reason(reason: Mapping[str, Any], lang: Lang) -> str:
    """An obsolete case's reason in words; free text (older stores) as it is."""
    code = reason.get("code")
    if code in _REASONS:
        return pick(_REASONS[code], lang).format(**reason)
    return str(reason.get("text", ""))


# ---------------------------------------------------------------- changes

MEASURE_LABELS: dict[str, tuple[str, str, str]] = {
    "overlap_area_m2": ("Überlappung", "overlap", "m²"),
    "overlap_length_m": ("Überlappungslänge", "overlap length", "m"),
    "distance_m": ("Abstand", "distance", "m"),
    "overlap_days": ("zeitliche Überschneidung", "time overlap", "Tage|days"),
    "gap_months": ("zeitlicher Abstand", "time gap", "Monate|months"),
}
"""German label, English label and unit of the measures the engine reports."""

_VALUE_LABELS: dict[str, tuple[str, str]] = {
    "conflict": ("Konflikt", "conflict"),
    "synergy": ("Synergie", "synergy"),
    "note": ("Hinweis", "note"),
    "high": ("hoch", "high"),
    "medium": ("mittel", "medium"),
    "low": ("gering", "low"),
}
"""Relations and severities, as a changed value in a history entry."""

_FIELD_LABELS: dict[str, tuple[str, str]] = {
    "relation": ("Beziehung", "relation"),
    "severity": ("Schwere", "severity"),
    "geometry": ("Überlappungsfläche", "overlap geometry"),
    "window": ("Zeitraum", "period"),
    "organisations": ("Organisationen", "organisations"),
    "departments": ("Fachbereiche", "departments"),
    "message": ("Meldung", "message"),
}


def describe_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What recomputation changed in a case, as structured history details.

    ``before`` and ``after`` hold a case's recomputed values decoded (relation,
    severity, geometry as WKB, measures, organisations, departments, message,
    window_start, window_end). A changed geometry is named only when no measure
    changed, as the measures already say how the overlap changed.
    """
    changes: list[dict[str, Any]] = [
        {"field": name, "from": before[name], "to": after[name]}
        for name in ("relation", "severity")
        if before[name] != after[name]
    ]
    measures = [
        {"measure": name, "from": before["measures"].get(name), "to": after["measures"].get(name)}
        for name in dict.fromkeys([*after["measures"], *before["measures"]])
        if before["measures"].get(name) != after["measures"].get(name)
        or (name in before["measures"]) != (name in after["measures"])
    ]
    changes.extend(measures)
    if not measures and before["geometry"] != after["geometry"]:
        changes.append({"field": "geometry"})
    window = ("window_start", "window_end")
    if [before[k] for k in window] != [after[k] for k in window]:
        changes.append(
            {
                "field": "window",
                "from": [before["window_start"], before["window_end"]],
                "to": [after["window_start"], after["window_end"]],
            }
        )
    changes.extend(
        {"field": name, "from": list(before[name]), "to": list(after[name])}
        for name in ("organisations", "departments")
        if list(before[name]) != list(after[name])
    )
    if before["message"] != after["message"]:
        changes.append({"field": "message"})
    return changes


def _number(value: Any, lang: Lang) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{round(value, 2):,}"
        return text.replace(",", "\u2009").replace(".", ",") if lang == "de" else text
    return str(value)


def _day(iso: str, lang: str) -> str:
    """An ISO date as the reader writes it: 20.12.2026 in German."""
    year, month, day = iso.split("-")
    return f"{day}.{month}.{year}" if lang == "de" else iso


def _period(bounds: list[Any], lang: Lang) -> str:
    open_end = "offen" if lang == "de" else "open"
    start, end = (_day(value, lang) if value else open_end for value in bounds)
    return f"{start} – {end}"


def word_change(change: Mapping[str, Any], lang: Lang) -> str:
    """One recomputed change in words, e.g. ``Überlappung 12,0 → 18,5 m²``."""
    if "measure" in change:
        de, en, unit = MEASURE_LABELS.get(change["measure"], (change["measure"],) * 2 + ("",))
        units = unit.split("|")
        suffix = f" {units[0] if lang == 'de' or len(units) == 1 else units[1]}" if unit else ""
        label = de if lang == "de" else en
        return f"{label} {_number(change['from'], lang)} → {_number(change['to'], lang)}{suffix}"
    name = change["field"]
    label = pick(_FIELD_LABELS.get(name, (name, name)), lang)
    if "from" not in change:
        return label
    if name == "window":
        return f"{label} {_period(change['from'], lang)} → {_period(change['to'], lang)}"
    if isinstance(change["from"], list):
        none = "keine" if lang == "de" else "none"
        before = ", ".join(change["from"]) or none
        after = ", ".join(change["to"]) or none
        return f"{label} {before} → {after}"
    before, after = (
        pick(_VALUE_LABELS.get(v, (v, v)), lang) for v in (change["from"], change["to"])
    )
    return f"{label} {before} → {after}"


# ---------------------------------------------------------------- wording

Words = Callable[[str, Lang], str]
"""Words a vocabulary value (a status, a decision kind, an organisation) in a language."""

_WORDING: dict[Event, tuple[str, str]] = {
    Event.CREATED: ("Fall erkannt", "case detected"),
    Event.UPDATED: ("neu berechnet: {changes}", "recomputed: {changes}"),
    Event.REOPENED: (
        "wieder offen: die Regel trifft wieder zu",
        "reopened: the rule applies again",
    ),
    Event.OBSOLETED: ("gegenstandslos: {reason}", "obsolete: {reason}"),
    Event.STATUS_CHANGED: ("Status {from} → {to}{reason}", "status {from} → {to}{reason}"),
    Event.COMMENTED: ("Kommentar geschrieben", "comment written"),
    Event.ASSIGNED: ("zugewiesen an {assignee}", "assigned to {assignee}"),
    Event.DUE_SET: ("Frist {due}", "due date {due}"),
    Event.PROPOSED: (
        "Entscheidung vorgeschlagen: {kind} – {text}",
        "decision proposed: {kind} – {text}",
    ),
    Event.WITHDRAWN: ("Vorschlag zurückgezogen", "proposal withdrawn"),
    Event.VOTED: ("{organisation}: {choice}{reason}", "{organisation}: {choice}{reason}"),
    Event.AGREED: (
        "vereinbart: alle beteiligten Organisationen haben zugestimmt",
        "agreed: every organisation involved agreed",
    ),
    Event.SENT_BACK: (
        "zurück zum Vorschlag: Einwand von {organisation}",
        "back to proposal: objection by {organisation}",
    ),
    Event.REOPENED_AFTER_CHANGE: (
        "wieder offen, weil sich ein Beteiligter geändert hat: {changes}",
        "reopened because a subject changed: {changes}",
    ),
    Event.LEGACY: ("{text}", "{text}"),
}


def word_event(event: HistoryEvent, lang: Lang, words: Words, person: Callable[[str], str]) -> str:
    """A history entry in the reader's language.

    ``words(value, lang)`` names statuses, decision kinds, vote choices and
    organisations; ``person(username)`` names people.
    """
    d = dict(event.details)
    values: dict[str, Any] = {}
    none = "–"
    if event.kind in (Event.UPDATED, Event.REOPENED_AFTER_CHANGE):
        values["changes"] = "; ".join(word_change(c, lang) for c in d.get("changes", ())) or none
    if event.kind is Event.OBSOLETED:
        values["reason"] = word_reason(d.get("reason", {}), lang)
    if event.kind is Event.STATUS_CHANGED:
        values["from"], values["to"] = words(d["from"], lang), words(d["to"], lang)
        # Only status changes of before the desk carry one (a dismissal's reason).
        values["reason"] = f": {d['reason']}" if d.get("reason") else ""
    if event.kind is Event.ASSIGNED:
        nobody = "niemanden" if lang == "de" else "nobody"
        values["assignee"] = person(d["assignee"]) if d.get("assignee") else nobody
    if event.kind is Event.DUE_SET:
        default = "nach den Startterminen" if lang == "de" else "from the start dates"
        values["due"] = _day(d["due"], lang) if d.get("due") else default
    if event.kind is Event.PROPOSED:
        values["kind"], values["text"] = words(d["kind"], lang), d.get("text", "")
    if event.kind in (Event.VOTED, Event.SENT_BACK):
        values["organisation"] = words(d["organisation"], lang)
    if event.kind is Event.VOTED:
        values["choice"] = words(d["choice"], lang)
        values["reason"] = f" – {d['reason']}" if d.get("reason") else ""
    if event.kind is Event.LEGACY:
        values["text"] = d.get("text", "")
    return pick(_WORDING[event.kind], lang).format(**values)
