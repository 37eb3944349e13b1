"""The rule file: the shipped rules load, and every kind of broken rule is refused clearly."""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from pathlib import Path

import pytest

from zugabe.domain.layers import LayerDefinition, default_layers_folder, load_layer_definitions
from zugabe.domain.project import ProjectAttributes, Status
from zugabe.domain.rules import (
    DEFAULT_STATUSES,
    Condition,
    LayerSelector,
    ProjectSelector,
    Rule,
    default_rules_path,
    format_value,
    load_rules,
)
from zugabe.domain.vocabulary import Vocabulary
from zugabe.errors import ConfigError

README = default_rules_path().parent / "README.md"


@cache
def definitions() -> dict[str, LayerDefinition]:
    return load_layer_definitions(default_layers_folder())


@cache
def shipped() -> tuple[Rule, ...]:
    return load_rules(default_rules_path(), Vocabulary.default(), definitions()).rules


# -- the shipped rules ---------------------------------------------------------------


def test_shipped_rules_load_against_the_default_vocabulary_and_layers() -> None:
    rules = shipped()
    assert len(rules) == 17
    assert all(rule.active for rule in rules)
    assert len({rule.id for rule in rules}) == len(rules)
    assert {rule.relation for rule in rules} == {"conflict", "synergy", "note"}
    for rule in rules:
        assert rule.layer is None or rule.layer in definitions()


def test_the_issue_defaults_are_shipped() -> None:
    rules = {rule.id: rule for rule in shipped()}
    bundle = rules["road_works_sewer_bundle"]
    assert "road_renewal" in bundle.a.measure_types
    assert isinstance(bundle.b, ProjectSelector)
    assert "sewer_rehabilitation" in bundle.b.measure_types
    assert (bundle.spatial.test, bundle.spatial.distance) == ("within", 10.0)
    assert (bundle.temporal.test, bundle.temporal.months) == ("gap_months", 24)
    poor = rules["road_works_poor_sewer"].b
    assert isinstance(poor, LayerSelector)
    # DWA-M 149-3 counts downwards: poor means a low class.
    assert poor.where == (Condition("condition_class", "<=", 2),)
    due = rules["road_works_sewer_renewal_due"].temporal
    assert (due.test, due.attribute, due.years) == ("year_window", "renewal_year", 3)
    for rule_id in ("excavation_after_resurfacing", "excavation_resurfaced_street"):
        assert rules[rule_id].relation == "conflict"
        assert (rules[rule_id].temporal.test, rules[rule_id].temporal.years) == ("moratorium", 5)
    # A finished resurfacing still imposes its moratorium.
    resurfacing = rules["excavation_after_resurfacing"].b
    assert isinstance(resurfacing, ProjectSelector)
    assert Status.DONE in resurfacing.statuses
    assert rules["excavation_resurfaced_street"].temporal.attribute == "last_resurfacing_year"
    flood = rules["building_in_flood_zone"].b
    assert isinstance(flood, LayerSelector)
    assert flood.where == (Condition("depth_class", ">=", 2),)
    roots = rules["excavation_root_protection"].b
    assert isinstance(roots, LayerSelector)
    assert (roots.layer, roots.use_derived) == ("trees", True)
    assert rules["runoff_overflow_hotspot"].b == LayerSelector(
        "cso_catchments", (Condition("overflow_frequency", ">", 15.0),)
    )
    meet = rules["projects_meet"]
    assert meet.relation == "note"
    assert meet.fallback
    assert meet.a == meet.b == ProjectSelector()


def test_every_shipped_rule_is_documented() -> None:
    text = README.read_text("utf-8")
    for rule in shipped():
        assert f"`{rule.id}`" in text, rule.id


def test_every_rule_field_is_documented() -> None:
    text = README.read_text("utf-8")
    from zugabe.domain import rules as module

    for name in (
        *module._RULE_KEYS,
        *module._PROJECT_SELECTOR_KEYS,
        *module._LAYER_SELECTOR_KEYS,
        *module._CONDITION_KEYS,
        *module._SPATIAL_KEYS,
        *module._TEMPORAL_KEYS,
        *module.TEMPORAL_TESTS,
        *module.SPATIAL_TESTS,
    ):
        assert f"`{name}`" in text, name


def test_the_layer_loader_does_not_read_the_rule_folder() -> None:
    # The rules live in a subfolder so layers/*.toml stays layer definitions only.
    assert default_rules_path().parent.parent == default_layers_folder()
    assert all(d.source_path.parent == default_layers_folder() for d in definitions().values())


def test_shipped_messages_render_in_both_languages() -> None:
    for rule in shipped():
        for lang in ("de", "en"):
            text = rule.render(lang, {})
            assert "{" not in text and "}" not in text
            assert text.strip()


# -- selectors and conditions ----------------------------------------------------------


def _attributes(**changes: object) -> ProjectAttributes:
    values: dict[str, object] = {
        "title": "T",
        "organisation": "herne",
        "department": "roads",
        "measure_type": "road_renewal",
        "status": Status.PLANNING,
    }
    values.update(changes)
    return ProjectAttributes(**values)  # type: ignore[arg-type]


def test_project_selector_matches_any_by_default_but_not_done_or_cancelled() -> None:
    selector = ProjectSelector()
    assert selector.statuses == DEFAULT_STATUSES
    assert selector.matches(_attributes())
    assert not selector.matches(_attributes(status=Status.DONE))
    assert not selector.matches(_attributes(status=Status.CANCELLED))
    narrow = ProjectSelector(organisations=("bochum",), departments=("roads",))
    assert not narrow.matches(_attributes())
    assert narrow.matches(_attributes(organisation="bochum"))


@pytest.mark.parametrize(
    ("condition", "value", "holds"),
    [
        (Condition("c", "<=", 2), 2, True),
        (Condition("c", "<=", 2), 3, False),
        (Condition("c", "<", 2), 2, False),
        (Condition("c", ">", 15.0), 15.0, False),
        (Condition("c", ">=", 2), 2.5, True),
        (Condition("c", "==", 2), 2.0, True),
        (Condition("c", "!=", 2), 3, True),
        (Condition("c", "!=", 2), None, False),  # a missing value meets no condition
        (Condition("c", "<=", 2), None, False),
        (Condition("c", "in", (1, 2)), 2, True),
        (Condition("c", "in", ("RKB", "RRB")), "RÜB", False),
        (Condition("c", "==", "RKB"), "RKB", True),
        (Condition("c", "==", False), False, True),
        (Condition("c", "==", False), 0, False),  # booleans are not numbers
        (Condition("c", "==", 1), True, False),
        (Condition("c", "<", date(2020, 1, 1)), date(2019, 5, 1), True),
        (Condition("c", "<", 2), "1", False),
    ],
)
def test_conditions(condition: Condition, value: object, holds: bool) -> None:
    assert condition.holds(value) is holds


def test_values_format_for_messages() -> None:
    assert format_value(None) == "–"
    assert format_value(3.0) == "3"
    assert format_value(412.4) == "412"
    assert format_value(1.25) == "1.2"
    assert format_value(date(2027, 4, 1)) == "2027-04-01"


# -- broken rule files -------------------------------------------------------------------

BASE = {
    "id": 'id = "poor_sewer"',
    "name": 'name = { de = "Kanal", en = "Sewer" }',
    "relation": 'relation = "synergy"',
    "severity": 'severity = "high"',
    "a": 'a = { departments = ["roads"], measure_types = ["road_renewal"] }',
    "b": (
        'b = { layer = "sewer_sections", where = '
        '[{ attribute = "condition_class", operator = "<=", value = 2 }] }'
    ),
    "spatial": 'spatial = { test = "within", distance = 5, min_length = 10 }',
    "temporal": 'temporal = { test = "year_window", attribute = "renewal_year", years = 3 }',
    "message": 'message = { de = "{a.title}: {b.section_id}", en = "{a.title} {distance_m} m" }',
}


MESSAGE_FOR_PROJECTS = 'message = { de = "{a.title}", en = "{b.title}" }'


def write_rules(tmp_path: Path, **changes: str | None) -> Path:
    lines = dict(BASE)
    for key, line in changes.items():
        if line is None:
            del lines[key]
        else:
            lines[key] = line
    path = tmp_path / "broken.toml"
    path.write_text("[[rules]]\n" + "\n".join(lines.values()) + "\n", "utf-8")
    return path


def load(path: Path) -> tuple[Rule, ...]:
    return load_rules(path, Vocabulary.default(), definitions()).rules


def test_the_base_of_the_broken_files_is_valid(tmp_path: Path) -> None:
    (rule,) = load(write_rules(tmp_path))
    assert rule.id == "poor_sewer"
    assert rule.involve_departments == ()


BROKEN = [
    # (changes, field named in the message, text in the message)
    ({"a": 'a = { statuses = ["finished"] }'}, "a.statuses", "unknown status 'finished'"),
    (
        {"a": 'a = { departments = ["roads"], measure_types = ["sewer_rehabilitation"] }'},
        "a.measure_types",
        "belongs to none of the departments roads",
    ),
    (
        {"a": 'a = { organisations = ["gelsenwasser"], departments = ["roads"] }'},
        "a.departments",
        "organisation 'gelsenwasser' has none of these departments",
    ),
    ({"a": 'a = { layer = "streets" }'}, "a.layer", "subject a must select projects"),
    ({"a": 'a = { department = ["roads"] }'}, "a.department", "unknown field"),
    ({"b": 'b = { layer = "sewers" }'}, "b.layer", "unknown layer 'sewers'"),
    (
        {
            "b": 'b = { layer = "sewer_sections", where = [{ attribute = "zustand", '
            'operator = "<=", value = 2 }] }'
        },
        "b.where[0].attribute",
        "has no attribute 'zustand'",
    ),
    (
        {
            "b": 'b = { layer = "sewer_sections", where = [{ attribute = "condition_class", '
            'operator = "=<", value = 2 }] }'
        },
        "b.where[0].operator",
        "'=<' is not one of",
    ),
    (
        {
            "b": 'b = { layer = "sewer_sections", where = [{ attribute = "condition_class", '
            'operator = "<=", value = "poor" }] }'
        },
        "b.where[0].value",
        "attribute 'condition_class' is integer",
    ),
    (
        {
            "b": 'b = { layer = "sewer_sections", where = [{ attribute = "sewer_system", '
            'operator = "==", value = "XX" }] }'
        },
        "b.where[0].value",
        "'XX' is not a value of 'sewer_system'",
    ),
    (
        {
            "b": 'b = { layer = "sewer_sections", where = [{ attribute = "condition_class", '
            'operator = "in", value = 2 }] }'
        },
        "b.where[0].value",
        "operator 'in' needs a non-empty list",
    ),
    (
        {"b": 'b = { layer = "sewer_sections", where = [{ attribute = "condition_class" }] }'},
        "b.where[0].operator",
        "is required",
    ),
    (
        {"b": 'b = { layer = "sewer_sections", use_derived = true }'},
        "b.use_derived",
        "declares no [derived] geometry",
    ),
    ({"relation": 'relation = "conflikt"'}, "relation", "'conflikt' is not one of"),
    ({"severity": 'severity = "critical"'}, "severity", "is not one of low, medium, high"),
    ({"spatial": 'spatial = { test = "touches" }'}, "spatial.test", "'touches' is not one of"),
    ({"spatial": 'spatial = { test = "within" }'}, "spatial.distance", "needs a distance"),
    (
        {"spatial": 'spatial = { test = "within", distance = -5 }'},
        "spatial.distance",
        "greater than 0",
    ),
    (
        {"spatial": 'spatial = { test = "intersects", distance = 5 }'},
        "spatial.distance",
        "only 'within' takes a distance",
    ),
    (
        {"spatial": 'spatial = { test = "intersects", min_area = "big" }'},
        "spatial.min_area",
        "must be a number",
    ),
    ({"temporal": 'temporal = { test = "soon" }'}, "temporal.test", "'soon' is not one of"),
    (
        {"temporal": 'temporal = { test = "gap_months", months = 24 }'},
        "temporal.test",
        "'gap_months' compares project windows; b is the layer 'sewer_sections'",
    ),
    (
        {"temporal": 'temporal = { test = "year_window", attribute = "renewal_year" }'},
        "temporal.years",
        "'year_window' needs 'years'",
    ),
    (
        {"temporal": 'temporal = { test = "year_window", attribute = "renewal", years = 3 }'},
        "temporal.attribute",
        "has no attribute 'renewal'",
    ),
    (
        {"temporal": 'temporal = { test = "moratorium", attribute = "material", years = 5 }'},
        "temporal.attribute",
        "a year attribute must be integer",
    ),
    (
        {"temporal": 'temporal = { test = "moratorium", attribute = "renewal_year", years = 0 }'},
        "temporal.years",
        "greater than 0",
    ),
    (
        {"temporal": 'temporal = { test = "none", years = 3 }'},
        "temporal.years",
        "'none' takes no 'years'",
    ),
    (
        {"b": 'b = { measure_types = ["sewer_rehabilitation"] }', "message": MESSAGE_FOR_PROJECTS},
        "temporal.test",
        "'year_window' reads a year attribute of a layer in b",
    ),
    (
        {"message": 'message = { de = "{a.titel}", en = "x" }'},
        "message.de",
        "unknown placeholder {a.titel}",
    ),
    (
        {"message": 'message = { de = "x", en = "{b.title} {b.renewal}" }'},
        "message.en",
        "unknown placeholder {b.renewal}",
    ),
    ({"name": 'name = { de = "Kanal" }'}, "name", "needs { de"),
    ({"message": None}, "message", "is required"),
    ({"id": 'id = "Poor Sewer"'}, "id", "must be lower-case"),
    ({"severity": 'severety = "high"'}, "severety", "unknown field"),
    (
        {"severity": 'severity = "high"\nsame_department = true'},
        "same_department",
        "applies to pairs of projects only",
    ),
    ({"severity": 'severity = "high"\nfallback = "yes"'}, "fallback", "must be true or false"),
]


@pytest.mark.parametrize(
    ("changes", "field", "text"), BROKEN, ids=[case[1] + ":" + case[2][:20] for case in BROKEN]
)
def test_a_broken_rule_names_file_rule_and_field(
    tmp_path: Path, changes: dict[str, str | None], field: str, text: str
) -> None:
    path = write_rules(tmp_path, **changes)
    with pytest.raises(ConfigError) as caught:
        load(path)
    header, *lines = caught.value.detail.splitlines()
    assert header.startswith("rule file ") and f"broken.toml: {len(lines)} problem" in header
    rule_id = "Poor Sewer" if "id" in changes else "poor_sewer"
    prefix = f"  rule '{rule_id}': {field}: "
    assert any(line.startswith(prefix) and text in line for line in lines), lines


def test_all_problems_are_reported_at_once_one_per_line(tmp_path: Path) -> None:
    path = write_rules(
        tmp_path, relation='relation = "x"', severity='severity = "y"', b='b = { layer = "z" }'
    )
    with pytest.raises(ConfigError) as caught:
        load(path)
    header, *lines = caught.value.detail.splitlines()
    assert header.endswith("broken.toml: 3 problems")
    for line, field in zip(lines, ("relation", "severity", "b.layer"), strict=True):
        assert line.startswith(f"  rule 'poor_sewer': {field}: ")


INACTIVE = [
    # (changes, field, keys the vocabulary lacks)
    ({"a": 'a = { departments = ["tiefbauamt"] }'}, "a.departments", ("tiefbauamt",)),
    (
        {"a": 'a = { measure_types = ["strasse", "road_renewal", "kanal", "strasse"] }'},
        "a.measure_types",
        ("strasse", "kanal"),
    ),
    ({"a": 'a = { organisations = ["karlsruhe"] }'}, "a.organisations", ("karlsruhe",)),
    (
        # Not judged "can never match": the department the measure type may belong to is missing.
        {"a": 'a = { departments = ["roads", "tiefbau"], measure_types = ["sewer_construction"] }'},
        "a.departments",
        ("tiefbau",),
    ),
    (
        {"severity": 'severity = "high"\ninvolve = { departments = ["sewers"] }'},
        "involve.departments",
        ("sewers",),
    ),
]


@pytest.mark.parametrize(("changes", "field", "keys"), INACTIVE, ids=[c[1] for c in INACTIVE])
def test_a_rule_naming_keys_the_vocabulary_lacks_is_inactive(
    tmp_path: Path, changes: dict[str, str], field: str, keys: tuple[str, ...]
) -> None:
    rule_set = load_rules(write_rules(tmp_path, **changes), Vocabulary.default(), definitions())
    (rule,) = rule_set.rules
    assert not rule.active
    assert rule_set.active == () and rule_set.inactive == (rule,)
    (missing,) = rule.missing
    assert (missing.field, missing.keys) == (field, keys)
    assert missing.describe() == f"{field}: {', '.join(keys)}"


def test_a_broken_rule_stops_the_start_even_when_it_also_misses_keys(tmp_path: Path) -> None:
    path = write_rules(
        tmp_path, a='a = { departments = ["tiefbauamt"] }', relation='relation = "x"'
    )
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.detail.splitlines()[1:] == [
        "  rule 'poor_sewer': relation: 'x' is not one of conflict, synergy, note"
    ]


def test_duplicate_rule_ids_are_refused(tmp_path: Path) -> None:
    one = write_rules(tmp_path).read_text("utf-8")
    path = tmp_path / "twice.toml"
    path.write_text(one + one, "utf-8")
    with pytest.raises(ConfigError, match=re.escape("rule 'poor_sewer': id: 'poor_sewer' is")):
        load(path)


def test_a_rule_without_an_id_is_named_by_its_position(tmp_path: Path) -> None:
    path = write_rules(tmp_path, id=None)
    with pytest.raises(ConfigError, match=re.escape("broken.toml: 1 problem\n  rules[0]: id: is")):
        load(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[rules]\n", "not valid TOML"),
        ("", "no rules"),
        ('rule = "x"\n', "unknown top-level field 'rule'"),
        ("rules = [1]\n", "rules[0]: rule: must be a table"),
    ],
)
def test_a_broken_file_names_the_file(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert "rules.toml" in caught.value.detail
    assert expected in caught.value.detail


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot be read"):
        load(tmp_path / "missing.toml")
