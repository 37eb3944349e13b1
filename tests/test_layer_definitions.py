"""Thematic-layer definitions: the shipped files, broken files, field matching, value coercion.

Field matching is checked against the real field names of the files in ../shared/data, read
from there (never copied); a missing folder fails the test (``shared_data`` fixture).
"""

from __future__ import annotations

import csv
import json
import math
import re
from datetime import date
from pathlib import Path

import numpy as np
import pyogrio
import pytest
from shapely.geometry import Point

from zugabe.domain import layers as layers_module
from zugabe.domain.layers import (
    AttributeSpec,
    LayerDefinition,
    Text,
    classify_value,
    coerce_value,
    default_layers_folder,
    derive_geometry,
    load_layer_definitions,
    match_fields,
    normalize_name,
)
from zugabe.errors import ConfigError, InvalidInput

SHIPPED = {
    "sewer_sections": ("drainage", ("LineString",), "condition_class"),
    "manholes": ("drainage", ("Point",), "condition_class"),
    "heavy_rain_hazard": ("drainage", ("Polygon",), "depth_class"),
    "cso_catchments": ("drainage", ("Polygon",), "overflow_frequency"),
    "disconnection_potential": ("drainage", ("Polygon",), "potential_class"),
    "stormwater_basins": ("drainage", ("Point", "Polygon"), "basin_type"),
    "water_bodies": ("drainage", ("LineString", "Polygon"), "water_order"),
    "discharge_points": ("drainage", ("Point",), "discharge_kind"),
    "trees": ("green", ("Point",), "vitality"),
    "green_spaces": ("green", ("Polygon", "Point"), None),
    "green_roof_potential": ("green", ("Polygon",), "potential_class"),
    "heat_stress": ("green", ("Polygon",), "stress_class"),
    "districts": ("base", ("Polygon",), None),
    "streets": ("base", ("LineString",), "category"),
}

BOCHUM_TREES = "bochum/data/ENVI/tree_register/bochum_tree_planting_felling_register.csv"


@pytest.fixture(scope="module")
def shipped() -> dict[str, LayerDefinition]:
    return load_layer_definitions(default_layers_folder())


# --------------------------------------------------------------------------- shipped files


def test_every_shipped_layer_loads(shipped: dict[str, LayerDefinition]) -> None:
    assert set(shipped) == set(SHIPPED)
    for key, definition in shipped.items():
        theme, geometry_types, classified_by = SHIPPED[key]
        assert definition.theme == theme
        assert definition.geometry_types == geometry_types
        assert (definition.classify.attribute if definition.classify else None) == classified_by
        assert definition.source_path == default_layers_folder() / f"{key}.toml"
        assert definition.title.de and definition.title.en
        assert definition.description.de and definition.description.en
        if definition.id_attribute:
            assert definition.id_attribute in definition.attribute_names


def test_shipped_metadata_is_json(shipped: dict[str, LayerDefinition]) -> None:
    for definition in shipped.values():
        doc = json.loads(json.dumps(definition.as_dict()))
        assert doc["key"] == definition.key
        assert [a["name"] for a in doc["attributes"]] == list(definition.attribute_names)


def test_domain_essentials_are_declared(shipped: dict[str, LayerDefinition]) -> None:
    condition = shipped["sewer_sections"].attribute("condition_class")
    assert (condition.type, condition.min, condition.max) == ("integer", 0, 5)
    assert {"zustandsklasse", "zk", "zustand", "condition"} <= set(condition.aliases)
    assert [c.value for c in shipped["sewer_sections"].classify.classes] == [0, 1, 2, 3, 4, 5]
    assert shipped["sewer_sections"].attribute("renewal_year").type == "integer"
    assert shipped["cso_catchments"].attribute("overflow_frequency").unit == "1/a"
    assert shipped["stormwater_basins"].attribute("volume").unit == "m³"
    assert set(shipped["stormwater_basins"].attribute("basin_type").allowed) >= {
        "RKB",
        "RRB",
        "RÜB",
        "SK",
    }
    crown = shipped["trees"].attribute("crown_radius")
    assert crown.unit == "m"
    assert {"kronenradius", "krone_r"} <= set(crown.aliases)
    derived = shipped["trees"].derived
    assert derived is not None
    assert (derived.kind, derived.radius_attribute, derived.add, derived.output) == (
        "buffer",
        "crown_radius",
        1.5,
        "root_protection_zone",
    )
    streets = shipped["streets"]
    assert {"name", "category", "last_resurfacing_year"} <= set(streets.attribute_names)


def test_readme_documents_every_field_and_layer(shipped: dict[str, LayerDefinition]) -> None:
    readme = (default_layers_folder() / "README.md").read_text("utf-8")
    fields = (
        layers_module._TOP_KEYS
        | layers_module._ATTRIBUTE_KEYS
        | layers_module._CLASSIFY_KEYS
        | layers_module._CLASS_KEYS
        | layers_module._STYLE_KEYS
        | layers_module._DERIVED_KEYS
    )
    for name in sorted(fields):
        # `name`, `[name]`, `[[name]]` or `[[classify.name]]` in a table of the README
        assert re.search(rf"`\[*(?:\w+\.)?{name}\]*`(?:,| \|)", readme), name
    for key in shipped:
        assert f"`{key}`" in readme


def test_geometry_types_accept_their_multi_forms(shipped: dict[str, LayerDefinition]) -> None:
    assert shipped["heavy_rain_hazard"].accepts_geometry("MultiPolygon")
    assert shipped["water_bodies"].accepts_geometry("MultiLineString")
    assert shipped["water_bodies"].accepts_geometry("Polygon")
    assert not shipped["streets"].accepts_geometry("Point")
    assert not shipped["trees"].accepts_geometry("Polygon")


# --------------------------------------------------------------------------- broken files

VALID = """\
key = "probe"
theme = "drainage"
geometry_type = "LineString"
title = { de = "Probe", en = "Probe" }
description = { de = "Zum Testen.", en = "For tests." }

[[attributes]]
name = "section_id"
type = "string"
label = { de = "Haltung", en = "Section" }
required = true
aliases = ["haltung"]

[[attributes]]
name = "condition_class"
type = "integer"
label = { de = "Zustandsklasse", en = "Condition class" }
min = 0
max = 5
aliases = ["zustandsklasse", "zk"]

[[attributes]]
name = "crown_radius"
type = "real"
label = { de = "Kronenradius", en = "Crown radius" }
unit = "m"

[classify]
attribute = "condition_class"

[[classify.classes]]
value = 0
label = { de = "ZK 0", en = "Class 0" }
color = "#7f0000"

[[classify.classes]]
value = 5
label = { de = "ZK 5", en = "Class 5" }
color = "#1a9641"

[style]
stroke_color = "#8c510a"
stroke_width = 3

[derived]
kind = "buffer"
output = "corridor"
label = { de = "Korridor", en = "Corridor" }
radius_attribute = "crown_radius"
add = 1.5
default_radius = 5.0
"""

RANGES = """
[classify]
attribute = "crown_radius"

[[classify.classes]]
max = 2
label = { de = "klein", en = "small" }
color = "#eeeeee"

[[classify.classes]]
min = 1.5
max = 4
label = { de = "mittel", en = "medium" }
color = "#999999"
"""

BROKEN = {
    "float_type": (
        ('type = "real"', 'type = "float"'),
        "attributes[2].type 'float' is not one of string, integer, real, date, boolean",
    ),
    "theme": (('theme = "drainage"', 'theme = "water"'), "theme 'water' is not one of"),
    "geometry": (
        ('geometry_type = "LineString"', 'geometry_type = "Line"'),
        "geometry_type 'Line' is not one of Point, LineString, Polygon",
    ),
    "geometry_list": (
        ('geometry_type = "LineString"', 'geometry_type = ["Point", "Curve"]'),
        "geometry_type[1] 'Curve' is not one of",
    ),
    "missing_key": (('key = "probe"\n', ""), "key is missing"),
    "bad_key": (('key = "probe"', 'key = "Probe Layer"'), "key 'Probe Layer' must be lower-case"),
    "title_en": (
        ('title = { de = "Probe", en = "Probe" }', 'title = { de = "Probe" }'),
        "title.en is missing",
    ),
    "typo": (("required = true", "requried = true"), "attributes[0]: unknown key 'requried'"),
    "required_not_bool": (
        ("required = true", 'required = "yes"'),
        "attributes[0].required must be true or false",
    ),
    "classify_unknown": (
        ('attribute = "condition_class"', 'attribute = "state"'),
        "classify.attribute 'state' is not an attribute of this layer",
    ),
    "class_value_out_of_range": (
        ("value = 5", "value = 7"),
        "classify.classes[1].value 7 does not fit condition_class",
    ),
    "class_color": (('color = "#7f0000"', 'color = "red"'), "classify.classes[0].color 'red'"),
    "class_value_and_range": (
        ("value = 0\n", "value = 0\nmin = 0\n"),
        "classify.classes[0] needs either 'value' or a range 'min'/'max' (not both)",
    ),
    "derived_unknown": (
        ('radius_attribute = "crown_radius"', 'radius_attribute = "crown"'),
        "derived.radius_attribute 'crown' is not an attribute of this layer",
    ),
    "derived_not_numeric": (
        ('radius_attribute = "crown_radius"', 'radius_attribute = "section_id"'),
        "derived.radius_attribute 'section_id' must be an integer or real attribute (it is string)",
    ),
    "derived_kind": (('kind = "buffer"', 'kind = "hull"'), "derived.kind 'hull' is not one of"),
    "derived_default": (("default_radius = 5.0\n", ""), "derived.default_radius is missing"),
    "derived_negative": (
        ("default_radius = 5.0", "default_radius = -1"),
        "derived.default_radius -1 must be greater than 0",
    ),
    "duplicate_alias": (
        ('aliases = ["zustandsklasse", "zk"]', 'aliases = ["zustandsklasse", "Haltung"]'),
        "attributes[1].aliases[1] 'Haltung' also names attributes[0] (section_id)",
    ),
    "duplicate_name": (
        ('name = "crown_radius"', 'name = "section_id"'),
        "attributes[2].name 'section_id' also names attributes[0] (section_id)",
    ),
    "min_on_string": (
        ('required = true\naliases = ["haltung"]', 'min = 1\naliases = ["haltung"]'),
        "attributes[0].min a string attribute has no min",
    ),
    "min_above_max": (("min = 0\nmax = 5", "min = 6\nmax = 5"), "attributes[1].min 6 is greater"),
    "unit_on_string": (
        ('aliases = ["haltung"]', 'aliases = ["haltung"]\nunit = "m"'),
        "attributes[0].unit only integer and real attributes have a unit",
    ),
    "allowed_wrong_type": (
        ("max = 5\n", 'max = 5\nallowed = [1, "two"]\n'),
        "attributes[1].allowed[1] 'two' is not a valid integer value",
    ),
    "style_opacity": (("stroke_width = 3", "fill_opacity = 2"), "style.fill_opacity 2 is above 1"),
    "reserved_name": (
        ('name = "crown_radius"', 'name = "geometry"'),
        "attributes[2].name 'geometry' is reserved",
    ),
    "not_toml": (('key = "probe"', "key = probe"), "not valid TOML"),
    "id_attribute_real": (
        ('theme = "drainage"', 'theme = "drainage"\nid_attribute = "crown_radius"'),
        "id_attribute 'crown_radius' must be a string or integer attribute",
    ),
    "id_attribute_unknown": (
        ('theme = "drainage"', 'theme = "drainage"\nid_attribute = "fid_nr"'),
        "id_attribute 'fid_nr' is not an attribute of this layer",
    ),
}


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, "utf-8")
    return path


def test_the_probe_file_itself_is_valid(tmp_path: Path) -> None:
    _write(tmp_path, "probe.toml", VALID)
    definition = load_layer_definitions(tmp_path)["probe"]
    assert definition.attribute("crown_radius").unit == "m"


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_file_names_file_and_field(tmp_path: Path, case: str) -> None:
    (old, new), expected = BROKEN[case]
    assert old in VALID, "the test's replacement must apply"
    _write(tmp_path, "probe.toml", VALID.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_layer_definitions(tmp_path)
    message = caught.value.detail
    assert "probe.toml: " in message
    assert expected in message, message


def test_overlapping_ranges_are_refused(tmp_path: Path) -> None:
    text = VALID.split("[classify]")[0] + RANGES
    _write(tmp_path, "probe.toml", text)
    with pytest.raises(ConfigError, match=r"classify\.classes\[1\]\.min 1\.5 overlaps"):
        load_layer_definitions(tmp_path)


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = VALID.replace('theme = "drainage"', 'theme = "water"').replace(
        'type = "real"', 'type = "float"'
    )
    _write(tmp_path, "probe.toml", text)
    _write(
        tmp_path,
        "other.toml",
        VALID.replace('key = "probe"', 'key = "other"').replace(
            'color = "#7f0000"', 'color = "#12345"'
        ),
    )
    with pytest.raises(ConfigError) as caught:
        load_layer_definitions(tmp_path)
    message = caught.value.detail
    assert "probe.toml: theme 'water'" in message
    assert "probe.toml: attributes[2].type 'float'" in message
    assert "other.toml: classify.classes[0].color '#12345'" in message


def test_a_broken_attribute_is_reported_once(tmp_path: Path) -> None:
    # crown_radius is refused for its type; the derived geometry that uses it says nothing.
    _write(tmp_path, "probe.toml", VALID.replace('type = "real"', 'type = "float"'))
    with pytest.raises(ConfigError) as caught:
        load_layer_definitions(tmp_path)
    assert "derived" not in caught.value.detail
    assert caught.value.detail.count("probe.toml: ") == 1


def test_duplicate_keys_across_files_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "a.toml", VALID)
    _write(tmp_path, "b.toml", VALID)
    with pytest.raises(ConfigError, match=r"b\.toml: key 'probe' is already declared in .*a\.toml"):
        load_layer_definitions(tmp_path)


def test_missing_or_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_layer_definitions(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"no \*\.toml"):
        load_layer_definitions(tmp_path)


# --------------------------------------------------------------------------- field matching


def _fields(path: Path) -> list[str]:
    return [str(name) for name in pyogrio.read_info(path)["fields"]]


def test_koeln_streets_match(shared_data: Path, shipped: dict[str, LayerDefinition]) -> None:
    fields = _fields(shared_data / "koeln/strassen/_source/Strasse/Strasse.dbf")
    match = match_fields(fields, shipped["streets"])
    assert match.mapping == {"NUMMER": "street_id", "NAME": "name"}
    assert match.unmatched_source == ["LANGNAME", "SHAPE_LEN"]
    assert match.missing_required == []


def test_koeln_street_segments_and_districts_match(
    shared_data: Path, shipped: dict[str, LayerDefinition]
) -> None:
    segments = _fields(
        shared_data / "koeln/strassenabschnitte/_source/Strassenabschnitt/Strassenabschnitt.shp"
    )
    assert match_fields(segments, shipped["streets"]).mapping == {
        "NUMMER": "street_id",
        "STRASSE": "name",
    }
    parts = _fields(shared_data / "koeln/stadtteile/_source/Stadtteil/Stadtteil.shp")
    assert match_fields(parts, shipped["districts"]).mapping == {
        "STT_NR": "district_id",
        "STT_NAME": "name",
    }
    districts = _fields(shared_data / "koeln/stadtbezirke/stadtbezirke.geojson")
    assert match_fields(districts, shipped["districts"]).mapping == {
        "STB_NAME": "name",
        "STB_NR": "district_id",
    }


def test_koeln_land_use_plan_matches_green_spaces(
    shared_data: Path, shipped: dict[str, LayerDefinition]
) -> None:
    path = shared_data / "koeln/flaechennutzungsplan/_source/Flaechennutzungsplan/fnp_aktuell.shp"
    match = match_fields(_fields(path), shipped["green_spaces"])
    assert match.mapping["TYP"] == "category"
    assert match.mapping["Langname"] == "description"
    assert match.mapping["ZWECK"] == "purpose"


def _bochum_tree_header(shared_data: Path) -> list[str]:
    # The register is cp1252 with broken umlauts in its values; the header is plain ASCII.
    with (shared_data / BOCHUM_TREES).open(encoding="cp1252", newline="") as handle:
        return next(csv.reader(handle))


def test_bochum_tree_register_matches(
    shared_data: Path, shipped: dict[str, LayerDefinition]
) -> None:
    match = match_fields(_bochum_tree_header(shared_data), shipped["trees"])
    assert match.mapping == {
        "OBJECTID": "tree_id",
        "Kategorie": "event",
        "Adresse": "address",
        "Bezeichnun": "site",
        "Bezirk": "district",
        "Anzahl": "count",
        "Art": "species",
        "Stammdurch": "trunk_diameter",
        "Stammumfan": "trunk_circumference",
        "Anlass": "reason",
        "Zeitpunkt": "event_time",
        "Bemerkunge": "remarks",
    }
    assert match.unmatched_source == ["Rechtswert", "Hochwert"]  # coordinate columns


def test_bochum_tree_values_coerce(shared_data: Path, shipped: dict[str, LayerDefinition]) -> None:
    trees = shipped["trees"]
    with (shared_data / BOCHUM_TREES).open(encoding="cp1252", newline="") as handle:
        rows = list(csv.DictReader(handle))
    match = match_fields(list(rows[0]), trees)
    refused: dict[str, list[str]] = {}
    events: set[object] = set()
    for row in rows:
        for source, attribute in match.mapping.items():
            value, reason = coerce_value(trees.attribute(attribute), row[source])
            if reason:
                refused.setdefault(attribute, []).append(reason)
            elif attribute == "event":
                events.add(value)
    assert len(rows) == 162
    assert events == {"planting", "felling"}  # "Pflanzung", "Faellung"
    # "35 cm" is read; free-text ranges such as "70 - 80 cm:" are not numbers.
    assert set(refused) == {"trunk_diameter"}
    assert len(refused["trunk_diameter"]) == 2
    assert "trunk_diameter: '70 - 80 cm:' is not a number" in refused["trunk_diameter"]


def test_nrw_stormwater_basins_match_and_coerce(
    shared_data: Path, shipped: dict[str, LayerDefinition]
) -> None:
    basins = shipped["stormwater_basins"]
    path = shared_data / "nrw_rur_wasser/regenbecken.geojson"
    match = match_fields(_fields(path), basins)
    assert match.mapping == {
        "anlagen_nr": "basin_id",
        "name": "name",
        "kreis": "county",
        "gemeinde": "municipality",
        "betreiber": "operator",
        "typ": "basin_type",
    }
    assert match.missing_required == []
    spec = basins.attribute("basin_type")
    counts: dict[object, int] = {}
    for feature in json.loads(path.read_text("utf-8"))["features"]:
        value, reason = coerce_value(spec, feature["properties"]["typ"])
        assert reason is None
        counts[value] = counts.get(value, 0) + 1
        assert classify_value(basins, value) is not None
    assert counts == {"RKB": 25, "RRB": 16, "RÜB": 16, "SK": 12, "RBF": 1}


def test_nrw_discharge_points_and_water_bodies_match(
    shared_data: Path, shipped: dict[str, LayerDefinition]
) -> None:
    einleiter = _fields(shared_data / "nrw_rur_wasser/elwas_einleiter.geojson")
    match = match_fields(einleiter, shipped["discharge_points"])
    assert match.mapping["betriebs_nr"] == "discharge_id"
    assert match.mapping["einleitungsart"] == "discharge_kind"
    assert match.mapping["gewaesser_liste"] == "receiving_water"
    assert "branchen" in match.unmatched_source  # a list per feature, not a single value
    areas = _fields(shared_data / "nrw_rur_wasser/gsk3c_gew_flaeche.geojson")
    assert match_fields(areas, shipped["water_bodies"]).mapping == {
        "GEWKZ": "water_id",
        "GEWNAME": "name",
        "GEWTYP": "water_type",
    }
    rivers = _fields(shared_data / "nrw_rur_wasser/gewaesser.geojson")
    assert match_fields(rivers, shipped["water_bodies"]).mapping == {
        "name": "name",
        "type": "water_type",
    }


def test_matching_ignores_case_separators_and_umlauts(
    shipped: dict[str, LayerDefinition],
) -> None:
    match = match_fields(
        ["ZUSTANDS-KLASSE", "Haltungs Bezeichnung", "Baujahr", "Sohlgefälle", "Bemerkung"],
        shipped["sewer_sections"],
    )
    assert match.mapping == {
        "ZUSTANDS-KLASSE": "condition_class",
        "Haltungs Bezeichnung": "section_id",
        "Baujahr": "construction_year",
        "Sohlgefälle": "slope",
    }
    assert match.unmatched_source == ["Bemerkung"]
    assert normalize_name("Straße_Nr.") == normalize_name("strasse-nr") == "strassenr"


def test_isybau_reader_attributes_match(shipped: dict[str, LayerDefinition]) -> None:
    # The names zugabe.io.isybau gives sections and manholes feed the layers without a mapping.
    sections = match_fields(
        [
            "object_id",
            "from_node",
            "to_node",
            "material",
            "profile_type",
            "profile_height_mm",
            "construction_year",
            "length_m",
            "condition_class",
        ],
        shipped["sewer_sections"],
    )
    assert sections.unmatched_source == []
    assert sections.mapping["object_id"] == "section_id"
    assert sections.mapping["profile_height_mm"] == "diameter"
    manholes = match_fields(
        ["object_id", "depth_m", "cover_level_m", "construction_year", "condition_class"],
        shipped["manholes"],
    )
    assert manholes.unmatched_source == []
    assert manholes.mapping["cover_level_m"] == "cover_level"


def test_dbf_truncated_names_match(tmp_path: Path) -> None:
    text = VALID.replace('aliases = ["haltung"]', 'aliases = ["haltungsbezeichnung"]')
    _write(tmp_path, "probe.toml", text)
    probe = load_layer_definitions(tmp_path)["probe"]
    assert match_fields(["HALTUNGSBE"], probe).mapping == {"HALTUNGSBE": "section_id"}
    # Only a 10-character name is a truncation; a shorter prefix is not.
    assert match_fields(["HALTUNGS"], probe).mapping == {}


def test_missing_required_is_reported(shipped: dict[str, LayerDefinition]) -> None:
    match = match_fields(["zk", "baujahr"], shipped["sewer_sections"])
    assert match.missing_required == ["section_id"]


def test_explicit_mapping_wins(shipped: dict[str, LayerDefinition]) -> None:
    sewers = shipped["sewer_sections"]
    fields = ["Haltung", "ZK", "Note", "Zustand"]
    match = match_fields(fields, sewers, {"Note": "condition_class", "Haltung": ""})
    assert match.mapping == {"Note": "condition_class"}
    assert match.unmatched_source == ["Haltung", "ZK", "Zustand"]
    assert match.missing_required == ["section_id"]
    # A mapping may spell the source field in another case.
    assert match_fields(fields, sewers, {"haltung": "section_id"}).mapping["Haltung"] == (
        "section_id"
    )


@pytest.mark.parametrize(
    ("explicit", "message"),
    [
        ({"Zustand": "condition_class"}, "source field 'Zustand' is not in the file"),
        ({"ZK": "state"}, "'state' is not an attribute of layer 'sewer_sections'"),
        (
            {"ZK": "condition_class", "Haltung": "condition_class"},
            "source fields 'ZK' and 'Haltung' both map to attribute 'condition_class'",
        ),
    ],
)
def test_bad_explicit_mapping_is_refused(
    shipped: dict[str, LayerDefinition], explicit: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        match_fields(["Haltung", "ZK"], shipped["sewer_sections"], explicit)
    assert message in caught.value.detail
    assert caught.value.field_errors[0].pointer.startswith("/map/")


# --------------------------------------------------------------------------- coerce_value


def _spec(type_: str, **options: object) -> AttributeSpec:
    return AttributeSpec(name="probe", type=type_, label=Text("Probe", "Probe"), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "raw", "expected"),
    [
        (_spec("real"), "1,5", 1.5),
        (_spec("real"), " 1.5 ", 1.5),
        (_spec("real"), "1.234,5", 1234.5),
        (_spec("real"), "1,234.5", 1234.5),
        (_spec("real"), 2, 2.0),
        (_spec("real", unit="cm"), "35 cm", 35.0),
        (_spec("real", unit="m³"), "1200 m3", 1200.0),
        (_spec("real"), "1.200", 1.2),  # a lone point is a decimal point
        (_spec("integer"), "2019", 2019),
        (_spec("integer"), 2019.0, 2019),
        (_spec("integer"), "2019,0", 2019),
        (_spec("date"), "30.04.2019", date(2019, 4, 30)),
        (_spec("date"), "1.4.2019", date(2019, 4, 1)),
        (_spec("date"), "2019-04-30", date(2019, 4, 30)),
        (_spec("date"), "2019-04-30T00:00:00", date(2019, 4, 30)),
        (_spec("boolean"), "ja", True),
        (_spec("boolean"), "Nein", False),
        (_spec("boolean"), "true", True),
        (_spec("boolean"), "0", False),
        (_spec("boolean"), 1, True),
        (_spec("string"), "  Feld-Ahorn ", "Feld-Ahorn"),
        (_spec("string"), 12.0, "12"),
        (_spec("string", allowed=("KM", "KS")), "km", "KM"),
        (_spec("string", allowed=("RÜB",)), "RÜB (Regenüberlaufbecken)", "RÜB"),
        (_spec("string", allowed=("RÜB",)), "RUEB", "RÜB"),
        (
            _spec("string", allowed=("felling",), value_aliases=(("Fällung", "felling"),)),
            "Faellung",
            "felling",
        ),
        (_spec("integer", min=0, max=5), "5", 5),
    ],
)
def test_coerce_value_converts(spec: AttributeSpec, raw: object, expected: object) -> None:
    value, reason = coerce_value(spec, raw)
    assert reason is None
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("raw", [None, "", "   ", float("nan")])
@pytest.mark.parametrize("type_", ["string", "integer", "real", "date", "boolean"])
def test_coerce_value_empty_is_missing(type_: str, raw: object) -> None:
    assert coerce_value(_spec(type_), raw) == (None, None)
    assert coerce_value(_spec(type_, required=True), raw) == (None, "probe: a value is required")


def test_nan_written_as_text_is_missing_for_numbers_only() -> None:
    assert coerce_value(_spec("real"), "NaN") == (None, None)
    assert coerce_value(_spec("integer", required=True), "nan") == (
        None,
        "probe: a value is required",
    )
    assert coerce_value(_spec("string"), "NaN") == ("NaN", None)


@pytest.mark.parametrize(
    ("spec", "raw", "reason"),
    [
        (_spec("integer", min=0, max=5), "7", "probe: 7 is above the maximum 5"),
        (_spec("integer", min=0, max=5), -1, "probe: -1 is below the minimum 0"),
        (_spec("real", min=0.1), "0,05", "probe: 0.05 is below the minimum 0.1"),
        (_spec("integer"), "1,5", "probe: '1.5' is not a whole number"),
        (_spec("integer"), "bis April 2019", "probe: 'bis April 2019' is not a whole number"),
        (_spec("integer"), True, "probe: 'True' is not a whole number"),
        (_spec("real"), "70 - 80 cm:", "probe: '70 - 80 cm:' is not a number"),
        (_spec("real"), float("inf"), "probe: 'inf' is not a finite number"),
        (_spec("date"), "bis April 2019", "probe: 'bis April 2019' is not a date"),
        (_spec("date"), "31.02.2019", "probe: '31.02.2019' is not a valid date"),
        (_spec("date", min=date(2000, 1, 1)), "01.01.1999", "below the minimum 2000-01-01"),
        (_spec("boolean"), "vielleicht", "probe: 'vielleicht' is not yes/no"),
        (_spec("string", allowed=("KM", "KS")), "KX", "probe: 'KX' is not one of KM, KS"),
        (_spec("integer", allowed=(1, 2)), "3", "probe: 3 is not one of 1, 2"),
        (_spec("string"), [40, 38], "probe: '[40, 38]' is not a single value"),
    ],
)
def test_coerce_value_refuses_with_reason(spec: AttributeSpec, raw: object, reason: str) -> None:
    value, given = coerce_value(spec, raw)
    assert value is None
    assert given is not None and reason in given, given


def test_coerce_value_reads_numpy_scalars() -> None:
    assert coerce_value(_spec("integer"), np.int32(3)) == (3, None)
    assert coerce_value(_spec("real"), np.float64("nan")) == (None, None)
    assert coerce_value(_spec("boolean"), np.bool_(True)) == (True, None)
    assert coerce_value(_spec("string"), np.str_(" a ")) == ("a", None)
    assert coerce_value(_spec("date"), np.datetime64("2019-04-30")) == (date(2019, 4, 30), None)


# --------------------------------------------------------------------------- classes, derived


def test_classify_ranges_at_boundaries(shipped: dict[str, LayerDefinition]) -> None:
    cso = shipped["cso_catchments"]

    def label(value: object) -> str | None:
        cls = classify_value(cso, value)
        return cls.label.en if cls else None

    assert label(0) == "under 5 per year"
    assert label(4.999) == "under 5 per year"
    assert label(5) == "5 to under 15 per year"
    assert label(14.99) == "5 to under 15 per year"
    assert label(15.0) == "15 to under 30 per year"
    assert label(30) == "30 or more per year"
    assert label(250) == "30 or more per year"
    assert label("12,5") == "5 to under 15 per year"  # raw text is coerced first
    assert label(-1) is None
    assert label(None) is None
    assert label("many") is None


def test_classify_exact_values(shipped: dict[str, LayerDefinition]) -> None:
    sewers = shipped["sewer_sections"]
    assert classify_value(sewers, 0).color == "#7f0000"  # type: ignore[union-attr]
    assert classify_value(sewers, 5).color == "#4575b4"  # type: ignore[union-attr]
    assert classify_value(sewers, "3").label.de.startswith("ZK 3")  # type: ignore[union-attr]
    assert classify_value(sewers, 6) is None
    assert classify_value(sewers, True) is None
    basins = shipped["stormwater_basins"]
    assert classify_value(basins, "Regenüberlaufbecken").value == "RÜB"  # type: ignore[union-attr]
    assert classify_value(shipped["districts"], "Mitte") is None  # no classification


def test_style_for_uses_class_colour(shipped: dict[str, LayerDefinition]) -> None:
    sewers = shipped["sewer_sections"]
    assert sewers.style_for(0).stroke_color == "#7f0000"
    assert sewers.style_for(None) == sewers.style
    hazard = shipped["heavy_rain_hazard"]
    assert hazard.style_for(4).fill_color == "#08306b"
    assert hazard.style.as_leaflet()["fillOpacity"] == hazard.style.fill_opacity


def test_root_protection_zone(shipped: dict[str, LayerDefinition]) -> None:
    trees = shipped["trees"]
    derived = trees.derived
    assert derived is not None
    assert derived.radius_for(3.0) == 4.5  # crown radius + 1.5 m
    assert derived.radius_for(None) == 5.0  # crown unknown: configured default
    tree = Point(370000, 5705000)
    zone = derive_geometry(trees, tree, {"crown_radius": 3.0})
    assert zone is not None
    assert math.isclose(zone.area, math.pi * 4.5**2, rel_tol=0.01)
    default_zone = derive_geometry(trees, tree, {})
    assert default_zone is not None
    assert math.isclose(default_zone.area, math.pi * 5.0**2, rel_tol=0.01)
    assert derive_geometry(shipped["streets"], tree, {}) is None
