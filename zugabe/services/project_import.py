"""Bulk import of projects from the files departments keep: GeoPackage, Shapefile, GeoJSON, CSV.

The file is read by the layer importer's readers (``zugabe.io.layer_files``) and its fields
matched the same way (names and German/English aliases, ``--map``). Values are read the way
German files write them (vocabulary labels instead of keys, ``dd.mm.yyyy``, decimal comma),
then every row goes through the API's own checks (``read_properties``, ``read_geometry``,
``size_problem``): a file cannot store what a planner could not enter on the map, and the report
names each problem with its row and field. Applying is all or nothing: one bad row and nothing
is stored. After storing, the engine runs once over everything, and the report says how many
cases it created.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer

from zugabe.domain.accounts import Actor
from zugabe.domain.geometry_repair import is_collection, needs_repair, repaired
from zugabe.domain.layers import (
    AttributeSpec,
    LayerDefinition,
    Text,
    coerce_value,
    match_fields,
    normalize_name,
)
from zugabe.domain.project import EDITABLE_FIELDS, ProjectAttributes, Status, size_problem
from zugabe.domain.vocabulary import STATUS_LABELS, Vocabulary
from zugabe.errors import FieldError, InvalidInput
from zugabe.io.crs import choose_transformation
from zugabe.io.geojson import READ_ONLY_PROPERTIES, read_geometry, read_properties
from zugabe.io.layer_files import CsvOptions, SourceTable, option_name, read_source
from zugabe.services.import_matching import (
    CheckedRow,
    ImportPlan,
    RowProblem,
    moment,
    plan_import,
    whole_number,
)
from zugabe.services.layers import REPORT_ROWS_KEPT, crs_label, source_crs_of
from zugabe.services.projects import ProjectService
from zugabe.storage.contract import NewProject

# Formats a project list comes in; ISYBAU XML holds sewers, not projects.
PROJECT_FILE_SUFFIXES = (".gpkg", ".zip", ".shp", ".geojson", ".json", ".csv")
MULTI_TYPE_IDS = (4, 5, 6)  # MultiPoint, MultiLineString, MultiPolygon
REQUIRED = ("title", "organisation", "department", "measure_type")
VOCABULARY_FIELDS = ("organisation", "department", "measure_type", "status")
# Euros have two decimals, so "850.000" in a cost column is 850,000 written the German way.
_THOUSANDS_DOTS = re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})+$")


# Column names found in departments' project lists, per property, German and English.
# Compared as ``normalize_name`` does (case, umlauts, spaces and signs ignored).
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "title": (
        "Titel", "Bezeichnung", "Maßnahme", "Maßnahmentitel", "Projekt", "Projektname",
        "Vorhaben", "Name",
    ),
    "description": ("Beschreibung", "Erläuterung", "Bemerkung", "Bemerkungen", "Details"),
    "organisation": ("Organization", "Träger", "Maßnahmenträger", "Vorhabenträger", "Org"),
    "department": (
        "Fachbereich", "Amt", "Fachamt", "Abteilung", "Dienststelle", "Ressort", "Dept",
    ),
    "measure_type": ("Maßnahmenart", "Maßnahmentyp", "Art", "Typ", "Type", "Kategorie"),
    "status": ("Stand", "Planungsstand", "Projektstatus"),
    "start": ("Beginn", "Baubeginn", "Startdatum", "von", "Begin", "start_date"),
    "end": ("Ende", "Bauende", "Enddatum", "Fertigstellung", "bis", "end_date"),
    "contact": (
        "Kontakt", "Ansprechpartner", "Ansprechpartnerin", "Ansprechperson", "Zuständig",
        "E-Mail", "Email",
    ),
    "cost_eur": ("Kosten", "Kosten EUR", "Kostenschätzung", "Baukosten", "Cost", "Costs"),
    "external_id": (
        "Externe ID", "Fremd-ID", "Fremdschlüssel", "Maßnahmennummer", "Maßnahmen-Nr",
        "Vorgangsnummer", "Baustellennummer", "Baustellen-Nr",
    ),
}  # fmt: skip
_TYPES = {"start": "date", "end": "date", "cost_eur": "real"}

# The project's properties as a layer definition, so that ``match_fields`` and
# ``coerce_value`` of the layer import serve here too.
PROJECT_FIELDS = LayerDefinition(
    key="projects",
    title=Text("Maßnahmen", "Projects"),
    description=Text("Planungsmaßnahmen", "Planning projects"),
    theme="base",
    geometry_types=("Point", "LineString", "Polygon"),
    attributes=tuple(
        AttributeSpec(
            name, _TYPES.get(name, "string"), Text(name, name), aliases=FIELD_ALIASES[name]
        )
        for name in EDITABLE_FIELDS
    ),
)


@dataclass
class ProjectImportReport:
    """What an import found (dry run) or did (apply); the API returns it, the CLI prints it."""

    source: str
    source_layer: str | None
    source_crs: str
    transformation: str
    transformation_accuracy_m: float | None
    dry_run: bool
    rows_read: int = 0
    valid_rows: int = 0
    invalid_rows: int = 0
    field_mapping: dict[str, str] = field(default_factory=dict)
    unmatched_fields: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)  # the first REPORT_ROWS_KEPT
    repaired: list[tuple[int, str]] = field(default_factory=list)  # (row, what was done)
    new_rows: int = 0
    changed_rows: int = 0
    unchanged_rows: int = 0
    rows: list[tuple[int, str, int | None]] = field(default_factory=list)
    """(row, "new" | "changed" | "unchanged", project id) of the first REPORT_ROWS_KEPT rows."""
    stored: bool = False
    imported: int = 0
    updated: int = 0
    project_ids: list[int] = field(default_factory=list)
    cases_created: int = 0
    cases_updated: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_text(self) -> str:
        """The report as the CLI prints it."""
        accuracy = self.transformation_accuracy_m
        name = self.source + (f" ({self.source_layer})" if self.source_layer else "")
        lines = [
            f"{name}: {self.rows_read} rows, {self.valid_rows} fit, "
            f"{self.invalid_rows} with problems",
            f"  source CRS {self.source_crs}; transformation: {self.transformation}"
            + (f" (accuracy {accuracy:g} m)" if accuracy is not None else ""),
            "  fields: " + ", ".join(f"{s} → {a}" for s, a in self.field_mapping.items()),
        ]
        if self.unmatched_fields:
            lines.append("  not imported: " + ", ".join(self.unmatched_fields))
        lines += [f"  note: {note}" for note in self.notes]
        for problem in self.problems:
            column = f" ({problem.source_field})" if problem.source_field else ""
            lines.append(f"  row {problem.row}, {problem.field}{column}: {problem.detail}")
        if self.invalid_rows and len(self.problems) == REPORT_ROWS_KEPT:
            lines.append(f"  … only the first {REPORT_ROWS_KEPT} problems are listed")
        lines += [f"  row {row} repaired: {done}" for row, done in self.repaired]
        if not self.invalid_rows:
            would = "" if self.stored else "would be "
            lines.append(
                f"rows: {self.new_rows} {would}new, {self.changed_rows} {would}changed, "
                f"{self.unchanged_rows} unchanged"
            )
        if self.stored:
            lines.append(
                f"projects created: {self.imported}, updated: {self.updated}; coordination "
                f"cases: {self.cases_created} new, {self.cases_updated} updated"
            )
        elif self.dry_run:
            verdict = "nothing would be imported" if self.invalid_rows else "all rows fit"
            lines.append(f"dry run, nothing stored: {verdict}")
        else:
            lines.append("nothing imported")
        return "\n".join(lines)


class ProjectImportRefused(InvalidInput):
    """Rows with problems: nothing was stored. Carries the report, which lists them all."""

    def __init__(self, report: ProjectImportReport) -> None:
        first = report.problems[0]
        super().__init__(
            f"nothing was imported: {report.invalid_rows} of {report.rows_read} rows have "
            f"problems (first: row {first.row}, {first.field}: {first.detail})",
            field_errors=[
                FieldError(f"/rows/{p.row}/{p.field}", p.detail) for p in report.problems
            ],
        )
        self.report = report


class ProjectImporter:
    """Checks a file's rows as projects and stores them all, or none."""

    def __init__(self, projects: ProjectService) -> None:
        self.projects = projects
        self.lookups = vocabulary_lookups(projects.vocabulary)

    def import_file(
        self,
        path: Path,
        actor: Actor,
        *,
        dry_run: bool = False,
        source_layer: str | None = None,
        source_crs: str | None = None,
        mapping: Mapping[str, str] | None = None,
        csv_options: CsvOptions | None = None,
        repair: bool = False,
    ) -> ProjectImportReport:
        """Check every row; unless ``dry_run``, store all rows, or raise ``ProjectImportRefused``.

        The report of a dry run lists every problem and what each row would do (new,
        changed, unchanged: see ``import_matching``); an apply with any problem stores
        nothing. ``csv_options.encoding`` also serves files read by GDAL (old shapefiles).
        A row of an organisation (or department) the actor may not plan for is a problem
        of that row. ``repair`` makes invalid geometries valid and GeometryCollections
        their Multi type, and says so per row.
        """
        self.projects.policy.require_project_creator(actor)
        if path.suffix.lower() not in PROJECT_FILE_SUFFIXES:
            raise InvalidInput(
                f"{path.name}: projects are imported from "
                + ", ".join(PROJECT_FILE_SUFFIXES)
                + " files"
            )
        encoding = csv_options.encoding if csv_options else None
        table = read_source(
            path,
            source_layer,
            csv_options,
            encoding,
            limits=self.projects.settings,
            feature_ids=True,  # a GeoJSON export's Feature ids are the projects' numbers
        )
        if len(table) == 0:
            raise InvalidInput(f"{table.source} holds no rows")
        crs = source_crs_of(table, source_crs)
        transformation = choose_transformation(crs, self.projects.reprojector.storage_crs)
        match = match_fields(list(table.fields), PROJECT_FIELDS, mapping)
        missing = [name for name in REQUIRED if name not in match.mapping.values()]
        if missing:
            raise InvalidInput(
                f"{table.source}: no field for {', '.join(missing)}; fields in the file: "
                f"{', '.join(table.fields)}; map one with {option_name('map')} FIELD={missing[0]}",
                field_errors=[FieldError(f"/map/{name}", "no field for it") for name in missing],
            )
        report = ProjectImportReport(
            source=table.source,
            source_layer=table.source_layer,
            source_crs=crs_label(crs),
            transformation=transformation.description,
            transformation_accuracy_m=transformation.accuracy_m,
            dry_run=dry_run,
            rows_read=len(table),
            field_mapping=dict(match.mapping),
            notes=list(table.notes),
        )
        if transformation.warning:
            report.notes.append(transformation.warning)
        _unmatched(report, match.unmatched_source)
        rows = self._check_rows(
            table, match.mapping, transformation.transformer, actor, report, repair
        )
        policy = self.projects.policy
        plan = plan_import(
            rows,
            self.projects.store,
            lambda p: policy.may_write_project(
                actor, p.attributes.organisation, p.attributes.department
            ),
        )
        _report_plan(report, plan)
        if dry_run:
            return report
        if report.invalid_rows:
            raise ProjectImportRefused(report)
        created, updated, run = self.projects.add_checked(
            [draft for _row, draft in plan.new], actor, [change for _row, change in plan.changed]
        )
        report.stored = True
        report.imported, report.updated = len(created), len(updated)
        report.project_ids = [p.id for p in created + updated]
        if run is not None:
            report.cases_created = len(run.sync.created)
            report.cases_updated = len(run.sync.updated) + len(run.sync.reopened)
        return report

    def _check_rows(
        self,
        table: SourceTable,
        mapping: Mapping[str, str],
        transformer: Transformer,
        actor: Actor,
        report: ProjectImportReport,
        repair: bool,
    ) -> list[CheckedRow]:
        """Every row through the API's checks; problems go to the report, fits to drafts
        (with the ``id`` and ``version`` of an export, which name the project to update)."""
        columns = {source: table.fields[source].tolist() for source in mapping}
        bookkeeping = {
            name: table.fields[name].tolist()
            if name in table.fields and name not in mapping
            else [None] * len(table)
            for name in ("id", "version", "created_at")
        }
        geometries = self._to_storage(table.geometries, transformer, report)
        vocabulary = self.projects.vocabulary
        checked: list[CheckedRow] = []
        for index, row in enumerate(table.rows.tolist()):
            problems: list[RowProblem] = []
            attributes = self._attributes(
                {source: values[index] for source, values in columns.items()},
                mapping,
                row,
                problems,
            )
            geometry = self._geometry(
                table.geometries[index], geometries[index], row, problems, report, repair
            )
            if (
                attributes is not None
                and geometry is not None
                and (problem := size_problem(attributes.measure_type, geometry, vocabulary))
            ):
                problems.append(RowProblem(row, "geometry", problem.text()))
            if attributes is not None and not self.projects.policy.may_write_project(
                actor, attributes.organisation, attributes.department
            ):
                problems.append(
                    RowProblem(
                        row,
                        "organisation",
                        f"you may not plan for {attributes.organisation}/"
                        f"{attributes.department} (needs the role planner there)",
                        _source_of(mapping, "organisation"),
                    )
                )
            if problems:
                report.invalid_rows += 1
                room = REPORT_ROWS_KEPT - len(report.problems)
                report.problems += problems[: max(room, 0)]
            elif attributes is not None and geometry is not None:
                report.valid_rows += 1
                checked.append(
                    CheckedRow(
                        row,
                        NewProject(attributes, geometry, actor.username),
                        whole_number(bookkeeping["id"][index]),
                        whole_number(bookkeeping["version"][index]),
                        moment(bookkeeping["created_at"][index]),
                    )
                )
        return checked

    def _to_storage(
        self, geometries: np.ndarray, transformer: Transformer, report: ProjectImportReport
    ) -> np.ndarray:
        """All geometries in the storage CRS at once, 2D, one-part Multi types as single ones.

        GeoPackage layers and shapefiles force or blur the Multi types: a LineString
        exported to a MultiLineString layer comes back as the LineString it was.
        """
        present = ~(shapely.is_missing(geometries) | shapely.is_empty(geometries))
        out = np.full(len(geometries), None, dtype=object)
        out[present] = shapely.transform(
            geometries[present],
            lambda c: np.column_stack(transformer.transform(c[:, 0], c[:, 1])),
        )
        one_part = present & np.isin(shapely.get_type_id(out), MULTI_TYPE_IDS)
        one_part[one_part] = shapely.get_num_geometries(out[one_part]) == 1
        out[one_part] = shapely.get_geometry(out[one_part], 0)
        if z_rows := int(shapely.has_z(geometries[present]).sum()):
            report.notes.append(
                f"{z_rows} rows have heights (Z); ZUGABE plans in 2D, so Z was dropped"
            )
        if one_part.any():
            report.notes.append(
                f"{int(one_part.sum())} one-part Multi geometries taken as their single part"
            )
        return out

    def _attributes(
        self,
        raw: Mapping[str, Any],
        mapping: Mapping[str, str],
        row: int,
        problems: list[RowProblem],
    ) -> ProjectAttributes | None:
        """The row's values as properties, then the API's attribute checks."""
        properties: dict[str, Any] = {}
        for source, name in mapping.items():
            value, reason = self._value(name, raw[source])
            if reason is not None:
                problems.append(RowProblem(row, name, reason, source))
            elif value is not None:
                properties[name] = value
        attributes, errors = read_properties(properties, self.projects.vocabulary)
        sources = {name: source for source, name in mapping.items()}
        for error in errors:
            name = error.pointer.removeprefix("/properties/").split("/")[0]
            problems.append(RowProblem(row, name, error.detail, sources.get(name)))
        return attributes

    def _value(self, name: str, raw: Any) -> tuple[Any, str | None]:
        """One source value as the API takes it: keys for labels, ISO dates, numbers."""
        if name == "cost_eur" and isinstance(raw, str) and _THOUSANDS_DOTS.match(raw.strip()):
            raw = raw.strip().replace(".", "")
        spec = PROJECT_FIELDS.attribute(name)
        value, reason = coerce_value(spec, raw)
        if reason is not None:
            return None, reason.removeprefix(f"{name}: ")
        if name in VOCABULARY_FIELDS and value is not None:
            return self.lookups[name].get(normalize_name(str(value)), value), None
        return (value.isoformat() if spec.type == "date" and value else value), None

    def _geometry(
        self,
        source: shapely.Geometry | None,
        stored: shapely.Geometry | None,
        row: int,
        problems: list[RowProblem],
        report: ProjectImportReport,
        repair: bool,
    ) -> shapely.Geometry | None:
        """The storage geometry, if its lon/lat form passes the API's geometry checks;
        with ``repair``, an invalid one or a GeometryCollection repaired first."""
        if stored is None:
            problems.append(RowProblem(row, "geometry", "geometry is required"))
            return None
        if not np.isfinite(shapely.get_coordinates(stored)).all():
            finite_source = np.isfinite(shapely.get_coordinates(source)).all()
            problems.append(
                RowProblem(
                    row,
                    "geometry",
                    "coordinates cannot be transformed to the storage CRS"
                    if finite_source
                    else "coordinates are not finite numbers (NaN or infinite)",
                )
            )
            return None
        if needs_repair(stored):
            fixed, done = repaired(stored)
            if not repair or fixed is None:
                detail = (
                    done
                    if fixed is None
                    else f"{_unrepaired(stored)}; {option_name('repair')} can fix it"
                )
                problems.append(RowProblem(row, "geometry", detail))
                return None
            stored = fixed
            report.repaired.append((row, done))
        lonlat = self.projects.reprojector.to_wgs84(stored)
        checked, errors = read_geometry(json.loads(shapely.to_geojson(lonlat)), self.projects.rules)
        problems += [RowProblem(row, "geometry", e.detail) for e in errors]
        return stored if checked is not None else None


def _unrepaired(geometry: shapely.Geometry) -> str:
    """What is wrong with a geometry that ``repaired`` could fix."""
    if is_collection(geometry):
        return "a GeometryCollection is not supported"
    return f"geometry is not valid: {shapely.is_valid_reason(geometry)}"


def _report_plan(report: ProjectImportReport, plan: ImportPlan) -> None:
    """The plan's counts, rows and problems into the report."""
    report.new_rows, report.changed_rows = len(plan.new), len(plan.changed)
    report.unchanged_rows = len(plan.unchanged)
    actions = [
        *((row, "new", None) for row, _draft in plan.new),
        *((row, "changed", change.current.id) for row, change in plan.changed),
        *((row, "unchanged", project.id) for row, project in plan.unchanged),
    ]
    report.rows = sorted(actions)[:REPORT_ROWS_KEPT]
    if plan.problems:
        report.valid_rows -= len(plan.problems)
        report.invalid_rows += len(plan.problems)
        room = max(REPORT_ROWS_KEPT - len(report.problems), 0)
        report.problems = sorted(report.problems + plan.problems[:room], key=lambda p: p.row)
    if plan.unknown_ids:
        report.notes.append(
            f"{plan.unknown_ids} rows carry an id of no project here (another instance's "
            "export, or another system's numbers): they become new projects"
        )


def vocabulary_lookups(vocabulary: Vocabulary) -> dict[str, dict[str, str]]:
    """Per vocabulary field: normalised key or German/English label → key.

    Parts of a label with a slash count too ("Tiefbau" of "Straßenbau/Tiefbau"), unless two
    keys share them.
    """

    def lookup(terms: Iterable[tuple[str, tuple[str, ...]]]) -> dict[str, str]:
        table: dict[str, str] = {}
        parts: dict[str, set[str]] = {}
        for key, labels in terms:
            for label in (key, *labels):
                table.setdefault(normalize_name(label), key)
                for part in label.split("/"):
                    parts.setdefault(normalize_name(part), set()).add(key)
        for part, keys in parts.items():
            if len(keys) == 1 and part:
                table.setdefault(part, keys.pop())
        return table

    return {
        "organisation": lookup((o.key, (o.de, o.en)) for o in vocabulary.organisations.values()),
        "department": lookup((d.key, (d.de, d.en)) for d in vocabulary.departments.values()),
        "measure_type": lookup((m.key, (m.de, m.en)) for m in vocabulary.measure_types.values()),
        "status": lookup((s.value, tuple(STATUS_LABELS[s].values())) for s in Status),
    }


def _unmatched(report: ProjectImportReport, unmatched: list[str]) -> None:
    """List fields that feed nothing; an export's bookkeeping fields only as one note."""
    bookkeeping = [name for name in unmatched if name in (*READ_ONLY_PROPERTIES, "fid")]
    report.unmatched_fields = [name for name in unmatched if name not in bookkeeping]
    if "id" in bookkeeping:
        report.notes.append(
            "rows are matched to projects by 'id' and 'created_at' (an export of this "
            "instance) unless they carry an external_id; a row whose 'version' differs from "
            "the stored one is refused"
        )
    if ignored := [name for name in bookkeeping if name not in ("id", "version")]:
        report.notes.append(f"ignored {', '.join(ignored)} (an export's bookkeeping)")


def _source_of(mapping: Mapping[str, str], name: str) -> str | None:
    """The file's column mapped to a project property, if any."""
    return next((source for source, target in mapping.items() if target == name), None)
