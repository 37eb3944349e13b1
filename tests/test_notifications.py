"""Watch areas and notifications: who is told of what, in the app and by e-mail.

The mails go through the outbox to a real SMTP server (aiosmtpd, ``tests/smtp_server.py``)
and are checked as they arrive: recipient, subject, language, the links into the map, the
unsubscribe link (which works without signing in and stops further mail), the daily digest
and a save while the mail server is down.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import shapely
from flask import Flask
from flask.testing import FlaskClient
from smtp_server import SmtpServer, free_port

from tests.conftest import ADMIN, VALID_FEATURE, client_as, feature
from zugabe.domain.accounts import Actor, Role
from zugabe.domain.case_history import Event
from zugabe.domain.cases import CaseStatus
from zugabe.domain.notifications import (
    Kind,
    MailMode,
    Notification,
    Subscriptions,
    Touched,
    compose_mail,
    watches,
)
from zugabe.services import Services
from zugabe.services.accounts import AccountInput
from zugabe.storage.contract import CaseQuery
from zugabe.web import create_app

PUBLIC_URL = "https://zugabe.example.org"
# A street in the demo district Brückenfeld.
IN_BRUECKENFELD = {"type": "LineString", "coordinates": [[7.205, 51.52], [7.21, 51.521]]}


# ---------------------------------------------------------------- domain


def test_a_change_concerns_those_watching_its_organisation_department_layer_or_place():
    square = shapely.box(0, 0, 10, 10)
    touched = Touched(
        frozenset({"herne"}), frozenset({"roads"}), frozenset({"trees"}), shapely.Point(5, 5)
    )
    far = Touched(frozenset({"bochum"}), frozenset({"parks"}), geometry=shapely.Point(50, 50))
    districts = {"d1": square}

    def sees(change: Touched, **chosen: Any) -> bool:
        return watches(Subscriptions("a", **chosen), change, districts)

    assert sees(touched, organisations=("herne",))
    assert sees(touched, departments=("roads",))
    assert sees(touched, layers=("trees",))
    assert sees(touched, districts=("d1",))
    assert sees(touched, area=shapely.box(4, 4, 6, 6))
    assert not sees(far, organisations=("herne",), departments=("roads",), districts=("d1",))
    assert not sees(touched, districts=("gone",))  # a district no longer stored
    assert not sees(Touched(), area=square)  # nothing to place
    assert not Subscriptions("a").watches_anything


def _note(kind: Kind, **values: Any) -> Notification:
    details = values.pop("details", {})
    return Notification(1, "a", kind, details=details, created_at=datetime.now(UTC), **values)


def test_mails_speak_the_readers_language_and_link_into_the_map():
    new = _note(
        Kind.PROJECT_CREATED,
        case_id=None,
        project_id=7,
        layer=None,
        details={"title": "Kanal\r\nBcc: x@y"},  # no header injection through a title
    )

    def compose(lang: str, **more: Any) -> Any:
        return compose_mail(
            [new],
            lang,  # type: ignore[arg-type]
            name="Ayşe Kaya",
            words=lambda key, _lang: key,
            link=lambda n: f"{PUBLIC_URL}/#project={n.project_id}",
            unsubscribe_url=f"{PUBLIC_URL}/unsubscribe/t",
            **more,
        )

    german, english = compose("de"), compose("en")
    assert german.subject == "ZUGABE: Neue Maßnahme 7: Kanal Bcc: x@y"
    assert english.subject.startswith("ZUGABE: New project 7")
    assert "Guten Tag Ayşe Kaya," in german.text and "Hello Ayşe Kaya," in english.text
    assert f"{PUBLIC_URL}/#project=7" in german.text
    assert f"{PUBLIC_URL}/unsubscribe/t" in english.text
    digest = compose("en", digest_of=date(2027, 3, 1))
    assert digest.subject == "ZUGABE: your digest of 2027-03-01 (1)"


# ---------------------------------------------------------------- service, HTTP, SMTP


def _mail_app(instance_path: Path, port: int) -> Flask:
    app = create_app(
        {
            "instance_path": instance_path,
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "mail_from": "ZUGABE <zugabe@example.org>",
            "public_url": PUBLIC_URL,
        }
    )
    app.testing = True
    return app


@pytest.fixture
def mail_app(demo_instance: Path, smtp: SmtpServer) -> Iterator[Flask]:
    app = _mail_app(demo_instance, smtp.port)
    yield app
    app.extensions["zugabe"].close()


def _person(
    app: Flask,
    username: str,
    organisation: str | None = "herne",
    roles: frozenset[Role] = frozenset({Role.VIEWER}),
) -> FlaskClient:
    """An account with an e-mail address (``username@example.org``) and its client."""
    services: Services = app.extensions["zugabe"]
    departments = ("roads", "drainage") if Role.PLANNER in roles else ()
    services.accounts.add(
        ADMIN,
        AccountInput(
            username,
            username.replace(".", " ").title(),
            f"{username}@example.org",
            organisation,
            departments,
            roles,
            (),
        ),
    )
    return client_as(app, username)


def _district_at(app: Flask, lon: float, lat: float) -> str:
    services: Services = app.extensions["zugabe"]
    here = services.projects.reprojector.to_storage(shapely.Point(lon, lat))
    [district] = services.store.layer_features("districts", area=here)
    return str(district.attributes["district_id"])


def _deliver(app: Flask, at: datetime | None = None) -> Any:
    return app.extensions["zugabe"].mail.deliver_due(at or datetime.now(UTC))


def _links(text: str) -> list[str]:
    return re.findall(r"https://\S+", text)


def test_a_new_project_in_a_watched_district_arrives_by_mail_and_unsubscribing_stops_it(
    mail_app: Flask, smtp: SmtpServer
) -> None:
    watcher = _person(mail_app, "w.walter")
    planner = _person(mail_app, "p.paula", roles=frozenset({Role.PLANNER}))
    district = _district_at(mail_app, 7.205, 51.52)
    chosen = {"districts": [district], "mail": "immediate", "language": "en"}
    assert watcher.put("/api/subscriptions", json=chosen).status_code == 200
    assert planner.post("/api/projects", json=VALID_FEATURE).status_code == 201  # elsewhere
    created = planner.post("/api/projects", json=feature(IN_BRUECKENFELD))
    assert created.status_code == 201
    project_id = created.get_json()["id"]

    listing = watcher.get("/api/notifications", headers={"Accept-Language": "en"}).get_json()
    told = listing["unread"]  # the project, and the cases it brought in the district
    first = listing["notifications"][-1]
    assert (first["kind"], first["project_id"]) == ("project_created", project_id)
    assert first["text"] == f"New project {project_id}: Fahrbahnerneuerung Bahnhofstraße"
    assert {n["kind"] for n in listing["notifications"][:-1]} <= {"case_created"}
    assert planner.get("/api/notifications").get_json()["total"] == 0  # not of one's own

    assert len(_deliver(mail_app).sent) == 2  # one about the project, one about its cases
    project_mail, cases_mail = (a.message for a in smtp.received)
    assert {a.recipients for a in smtp.received} == {("w.walter@example.org",)}
    assert project_mail["Subject"] == (
        f"ZUGABE: New project {project_id}: Fahrbahnerneuerung Bahnhofstraße"
    )
    body = project_mail.get_body(("plain",)).get_content()
    assert "Hello W Walter," in body
    link, unsubscribe = _links(body)
    assert link == f"{PUBLIC_URL}/#project={project_id}"
    assert unsubscribe.startswith(f"{PUBLIC_URL}/unsubscribe/")
    *case_links, _ = _links(cases_mail.get_body(("plain",)).get_content())
    assert len(case_links) == told - 1 and all("/#case=" in x for x in case_links)

    anonymous = mail_app.test_client()
    path = unsubscribe.removeprefix(PUBLIC_URL)
    asked = anonymous.get(path)  # what a mail scanner does: changes nothing
    assert asked.status_code == 200 and 'id="unsubscribe"' in asked.get_data(as_text=True)
    assert "Unsubscribe" in asked.get_data(as_text=True)  # in the reader's language
    assert watcher.get("/api/subscriptions").get_json()["mail"] == "immediate"
    done = anonymous.post(path)
    assert done.status_code == 200 and 'id="unsubscribe-done"' in done.get_data(as_text=True)
    assert watcher.get("/api/subscriptions").get_json()["mail"] == "off"
    assert anonymous.get(path[:-3] + "abc").status_code == 404

    again = planner.post("/api/projects", json=feature(IN_BRUECKENFELD, title="Zweite"))
    assert again.status_code == 201
    assert _deliver(mail_app).sent == ()  # mail is off now …
    assert len(smtp.received) == 2
    assert watcher.get("/api/notifications").get_json()["unread"] > told  # … the bell rings


def test_cases_of_a_watched_organisation_are_told_in_german(
    mail_app: Flask, smtp: SmtpServer
) -> None:
    watcher = _person(mail_app, "b.berta", organisation="bochum")
    planner = _person(mail_app, "p.paula", roles=frozenset({Role.PLANNER}))
    assert watcher.put("/api/subscriptions", json={"organisations": ["herne"]}).status_code == 200
    created = planner.post("/api/projects", json=feature(IN_BRUECKENFELD))
    new_cases = {c["id"] for c in created.get_json()["cases"]}
    assert new_cases, "the demo town gives this street cases"
    listing = watcher.get("/api/notifications?limit=100").get_json()
    told = {n["case_id"] for n in listing["notifications"] if n["kind"] == "case_created"}
    assert told == new_cases
    _deliver(mail_app)
    project_mail, cases_mail = (a.message for a in smtp.received)
    assert project_mail["Subject"].startswith("ZUGABE: Neue Maßnahme ")
    subject = cases_mail["Subject"]
    if len(new_cases) > 1:
        assert subject == f"ZUGABE: {len(new_cases)} Neuigkeiten"
    else:
        assert subject.startswith("ZUGABE: Neuer Koordinierungsfall")
    body = cases_mail.get_body(("plain",)).get_content()
    assert "Neuer Koordinierungsfall" in body and "Guten Tag B Berta," in body
    assert all(f"{PUBLIC_URL}/#case={case_id}" in body for case_id in new_cases)


def test_the_daily_digest_collects_several_changes_in_one_mail_once_a_day(
    mail_app: Flask, smtp: SmtpServer
) -> None:
    watcher = _person(mail_app, "d.dora")
    planner = _person(mail_app, "p.paula", roles=frozenset({Role.PLANNER}))
    chosen = {"departments": ["roads"], "mail": "daily", "language": "de"}
    assert watcher.put("/api/subscriptions", json=chosen).status_code == 200
    for title in ("Erste Fahrbahn", "Zweite Fahrbahn"):
        assert planner.post("/api/projects", json=feature(title=title)).status_code == 201
    assert _deliver(mail_app).sent == ()  # nothing before the digest
    notifications = mail_app.extensions["zugabe"].notifications
    now = datetime.now(UTC)
    assert notifications.send_digests(now, at_digest_hour=False) == 1
    assert notifications.send_digests(now, at_digest_hour=False) == 0  # once a day
    _deliver(mail_app)
    [digest] = smtp.received
    today = now.astimezone().date().isoformat()
    assert digest.message["Subject"] == f"ZUGABE: Ihre Übersicht vom {today} (2)"
    body = digest.message.get_body(("plain",)).get_content()
    assert "Erste Fahrbahn" in body and "Zweite Fahrbahn" in body
    assert "Keine E-Mails mehr von ZUGABE: https://" in body
    # the CLI's run queues nothing more that day either
    assert notifications.send_digests(now + timedelta(hours=1), at_digest_hour=False) == 0


def test_a_save_succeeds_while_the_mail_server_is_down_and_the_mail_follows(
    demo_instance: Path,
) -> None:
    down = SmtpServer(free_port())
    app = _mail_app(demo_instance, down.port)
    try:
        watcher = _person(app, "w.walter")
        planner = _person(app, "p.paula", roles=frozenset({Role.PLANNER}))
        assert (
            watcher.put("/api/subscriptions", json={"organisations": ["herne"]}).status_code == 200
        )
        assert planner.post("/api/projects", json=VALID_FEATURE).status_code == 201
        now = datetime.now(UTC)
        assert len(_deliver(app, now).retrying) == 1
        down.start()
        delivery = _deliver(app, now + timedelta(minutes=5))
        assert len(delivery.sent) == 1
        assert down.received[0].recipients == ("w.walter@example.org",)
    finally:
        down.stop()
        app.extensions["zugabe"].close()


def test_a_change_that_rolls_back_notifies_nobody(mail_app: Flask, smtp: SmtpServer) -> None:
    services: Services = mail_app.extensions["zugabe"]
    _person(mail_app, "w.walter").put("/api/subscriptions", json={"organisations": ["herne"]})
    project = services.store.get_project(1)
    assert project is not None
    with pytest.raises(RuntimeError), services.store.transaction():
        services.notifications.project_changed(project, False, ADMIN)
        raise RuntimeError("the save failed after its notifications")
    assert services.store.count_notifications("w.walter") == 0
    assert services.store.list_mail(5) == []


def _herne_eglv_case(services: Services) -> int:
    cases = services.store.list_cases(
        CaseQuery(organisations=("herne",), statuses=(CaseStatus.OPEN,))
    )
    return next(c.id for c in cases if set(c.finding.organisations) == {"herne", "eglv"})


def _events_since(services: Services, case_id: int, seen: int) -> tuple[Any, list[Any]]:
    case = services.store.get_case(case_id)
    assert case is not None
    return case, [entry.event for entry in case.history[seen:]]


def test_desk_steps_reach_the_assignee_and_the_coordinators_asked_to_agree(
    mail_app: Flask, smtp: SmtpServer
) -> None:
    services: Services = mail_app.extensions["zugabe"]
    coordinator = frozenset({Role.COORDINATOR})
    herne = _person(mail_app, "h.hanna", roles=coordinator)
    eglv = _person(mail_app, "e.erik", organisation="eglv", roles=coordinator)
    actors = {
        name: Actor.of(services.store.find_account(name), via="cli", address=None)  # type: ignore[arg-type]
        for name in ("h.hanna", "e.erik")
    }
    case_id = _herne_eglv_case(services)

    def step(do: Any) -> list[Any]:
        """A desk step, which notifies by itself (DeskService calls case_step)."""
        seen = len(services.store.get_case(case_id).history)  # type: ignore[union-attr]
        do()
        _case, events = _events_since(services, case_id, seen)
        return [e.kind for e in events]

    assert Event.ASSIGNED in step(
        lambda: services.desk.assign(case_id, "e.erik", actors["h.hanna"], None)
    )
    assert Event.PROPOSED in step(
        lambda: services.desk.propose(
            case_id, "bundle_works", "Gemeinsam bauen", [], actors["h.hanna"], None
        ),
    )
    assert Event.AGREED not in step(
        lambda: services.desk.vote(case_id, "agree", "", actors["e.erik"])
    )

    def kinds(client: FlaskClient) -> list[str]:
        listing = client.get("/api/notifications").get_json()["notifications"]
        return [n["kind"] for n in reversed(listing) if n["case_id"] == case_id]

    assert kinds(eglv) == ["assigned", "request_to_agree"]  # not of the own vote
    assert kinds(herne) == ["voted"]  # the proposer: not of the own proposal
    _deliver(mail_app)
    subjects = [(a.recipients[0], a.message["Subject"]) for a in smtp.received]
    eglv_name = services.vocabulary.organisations["eglv"].de
    assert ("h.hanna@example.org", f"ZUGABE: Fall {case_id}: {eglv_name} stimmt zu") in subjects
    assert [to for to, _ in subjects].count("e.erik@example.org") == 2  # two steps, two mails


def test_each_account_reads_and_marks_only_its_own(mail_app: Flask) -> None:
    services: Services = mail_app.extensions["zugabe"]
    one, other = _person(mail_app, "o.one"), _person(mail_app, "o.other")
    for client in (one, other):
        client.put("/api/subscriptions", json={"organisations": ["herne"], "mail": "off"})
    for n in range(3):
        services.projects.create(feature(title=f"Matrix {n}"), ADMIN)
    first = one.get("/api/notifications?limit=2").get_json()
    assert (first["total"], first["unread"], len(first["notifications"])) == (3, 3, 2)
    older = one.get(f"/api/notifications?limit=2&after={first['next_after']}").get_json()
    assert len(older["notifications"]) == 1 and older["next_after"] is None
    theirs = other.get("/api/notifications").get_json()["notifications"][0]["id"]
    answer = one.post("/api/notifications/read", json={"ids": [theirs]})
    assert answer.get_json() == {"unread": 3}  # someone else's id changes nothing
    mine = first["notifications"][0]["id"]
    assert one.post("/api/notifications/read", json={"ids": [mine]}).get_json() == {"unread": 2}
    assert one.post("/api/notifications/read", json={"all": True}).get_json() == {"unread": 0}
    assert other.get("/api/notifications").get_json()["unread"] == 3


def test_subscriptions_are_checked_and_the_area_kept_in_lon_lat(mail_app: Flask) -> None:
    client = _person(mail_app, "s.sara")
    assert client.get("/api/subscriptions").get_json() == {
        "mail": "immediate",
        "language": "de",
        "districts": [],
        "area": None,
        "organisations": [],
        "departments": [],
        "layers": [],
    }
    ring = [[7.20, 51.53], [7.23, 51.53], [7.23, 51.55], [7.20, 51.53]]
    saved = client.put(
        "/api/subscriptions",
        json={"area": {"type": "Polygon", "coordinates": [ring]}, "layers": ["trees"]},
    )
    assert saved.status_code == 200, saved.get_json()
    area = saved.get_json()["area"]
    assert shapely.geometry.shape(area).equals_exact(shapely.Polygon(ring), 1e-6)
    refused = client.put(
        "/api/subscriptions",
        json={
            "organisations": ["atlantis"],
            "districts": ["no-such-district"],
            "layers": ["x"] * 51,
            "mail": "hourly",
            "area": {"type": "LineString", "coordinates": ring[:2]},
        },
    )
    assert refused.status_code == 422
    pointers = {e["pointer"] for e in refused.get_json()["errors"]}
    assert pointers == {
        "/organisations",
        "/districts",
        "/layers",
        "/mail",
        "/area/type",
    }
    many = [[7.2 + i * 1e-5, 51.53 + (i % 2) * 1e-4] for i in range(600)]
    too_big = {"type": "Polygon", "coordinates": [[*many, many[0]]]}
    assert client.put("/api/subscriptions", json={"area": too_big}).status_code == 422
    assert client.get("/api/subscriptions").get_json()["layers"] == ["trees"]  # kept
    services: Services = mail_app.extensions["zugabe"]
    subscriptions = services.store.get_subscriptions("s.sara")
    assert subscriptions is not None and subscriptions.mail is MailMode.IMMEDIATE
