"""ISYBAU XML reader: files written from the published schema structure, read back.

The samples come from ``tests/isybau_samples.py`` (XML-2013 and XML-2017
style); every expectation is what the writer says it put in.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from isybau_samples import (
    MISSING_NODE,
    NS_2013,
    NS_2017,
    UTM32_ZONE_PREFIX,
    IsybauSample,
    write_doctype_isybau,
    write_isybau_2013,
    write_isybau_2017,
    write_malformed_isybau,
    write_not_isybau,
)
from pyproj import Transformer

from zugabe.errors import InvalidInput
from zugabe.io.isybau import IsybauData, epsg_from_crs_lage, read_isybau


@pytest.fixture
def sample_2013(tmp_path: Path) -> IsybauSample:
    return write_isybau_2013(tmp_path / "kanal_2013.xml")


@pytest.fixture
def data_2013(sample_2013: IsybauSample) -> IsybauData:
    return read_isybau(sample_2013.path)


def _by_id(features: list) -> dict:
    return {f.object_id: f for f in features}


def _flat(coords: object) -> list[float]:
    """pytest.approx compares flat sequences only."""
    return [value for pair in coords for value in pair]  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- XML-2013


def test_2013_counts_version_and_crs(sample_2013: IsybauSample, data_2013: IsybauData) -> None:
    assert data_2013.version == "2013-02"
    assert data_2013.namespace == NS_2013
    assert data_2013.crs_hint == "EPSG:25832"
    assert len(data_2013.manholes) == len(sample_2013.manholes) == 6
    assert len(data_2013.sewer_sections) == len(sample_2013.sections) == 5
    # The Anschlusspunkt and its Leitung are not manholes or Haltungen.
    assert "10020AP01" not in _by_id(data_2013.manholes)
    assert "10020AP01" not in _by_id(data_2013.sewer_sections)
    assert any("1 Leitung" in w for w in data_2013.warnings)
    assert any("1 Anschlusspunkt" in w for w in data_2013.warnings)


def test_manholes_sit_at_the_shaft_centre_with_typed_attributes(
    sample_2013: IsybauSample, data_2013: IsybauData
) -> None:
    manholes = _by_id(data_2013.manholes)
    for expected in sample_2013.manholes:
        feature = manholes[expected.object_id]
        assert feature.record == expected.record
        assert feature.geometry.geom_type == "Point"
        # SMP, not the DMP that comes first in the file and is 5 cm off.
        assert (feature.geometry.x, feature.geometry.y) == pytest.approx((expected.x, expected.y))
        attrs = feature.attributes
        assert attrs["object_id"] == expected.object_id
        assert attrs["depth_m"] == pytest.approx(expected.depth_m)
        assert attrs["cover_level_m"] == pytest.approx(expected.cover_level_m)
        assert attrs["construction_year"] == expected.construction_year
        assert isinstance(attrs["depth_m"], float)
        assert isinstance(attrs["cover_level_m"], float)
        assert isinstance(attrs["construction_year"], int)
    first = manholes["10010"].geometry
    assert 376_000 < first.x < 378_000 and 5_707_000 < first.y < 5_709_000  # Herne/Bochum


def test_sections_from_own_polyline_or_from_their_nodes(
    sample_2013: IsybauSample, data_2013: IsybauData
) -> None:
    sections = _by_id(data_2013.sewer_sections)
    assert {s.own_polyline for s in sample_2013.sections} == {True, False}
    for expected in sample_2013.sections:
        feature = sections[expected.object_id]
        assert feature.record == expected.record
        assert feature.geometry.geom_type == "LineString"
        assert _flat(feature.geometry.coords) == pytest.approx(_flat(expected.vertices))
        attrs = feature.attributes
        assert attrs["object_id"] == expected.object_id
        assert attrs["from_node"] == expected.from_node
        assert attrs["to_node"] == expected.to_node
        assert attrs["material"] == expected.material
        assert attrs["profile_type"] == expected.profile_type
        assert attrs["profile_height_mm"] == expected.profile_height_mm
        assert isinstance(attrs["profile_height_mm"], int)
        assert attrs["construction_year"] == expected.construction_year
        assert isinstance(attrs["construction_year"], int)
        assert attrs["length_m"] == pytest.approx(expected.length_m)
        assert isinstance(attrs["length_m"], float)


def test_section_without_placeable_nodes_is_a_problem_not_an_error(
    sample_2013: IsybauSample, data_2013: IsybauData
) -> None:
    assert sample_2013.unplaceable is not None
    record, object_id = sample_2013.unplaceable
    assert [(r, o) for r, o, _ in data_2013.problems] == [(record, object_id)]
    assert data_2013.section_problems == data_2013.problems
    assert data_2013.manhole_problems == []
    reason = data_2013.problems[0][2]
    assert MISSING_NODE in reason and "not in the file" in reason
    assert object_id not in _by_id(data_2013.sewer_sections)


def test_condition_class_newest_rating_manual_first_per_kind(
    sample_2013: IsybauSample, data_2013: IsybauData
) -> None:
    found = {
        ("section", f.object_id): f.attributes["condition_class"] for f in data_2013.sewer_sections
    }
    found |= {("manhole", f.object_id): f.attributes["condition_class"] for f in data_2013.manholes}
    for key, value in sample_2013.condition_classes.items():
        assert found[key] == value, key
    # Section and manhole "10010" share the Objektbezeichnung but not the rating.
    assert found[("section", "10010")] == 3 and found[("manhole", "10010")] == 1
    unrated = {k: v for k, v in found.items() if k not in sample_2013.condition_classes}
    assert unrated and all(v is None for v in unrated.values())
    assert any("Bewertungsverfahren 1" in w for w in data_2013.warnings)


def test_decimal_comma_is_read(tmp_path: Path) -> None:
    sample = write_isybau_2013(tmp_path / "komma.xml", decimal_comma=True)
    data = read_isybau(sample.path)
    expected = sample.manholes[2]
    feature = _by_id(data.manholes)[expected.object_id]
    assert (feature.geometry.x, feature.geometry.y) == pytest.approx((expected.x, expected.y))
    assert feature.attributes["cover_level_m"] == pytest.approx(expected.cover_level_m)


def test_bytes_and_file_objects_read_like_paths(sample_2013: IsybauSample) -> None:
    from_path = read_isybau(sample_2013.path)
    from_bytes = read_isybau(sample_2013.path.read_bytes())
    from_stream = read_isybau(io.BytesIO(sample_2013.path.read_bytes()))
    for other in (from_bytes, from_stream):
        assert [f.object_id for f in other.sewer_sections] == [
            f.object_id for f in from_path.sewer_sections
        ]
        assert other.problems == from_path.problems
        assert other.crs_hint == from_path.crs_hint


# --------------------------------------------------------------------------- XML-2017 style


def test_2017_style_with_zone_prefixed_eastings(tmp_path: Path) -> None:
    sample = write_isybau_2017(tmp_path / "kanal_2017.xml", n_sections=6)
    data = read_isybau(sample.path)
    assert data.version == "2017-07"
    assert data.namespace == NS_2017
    assert data.crs_hint == "EPSG:4647"  # ETRS89 / UTM zone 32N (zE-N)
    assert any("zone number" in w for w in data.warnings)
    assert len(data.manholes) == 7
    assert len(data.sewer_sections) == 6
    assert [(r, o) for r, o, _ in data.problems] == [sample.unplaceable]
    sections = _by_id(data.sewer_sections)
    for expected in sample.sections:
        coords = sections[expected.object_id].geometry.coords
        assert _flat(coords) == pytest.approx(_flat(expected.vertices))
    # The hint is usable as is: to EPSG:25832 it lands back in Herne.
    to_utm = Transformer.from_crs(data.crs_hint, "EPSG:25832", always_xy=True)
    first = _by_id(data.manholes)["10010"].geometry
    x, y = to_utm.transform(first.x, first.y)
    assert (x, y) == pytest.approx((first.x - UTM32_ZONE_PREFIX, first.y), abs=1e-3)
    assert 376_000 < x < 378_000


def test_2017_style_without_zone_prefix(tmp_path: Path) -> None:
    sample = write_isybau_2017(tmp_path / "kanal_2017.xml", zone_prefix=False)
    data = read_isybau(sample.path)
    assert data.crs_hint == "EPSG:25832"
    point = _by_id(data.manholes)["10010"].geometry
    assert (point.x, point.y) == pytest.approx((377_000.0, 5_708_000.0))


# --------------------------------------------------------------------------- position systems


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ETRS89_UTM32", "EPSG:25832"),
        ("DE_ETRS89_UTM32", "EPSG:25832"),
        ("DE_ETRS89_UTM33", "EPSG:25833"),
        ("DE_DHDN_3GK2", "EPSG:31466"),
        ("DE_DHDN_3GK3_NW177", "EPSG:31467"),
        ("DHDN_GK4", "EPSG:31468"),
        ("EPSG:25832", "EPSG:25832"),
        ("urn:ogc:def:crs:EPSG::31467", "EPSG:31467"),
        ("25832", "EPSG:25832"),
        ("Lokales System Herne", None),
        ("", None),
        (None, None),
    ],
)
def test_crs_lage_names(value: str | None, expected: str | None) -> None:
    assert epsg_from_crs_lage(value) == expected


def test_gauss_krueger_zone_2_label(tmp_path: Path) -> None:
    sample = write_isybau_2013(tmp_path / "gk.xml", crs_lage="DE_DHDN_3GK2")
    assert read_isybau(sample.path).crs_hint == "EPSG:31466"


def test_no_position_system_gives_no_hint_but_says_so(tmp_path: Path) -> None:
    sample = write_isybau_2013(tmp_path / "ohne.xml", crs_lage=None)
    data = read_isybau(sample.path)
    assert data.crs_hint is None
    message = next(w for w in data.warnings if "no CRSLage" in w)
    assert "EPSG:25832" in message  # a suggestion only


def test_unknown_position_system(tmp_path: Path) -> None:
    sample = write_isybau_2013(tmp_path / "lokal.xml", crs_lage="Lokales System Herne")
    data = read_isybau(sample.path)
    assert data.crs_hint is None
    assert any("not recognised" in w and "Lokales System Herne" in w for w in data.warnings)
    assert len(data.manholes) == 6  # geometry is still read


def test_object_in_another_position_system_is_refused(tmp_path: Path) -> None:
    sample = write_isybau_2013(tmp_path / "gemischt.xml")
    text = sample.path.read_text(encoding="iso-8859-1")
    sample.path.write_text(
        text.replace("<CRSLage>ETRS89_UTM32</CRSLage>", "<CRSLage>DE_DHDN_3GK2</CRSLage>", 1),
        encoding="iso-8859-1",
    )
    data = read_isybau(sample.path)
    assert data.crs_hint == "EPSG:25832"
    first = sample.manholes[0]
    assert data.manhole_problems == [
        (
            first.record,
            first.object_id,
            "position system 'DE_DHDN_3GK2' (EPSG:31466) differs from the file's EPSG:25832",
        )
    ]
    assert first.object_id not in _by_id(data.manholes)


# --------------------------------------------------------------------------- refused documents


def test_malformed_xml_reports_line(tmp_path: Path) -> None:
    path = tmp_path / "kaputt.xml"
    line = write_malformed_isybau(path)
    with pytest.raises(InvalidInput) as caught:
        read_isybau(path)
    assert f"line {line}," in caught.value.detail
    assert "mismatched tag" in caught.value.detail
    assert caught.value.status == 422


def test_truncated_file_is_malformed(sample_2013: IsybauSample) -> None:
    data = sample_2013.path.read_bytes()
    with pytest.raises(InvalidInput, match="Malformed XML at line"):
        read_isybau(data[: len(data) // 2])


def test_other_xml_format_is_refused_with_its_root(tmp_path: Path) -> None:
    path = tmp_path / "m150.xml"
    write_not_isybau(path)
    with pytest.raises(InvalidInput) as caught:
        read_isybau(path)
    detail = caught.value.detail
    assert "<DATA>" in detail and "<Identifikation>" in detail and NS_2013 in detail


def test_doctype_is_refused_before_any_expansion(tmp_path: Path) -> None:
    path = tmp_path / "entities.xml"
    write_doctype_isybau(path)
    with pytest.raises(InvalidInput, match="DOCTYPE"):
        read_isybau(path)


def test_unexpected_namespace_is_read_with_a_warning(sample_2013: IsybauSample) -> None:
    text = sample_2013.path.read_bytes().replace(NS_2013.encode(), b"urn:example:isybau")
    data = read_isybau(text)
    assert len(data.sewer_sections) == 5
    assert any("unexpected namespace" in w for w in data.warnings)


def test_identifikation_without_master_data() -> None:
    document = (
        f'<?xml version="1.0"?><Identifikation xmlns="{NS_2013}"><Version>2013-02</Version>'
        "<Datenkollektive><Datenstatus>1</Datenstatus></Datenkollektive></Identifikation>"
    ).encode()
    data = read_isybau(document)
    assert data.sewer_sections == [] and data.manholes == [] and data.problems == []
    assert any("no Stammdatenkollektiv" in w for w in data.warnings)


# --------------------------------------------------------------------------- size


def test_large_network_reads_quickly(tmp_path: Path) -> None:
    sample = write_isybau_2013(tmp_path / "gross.xml", n_sections=3000, with_conditions=False)
    started = time.perf_counter()
    data = read_isybau(sample.path)
    elapsed = time.perf_counter() - started
    assert len(data.sewer_sections) == 3000 and len(data.manholes) == 3001
    assert elapsed < 10, f"{elapsed:.1f} s for 3000 sections"


def test_arc_segments_are_drawn_as_chords_and_reported(sample_2013: IsybauSample) -> None:
    centre = (
        "<Mitte><Rechtswert>377050.000</Rechtswert><Hochwert>5707990.000</Hochwert>"
        "<PunktattributAbwasser>KMP</PunktattributAbwasser></Mitte>"
    )
    text = sample_2013.path.read_bytes().replace(b"</Ende>", b"</Ende>" + centre.encode(), 1)
    data = read_isybau(text)
    arc = next(s for s in sample_2013.sections if s.own_polyline)
    feature = _by_id(data.sewer_sections)[arc.object_id]
    assert _flat(feature.geometry.coords) == pytest.approx(_flat(arc.vertices))
    assert any(w.startswith("Arc segments") and str(arc.record) in w for w in data.warnings)
