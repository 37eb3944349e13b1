"""Benchmark: exporting 100,000 projects to GeoPackage, against ``ogr2ogr`` on the same data.

Target (issue 6, deliverable 5): the export takes at most 1.5 × what ``ogr2ogr`` needs to
convert the same rows and columns into a GeoPackage — the practical floor, since both end
in GDAL's GeoPackage writer.

The store is the embedded SQLite store in a temporary instance folder, filled with the
projects of the seeded synthetic region of ``bench_detection.py`` (same generator and
``--seed``, no layer features; generating and storing are printed, not measured). The
export measured is the whole path a user triggers with ``zugabe export -o x.gpkg`` or
``GET /api/export.gpkg``: ``ExportService.write_geopackage`` with no filter — reading the
projects from the store, splitting them into ``projects_points/lines/polygons``, writing
the layers (spatial index included), the (empty) case layers and the QGIS styles, and
moving the file into place. No layers are stored, so there is no synergy grid.

The baseline, in the same run, is ``ogr2ogr -f GPKG out.gpkg source -nlt PROMOTE_TO_MULTI``
(Debian's ``gdal-bin``) converting a source file holding the same projects with the same
columns (the export's own fid = project id, and every attribute column), written
beforehand (not measured) from the store. Two sources are timed: FlatGeobuf (the fastest
format GDAL reads; it has no DATE type, so ``start``/``end`` arrive as DateTime) and
GeoPackage (an SQLite file with WKB geometries, like the store). The ratio printed is
against the faster of the two. Each of the three is run ``--rounds`` times, interleaved,
and the best time counts: the least disturbed by whatever else the machine does.

    .venv/bin/python bench/bench_export.py                  # 100,000 projects
    .venv/bin/python bench/bench_export.py --quick          # 10,000 projects
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyogrio
from bench_detection import synthetic_region
from pyogrio.raw import write

from zugabe.config import load_settings
from zugabe.domain.accounts import Actor, Role
from zugabe.services import Services
from zugabe.services.exports import ExportFilter, ExportService, project_table
from zugabe.storage.contract import NewProject, ProjectQuery

TARGET = 1.5
# Who exports: a region admin (reads everything), as a script's system actor.
ACTOR = Actor.system("bench", roles=frozenset({Role.REGION_ADMIN}))


def write_source(services: Services, path: Path, driver: str) -> None:
    """The stored projects, same columns as the export's projects layers, as one layer."""
    columns = services.store.project_columns(ProjectQuery())
    table = project_table(columns, np.arange(len(columns)))
    write(
        str(path),
        columns.wkb,
        [columns.id, *(c.values for c in table)],
        ["fid", *(c.name for c in table)],
        layer="projects",
        driver=driver,
        geometry_type="Unknown",
        crs=services.settings.storage_crs,
        # GeoPackage 1.2: what the Debian GDAL reads without a warning (as the export).
        **({"SPATIAL_INDEX": "NO"} if driver == "FlatGeobuf" else {"VERSION": "1.2"}),
    )


def best_of(rounds: int, runs: dict[str, Callable[[], None]]) -> dict[str, list[float]]:
    """Each run ``rounds`` times, interleaved; the times of each."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="10,000 projects")
    args = parser.parse_args()
    if args.quick:
        args.projects = 10_000
    ogr2ogr = shutil.which("ogr2ogr")
    if ogr2ogr is None:
        raise SystemExit("ogr2ogr is missing: install Debian's gdal-bin (make system-packages)")
    version = subprocess.run([ogr2ogr, "--version"], capture_output=True, text=True).stdout

    with tempfile.TemporaryDirectory(prefix="zugabe-bench-") as scratch:
        folder = Path(scratch)
        services = Services.open(load_settings({"instance_path": folder / "instance"}))
        started = time.perf_counter()
        projects, _layers = synthetic_region(
            args.seed, args.projects, 0, services.vocabulary, services.layers.definitions
        )
        generated = time.perf_counter() - started
        started = time.perf_counter()
        services.store.add_projects(NewProject(p.attributes, p.geometry, "bench") for p in projects)
        stored = time.perf_counter() - started
        del projects
        print(
            f"store: {args.projects:,} projects (generated {generated:.1f} s, "
            f"stored {stored:.1f} s; not measured)"
        )
        sources = {"FlatGeobuf": folder / "source.fgb", "GPKG": folder / "source.gpkg"}
        for driver, path in sources.items():
            write_source(services, path, driver)
        exports = ExportService.of(services, ACTOR)
        target = folder / "export.gpkg"
        baseline = folder / "ogr2ogr.gpkg"

        def export() -> None:
            exports.write_geopackage(ExportFilter(), target)

        def convert(source: Path) -> Callable[[], None]:
            def run() -> None:
                baseline.unlink(missing_ok=True)
                command = [ogr2ogr, "-f", "GPKG", str(baseline), str(source)]
                # The fid column sets the feature ids from FlatGeobuf; a GeoPackage has its own.
                keep = ["-preserve_fid"] if source.suffix == ".gpkg" else []
                subprocess.run([*command, "-nlt", "PROMOTE_TO_MULTI", *keep], check=True)

            return run

        times = best_of(
            args.rounds,
            {
                "export": export,
                "ogr2ogr from FlatGeobuf": convert(sources["FlatGeobuf"]),
                "ogr2ogr from GeoPackage": convert(sources["GPKG"]),
            },
        )
        written = sum(
            pyogrio.read_info(target, layer=name)["features"]
            for name in ("projects_points", "projects_lines", "projects_polygons")
        )
        converted = pyogrio.read_info(baseline, layer="projects")
        assert written == converted["features"] == args.projects, (written, converted)
        ours = pyogrio.read_info(target, layer="projects_lines")
        assert list(ours["fields"]) == list(converted["fields"]), (ours, converted)
        services.close()

    print(
        f"ogr2ogr: {version.strip()}; pyogrio {pyogrio.__version__} with GDAL "
        f"{pyogrio.__gdal_version_string__}"
    )
    print(f"{args.rounds} rounds, best and median:")
    for name, values in times.items():
        print(f"    {name:<26} {min(values):6.2f} s   (median {np.median(values):.2f} s)")
    floor = min(min(times[n]) for n in times if n != "export")
    ratio = min(times["export"]) / floor
    print(
        f"export / ogr2ogr (faster source): {ratio:.2f}x  (target <= {TARGET}x: "
        f"{'reached' if ratio <= TARGET else 'NOT reached'})"
    )


if __name__ == "__main__":
    main()
