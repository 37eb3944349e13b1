"""Read ISYBAU XML sewer master data: Haltungen (sewer sections) and Schächte (manholes).

Why: German cities and water boards exchange their sewer inventory as ISYBAU
XML ("ISYBAU-Austauschformat Abwasser", Arbeitshilfen Abwasser / BFR
Abwasser). GDAL has no driver for it, so the importer needs this reader to turn
a file into shapely features with ZUGABE attribute names, a CRS hint and a
per-record list of what could not be placed on the map.

What is supported, and where it was learnt
------------------------------------------
* XML-2013 (``<Version>2013-02</Version>``, namespace
  ``http://www.ofd-hannover.la/Identifikation``). Element names, nesting and
  units were checked against the official schema files (Stand 12/2015) and the
  official sample data, as published in the repository
  ``tschuettenberg/isybau2qgep``:
  ``1302_ISYBAU_XML_Schema/1302-metadaten.xsd`` (root ``Identifikation`` with
  ``Version``, ``Admindaten``, ``Datenkollektive``; object key =
  ``Objektbezeichnung`` + ``Objektart``),
  ``1302_ISYBAU_XML_Schema/1302-stammdaten.xsd`` (``AbwassertechnischeAnlage``
  with ``Objektart``, ``Baujahr`` (gYear), ``Kante``/``Knoten`` choice,
  ``Kante/KantenTyp``, ``KnotenZulauf``, ``KnotenAblauf``, ``Laenge`` (m),
  ``Material``, ``Profil/Profilart``, ``Profil/Profilhoehe`` (integer mm),
  ``Knoten/Schacht/Schachttiefe`` (m), ``Geometrie/Geometriedaten`` with
  ``Knoten/Punkt``, ``Kanten/Kante/Start|Ende|Mitte`` and
  ``Polygone/Polygon/Polygonart|Kante``, ``Geometrie/CRSLage`` (free text,
  max. 30 characters)),
  ``1302_ISYBAU_XML_Schema/1302-zustandsdaten.xsd`` (``Zustandsdatenkollektiv/
  InspizierteAbwassertechnischeAnlage`` with ``Anlagentyp`` and
  ``OptischeInspektion/(Rohrleitung|Knoten)/Bewertung/KlasseManuell|
  KlasseAutomatisch``), ``1302_ISYBAU_XML_Schema/1302-referenzlisten.xsd``
  (G100 Objektart 1 = Kante, 2 = Knoten; U103 Anlagentyp 1 = Haltung,
  3 = Schacht; V106 PunktattributAbwasser SMP = Schachtmittelpunkt,
  DMP = Schachtdeckelmittelpunkt, KOP = Koordinatenbezugspunkt) and
  ``1302_ISYBAU_XML_Beispieldaten/ISYBAU_XML-2013-Stammdaten_Geometrie_BFR251.xml``
  (``CRSLage`` written as ``ETRS89_UTM32`` with zone-prefixed eastings such as
  32570349.834; the SMP height is the invert level, the DMP height the cover
  level).
* XML-2017 and later (``<Version>2017-07</Version>``, namespace
  ``http://www.bfr-abwasser.de``). No official 2017 schema was available to
  us. What we rely on comes from third-party code that reads or writes such
  files (found by code search; not authoritative): the same element names as
  2013 for everything read here, shaft covers moved to
  ``Knoten/Abdeckungen/Deckel``, section polylines also written as
  ``Polygone/Polygon`` with ``Polygonart`` 3 (open polyline), ``CRSLage``
  values such as ``ETRS89_UTM32`` and ``DE_DHDN_3GK2``. The reader is
  namespace-agnostic and accepts both placements of a polyline, so a 2017 file
  that keeps these names reads like a 2013 one.
* The QKan QGIS plugin's ISYBAU import (``hoettges/QKan``) confirmed the
  reading of ``Objektart``, ``Kante/KnotenZulauf|KnotenAblauf``,
  ``Profil/Profilhoehe`` in millimetres, ``SMP``/``DMP`` points and
  ``Geometriedaten/Kanten/Kante/Start|Ende``; its export writes ``CRSLage`` as
  an ``EPSG:…`` authority string, which is accepted too.

Read into ZUGABE attributes
---------------------------
Sections are the ``Objektart`` 1 objects whose ``Kante`` is a Haltung
(``KantenTyp`` 0 or a ``Haltung`` child); Leitungen, Rinnen and Gerinne are
counted in a warning and skipped. Manholes are the ``Objektart`` 2 objects
with a ``Knoten/Schacht``; Anschlusspunkte and Bauwerke are skipped as
manholes but still serve as section end points.

* section: ``object_id``, ``from_node``, ``to_node``, ``material`` (G102 code,
  e.g. ``STZ``), ``profile_type`` (G-list ``Profilart`` code as written),
  ``profile_height_mm`` (int), ``construction_year`` (int), ``length_m``
  (``Kante/Laenge``, else ``Haltung/DMPLaenge``, else the 2D length of the
  geometry), ``condition_class``;
* manhole: ``object_id``, ``depth_m`` (``Schachttiefe``, else DMP height minus
  SMP height), ``cover_level_m`` (DMP height), ``construction_year``,
  ``condition_class``.

``condition_class`` is the object class of the most recent
``Bewertung`` (``KlasseManuell`` before ``KlasseAutomatisch``), passed through
unchanged when it is an integer 0–5. The per-damage ``Klassifizierung`` is not
aggregated: the object class includes extra points (in the official sample a
manhole whose worst damage class is 2 is rated 3). Mind the direction of the
scale: in the official AH-Abwasser sample a defect-free manhole is class 0 and
a damaged one class 3, whereas DWA-M 149-3 uses 0 for the worst state. The
``Bewertungsverfahren`` codes found are reported in a warning.

Geometry: a manhole is a Point at its SMP, else at its first point. A section
is a LineString from its own polyline (``Kanten/Kante`` chain, else a
``Polygon`` with ``Polygonart`` 3; arcs given by ``Mitte`` are drawn as
chords), else from the positions of its start and end nodes. Coordinates are
``Rechtswert``/``Hochwert``; a decimal comma is accepted because some exports
write one.

Position system: ``Geometrie/CRSLage`` of each object (``Geometrie/Lagesystem``
and a file-wide ``Admindaten/Geometrie/CRSLage`` are also accepted, although
the 2013 schema has neither) is mapped by :func:`epsg_from_crs_lage`; the
majority system becomes ``crs_hint`` and objects in another one become
problems. UTM eastings written with the zone number in front (as in the
official sample) turn the hint into EPSG:4647 / EPSG:5650 (ETRS89 / UTM zone
32N / 33N with zone prefix), which pyproj converts exactly. Without any
``CRSLage`` the hint is None and a warning suggests what the coordinates
look like.

Not read: Hydraulikdaten, Betriebsdaten, Sanierung, Leitungen, Bauwerke as
features, heights as Z values, ``Status`` (its code list was not verified).

Errors: malformed XML raises :class:`~zugabe.errors.InvalidInput` with line
and column; a document whose root is not ``Identifikation`` is refused with
the root found; any DOCTYPE is refused before parsing (no DTD means no entity
expansion and no external entities). A record that cannot be placed is not an
exception: it lands in ``problems`` with its 1-based record number (position
among all ``AbwassertechnischeAnlage`` elements of the file).
"""

from __future__ import annotations

import io
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO
from xml.etree import ElementTree as ET
from xml.parsers import expat

from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from zugabe.errors import InvalidInput

__all__ = [
    "NS_2013",
    "NS_2017",
    "IsybauData",
    "IsybauFeature",
    "Problem",
    "epsg_from_crs_lage",
    "read_isybau",
]

NS_2013 = "http://www.ofd-hannover.la/Identifikation"
NS_2017 = "http://www.bfr-abwasser.de"
_KNOWN_NAMESPACES = {NS_2013: "XML-2013", NS_2017: "XML-2017 or later"}

Problem = tuple[int, str, str]
"""(record, object_id, reason): one object the importer should refuse."""

_CHUNK = 1 << 16
_MAX_LISTED = 5  # record numbers quoted per aggregated warning
_SAME_POINT_M = 1e-6
_UTM_ZONE_PREFIX = 10_000_000.0  # zone-prefixed UTM eastings (zE-N) are >= 32,000,000
_EDGE_KINDS = {"0": "Haltung", "1": "Leitung", "2": "Rinne", "3": "Gerinne"}
_NODE_KINDS = ("Schacht", "Anschlusspunkt", "Bauwerk")
_NODE_TYPE_CODES = {"0": "Schacht", "1": "Anschlusspunkt", "2": "Bauwerk"}
# ETRS89 / UTM with and without the zone number in front of the easting.
_UTM_EPSG = {"32": ("EPSG:25832", "EPSG:4647"), "33": ("EPSG:25833", "EPSG:5650")}
_ZONE_PREFIXED = {plain: prefixed for plain, prefixed in _UTM_EPSG.values()}


@dataclass
class IsybauFeature:
    """One section or manhole, ready for the layer importer."""

    record: int
    object_id: str
    geometry: BaseGeometry
    attributes: dict[str, object]


@dataclass
class IsybauData:
    """Everything read from one ISYBAU file.

    ``problems`` holds every refused object (sorted by record);
    ``section_problems`` and ``manhole_problems`` split it by layer so an
    import of one layer reports only its own rows.
    """

    sewer_sections: list[IsybauFeature] = field(default_factory=list)
    manholes: list[IsybauFeature] = field(default_factory=list)
    crs_hint: str | None = None
    version: str | None = None
    namespace: str | None = None
    warnings: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    section_problems: list[Problem] = field(default_factory=list)
    manhole_problems: list[Problem] = field(default_factory=list)


# --------------------------------------------------------------------------- public API


def read_isybau(source: str | os.PathLike[str] | bytes | bytearray | IO[bytes]) -> IsybauData:
    """Parse an ISYBAU XML file (path, bytes or binary file object)."""
    stream = _open(source)
    try:
        start = stream.tell()
        root_tag = _scan_prolog(stream)
        stream.seek(start)
        return _Parser(root_tag).parse(stream)
    finally:
        if not isinstance(source, (bytes, bytearray)) and not hasattr(source, "read"):
            stream.close()


def epsg_from_crs_lage(value: str | None) -> str | None:
    """Map an ISYBAU ``CRSLage`` value to ``EPSG:nnnn``, or None if unknown.

    Understands AdV-style names (``ETRS89_UTM32``, ``DE_ETRS89_UTM33``,
    ``DE_DHDN_3GK2``, ``DHDN_GK3``, with or without a state suffix such as
    ``_NW177``), ``EPSG:25832``, ``urn:ogc:def:crs:EPSG::25832`` and a bare
    EPSG number. Zone-prefixed eastings are handled by the caller.
    """
    if not value:
        return None
    text = value.strip().upper().replace("-", "_").replace(" ", "_")
    match = re.fullmatch(r"(?:URN:OGC:DEF:CRS:)?EPSG:*(?:[\d.]*:)?(\d{4,5})", text)
    if match or (match := re.fullmatch(r"(\d{4,5})", text)):
        return f"EPSG:{match.group(1)}"
    text = text.removeprefix("DE_")
    match = re.fullmatch(r"ETRS_?89_?UTM_?(32|33)N?(?:_\w+)?", text)
    if match:
        return _UTM_EPSG[match.group(1)][0]
    match = re.fullmatch(r"(?:DHDN_?)?3?GK_?([2-5])(?:_\w+)?", text)
    if match:
        return f"EPSG:{31464 + int(match.group(1))}"
    return None


# --------------------------------------------------------------------------- input


def _open(source: str | os.PathLike[str] | bytes | bytearray | IO[bytes]) -> IO[bytes]:
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(bytes(source))
    if hasattr(source, "read"):
        stream = source  # type: ignore[assignment]
        if not (hasattr(stream, "seekable") and stream.seekable()):
            return io.BytesIO(stream.read())  # type: ignore[union-attr]
        return stream  # type: ignore[return-value]
    return open(os.fspath(source), "rb")  # closed by read_isybau


class _RootReached(Exception):
    """Stops the prolog scan once the root element starts."""

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.tag = tag


def _scan_prolog(stream: IO[bytes]) -> str:
    """Refuse any DOCTYPE and return the root tag (``{namespace}local``).

    Only a DTD can declare entities, so a document without one cannot expand
    entities or reach external ones. A DOCTYPE may only stand before the root
    element, so the scan stops there; the full parse only starts afterwards.
    """
    scanner = expat.ParserCreate(namespace_separator="}")

    def on_doctype(name: str, *_: object) -> None:
        raise InvalidInput(
            f"ISYBAU file refused: it declares a DOCTYPE (<!DOCTYPE {name} …> at line "
            f"{scanner.CurrentLineNumber}). Documents with a DTD are not accepted because "
            "entity declarations can expand without bound or read external files; "
            "ISYBAU files do not need one."
        )

    def on_root(name: str, *_: object) -> None:
        raise _RootReached("{" + name if "}" in name else name)

    scanner.StartDoctypeDeclHandler = on_doctype
    scanner.StartElementHandler = on_root
    try:
        while chunk := stream.read(_CHUNK):
            scanner.Parse(chunk, False)
        scanner.Parse(b"", True)
    except _RootReached as root:
        return root.tag
    except expat.ExpatError as exc:
        raise _malformed(exc.lineno, exc.offset, expat.ErrorString(exc.code)) from None
    raise _malformed(scanner.CurrentLineNumber, scanner.CurrentColumnNumber, "no root element")


def _malformed(line: int, column: int, reason: str) -> InvalidInput:
    return InvalidInput(
        f"Malformed XML at line {line}, column {column + 1}: {reason}. "
        "The file is not well-formed and cannot be read as ISYBAU."
    )


# --------------------------------------------------------------------------- parsing


@dataclass
class _Pt:
    x: float
    y: float
    z: float | None
    attr: str | None


@dataclass
class _Node:
    record: int
    object_id: str
    kind: str | None  # Schacht, Anschlusspunkt, Bauwerk
    points: list[_Pt]
    crs_lage: str | None
    depth_m: float | None
    construction_year: int | None

    def position(self) -> _Pt | None:
        """SMP if present, else the first point."""
        for point in self.points:
            if point.attr == "SMP":
                return point
        return self.points[0] if self.points else None

    def height(self, attr: str) -> float | None:
        for point in self.points:
            if point.attr == attr and point.z is not None:
                return point.z
        return None


@dataclass
class _Edge:
    record: int
    object_id: str
    from_node: str | None
    to_node: str | None
    from_kind: str | None
    to_kind: str | None
    line: list[_Pt]
    crs_lage: str | None
    attributes: dict[str, object]


@dataclass
class _Condition:
    date: str
    order: int
    value: int


class _Issues:
    """Collects repeated findings so a large file yields a few warnings, not thousands."""

    def __init__(self) -> None:
        self._by_key: dict[str, list[int]] = defaultdict(list)
        self.plain: list[str] = []

    def add(self, key: str, record: int) -> None:
        self._by_key[key].append(record)

    def messages(self) -> list[str]:
        out = list(self.plain)
        for key, records in self._by_key.items():
            shown = ", ".join(str(r) for r in records[:_MAX_LISTED])
            more = f" and {len(records) - _MAX_LISTED} more" if len(records) > _MAX_LISTED else ""
            out.append(f"{key} (records {shown}{more}).")
        return out


class _Parser:
    """One pass over the document with iterparse; objects are cleared once read."""

    def __init__(self, root_tag: str) -> None:
        self.ns = root_tag[1:].split("}", 1)[0] if root_tag.startswith("{") else ""
        self._paths: dict[str, str] = {}
        self.issues = _Issues()
        self._check_root(root_tag)
        self.version: str | None = None
        self.default_crs_lage: str | None = None
        self.nodes: list[_Node] = []
        self.edges: list[_Edge] = []
        self.record = 0
        self.skipped_edges: Counter[str] = Counter()
        self.unknown_objects: list[int] = []
        self.conditions: dict[tuple[str, str], _Condition] = {}
        self.condition_methods: set[str] = set()
        self.bad_conditions: list[str] = []
        self.inspections = 0
        self.arc_sections: list[int] = []
        self.stammdaten_found = False

    # -- element helpers (namespace of the root applies to the whole document)

    def _path(self, path: str) -> str:
        cached = self._paths.get(path)
        if cached is None:
            cached = "/".join(
                f"{{{self.ns}}}{part}" if self.ns else part for part in path.split("/")
            )
            self._paths[path] = cached
        return cached

    def _find(self, element: ET.Element | None, path: str) -> ET.Element | None:
        return None if element is None else element.find(self._path(path))

    def _findall(self, element: ET.Element | None, path: str) -> list[ET.Element]:
        return [] if element is None else element.findall(self._path(path))

    def _text(self, element: ET.Element | None, path: str) -> str | None:
        found = self._find(element, path)
        if found is None or found.text is None:
            return None
        return found.text.strip() or None

    def _number(self, element: ET.Element | None, path: str, record: int) -> float | None:
        raw = self._text(element, path)
        if raw is None:
            return None
        value = _to_float(raw)
        if value is None:
            self.issues.add(f"Unreadable number in {path.rsplit('/', 1)[-1]} ignored", record)
        return value

    def _integer(self, element: ET.Element | None, path: str, record: int) -> int | None:
        value = self._number(element, path, record)
        if value is None:
            return None
        if value != int(value):
            self.issues.add(f"{path.rsplit('/', 1)[-1]} is not a whole number, ignored", record)
            return None
        return int(value)

    def _year(self, element: ET.Element, record: int) -> int | None:
        raw = self._text(element, "Baujahr")
        if raw is None:
            return None
        match = re.match(r"\s*(\d{4})(?!\d)", raw)
        if not match:
            self.issues.add("Unreadable Baujahr ignored", record)
            return None
        return int(match.group(1))

    def _point(self, element: ET.Element | None) -> _Pt | None:
        if element is None:
            return None
        x = _to_float(self._text(element, "Rechtswert"))
        y = _to_float(self._text(element, "Hochwert"))
        if x is None or y is None:
            return None
        return _Pt(
            x,
            y,
            _to_float(self._text(element, "Punkthoehe")),
            self._text(element, "PunktattributAbwasser"),
        )

    def _crs_lage(self, element: ET.Element) -> str | None:
        return self._text(element, "Geometrie/CRSLage") or self._text(
            element, "Geometrie/Lagesystem"
        )

    # -- main loop

    def parse(self, stream: IO[bytes]) -> IsybauData:
        """Only end events, compared against qualified tags: big files stay fast."""
        anlage = self._path("AbwassertechnischeAnlage")
        inspected = self._path("InspizierteAbwassertechnischeAnlage")
        collectives = {
            self._path(name)
            for name in (
                "Stammdatenkollektiv",
                "Zustandsdatenkollektiv",
                "Hydraulikdatenkollektiv",
                "Betriebsdatenkollektiv",
            )
        }
        events = ET.iterparse(stream, events=("end",))
        try:
            for _, element in events:
                tag = element.tag
                if tag == anlage:
                    self.stammdaten_found = True
                    self.record += 1
                    self._read_object(element, self.record)
                    element.clear()
                elif tag == inspected:
                    self._read_inspection(element)
                    element.clear()
                elif tag in collectives:
                    element.clear()  # a finished collective: free its memory
        except ET.ParseError as exc:
            line, column = exc.position
            raise _malformed(line, column, expat.ErrorString(exc.code)) from None
        root = events.root  # type: ignore[attr-defined]
        self.version = self._text(root, "Version")
        self.default_crs_lage = self._text(root, "Admindaten/Geometrie/CRSLage")
        return self._finish()

    def _check_root(self, tag: str) -> None:
        local = _local(tag)
        if local != "Identifikation":
            found = f"<{local}>" + (f" in namespace {self.ns}" if self.ns else " without namespace")
            raise InvalidInput(
                f"Not an ISYBAU file: the root element is {found}; expected <Identifikation> "
                f"in namespace {NS_2013} (XML-2013) or {NS_2017} (XML-2017 and later)."
            )
        if self.ns not in _KNOWN_NAMESPACES:
            shown = self.ns or "none"
            self.issues.plain.append(
                f"Root <Identifikation> has an unexpected namespace ({shown}); "
                f"read it with the ISYBAU element names anyway."
            )

    # -- Stammdaten

    def _read_object(self, element: ET.Element, record: int) -> None:
        object_id = self._text(element, "Objektbezeichnung") or ""
        objektart = self._text(element, "Objektart")
        kante = self._find(element, "Kante")
        knoten = self._find(element, "Knoten")
        if objektart == "1" or (objektart is None and kante is not None):
            self._read_edge(element, kante, record, object_id)
        elif objektart == "2" or (objektart is None and knoten is not None):
            self._read_node(element, knoten, record, object_id)
        else:
            self.unknown_objects.append(record)

    def _read_node(
        self, element: ET.Element, knoten: ET.Element | None, record: int, object_id: str
    ) -> None:
        kind = next((k for k in _NODE_KINDS if self._find(knoten, k) is not None), None)
        if kind is None:
            kind = _NODE_TYPE_CODES.get(self._text(knoten, "KnotenTyp") or "")
        points = [
            p
            for p in map(
                self._point, self._findall(element, "Geometrie/Geometriedaten/Knoten/Punkt")
            )
            if p is not None
        ]
        self.nodes.append(
            _Node(
                record=record,
                object_id=object_id,
                kind=kind,
                points=points,
                crs_lage=self._crs_lage(element),
                depth_m=self._number(knoten, "Schacht/Schachttiefe", record),
                construction_year=self._year(element, record),
            )
        )

    def _read_edge(
        self, element: ET.Element, kante: ET.Element | None, record: int, object_id: str
    ) -> None:
        kantentyp = self._text(kante, "KantenTyp")
        is_haltung = kantentyp == "0" or (
            kantentyp is None and self._find(kante, "Haltung") is not None
        )
        if not is_haltung:
            label = _EDGE_KINDS.get(kantentyp or "", f"KantenTyp {kantentyp or 'missing'}")
            self.skipped_edges[label] += 1
            return
        line, arcs = self._polyline(self._find(element, "Geometrie/Geometriedaten"))
        if arcs:
            self.arc_sections.append(record)
        length = self._number(kante, "Laenge", record)
        if length is None:
            length = self._number(kante, "Haltung/DMPLaenge", record)
        from_node = self._text(kante, "KnotenZulauf")
        to_node = self._text(kante, "KnotenAblauf")
        attributes: dict[str, object] = {
            "object_id": object_id,
            "from_node": from_node,
            "to_node": to_node,
            "material": self._text(kante, "Material"),
            "profile_type": self._text(kante, "Profil/Profilart"),
            "profile_height_mm": self._integer(kante, "Profil/Profilhoehe", record),
            "construction_year": self._year(element, record),
            "length_m": length,
            "condition_class": None,
        }
        self.edges.append(
            _Edge(
                record=record,
                object_id=object_id,
                from_node=from_node,
                to_node=to_node,
                from_kind=_NODE_TYPE_CODES.get(self._text(kante, "KnotenZulaufTyp") or ""),
                to_kind=_NODE_TYPE_CODES.get(self._text(kante, "KnotenAblaufTyp") or ""),
                line=line,
                crs_lage=self._crs_lage(element),
                attributes=attributes,
            )
        )

    def _polyline(self, daten: ET.Element | None) -> tuple[list[_Pt], bool]:
        """The section's own vertices: a Kanten chain, else an open Polygon (Polygonart 3)."""
        kanten = self._findall(daten, "Kanten/Kante")
        if not kanten:
            for polygon in self._findall(daten, "Polygone/Polygon"):
                if self._text(polygon, "Polygonart") == "3":
                    kanten = self._findall(polygon, "Kante")
                    break
        points: list[_Pt] = []
        arcs = False
        for kante in kanten:
            start = self._point(self._find(kante, "Start"))
            end = self._point(self._find(kante, "Ende"))
            if start is None or end is None:
                return [], arcs  # incomplete chain: fall back to the nodes
            arcs = arcs or self._find(kante, "Mitte") is not None
            if not points or _distance(points[-1], start) > _SAME_POINT_M:
                points.append(start)
            points.append(end)
        return points, arcs

    # -- Zustandsdaten

    def _read_inspection(self, element: ET.Element) -> None:
        object_id = self._text(element, "Objektbezeichnung")
        kind = {"1": "section", "3": "manhole"}.get(self._text(element, "Anlagentyp") or "")
        inspection = self._find(element, "OptischeInspektion")
        if object_id is None or kind is None or inspection is None:
            return
        bewertung = self._find(inspection, "Rohrleitung/Bewertung")
        if bewertung is None:
            bewertung = self._find(inspection, "Knoten/Bewertung")
        if bewertung is None:
            return
        raw = self._text(bewertung, "KlasseManuell") or self._text(bewertung, "KlasseAutomatisch")
        if raw is None:
            return
        value = _to_float(raw)
        if value is None or value != int(value) or not 0 <= value <= 5:
            self.bad_conditions.append(f"{object_id}: {raw!r}")
            return
        method = self._text(bewertung, "Bewertungsverfahren")
        if method:
            self.condition_methods.add(method)
        date = (
            self._text(bewertung, "Bewertungsdatum")
            or self._text(inspection, "Inspektionsdatum")
            or ""
        )
        self.inspections += 1
        candidate = _Condition(date=date, order=self.inspections, value=int(value))
        key = (kind, object_id)
        current = self.conditions.get(key)
        if current is None or (candidate.date, candidate.order) >= (current.date, current.order):
            self.conditions[key] = candidate

    # -- assembling the result

    def _finish(self) -> IsybauData:
        data = IsybauData(version=self.version, namespace=self.ns or None)
        if self.version is None:
            self.issues.plain.append("The file has no <Version>; read as XML-2013 structure.")
        if not self.stammdaten_found:
            self.issues.plain.append(
                "The file holds no Stammdatenkollektiv/AbwassertechnischeAnlage: "
                "no sections or manholes to import."
            )
        crs_of: dict[int, str | None] = {}
        self._build_manholes(data, crs_of)
        self._build_sections(data, crs_of)
        self._resolve_crs(data, crs_of)
        self._attach_conditions(data)
        self._report_skipped()
        self._report_duplicates(data.sewer_sections, "section")
        self._report_duplicates(data.manholes, "manhole")
        data.section_problems.sort()
        data.manhole_problems.sort()
        data.problems = sorted(data.section_problems + data.manhole_problems)
        data.warnings.extend(self.issues.messages())
        return data

    def _build_manholes(self, data: IsybauData, crs_of: dict[int, str | None]) -> None:
        for node in self.nodes:
            if node.kind != "Schacht":
                continue
            position = node.position()
            if not node.object_id:
                data.manhole_problems.append((node.record, "", "manhole without Objektbezeichnung"))
                continue
            if position is None:
                data.manhole_problems.append(
                    (node.record, node.object_id, "manhole without coordinates")
                )
                continue
            cover = node.height("DMP")
            invert = node.height("SMP")
            depth = node.depth_m
            if depth is None and cover is not None and invert is not None:
                depth = round(cover - invert, 3)
            data.manholes.append(
                IsybauFeature(
                    record=node.record,
                    object_id=node.object_id,
                    geometry=Point(position.x, position.y),
                    attributes={
                        "object_id": node.object_id,
                        "depth_m": depth,
                        "cover_level_m": cover,
                        "construction_year": node.construction_year,
                        "condition_class": None,
                    },
                )
            )
            crs_of[node.record] = node.crs_lage

    def _build_sections(self, data: IsybauData, crs_of: dict[int, str | None]) -> None:
        nodes_by_id: dict[str, list[_Node]] = defaultdict(list)
        for node in self.nodes:
            nodes_by_id[node.object_id].append(node)

        def locate(name: str | None, kind: str | None, role: str) -> tuple[_Pt | None, str]:
            if not name:
                return None, f"{role} node is not given"
            candidates = nodes_by_id.get(name, [])
            if not candidates:
                return None, f"{role} node {name!r} is not in the file"
            preferred = [n for n in candidates if n.kind == (kind or "Schacht")] or candidates
            for node in preferred:
                if (point := node.position()) is not None:
                    return point, ""
            return None, f"{role} node {name!r} has no coordinates"

        for edge in self.edges:
            if not edge.object_id:
                data.section_problems.append((edge.record, "", "section without Objektbezeichnung"))
                continue
            points = edge.line
            if len(points) < 2:
                start, why_start = locate(edge.from_node, edge.from_kind, "start")
                end, why_end = locate(edge.to_node, edge.to_kind, "end")
                if start is None or end is None:
                    reasons = "; ".join(r for r in (why_start, why_end) if r)
                    data.section_problems.append(
                        (
                            edge.record,
                            edge.object_id,
                            "no polyline of its own and cannot be placed from its nodes: "
                            + reasons,
                        )
                    )
                    continue
                points = [start, end]
            coords = [(p.x, p.y) for p in points]
            if len({(round(x, 6), round(y, 6)) for x, y in coords}) < 2:
                data.section_problems.append(
                    (edge.record, edge.object_id, "start and end are the same point")
                )
                continue
            geometry = LineString(coords)
            attributes = dict(edge.attributes)
            if attributes["length_m"] is None:
                attributes["length_m"] = round(geometry.length, 2)
            data.sewer_sections.append(
                IsybauFeature(edge.record, edge.object_id, geometry, attributes)
            )
            crs_of[edge.record] = edge.crs_lage

    def _resolve_crs(self, data: IsybauData, crs_of: dict[int, str | None]) -> None:
        """One CRS for the file; records in another position system become problems."""
        own = {record: value or self.default_crs_lage for record, value in crs_of.items()}
        mapped = {value: epsg_from_crs_lage(value) for value in set(own.values()) if value}
        unknown = sorted(value for value, epsg in mapped.items() if epsg is None)
        votes = Counter(mapped[value] for value in own.values() if value and mapped[value])
        if not votes:
            if unknown:
                self.issues.plain.append(
                    "Position system (CRSLage) not recognised: "
                    + ", ".join(repr(v) for v in unknown)
                    + ". No CRS hint; give the source CRS explicitly."
                )
            else:
                self.issues.plain.append(
                    "The file does not say which position system it uses (no CRSLage)."
                    + _guess_from_coordinates(data)
                )
            return
        epsg = votes.most_common(1)[0][0]
        if len(votes) > 1:
            self.issues.plain.append(
                f"The file mixes position systems ({', '.join(sorted(votes))}); "
                f"{epsg} is used and the objects in other systems are refused."
            )

        def keep(feature: IsybauFeature) -> str | None:
            value = own.get(feature.record)
            if not value:
                return None
            if mapped[value] is None:
                return f"unknown position system {value!r}"
            if mapped[value] != epsg:
                return f"position system {value!r} ({mapped[value]}) differs from the file's {epsg}"
            return None

        self._drop(data, keep)
        if epsg in _ZONE_PREFIXED:
            epsg = self._zone_prefix(data, epsg)
        data.crs_hint = epsg

    def _zone_prefix(self, data: IsybauData, epsg: str) -> str:
        """UTM eastings written with the zone number in front (32570349.834) mean zE-N."""
        features = data.sewer_sections + data.manholes
        prefixed = sum(1 for f in features if _first_x(f) >= _UTM_ZONE_PREFIX)
        use_prefix = prefixed * 2 > len(features)

        def keep(feature: IsybauFeature) -> str | None:
            if (_first_x(feature) >= _UTM_ZONE_PREFIX) == use_prefix:
                return None
            written = "with" if not use_prefix else "without"
            return f"easting written {written} the UTM zone prefix, unlike the rest of the file"

        self._drop(data, keep)
        if not use_prefix:
            return epsg
        prefixed_epsg = _ZONE_PREFIXED[epsg]
        self.issues.plain.append(
            f"Eastings carry the UTM zone number in front (e.g. 32xxxxxx.xxx): CRS hint "
            f"{prefixed_epsg} (ETRS89 / UTM with zone prefix) instead of {epsg}."
        )
        return prefixed_epsg

    @staticmethod
    def _drop(data: IsybauData, reason_for: Callable[[IsybauFeature], str | None]) -> None:
        """Move the features for which ``reason_for`` gives a reason to the problems."""
        for features, problems in (
            (data.sewer_sections, data.section_problems),
            (data.manholes, data.manhole_problems),
        ):
            kept: list[IsybauFeature] = []
            for feature in features:
                reason = reason_for(feature)
                if reason is None:
                    kept.append(feature)
                else:
                    problems.append((feature.record, feature.object_id, reason))
            features[:] = kept

    def _attach_conditions(self, data: IsybauData) -> None:
        if self.bad_conditions:
            shown = ", ".join(self.bad_conditions[:_MAX_LISTED])
            more = len(self.bad_conditions) - _MAX_LISTED
            self.issues.plain.append(
                f"Condition classes that are not integers 0–5 ignored ({shown}"
                + (f" and {more} more" if more > 0 else "")
                + ")."
            )
        if not self.conditions:
            return
        matched = 0
        for kind, features in (("section", data.sewer_sections), ("manhole", data.manholes)):
            for feature in features:
                condition = self.conditions.get((kind, feature.object_id))
                if condition is not None:
                    feature.attributes["condition_class"] = condition.value
                    matched += 1
        methods = ", ".join(sorted(self.condition_methods)) or "not given"
        self.issues.plain.append(
            f"Condition classes taken unchanged from the Zustandsdaten (Bewertung, "
            f"Bewertungsverfahren {methods}) for {matched} objects; check which way the "
            "scale runs for this assessment method."
        )
        unmatched = len(self.conditions) - matched
        if unmatched:
            self.issues.plain.append(
                f"{unmatched} assessed objects have no imported section or manhole of that name."
            )

    def _report_skipped(self) -> None:
        if self.skipped_edges:
            counts = ", ".join(f"{n} {kind}" for kind, n in sorted(self.skipped_edges.items()))
            self.issues.plain.append(
                f"Skipped edges that are not Haltungen: {counts}; sewer_sections takes Haltungen."
            )
        other_nodes = Counter(n.kind or "unknown Knoten" for n in self.nodes if n.kind != "Schacht")
        if other_nodes:
            counts = ", ".join(f"{n} {kind}" for kind, n in sorted(other_nodes.items()))
            self.issues.plain.append(
                f"Skipped nodes that are not Schächte: {counts}; they still serve as section ends."
            )
        for record in self.unknown_objects:
            self.issues.add("Objects that are neither Kante nor Knoten skipped", record)
        for record in self.arc_sections:
            self.issues.add("Arc segments (Kante/Mitte) drawn as straight chords", record)

    def _report_duplicates(self, features: list[IsybauFeature], label: str) -> None:
        seen: dict[str, list[int]] = defaultdict(list)
        for feature in features:
            seen[feature.object_id].append(feature.record)
        for object_id, records in seen.items():
            if len(records) > 1:
                self.issues.plain.append(
                    f"Duplicate {label} Objektbezeichnung {object_id!r} in records "
                    + ", ".join(map(str, records))
                    + "."
                )


# --------------------------------------------------------------------------- small helpers


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _to_float(raw: str | None) -> float | None:
    """A decimal number; a decimal comma is accepted (some exports write one)."""
    if raw is None:
        return None
    try:
        value = float(raw.strip().replace(",", "."))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _distance(a: _Pt, b: _Pt) -> float:
    return math.hypot(a.x - b.x, a.y - b.y)


def _first_x(feature: IsybauFeature) -> float:
    return feature.geometry.coords[0][0]


def _guess_from_coordinates(data: IsybauData) -> str:
    """A hint for the user; never used as the CRS itself."""
    xs = [_first_x(f) for f in data.sewer_sections + data.manholes]
    if not xs:
        return ""
    x = sorted(xs)[len(xs) // 2]
    if 32_000_000 <= x < 33_000_000:
        guess = "ETRS89 / UTM 32 with zone prefix (EPSG:4647)"
    elif 33_000_000 <= x < 34_000_000:
        guess = "ETRS89 / UTM 33 with zone prefix (EPSG:5650)"
    elif 2_000_000 <= x < 6_000_000:
        zone = int(x // 1_000_000)
        guess = f"DHDN / Gauss-Krüger zone {zone} (EPSG:{31464 + zone})"
    elif 100_000 <= x < 1_000_000:
        guess = "ETRS89 / UTM without zone prefix (EPSG:25832 or EPSG:25833)"
    else:
        return ""
    return f" The eastings look like {guess}; give the source CRS explicitly."
