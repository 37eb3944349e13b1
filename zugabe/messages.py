"""Messages for users in German and English: one catalogue, worded when answered.

An error is raised with a ``Message`` (a code from ``CATALOGUE`` and its parameters) rather
than finished text, because the code that raises it (domain, services) does not know whom it
answers. The web layer words it in the request's language (``zugabe.web.language``); the CLI
and the logs take English. Parameters are plain values: numbers are written as readers of the
language write them (``Amount``), project field names by their label in the form (``field``).

To add a message: a code with an ``en`` and a ``de`` template here (``tests/test_messages.py``
checks that both name the same parameters), then raise with
``FieldError.coded(pointer, code, **params)`` or ``SomeError(message=Message(code, ...))``.
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

LANGUAGES = ("en", "de")
DEFAULT = "en"
"""The API's language when the request asks for none: existing clients read English."""

CATALOGUE: dict[str, dict[str, str]] = {
    # Titles of problem responses, by status.
    "title.400": {"en": "Bad request", "de": "Fehlerhafte Anfrage"},
    "title.401": {"en": "Unauthorized", "de": "Nicht angemeldet"},
    "title.403": {"en": "Forbidden", "de": "Nicht erlaubt"},
    "title.404": {"en": "Not found", "de": "Nicht gefunden"},
    "title.409": {"en": "Conflict", "de": "Konflikt"},
    "title.412": {"en": "Precondition failed", "de": "Inzwischen geändert"},
    "title.422": {"en": "Invalid input", "de": "Ungültige Eingabe"},
    # A project's fields (zugabe.domain.project.parse_attributes).
    "field.unknown": {
        "en": "unknown field {key}; allowed: {allowed}",
        "de": "Unbekanntes Feld {key}; erlaubt: {allowed}",
    },
    "field.required": {"en": "'{field}' is required", "de": "{field} fehlt."},
    "field.not_text": {"en": "'{field}' must be a string", "de": "{field} muss ein Text sein."},
    "field.empty": {"en": "'{field}' must not be empty", "de": "{field} darf nicht leer sein."},
    "field.too_long": {
        "en": "'{field}' has {length} characters, more than the {limit} allowed",
        "de": "{field} hat {length} Zeichen, erlaubt sind höchstens {limit}.",
    },
    "field.control_character": {
        "en": "'{field}' holds a control character ({char}) at position {position}",
        "de": "{field} enthält ein Steuerzeichen ({char}) an Stelle {position}.",
    },
    "field.surrogate": {
        "en": "'{field}' holds an invalid character (a lone surrogate) at position {position}",
        "de": "{field} enthält ein ungültiges Zeichen an Stelle {position}.",
    },
    "field.unknown_key": {
        "en": "unknown {key} {value}{context}; allowed: {allowed}",
        "de": "Unbekannter Wert {value} für {field}{context}; erlaubt: {allowed}",
    },
    "field.for_organisation": {
        "en": " for organisation '{organisation}'",
        "de": " der Organisation „{organisation}“",
    },
    "field.for_department": {
        "en": " for department '{department}'",
        "de": " des Fachbereichs „{department}“",
    },
    "field.unknown_status": {
        "en": "unknown status {value}; allowed: {allowed}",
        "de": "Unbekannter Status {value}; erlaubt: {allowed}",
    },
    "field.date_format": {
        "en": "'{field}' must be a date as YYYY-MM-DD, got {value}",
        "de": "{field} muss ein Datum der Form JJJJ-MM-TT sein, nicht {value}.",
    },
    "field.date_years": {
        "en": "'{field}' must lie in the years {first} to {last} (planning_years of the "
        "vocabulary), got {value}",
        "de": "{field} muss in den Jahren {first} bis {last} liegen, nicht {value}.",
    },
    "field.end_before_start": {
        "en": "end {end} is before start {start}",
        "de": "Das Ende ({end}) liegt vor dem Beginn ({start}).",
    },
    "field.cost_invalid": {
        "en": "'cost_eur' must be a non-negative number of euros, got {value}",
        "de": "Die Kosten müssen eine nicht negative Zahl in Euro sein, nicht {value}.",
    },
    "field.cost_too_high": {
        "en": "'cost_eur' is {cost}, more than the {most} allowed{for_type}",
        "de": "Die Kosten von {cost} übersteigen die erlaubten {most}{for_type}.",
    },
    "field.for_measure_type": {
        "en": " for measure type '{measure_type}'",
        "de": " für die Maßnahmenart „{measure_type}“",
    },
    "field.external_id_twice": {
        "en": "external_id {value} is given to two projects",
        "de": "Die externe Nummer {value} ist zwei Maßnahmen gegeben.",
    },
    "field.external_id_taken": {
        "en": "external_id {value} is already used by project {holder}",
        "de": "Die externe Nummer {value} hat schon die Maßnahme {holder}.",
    },
    # A project as a whole and its geometry (zugabe.io.geojson, ProjectService).
    "project.not_saved": {
        "en": "the project was not saved: {summary}",
        "de": "Die Maßnahme wurde nicht gespeichert: {summary}",
    },
    "project.more_errors": {"en": " (and {count} more)", "de": " (und {count} weitere)"},
    "project.not_found": {
        "en": "project {id} does not exist",
        "de": "Die Maßnahme {id} gibt es nicht.",
    },
    "project.not_a_feature": {
        "en": "expected a GeoJSON Feature",
        "de": "Erwartet wird ein GeoJSON-Feature.",
    },
    "project.must_be_feature": {"en": "must be 'Feature'", "de": "Muss „Feature“ sein."},
    "project.properties_not_object": {
        "en": "properties must be an object",
        "de": "Die Eigenschaften müssen ein Objekt sein.",
    },
    "geometry.required": {
        "en": "geometry is required",
        "de": "Bitte eine Geometrie auf der Karte zeichnen.",
    },
    "geometry.too_large": {
        "en": "the area is {measured}, more than the {most} allowed{for_type}",
        "de": "Die Fläche ist {measured} groß, erlaubt sind höchstens {most}{for_type}.",
    },
    "geometry.too_long": {
        "en": "the length is {measured}, more than the {most} allowed{for_type}",
        "de": "Die Länge ist {measured}, erlaubt sind höchstens {most}{for_type}.",
    },
    "geometry.invalid": {
        "en": "geometry is not valid: {reason}",
        "de": "Die Geometrie ist ungültig: {reason}",
    },
    "geometry.outside_region": {
        "en": "position [{lon}, {lat}] lies outside the region served "
        "(lon {min_lon}..{max_lon}, lat {min_lat}..{max_lat}){more}",
        "de": "Der Punkt [{lon}, {lat}] liegt außerhalb des Gebiets "
        "(Länge {min_lon}..{max_lon}, Breite {min_lat}..{max_lat}){more}",
    },
    "geometry.more_outside": {
        "en": " ({count} of {total} positions are)",
        "de": " ({count} von {total} Punkten)",
    },
    # The coordination desk (zugabe.domain.case_workflow).
    "case.frozen": {
        "en": "case {case} is agreed and frozen: {what} is no longer possible; it reopens by "
        "itself when one of its subjects changes",
        "de": "Fall {case} ist vereinbart und eingefroren: {what} ist nicht mehr möglich; er "
        "öffnet sich von selbst wieder, wenn sich ein Beteiligter ändert.",
    },
    "case.obsolete": {
        "en": "case {case} is obsolete: {what} is not possible",
        "de": "Fall {case} ist gegenstandslos: {what} ist nicht möglich.",
    },
    "case.what.assign": {"en": "assigning it", "de": "eine Zuweisung"},
    "case.what.due": {"en": "changing its due date", "de": "eine neue Frist"},
    "case.what.propose": {"en": "a new proposal", "de": "ein neuer Vorschlag"},
    "case.unknown_status": {
        "en": "unknown status '{value}'",
        "de": "Unbekannter Status „{value}“.",
    },
    "case.status_not_from": {
        "en": "case {case} cannot go from {current} to {target}{hint}",
        "de": "Fall {case} kann nicht von {current} zu {target} wechseln{hint}.",
    },
    "case.hint_propose": {
        "en": "; propose a decision instead",
        "de": "; bitte eine Entscheidung vorschlagen",
    },
    "case.hint_agree": {
        "en": "; a case is agreed when every organisation involved agreed to a proposal",
        "de": "; vereinbart ist ein Fall, wenn alle beteiligten Organisationen einem Vorschlag "
        "zugestimmt haben",
    },
    "case.assignee_disabled": {
        "en": "account '{username}' is disabled",
        "de": "Das Konto „{username}“ ist gesperrt.",
    },
    "case.assignee_not_involved": {
        "en": "'{username}' is not in an organisation involved in case {case}",
        "de": "„{username}“ gehört zu keiner an Fall {case} beteiligten Organisation.",
    },
    "case.unknown_account": {
        "en": "there is no account '{username}'",
        "de": "Es gibt kein Konto „{username}“.",
    },
    "case.due_format": {
        "en": "'due_date' must be a date like 2027-03-31, got {value}",
        "de": "Die Frist muss ein Datum wie 2027-03-31 sein, nicht {value}.",
    },
    "case.proposal_waiting": {
        "en": "case {case} already has a proposal waiting for votes; withdraw it first",
        "de": "Zu Fall {case} wartet schon ein Vorschlag auf Stimmen; bitte zuerst zurückziehen.",
    },
    "case.unknown_kind": {
        "en": "unknown decision kind '{value}'",
        "de": "Unbekannte Art der Entscheidung „{value}“.",
    },
    "case.text_empty": {
        "en": "a proposal needs a text that says what is decided",
        "de": "Ein Vorschlag braucht einen Text, der sagt, was beschlossen wird.",
    },
    "case.text_too_long": {
        "en": "a text has at most {limit} characters",
        "de": "Ein Text hat höchstens {limit} Zeichen.",
    },
    "case.measures_too_many": {
        "en": "at most {count} agreed measures of at most {limit} characters each",
        "de": "Höchstens {count} vereinbarte Maßnahmen mit je höchstens {limit} Zeichen.",
    },
    "case.no_proposal": {
        "en": "case {case} has no proposal waiting for votes",
        "de": "Zu Fall {case} wartet kein Vorschlag auf Stimmen.",
    },
    "case.unknown_vote": {"en": "unknown vote '{value}'", "de": "Unbekannte Stimme „{value}“."},
    "case.vote_not_involved": {
        "en": "only the organisations involved in case {case} vote ({involved})",
        "de": "Über Fall {case} stimmen nur die beteiligten Organisationen ab ({involved}).",
    },
    "case.voted_already": {
        "en": "{organisation} has already voted on this proposal ({choice}, {at} UTC): one "
        "organisation, one vote",
        "de": "{organisation} hat über diesen Vorschlag schon abgestimmt ({choice}, {at} UTC): "
        "eine Organisation, eine Stimme.",
    },
    "case.objection_reason": {
        "en": "an objection needs a reason",
        "de": "Ein Einwand braucht eine Begründung.",
    },
    "case.field.allowed": {"en": "allowed: {allowed}", "de": "erlaubt: {allowed}"},
    "case.field.from": {"en": "from {current}: {allowed}", "de": "von {current}: {allowed}"},
    "case.field.active": {
        "en": "choose an active account",
        "de": "Bitte ein aktives Konto wählen.",
    },
    "case.field.person_of": {"en": "a person of: {involved}", "de": "eine Person von: {involved}"},
    "case.field.unknown_account": {"en": "unknown account", "de": "unbekanntes Konto"},
    "case.field.date": {"en": "a date YYYY-MM-DD", "de": "ein Datum JJJJ-MM-TT"},
    "case.field.empty": {"en": "must not be empty", "de": "darf nicht leer sein"},
    "case.field.too_long": {
        "en": "longer than {limit} characters",
        "de": "länger als {limit} Zeichen",
    },
    "case.field.too_many": {"en": "too many or too long", "de": "zu viele oder zu lang"},
    "case.field.reason": {
        "en": "say what should change in the proposal",
        "de": "Bitte sagen, was sich am Vorschlag ändern soll.",
    },
    # Good-practice examples (zugabe.domain.good_practice) and their photos (zugabe.io.photos).
    "good_practice.not_text": {"en": "'{field}' must be text", "de": "{field} muss ein Text sein."},
    "good_practice.empty": {
        "en": "'{field}' must not be empty",
        "de": "{field} darf nicht leer sein.",
    },
    "good_practice.too_long": {
        "en": "'{field}' has more than {limit} characters",
        "de": "{field} hat mehr als {limit} Zeichen.",
    },
    "good_practice.unknown_field": {
        "en": "unknown field {key}; allowed: {allowed}",
        "de": "Unbekanntes Feld {key}; erlaubt: {allowed}",
    },
    "good_practice.costs": {
        "en": "'costs_eur' must be a number of euros, 0 or more (or null), not {value}",
        "de": "Die Kosten müssen ein Betrag in Euro ab 0 sein (oder leer), nicht {value}.",
    },
    "good_practice.tags": {
        "en": "'tags' must be a list of at most 10 measure types: {allowed}",
        "de": "Die Schlagworte sind eine Liste von höchstens 10 Maßnahmenarten: {allowed}",
    },
    "good_practice.not_done": {
        "en": "project {project} is not finished (status {status}): only a finished project "
        "(done) can be proposed as good practice",
        "de": "Maßnahme {project} ist nicht abgeschlossen (Status {status}): nur "
        "abgeschlossene Maßnahmen können als gutes Beispiel vorgeschlagen werden.",
    },
    "good_practice.exists": {
        "en": "project {project} already is good-practice example {example}; change that one",
        "de": "Maßnahme {project} ist schon gutes Beispiel {example}; bitte jenes ändern.",
    },
    "good_practice.no_proposal": {
        "en": "good-practice example {example} has no proposal waiting for votes",
        "de": "Zu gutem Beispiel {example} wartet kein Vorschlag auf Stimmen.",
    },
    "good_practice.vote_not_involved": {
        "en": "only the organisations involved in good-practice example {example} vote "
        "({involved})",
        "de": "Über das gute Beispiel {example} stimmen nur die beteiligten Organisationen ab "
        "({involved}).",
    },
    "good_practice.withdrawn_already": {
        "en": "good-practice example {example} is withdrawn already",
        "de": "Das gute Beispiel {example} ist schon zurückgezogen.",
    },
    "good_practice.withdraw_reason": {
        "en": "withdrawing needs a reason",
        "de": "Das Zurückziehen braucht eine Begründung.",
    },
    "good_practice.photos_max": {
        "en": "good-practice example {example} has {max} photos already, the most allowed",
        "de": "Das gute Beispiel {example} hat schon {max} Fotos, mehr sind nicht erlaubt.",
    },
    "good_practice.field.text": {"en": "text", "de": "ein Text"},
    "good_practice.field.unknown": {"en": "unknown field", "de": "unbekanntes Feld"},
    "good_practice.field.costs": {
        "en": "a number of euros, 0 or more",
        "de": "ein Betrag in Euro ab 0",
    },
    "good_practice.field.tags": {
        "en": "a list of measure types",
        "de": "eine Liste von Maßnahmenarten",
    },
    "photo.not_image": {
        "en": "the file is not a JPEG or PNG image (its content was checked, not its name)",
        "de": "Die Datei ist kein JPEG- oder PNG-Bild (geprüft wurde ihr Inhalt, nicht ihr Name).",
    },
    "photo.broken": {
        "en": "the image is truncated or damaged and cannot be read to its end",
        "de": "Das Bild ist abgeschnitten oder beschädigt und lässt sich nicht ganz lesen.",
    },
    "photo.too_large": {
        "en": "the photo is larger than {limit} MB",
        "de": "Das Foto ist größer als {limit} MB.",
    },
    "photo.too_many_pixels": {
        "en": "the image has more than {limit} megapixels",
        "de": "Das Bild hat mehr als {limit} Megapixel.",
    },
    # The checklist of a development plan (zugabe.services.checklists).
    "checklist.not_a_plan": {
        "en": "project {id} is not a development plan: it has no checklist",
        "de": "Die Maßnahme {id} ist kein Bebauungsplan und hat keine Checkliste.",
    },
    "checklist.not_saved": {
        "en": "the checklist was not saved: {count} answer(s) have problems",
        "de": "Die Checkliste wurde nicht gespeichert: {count} Antwort(en) fehlerhaft.",
    },
    "checklist.unknown_item": {
        "en": "unknown checklist item {item}",
        "de": "Unbekannter Prüfpunkt {item}",
    },
    "checklist.bad_answer": {
        "en": "answer with one of: {allowed}",
        "de": "Bitte eine dieser Antworten geben: {allowed}",
    },
    "checklist.note_needed": {
        "en": "say in the note why the item does not apply",
        "de": "Bitte in der Notiz begründen, warum der Punkt nicht zutrifft.",
    },
    "checklist.note_too_long": {
        "en": "longer than {limit} characters",
        "de": "länger als {limit} Zeichen",
    },
}

FIELD_LABELS: dict[str, dict[str, str]] = {
    "title": {"de": "Titel"},
    "description": {"de": "Beschreibung"},
    "contact": {"de": "Kontakt"},
    "external_id": {"de": "Externe Nummer"},
    "organisation": {"de": "Organisation"},
    "department": {"de": "Fachbereich"},
    "measure_type": {"de": "Maßnahmenart"},
    "status": {"de": "Status"},
    "start": {"de": "Beginn"},
    "end": {"de": "Ende"},
    "cost_eur": {"de": "Kosten"},
}
"""A project field as the German form names it; English messages use the field's key."""


@runtime_checkable
class Worded(Protocol):
    """A parameter worded in the message's language (a ``Message``, an ``Amount``, …)."""

    def text(self, lang: str) -> str: ...


@dataclass(frozen=True)
class Amount:
    """A figure written as readers of each language write it: 31,245 or 0.25 in English,
    31.245 or 0,25 in German; absurd ones (1e+300) in short. A measured figure is rounded
    ``up``, so that 5.001 km never reads as the 5 km allowed."""

    value: float
    unit: str = ""
    up: bool = False

    def text(self, lang: str) -> str:
        value = self.value
        if value >= 1e15:
            figure = f"{value:.3g}"
        else:
            decimals = 0 if value >= 100 else 2
            if self.up:
                value = math.ceil(value * 10**decimals) / 10**decimals
            figure = f"{value:,.{decimals}f}"
            if decimals:
                figure = figure.rstrip("0").rstrip(".")
            if lang == "de":
                figure = figure.translate(str.maketrans(",.", ".,"))
        return f"{figure} {self.unit}" if self.unit else figure


def area(m2: float, *, up: bool = False) -> Amount:
    return Amount(m2 / 1e6, "km²", up) if m2 >= 1e6 else Amount(m2, "m²", up)


def length(m: float, *, up: bool = False) -> Amount:
    return Amount(m / 1e3, "km", up) if m >= 1e3 else Amount(m, "m", up)


@dataclass(frozen=True)
class Message:
    """A catalogue code and its parameters: a message not yet worded in a language.

    A parameter may be a plain value or ``Worded``: an ``Amount``, or a ``Message`` (a part
    worded in the same language, e.g. " for measure type 'x'").
    """

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in CATALOGUE:
            raise KeyError(f"no message {self.code!r} in the catalogue")

    def text(self, lang: str = DEFAULT) -> str:
        templates = CATALOGUE[self.code]
        template = templates.get(lang) or templates[DEFAULT]
        values = {name: _worded(name, value, lang) for name, value in self.params.items()}
        return template.format_map(values)


def _worded(name: str, value: Any, lang: str) -> str:
    if isinstance(value, Worded):
        return value.text(lang)
    if name == "field":
        return FIELD_LABELS.get(value, {}).get(lang, value)
    if isinstance(value, int) and not isinstance(value, bool):
        return Amount(value).text(lang)
    return str(value)


def parameters(template: str) -> set[str]:
    """The names a template fills in (for the catalogue's own test)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def best_language(accept_language: Iterable[tuple[str, float]]) -> str | None:
    """The first of our languages an ``Accept-Language`` header prefers, or None."""
    ranked = sorted(accept_language, key=lambda item: -item[1])
    for tag, quality in ranked:
        primary = tag.split("-")[0].lower()
        if quality > 0 and primary in LANGUAGES:
            return primary
    return None
