"""The ``zugabe`` command: everything the web API does, through the same services."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import make_url

from zugabe.cli_accounts import audit, tokens, users
from zugabe.cli_checklist import checklist
from zugabe.cli_context import CliContext, pass_context
from zugabe.cli_good_practice import good_practice
from zugabe.cli_inbox import inbox
from zugabe.cli_mail import mail
from zugabe.cli_rules import rules
from zugabe.cli_store import store
from zugabe.domain.cases import LIVE_STATUSES
from zugabe.domain.rules import RELATIONS, SEVERITIES
from zugabe.errors import ZugabeError
from zugabe.io.layer_files import CsvOptions
from zugabe.io.report_tables import write_csv
from zugabe.services.demo import (
    create_demo_accounts,
    demo_actor,
    load_demo_layers,
    load_demo_projects,
)
from zugabe.services.demo_checklists import load_demo_checklists
from zugabe.services.demo_good_practice import load_demo_good_practice
from zugabe.services.layers import ImportReport
from zugabe.services.projects import LIST_FILTERS, ProjectFilter
from zugabe.services.query import parse_bbox, parse_mapping
from zugabe.services.strategies import CHARTS
from zugabe.storage.contract import CaseQuery


@click.group()
@click.option(
    "--instance",
    type=click.Path(file_okay=False, path_type=Path),
    help="Instance folder (default: ./instance or ZUGABE_INSTANCE_PATH).",
)
@click.option("--user", help="Your account: changes are made and recorded as it (must exist).")
@click.pass_context
def cli(ctx: click.Context, instance: Path | None, user: str | None) -> None:
    """ZUGABE: planning projects of a region on one map, with coordination."""
    overrides = {"instance_path": instance} if instance else {}
    ctx.obj = CliContext(overrides, user)


@cli.command()
@pass_context
def init(context: CliContext) -> None:
    """Create the instance folder and the store (migrating an existing one)."""
    with context.services() as services:
        context.warn_at_start(services)
        click.echo(
            f"store ready: {make_url(services.settings.store_url).render_as_string()} "
            f"(schema version {services.store.schema_version()})"
        )


@cli.command()
@click.option("--host", help="Address to listen on (default: setting host).")
@click.option("--port", type=int, help="Port (default: setting port).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Worker processes (default: setting workers).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    help="Request threads of each worker process (default: setting threads).",
)
@pass_context
def serve(
    context: CliContext,
    host: str | None,
    port: int | None,
    workers: int | None,
    threads: int | None,
) -> None:
    """Serve the web map and the API with gunicorn, a production pre-fork WSGI server."""
    from zugabe.web import create_app
    from zugabe.web.security import setup_access_log
    from zugabe.web.server import Server, check_address

    # Checked here, once, before any worker starts: settings, migrations, demo passwords.
    services = create_app(context.overrides).extensions["zugabe"]
    settings = services.settings
    try:
        context.warn_at_start(services)
    finally:
        services.close()  # each worker opens the store for itself after the fork
    host, port = host or settings.host, port or settings.port
    workers = workers or settings.workers
    threads = threads or settings.threads
    check_address(host, port)
    if settings.access_log:
        setup_access_log()  # the workers inherit it
    click.echo(
        f"ZUGABE serving on http://{host}:{port} with {workers} worker "
        f"process{'es' if workers > 1 else ''} of {threads} thread{'s' if threads > 1 else ''} "
        "(Ctrl-C stops)"
    )
    Server(context.overrides, host, port, workers, threads).run()


@cli.command()
@click.option(
    "--source",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Load this folder (e.g. sample_data) instead of generating the town anew.",
)
@pass_context
def demo(context: CliContext, source: Path | None) -> None:
    """Generate the demo town and load it: demo accounts (their passwords printed once),
    projects into an empty store, missing layers."""
    from zugabe.demo.town import write_town

    with context.services() as services, tempfile.TemporaryDirectory() as scratch:
        folder = source
        if folder is None:
            folder = Path(scratch)
            write_town(folder)
        created = create_demo_accounts(services)
        if created:
            click.echo("demo accounts (DEMO ONLY: these passwords are shown this once):")
            for account in created:
                click.echo(
                    f"  {account.username:<22} {account.password:<18} {account.role.value:<13} "
                    f"{account.display_name}"
                )
        actor = demo_actor(services)
        for key, count in load_demo_layers(services.layers, folder, actor).items():
            click.echo(f"demo layer {key}: {count} features")
        loaded = load_demo_projects(services.projects, folder, actor)
        if loaded:
            click.echo(f"demo town loaded: {loaded} projects from {folder}")
        else:
            click.echo("store already has projects; demo projects not loaded again")
        examples = load_demo_good_practice(services)
        if examples:
            click.echo(f"good practice: {examples} examples released (/good-practice)")
        filled = load_demo_checklists(services)
        if filled:
            click.echo(f"demo checklists: {filled} development plans answered")
        live = services.cases.list(actor, CaseQuery(statuses=LIVE_STATUSES, limit=1))[1]
        click.echo(f"coordination cases: {live} live")


@cli.group()
def projects() -> None:
    """List and export projects."""


def _filter_options(command: Any) -> Any:
    for name in reversed(LIST_FILTERS):
        command = click.option(
            f"--{name.replace('_', '-')}", name, help=f"Filter '{name}' as in the API."
        )(command)
    return command


@projects.command("list")
@_filter_options
@pass_context
def list_projects(context: CliContext, **filters: str | None) -> None:
    """Print matching projects as a table."""
    project_filter = ProjectFilter.from_params({k: v for k, v in filters.items() if v})
    with context.services() as services:
        rows = list(services.projects.iterate(context.actor(services, write=False), project_filter))
        for project in rows:
            a = project.attributes
            window = f"{a.start or '…'} – {a.end or '…'}"
            click.echo(
                f"{project.id:>6}  {a.organisation:<13} {a.department:<16} "
                f"{a.status.value:<18} {window:<25} {a.title}"
            )
        click.echo(f"{len(rows)} projects")


@projects.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["geojson"]), default="geojson", show_default=True
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File (default: stdout).",
)
@_filter_options
@pass_context
def export_projects(
    context: CliContext, fmt: str, output: Path | None, **filters: str | None
) -> None:
    """Export matching projects as an RFC 7946 GeoJSON FeatureCollection."""
    project_filter = ProjectFilter.from_params({k: v for k, v in filters.items() if v})
    with context.services() as services:
        features = [
            services.projects.to_feature(p)
            for p in services.projects.iterate(context.actor(services, write=False), project_filter)
        ]
    text = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", "utf-8")
        click.echo(f"{len(features)} projects written to {output}", err=True)


@cli.group()
def layers() -> None:
    """Import, list and remove thematic layers."""


def _file_options(command: Any) -> Any:
    """The options of reading a GIS file or CSV, shared by the layer and project imports."""
    options = [
        click.option("--source-layer", help="Layer in the file (GeoPackage, zip, ISYBAU part)."),
        click.option("--source-crs", help="CRS of the file when it has none, e.g. EPSG:31467."),
        click.option(
            "--map", "mappings", multiple=True, metavar="FIELD=ATTRIBUTE", help="Field mapping."
        ),
        click.option("--x-field", help="CSV: column with x / longitude."),
        click.option("--y-field", help="CSV: column with y / latitude."),
        click.option("--wkt-field", help="CSV: column with the geometry as WKT."),
        click.option("--delimiter", help="CSV: field delimiter (default: guessed)."),
        click.option("--decimal-comma/--decimal-point", default=None, help="CSV: number format."),
        click.option("--encoding", help="Text encoding (default: UTF-8, else Windows-1252)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@layers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--layer", "layer_key", required=True, help="Layer type key, e.g. sewer_sections.")
@click.option(
    "--accept-partial",
    is_flag=True,
    help="Store the accepted rows even when more than max_refused_share were refused.",
)
@click.option(
    "--organisation",
    help="The organisation responsible for the data (default: the --user account's).",
)
@_file_options
@pass_context
def import_layer(
    context: CliContext,
    file: Path,
    layer_key: str,
    accept_partial: bool,
    organisation: str | None,
    source_layer: str | None,
    source_crs: str | None,
    mappings: tuple[str, ...],
    **csv: Any,
) -> None:
    """Import FILE as the new version of a layer, printing what was accepted or refused."""
    mapping = parse_mapping(mappings)
    csv_options = CsvOptions(**csv)
    click.echo(f"reading and checking {file.name} …", err=True)
    with (
        context.services() as services,
        click.progressbar(length=1, label="writing", file=sys.stderr) as bar,
    ):

        def progress(count: int, total: int) -> None:
            bar.length = total
            bar.update(count)

        info, report = services.layers.import_file(
            file,
            layer_key,
            context.actor(services, write=True),
            source_layer=source_layer,
            source_crs=source_crs,
            mapping=mapping or None,
            csv_options=csv_options,
            progress=progress,
            accept_partial=accept_partial,
            organisation=organisation,
        )
    click.echo(format_report(report, info.version))


def format_report(report: ImportReport, version: int) -> str:
    """The import report as the CLI prints it."""
    lines = [
        f"layer {report.layer} version {version} from {report.source}"
        + (f" ({report.source_layer})" if report.source_layer else ""),
        f"  rows read {report.rows_read}: accepted {report.accepted} "
        f"(repaired {report.repaired}), refused {report.refused}",
        f"  source CRS {report.source_crs}; transformation: {report.transformation}"
        + (
            f" (accuracy {report.transformation_accuracy_m:g} m)"
            if report.transformation_accuracy_m is not None
            else ""
        ),
        "  fields: " + ", ".join(f"{s} → {a}" for s, a in report.field_mapping.items()),
    ]
    if report.unmatched_fields:
        lines.append("  not imported: " + ", ".join(report.unmatched_fields))
    lines += [f"  note: {note}" for note in report.notes]
    for title, rows, total in (
        ("refused", report.refused_rows, report.refused),
        ("repaired", report.repaired_rows, report.repaired),
    ):
        for row, reason in rows[:20]:
            lines.append(f"  {title} row {row}: {reason}")
        if total > 20:
            lines.append(f"  … {total - 20} more {title} rows (see GET /api/layers)")
    return "\n".join(lines)


@layers.command("list")
@pass_context
def list_layers(context: CliContext) -> None:
    """Print the stored layers."""
    with context.services() as services:
        for info in services.layers.list(context.actor(services, write=False)):
            click.echo(
                f"{info.key:<24} v{info.version:<3} {info.feature_count:>8} features  "
                f"{info.source}  {info.imported_at:%Y-%m-%d %H:%M} by {info.imported_by}"
            )


@layers.command("remove")
@click.argument("key")
@pass_context
def remove_layer(context: CliContext, key: str) -> None:
    """Remove a layer and its features."""
    with context.services() as services:
        services.layers.remove(key, context.actor(services, write=True))
        click.echo(f"layer {key} removed")


@layers.command("versions")
@click.argument("key")
@pass_context
def layer_versions(context: CliContext, key: str) -> None:
    """Print the versions of a layer on record, and which can be brought back."""
    with context.services() as services:
        for entry in services.layers.versions(context.actor(services, write=False), key):
            kept = "restorable" if entry["restorable"] else "metadata only"
            click.echo(
                f"v{entry['version']:<4} {entry['feature_count']:>8} features  "
                f"{entry['imported_at'][:16]} by {entry['imported_by']}  "
                f"{entry['source']}  ({kept})"
            )


@layers.command("rollback")
@click.argument("key")
@click.option("--version", "version", type=int, help="Version to bring back (default: previous).")
@pass_context
def rollback_layer(context: CliContext, key: str, version: int | None) -> None:
    """Bring back an earlier version of a layer as its new version; cases are recomputed."""
    with context.services() as services:
        info = services.layers.rollback(key, context.actor(services, write=True), version)
        click.echo(f"layer {key} is now version {info.version} ({info.feature_count} features)")


@cli.command()
@click.option("--project", "project_id", type=int, help="Check this project only.")
@click.option("--all", "everything", is_flag=True, help="Recompute every case (batch run).")
@pass_context
def detect(context: CliContext, project_id: int | None, everything: bool) -> None:
    """Find coordination cases: for one project or, with --all, for everything."""
    if (project_id is None) == (not everything):
        raise click.UsageError("give either --project ID or --all")
    with context.services() as services:
        actor = context.actor(services, write=True)
        if everything:
            run = services.cases.batch_run(actor)
        else:
            run = services.cases.recheck_project(actor, project_id)
    sync = run.sync
    click.echo(
        f"{run.findings} findings: {len(sync.created)} new cases, {len(sync.updated)} updated, "
        f"{len(sync.unchanged)} unchanged, {len(sync.reopened)} reopened, "
        f"{len(sync.obsoleted)} obsolete"
    )


@cli.command()
@click.option("--cell-size", type=float, help="Square cells of this size in metres.")
@click.option("--cells", "cells_layer", help="Use the polygons of this layer as cells.")
@click.option("--bbox", help="min_lon,min_lat,max_lon,max_lat (default: extent of the data).")
@click.option("--top", type=int, default=10, show_default=True, help="Cells to print.")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="GeoJSON file."
)
@pass_context
def synergy(
    context: CliContext,
    cell_size: float | None,
    cells_layer: str | None,
    bbox: str | None,
    top: int,
    output: Path | None,
) -> None:
    """Compute the synergy grid (Flächenkulisse) and print the best cells."""
    with context.services() as services:
        result = services.synergy.compute(
            context.actor(services, write=False),
            cell_size=cell_size,
            cells_layer=cells_layer,
            bbox=parse_bbox(bbox) if bbox else None,
        )
        collection = services.synergy.to_geojson(result)
    keys = [c["key"] for c in collection["criteria"]]
    click.echo(f"{len(result.cells)} cells, {int(result.attention.sum())} attention areas")
    click.echo("rank  score  attention  " + "  ".join(keys))
    for cell in collection["features"][:top]:
        p = cell["properties"]
        utilities = "  ".join(f"{p[k]['utility']:>{len(k)}.2f}" for k in keys)
        flag = "yes" if p["attention_area"] else "no"
        click.echo(f"{p['rank']:>4}  {p['score']:.3f}  {flag:<9}  {utilities}")
    if output is not None:
        output.write_text(json.dumps(collection, ensure_ascii=False) + "\n", "utf-8")
        click.echo(f"grid written to {output}", err=True)


# -- strategies dashboard (issue 15) -----------------------------------------------------


@cli.command()
@click.argument("charts", nargs=-1, type=click.Choice(CHARTS))
@click.option("--lang", type=click.Choice(["de", "en"]), default="de", show_default=True)
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for zugabe-strategies-<chart>.csv (default: every table on stdout).",
)
@pass_context
def strategies(
    context: CliContext, charts: tuple[str, ...], lang: str, output: Path | None
) -> None:
    """The strategies dashboard's tables as CSV (all four charts unless named), as
    /strategies/<chart>.csv gives them."""
    with context.services() as services:
        dashboard = services.strategies.dashboard(context.actor(services, write=False))
        tables = {
            key: services.strategies.table(dashboard.charts[key], lang) for key in charts or CHARTS
        }
    for key, (header, rows) in tables.items():
        text = write_csv(header, rows)
        if output is None:
            click.echo(f"# {key}")
            click.echo(text.decode("utf-8"), nl=False)
        else:
            output.mkdir(parents=True, exist_ok=True)
            (output / f"zugabe-strategies-{key}.csv").write_bytes(text)
            click.echo(f"{key} written to {output / f'zugabe-strategies-{key}.csv'}", err=True)


# -- reports (issue 6) -------------------------------------------------------------------


@cli.group()
def report() -> None:
    """Coordination reports as HTML pages to print, or their case lists as CSV/XLSX."""


def _report_options(command: Any) -> Any:
    """-o, --format, --lang: what every report command takes."""
    for option in (
        click.option("--lang", type=click.Choice(["de", "en"]), default="de", show_default=True),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["html", "csv", "xlsx"]),
            default="html",
            show_default=True,
            help="html: the report page; csv, xlsx: its case list.",
        ),
        click.option(
            "--output",
            "-o",
            type=click.Path(dir_okay=False, path_type=Path),
            help="File (default: stdout; for xlsx the file name of the web download).",
        ),
    ):
        command = option(command)
    return command


def _write_report(
    context: CliContext,
    build: Any,
    fmt: str,
    lang: str,
    output: Path | None,
    **filters: Any,
) -> None:
    """Build with ``build(reports, case_filter)``, render as the web does, write or print.

    ``filters`` (``--status``, ``--relation``, ``--severity``, ``--from``, ``--to``) are read
    by the same parser as the web's query parameters."""
    from zugabe.services.reports import ReportService
    from zugabe.web.reports import render_report

    params = {
        name: ",".join(value) if isinstance(value, tuple) else value
        for name, value in filters.items()
        if value
    }
    with context.services() as services:
        reports = ReportService(services, context.actor(services, write=False))
        built = build(reports, reports.case_filter(params))
        body, _mimetype = render_report(reports, built, lang, fmt)
        if output is None and fmt == "xlsx":
            output = Path(reports.filename(built, fmt))
    if output is None:
        click.echo(body.decode("utf-8"), nl=False)
    else:
        output.write_bytes(body)
        click.echo(f"{len(built.cases)} cases: report written to {output}", err=True)


def _case_filter_options(command: Any) -> Any:
    """The case filter of the organisation, department and area reports (``CaseFilter``)."""
    choices = {
        "status": [s.value for s in LIVE_STATUSES],
        "relation": list(RELATIONS),
        "severity": list(SEVERITIES),
    }
    for name, values in reversed(choices.items()):
        command = click.option(
            f"--{name}",
            name,
            type=click.Choice(values),
            multiple=True,
            help=f"Only cases of this {name} (repeat for any of several).",
        )(command)
    command = click.option("--to", "to", help="Period end, YYYY-MM-DD.")(command)
    return click.option("--from", "from", help="Period start, YYYY-MM-DD.")(command)


@report.command("project")
@click.argument("project_id", type=int)
@_report_options
@pass_context
def report_project(context: CliContext, project_id: int, **options: Any) -> None:
    """The fact sheet of project PROJECT_ID: data, map, timeline, live cases."""
    _write_report(context, lambda r, _filter: r.project(project_id), **options)


@report.command("organisation")
@click.argument("key")
@_case_filter_options
@_report_options
@pass_context
def report_organisation(context: CliContext, key: str, **options: Any) -> None:
    """Every live case involving organisation KEY: the open conflicts, then the rest."""
    _write_report(context, lambda r, chosen: r.organisation(key, chosen), **options)


@report.command("department")
@click.argument("key")
@_case_filter_options
@_report_options
@pass_context
def report_department(context: CliContext, key: str, **options: Any) -> None:
    """Every live case involving department KEY: the open conflicts, then the rest."""
    _write_report(context, lambda r, chosen: r.department(key, chosen), **options)


@report.command("area")
@click.option("--district", help="An id (district_id) of the districts layer.")
@click.option("--bbox", help="min_lon,min_lat,max_lon,max_lat (WGS84).")
@_case_filter_options
@_report_options
@pass_context
def report_area(
    context: CliContext, district: str | None, bbox: str | None, **options: Any
) -> None:
    """Projects and live cases of a district or a box (give one), in a period."""
    _write_report(
        context,
        lambda r, chosen: r.area(district=district, bbox=bbox, case_filter=chosen),
        **options,
    )


# -- exports (issue 6) -------------------------------------------------------------------


@cli.command("export")
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write; it appears only when complete.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["gpkg", "geojson", "csv"]),
    help="Default: from the file name (.gpkg, .geojson/.json, .csv).",
)
@click.option(
    "--data",
    type=click.Choice(["projects", "cases"]),
    default="projects",
    show_default=True,
    help="GeoJSON and CSV: what to export (a GeoPackage holds everything).",
)
@_filter_options
@click.option("--district", help="Number or name of a polygon of the districts layer.")
@click.option(
    "--cases",
    type=click.Choice(["live", "all", "none"]),
    default="live",
    show_default=True,
    help="Cases of the exported projects: live ones, all (obsolete too) or none.",
)
@click.option("--layers", help="GeoPackage: thematic layers, comma-separated, or 'none'.")
@click.option("--synergy/--no-synergy", default=True, help="GeoPackage: the synergy grid.")
@click.option("--cell-size", type=float, help="GeoPackage: synergy grid cell size in metres.")
@pass_context
def export(
    context: CliContext,
    output: Path,
    fmt: str | None,
    data: str,
    synergy: bool,
    cell_size: float | None,
    **filters: str | None,
) -> None:
    """Export a styled GeoPackage of everything, or projects or cases as GeoJSON or CSV."""
    from zugabe.services.exports import ExportFilter, ExportService, write_text

    suffixes = {".gpkg": "gpkg", ".geojson": "geojson", ".json": "geojson", ".csv": "csv"}
    fmt = fmt or suffixes.get(output.suffix.lower())
    if fmt is None:
        raise click.UsageError("give --format, or a file name ending in .gpkg, .geojson or .csv")
    params = {k: v for k, v in filters.items() if v} | {"synergy": str(synergy).lower()}
    if cell_size is not None:
        params["cell_size"] = str(cell_size)
    export_filter = ExportFilter.from_params(params)
    with context.services() as services:
        exports = ExportService.of(services, context.actor(services, write=False))
        if fmt == "gpkg":
            summary = exports.write_geopackage(export_filter, output)
            for name, count in summary.layers.items():
                click.echo(f"{name:<32} {count:>8}")
            for note in summary.notes:
                click.echo(f"note: {note}", err=True)
        else:
            write_text(output, getattr(exports, f"{data}_{fmt}")(export_filter))
    click.echo(f"written to {output}", err=True)


# -- project import (issue 6) ------------------------------------------------------------


@projects.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row and print the report only.")
@click.option(
    "--repair",
    is_flag=True,
    help="Make invalid geometries valid and GeometryCollections Multi types; say so per row.",
)
@_file_options
@pass_context
def import_projects(
    context: CliContext,
    file: Path,
    dry_run: bool,
    repair: bool,
    source_layer: str | None,
    source_crs: str | None,
    mappings: tuple[str, ...],
    **csv: Any,
) -> None:
    """Import projects from FILE: every row checked as in the API, all stored or none.

    A row with the external_id (or, from ZUGABE's export, the id) of a stored project
    updates that project; the report says which rows are new, changed or unchanged."""
    from zugabe.services.project_import import ProjectImporter, ProjectImportRefused

    with context.services() as services:
        try:
            report = ProjectImporter(services.projects).import_file(
                file,
                context.actor(services, write=True),
                dry_run=dry_run,
                source_layer=source_layer,
                source_crs=source_crs,
                mapping=parse_mapping(mappings) or None,
                csv_options=CsvOptions(**csv),
                repair=repair,
            )
        except ProjectImportRefused as refused:
            click.echo(refused.report.as_text())
            raise ZugabeError(refused.detail) from None  # the rows are listed above
    click.echo(report.as_text())


cli.add_command(users)
cli.add_command(tokens)
cli.add_command(audit)
cli.add_command(rules)
cli.add_command(checklist)
cli.add_command(good_practice)
cli.add_command(mail)
cli.add_command(inbox)
cli.add_command(store)


def main() -> None:
    """Entry point: user-facing errors become a message and exit code 2, not a traceback."""
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ZugabeError as exc:
        click.echo(f"zugabe: {exc.detail}", err=True)
        for error in exc.field_errors[:20]:
            click.echo(f"  {error.pointer}: {error.detail}", err=True)
        sys.exit(2)
