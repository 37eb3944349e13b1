"""Messages in the reader's language: the catalogue, and a project save refused in German.

The API words its problems in English unless the request asks for German (the map's
``zugabe_lang`` cookie, or ``Accept-Language``), so clients that ask for nothing read what
they always read.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import feature
from zugabe.messages import CATALOGUE, LANGUAGES, Amount, Message, parameters


def test_every_message_has_both_languages_and_can_be_worded() -> None:
    for code, templates in CATALOGUE.items():
        assert set(templates) == set(LANGUAGES), code
        names = set().union(*(parameters(t) for t in templates.values()))
        message = Message(code, dict.fromkeys(names, "x"))
        for lang in LANGUAGES:
            assert message.text(lang).strip(), (code, lang)


def test_figures_are_written_as_each_language_writes_them() -> None:
    assert Amount(1234567.0, "€").text("en") == "1,234,567 €"
    assert Amount(1234567.0, "€").text("de") == "1.234.567 €"
    assert Amount(0.25, "km").text("de") == "0,25 km"
    assert Amount(5.001, "km", up=True).text("en") == "5.01 km"


def bad_project() -> dict:
    return feature(title=" ", start="2028-05-01", end="2027-05-01", cost_eur=-3)


def test_the_api_answers_in_english_unless_asked(client: FlaskClient) -> None:
    problem = client.post("/api/projects", json=bad_project()).get_json()
    assert problem["title"] == "Invalid input"
    details = {e["pointer"]: e["detail"] for e in problem["errors"]}
    assert details["/properties/title"] == "'title' must not be empty"
    assert details["/properties/end"] == "end 2027-05-01 is before start 2028-05-01"
    assert problem["detail"].startswith("the project was not saved: /properties/title: ")


def test_a_refused_save_is_worded_in_german_when_asked(client: FlaskClient) -> None:
    response = client.post(
        "/api/projects", json=bad_project(), headers={"Accept-Language": "de-DE,de;q=0.9"}
    )
    assert response.status_code == 422
    assert "Accept-Language" in response.headers["Vary"]
    problem = response.get_json()
    assert problem["title"] == "Ungültige Eingabe"
    errors = {e["pointer"]: e for e in problem["errors"]}
    assert errors["/properties/title"]["detail"] == "Titel darf nicht leer sein."
    assert errors["/properties/title"]["code"] == "field.empty"
    assert errors["/properties/end"]["detail"] == (
        "Das Ende (2027-05-01) liegt vor dem Beginn (2028-05-01)."
    )
    assert errors["/properties/cost_eur"]["code"] == "field.cost_invalid"
    assert problem["detail"].startswith("Die Maßnahme wurde nicht gespeichert: ")


def test_the_language_chosen_on_the_map_wins_over_the_browser(app: Flask) -> None:
    client = app.test_client()
    client.set_cookie("zugabe_lang", "de")
    problem = client.get("/api/projects/999", headers={"Accept-Language": "en"}).get_json()
    assert problem["title"] == "Nicht angemeldet"  # a 401: no token, the title in German
    client.set_cookie("zugabe_lang", "en")
    problem = client.get("/api/projects/999", headers={"Accept-Language": "de"}).get_json()
    assert problem["title"] == "Unauthorized"


def test_limits_of_a_measure_type_in_german_figures(client: FlaskClient) -> None:
    doc = feature(cost_eur=2e10)
    response = client.post("/api/projects", json=doc, headers={"Accept-Language": "de"})
    [error] = response.get_json()["errors"]
    assert error["detail"] == (
        "Die Kosten von 20.000.000.000 € übersteigen die erlaubten 10.000.000.000 € "
        "für die Maßnahmenart „road_renewal“."
    )
    missing = client.get("/api/projects/4711", headers={"Accept-Language": "de"}).get_json()
    assert (missing["title"], missing["detail"]) == (
        "Nicht gefunden",
        "Die Maßnahme 4711 gibt es nicht.",
    )
