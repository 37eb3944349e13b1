"""The demo town's checklists (``zugabe demo``, ``make run``): two development plans with
their checklists filled in, so the fact sheet, the answer page and the regional overview
show something. Kept apart from ``zugabe.services.demo`` so other demo additions merge
beside it."""

from __future__ import annotations

from typing import Any

from zugabe.domain.accounts import Actor, Role
from zugabe.services import Services
from zugabe.services.checklists import PLAN_MEASURE_TYPE
from zugabe.services.demo import demo_username
from zugabe.storage.contract import ProjectQuery

# Plan (by title) → organisation whose planner answers, and the answers given.
DEMO_CHECKLISTS: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "Wohnen am Wiesenbach": (
        "bochum",
        {
            "infiltration_dwa_a138": {
                "answer": "fulfilled",
                "note": "Mulden-Rigolen nach DWA-A 138 bemessen, kf-Werte aus dem Bodengutachten.",
            },
            "retention_on_site": {"answer": "fulfilled", "note": "Retentionsmulde am Wiesenbach."},
            "rainwater_reuse": {
                "answer": "planned",
                "note": "Zisternen im Städtebaulichen Vertrag.",
            },
            "receiving_water_discharge": {
                "answer": "fulfilled",
                "note": "Gedrosselte Einleitung in den Wiesenbach, 5 l/(s·ha).",
            },
            "emergency_flow_paths": {
                "answer": "fulfilled",
                "note": "Notwasserweg entlang der Planstraße zum Bach freigehalten.",
            },
            "flood_adapted_building": {
                "answer": "planned",
                "note": "Erdgeschoss 30 cm über Gelände: Festsetzung im Entwurf.",
            },
            "multifunctional_spaces": {
                "answer": "fulfilled",
                "note": "Spielplatz als Notretention.",
            },
            "green_roofs": {
                "answer": "fulfilled",
                "note": "Extensive Dachbegrünung, 10 cm Substrat.",
            },
            "limit_sealing": {
                "answer": "fulfilled",
                "note": "GRZ 0,35; Stellplätze in Rasengitter.",
            },
            "tree_planting": {"answer": "planned", "note": ""},
            "disconnect_existing_areas": {
                "answer": "not_applicable",
                "note": "Bisher Acker: keine angeschlossenen Flächen.",
            },
            "ventilation_corridors": {"answer": "fulfilled", "note": "Kaltluftbahn zum Bachtal."},
        },
    ),
    "Brückenfeld-Mitte": (
        "herne",
        {
            "infiltration_dwa_a138": {
                "answer": "planned",
                "note": "Versickerungsversuche beauftragt.",
            },
            "retention_on_site": {"answer": "fulfilled", "note": "Rigolen unter den Stellplätzen."},
            "limit_sealing": {"answer": "fulfilled", "note": ""},
            "unseal_existing": {"answer": "planned", "note": "Schulhof wird entsiegelt."},
            "disconnect_combined_sewer": {
                "answer": "fulfilled",
                "note": "Neubauten im Trennsystem, Regenwasser in die Rigolen.",
            },
            "disconnect_existing_areas": {"answer": "planned", "note": ""},
            "tree_planting": {"answer": "fulfilled", "note": "Ein Baum je vier Stellplätze."},
        },
    ),
}


def load_demo_checklists(services: Services) -> int:
    """Answer the checklists of the demo's plans not answered yet; how many were filled."""
    plans = services.store.list_projects(ProjectQuery(measure_types=(PLAN_MEASURE_TYPE,)))
    answered = services.store.checklist_answers([p.id for p in plans])
    filled = 0
    for part, (organisation, answers) in DEMO_CHECKLISTS.items():
        plan = next((p for p in plans if part in p.attributes.title), None)
        account = services.store.find_account(demo_username(organisation, Role.PLANNER))
        if plan is None or account is None or plan.id in answered:
            continue
        actor = Actor.of(account, via="cli", address="zugabe demo")
        services.checklists.answer(actor, plan.id, answers)
        filled += 1
    return filled
