"""Another region works out of the box (issue 11, item 11).

A synthetic city near Karlsruhe, with a vocabulary of its own (no Emscher key in it), sets up
through the real ``zugabe`` command, imports its published project list and gets the cases of
a rule it defines itself. The shipped rules, which name the Emscher region's keys, are
reported inactive, not refused; a storage CRS that does not fit the region is warned about.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import ADMIN
from zugabe.cli import cli
from zugabe.config import load_settings
from zugabe.domain.rules import default_rules_path
from zugabe.io.crs import region_crs_warning
from zugabe.services import Services
from zugabe.storage.contract import CaseQuery, ProjectQuery

KARLSRUHE = (8.27, 48.94, 8.55, 49.09)
BRITAIN = (-6.0, 50.0, 2.0, 56.0)
CITY_ADMIN = "ada.admin"
SHIPPED_RULES = 17  # of which only the fallback note "projects_meet" names no vocabulary key

VOCABULARY = """
[measure_types.fahrbahnsanierung]
de = "Fahrbahnsanierung"
en = "Carriageway renewal"

[measure_types.gleiserneuerung]
de = "Gleiserneuerung"
en = "Tram track renewal"

[measure_types.fernwaermeleitung]
de = "Fernwärmeleitung"
en = "District heating line"

[departments.tiefbauamt]
de = "Tiefbauamt"
en = "Civil engineering office"
measure_types = ["fahrbahnsanierung"]

[departments.gleisbau]
de = "Gleisbau"
en = "Track works"
measure_types = ["gleiserneuerung"]

[departments.netze]
de = "Netzbetrieb"
en = "Network operation"
measure_types = ["fernwaermeleitung"]

[organisations.musterstadt]
de = "Stadt Musterstadt"
en = "City of Musterstadt"
kind = "city"
departments = ["tiefbauamt"]

[organisations.verkehrsbetriebe]
de = "Verkehrsbetriebe Musterstadt"
en = "Musterstadt transport company"
kind = "utility"
departments = ["gleisbau"]

[organisations.stadtwerke]
de = "Stadtwerke Musterstadt"
en = "Musterstadt public utilities"
kind = "utility"
departments = ["netze"]
"""

OWN_RULE = """
[[rules]]
id = "track_and_road_together"
name = { de = "Gleis- und Straßenbau bündeln", en = "Bundle track and road works" }
relation = "synergy"
severity = "high"
a = { measure_types = ["gleiserneuerung"] }
b = { departments = ["tiefbauamt"], measure_types = ["fahrbahnsanierung"] }
spatial = { test = "within", distance = 10 }
temporal = { test = "gap_months", months = 24 }
involve = { organisations = ["stadtwerke"] }
message.de = "{a.title} und {b.title} ({distance_m} m): Gleis und Fahrbahn zusammen erneuern."
message.en = "{a.title} and {b.title} ({distance_m} m): renew track and carriageway in one go."
"""


def roadworks_list() -> dict[str, object]:
    """The city's published roadworks, as its open-data portal has them: German column names
    and labels, dates as dd.mm.yyyy, WGS84 lon/lat."""

    def row(coordinates: list[list[float]], **properties: str) -> dict[str, object]:
        geometry = {"type": "LineString", "coordinates": coordinates}
        return {"type": "Feature", "geometry": geometry, "properties": properties}

    street = [[8.3950, 49.0095], [8.4020, 49.0100], [8.4100, 49.0105]]
    beside = [[lon, lat + 0.00003] for lon, lat in street]  # 3 m north of the tracks
    return {
        "type": "FeatureCollection",
        "features": [
            row(
                street,
                Maßnahme="Gleiserneuerung Kaiserstraße",
                Träger="Verkehrsbetriebe Musterstadt",
                Amt="Gleisbau",
                Art="Gleiserneuerung",
                Stand="In Planung",
                Beginn="01.03.2027",
                Ende="30.11.2027",
            ),
            row(
                beside,
                Maßnahme="Fahrbahnsanierung Kaiserstraße",
                Träger="Stadt Musterstadt",
                Amt="Tiefbauamt",
                Art="Fahrbahnsanierung",
                Stand="Idee",
                Beginn="01.04.2028",
                Ende="31.10.2028",
            ),
            row(
                [[8.3500, 48.9700], [8.3550, 48.9710]],
                Maßnahme="Fernwärme Rheinhafen",
                Träger="Stadtwerke Musterstadt",
                Amt="Netzbetrieb",
                Art="Fernwärmeleitung",
                Stand="Beschlossen",
                Beginn="01.05.2027",
                Ende="30.09.2027",
            ),
        ],
    }


def city(tmp_path: Path, **settings: object) -> Path:
    """An instance folder whose ``zugabe.toml`` sets the city's vocabulary and region."""
    vocabulary = tmp_path / "musterstadt-vocabulary.toml"
    vocabulary.write_text(VOCABULARY, "utf-8")
    instance = tmp_path / "instance"
    instance.mkdir()
    config = {"vocabulary_file": str(vocabulary), "region_bbox": list(KARLSRUHE)} | settings
    (instance / "zugabe.toml").write_text(
        "".join(f"{key} = {json.dumps(value)}\n" for key, value in config.items()), "utf-8"
    )
    return instance


def own_rules(tmp_path: Path) -> Path:
    """The shipped rules, copied as a region starts, with a rule of the city's own added."""
    path = tmp_path / "musterstadt-rules.toml"
    path.write_text(default_rules_path().read_text("utf-8") + OWN_RULE, "utf-8")
    return path


def zugabe(runner: CliRunner, instance: Path, *args: str) -> Result:
    result = runner.invoke(cli, ["--instance", str(instance), *args])
    assert result.exit_code == 0, result.output
    return result


def test_init_with_its_own_vocabulary_warns_of_the_inactive_shipped_rules(
    runner: CliRunner, tmp_path: Path
) -> None:
    instance = city(tmp_path)
    init = zugabe(runner, instance, "init")
    assert "store ready" in init.stdout
    assert init.stderr == (
        f"zugabe: warning: {SHIPPED_RULES - 1} rules inactive (keys missing from the "
        "vocabulary); see `zugabe rules check`\n"
    )
    check = zugabe(runner, instance, "rules", "check").stdout.splitlines()
    assert check[0].endswith(f"coordination.toml: {SHIPPED_RULES} rules, 1 active, 16 inactive")
    assert check[1] == "active:"
    assert check[2].split() == ["projects_meet", "note", "low", "Projects", "meet"]
    assert check[3] == "inactive (keys missing from the vocabulary):"
    assert len(check) == 4 + SHIPPED_RULES - 1
    bundle = next(line for line in check if "road_works_sewer_bundle" in line)
    assert bundle.endswith(
        "a.measure_types: road_renewal, street_redesign; "
        "b.measure_types: sewer_rehabilitation, sewer_construction, utility_line"
    )
    flood = next(line for line in check if "building_in_flood_zone" in line)
    assert flood.endswith(
        "a.measure_types: development_plan, building; "
        "involve.organisations: eglv; involve.departments: drainage"
    )


def test_a_city_imports_its_projects_and_gets_the_cases_of_its_own_rule(
    runner: CliRunner, tmp_path: Path
) -> None:
    instance = city(tmp_path, rules_file=str(own_rules(tmp_path)), storage_crs="EPSG:25832")
    zugabe(runner, instance, "init")
    check = zugabe(runner, instance, "rules", "check").stdout
    assert f"{SHIPPED_RULES + 1} rules, 2 active, 16 inactive" in check
    assert "track_and_road_together" in check.split("inactive (")[0]
    admin = ["users", "add", CITY_ADMIN, "--name", "Ada", "--role", "region_admin"]
    zugabe(runner, instance, *admin, "--no-password")
    roadworks = tmp_path / "baustellen.geojson"
    roadworks.write_text(json.dumps(roadworks_list(), ensure_ascii=False), "utf-8")
    imported = zugabe(runner, instance, "--user", CITY_ADMIN, "projects", "import", str(roadworks))
    assert "projects created: 3, updated: 0; coordination cases: 1 new" in imported.stdout

    services = Services.open(load_settings({"instance_path": instance}))
    try:
        projects = {p.attributes.title: p for p in services.store.list_projects(ProjectQuery())}
        cases, total = services.cases.list(ADMIN, CaseQuery(limit=10))
    finally:
        services.close()
    assert total == 1
    (case,) = cases
    found = case.finding
    assert found.rule_id == "track_and_road_together"
    assert {found.subject_a.ref, found.subject_b.ref} == {
        str(projects[title].id)
        for title in ("Gleiserneuerung Kaiserstraße", "Fahrbahnsanierung Kaiserstraße")
    }
    assert set(found.organisations) == {"verkehrsbetriebe", "musterstadt", "stadtwerke"}
    assert found.message["en"].startswith("Gleiserneuerung Kaiserstraße and Fahrbahnsanierung")
    track = projects["Gleiserneuerung Kaiserstraße"].attributes
    assert (track.organisation, track.department, track.measure_type, track.status.value) == (
        "verkehrsbetriebe",
        "gleisbau",
        "gleiserneuerung",
        "planning",
    )


def test_a_storage_crs_that_does_not_fit_is_warned_about_at_start(
    runner: CliRunner, tmp_path: Path
) -> None:
    """``zugabe serve`` warns before it listens (here it cannot: the port is taken)."""
    instance = city(
        tmp_path,
        region_bbox=list(BRITAIN),
        rules_file=str(own_rules(tmp_path)),
        access_log=False,  # leaves this process's logging as it is
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        served = runner.invoke(cli, ["--instance", str(instance), "serve", "--port", port])
    assert "cannot listen on" in str(served.exception)
    (rules, crs) = served.stderr.splitlines()
    assert rules.startswith("zugabe: warning: 16 rules inactive")
    assert crs.startswith("zugabe: warning: region_bbox (centre -2.00, 53.00) lies outside ")
    assert "fitting: EPSG:25830 (ETRS89 / UTM zone 30N)" in crs


def test_a_broken_rule_file_stops_with_one_problem_per_line(tmp_path: Path) -> None:
    """Through the real entry point: exit code 2, each problem on a line naming rule and field."""
    rules = tmp_path / "broken-rules.toml"
    shipped = default_rules_path().read_text("utf-8")
    rules.write_text(
        shipped.replace('relation = "synergy"', 'relation = "synergie"', 1)
        + OWN_RULE.replace("months = 24", "months = -1"),
        "utf-8",
    )
    instance = city(tmp_path, rules_file=str(rules))
    zugabe_command = Path(sys.executable).with_name("zugabe")
    result = subprocess.run(
        [str(zugabe_command), "--instance", str(instance), "rules", "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"zugabe: rule file {rules}: 2 problems",
        "  rule 'road_works_sewer_bundle': relation: 'synergie' is not one of conflict, "
        "synergy, note",
        "  rule 'track_and_road_together': temporal.months: must be a whole number 0 or more, "
        "got -1",
    ]


@pytest.mark.parametrize(
    ("bbox", "storage_crs", "fitting"),
    [
        (KARLSRUHE, "EPSG:25832", None),
        ((5.86, 50.32, 9.47, 52.53), "EPSG:25832", None),  # NRW, a little west of zone 32 too
        (BRITAIN, "EPSG:27700", None),
        (BRITAIN, "EPSG:25832", "EPSG:25830 (ETRS89 / UTM zone 30N)"),
        ((-74.3, 40.5, -73.7, 40.9), "EPSG:25832", "EPSG:32618 (WGS 84 / UTM zone 18N)"),
        ((150.9, -34.0, 151.3, -33.7), "EPSG:25832", "EPSG:32756 (WGS 84 / UTM zone 56S)"),
        # A CRS without an area of use (no EPSG code): nothing to compare with.
        (BRITAIN, "+proj=utm +zone=32 +ellps=GRS80 +units=m +type=crs", None),
    ],
)
def test_the_storage_crs_fits_the_region_or_the_fitting_one_is_named(
    bbox: tuple[float, float, float, float], storage_crs: str, fitting: str | None
) -> None:
    warning = region_crs_warning(bbox, storage_crs)
    if fitting is None:
        assert warning is None
    else:
        assert warning is not None
        assert f"storage_crs {storage_crs} (ETRS89 / UTM zone 32N: longitude 6 to 12.01" in warning
        assert f"fitting: {fitting}" in warning
