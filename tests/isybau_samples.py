"""Write ISYBAU XML test documents, so tests need no committed third-party files.

The structure follows the published schema (XML-2013: ``1302-metadaten.xsd``,
``1302-stammdaten.xsd``, ``1302-zustandsdaten.xsd``, Stand 12/2015, element
order as in their sequences) and the official sample data; the XML-2017
variant uses the namespace ``http://www.bfr-abwasser.de``, ``Version`` 2017-07,
``Knoten/Abdeckungen/Deckel`` and open ``Polygone/Polygon`` (``Polygonart`` 3)
polylines, as third-party 2017 files do (see the docstring of
``zugabe.io.isybau`` for the sources). Files are written as ISO-8859-1 like
real exports, with an umlaut street name to prove the encoding is honoured.

A small street network near Herne/Bochum (EPSG:25832, around E 377000,
N 5708000): ``n_sections`` Haltungen between ``n_sections + 1`` Schächte, plus
an Anschlusspunkt with its Leitung (to be skipped), and one Haltung whose end
node is missing and which has no polyline of its own (to be reported as a
problem). Every writer is deterministic and returns what a reader must find.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

NS_2013 = "http://www.ofd-hannover.la/Identifikation"
NS_2017 = "http://www.bfr-abwasser.de"

ORIGIN_E = 377_000.0
ORIGIN_N = 5_708_000.0
UTM32_ZONE_PREFIX = 32_000_000.0
STREET = "Bahnhofstraße"
MISSING_NODE = "99999"

MATERIALS = ("B", "STZ", "PVCU", "PP", "SB")
DIAMETERS_MM = (300, 400, 250, 500, 600)


@dataclass(frozen=True)
class SampleManhole:
    record: int
    object_id: str
    x: float  # SMP (Schachtmittelpunkt), as the reader must place it
    y: float
    cover_level_m: float
    depth_m: float
    construction_year: int


@dataclass(frozen=True)
class SampleSection:
    record: int
    object_id: str
    from_node: str
    to_node: str
    material: str
    profile_type: str
    profile_height_mm: int
    construction_year: int
    length_m: float
    vertices: tuple[tuple[float, float], ...]  # expected LineString coordinates
    own_polyline: bool


@dataclass
class IsybauSample:
    """What was written, i.e. what the reader must return."""

    path: Path
    version: str
    namespace: str
    manholes: list[SampleManhole] = field(default_factory=list)
    sections: list[SampleSection] = field(default_factory=list)
    unplaceable: tuple[int, str] | None = None  # (record, object_id)
    condition_classes: dict[tuple[str, str], int] = field(default_factory=dict)
    records: int = 0


def write_isybau_2013(
    path: Path,
    *,
    n_sections: int = 5,
    crs_lage: str | None = "ETRS89_UTM32",
    zone_prefix: bool = False,
    with_conditions: bool = True,
    decimal_comma: bool = False,
) -> IsybauSample:
    """An XML-2013 file (Version 2013-02) with Stammdaten and, optionally, Zustandsdaten.

    Odd sections carry their own ``Geometriedaten/Kanten`` chain with a bend
    vertex; even ones have no geometry and must be placed from their nodes.
    """
    return _write(
        path,
        namespace=NS_2013,
        version="2013-02",
        n_sections=n_sections,
        crs_lage=crs_lage,
        zone_prefix=zone_prefix,
        with_conditions=with_conditions,
        decimal_comma=decimal_comma,
        style_2017=False,
    )


def write_isybau_2017(
    path: Path,
    *,
    n_sections: int = 5,
    crs_lage: str | None = "ETRS89_UTM32",
    zone_prefix: bool = True,
    with_conditions: bool = False,
) -> IsybauSample:
    """An XML-2017 style file (Version 2017-07, namespace bfr-abwasser.de).

    Odd sections carry an open ``Polygone/Polygon`` (``Polygonart`` 3) instead
    of a ``Kanten`` chain; eastings carry the zone prefix by default, as in
    the third-party 2017 files we saw.
    """
    return _write(
        path,
        namespace=NS_2017,
        version="2017-07",
        n_sections=n_sections,
        crs_lage=crs_lage,
        zone_prefix=zone_prefix,
        with_conditions=with_conditions,
        decimal_comma=False,
        style_2017=True,
    )


def write_malformed_isybau(path: Path) -> int:
    """A 2013 document whose Objektart element is closed by a wrong tag; returns that line."""
    lines = [
        '<?xml version="1.0" encoding="ISO-8859-1" standalone="yes"?>',
        f'<Identifikation xmlns="{NS_2013}">',
        "  <Version>2013-02</Version>",
        "  <Datenkollektive>",
        "    <Stammdatenkollektiv>",
        "      <Kennung>STA01</Kennung>",
        "      <AbwassertechnischeAnlage>",
        "        <Objektbezeichnung>10010</Objektbezeichnung>",
        "        <Objektart>2</Objektbezeichnung>",
        "      </AbwassertechnischeAnlage>",
        "    </Stammdatenkollektiv>",
        "  </Datenkollektive>",
        "</Identifikation>",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="iso-8859-1")
    return 9


def write_doctype_isybau(path: Path) -> None:
    """A 2013 document with a DTD that declares nested entities (entity expansion)."""
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE Identifikation [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
<Identifikation xmlns="{NS_2013}">
  <Version>2013-02</Version>
  <Datenkollektive>
    <Stammdatenkollektiv>
      <Kennung>STA01</Kennung>
      <AbwassertechnischeAnlage>
        <Objektbezeichnung>&c;</Objektbezeichnung>
        <Objektart>2</Objektart>
      </AbwassertechnischeAnlage>
    </Stammdatenkollektiv>
  </Datenkollektive>
</Identifikation>
"""
    path.write_text(text, encoding="utf-8")


def write_not_isybau(path: Path) -> None:
    """Well-formed XML of another sewer format: a DWA-M 150 file (root ``DATA``)."""
    text = """<?xml version="1.0" encoding="ISO-8859-1"?>
<DATA>
  <KG>
    <KG001>10010</KG001>
    <KG305>S</KG305>
  </KG>
</DATA>
"""
    path.write_text(text, encoding="iso-8859-1")


# --------------------------------------------------------------------------- internals


class _Doc:
    """Builds namespaced elements in schema order and counts the objects."""

    def __init__(self, namespace: str, decimal_comma: bool) -> None:
        self.ns = namespace
        self.decimal_comma = decimal_comma

    def el(self, parent: ET.Element | None, name: str, text: object = None) -> ET.Element:
        tag = f"{{{self.ns}}}{name}"
        element = ET.Element(tag) if parent is None else ET.SubElement(parent, tag)
        if text is not None:
            element.text = self.fmt(text)
        return element

    def fmt(self, value: object) -> str:
        if isinstance(value, float):
            text = f"{value:.3f}"
            return text.replace(".", ",") if self.decimal_comma else text
        return str(value)

    def point(
        self, parent: ET.Element, name: str, x: float, y: float, z: float | None, attr: str
    ) -> None:
        point = self.el(parent, name)
        self.el(point, "Rechtswert", x)
        self.el(point, "Hochwert", y)
        if z is not None:
            self.el(point, "Punkthoehe", z)
        self.el(point, "PunktattributAbwasser", attr)
        self.el(point, "Lagegenauigkeitsstufe", 0)


def _r3(value: float) -> float:
    return round(value, 3)


def _write(
    path: Path,
    *,
    namespace: str,
    version: str,
    n_sections: int,
    crs_lage: str | None,
    zone_prefix: bool,
    with_conditions: bool,
    decimal_comma: bool,
    style_2017: bool,
) -> IsybauSample:
    doc = _Doc(namespace, decimal_comma)
    offset = UTM32_ZONE_PREFIX if zone_prefix else 0.0
    sample = IsybauSample(path=path, version=version, namespace=namespace)

    root = doc.el(None, "Identifikation")
    doc.el(root, "Version", version)
    admin = doc.el(root, "Admindaten")
    estate = doc.el(admin, "Liegenschaft")
    doc.el(estate, "Liegenschaftsnummer", "0562")
    doc.el(estate, "Liegenschaftsbezeichnung", f"Herne, {STREET}")
    doc.el(doc.el(admin, "Geometrie"), "CRSHoehe", "DE_DHHN2016_NH")
    collectives = doc.el(root, "Datenkollektive")
    doc.el(collectives, "Datenstatus", 1)
    doc.el(collectives, "Erstellungsdatum", "2024-05-06")
    doc.el(collectives, "Kommentar", "ZUGABE test data (synthetic)")
    ids = doc.el(collectives, "Kennungen")
    kennungen = ["STA01"] + (["ZUS01", "ZUS02"] if with_conditions else [])
    for kennung in kennungen:
        collective = doc.el(ids, "Kollektiv")
        doc.el(collective, "Kennung", kennung)
        master_data = kennung.startswith("STA")
        doc.el(collective, "Kollektivart", 1 if master_data else 2)
        properties = doc.el(collective, "Kollektiveigenschaft")
        if master_data:
            flags = doc.el(properties, "Stammdaten")
            for name, value in (("Stammdatentyp", 1), ("Bautechnik", 1), ("Geometrie", 1)):
                doc.el(flags, name, value)
        else:
            flags = doc.el(properties, "Zustandsdaten")
            for name, value in (("Inspektion", 1), ("Dichtheit", 0), ("Film", 0)):
                doc.el(flags, name, value)
        doc.el(collective, "Regelwerk", 6 if style_2017 else 5)
        doc.el(collective, "Bearbeitungsstand", "2024-05-06")

    master = doc.el(collectives, "Stammdatenkollektiv")
    doc.el(master, "Kennung", "STA01")
    doc.el(master, "Beschreibung", f"Kanalnetz {STREET}")

    def new_object(object_id: str, objektart: int, year: int | None) -> ET.Element:
        sample.records += 1
        anlage = doc.el(master, "AbwassertechnischeAnlage")
        doc.el(anlage, "Objektbezeichnung", object_id)
        doc.el(anlage, "Objektart", objektart)
        doc.el(anlage, "Status", 0)
        if year is not None:
            doc.el(anlage, "Baujahr", year)
        doc.el(anlage, "Entwaesserungsart", "KM")
        return anlage

    def lage_and_geometry(anlage: ET.Element, geo_objekttyp: str) -> ET.Element:
        lage = doc.el(anlage, "Lage")
        doc.el(lage, "Strassenname", STREET)
        doc.el(lage, "Ortsteilname", "Herne-Mitte")
        geometrie = doc.el(anlage, "Geometrie")
        doc.el(geometrie, "GeoObjekttyp", geo_objekttyp)
        doc.el(geometrie, "Lagegenauigkeitsklasse", "OGL2")
        return geometrie

    def close_geometry(geometrie: ET.Element) -> None:
        if crs_lage is not None:
            doc.el(geometrie, "CRSLage", crs_lage)

    # Schächte: a gently bending street, covers falling towards the outfall.
    for i in range(n_sections + 1):
        object_id = str(10010 + 10 * i)
        x = _r3(ORIGIN_E + 38.5 * i + (3.0 if i % 2 else 0.0))
        y = _r3(ORIGIN_N + 6.0 * i)
        cover = round(62.40 - 0.12 * i, 2)
        depth = round(2.35 + 0.07 * i, 2)
        year = 1958 + 6 * i
        anlage = new_object(object_id, 2, year)
        knoten = doc.el(anlage, "Knoten")
        doc.el(knoten, "KnotenTyp", 0)
        schacht = doc.el(knoten, "Schacht")
        doc.el(schacht, "SchachtFunktion", 1)
        doc.el(schacht, "Schachttiefe", f"{depth:.2f}")
        if not style_2017:
            doc.el(doc.el(schacht, "Abdeckung"), "Deckelform", "R")
        doc.el(doc.el(schacht, "Unterteil"), "Unterteilform", "R")
        if style_2017:
            deckel = doc.el(doc.el(knoten, "Abdeckungen"), "Deckel")
            doc.el(deckel, "Index", 1)
            doc.el(deckel, "Deckelform", "R")
        geometrie = lage_and_geometry(anlage, "P")
        punkte = doc.el(doc.el(geometrie, "Geometriedaten"), "Knoten")
        # The cover (DMP) comes first and sits a few centimetres off the shaft
        # centre (SMP), so a reader that takes the first point is caught.
        doc.point(punkte, "Punkt", x + 0.05 + offset, y - 0.04, cover, "DMP")
        doc.point(punkte, "Punkt", x + offset, y, round(cover - depth, 2), "SMP")
        close_geometry(geometrie)
        sample.manholes.append(
            SampleManhole(sample.records, object_id, x + offset, y, cover, depth, year)
        )

    # An Anschlusspunkt (house connection) beside the second manhole: not a manhole.
    ap_id = "10020AP01"
    ap_x, ap_y = sample.manholes[1].x + 2.0, sample.manholes[1].y + 14.0
    anlage = new_object(ap_id, 2, None)
    knoten = doc.el(anlage, "Knoten")
    doc.el(knoten, "KnotenTyp", 1)
    doc.el(doc.el(knoten, "Anschlusspunkt"), "Punktkennung", "GA")
    geometrie = lage_and_geometry(anlage, "P")
    doc.point(
        doc.el(doc.el(geometrie, "Geometriedaten"), "Knoten"), "Punkt", ap_x, ap_y, 60.1, "GA"
    )
    close_geometry(geometrie)

    # Haltungen: named after their upstream manhole, as in the official sample.
    for i in range(n_sections):
        up, down = sample.manholes[i], sample.manholes[i + 1]
        own = i % 2 == 1
        vertices = [(up.x, up.y), (down.x, down.y)]
        if own:
            bend = (_r3((up.x + down.x) / 2), _r3((up.y + down.y) / 2 + 1.5))
            vertices = [(up.x, up.y), bend, (down.x, down.y)]
        length = round(sum(math.dist(a, b) for a, b in itertools.pairwise(vertices)), 2)
        section = SampleSection(
            record=0,
            object_id=up.object_id,
            from_node=up.object_id,
            to_node=down.object_id,
            material=MATERIALS[i % len(MATERIALS)],
            profile_type="0",
            profile_height_mm=DIAMETERS_MM[i % len(DIAMETERS_MM)],
            construction_year=1960 + 5 * i,
            length_m=length,
            vertices=tuple(vertices),
            own_polyline=own,
        )
        anlage = _write_section(doc, new_object, section, up, down, kantentyp=0)
        if own:
            geometrie = lage_and_geometry(anlage, "L")
            daten = doc.el(geometrie, "Geometriedaten")
            _write_polyline(doc, daten, section.vertices, up, down, style_2017)
            close_geometry(geometrie)
        sample.sections.append(_with_record(section, sample.records))

    # A Leitung from the Anschlusspunkt to manhole 2: an edge that is not a Haltung.
    leitung = SampleSection(
        record=0,
        object_id=ap_id,
        from_node=ap_id,
        to_node=sample.manholes[1].object_id,
        material="STZ",
        profile_type="0",
        profile_height_mm=150,
        construction_year=1971,
        length_m=14.14,
        vertices=(),
        own_polyline=False,
    )
    _write_section(doc, new_object, leitung, None, sample.manholes[1], kantentyp=1)

    # A Haltung towards a node that is not in the file, without a polyline.
    last = sample.manholes[-1]
    lost = SampleSection(
        record=0,
        object_id="10999",
        from_node=last.object_id,
        to_node=MISSING_NODE,
        material="B",
        profile_type="0",
        profile_height_mm=300,
        construction_year=1999,
        length_m=41.0,
        vertices=(),
        own_polyline=False,
    )
    _write_section(doc, new_object, lost, last, None, kantentyp=0)
    sample.unplaceable = (sample.records, lost.object_id)

    if with_conditions:
        _write_conditions(doc, collectives, sample)

    tree = ET.ElementTree(root)
    ET.indent(tree, space="  ")
    tree.write(path, encoding="ISO-8859-1", xml_declaration=True, default_namespace=namespace)
    return sample


def _with_record(section: SampleSection, record: int) -> SampleSection:
    return SampleSection(**{**section.__dict__, "record": record})


def _write_section(
    doc: _Doc,
    new_object: Callable[[str, int, int | None], ET.Element],
    section: SampleSection,
    up: SampleManhole | None,
    down: SampleManhole | None,
    *,
    kantentyp: int,
) -> ET.Element:
    anlage = new_object(section.object_id, 1, section.construction_year)
    kante = doc.el(anlage, "Kante")
    doc.el(kante, "KantenTyp", kantentyp)
    doc.el(kante, "KnotenZulauf", section.from_node)
    doc.el(kante, "KnotenZulaufTyp", 0 if up is not None else 1)
    doc.el(kante, "KnotenAblauf", section.to_node)
    doc.el(kante, "KnotenAblaufTyp", 0)
    if up is not None:
        doc.el(kante, "SohlhoeheZulauf", round(up.cover_level_m - up.depth_m, 2))
    if down is not None:
        doc.el(kante, "SohlhoeheAblauf", round(down.cover_level_m - down.depth_m + 0.02, 2))
    doc.el(kante, "Laenge", f"{section.length_m:.2f}")
    doc.el(kante, "Material", section.material)
    profil = doc.el(kante, "Profil")
    doc.el(profil, "SonderprofilVorhanden", 0)
    doc.el(profil, "Profilart", section.profile_type)
    doc.el(profil, "Profilbreite", section.profile_height_mm)
    doc.el(profil, "Profilhoehe", section.profile_height_mm)
    if kantentyp == 0:
        doc.el(doc.el(kante, "Haltung"), "HaltungsFunktion", 1)
    else:
        doc.el(doc.el(kante, "Leitung"), "LeitungsFunktion", 1)
    return anlage


def _write_polyline(
    doc: _Doc,
    daten: ET.Element,
    vertices: tuple[tuple[float, float], ...],
    up: SampleManhole,
    down: SampleManhole,
    style_2017: bool,
) -> None:
    """Kanten chain (2013) or an open Polygon (2017 style); one Kante per segment."""
    if style_2017:
        container = doc.el(doc.el(daten, "Polygone"), "Polygon")
        doc.el(container, "Polygonart", 3)
    else:
        container = doc.el(daten, "Kanten")
    last = len(vertices) - 1
    heights: list[float | None] = [None] * len(vertices)
    heights[0] = round(up.cover_level_m - up.depth_m, 2)
    heights[last] = round(down.cover_level_m - down.depth_m, 2)
    for index, (start, end) in enumerate(itertools.pairwise(vertices)):
        kante = doc.el(container, "Kante")
        doc.point(kante, "Start", *start, heights[index], "SMP" if index == 0 else "LHP")
        doc.point(kante, "Ende", *end, heights[index + 1], "SMP" if index + 1 == last else "LHP")


def _write_conditions(doc: _Doc, collectives: ET.Element, sample: IsybauSample) -> None:
    """Two inspection campaigns; the newer one sits first so file order is not the rule.

    Section 1 is rated 2 (2015) then 3 (2021): 3 must win. Section 2 has only
    an automatic class (4). Manhole 1 is rated 1 (manual) over 2 (automatic).
    """
    first, second = sample.sections[0], sample.sections[1]
    manhole = sample.manholes[0]
    campaigns = [
        (
            "ZUS01",
            "2021-09-14",
            [(first, 1, "3", "3"), (second, 1, "4", None), (manhole, 3, "2", "1")],
        ),
        ("ZUS02", "2015-03-02", [(first, 1, "2", "2")]),
    ]
    for kennung, date, ratings in campaigns:
        collective = doc.el(collectives, "Zustandsdatenkollektiv")
        doc.el(collective, "Kennung", kennung)
        auftrag = doc.el(doc.el(collective, "Auftraege"), "Auftrag")
        doc.el(auftrag, "Auftragsbezeichnung", f"TV-Inspektion {date[:4]}")
        doc.el(auftrag, "Auftragskennung", 1)
        doc.el(auftrag, "Auftragsart", 1)
        doc.el(auftrag, "Kodiersystem", 10)
        for obj, anlagentyp, automatic, manual in ratings:
            inspected = doc.el(collective, "InspizierteAbwassertechnischeAnlage")
            doc.el(inspected, "Objektbezeichnung", obj.object_id)
            doc.el(inspected, "Anlagentyp", anlagentyp)
            inspection = doc.el(inspected, "OptischeInspektion")
            doc.el(inspection, "Auftragskennung", 1)
            doc.el(inspection, "Inspektionsdatum", date)
            if anlagentyp == 1:
                part = doc.el(inspection, "Rohrleitung")
                doc.el(part, "Rohrleitungstyp", 0)
                doc.el(part, "Inspektionsrichtung", "O")
            else:
                part = doc.el(inspection, "Knoten")
            bewertung = doc.el(part, "Bewertung")
            doc.el(bewertung, "Bewertungsverfahren", 1)
            doc.el(bewertung, "Bewertungsdatum", date)
            doc.el(bewertung, "KlasseAutomatisch", automatic)
            if manual is not None:
                doc.el(bewertung, "KlasseManuell", manual)
    # What a reader must report: the newest rating, manual class before automatic.
    sample.condition_classes = {
        ("section", first.object_id): 3,
        ("section", second.object_id): 4,
        ("manhole", manhole.object_id): 1,
    }
