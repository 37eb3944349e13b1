"""The tests every ``ProjectStore`` backend must pass, unchanged.

Use it by subclassing ``StorageContract`` in a backend's test module and
giving the class a ``store`` fixture that yields a fresh, EMPTY store (and
closes it afterwards)::

    class TestSqliteContract(StorageContract):
        @pytest.fixture
        def store(self, tmp_path):
            store = SqliteProjectStore(f"sqlite:///{tmp_path / 'zugabe.sqlite'}")
            yield store
            store.close()

Everything here goes through the ``ProjectStore`` interface only, so the
same tests hold the embedded and the PostGIS backend to one behaviour.
Geometry is in EPSG:25832 metres, around a point in the Emscher region.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from shapely.geometry import (
    LineString,
    MultiPolygon,
    Point,
    Polygon,
    box,
)
from shapely.geometry.base import BaseGeometry

from zugabe.domain.project import Project, ProjectAttributes, Status
from zugabe.errors import NotFound, VersionConflict
from zugabe.storage.contract import NewProject, ProjectQuery, ProjectStore

X0, Y0 = 370_000.0, 5_710_000.0
"""Origin of the test geometry (EPSG:25832), so offsets read as metres."""


def at(dx: float, dy: float) -> Point:
    return Point(X0 + dx, Y0 + dy)


def square(dx0: float, dy0: float, dx1: float, dy1: float) -> Polygon:
    return box(X0 + dx0, Y0 + dy0, X0 + dx1, Y0 + dy1)


def line(*offsets: tuple[float, float]) -> LineString:
    return LineString([(X0 + dx, Y0 + dy) for dx, dy in offsets])


def attributes(**changes: object) -> ProjectAttributes:
    """A complete set of attributes; tests change only what they look at."""
    base = ProjectAttributes(
        title="Kanalsanierung Musterstraße",
        organisation="stadt-bottrop",
        department="entwaesserung",
        measure_type="kanalsanierung",
        status=Status.PLANNING,
        start=date(2026, 3, 1),
        end=date(2026, 10, 31),
        description="Erneuerung des Mischwasserkanals, DN 400 → DN 600.",
        contact="Frau Beispiel, Tel. 02041 0000",
        cost_eur=125_000.5,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def new(geometry: BaseGeometry | None = None, user: str = "alice", **changes: object) -> NewProject:
    return NewProject(
        attributes=attributes(**changes),
        geometry=geometry if geometry is not None else at(0, 0),
        user=user,
    )


def is_utc(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


def ids(projects: list[Project]) -> list[int]:
    return [project.id for project in projects]


class StorageContract:
    """Behaviour shared by all backends; subclasses provide ``store``."""

    # -- add and get -------------------------------------------------------

    def test_add_and_get_round_trip(self, store: ProjectStore) -> None:
        before = datetime.now(UTC)
        geometry = Polygon(
            [(X0, Y0), (X0 + 120.25, Y0), (X0 + 120.25, Y0 + 80.5), (X0, Y0)],
            holes=[[(X0 + 10, Y0 + 5), (X0 + 20, Y0 + 5), (X0 + 20, Y0 + 15), (X0 + 10, Y0 + 5)]],
        )
        [added] = store.add_projects([new(geometry, user="alice")])
        after = datetime.now(UTC)

        loaded = store.get_project(added.id)
        assert loaded is not None
        assert loaded.id == added.id
        assert loaded.attributes == attributes()
        assert loaded.attributes.status is Status.PLANNING
        assert loaded.attributes.start == date(2026, 3, 1)
        assert loaded.attributes.end == date(2026, 10, 31)
        assert loaded.attributes.cost_eur == 125_000.5
        assert loaded.geometry.equals_exact(geometry, 0.0)
        assert loaded.geometry.geom_type == "Polygon"
        assert loaded.created_by == loaded.updated_by == "alice"
        assert loaded.version == 1
        assert is_utc(loaded.created_at) and is_utc(loaded.updated_at)
        # Backends may store timestamps at microsecond precision only.
        tolerance = timedelta(milliseconds=1)
        assert before - tolerance <= loaded.created_at <= after + tolerance
        assert loaded.updated_at == loaded.created_at

        assert added.attributes == loaded.attributes
        assert added.geometry.equals_exact(geometry, 0.0)
        assert added.created_by == "alice"
        assert added.version == 1
        assert is_utc(added.created_at)
        assert abs(added.created_at - loaded.created_at) < tolerance

    def test_round_trip_of_empty_and_missing_values(self, store: ProjectStore) -> None:
        sparse = attributes(
            start=None,
            end=None,
            cost_eur=None,
            description="",
            contact="",
            status=Status.IDEA,
        )
        [added] = store.add_projects([NewProject(sparse, at(1, 2), "bob")])
        loaded = store.get_project(added.id)
        assert loaded is not None
        assert loaded.attributes == sparse
        assert loaded.attributes.start is None
        assert loaded.attributes.end is None
        assert loaded.attributes.cost_eur is None
        assert loaded.created_by == "bob"

    @pytest.mark.parametrize(
        "geometry",
        [
            Point(X0 + 0.125, Y0 + 0.5),
            LineString([(X0, Y0), (X0 + 30, Y0 + 40), (X0 + 60, Y0)]),
            MultiPolygon([box(X0, Y0, X0 + 10, Y0 + 10), box(X0 + 20, Y0, X0 + 30, Y0 + 10)]),
        ],
        ids=["point", "line", "multipolygon"],
    )
    def test_geometry_types_round_trip(self, store: ProjectStore, geometry: BaseGeometry) -> None:
        [added] = store.add_projects([new(geometry)])
        loaded = store.get_project(added.id)
        assert loaded is not None
        assert loaded.geometry.geom_type == geometry.geom_type
        assert loaded.geometry.equals_exact(geometry, 0.0)

    def test_text_round_trips_unchanged(self, store: ProjectStore) -> None:
        title = "Äußere Straße: 100% Grün_Dach 'quoted' \"double\" ; DROP TABLE projects; --"
        [added] = store.add_projects([new(title=title, description="Zeile 1\nZeile 2 ✓")])
        loaded = store.get_project(added.id)
        assert loaded is not None
        assert loaded.attributes.title == title
        assert loaded.attributes.description == "Zeile 1\nZeile 2 ✓"

    def test_get_unknown_id_is_none(self, store: ProjectStore) -> None:
        assert store.get_project(1) is None
        [added] = store.add_projects([new()])
        assert store.get_project(added.id + 1000) is None

    def test_ids_unique_and_increasing(self, store: ProjectStore) -> None:
        first = store.add_projects([new(title=f"a{i}") for i in range(3)])
        second = store.add_projects([new(title=f"b{i}") for i in range(2)])
        all_ids = ids(first) + ids(second)
        assert all_ids == sorted(all_ids)
        assert len(set(all_ids)) == 5
        for project in first + second:
            loaded = store.get_project(project.id)
            assert loaded is not None
            assert loaded.attributes.title == project.attributes.title

    def test_ids_are_not_reused_after_delete(self, store: ProjectStore) -> None:
        added = store.add_projects([new(), new()])
        store.delete_project(added[-1].id, "alice", None)
        [later] = store.add_projects([new()])
        assert later.id > added[-1].id

    def test_add_nothing(self, store: ProjectStore) -> None:
        assert store.add_projects([]) == []
        assert store.count_projects(ProjectQuery()) == 0

    def test_add_projects_is_atomic_when_the_iterable_fails(self, store: ProjectStore) -> None:
        store.add_projects([new(title="already there")])

        def failing() -> Iterator[NewProject]:
            for i in range(3):
                yield new(title=f"half {i}")
            raise RuntimeError("import broke off")

        with pytest.raises(RuntimeError, match="import broke off"):
            store.add_projects(failing())
        titles = [p.attributes.title for p in store.list_projects(ProjectQuery())]
        assert titles == ["already there"]
        assert store.count_projects(ProjectQuery()) == 1
        assert store.count_projects(ProjectQuery(text="half")) == 0
        assert store.list_projects(ProjectQuery(area=square(-10, -10, 10, 10))) != []
        # The store is still usable afterwards.
        store.add_projects([new(title="after the failure")])
        assert store.count_projects(ProjectQuery()) == 2

    def test_add_projects_accepts_a_generator(self, store: ProjectStore) -> None:
        added = store.add_projects(new(title=f"gen {i}") for i in range(4))
        assert [p.attributes.title for p in added] == [f"gen {i}" for i in range(4)]
        assert store.count_projects(ProjectQuery()) == 4

    # -- update ------------------------------------------------------------

    def test_update_replaces_and_bumps_version(self, store: ProjectStore) -> None:
        [added] = store.add_projects([new(at(0, 0), user="alice")])
        changed = attributes(
            title="Kanalsanierung verschoben",
            status=Status.APPROVED,
            start=date(2027, 1, 1),
            end=None,
            cost_eur=None,
        )
        geometry = line((0, 0), (50, 0))
        updated = store.update_project(added.id, changed, geometry, "bob", expected_version=1)

        assert updated.id == added.id
        assert updated.version == 2
        assert updated.attributes == changed
        assert updated.geometry.equals_exact(geometry, 0.0)
        assert updated.updated_by == "bob"
        assert is_utc(updated.updated_at)
        assert updated.updated_at >= added.created_at
        assert updated.created_by == "alice"
        assert abs(updated.created_at - added.created_at) < timedelta(milliseconds=1)

        loaded = store.get_project(added.id)
        assert loaded is not None
        assert loaded.version == 2
        assert loaded.attributes == changed
        assert loaded.geometry.equals_exact(geometry, 0.0)
        assert loaded.created_by == "alice"
        assert loaded.updated_by == "bob"
        assert loaded.created_at == updated.created_at
        assert loaded.updated_at == updated.updated_at

    def test_update_without_expected_version_always_applies(self, store: ProjectStore) -> None:
        [added] = store.add_projects([new()])
        store.update_project(added.id, attributes(title="v2"), at(0, 0), "bob", None)
        updated = store.update_project(added.id, attributes(title="v3"), at(0, 0), "carol", None)
        assert updated.version == 3
        assert updated.attributes.title == "v3"

    def test_update_with_stale_version_conflicts_and_changes_nothing(
        self, store: ProjectStore
    ) -> None:
        [added] = store.add_projects([new(title="original")])
        store.update_project(added.id, attributes(title="first edit"), at(1, 1), "bob", 1)
        before = store.get_project(added.id)

        with pytest.raises(VersionConflict) as conflict:
            store.update_project(added.id, attributes(title="late edit"), at(9, 9), "carol", 1)
        message = str(conflict.value)
        assert f"project {added.id}" in message
        assert "version 1" in message
        assert "current version is 2" in message

        assert store.get_project(added.id) == before

    def test_update_unknown_id_is_not_found(self, store: ProjectStore) -> None:
        [added] = store.add_projects([new()])
        missing = added.id + 1000
        for expected in (None, 1):
            with pytest.raises(NotFound, match=f"project {missing} does not exist"):
                store.update_project(missing, attributes(), at(0, 0), "bob", expected)
        assert store.count_projects(ProjectQuery()) == 1

    def test_concurrent_editors_cannot_both_win(self, store: ProjectStore) -> None:
        [added] = store.add_projects([new(title="shared")])
        editors = 6
        barrier = threading.Barrier(editors)
        outcomes: list[str] = []
        lock = threading.Lock()

        def edit(n: int) -> None:
            barrier.wait()
            try:
                store.update_project(added.id, attributes(title=f"edit {n}"), at(n, n), f"u{n}", 1)
                outcome = "won"
            except VersionConflict:
                outcome = "conflict"
            except Exception as exc:  # reported below, not swallowed
                outcome = f"error: {exc!r}"
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=edit, args=(n,)) for n in range(editors)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes) == ["conflict"] * (editors - 1) + ["won"]
        loaded = store.get_project(added.id)
        assert loaded is not None
        assert loaded.version == 2

    # -- delete ------------------------------------------------------------

    def test_delete_then_get_is_none(self, store: ProjectStore) -> None:
        keep, gone = store.add_projects([new(title="keep"), new(title="gone")])
        store.delete_project(gone.id, "bob", expected_version=1)
        assert store.get_project(gone.id) is None
        assert store.get_project(keep.id) is not None
        assert ids(store.list_projects(ProjectQuery())) == [keep.id]
        assert store.list_projects(ProjectQuery(area=square(-5, -5, 5, 5))) == [
            store.get_project(keep.id)
        ]

    def test_delete_with_stale_version_conflicts_and_keeps(self, store: ProjectStore) -> None:
        [added] = store.add_projects([new()])
        store.update_project(added.id, attributes(title="edited"), at(0, 0), "bob", 1)
        with pytest.raises(VersionConflict, match="current version is 2"):
            store.delete_project(added.id, "carol", expected_version=1)
        assert store.get_project(added.id) is not None
        store.delete_project(added.id, "carol", expected_version=2)
        assert store.get_project(added.id) is None

    def test_delete_unknown_id_is_not_found(self, store: ProjectStore) -> None:
        [added] = store.add_projects([new()])
        store.delete_project(added.id, "bob", None)
        for expected in (None, 1):
            with pytest.raises(NotFound, match=f"project {added.id} does not exist"):
                store.delete_project(added.id, "bob", expected)

    # -- list: attribute filters -------------------------------------------

    def test_list_without_filters_returns_all_ordered_by_id(self, store: ProjectStore) -> None:
        added = store.add_projects([new(title=f"p{i}") for i in range(5)])
        listed = store.list_projects(ProjectQuery())
        assert ids(listed) == sorted(ids(added))
        assert listed == [store.get_project(i) for i in ids(added)]
        assert store.count_projects(ProjectQuery()) == 5

    @pytest.mark.parametrize(
        ("field", "query_field"),
        [
            ("organisation", "organisations"),
            ("department", "departments"),
            ("measure_type", "measure_types"),
        ],
    )
    def test_filter_by_vocabulary_field(
        self, store: ProjectStore, field: str, query_field: str
    ) -> None:
        added = store.add_projects(
            [new(title=f"{value} {i}", **{field: value}) for i in range(2) for value in "abc"]
        )
        by_value = {v: [p.id for p in added if getattr(p.attributes, field) == v] for v in "abc"}

        one = ProjectQuery(**{query_field: ("b",)})
        assert ids(store.list_projects(one)) == by_value["b"]
        assert store.count_projects(one) == 2

        two = ProjectQuery(**{query_field: ("a", "c")})
        assert ids(store.list_projects(two)) == sorted(by_value["a"] + by_value["c"])
        assert store.count_projects(two) == 4

        none = ProjectQuery(**{query_field: ("unknown",)})
        assert store.list_projects(none) == []
        assert store.count_projects(none) == 0

    def test_filter_by_status(self, store: ProjectStore) -> None:
        added = {
            status: store.add_projects([new(title=status.value, status=status)])[0].id
            for status in Status
        }
        query = ProjectQuery(statuses=(Status.APPROVED, Status.UNDER_CONSTRUCTION))
        expected = sorted([added[Status.APPROVED], added[Status.UNDER_CONSTRUCTION]])
        assert ids(store.list_projects(query)) == expected
        assert store.count_projects(query) == 2
        listed = store.list_projects(ProjectQuery(statuses=(Status.CANCELLED,)))
        assert [p.attributes.status for p in listed] == [Status.CANCELLED]

    # -- list: time window -------------------------------------------------

    @pytest.fixture
    def windows(self, store: ProjectStore) -> dict[str, int]:
        """Projects with closed, open-ended and missing time windows."""
        spec = {
            "2025": (date(2025, 1, 1), date(2025, 12, 31)),
            "from-2026": (date(2026, 1, 1), None),
            "until-mid-2024": (None, date(2024, 6, 30)),
            "always": (None, None),
            "march-2027": (date(2027, 3, 1), date(2027, 3, 31)),
        }
        added = store.add_projects(
            [new(title=name, start=start, end=end) for name, (start, end) in spec.items()]
        )
        return {p.attributes.title: p.id for p in added}

    @pytest.mark.parametrize(
        ("time_from", "time_to", "expected"),
        [
            (date(2025, 6, 1), date(2025, 6, 30), {"2025", "always"}),
            # Touching boundaries count as overlap, on both sides.
            (date(2025, 12, 31), date(2026, 1, 1), {"2025", "from-2026", "always"}),
            (date(2024, 6, 30), date(2024, 6, 30), {"until-mid-2024", "always"}),
            (date(2027, 3, 31), date(2027, 4, 30), {"from-2026", "march-2027", "always"}),
            (date(2024, 7, 1), date(2024, 12, 31), {"always"}),
            # Only one end of the query window given.
            (date(2026, 6, 1), None, {"from-2026", "march-2027", "always"}),
            (None, date(2024, 12, 31), {"until-mid-2024", "always"}),
            (None, date(2025, 1, 1), {"2025", "until-mid-2024", "always"}),
            (date(2028, 1, 1), None, {"from-2026", "always"}),
        ],
    )
    def test_filter_by_time_window(
        self,
        store: ProjectStore,
        windows: dict[str, int],
        time_from: date | None,
        time_to: date | None,
        expected: set[str],
    ) -> None:
        query = ProjectQuery(time_from=time_from, time_to=time_to)
        assert ids(store.list_projects(query)) == sorted(windows[name] for name in expected)
        assert store.count_projects(query) == len(expected)

    # -- list: text --------------------------------------------------------

    @pytest.fixture
    def titles(self, store: ProjectStore) -> dict[str, int]:
        names = [
            "Äußere Straße",
            "Hauptstrasse Kanal",
            "Ausbau 100% Grün",
            "Ausbau 100 Meter",
            "Mulde A_B",
            "Mulde AXB",
            "Öffentliche Grünfläche",
        ]
        added = store.add_projects([new(title=name) for name in names])
        return {p.attributes.title: p.id for p in added}

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("ÄUßERE", {"Äußere Straße"}),
            ("äußere", {"Äußere Straße"}),
            ("STRAßE", {"Äußere Straße", "Hauptstrasse Kanal"}),
            ("strasse", {"Äußere Straße", "Hauptstrasse Kanal"}),
            ("öffentlich", {"Öffentliche Grünfläche"}),
            ("GRÜN", {"Ausbau 100% Grün", "Öffentliche Grünfläche"}),
            ("kanal", {"Hauptstrasse Kanal"}),
            # % and _ are literal characters, not wildcards.
            ("100%", {"Ausbau 100% Grün"}),
            ("%", {"Ausbau 100% Grün"}),
            ("a_b", {"Mulde A_B"}),
            ("_", {"Mulde A_B"}),
            ("nirgends", set()),
        ],
    )
    def test_filter_by_text(
        self, store: ProjectStore, titles: dict[str, int], text: str, expected: set[str]
    ) -> None:
        query = ProjectQuery(text=text)
        assert ids(store.list_projects(query)) == sorted(titles[name] for name in expected)
        assert store.count_projects(query) == len(expected)

    # -- list: area --------------------------------------------------------

    AREA = square(0, 0, 100, 100)

    @pytest.fixture
    def places(self, store: ProjectStore) -> dict[str, int]:
        """Projects placed around ``AREA`` to test the exact intersects test."""
        ring = Polygon(
            [(X0 - 50, Y0 - 50), (X0 + 150, Y0 - 50), (X0 + 150, Y0 + 150), (X0 - 50, Y0 + 150)],
            holes=[
                [(X0 - 10, Y0 - 10), (X0 + 110, Y0 - 10), (X0 + 110, Y0 + 110), (X0 - 10, Y0 + 110)]
            ],
        )
        spec: dict[str, BaseGeometry] = {
            "point inside": at(50, 50),
            "polygon overlapping": square(90, 90, 200, 200),
            "polygon containing": square(-500, -500, 500, 500),
            "point on the boundary": at(100, 40),
            # No vertex inside, but the segment crosses the area.
            "line crossing": line((-100, 50), (200, 50)),
            # Bounding boxes overlap the area, the geometries do not.
            "line around a corner": line((-20, 130), (130, 130), (130, -20)),
            "ring around": ring,
            "point far away": at(5_000, 5_000),
            "polygon beside": square(101, 0, 200, 100),
        }
        added = store.add_projects([new(geometry, title=name) for name, geometry in spec.items()])
        return {p.attributes.title: p.id for p in added}

    def test_filter_by_area_uses_exact_intersection(
        self, store: ProjectStore, places: dict[str, int]
    ) -> None:
        expected = {
            "point inside",
            "polygon overlapping",
            "polygon containing",
            "point on the boundary",
            "line crossing",
        }
        query = ProjectQuery(area=self.AREA)
        assert ids(store.list_projects(query)) == sorted(places[name] for name in expected)
        assert store.count_projects(query) == len(expected)

    def test_filter_by_non_rectangular_area(
        self, store: ProjectStore, places: dict[str, int]
    ) -> None:
        # A triangle: its bounding box holds "point inside", the triangle not.
        triangle = Polygon([(X0, Y0), (X0 + 100, Y0), (X0, Y0 + 60)])
        expected = {"polygon containing", "line crossing"}
        query = ProjectQuery(area=triangle)
        assert ids(store.list_projects(query)) == sorted(places[name] for name in expected)
        assert store.count_projects(query) == len(expected)

    def test_filter_by_area_with_nothing_there(
        self, store: ProjectStore, places: dict[str, int]
    ) -> None:
        query = ProjectQuery(area=square(-10_000, -10_000, -9_000, -9_000))
        assert store.list_projects(query) == []
        assert store.count_projects(query) == 0

    def test_area_filter_follows_updated_and_deleted_geometry(self, store: ProjectStore) -> None:
        here, there = square(0, 0, 10, 10), square(1_000, 1_000, 1_010, 1_010)
        [moving, leaving] = store.add_projects([new(at(5, 5)), new(at(6, 6))])
        store.update_project(moving.id, attributes(), at(1_005, 1_005), "bob", 1)
        store.delete_project(leaving.id, "bob", 1)
        assert store.list_projects(ProjectQuery(area=here)) == []
        assert ids(store.list_projects(ProjectQuery(area=there))) == [moving.id]

    # -- list: combinations and paging -------------------------------------

    def test_combined_filters_must_all_hold(self, store: ProjectStore) -> None:
        inside, outside = at(10, 10), at(5_000, 5_000)
        match = new(inside, title="Straße neu", organisation="a", status=Status.APPROVED)
        added = store.add_projects(
            [
                match,
                replace(match, geometry=outside),
                new(inside, title="Straße neu", organisation="b", status=Status.APPROVED),
                new(inside, title="Straße neu", organisation="a", status=Status.DONE),
                new(inside, title="Weg neu", organisation="a", status=Status.APPROVED),
                new(
                    inside,
                    title="Straße neu",
                    organisation="a",
                    status=Status.APPROVED,
                    start=date(2030, 1, 1),
                    end=None,
                ),
                match,
            ]
        )
        query = ProjectQuery(
            area=square(0, 0, 100, 100),
            organisations=("a",),
            departments=(match.attributes.department,),
            measure_types=(match.attributes.measure_type,),
            statuses=(Status.APPROVED,),
            time_from=date(2026, 1, 1),
            time_to=date(2026, 12, 31),
            text="strasse",
        )
        assert ids(store.list_projects(query)) == [added[0].id, added[-1].id]
        assert store.count_projects(query) == 2

    def test_paging_covers_everything_exactly_once(self, store: ProjectStore) -> None:
        added = store.add_projects(
            [new(title=f"p{i}", organisation="a" if i % 3 else "b") for i in range(23)]
        )
        # Gaps in the ids must not disturb paging.
        for project in added[5:8]:
            store.delete_project(project.id, "bob", None)
        survivors = added[:5] + added[8:]

        for base in (ProjectQuery(), ProjectQuery(organisations=("a",))):
            expected = [
                p.id
                for p in survivors
                if not base.organisations or p.attributes.organisation in base.organisations
            ]
            seen: list[int] = []
            after: int | None = None
            while True:
                page = store.list_projects(replace(base, after_id=after, limit=4))
                assert len(page) <= 4
                if not page:
                    break
                seen.extend(ids(page))
                after = page[-1].id
            assert seen == expected
            # count ignores paging
            assert store.count_projects(replace(base, after_id=after, limit=1)) == len(expected)

    def test_limit_and_after_id(self, store: ProjectStore) -> None:
        added = ids(store.add_projects([new(title=f"p{i}") for i in range(6)]))
        assert ids(store.list_projects(ProjectQuery(limit=2))) == added[:2]
        assert ids(store.list_projects(ProjectQuery(after_id=added[3]))) == added[4:]
        assert ids(store.list_projects(ProjectQuery(after_id=added[1], limit=3))) == added[2:5]
        assert store.list_projects(ProjectQuery(after_id=added[-1])) == []
        assert store.list_projects(ProjectQuery(limit=0)) == []
        assert store.count_projects(ProjectQuery(after_id=added[3], limit=1)) == 6

    def test_schema_version_is_positive(self, store: ProjectStore) -> None:
        assert store.schema_version() >= 1
