"""Reports contain what they claim: every case, a map that shows them, the timeline, the lists.

The demo town is loaded once per module; each test works on a copy of its store, so a test
that renames or deletes a project does not change what the next one sees.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from shapely.geometry import Point, Polygon

from tests.conftest import ADMIN
from zugabe.cli import cli
from zugabe.domain.accounts import Actor, Role
from zugabe.domain.cases import CaseStatus, CoordinationCase
from zugabe.io.report_graphics import (
    Bar,
    Shape,
    render_map,
    render_timeline,
    shared_period,
)
from zugabe.io.report_tables import neutralise
from zugabe.services import Services
from zugabe.services.reports import LIVE_STATUSES, SEVERITY_ORDER, case_order
from zugabe.storage.contract import CaseQuery, LayerFeature, ProjectQuery
from zugabe.web import create_app

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
SVG = "{http://www.w3.org/2000/svg}"
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance folder with the demo town (layers, projects, cases), made once."""
    instance = tmp_path_factory.mktemp("reports") / "instance"
    args = ["--instance", str(instance), "demo", "--source", str(SAMPLE_DATA)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return instance


@pytest.fixture
def instance_path(demo_template: Path, tmp_path: Path) -> Path:
    """conftest's ``app`` and ``client`` run on a copy of the demo town."""
    instance = tmp_path / "instance"
    shutil.copytree(demo_template, instance)
    return instance


@pytest.fixture
def app(instance_path: Path) -> Iterator[Flask]:
    """conftest's ``app`` as a demo instance: the demo accounts still have demo passwords."""
    app = create_app({"instance_path": instance_path, "demo_instance": True})
    app.testing = True
    yield app
    app.extensions["zugabe"].close()


@pytest.fixture
def services(app: Flask) -> Services:
    return app.extensions["zugabe"]


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, in document order."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def find(self, tag: str, css_class: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and css_class in a.get("class", "").split()]


def svg(html: str, css_class: str) -> ET.Element:
    """The inline SVG of a page with this class, parsed as XML (it must be well-formed)."""
    match = re.search(rf'<svg [^>]*class="{css_class}".*?</svg>', html, re.S)
    assert match, f"no <svg class={css_class}>"
    return ET.fromstring(match[0])


def page(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def live_cases(services: Services, **query: object) -> list[CoordinationCase]:
    return services.store.list_cases(CaseQuery(statuses=LIVE_STATUSES, **query))  # type: ignore[arg-type]


def partners(cases: list[CoordinationCase], project_id: int | None = None) -> set[int]:
    """Projects that meet another project in these cases."""
    ids = set()
    for case in cases:
        a, b = case.finding.subject_a, case.finding.subject_b
        if a.kind == b.kind == "project":
            ids |= {int(a.ref), int(b.ref)}
    return ids | ({project_id} if project_id is not None else set())


def district(services: Services, ident: str) -> LayerFeature:
    return next(
        f
        for f in services.store.layer_features("districts")
        if f.attributes["district_id"] == ident
    )


def busiest_project(services: Services) -> int:
    """The demo project with the most live cases that meets other projects too."""
    counts: dict[int, int] = {}
    for case in live_cases(services):
        ref = case.finding.subject_a
        counts[int(ref.ref)] = counts.get(int(ref.ref), 0) + 1
    ranked = sorted(counts, key=lambda i: -counts[i])
    return next(i for i in ranked if len(partners(services.cases.of_project(i))) > 1)


# ------------------------------------------------------------------------ fact sheet


def test_fact_sheet_lists_every_live_case_of_the_project(client: FlaskClient, services: Services):
    project_id = busiest_project(services)
    cases = services.cases.of_project(project_id)
    assert len(cases) >= 5
    html = page(client, f"/reports/projects/{project_id}")
    rows = Tags(html).find("tr", "case")
    assert {(int(r["data-case"]), r["data-rule"]) for r in rows} == {
        (c.id, c.finding.rule_id) for c in cases
    }
    assert len(rows) == len(cases)
    project = services.projects.get(ADMIN, project_id)
    assert "Projektkennblatt" in html and project.attributes.title in html
    for rule in {c.finding.rule_id for c in cases}:
        assert services.cases.rule_by_id[rule].name.de in html
    assert "Straßen- und Kanalbau bündeln" in page(client, "/reports/projects/1")
    assert "Bundle road and sewer works" in page(client, "/reports/projects/1?lang=en")


def test_fact_sheet_map_draws_the_project_and_every_overlap(
    client: FlaskClient, services: Services
):
    project_id = busiest_project(services)
    cases = services.cases.of_project(project_id)
    picture = svg(page(client, f"/reports/projects/{project_id}"), "report-map")
    _x, _y, width, height = (float(v) for v in picture.attrib["viewBox"].split())
    paths = list(picture.iter(f"{SVG}path"))
    subject = [p for p in paths if p.get("data-project") == str(project_id)]
    assert subject and "subject" in subject[0].attrib["class"].split()
    drawn_cases = {p.get("data-case") for p in paths if p.get("data-case")}
    assert drawn_cases == {str(c.id) for c in cases if c.finding.geometry is not None}
    for other in partners(cases) - {project_id}:
        assert any(p.get("data-project") == str(other) for p in paths)
    points = [
        (float(x), float(y))
        for p in paths
        for x, y in re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", p.attrib["d"])
    ]
    assert len(points) > 50
    assert all(-10 <= x <= width + 10 and -10 <= y <= height + 10 for x, y in points)
    assert picture.find(f"{SVG}g[@class='scale-bar']") is not None
    assert picture.find(f"{SVG}g[@class='north-arrow']") is not None
    assert any(p.get("class") == "street" for p in paths)  # the background is drawn


def test_fact_sheet_timeline_has_a_bar_per_project_that_meets(
    client: FlaskClient, services: Services
):
    project_id = busiest_project(services)
    expected = partners(services.cases.of_project(project_id), project_id)
    timeline = svg(page(client, f"/reports/projects/{project_id}"), "report-timeline")
    bars = [r for r in timeline.iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert {int(b.attrib["data-project"]) for b in bars} == expected
    assert bars[0].attrib["data-project"] == str(project_id)  # its own bar first
    assert any(r.get("class") == "overlap" for r in timeline.iter(f"{SVG}rect"))


def test_print_stylesheet_and_no_script(client: FlaskClient):
    response = client.get("/reports/projects/1")
    html = response.get_data(as_text=True)
    assert "@media print" in html and "size: A4" in html and "break-before: page" in html
    assert "<script" not in html
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


# ------------------------------------------------------------------------ organisation


def coordinator(organisation: str) -> Actor:
    """A coordinator of ``organisation``, to vote for it (the desk's one vote each)."""
    return Actor(
        f"{organisation}.coordinator",
        f"Coordinator {organisation}",
        organisation=organisation,
        roles=frozenset({Role.COORDINATOR}),
        via="system",
    )


def agree(services: Services, case_id: int, text: str = "Gemeinsam bauen") -> None:
    """Propose a decision on the case and have every organisation involved agree to it."""
    services.desk.propose(case_id, "bundle_works", text, [], ADMIN, None)
    case = services.cases.get(ADMIN, case_id)
    for organisation in case.finding.organisations:
        services.desk.vote(case_id, "agree", "", coordinator(organisation))


def split_page(html: str) -> tuple[list[int], list[dict[str, str]]]:
    """The case ids of the leading section (before the map), and the rows of the case list."""
    lead, rest = html.split('<section class="cases">')
    assert lead.index('id="lead-action"') < lead.index('class="report-map"')
    return [int(r["data-case"]) for r in Tags(lead).find("tr", "case")], Tags(rest).find(
        "tr", "case"
    )


def urgency(case: CoordinationCase, services: Services) -> tuple[date, int]:
    """The earlier start of the case's two subjects (layer features have none), severity."""
    starts = []
    for subject in (case.finding.subject_a, case.finding.subject_b):
        if subject.kind == "project":
            project = services.store.get_project(int(subject.ref))
            assert project is not None
            starts.append(project.attributes.start or date.max)
    return min(starts, default=date.max), SEVERITY_ORDER.index(case.finding.severity)


@pytest.mark.parametrize("kind", ["organisations", "departments"])
def test_case_report_lists_exactly_the_live_cases_involving_it(
    client: FlaskClient, services: Services, kind: str
):
    """The open conflicts lead, most urgent first; the other cases follow by severity."""
    key = "herne" if kind == "organisations" else "drainage"
    query = {"organisations": (key,)} if kind == "organisations" else {"departments": (key,)}
    live = CaseQuery(**query, statuses=LIVE_STATUSES)  # type: ignore[arg-type]
    everything, _count = services.cases.list(ADMIN, live)  # the finished projects' are obsolete
    conflicts = [c for c in everything if c.finding.relation == "conflict"]
    # A reviewer takes one conflict into coordination (it still needs action); another is
    # agreed by every organisation involved (it no longer does: it moves to the agreements).
    services.desk.change_status(conflicts[0].id, "in_coordination", ADMIN, None)
    agree(services, conflicts[1].id)

    html = page(client, f"/reports/{kind}/{key}")
    lead, rows = split_page(html)
    needing = [c for c in conflicts if c.id != conflicts[1].id]
    assert set(lead) == {c.id for c in needing} | {conflicts[1].id} and conflicts[0].id in lead
    by_id = {c.id: c for c in everything}
    ranks = [urgency(by_id[i], services) for i in lead if i != conflicts[1].id]
    assert ranks == sorted(ranks) and len(set(r[0] for r in ranks)) > 1
    agreed = html[html.index('id="lead-agreed"') : html.index('class="report-map"')]
    assert f'data-case="{conflicts[1].id}"' in agreed and "Gemeinsam bauen" in agreed

    rest = sorted((c for c in everything if c.id not in lead), key=case_order)
    assert [int(r["data-case"]) for r in rows] == [c.id for c in rest]
    severities = [r["data-severity"] for r in rows]
    assert severities == sorted(severities, key=SEVERITY_ORDER.index)
    starts = {c.id: c.finding.window_start or date.max for c in everything}
    for severity in set(severities):
        group = [starts[int(r["data-case"])] for r in rows if r["data-severity"] == severity]
        assert group == sorted(group)

    # The case list follows the page: the leading section first.
    table = client.get(f"/reports/{kind}/{key}/cases.csv").get_data(as_text=True)
    ids = [int(r[0]) for r in list(csv.reader(io.StringIO(table)))[1:]]
    assert ids == lead + [c.id for c in rest]

    # A deleted project's cases become obsolete and leave the report.
    gone = everything[0].finding.subject_a
    services.projects.delete(int(gone.ref), ADMIN, None)
    rows = Tags(page(client, f"/reports/{kind}/{key}")).find("tr", "case")
    assert {int(r["data-case"]) for r in rows} == {c.id for c in live_cases(services, **query)}
    assert len(rows) < len(everything)
    picture = svg(page(client, f"/reports/{kind}/{key}"), "report-map")
    assert any(p.get("data-case") for p in picture.iter(f"{SVG}path"))


def test_no_open_conflict_is_said_so(client: FlaskClient, services: Services):
    """A report whose filter leaves no conflict says so where the conflicts would lead."""
    html = page(client, "/reports/organisations/herne?relation=synergy&lang=en")
    lead, rows = split_page(html)
    assert lead == [] and rows
    section = html[html.index('id="lead-action"') : html.index('class="report-map"')]
    assert "Open conflicts that need action (0)" in section and "None." in section


@pytest.mark.parametrize(
    ("query", "expected", "shown"),
    [
        ("status=open", {"statuses": (CaseStatus.OPEN,)}, "Fallstatus: offen"),
        (
            "status=in_coordination,agreed&relation=conflict",
            {
                "statuses": (CaseStatus.IN_COORDINATION, CaseStatus.AGREED),
                "relations": ("conflict",),
            },
            "Fallstatus: in Abstimmung, vereinbart · Beziehung: Konflikt",
        ),
        (
            "relation=synergy,note&severity=high&from=2028-01-01",
            {
                "relations": ("synergy", "note"),
                "severities": ("high",),
                "time_from": date(2028, 1, 1),
            },
            "Beziehung: Synergie, Hinweis · Schwere: hoch · Zeitraum: 01.01.2028 – offen",
        ),
    ],
)
def test_case_reports_filter_by_status_relation_severity_and_period(
    client: FlaskClient, services: Services, query: str, expected: dict[str, object], shown: str
):
    conflicts = live_cases(services, organisations=("herne",), relations=("conflict",))
    services.desk.change_status(conflicts[0].id, "in_coordination", ADMIN, None)
    services.desk.propose(conflicts[1].id, "no_action", "doppelt erfasst", [], ADMIN, None)
    agree(services, conflicts[2].id)

    statuses = expected.pop("statuses", LIVE_STATUSES)
    wanted = services.store.list_cases(
        CaseQuery(organisations=("herne",), statuses=statuses, **expected)  # type: ignore[arg-type]
    )
    assert wanted, "a filter that leaves nothing proves little"
    html = page(client, f"/reports/organisations/herne?{query}")
    rows = Tags(html).find("tr", "case")
    assert sorted(int(r["data-case"]) for r in rows) == sorted(c.id for c in wanted)
    assert f"Filter: {shown}" in html  # on the page as it prints

    # The case list downloads with the same filter.
    (link,) = [a["href"] for a in Tags(html).find("a", "download-csv")]
    table = client.get(link).get_data(as_text=True)
    assert sorted(int(r[0]) for r in list(csv.reader(io.StringIO(table)))[1:]) == sorted(
        c.id for c in wanted
    )

    area = page(client, f"/reports/area?district=05916000-02&{query}")
    inside = services.store.list_cases(
        CaseQuery(area=district(services, "05916000-02").geometry, statuses=statuses, **expected)  # type: ignore[arg-type]
    )
    assert {int(r["data-case"]) for r in Tags(area).find("tr", "case")} == {c.id for c in inside}
    assert f"Filter: {shown}" in area


def test_an_unfiltered_report_says_so(client: FlaskClient):
    assert "Filter: keiner (alle nicht gegenstandslosen Fälle)" in page(
        client, "/reports/departments/drainage"
    )
    assert "Filter:" not in page(client, "/reports/projects/1")  # a fact sheet takes none


def test_case_report_with_a_period(client: FlaskClient, services: Services):
    html = page(client, "/reports/organisations/herne?from=2029-01-01&to=2029-12-31")
    rows = Tags(html).find("tr", "case")
    expected = live_cases(
        services, organisations=("herne",), time_from=date(2029, 1, 1), time_to=date(2029, 12, 31)
    )
    assert {int(r["data-case"]) for r in rows} == {c.id for c in expected}
    assert "01.01.2029 – 31.12.2029" in html


# ------------------------------------------------------------------------ case lists


def test_case_list_as_csv_and_xlsx(client: FlaskClient, services: Services):
    by_id = {c.id: c for c in live_cases(services, organisations=("herne",))}
    shown = Tags(page(client, "/reports/organisations/herne")).find("tr", "case")
    cases = [by_id[int(r["data-case"])] for r in shown]  # in the order of the page
    assert len(cases) == len(by_id)
    response = client.get("/reports/organisations/herne/cases.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="zugabe-organisation-herne-cases.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:3] == ["Nr.", "Beziehung", "Schwere"]
    assert [int(r[0]) for r in rows[1:]] == [c.id for c in cases]

    response = client.get("/reports/organisations/herne?format=xlsx&lang=en")
    assert response.headers["Content-Disposition"].endswith('-herne-cases.xlsx"')
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    sheet = book.active
    table = list(sheet.iter_rows(values_only=True))
    assert table[0][:3] == ("No.", "Relation", "Severity")
    assert [r[0] for r in table[1:]] == [c.id for c in cases]
    dated = next(c for c in cases if c.finding.window_start)
    row = table[1 + cases.index(dated)]
    assert row[6].date() == dated.finding.window_start  # a date cell, not text

    project_csv = client.get("/reports/projects/2/cases.csv")
    assert len(list(csv.reader(io.StringIO(project_csv.get_data(as_text=True))))) == 1 + len(
        services.cases.of_project(2)
    )


@pytest.mark.parametrize("title", ["=1+2", "+SUM(A1:A2)", "-2+3", "@SUM(A1)"])
def test_case_lists_do_not_run_formulas(client: FlaskClient, services: Services, title: str):
    case = next(c for c in live_cases(services) if c.finding.rule_id == "road_works_sewer_bundle")
    project_id = int(case.finding.subject_a.ref)  # its message starts with this title
    services.projects.patch(project_id, {"properties": {"title": title}}, ADMIN, None)
    rows = list(
        csv.reader(io.StringIO(client.get(f"/reports/projects/{project_id}/cases.csv").text))
    )
    message = next(r for r in rows[1:] if r[0] == str(case.id))[12]
    assert message.startswith(f"'{title} ")
    book = openpyxl.load_workbook(
        io.BytesIO(client.get(f"/reports/projects/{project_id}/cases.xlsx").data)
    )
    cells = [c for row in book.active.iter_rows() for c in row if isinstance(c.value, str)]
    assert not any(c.value.startswith(("=", "+", "-", "@")) for c in cells)
    assert all(c.data_type == "s" for c in cells)


def test_neutralise_leaves_numbers_and_plain_text():
    assert neutralise("=A1") == "'=A1" and neutralise("\t=A1") == "'\t=A1"
    assert neutralise(-3) == -3 and neutralise("Kanal") == "Kanal" and neutralise(None) is None


# ------------------------------------------------------------------------ area


def test_area_report_filters_by_district_and_time(client: FlaskClient, services: Services):
    district = next(
        f
        for f in services.store.layer_features("districts")
        if f.attributes["name"] == "Brückenfeld"
    )
    ident = district.attributes["district_id"]
    period = (date(2027, 1, 1), date(2028, 12, 31))
    html = page(client, f"/reports/area?district={ident}&from=2027-01-01&to=2028-12-31")
    listed = {int(r["data-project"]) for r in Tags(html).find("tr", "project")}
    inside = services.store.list_projects(
        ProjectQuery(area=district.geometry, time_from=period[0], time_to=period[1])
    )
    assert listed == {p.id for p in inside} and listed
    everywhere = services.store.list_projects(ProjectQuery(area=district.geometry))
    assert len(everywhere) > len(inside)  # the period removed some
    for project in inside:
        a = project.attributes
        assert project.geometry.intersects(district.geometry)
        assert (a.start or date.min) <= period[1] and (a.end or date.max) >= period[0]
    rows = Tags(html).find("tr", "case")
    expected = live_cases(services, area=district.geometry, time_from=period[0], time_to=period[1])
    assert {int(r["data-case"]) for r in rows} == {c.id for c in expected}
    assert "Brückenfeld" in html
    timeline = svg(html, "report-timeline")
    assert any(r.get("class") == "period" for r in timeline.iter(f"{SVG}rect"))
    picture = svg(html, "report-map")
    assert any(p.get("class") == "area" for p in picture.iter(f"{SVG}path"))

    boxed = page(client, "/reports/area?bbox=7.20,51.49,7.26,51.53&lang=en")
    assert "Area report" in boxed and len(Tags(boxed).find("tr", "project")) > len(listed)


@pytest.mark.parametrize(
    ("url", "status", "named"),
    [
        ("/reports/projects/99999", 404, "project 99999"),
        ("/reports/organisations/atlantis", 404, "atlantis"),
        ("/reports/departments/atlantis", 404, "atlantis"),
        ("/reports/area?district=XX-99", 404, "XX-99"),
        ("/reports/area", 400, "district"),
        ("/reports/area?district=a&bbox=7,51,8,52", 400, "bbox"),
        ("/reports/area?bbox=7,51", 400, "bbox"),
        ("/reports/area?bbox=7.2,51.5,7.3,51.6&from=2027-02-30", 400, "'from'"),
        ("/reports/organisations/herne?to=soon", 400, "'to'"),
        ("/reports/projects/1?lang=fr", 400, "'lang'"),
        ("/reports/projects/1?format=pdf", 400, "'format'"),
        ("/reports/organisations/herne?colour=red", 400, "'colour'"),
        ("/reports/departments/roads?status=obsolete", 400, "'status'"),
        ("/reports/departments/roads/cases.csv?status=open,", 400, "'status'"),
        ("/reports/area?district=05916000-01&relation=friendship", 400, "'relation'"),
        ("/reports/organisations/herne/cases.xlsx?severity=urgent", 400, "'severity'"),
        ("/reports/organisations/herne?status=open&status=agreed", 400, "'status'"),
        ("/reports/projects/1?status=open", 400, "'status'"),
    ],
)
def test_bad_requests_are_problems_naming_the_parameter(
    client: FlaskClient, url: str, status: int, named: str
):
    response = client.get(url)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert named in response.get_json()["detail"]


# ------------------------------------------------------------------------ escaping


def test_user_text_is_escaped_in_the_page_and_the_pictures(client: FlaskClient, services: Services):
    project_id = busiest_project(services)
    services.projects.patch(project_id, {"properties": {"title": XSS}}, ADMIN, None)
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    html = page(client, f"/reports/projects/{project_id}")
    assert XSS not in html and escaped in html
    for picture in ("report-map", "report-timeline"):
        drawn = svg(html, picture)  # well-formed: the title did not break the markup
        texts = [e.text or "" for e in drawn.iter() if e.tag in (f"{SVG}title", f"{SVG}text")]
        assert any(XSS in text for text in texts), picture
        assert not list(drawn.iter(f"{SVG}img")) and not list(drawn.iter("img"))
    other = next(iter(partners(services.cases.of_project(project_id)) - {project_id}))
    neighbour = page(client, f"/reports/projects/{other}")
    assert XSS not in neighbour and escaped in neighbour
    organisation = services.projects.get(ADMIN, project_id).attributes.organisation
    assert XSS not in page(client, f"/reports/organisations/{organisation}")


# ------------------------------------------------------------------------ pictures


def test_map_of_a_polygon_with_a_hole_and_a_point():
    ring = Polygon(
        [(0, 0), (1000, 0), (1000, 500), (0, 500)],
        [[(400, 200), (600, 200), (600, 300), (400, 300)]],
    )
    shapes = [Shape(ring, "#123456", fill="#123456", title="a & b"), Shape(Point(100, 100), "#000")]
    picture = ET.fromstring(render_map(shapes, (-100, -100, 1100, 600), label="<x>").svg)
    paths = list(picture.iter(f"{SVG}path"))
    assert paths[0].attrib["d"].count("M") == 2 and paths[0].attrib["fill-rule"] == "evenodd"
    assert paths[0].find(f"{SVG}title").text == "a & b"
    assert " a" in paths[1].attrib["d"]  # a point is a circle
    assert picture.attrib["aria-label"] == "<x>"
    scale = picture.find(f"{SVG}g[@class='scale-bar']")
    assert scale.attrib["data-metres"] in ("100", "200", "500")


def test_crowded_labels_move_aside_or_are_listed():
    """Sixty projects on one spot: the first take the places around it, the next ones sit
    further out on leader lines, and those that find no room are named below the map."""
    shapes = [Shape(Point(500, 250), "#000", label=str(100 + i)) for i in range(60)]
    picture = render_map(shapes, (0, 0, 1000, 500), label="map")
    svg = ET.fromstring(picture.svg)
    placed = [t.text for t in svg.iter(f"{SVG}text") if "map-label" in t.get("class", "")]
    leaders = [p for p in svg.iter(f"{SVG}path") if p.get("class") == "leader"]
    assert 4 <= len(leaders) < len(placed) < 16  # some near, some on leader lines
    assert placed == [str(100 + i) for i in range(len(placed))]  # first drawn, first placed
    assert picture.unlabelled == tuple(str(100 + i) for i in range(len(placed), 60))


def test_timeline_marks_shared_periods_and_open_ends():
    bars = [
        Bar("1", "A", date(2027, 1, 1), date(2027, 12, 31), "#111"),
        Bar("2", "B", date(2027, 6, 1), None, "#222"),
        Bar("3", "C", None, None, "#333"),
    ]
    picture = ET.fromstring(render_timeline(bars, label="t", undated="ohne Termin"))
    rects = {
        r.get("data-project"): r for r in picture.iter(f"{SVG}rect") if r.get("class") == "bar"
    }
    assert set(rects) == {"1", "2"}
    assert rects["2"].get("stroke-dasharray")  # open-ended
    assert "ohne Termin" in "".join(picture.itertext())
    assert shared_period((date(2027, 1, 1), date(2027, 12, 31)), (date(2027, 6, 1), None)) == (
        date(2027, 6, 1),
        date(2027, 12, 31),
    )
    assert shared_period((date(2027, 1, 1), date(2027, 2, 1)), (date(2028, 1, 1), None)) is None


# ------------------------------------------------------------------------ CLI


def test_cli_writes_reports(demo_template: Path, tmp_path: Path, runner: CliRunner):
    shutil.copytree(demo_template, tmp_path / "instance")
    base = ["--instance", str(tmp_path / "instance")]
    sheet = tmp_path / "sheet.html"
    result = runner.invoke(cli, [*base, "report", "project", "2", "-o", str(sheet)])
    assert result.exit_code == 0, result.output
    html = sheet.read_text("utf-8")
    assert "Projektkennblatt" in html and 'class="report-map"' in html and "<nav>" not in html

    workbook = tmp_path / "herne.xlsx"
    args = ["report", "organisation", "herne", "--format", "xlsx", "--lang", "en"]
    result = runner.invoke(cli, [*base, *args, "-o", str(workbook)])
    assert result.exit_code == 0, result.output
    assert openpyxl.load_workbook(workbook).active["A1"].value == "No."

    args = [
        "report",
        "area",
        "--district",
        "05916000-01",
        "--from",
        "2027-01-01",
        "--format",
        "csv",
    ]
    result = runner.invoke(cli, [*base, *args])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Nr.,Beziehung")

    args = ["report", "department", "roads", "--relation", "conflict", "--status", "open"]
    result = runner.invoke(cli, [*base, *args, "--status", "in_coordination", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))[1:]
    assert rows and {(r[1], r[5]) for r in rows} == {("Konflikt", "offen")}
    result = runner.invoke(cli, [*base, "report", "department", "roads", "--status", "obsolete"])
    assert result.exit_code != 0 and "'obsolete' is not one of" in result.output

    result = runner.invoke(cli, [*base, "report", "department", "nowhere"])
    assert result.exit_code != 0 and "nowhere" in str(result.exception)


def test_organisation_reports_list_the_proposals_waiting_for_their_vote(
    client: FlaskClient, services: Services
):
    """Issue 12, item 3: agreements waiting, by organisation, and agreed decisions."""
    shared = next(
        c
        for c in live_cases(services, organisations=("herne",))
        if len(c.finding.organisations) > 1
    )
    other = next(o for o in shared.finding.organisations if o != "herne")
    services.desk.propose(shared.id, "shared_trench", "Ein Graben für beide", [], ADMIN, None)

    def waiting_section(organisation: str) -> str:
        html = page(client, f"/reports/organisations/{organisation}")
        return html[html.index('id="lead-waiting"') : html.index('id="lead-agreed"')]

    herne = waiting_section("herne")
    assert f'data-case="{shared.id}"' in herne and "Ein Graben für beide" in herne
    assert "wartet auf: " in herne and "Stadt Herne" in herne
    services.desk.vote(shared.id, "agree", "", coordinator("herne"))
    # Herne has voted: no longer waiting for Herne, still for the other organisation.
    assert f'data-case="{shared.id}"' not in waiting_section("herne")
    assert f'data-case="{shared.id}"' in waiting_section(other)
    assert "Stadt Herne: stimmt zu" in waiting_section(other)
