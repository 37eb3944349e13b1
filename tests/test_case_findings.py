"""What a case keeps of a finding (``engine.case_findings``): the message a reviewer
reads in both languages, who is involved, the shared window and the rounded measures.

The conversion works out per rule what its findings share (the values its messages show,
the layer's title and owner), so a test with two rules checks that nothing of one rule
reaches the cases of the other.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from shapely.geometry import LineString
from test_engine import LINE, ROADS, SEWERS, feature, project, rule

from zugabe.domain.cases import CaseFinding, Subject, pair_key
from zugabe.domain.layers import Text, default_layers_folder, load_layer_definitions
from zugabe.domain.project import Project
from zugabe.domain.rules import Rule, default_rules_path, load_rules
from zugabe.domain.vocabulary import Vocabulary
from zugabe.engine import DetectionIndex, Finding, detect_all, detect_every_rule, render_message
from zugabe.engine.case_findings import case_findings
from zugabe.storage.contract import LayerFeature

DEFINITIONS = load_layer_definitions(default_layers_folder())
RULES = {
    r.id: r for r in load_rules(default_rules_path(), Vocabulary.default(), DEFINITIONS).active
}
PAIR = replace(
    rule("pair"),
    message=Text(
        "{a.title} und {b.title}: {overlap_days} Tage, {overlap_m} m",
        "{a.title} and {b.title}: {overlap_days} days, {overlap_m} m",
    ),
)


def _cases(
    projects: list[Project],
    rules: list[Rule],
    layers: dict[str, list[LayerFeature]],
    responsible: dict[str, str] | None = None,
) -> tuple[list[Finding], list[CaseFinding]]:
    """Detection on these projects and layers: its findings, and them as cases."""
    index = DetectionIndex(projects, layers, layer_definitions=DEFINITIONS, rules=rules)
    cases = case_findings(detect_every_rule(index, rules), DEFINITIONS, responsible or {})
    return detect_all(index, rules), cases


def test_a_case_carries_its_rules_message_in_both_languages_and_the_layers_owner() -> None:
    road = project(1, LINE, title="Fahrbahnerneuerung Hauptstraße", **ROADS)
    sewer = feature(9, LineString([(0, 1.5), (60, 1.5)]), section_id="H-9", condition_class=1)
    poor = RULES["road_works_poor_sewer"]
    (found,), (case,) = _cases(
        [road], [poor], {"sewer_sections": [sewer]}, {"sewer_sections": "eglv"}
    )
    assert case.message == {
        "de": render_message(poor, found, road, sewer, "de"),
        "en": render_message(poor, found, road, sewer, "en"),
    }
    assert "Haltung H-9" in case.message["de"] and "section H-9" in case.message["en"]
    # The water board answers for the sewer data: it is involved beside the road's owner.
    assert case.organisations == ("eglv", "herne")
    assert case.departments == ("drainage", "roads")
    assert (case.window_start, case.window_end) == (date(2027, 1, 1), date(2027, 12, 31))
    assert case.pair_key == found.pair_key and case.subject_b.layer == "sewer_sections"


def test_a_pair_case_spans_both_windows_and_an_open_end_stays_open() -> None:
    road = project(1, LINE, title="Straße", start=date(2027, 3, 1), end=None, **ROADS)
    sewer = project(2, LINE, title="Kanal", start=date(2027, 1, 15), **SEWERS)
    (found,), (case,) = _cases([road, sewer], [PAIR], {})
    assert (case.window_start, case.window_end) == (date(2027, 1, 15), None)
    days = found.overlap_days
    assert case.message == {
        "de": f"Straße und Kanal: {days} Tage, 100 m",
        "en": f"Straße and Kanal: {days} days, 100 m",
    }
    assert case.measures["overlap_length_m"] == 100.0
    assert case.organisations == ("herne",) and case.departments == ("drainage", "roads")


def test_a_feature_without_a_name_is_shown_by_its_layers_title_and_reference() -> None:
    road = project(1, LINE, title="Ring", **ROADS)
    sewers = [
        feature(9, LineString([(0, 1.5), (60, 1.5)]), section_id="H-9", condition_class=1),
        feature(10, LineString([(0, -1.5), (60, -1.5)]), section_id="H-10", condition_class=1),
    ]
    poor = RULES["road_works_poor_sewer"]
    title_rule = replace(
        rule("shown", b=poor.b, spatial=poor.spatial),
        message=Text("{b.title} unter {a.title}", "{b.title} under {a.title}"),
    )
    _, cases = _cases([road], [title_rule, PAIR], {"sewer_sections": sewers})
    assert sorted(c.message["de"] for c in cases) == [
        "Haltungen H-10 unter Ring",
        "Haltungen H-9 unter Ring",
    ]


def test_a_cases_identity_does_not_depend_on_which_subject_came_first() -> None:
    two, ten = Subject("project", "2"), Subject("project", "10")
    tree = Subject("layer", "B-7", "trees")
    assert pair_key("r", two, ten) == pair_key("r", ten, two) == "r|project:2|project:10"
    assert pair_key("r", tree, ten) == pair_key("r", ten, tree) == "r|project:10|layer:trees:B-7"
    assert pair_key("r", two, two) == "r|project:2|project:2"
