"""Three released good-practice examples for the demo town (``zugabe demo``, ``make run``).

Each is played through as it happens in the region: the coordinators of both organisations
agree on a synergy case (a shared trench, road and pipe works bundled, room for water),
the works are finished (the project is set to done, so the case becomes obsolete with its
agreement on record), a planner proposes the project as good practice with two photos
(drawn deterministically: the same bytes every run), and a coordinator of every organisation
involved agrees. Kept apart from ``zugabe.services.demo`` so that other demo additions merge
beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zugabe.domain.accounts import Actor, Role
from zugabe.errors import InvalidInput
from zugabe.io.photos import demo_photo
from zugabe.services import Services
from zugabe.services.demo import demo_actor, demo_username
from zugabe.storage.contract import CaseQuery, ProjectQuery


@dataclass(frozen=True)
class DemoExample:
    project: str  # the demo project's title
    rule: str  # the rule of its synergy case
    decision: str  # what the organisations agreed on the case
    content: dict[str, Any]
    captions: tuple[str, str]


DEMO_EXAMPLES = (
    DemoExample(
        project="Kanalsanierung Feldstraße",
        rule="shared_trench",
        decision="Ein Graben für Kanal und Trinkwasserleitung, eine Verkehrsführung.",
        content={
            "title": "Feldstraße: Kanal und Trinkwasser in einem Graben",
            "description": "Stadt Herne und Gelsenwasser haben Kanal und Trinkwasserleitung "
            "in einem gemeinsamen Graben erneuert. Die Straße war nur einmal gesperrt, "
            "die Anwohnenden wurden gemeinsam informiert.",
            "costs_eur": 610000,
            "costs_note": "davon 170.000 € Gelsenwasser; Ersparnis gegenüber zwei Baustellen "
            "rund 90.000 €",
            "lessons": "Früh einen gemeinsamen Bauzeitenplan abstimmen; eine Bauleitung für "
            "beide Gewerke; Kostenteilung vor der Ausschreibung vereinbaren.",
            "contacts": "Stadtentwässerung Herne, Tel. 02323 16-0\nGelsenwasser AG, "
            "Netzbetrieb Herne",
            "tags": ["sewer_rehabilitation", "utility_line"],
        },
        captions=("Gemeinsamer Leitungsgraben", "Wiederhergestellte Fahrbahn"),
    ),
    DemoExample(
        project="Grundhafter Ausbau Schachtstraße",
        rule="road_works_sewer_bundle",
        decision="Fahrbahnausbau und Erneuerung der Trinkwasserleitung gebündelt.",
        content={
            "title": "Schachtstraße: Straße nur einmal aufgebrochen",
            "description": "Der grundhafte Ausbau der Schachtstraße wurde mit der Erneuerung "
            "der Trinkwasserleitung gebündelt; die neue Fahrbahn bleibt fünf Jahre "
            "unberührt.",
            "costs_eur": 580000,
            "costs_note": "Straße 370.000 €, Leitung 210.000 €",
            "lessons": "Die Aufgrabungssperre nach dem Ausbau hat die Versorger motiviert, "
            "ihre Arbeiten vorzuziehen.",
            "contacts": "Tiefbauamt Herne\nGelsenwasser AG",
            "tags": ["road_renewal", "utility_line"],
        },
        captions=("Neue Fahrbahn Schachtstraße", "Leitungsbau vor dem Deckeneinbau"),
    ),
    DemoExample(
        project="Grünzug Siepenbach",
        rule="water_sensitive_planning",
        decision="Grünzug und Offenlegung des Siepenbachs gemeinsam geplant: Retention im Grün.",
        content={
            "title": "Grünzug Siepenbach: Raum für Wasser und Erholung",
            "description": "Der neue Grünzug nimmt den offengelegten Siepenbach auf; "
            "Mulden im Grün halten Starkregen zurück und kühlen das Quartier.",
            "costs_eur": 1700000,
            "costs_note": "Förderung über die Zukunftsinitiative Klima.Werk",
            "lessons": "Gewässer und Grünplanung in einem Wettbewerb ausloben; "
            "Pflegeverantwortung vorab klären.",
            "contacts": "Grünflächenamt Bochum\nEmschergenossenschaft, Flussgebietsmanagement",
            "tags": ["green_space", "stream_restoration", "swale_trench"],
        },
        captions=("Offengelegter Siepenbach im Grünzug", "Retentionsmulde nach Starkregen"),
    ),
)


def _person(services: Services, organisation: str, role: Role) -> Actor:
    username = demo_username(organisation, role)
    account = services.store.find_account(username)
    if account is None:
        raise InvalidInput(f"the demo account {username} is missing")
    return Actor.of(account, via="cli", address="zugabe demo")


def load_demo_good_practice(services: Services) -> int:
    """Play the three stories through; 0 when the store has examples already."""
    if services.store.list_good_practices():
        return 0
    admin = demo_actor(services)
    released = 0
    for seed, story in enumerate(DEMO_EXAMPLES, start=1):
        found = services.store.list_projects(ProjectQuery(text=story.project))
        project = next((p for p in found if p.attributes.title == story.project), None)
        if project is None:
            continue  # another demo town: nothing to tell
        organisation = project.attributes.organisation
        cases = services.store.list_cases(
            CaseQuery(subject=f"project:{project.id}", rule_ids=(story.rule,))
        )
        if not cases:
            continue
        case = cases[0]
        involved = case.finding.organisations
        services.desk.propose(
            case.id,
            "shared_trench" if story.rule == "shared_trench" else "bundle_works",
            story.decision,
            [],
            _person(services, organisation, Role.COORDINATOR),
            None,
        )
        for other in involved:
            services.desk.vote(case.id, "agree", "", _person(services, other, Role.COORDINATOR))
        services.projects.patch(project.id, {"properties": {"status": "done"}}, admin, None)
        good = services.good_practice
        planner = _person(services, organisation, Role.PLANNER)
        example = good.propose(project.id, story.content, planner)
        for number, caption in enumerate(story.captions):
            image = demo_photo(seed * 10 + number, caption)
            example = good.add_photo(example.id, image, caption, False, planner, None)
        for voter in example.involved:
            example = good.vote(example.id, "agree", "", _person(services, voter, Role.COORDINATOR))
        released += example.public
    return released
