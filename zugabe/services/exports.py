"""Use case: export projects, coordination cases, thematic layers and the synergy grid.

Analysts take everything to QGIS as one GeoPackage (``write_geopackage``) in the storage CRS,
with proper field types, layer descriptions and the web map's styles; projects and cases also
go out as GeoJSON (RFC 7946, lon/lat, the API's features) and CSV (a lon/lat point on each
geometry and its WKT, lon/lat too).

What is exported follows one ``ExportFilter``, the same for every format:

- projects: the project list filters (``ProjectFilter``: bbox, organisation, department,
  measure type, status, time window, title text) and ``district``, a polygon of the
  ``districts`` layer by its number or name;
- cases: those of the exported projects (at least one side is an exported project), live
  ones unless ``cases=all`` (obsolete too) or ``cases=none``; with an area, only those whose
  overlap lies in it;
- thematic layers (GeoPackage only): every stored layer or those named, cut to the area;
- the synergy grid (GeoPackage only): over the area, else over the data as ``/api/synergy``.

A GeoPackage layer holds one geometry type (QGIS draws a layer with one kind of symbol), so
data that mixes points, lines and polygons becomes one layer per family: ``projects_points``,
``projects_lines``, ``projects_polygons``, the same for ``cases`` and for thematic layers
declared with several geometry types (``stormwater_basins_points``, ...). Every one of them
has the same columns, so the three project layers append into one table again.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from zugabe.domain.accounts import Actor
from zugabe.domain.case_history import word_reason
from zugabe.domain.cases import LIVE_STATUSES, CoordinationCase, Subject
from zugabe.domain.layers import LayerDefinition
from zugabe.domain.project import FIELD_LABELS, Project, attributes_to_json
from zugabe.domain.vocabulary import Vocabulary
from zugabe.errors import BadRequest, Conflict
from zugabe.io.geopackage import Column, GeoPackage, Layer, geometry_families
from zugabe.io.qgis_styles import FAMILIES, case_qml, layer_qml, project_qml, synergy_qml
from zugabe.io.report_tables import neutralise
from zugabe.services.cases import CaseService
from zugabe.services.layers import LayerService
from zugabe.services.projects import LIST_FILTERS, ProjectFilter, ProjectService
from zugabe.services.synergy import SynergyService
from zugabe.storage.contract import (
    PROJECT_TEXT_COLUMNS,
    CaseQuery,
    LayerFeature,
    ProjectColumns,
    ProjectQuery,
    Store,
)

if TYPE_CHECKING:
    from zugabe.services import Services

CASE_CHOICES = ("live", "all", "none")
PAGE = 1000  # projects per read when streaming GeoJSON or CSV
COORDINATE_DECIMALS = 7  # about 1 cm, as the API

FAMILY_LABELS = {
    "points": ("Punkte", "points"),
    "lines": ("Linien", "lines"),
    "polygons": ("Flächen", "polygons"),
}
RELATION_LABELS = {"conflict": "Konflikt", "synergy": "Synergie", "note": "Hinweis"}
PROJECT_ALIASES = {field: labels["de"] for field, labels in FIELD_LABELS.items()} | {
    "created_at": "angelegt am",
    "created_by": "angelegt von",
    "updated_at": "geändert am",
    "updated_by": "geändert von",
}
CASE_ALIASES = {
    "id": "Nr.",
    "rule": "Regel",
    "rule_name": "Regelname",
    "relation": "Beziehung",
    "severity": "Schwere",
    "status": "Status",
    "status_reason": "Begründung",
    "subject_a": "Beteiligt A",
    "subject_b": "Beteiligt B",
    "project_a": "Maßnahme A",
    "project_b": "Maßnahme B",
    "organisations": "Organisationen",
    "departments": "Fachbereiche",
    "message_de": "Meldung",
    "message_en": "Meldung (englisch)",
    "overlap_area_m2": "Überlappung (m²)",
    "overlap_length_m": "Überlappung (m)",
    "distance_m": "Abstand (m)",
    "overlap_days": "Überschneidung (Tage)",
    "gap_months": "Abstand (Monate)",
    "window_start": "Zeitraum von",
    "window_end": "Zeitraum bis",
    "version": "Version",
    "created_at": "erkannt am",
    "updated_at": "geändert am",
}
REAL_MEASURES = ("overlap_area_m2", "overlap_length_m", "distance_m")
WHOLE_MEASURES = ("overlap_days", "gap_months")
# The synergy grid's score classes and colours (low to high; a sequential ramp).
SCORE_CLASSES = (
    (0.0, 0.2, "0 – 0,2", "#ffffcc"),
    (0.2, 0.4, "0,2 – 0,4", "#c2e699"),
    (0.4, 0.6, "0,4 – 0,6", "#78c679"),
    (0.6, 0.8, "0,6 – 0,8", "#31a354"),
    (0.8, None, "0,8 – 1", "#006837"),
)


@dataclass(frozen=True)
class ExportFilter:
    """What to export (see the module docstring); ``layers`` None means every stored one."""

    projects: ProjectFilter = field(default_factory=ProjectFilter)
    district: str | None = None
    cases: str = "live"
    layers: tuple[str, ...] | None = None
    synergy: bool = True
    cell_size: float | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ExportFilter:
        """Parse API query parameters or CLI options (the web layer refuses unknown names
        first, as on every route)."""
        problems: list[str] = []
        cases = params.get("cases") or "live"
        if cases not in CASE_CHOICES:
            problems.append(f"'cases' must be one of {', '.join(CASE_CHOICES)}, got {cases!r}")
        layers: tuple[str, ...] | None = None
        if params.get("layers"):
            names = (v.strip() for v in params["layers"].split(","))
            layers = tuple(name for name in names if name and name != "none")
        synergy = True
        if params.get("synergy"):
            flag = params["synergy"].strip().lower()
            if flag not in ("true", "false", "yes", "no", "1", "0"):
                problems.append(f"'synergy' must be true or false, got {params['synergy']!r}")
            synergy = flag in ("true", "yes", "1")
        cell_size = None
        if params.get("cell_size"):
            try:
                cell_size = float(params["cell_size"])
            except ValueError:
                problems.append(
                    f"'cell_size' must be a number of metres, got {params['cell_size']!r}"
                )
        try:
            projects = ProjectFilter.from_params(
                {k: v for k, v in params.items() if k in LIST_FILTERS}
            )
        except BadRequest as exc:
            problems.append(exc.detail)
            projects = ProjectFilter()
        if problems:
            raise BadRequest("; ".join(problems))
        return cls(
            projects=projects,
            district=(params.get("district") or "").strip() or None,
            cases=cases,
            layers=layers,
            synergy=synergy,
            cell_size=cell_size,
        )


@dataclass(frozen=True)
class ExportSummary:
    """What a GeoPackage export wrote: features per layer, and what it left out and why."""

    path: Path
    layers: dict[str, int]
    notes: tuple[str, ...] = ()


class ExportService:
    def __init__(
        self,
        store: Store,
        projects: ProjectService,
        cases: CaseService,
        synergy: SynergyService,
        layers: LayerService,
        vocabulary: Vocabulary,
        actor: Actor,
    ) -> None:
        projects.policy.require_read(actor)  # every export reads the whole region
        self.actor = actor
        self.store = store
        self.layers = layers
        self.projects = projects
        self.cases = cases
        self.synergy = synergy
        self.definitions = layers.definitions
        self.vocabulary = vocabulary
        self.reprojector = projects.reprojector

    @classmethod
    def of(cls, services: Services, actor: Actor) -> ExportService:
        """The exports as ``actor`` may read them (401/403 here if not at all)."""
        return cls(
            services.store,
            services.projects,
            services.cases,
            services.synergy,
            services.layers,
            services.vocabulary,
            actor,
        )

    # ------------------------------------------------------------ selection

    def area(self, export: ExportFilter) -> BaseGeometry | None:
        """The area asked for, in the storage CRS: the bbox, the district, or both."""
        areas = []
        if export.projects.bbox:
            areas.append(self.reprojector.bbox_to_storage(export.projects.bbox))
        if export.district:
            districts = self.layers.districts(export.district)
            areas.append(shapely.union_all([d.geometry for d in districts]))
        if not areas:
            return None
        return areas[0] if len(areas) == 1 else shapely.intersection(*areas)

    def project_query(self, export: ExportFilter, area: BaseGeometry | None) -> ProjectQuery:
        # The service's own translation of the list filters, with the export's area.
        return replace(self.projects.query(export.projects), area=area)

    def project_columns(self, export: ExportFilter, area: BaseGeometry | None) -> ProjectColumns:
        return self.store.project_columns(self.project_query(export, area))

    def iterate_projects(self, export: ExportFilter) -> Iterator[Project]:
        """Matching projects page by page (bounded memory for GeoJSON and CSV).

        The filter is checked now, not on the first page: a streamed response must fail
        before its status line is sent.
        """
        query = self.project_query(export, self.area(export))

        def pages() -> Iterator[Project]:
            after = None
            while True:
                page = self.store.list_projects(replace(query, after_id=after, limit=PAGE))
                yield from page
                if len(page) < PAGE:
                    return
                after = page[-1].id

        return pages()

    def selected_cases(
        self,
        export: ExportFilter,
        project_ids: npt.NDArray[np.int64] | Iterable[int],
        area: BaseGeometry | None,
    ) -> list[CoordinationCase]:
        """The cases of the exported projects (see the module docstring), by id."""
        if export.cases == "none":
            return []
        statuses = () if export.cases == "all" else LIVE_STATUSES
        f = export.projects
        # The project filters narrow the cases in SQL first: a case involving an exported
        # project involves its organisation and department, and its window covers the
        # project's.
        query = CaseQuery(
            organisations=f.organisations,
            departments=f.departments,
            statuses=statuses,
            area=area,
            time_from=f.time_from,
            time_to=f.time_to,
        )
        cases = self.store.list_cases(query)
        if not cases:
            return []
        wanted = set(np.asarray(list(project_ids), dtype=np.int64).tolist())
        return [
            case
            for case in cases
            if _project_ref(case.finding.subject_a) in wanted
            or _project_ref(case.finding.subject_b) in wanted
        ]

    # ------------------------------------------------------------ GeoPackage

    def write_geopackage(self, export: ExportFilter, target: Path) -> ExportSummary:
        """Write everything the filter selects into one GeoPackage at ``target``.

        The file appears complete or not at all (written beside it, then renamed).
        """
        area = self.area(export)
        notes: list[str] = []
        columns = self.project_columns(export, area)
        layers = list(self._project_layers(columns))
        layers += self._case_layers(self.selected_cases(export, columns.id, area), notes)
        layers += self._thematic_layers(export, area, notes)
        if export.synergy:
            layers += self._synergy_layer(export, area, notes)
        with GeoPackage(target, crs=self._crs()) as gpkg:
            for layer in layers:
                gpkg.add(layer)
        return ExportSummary(target, dict(gpkg.written), tuple(notes))

    def _crs(self) -> str:
        epsg = self.reprojector.storage_crs.to_epsg()
        return f"EPSG:{epsg}" if epsg else self.reprojector.storage_crs.to_wkt()

    def _project_layers(self, columns: ProjectColumns) -> Iterator[Layer]:
        families = geometry_families(columns.wkb)
        departments = {key: d.de for key, d in self.vocabulary.departments.items()}
        for family in FAMILIES:
            rows = np.flatnonzero(families == family)
            de, en = FAMILY_LABELS[family]
            yield Layer(
                name=f"projects_{family}",
                family=family,
                wkb=columns.wkb[rows],
                columns=project_table(columns, rows),
                identifier=f"Maßnahmen ({de})",
                description=(
                    f"Geplante Maßnahmen aller Organisationen und Fachbereiche, {de} | "
                    f"Planned projects of all organisations and departments, {en}"
                ),
                style=project_qml(family, departments, PROJECT_ALIASES),
                fid=columns.id[rows],
            )

    def _case_layers(self, cases: Sequence[CoordinationCase], notes: list[str]) -> list[Layer]:
        geometries = np.array([c.finding.geometry for c in cases], dtype=object)
        families, geometries = _families(geometries)
        if (placeless := int((families == "").sum())) > 0:
            notes.append(f"{placeless} cases without an overlap geometry left out (see the CSV)")
        layers = []
        for family in FAMILIES:
            rows = np.flatnonzero(families == family)
            chosen = [cases[i] for i in rows]
            de, en = FAMILY_LABELS[family]
            layers.append(
                Layer(
                    name=f"cases_{family}",
                    family=family,
                    wkb=shapely.to_wkb(geometries[rows]),
                    columns=self._case_table(chosen),
                    identifier=f"Koordinierungsfälle ({de})",
                    description=(
                        f"Koordinierungsfälle: Überlappung zweier Vorhaben, {de} | "
                        f"Coordination cases: where two subjects meet, {en}"
                    ),
                    style=case_qml(family, RELATION_LABELS, CASE_ALIASES),
                    fid=np.array([c.id for c in chosen], dtype=np.int64),
                )
            )
        return layers

    def _case_table(self, cases: Sequence[CoordinationCase]) -> list[Column]:
        rows = [self._case_row(c) for c in cases]

        def values(name: str) -> list[Any]:
            return [r[name] for r in rows]

        table = [Column("id", np.array(values("id"), dtype=np.int64))]
        for name in (
            "rule",
            "rule_name",
            "relation",
            "severity",
            "status",
            "status_reason",
            "subject_a",
            "subject_b",
        ):
            table.append(_text(name, values(name)))
        table += [_whole(name, values(name)) for name in ("project_a", "project_b")]
        for name in ("organisations", "departments", "message_de", "message_en"):
            table.append(_text(name, values(name)))
        table += [_real(name, values(name)) for name in REAL_MEASURES]
        table += [_whole(name, values(name)) for name in WHOLE_MEASURES]
        table += [_dates(name, values(name)) for name in ("window_start", "window_end")]
        table.append(_whole("version", values("version"), np.int32))
        table += [_moments(name, values(name)) for name in ("created_at", "updated_at")]
        return table

    def _case_row(self, case: CoordinationCase) -> dict[str, Any]:
        """One case as flat values: the columns of the cases layer and of the CSV."""
        f = case.finding
        rule = self.cases.rule_by_id.get(f.rule_id)
        row: dict[str, Any] = {
            "id": case.id,
            "rule": f.rule_id,
            "rule_name": rule.name.de if rule else None,
            "relation": f.relation,
            "severity": f.severity,
            "status": case.status.value,
            "status_reason": word_reason(case.status_reason, "de") or None,
            "subject_a": f.subject_a.key,
            "subject_b": f.subject_b.key,
            "project_a": _project_ref(f.subject_a),
            "project_b": _project_ref(f.subject_b),
            "organisations": ", ".join(f.organisations),
            "departments": ", ".join(f.departments),
            "message_de": f.message.get("de"),
            "message_en": f.message.get("en"),
        }
        for name in (*REAL_MEASURES, *WHOLE_MEASURES):
            row[name] = f.measures.get(name)
        row |= {
            "window_start": f.window_start,
            "window_end": f.window_end,
            "version": case.version,
            "created_at": case.created_at,
            "updated_at": case.updated_at,
        }
        return row

    def _thematic_layers(
        self, export: ExportFilter, area: BaseGeometry | None, notes: list[str]
    ) -> list[Layer]:
        stored = {info.key for info in self.store.list_layers()}
        wanted = sorted(stored) if export.layers is None else list(export.layers)
        unknown = [key for key in wanted if key not in self.definitions]
        if unknown:
            raise BadRequest(
                f"unknown layer {', '.join(map(repr, unknown))}; known: "
                + ", ".join(sorted(self.definitions))
            )
        themes = {"drainage": 0, "green": 1, "base": 2}
        layers = []
        for key in sorted(wanted, key=lambda k: (themes.get(self.definitions[k].theme, 9), k)):
            if key not in stored:
                notes.append(f"layer {key} is not stored; left out")
                continue
            definition = self.definitions[key]
            features = self.store.layer_features(key, area)
            layers += _definition_layers(definition, features, notes)
        return layers

    def _synergy_layer(
        self, export: ExportFilter, area: BaseGeometry | None, notes: list[str]
    ) -> list[Layer]:
        bbox = self.reprojector.to_wgs84(area).bounds if area is not None else None
        try:
            result = self.synergy.compute(self.actor, cell_size=export.cell_size, bbox=bbox)
        except (BadRequest, Conflict) as exc:  # too many cells, or nothing stored to score
            if export.cell_size is not None and isinstance(exc, BadRequest):
                raise  # the cells asked for explicitly do not fit
            notes.append(f"synergy grid left out: {exc.detail}")
            return []
        order = np.argsort(result.rank, kind="stable")
        cells = result.cells[order]
        keep = np.ones(len(cells), dtype=bool) if area is None else shapely.intersects(area, cells)
        order, cells = order[keep], cells[keep]
        criteria = self.synergy.config.criteria
        table = [
            Column("rank", result.rank[order].astype(np.int32)),
            Column("score", result.score[order].astype(float)),
            Column("attention_area", result.attention[order].astype(bool)),
        ]
        aliases = {"rank": "Rang", "score": "Synergiewert", "attention_area": "Aufmerksamkeitsraum"}
        for c in criteria:
            table.append(Column(f"{c.key}_measure", result.measures[c.key][order].astype(float)))
            table.append(Column(f"{c.key}_utility", result.utilities[c.key][order].astype(float)))
            label = c.label.get("de", c.key)
            aliases[f"{c.key}_measure"] = f"{label} (Messwert)"
            aliases[f"{c.key}_utility"] = f"{label} (Nutzen)"
        return [
            Layer(
                name="synergy_grid",
                family="polygons",
                wkb=shapely.to_wkb(cells),
                columns=table,
                identifier="Flächenkulisse",
                description=(
                    "Flächenkulisse: Synergiewert je Zelle aus gewichteten Kriterien, beste "
                    "Zellen als Aufmerksamkeitsräume | Synergy grid: weighted score per cell, "
                    "the best cells marked as attention areas"
                ),
                style=synergy_qml(SCORE_CLASSES, aliases),
            )
        ]

    # ------------------------------------------------------------ GeoJSON and CSV

    def projects_geojson(self, export: ExportFilter) -> Iterator[str]:
        """The matching projects as one FeatureCollection, in pieces (the API's features)."""
        return _collection(self.projects.to_feature(p) for p in self.iterate_projects(export))

    def cases_geojson(self, export: ExportFilter) -> Iterator[str]:
        """The cases of the matching projects as one FeatureCollection (the API's features)."""
        cases = self._cases_of(export)
        return _collection(self.cases.to_json(c) for c in cases)

    def projects_csv(self, export: ExportFilter) -> Iterator[str]:
        """One row per project: its attributes, a lon/lat point on it and its WKT (lon/lat)."""
        return _csv(
            [*PROJECT_ALIASES, "lon", "lat", "wkt"],
            self._pages(self.iterate_projects(export), _project_row, lambda p: p.geometry),
        )

    def cases_csv(self, export: ExportFilter) -> Iterator[str]:
        """One row per case: the cases layer's columns, a lon/lat point and the WKT."""
        return _csv(
            [*CASE_ALIASES, "lon", "lat", "wkt"],
            self._pages(self._cases_of(export), self._case_row, lambda c: c.finding.geometry),
        )

    def _cases_of(self, export: ExportFilter) -> list[CoordinationCase]:
        area = self.area(export)
        ids = self.store.project_columns(self.project_query(export, area)).id
        return self.selected_cases(export, ids, area)

    def _pages(
        self,
        items: Iterable[Any],
        row: Callable[[Any], dict[str, Any]],
        geometry: Callable[[Any], BaseGeometry | None],
    ) -> Iterator[list[dict[str, Any]]]:
        """Rows with ``lon``, ``lat`` and ``wkt`` added, a page at a time (vectorised)."""
        page: list[Any] = []
        for item in items:
            page.append(item)
            if len(page) == PAGE:
                yield self._located(page, row, geometry)
                page = []
        if page:
            yield self._located(page, row, geometry)

    def _located(
        self,
        items: Sequence[Any],
        row: Callable[[Any], dict[str, Any]],
        geometry: Callable[[Any], BaseGeometry | None],
    ) -> list[dict[str, Any]]:
        shapes = np.array([geometry(i) for i in items], dtype=object)
        lonlat = shapely.transform(shapes, self.reprojector.coordinates_to_wgs84)
        inside = shapely.get_coordinates(shapely.point_on_surface(lonlat), include_z=False)
        placed = ~shapely.is_empty(lonlat) & ~shapely.is_missing(lonlat)
        wkt = shapely.to_wkt(lonlat, rounding_precision=COORDINATE_DECIMALS, trim=True)
        rows = []
        point = iter(inside.round(COORDINATE_DECIMALS).tolist())
        for item, has_place, text in zip(items, placed.tolist(), wkt.tolist(), strict=True):
            lon, lat = next(point) if has_place else (None, None)
            rows.append(row(item) | {"lon": lon, "lat": lat, "wkt": text})
        return rows


def _project_row(project: Project) -> dict[str, Any]:
    """A project's values as the API's properties name them, and its id (the CSV's row)."""
    return (
        {"id": project.id}
        | attributes_to_json(project.attributes)
        | {
            "version": project.version,
            "created_at": project.created_at,
            "created_by": project.created_by,
            "updated_at": project.updated_at,
            "updated_by": project.updated_by,
        }
    )


def _project_ref(subject: Subject) -> int | None:
    return int(subject.ref) if subject.kind == "project" else None


# --------------------------------------------------------------------------- columns


def project_table(columns: ProjectColumns, rows: npt.NDArray[np.intp]) -> list[Column]:
    """The projects layer's columns in the order and with the names of the API."""
    text = {name: Column(name, columns.text[name][rows]) for name in PROJECT_TEXT_COLUMNS}
    return [
        Column("id", columns.id[rows]),
        *(text[n] for n in ("title", "description", "organisation", "department")),
        *(text[n] for n in ("measure_type", "status")),
        Column("start", columns.start[rows]),
        Column("end", columns.end[rows]),
        text["contact"],
        Column("cost_eur", columns.cost_eur[rows]),
        text["external_id"],
        Column("version", columns.version[rows].astype(np.int32)),
        Column("created_at", columns.created_at[rows].astype("datetime64[ms]")),
        text["created_by"],
        Column("updated_at", columns.updated_at[rows].astype("datetime64[ms]")),
        text["updated_by"],
    ]


def _text(name: str, values: Sequence[Any]) -> Column:
    return Column(name, np.array([None if v is None else str(v) for v in values], dtype=object))


def _whole(name: str, values: Sequence[Any], dtype: type = np.int64) -> Column:
    """Integers; missing values masked (an integer column has no NaN)."""
    null = np.array([v is None for v in values], dtype=bool)
    numbers = np.array([0 if v is None else int(v) for v in values], dtype=dtype)
    return Column(name, numbers, null if null.any() else None)


def _real(name: str, values: Sequence[Any]) -> Column:
    return Column(name, np.array([np.nan if v is None else float(v) for v in values], dtype=float))


def _flags(name: str, values: Sequence[Any]) -> Column:
    null = np.array([v is None for v in values], dtype=bool)
    return Column(
        name, np.array([bool(v) for v in values], dtype=bool), null if null.any() else None
    )


def _dates(name: str, values: Sequence[Any]) -> Column:
    """Dates (``date`` or ISO text) as DATE columns, NaT where missing."""
    text = [
        "NaT" if v is None else (v.isoformat() if isinstance(v, date) else str(v)[:10])
        for v in values
    ]
    return Column(name, np.array(text, dtype="datetime64[D]"))


def _moments(name: str, values: Sequence[Any]) -> Column:
    """Aware datetimes as DATETIME columns in UTC (millisecond precision, as GeoPackage)."""
    naive = [None if v is None else v.astimezone(UTC).replace(tzinfo=None) for v in values]
    return Column(name, np.array(naive, dtype="datetime64[ms]"))


_ATTRIBUTE_COLUMNS: dict[str, Callable[[str, Sequence[Any]], Column]] = {
    "string": _text,
    "integer": _whole,
    "real": _real,
    "date": _dates,
    "boolean": _flags,
}


def _definition_layers(
    definition: LayerDefinition, features: Sequence[LayerFeature], notes: list[str]
) -> list[Layer]:
    """A thematic layer's features: one layer per declared geometry family, plus its derived
    geometry (a tree's root-protection zone) as a polygon layer of its own."""
    declared = {"Point": "points", "LineString": "lines", "Polygon": "polygons"}
    families_declared = [declared[t] for t in definition.geometry_types]
    geometries = np.array([f.geometry for f in features], dtype=object)
    families, geometries = _families(geometries)
    if (undeclared := int((~np.isin(families, families_declared)).sum())) > 0:
        notes.append(f"layer {definition.key}: {undeclared} features of another geometry left out")
    title, text = definition.title, definition.description
    description = f"{title.de}: {text.de} | {title.en}: {text.en}"
    layers = []
    for family in families_declared:
        rows = np.flatnonzero(families == family)
        split = len(families_declared) > 1
        de, _en = FAMILY_LABELS[family]
        layers.append(
            Layer(
                name=f"{definition.key}_{family}" if split else definition.key,
                family=family,
                wkb=shapely.to_wkb(geometries[rows]),
                columns=_attribute_table(definition, [features[i] for i in rows]),
                identifier=f"{title.de} ({de})" if split else title.de,
                description=description,
                style=layer_qml(definition, family),
                fid=np.array([features[i].id for i in rows], dtype=np.int64),
            )
        )
    derived = definition.derived
    if derived is not None:
        with_zone = [f for f in features if f.derived is not None]
        layers.append(
            Layer(
                name=f"{definition.key}_{derived.output}",
                family="polygons",
                wkb=shapely.to_wkb(np.array([f.derived for f in with_zone], dtype=object)),
                columns=_attribute_table(definition, with_zone),
                identifier=f"{title.de}: {derived.label.de}",
                description=f"{derived.label.de} ({title.de}) | {derived.label.en} ({title.en})",
                style=layer_qml(definition, "polygons"),
                fid=np.array([f.id for f in with_zone], dtype=np.int64),
            )
        )
    return layers


def _attribute_table(definition: LayerDefinition, features: Sequence[LayerFeature]) -> list[Column]:
    """The declared attributes with their declared types, in declaration order."""
    return [
        _ATTRIBUTE_COLUMNS[spec.type](spec.name, [f.attributes.get(spec.name) for f in features])
        for spec in definition.attributes
    ]


def _families(
    geometries: npt.NDArray[np.object_],
) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.object_]]:
    """Each geometry's family by its dimension; a collection (an overlap of a polygon and a
    line can be one) keeps its parts of the highest dimension. Missing or empty: ''."""
    geometries = geometries.copy()
    for index in np.flatnonzero(shapely.get_type_id(geometries) == 7):
        parts = shapely.get_parts(geometries[index])
        while (nested := shapely.get_type_id(parts) >= 4).any():
            parts = np.concatenate([parts[~nested], shapely.get_parts(parts[nested])])
        parts = parts[~shapely.is_empty(parts)]
        dimensions = shapely.get_dimensions(parts)
        top = parts[dimensions == dimensions.max()] if len(parts) else parts
        geometries[index] = shapely.union_all(top) if len(top) else None
    dimensions = shapely.get_dimensions(geometries)
    families = np.full(len(geometries), "", dtype="<U8")
    for dimension, family in enumerate(FAMILIES):
        families[(dimensions == dimension) & ~shapely.is_empty(geometries)] = family
    return families, geometries


# --------------------------------------------------------------------------- text formats


def _collection(features: Iterable[dict[str, Any]]) -> Iterator[str]:
    """A GeoJSON FeatureCollection as text pieces, one feature per line."""
    yield '{"type": "FeatureCollection", "features": ['
    separator = "\n"
    for feature in features:
        yield separator + json.dumps(feature, ensure_ascii=False)
        separator = ",\n"
    yield "\n]}\n"


def _csv(names: Sequence[str], pages: Iterable[list[dict[str, Any]]]) -> Iterator[str]:
    """CSV text (RFC 4180, UTF-8, comma, header row), a page of rows per piece."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(names), lineterminator="\r\n")
    writer.writeheader()
    yield buffer.getvalue()
    for page in pages:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows({k: _csv_value(v) for k, v in row.items()} for row in page)
        yield buffer.getvalue()


def _csv_value(value: Any) -> Any:
    """A cell as a spreadsheet should read it: dates as ISO text, whole numbers without
    ``.0``, and text that a spreadsheet would run as a formula neutralised (OWASP)."""
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return neutralise(value)


def write_text(target: Path, pieces: Iterable[str]) -> None:
    """Write text pieces to ``target`` completely or not at all (temporary file, rename)."""
    part = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    try:
        with part.open("w", encoding="utf-8", newline="") as handle:
            for piece in pieces:
                handle.write(piece)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
