"""The tests every storage backend (``Store``) must pass, unchanged.

Use it by subclassing ``StorageContract`` in a backend's test module and
giving the class a ``store`` fixture that yields a fresh, EMPTY store (and
closes it afterwards)::

    class TestSqliteContract(StorageContract):
        @pytest.fixture
        def store(self, tmp_path):
            store = SqliteStore(f"sqlite:///{tmp_path / 'zugabe.sqlite'}")
            yield store
            store.close()

``StorageContract`` holds the project tests and, through
``LayerStorageContract`` and ``CaseStorageContract``, the thematic-layer and
coordination-case tests; a backend module may also run either of those
alone, e.g. once more with other tuning.
Everything here goes through the ``Store`` interface only, so the same tests
hold the embedded and the PostGIS backend to one behaviour.
Geometry is in EPSG:25832 metres, around a point in the Emscher region.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pytest
import shapely
from shapely.geometry import (
    LineString,
    MultiPolygon,
    Point,
    Polygon,
    box,
)
from shapely.geometry.base import BaseGeometry

from zugabe.domain import case_workflow
from zugabe.domain import good_practice as gp
from zugabe.domain.accounts import Role, Scope
from zugabe.domain.agreement import DecisionKind, DecisionState, VoteChoice
from zugabe.domain.audit import AuditEvent, verify_chain
from zugabe.domain.case_history import (
    OBSOLETE_RULE,
    Event,
    HistoryEvent,
    project_deleted,
    word_change,
    word_event,
    word_reason,
)
from zugabe.domain.case_workflow import CaseWork
from zugabe.domain.cases import CaseFinding, CaseStatus, CoordinationCase, Subject
from zugabe.domain.checklist import ChecklistAnswer
from zugabe.domain.good_practice import (
    ExampleContent,
    ExampleState,
    GoodPractice,
    NewGoodPractice,
    RealisedSynergy,
    Round,
)
from zugabe.domain.i18n import Lang
from zugabe.domain.jobs import Job, JobState
from zugabe.domain.project import Project, ProjectAttributes, Status, attributes_to_json
from zugabe.errors import InvalidInput, NotFound, VersionConflict
from zugabe.storage.case_rows import PreparedFindings
from zugabe.storage.contract import (
    AuditQuery,
    BrowserSession,
    CaseQuery,
    CaseSync,
    InboxPage,
    InboxQuery,
    LayerFeature,
    LayerFeatureBatch,
    MailState,
    NewAccount,
    NewApiToken,
    NewLayerVersion,
    NewMail,
    NewPhoto,
    NewProject,
    ProjectQuery,
    ProjectStore,
    RowStamp,
    Store,
)

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


def layer_version(key: str = "sewer_sections", **changes: object) -> NewLayerVersion:
    """Complete import metadata; tests change only what they look at."""
    base = NewLayerVersion(
        key=key,
        source="haltungen.gpkg",
        source_layer="haltungen",
        source_crs="EPSG:31466",
        transformation="DHDN / 3-degree Gauss-Kruger zone 2 to ETRS89 (BETA2007), 0.01 m",
        user="wasserverband",
        report={
            "accepted": 3,
            "repaired": [{"row": 2, "reason": "Selbstüberschneidung behoben"}],
            "refused": [],
            "fields": {"ZUSTAND": "condition_class"},
        },
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def batch(
    geometries: list[BaseGeometry],
    attributes: list[dict[str, object]] | None = None,
    first_row: int = 1,
    derived: list[BaseGeometry | None] | None = None,
) -> LayerFeatureBatch:
    return LayerFeatureBatch(
        geometries=geometries,
        attributes=attributes
        if attributes is not None
        else [{"n": i} for i in range(len(geometries))],
        source_rows=list(range(first_row, first_row + len(geometries))),
        derived=derived,
    )


def feature_ids(features: list[LayerFeature]) -> list[int]:
    return [feature.id for feature in features]


def all_features(store: Store, key: str) -> list[LayerFeature]:
    return store.layer_features(key)


def race(writers: int, write: Callable[[int], object]) -> list[str]:
    """Start ``writers`` threads at once, each calling ``write(n)`` with the same
    expected version; return their sorted outcomes ("won", "conflict", or the error)."""
    barrier = threading.Barrier(writers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            write(n)
            outcome = "won"
        except VersionConflict:
            outcome = "conflict"
        except Exception as exc:  # reported in the outcomes, not swallowed
            outcome = f"error: {exc!r}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


class LayerStorageContract:
    """Thematic layers, for every backend; subclasses provide ``store``."""

    def test_replace_layer_round_trip(self, store: Store) -> None:
        geometries = [line((0, 0), (10, 5), (20, 0)), at(3.5, -7.25), square(-4, 2, 6, 12)]
        attributes = [
            {"id": "H1", "condition_class": 3, "renewal_year": 2031, "material": "Steinzeug"},
            {"id": "H2", "condition_class": None, "depth_m": 2.75, "inspected": True},
            {"id": "Ä3", "names": ["Hauptkanal", "Nebenstraße"], "nested": {"a": [1, 2.5]}},
        ]
        new_version = layer_version()
        before = datetime.now(UTC)
        info = store.replace_layer(
            new_version,
            [
                batch(geometries[:2], attributes[:2], first_row=2),
                batch(geometries[2:], attributes[2:], 7),
            ],
        )
        after = datetime.now(UTC)

        assert info.key == "sewer_sections"
        assert info.version == 1
        assert info.feature_count == 3
        assert info.extent == (X0 - 4, Y0 - 7.25, X0 + 20, Y0 + 12)
        assert info.source == "haltungen.gpkg"
        assert info.source_layer == "haltungen"
        assert info.source_crs == "EPSG:31466"
        assert info.transformation == new_version.transformation
        assert info.imported_by == "wasserverband"
        assert info.report == new_version.report
        assert is_utc(info.imported_at)
        tolerance = timedelta(milliseconds=1)
        assert before - tolerance <= info.imported_at <= after + tolerance

        loaded = store.get_layer("sewer_sections")
        assert loaded is not None
        assert replace(loaded, imported_at=info.imported_at) == info
        assert abs(loaded.imported_at - info.imported_at) < tolerance
        assert is_utc(loaded.imported_at)
        assert [layer.key for layer in store.list_layers()] == ["sewer_sections"]

        features = all_features(store, "sewer_sections")
        assert feature_ids(features) == sorted(feature_ids(features))
        assert len(set(feature_ids(features))) == 3
        assert [f.attributes for f in features] == attributes
        assert [f.source_row for f in features] == [2, 3, 7]
        assert all(f.derived is None for f in features)
        for feature, geometry in zip(features, geometries, strict=True):
            assert feature.geometry.geom_type == geometry.geom_type
            assert feature.geometry.equals_exact(geometry, 0.0)
        assert store.count_layer_features("sewer_sections") == 3

    def test_source_layer_may_be_missing(self, store: Store) -> None:
        info = store.replace_layer(
            layer_version("trees", source="baeume.csv", source_layer=None), [batch([at(1, 1)])]
        )
        assert info.source_layer is None
        loaded = store.get_layer("trees")
        assert loaded is not None and loaded.source_layer is None

    def test_layers_are_listed_by_key(self, store: Store) -> None:
        for key in ("trees", "districts", "sewer_sections", "flood_hazard"):
            store.replace_layer(layer_version(key), [batch([at(1, 1)])])
        assert [layer.key for layer in store.list_layers()] == [
            "districts",
            "flood_hazard",
            "sewer_sections",
            "trees",
        ]
        assert [layer.version for layer in store.list_layers()] == [1, 1, 1, 1]

    def test_unknown_layer_has_nothing(self, store: Store) -> None:
        store.replace_layer(layer_version("trees"), [batch([at(1, 1)])])
        assert store.get_layer("sewer_sections") is None
        assert store.layer_features("sewer_sections") == []
        assert store.layer_features("sewer_sections", area=square(-10, -10, 10, 10)) == []
        assert store.count_layer_features("sewer_sections") == 0
        assert store.count_layer_features("sewer_sections", area=square(-10, -10, 10, 10)) == 0

    def test_reimport_bumps_version_and_replaces_metadata(self, store: Store) -> None:
        first = store.replace_layer(layer_version(), [batch([at(1, 1)])])
        second_version = layer_version(
            source="haltungen_2026.shp",
            source_layer=None,
            source_crs="EPSG:25832",
            transformation="none",
            user="tiefbauamt",
            report={"accepted": 2, "refused": [{"row": 9, "reason": "leere Geometrie"}]},
        )
        second = store.replace_layer(second_version, [batch([at(2, 2), at(3, 3)])])
        assert (first.version, second.version) == (1, 2)
        assert second.imported_at >= first.imported_at
        loaded = store.get_layer("sewer_sections")
        assert loaded is not None
        assert loaded.version == 2
        assert loaded.feature_count == 2
        assert loaded.source == "haltungen_2026.shp"
        assert loaded.source_layer is None
        assert loaded.imported_by == "tiefbauamt"
        assert loaded.report == second_version.report
        third = store.replace_layer(layer_version(), [batch([at(2, 2)])])
        assert third.version == 3

    def test_reimport_replaces_the_features_completely(self, store: Store) -> None:
        old = [at(i * 10, 0) for i in range(5)]
        store.replace_layer(layer_version(), [batch(old, [{"v": 1, "i": i} for i in range(5)])])
        old_ids = feature_ids(all_features(store, "sewer_sections"))
        new = [at(500, 500), line((600, 600), (610, 610))]
        info = store.replace_layer(layer_version(), [batch(new, [{"v": 2}, {"v": 2}], 11)])

        features = all_features(store, "sewer_sections")
        assert [f.attributes for f in features] == [{"v": 2}, {"v": 2}]
        assert [f.source_row for f in features] == [11, 12]
        assert not set(feature_ids(features)) & set(old_ids)
        assert store.layer_features("sewer_sections", area=square(-5, -5, 45, 5)) == []
        assert store.count_layer_features("sewer_sections", area=square(-5, -5, 45, 5)) == 0
        assert feature_ids(
            store.layer_features("sewer_sections", area=square(490, 490, 620, 620))
        ) == (feature_ids(features))
        assert info.feature_count == store.count_layer_features("sewer_sections") == 2
        assert info.extent == (X0 + 500, Y0 + 500, X0 + 610, Y0 + 610)

    def test_reimport_leaves_other_layers_alone(self, store: Store) -> None:
        store.replace_layer(layer_version("trees"), [batch([at(5, 5), at(6, 6)])])
        trees = all_features(store, "trees")
        store.replace_layer(layer_version(), [batch([at(5, 5)])])
        store.replace_layer(layer_version(), [batch([at(7, 7)])])
        assert all_features(store, "trees") == trees
        assert feature_ids(store.layer_features("trees", area=square(0, 0, 10, 10))) == (
            feature_ids(trees)
        )
        trees_info = store.get_layer("trees")
        assert trees_info is not None and trees_info.version == 1

    def test_failed_import_keeps_the_previous_version(self, store: Store) -> None:
        kept = store.replace_layer(layer_version(), [batch([at(i, i) for i in range(4)])])
        kept_features = all_features(store, "sewer_sections")

        def failing() -> Iterator[LayerFeatureBatch]:
            yield batch([at(100 + i, 100) for i in range(3)], [{"half": True}] * 3)
            yield batch([at(200, 200)], [{"half": True}])
            raise RuntimeError("Datei abgeschnitten")

        with pytest.raises(RuntimeError, match="Datei abgeschnitten"):
            store.replace_layer(layer_version(source="kaputt.gpkg", report={"x": 1}), failing())

        loaded = store.get_layer("sewer_sections")
        assert loaded is not None
        assert replace(loaded, imported_at=kept.imported_at) == kept
        assert all_features(store, "sewer_sections") == kept_features
        assert store.count_layer_features("sewer_sections") == 4
        assert store.layer_features("sewer_sections", area=square(90, 90, 210, 210)) == []
        assert len(store.layer_features("sewer_sections", area=square(-1, -1, 10, 10))) == 4
        assert [layer.key for layer in store.list_layers()] == ["sewer_sections"]
        # The store is still usable, and the failed attempt used no version number.
        assert store.replace_layer(layer_version(), [batch([at(1, 1)])]).version == 2

    def test_failed_first_import_leaves_no_layer(self, store: Store) -> None:
        def failing() -> Iterator[LayerFeatureBatch]:
            yield batch([at(1, 1)])
            raise RuntimeError("abgebrochen")

        with pytest.raises(RuntimeError, match="abgebrochen"):
            store.replace_layer(layer_version(), failing())
        assert store.get_layer("sewer_sections") is None
        assert store.list_layers() == []
        assert store.layer_features("sewer_sections") == []
        assert store.layer_features("sewer_sections", area=square(-5, -5, 5, 5)) == []

    def test_feature_columns_hold_the_layer_features(self, store: Store) -> None:
        """What a detection index loads in bulk is what ``layer_features`` gives one by one."""
        trees = [at(5, 5), at(1, 1), at(9, 2)]
        zones = [square(3, 3, 7, 7), None, square(8, 1, 10, 3)]
        attributes = [{"crown_m": 2.0}, {"crown_m": None}, {"crown_m": 1.0, "name": "Linde"}]
        store.replace_layer(layer_version("trees"), [batch(trees, attributes, 4, derived=zones)])
        store.replace_layer(layer_version("districts"), [batch([square(0, 0, 1, 1)])])

        columns = store.layer_feature_columns("trees")
        features = store.layer_features("trees")
        assert len(columns) == 3
        assert columns.ids.tolist() == feature_ids(features) == sorted(columns.ids.tolist())
        rebuilt = columns.features()
        assert [f.attributes for f in rebuilt] == [f.attributes for f in features]
        assert [f.source_row for f in rebuilt] == [f.source_row for f in features] == [4, 5, 6]
        for mine, theirs in zip(rebuilt, features, strict=True):
            assert mine.id == theirs.id
            assert mine.geometry.equals_exact(theirs.geometry, 0.0)
            assert (mine.derived is None) == (theirs.derived is None)
            assert mine.derived is None or mine.derived.equals_exact(theirs.derived, 0.0)
        assert columns.position(features[1].id) == 1
        assert columns.position(max(feature_ids(features)) + 1000) is None
        assert len(store.layer_feature_columns("sewer_sections")) == 0

    def test_empty_layer_is_allowed(self, store: Store) -> None:
        info = store.replace_layer(layer_version(), [])
        assert info.feature_count == 0
        assert info.extent is None
        assert info.version == 1
        again = store.replace_layer(layer_version(), [batch([]), batch([])])
        assert again.version == 2
        assert again.extent is None
        loaded = store.get_layer("sewer_sections")
        assert loaded is not None
        assert loaded.feature_count == 0
        assert loaded.extent is None
        assert store.layer_features("sewer_sections") == []
        assert store.count_layer_features("sewer_sections", area=square(-5, -5, 5, 5)) == 0
        # And a layer that had features may become empty.
        store.replace_layer(layer_version("trees"), [batch([at(1, 1)])])
        emptied = store.replace_layer(layer_version("trees"), [])
        assert emptied.extent is None
        assert store.layer_features("trees") == []
        assert store.layer_features("trees", area=square(-5, -5, 5, 5)) == []

    def test_derived_geometry_round_trip(self, store: Store) -> None:
        trees = [at(0, 0), at(20, 0), at(40, 0)]
        zones = [at(0, 0).buffer(4.5), None, at(40, 0).buffer(3.0)]
        store.replace_layer(
            layer_version("trees"),
            [batch(trees, [{"crown_m": 3.0}, {"crown_m": None}, {"crown_m": 1.5}], derived=zones)],
        )
        features = all_features(store, "trees")
        assert features[1].derived is None
        for feature, zone in zip([features[0], features[2]], [zones[0], zones[2]], strict=True):
            assert feature.derived is not None and zone is not None
            assert feature.derived.geom_type == "Polygon"
            assert feature.derived.equals_exact(zone, 0.0)
        assert [f.geometry.geom_type for f in features] == ["Point"] * 3

    # -- features in an area -------------------------------------------------

    AREA = square(0, 0, 100, 100)

    @pytest.fixture
    def layer_places(self, store: Store) -> dict[str, int]:
        """Features around ``AREA`` (and another layer's inside it)."""
        spec: dict[str, BaseGeometry] = {
            "point inside": at(50, 50),
            "polygon overlapping": square(90, 90, 200, 200),
            "polygon containing": square(-500, -500, 500, 500),
            "point on the boundary": at(100, 40),
            # No vertex inside, but the segment crosses the area.
            "line crossing": line((-100, 50), (200, 50)),
            # Bounding boxes overlap the area, the geometries do not.
            "line around a corner": line((-20, 130), (130, 130), (130, -20)),
            "point far away": at(5_000, 5_000),
            "polygon beside": square(101, 0, 200, 100),
        }
        store.replace_layer(layer_version("other"), [batch([at(50, 50), at(60, 60)])])
        names = list(spec)
        store.replace_layer(
            layer_version(),
            [
                batch(list(spec.values())[:4], [{"name": n} for n in names[:4]]),
                batch(list(spec.values())[4:], [{"name": n} for n in names[4:]], 5),
            ],
        )
        return {f.attributes["name"]: f.id for f in all_features(store, "sewer_sections")}

    def test_area_query_is_exact(self, store: Store, layer_places: dict[str, int]) -> None:
        expected = {
            "point inside",
            "polygon overlapping",
            "polygon containing",
            "point on the boundary",
            "line crossing",
        }
        found = store.layer_features("sewer_sections", area=self.AREA)
        assert feature_ids(found) == sorted(layer_places[name] for name in expected)
        assert {f.attributes["name"] for f in found} == expected
        assert store.count_layer_features("sewer_sections", area=self.AREA) == len(expected)

    def test_area_query_with_a_non_rectangular_area(
        self, store: Store, layer_places: dict[str, int]
    ) -> None:
        triangle = Polygon([(X0, Y0), (X0 + 100, Y0), (X0, Y0 + 60)])
        expected = {"polygon containing", "line crossing"}
        found = store.layer_features("sewer_sections", area=triangle)
        assert feature_ids(found) == sorted(layer_places[name] for name in expected)
        assert store.count_layer_features("sewer_sections", area=triangle) == 2

    def test_area_query_around_everything_and_nowhere(
        self, store: Store, layer_places: dict[str, int]
    ) -> None:
        everything = square(-10_000, -10_000, 10_000, 10_000)
        assert feature_ids(store.layer_features("sewer_sections", area=everything)) == sorted(
            layer_places.values()
        )
        assert store.count_layer_features("sewer_sections", area=everything) == 8
        nowhere = square(-10_000, -10_000, -9_000, -9_000)
        assert store.layer_features("sewer_sections", area=nowhere) == []
        assert store.count_layer_features("sewer_sections", area=nowhere) == 0
        assert store.layer_features("sewer_sections", area=Polygon()) == []

    def test_features_page_by_id(self, store: Store) -> None:
        store.replace_layer(layer_version("other"), [batch([at(i, 0) for i in range(5)])])
        store.replace_layer(
            layer_version(),
            [batch([at(i, i % 2 * 500) for i in range(s, s + 9)], first_row=s) for s in (0, 9, 18)],
        )
        everything = feature_ids(all_features(store, "sewer_sections"))
        assert len(everything) == 27
        in_area = feature_ids(store.layer_features("sewer_sections", area=square(-1, -1, 30, 1)))
        assert len(in_area) == 14
        for area, expected in ((None, everything), (square(-1, -1, 30, 1), in_area)):
            seen: list[int] = []
            after: int | None = None
            while True:
                page = store.layer_features("sewer_sections", area=area, after_id=after, limit=4)
                assert len(page) <= 4
                if not page:
                    break
                seen.extend(feature_ids(page))
                after = page[-1].id
            assert seen == expected
        assert feature_ids(store.layer_features("sewer_sections", limit=3)) == everything[:3]
        assert (
            feature_ids(store.layer_features("sewer_sections", after_id=everything[20]))
            == (everything[21:])
        )
        assert store.layer_features("sewer_sections", limit=0) == []
        assert store.layer_features("sewer_sections", after_id=everything[-1]) == []

    # -- delete --------------------------------------------------------------

    def test_delete_layer(self, store: Store) -> None:
        store.replace_layer(layer_version("trees"), [batch([at(5, 5)])])
        trees = all_features(store, "trees")
        store.replace_layer(layer_version(), [batch([at(5, 5), at(6, 6)])])
        store.replace_layer(layer_version(), [batch([at(5, 5), at(7, 7)])])

        store.delete_layer("sewer_sections", "wasserverband")
        assert store.get_layer("sewer_sections") is None
        assert [layer.key for layer in store.list_layers()] == ["trees"]
        assert store.layer_features("sewer_sections") == []
        assert store.layer_features("sewer_sections", area=square(0, 0, 10, 10)) == []
        assert store.count_layer_features("sewer_sections") == 0
        assert all_features(store, "trees") == trees
        assert feature_ids(store.layer_features("trees", area=square(0, 0, 10, 10))) == (
            feature_ids(trees)
        )
        with pytest.raises(NotFound, match="layer 'sewer_sections' does not exist"):
            store.delete_layer("sewer_sections", "wasserverband")
        # The key is free again.
        assert store.replace_layer(layer_version(), [batch([at(1, 1)])]).feature_count == 1

    def test_earlier_versions_keep_their_features_as_long_as_asked(self, store: Store) -> None:
        keep_one = layer_version(keep_earlier=1)
        store.replace_layer(keep_one, [batch([at(1, 1)], [{"n": 1}])])
        store.replace_layer(keep_one, [batch([at(2, 2), at(3, 3)], [{"n": 2}, {"n": 3}])])
        assert [(i.version, kept) for i, kept in store.layer_versions("sewer_sections")] == [
            (2, True),
            (1, True),
        ]
        (earlier,) = store.archived_layer_features("sewer_sections", 1)
        assert (earlier.geometry, earlier.attributes, earlier.source_row) == (at(1, 1), {"n": 1}, 1)
        store.replace_layer(keep_one, [batch([at(4, 4)])])
        assert [(i.version, kept) for i, kept in store.layer_versions("sewer_sections")] == [
            (3, True),
            (2, True),
            (1, False),
        ]
        assert [f.attributes for f in store.archived_layer_features("sewer_sections", 2)] == [
            {"n": 2},
            {"n": 3},
        ]
        with pytest.raises(NotFound, match="version 1 of layer 'sewer_sections' are not kept"):
            store.archived_layer_features("sewer_sections", 1)
        store.replace_layer(layer_version(), [batch([at(5, 5)])])  # keep_earlier=0: none kept
        assert [kept for _i, kept in store.layer_versions("sewer_sections")] == [True] + [False] * 3
        store.delete_layer("sewer_sections", "wasserverband")
        with pytest.raises(NotFound):
            store.layer_versions("sewer_sections")

    def test_delete_unknown_layer_is_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound, match="layer 'nirgends' does not exist"):
            store.delete_layer("nirgends", "wasserverband")

    def test_layers_and_projects_live_side_by_side(self, store: Store) -> None:
        [project] = store.add_projects([new(at(5, 5))])
        store.replace_layer(layer_version(), [batch([at(5, 5)])])
        assert ids(store.list_projects(ProjectQuery(area=square(0, 0, 10, 10)))) == [project.id]
        store.delete_layer("sewer_sections", "alice")
        assert store.get_project(project.id) == project


class ThrottleContract:
    """``ThrottleStore``: the sign-in throttle's moving windows."""

    def test_attempts_are_counted_per_key_within_their_window(self, store: Store) -> None:
        assert store.add_attempts("account/a", 1000.0, 2, limit=3, window=60)
        assert not store.add_attempts("account/a", 1010.0, 2, limit=3, window=60)  # 4 > 3
        assert store.add_attempts("account/a", 1010.0, 1, limit=3, window=60)
        assert store.add_attempts("account/b", 1010.0, 3, limit=3, window=60)
        assert store.attempts_since("account/a", 950.0) == (1000.0, 3)
        assert store.attempts_since("account/a", 1005.0) == (1010.0, 1)
        assert store.attempts_since("account/c", 0.0) == (None, 0)
        # A minute later the first two have left the window.
        assert store.add_attempts("account/a", 1061.0, 2, limit=3, window=60)
        assert store.attempts_since("account/a", 0.0) == (1010.0, 3)
        store.forget_attempts("account/a")
        assert store.attempts_since("account/a", 0.0) == (None, 0)
        assert store.attempts_since("account/b", 0.0)[1] == 3
        store.forget_attempts()
        assert store.attempts_since("account/b", 0.0) == (None, 0)


class ChecklistContract:
    """``ChecklistStore``: answers to a development plan's checklist, one per project and item."""

    def test_checklist_answers_are_written_replaced_cleared_and_go_with_their_project(
        self, store: Store
    ) -> None:
        first, second = store.add_projects([new(), new()])
        at = datetime(2026, 12, 6, 13, 30, 15, 123456, tzinfo=UTC)
        store.save_checklist_answers(
            first.id,
            [
                ChecklistAnswer("green_roofs", "fulfilled", "Extensiv, 10 cm", "alice", at),
                ChecklistAnswer("tree_planting", "planned", "", "alice", at),
            ],
        )
        store.save_checklist_answers(
            second.id, [ChecklistAnswer("green_roofs", "not_applicable", "Kein Dach", "bob", at)]
        )
        later = at + timedelta(hours=1)
        store.save_checklist_answers(
            first.id,
            [ChecklistAnswer("tree_planting", "fulfilled", "Ein Baum je Grundstück", "bob", later)],
            cleared=["green_roofs"],
        )
        answers = store.checklist_answers([first.id, second.id, 999_999])
        assert answers == {
            first.id: {
                "tree_planting": ChecklistAnswer(
                    "tree_planting", "fulfilled", "Ein Baum je Grundstück", "bob", later
                )
            },
            second.id: {
                "green_roofs": ChecklistAnswer(
                    "green_roofs", "not_applicable", "Kein Dach", "bob", at
                )
            },
        }
        assert is_utc(answers[first.id]["tree_planting"].answered_at)
        assert store.checklist_answers([]) == {}
        store.delete_project(second.id, "alice", None)
        assert set(store.checklist_answers([first.id, second.id])) == {first.id}

    def test_checklist_answers_roll_back_with_their_transaction(self, store: Store) -> None:
        [plan] = store.add_projects([new()])
        at = datetime(2026, 12, 6, tzinfo=UTC)
        with pytest.raises(RuntimeError), store.transaction():
            store.save_checklist_answers(
                plan.id, [ChecklistAnswer("green_roofs", "fulfilled", "", "alice", at)]
            )
            raise RuntimeError("the audit entry failed")
        assert store.checklist_answers([plan.id]) == {}


class JobContract:
    """``JobStore``: jobs every process reads, also while a transaction is open."""

    def test_jobs_are_saved_beaten_read_and_trimmed(self, store: Store) -> None:
        start = datetime(2026, 12, 6, 10, tzinfo=UTC)
        first = Job("a1", "layer.import", "trees", "steward", 3, created_at=start)
        store.save_job(first)
        assert store.get_job("a1") == first and store.get_job("zz") is None
        running = replace(first, state=JobState.RUNNING, done=5, total=10, heartbeat_at=start)
        with store.transaction():  # the job's own work holds one while it reports
            store.add_projects([new(at(5, 5))])
            store.save_job(running)
        later = start + timedelta(seconds=5)
        store.beat_jobs(["a1"], later)
        assert store.get_job("a1") == replace(running, heartbeat_at=later)
        for number in range(3):
            done_at = later + timedelta(seconds=number)
            store.save_job(
                Job(
                    f"d{number}",
                    "cases.detect_all",
                    "*",
                    "admin",
                    None,
                    JobState.DONE,
                    finished_at=done_at,
                    result={"created": number},
                )
            )
        store.trim_jobs(keep=2)
        assert store.get_job("d0") is None and store.get_job("d2") is not None
        assert store.get_job("a1") is not None  # unfinished: kept


class RevisionContract:
    """``Store.revision``: what the in-memory detection index relies on to stay in step."""

    def test_each_project_or_layer_change_adds_one(self, store: Store) -> None:
        start = store.revision()
        [p] = store.add_projects([new(at(5, 5))])
        assert store.revision() == start + 1
        store.update_project(p.id, attributes(title="Neu"), at(6, 6), "bob", p.version)
        assert store.revision() == start + 2
        store.replace_layer(layer_version(), [batch([at(5, 5), at(7, 7)])])
        assert store.revision() == start + 3
        store.replace_layer(layer_version(), [batch([at(5, 5)])])
        assert store.revision() == start + 4
        store.delete_layer("sewer_sections", "alice")
        store.delete_project(p.id, "bob", None)
        assert store.revision() == start + 6

    def test_the_change_log_names_what_each_revision_changed(self, store: Store) -> None:
        start = store.revision()
        [p] = store.add_projects([new(at(5, 5))])
        store.replace_layer(layer_version(), [batch([at(5, 5)])])
        store.delete_project(p.id, "bob", None)
        changes = store.changes_since(start)
        assert [(c.revision - start, c.kind, c.ref) for c in changes] == [
            (1, "project", str(p.id)),
            (2, "layer", "sewer_sections"),
            (3, "project", str(p.id)),
        ]
        assert store.changes_since(start + 2) == changes[2:]
        assert store.changes_since(store.revision()) == []

    def test_reads_failures_and_cases_leave_it_alone(self, store: Store) -> None:
        [p] = store.add_projects([new(at(5, 5))])
        before = store.revision()
        store.list_projects(ProjectQuery())
        with pytest.raises(VersionConflict):
            store.update_project(p.id, attributes(), at(6, 6), "bob", p.version + 1)
        sync(store, [finding(project(p.id), P2)])
        assert store.revision() == before


# -- coordination cases ------------------------------------------------------


def project(ref: int | str) -> Subject:
    return Subject("project", str(ref))


def feature(layer: str, ref: str) -> Subject:
    return Subject("layer", ref, layer)


P1, P2, P3, P4, P5, P6, P7 = (project(n) for n in range(1, 8))
SEWER = feature("sewer_sections", "H-1007")
BOTTROP, EMSCHER = "stadt-bottrop", "emschergenossenschaft"


def finding(
    a: Subject = P1, b: Subject = P2, rule: str = "road_sewer", **changes: object
) -> CaseFinding:
    """A complete finding for the pair; tests change only what they look at."""
    base = CaseFinding(
        pair_key=f"{rule}|{a.key}|{b.key}",
        rule_id=rule,
        relation="synergy",
        severity="medium",
        subject_a=a,
        subject_b=b,
        geometry=square(0, 0, 3, 4),
        measures={"overlap_area_m2": 12.0, "overlap_days": 92},
        organisations=(BOTTROP, EMSCHER),
        departments=("strassenbau", "entwaesserung"),
        message={"de": "Baumaßnahmen bündeln", "en": "bundle the construction works"},
        window_start=date(2026, 3, 1),
        window_end=date(2027, 6, 30),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def case_ids(cases: list[CoordinationCase]) -> list[int]:
    return [case.id for case in cases]


def sync(
    store: Store,
    findings: list[CaseFinding],
    scope: str | None = None,
    user: str = "engine",
    reason: dict[str, object] | None = None,
) -> CaseSync:
    """``sync_cases``; cases that vanish do so because the rule no longer applies."""
    return store.sync_cases(findings, scope, user, OBSOLETE_RULE if reason is None else reason)


def case_of(store: Store, case_id: int) -> CoordinationCase:
    case = store.get_case(case_id)
    assert case is not None
    return case


def events(case: CoordinationCase) -> list[tuple[str, Event]]:
    """Who did what, as the history records it."""
    return [(entry.by, entry.event.kind) for entry in case.history]


def details(case: CoordinationCase) -> list[dict[str, object]]:
    return [dict(entry.event.details) for entry in case.history]


def as_is(value: str, lang: Lang) -> str:
    """Vocabulary values (statuses, kinds, organisations) unworded: the stored value."""
    return value


def worded(case: CoordinationCase, lang: Lang = "en") -> list[str]:
    """The history as a reader sees it, people and vocabulary values as stored."""
    return [word_event(entry.event, lang, as_is, str) for entry in case.history]


def work(
    store: Store,
    case_id: int,
    plan: Callable[[CoordinationCase], CaseWork],
    user: str,
) -> CoordinationCase:
    """One desk step, planned on the case as it is stored now and applied at its version."""
    case = case_of(store, case_id)
    return store.apply_case_work(case_id, plan(case), user, case.version)


def take_up(case: CoordinationCase) -> CaseWork:
    return case_workflow.change_status(case, "in_coordination")


def propose(
    kind: str = "bundle_works", text: str = "Gemeinsam bauen", measures: tuple[str, ...] = ()
) -> Callable[[CoordinationCase], CaseWork]:
    return lambda case: case_workflow.propose(case, kind, text, measures)


def vote(
    organisation: str, choice: str = "agree", reason: str = ""
) -> Callable[[CoordinationCase], CaseWork]:
    return lambda case: case_workflow.vote(case, organisation, choice, reason)


def agreed_case(store: Store, found: CaseFinding | None = None) -> int:
    """A case both organisations agreed on: a bundle of works."""
    [case_id] = sync(store, [found or finding()]).created
    work(store, case_id, propose(), "anna")
    work(store, case_id, vote(BOTTROP), "anna")
    work(store, case_id, vote(EMSCHER), "emil")
    assert case_of(store, case_id).status is CaseStatus.AGREED
    return case_id


def everything(store: Store) -> list[CoordinationCase]:
    """Every case with its comments and history: to compare before and after."""
    return [case_of(store, case.id) for case in store.list_cases(CaseQuery())]


with np.errstate(invalid="ignore"):  # NaN is the point here
    NAN_VERTEX = line((0, 0), (float("nan"), 5), (10, 10))
    """A line whose bounds are finite: GEOS skips the NaN when it computes them."""

NOTHING = CaseSync(created=(), updated=(), unchanged=(), reopened=(), obsoleted=())


class CaseStorageContract:
    """Coordination cases, for every backend; subclasses provide ``store``."""

    # -- sync: create, keep, update ----------------------------------------

    def test_sync_creates_open_cases(self, store: Store) -> None:
        first, second = finding(P1, P2), finding(P1, SEWER, rule="excavation_sewer")
        before = datetime.now(UTC)
        result = sync(store, [first, second], user="engine")
        after = datetime.now(UTC)

        assert result == replace(NOTHING, created=result.created)
        assert len(result.created) == 2
        assert list(result.created) == sorted(result.created)
        tolerance = timedelta(milliseconds=1)
        for case_id, found in zip(result.created, (first, second), strict=True):
            case = case_of(store, case_id)
            assert case.id == case_id
            assert case.finding == found
            assert case.finding.geometry is not None
            assert case.finding.geometry.equals_exact(found.geometry, 0.0)
            assert case.status is CaseStatus.OPEN
            assert case.status_reason == {}
            assert (case.assignee, case.due_date, case.decisions) == (None, None, ())
            assert case.decision is None
            assert case.version == 1
            assert is_utc(case.created_at)
            assert before - tolerance <= case.created_at <= after + tolerance
            assert case.updated_at == case.created_at
            assert case.comments == ()
            assert events(case) == [("engine", Event.CREATED)]
            assert details(case) == [{}]
            assert worded(case) == ["case detected"]
            assert case.history[0].at == case.created_at
        assert store.count_cases(CaseQuery()) == 2

    @pytest.mark.parametrize(
        "changes",
        [
            {"geometry": None},
            {"geometry": Polygon()},
            {"geometry": at(3.25, -7.5)},
            {"geometry": line((0, 0), (30, 40), (60, 0))},
            {
                "geometry": MultiPolygon(
                    [box(X0, Y0, X0 + 10, Y0 + 10), box(X0 + 20, Y0, X0 + 30, Y0 + 10)]
                )
            },
            {"window_start": None, "window_end": None},
            {"window_start": date(2026, 1, 1), "window_end": None},
            {"organisations": (), "departments": (), "measures": {}, "message": {}},
            {
                "measures": {"distance_m": 4.5, "overlap_days": None, "parts": [1, 2.5]},
                "message": {"de": "Äußere Straße: 100% ✓ 'x' \"y\"\nZeile 2", "en": ""},
                "organisations": ("stadt-essen",),
            },
            {"subject_b": feature("trees", "B 17/ä"), "rule_id": "excavation_tree"},
        ],
        ids=[
            "no-geometry",
            "empty-geometry",
            "point",
            "line",
            "multipolygon",
            "no-window",
            "open-end",
            "nothing-involved",
            "text-and-values",
            "layer-subject",
        ],
    )
    def test_finding_round_trips(self, store: Store, changes: dict[str, object]) -> None:
        found = finding(**changes)  # type: ignore[arg-type]
        [case_id] = sync(store, [found]).created
        case = case_of(store, case_id)
        assert case.finding == found
        if found.geometry is None:
            assert case.finding.geometry is None
        else:
            assert case.finding.geometry is not None
            assert case.finding.geometry.geom_type == found.geometry.geom_type
            assert case.finding.geometry.equals_exact(found.geometry, 0.0)
        assert store.list_cases(CaseQuery()) == [replace(case, comments=(), history=())]

    def test_sync_nothing(self, store: Store) -> None:
        assert sync(store, []) == NOTHING
        assert store.list_cases(CaseQuery()) == []
        assert store.count_cases(CaseQuery()) == 0

    def test_repeated_sync_keeps_identity_and_changes_nothing(self, store: Store) -> None:
        findings = [finding(P1, P2), finding(P2, P3), finding(P1, SEWER, rule="x")]
        created = sync(store, findings).created
        before = everything(store)

        for _ in range(2):
            again = sync(store, findings)
            assert again == replace(NOTHING, unchanged=created)
        # The order of the findings does not matter either.
        assert sync(store, findings[::-1]) == replace(NOTHING, unchanged=created)
        assert everything(store) == before
        assert store.count_cases(CaseQuery()) == 3

    def test_measures_in_another_key_order_are_unchanged(self, store: Store) -> None:
        [case_id] = sync(
            store, [finding(measures={"overlap_area_m2": 12.0, "overlap_days": 92})]
        ).created
        reordered = finding(measures={"overlap_days": 92, "overlap_area_m2": 12.0})
        assert sync(store, [reordered]) == replace(NOTHING, unchanged=(case_id,))
        assert case_of(store, case_id).version == 1

    def test_changed_measures_update_the_case(self, store: Store) -> None:
        [case_id] = sync(store, [finding()], user="engine").created
        created = case_of(store, case_id)
        grown = finding(
            geometry=square(0, 0, 3.7, 5),
            measures={"overlap_area_m2": 18.5, "overlap_days": 92},
        )
        assert sync(store, [grown], user="batch") == replace(NOTHING, updated=(case_id,))

        case = case_of(store, case_id)
        assert case.finding == grown
        assert case.version == 2
        assert case.status is CaseStatus.OPEN
        assert case.created_at == created.created_at
        assert case.updated_at >= created.updated_at
        assert events(case) == [("engine", Event.CREATED), ("batch", Event.UPDATED)]
        assert details(case)[-1] == {
            "changes": [{"measure": "overlap_area_m2", "from": 12.0, "to": 18.5}]
        }
        assert worded(case)[-1] == "recomputed: overlap 12.0 → 18.5 m²"
        assert worded(case, "de")[-1] == "neu berechnet: Überlappung 12,0 → 18,5 m²"
        assert case.history[-1].at == case.updated_at

    @pytest.mark.parametrize(
        ("changes", "recorded", "what"),
        [
            (
                {"severity": "high"},
                [{"field": "severity", "from": "medium", "to": "high"}],
                "severity medium → high",
            ),
            (
                {"relation": "conflict"},
                [{"field": "relation", "from": "synergy", "to": "conflict"}],
                "relation synergy → conflict",
            ),
            ({"geometry": square(1, 0, 4, 4)}, [{"field": "geometry"}], "overlap geometry"),
            ({"geometry": None}, [{"field": "geometry"}], "overlap geometry"),
            (
                {"measures": {"overlap_area_m2": 12.0, "overlap_days": 30, "distance_m": 4.5}},
                [
                    {"measure": "overlap_days", "from": 92, "to": 30},
                    {"measure": "distance_m", "from": None, "to": 4.5},
                ],
                "time overlap 92 → 30 days; distance – → 4.5 m",
            ),
            (
                {"measures": {"overlap_area_m2": 12.0}},
                [{"measure": "overlap_days", "from": 92, "to": None}],
                "time overlap 92 → – days",
            ),
            (
                {"measures": {"overlap_area_m2": 12.0, "overlap_days": 92, "gap_months": 3}},
                [{"measure": "gap_months", "from": None, "to": 3}],
                "time gap – → 3 months",
            ),
            (
                {"measures": {"overlap_area_m2": 12.0, "overlap_days": 92, "crossings": 2}},
                [{"measure": "crossings", "from": None, "to": 2}],
                "crossings – → 2",
            ),
            (
                {"measures": {"overlap_area_m2": 12.3456, "overlap_days": 92}},
                [{"measure": "overlap_area_m2", "from": 12.0, "to": 12.3456}],
                "overlap 12.0 → 12.35 m²",
            ),
            (
                {"window_end": None},
                [
                    {
                        "field": "window",
                        "from": ["2026-03-01", "2027-06-30"],
                        "to": ["2026-03-01", None],
                    }
                ],
                "period 2026-03-01 – 2027-06-30 → 2026-03-01 – open",
            ),
            (
                {"organisations": (BOTTROP,)},
                [{"field": "organisations", "from": [BOTTROP, EMSCHER], "to": [BOTTROP]}],
                "organisations stadt-bottrop, emschergenossenschaft → stadt-bottrop",
            ),
            (
                {"departments": ()},
                [{"field": "departments", "from": ["strassenbau", "entwaesserung"], "to": []}],
                "departments strassenbau, entwaesserung → none",
            ),
            ({"message": {"de": "Neu", "en": "new"}}, [{"field": "message"}], "message"),
            (
                {"severity": "low", "measures": {"overlap_area_m2": 1.0, "overlap_days": 92}},
                [
                    {"field": "severity", "from": "medium", "to": "low"},
                    {"measure": "overlap_area_m2", "from": 12.0, "to": 1.0},
                ],
                "severity medium → low; overlap 12.0 → 1.0 m²",
            ),
        ],
    )
    def test_history_says_what_changed(
        self,
        store: Store,
        changes: dict[str, object],
        recorded: list[dict[str, object]],
        what: str,
    ) -> None:
        [case_id] = sync(store, [finding()]).created
        changed = finding(**changes)  # type: ignore[arg-type]
        assert sync(store, [changed]) == replace(NOTHING, updated=(case_id,))
        case = case_of(store, case_id)
        assert case.finding == changed
        assert [kind for _, kind in events(case)] == [Event.CREATED, Event.UPDATED]
        assert details(case)[-1] == {"changes": recorded}
        assert "; ".join(word_change(change, "en") for change in recorded) == what
        assert worded(case)[-1] == f"recomputed: {what}"

    def test_history_words_changes_in_german(self, store: Store) -> None:
        [case_id] = sync(store, [finding()]).created
        changed = finding(
            measures={"overlap_area_m2": 1234.5, "overlap_days": 30},
            window_end=None,
            departments=(),
        )
        sync(store, [changed])
        assert worded(case_of(store, case_id), "de")[-1] == (
            "neu berechnet: Überlappung 12,0 → 1\u2009234,5 m²; "
            "zeitliche Überschneidung 92 → 30 Tage; "
            "Zeitraum 01.03.2026 – 30.06.2027 → 01.03.2026 – offen; "
            "Fachbereiche strassenbau, entwaesserung → keine"
        )

    def test_a_case_in_coordination_keeps_its_status_when_updated(self, store: Store) -> None:
        [case_id] = sync(store, [finding()]).created
        work(store, case_id, take_up, "anna")
        assert sync(store, [finding(severity="high")]) == replace(NOTHING, updated=(case_id,))
        case = case_of(store, case_id)
        assert case.status is CaseStatus.IN_COORDINATION
        assert case.status_reason == {}
        assert case.version == 3
        assert events(case) == [
            ("engine", Event.CREATED),
            ("anna", Event.STATUS_CHANGED),
            ("engine", Event.UPDATED),
        ]

    # -- sync: obsolete and reopen ------------------------------------------

    def test_case_without_finding_becomes_obsolete_and_comes_back(self, store: Store) -> None:
        stays, goes = sync(store, [finding(P1, P2), finding(P1, P3)]).created

        result = sync(store, [finding(P1, P2)], user="batch", reason=project_deleted(3))
        assert result == replace(NOTHING, unchanged=(stays,), obsoleted=(goes,))
        gone = case_of(store, goes)
        assert gone.status is CaseStatus.OBSOLETE
        assert gone.status_reason == {"code": "project_deleted", "project": 3}
        assert word_reason(gone.status_reason, "en") == "project 3 was deleted"
        assert gone.version == 2
        assert gone.finding == finding(P1, P3)  # kept as last found
        assert events(gone) == [("engine", Event.CREATED), ("batch", Event.OBSOLETED)]
        assert details(gone)[-1] == {"reason": {"code": "project_deleted", "project": 3}}
        assert worded(gone)[-1] == "obsolete: project 3 was deleted"
        assert worded(gone, "de")[-1] == "gegenstandslos: Maßnahme 3 wurde gelöscht"
        assert case_of(store, stays).version == 1

        # Still missing: nothing more happens to it.
        result = sync(store, [finding(P1, P2)])
        assert result == replace(NOTHING, unchanged=(stays,))
        assert case_of(store, goes) == gone

        result = sync(store, [finding(P1, P2), finding(P1, P3)], user="batch")
        assert result == replace(NOTHING, unchanged=(stays,), reopened=(goes,))
        back = case_of(store, goes)
        assert back.status is CaseStatus.OPEN
        assert back.status_reason == {}
        assert back.version == 3
        assert [kind for _, kind in events(back)] == [
            Event.CREATED,
            Event.OBSOLETED,
            Event.REOPENED,
        ]
        assert worded(back) == [
            "case detected",
            "obsolete: project 3 was deleted",
            "reopened: the rule applies again",
        ]
        assert store.count_cases(CaseQuery()) == 2

    def test_reopened_case_with_new_measures_is_updated_too(self, store: Store) -> None:
        [case_id] = sync(store, [finding()]).created
        sync(store, [], reason=project_deleted(2))
        changed = finding(measures={"overlap_area_m2": 20.0, "overlap_days": 92})
        assert sync(store, [changed]) == replace(NOTHING, reopened=(case_id,))
        case = case_of(store, case_id)
        assert case.finding == changed
        assert case.status is CaseStatus.OPEN
        # One version per sync, whatever it changed.
        assert case.version == 3
        assert [kind for _, kind in events(case)] == [
            Event.CREATED,
            Event.OBSOLETED,
            Event.REOPENED,
            Event.UPDATED,
        ]
        assert details(case)[-1] == {
            "changes": [{"measure": "overlap_area_m2", "from": 12.0, "to": 20.0}]
        }
        assert worded(case)[1:] == [
            "obsolete: project 2 was deleted",
            "reopened: the rule applies again",
            "recomputed: overlap 12.0 → 20.0 m²",
        ]

    def test_an_agreed_case_whose_cause_disappears_becomes_obsolete(self, store: Store) -> None:
        case_id = agreed_case(store)
        agreed = case_of(store, case_id)
        assert sync(store, [], user="batch", reason=project_deleted(2)).obsoleted == (case_id,)
        case = case_of(store, case_id)
        assert (case.status, case.status_reason) == (
            CaseStatus.OBSOLETE,
            {"code": "project_deleted", "project": 2},
        )
        assert case.version == agreed.version + 1
        # The agreement is closed with its votes kept: it was about what is gone.
        [decision] = case.decisions
        assert decision.state is DecisionState.REOPENED
        assert decision.closed_at == case.updated_at
        assert decision.votes == agreed.decisions[0].votes
        assert case.decision is None
        assert events(case)[-1] == ("batch", Event.OBSOLETED)
        # When it comes back, it is open, and nothing is agreed.
        assert sync(store, [finding()]).reopened == (case_id,)
        back = case_of(store, case_id)
        assert back.status is CaseStatus.OPEN
        assert back.decision is None
        assert [d.state for d in back.decisions] == [DecisionState.REOPENED]
        assert events(back)[-1] == ("engine", Event.REOPENED)

    def test_a_proposal_whose_cause_disappears_is_closed(self, store: Store) -> None:
        [case_id] = sync(store, [finding()]).created
        work(store, case_id, propose(), "anna")
        work(store, case_id, vote(BOTTROP), "anna")
        assert sync(store, []).obsoleted == (case_id,)
        case = case_of(store, case_id)
        assert case.status is CaseStatus.OBSOLETE
        assert [d.state for d in case.decisions] == [DecisionState.REOPENED]
        assert [v.organisation for v in case.decisions[0].votes] == [BOTTROP]

    def test_a_case_in_coordination_whose_cause_disappears_keeps_its_old_decisions(
        self, store: Store
    ) -> None:
        [case_id] = sync(store, [finding()]).created
        work(store, case_id, propose(), "anna")
        work(store, case_id, lambda case: case_workflow.withdraw(case), "anna")
        assert sync(store, []).obsoleted == (case_id,)
        case = case_of(store, case_id)
        assert case.status is CaseStatus.OBSOLETE
        assert [d.state for d in case.decisions] == [DecisionState.WITHDRAWN]

    # -- sync: decisions meet changes ------------------------------------------

    def test_an_agreed_case_whose_finding_changes_is_reopened(self, store: Store) -> None:
        case_id = agreed_case(store)
        agreed = case_of(store, case_id)
        changed = finding(severity="high")
        assert sync(store, [changed], user="batch") == replace(NOTHING, updated=(case_id,))
        case = case_of(store, case_id)
        assert case.finding == changed
        assert case.status is CaseStatus.OPEN
        assert case.status_reason == {}
        # One version for the sync, payload and status together.
        assert case.version == agreed.version + 1
        [decision] = case.decisions
        assert decision.state is DecisionState.REOPENED
        assert decision.closed_at == case.updated_at
        assert decision.votes == agreed.decisions[0].votes
        assert case.decision is None
        assert events(case)[-1] == ("batch", Event.REOPENED_AFTER_CHANGE)
        assert details(case)[-1] == {
            "changes": [{"field": "severity", "from": "medium", "to": "high"}],
            "from": "agreed",
        }
        assert worded(case)[-1] == ("reopened because a subject changed: severity medium → high")
        # A recomputation without changes leaves it open.
        assert sync(store, [changed]) == replace(NOTHING, unchanged=(case_id,))
        assert case_of(store, case_id) == case

    def test_a_proposal_whose_finding_changes_goes_back_to_coordination(self, store: Store) -> None:
        [case_id] = sync(store, [finding()]).created
        work(store, case_id, propose(), "anna")
        proposed = work(store, case_id, vote(BOTTROP), "anna")
        changed = finding(measures={"overlap_area_m2": 30.0, "overlap_days": 92})
        assert sync(store, [changed], user="batch") == replace(NOTHING, updated=(case_id,))
        case = case_of(store, case_id)
        assert case.status is CaseStatus.IN_COORDINATION
        assert case.version == proposed.version + 1
        assert [d.state for d in case.decisions] == [DecisionState.REOPENED]
        assert case.decision is None
        assert details(case)[-1] == {
            "changes": [{"measure": "overlap_area_m2", "from": 12.0, "to": 30.0}],
            "from": "proposed",
        }
        # Everyone votes again, on a new proposal.
        work(store, case_id, propose(text="Neu geplant"), "anna")
        again = case_of(store, case_id)
        assert again.decision is not None
        assert again.decision.votes == ()
        assert again.decision.waiting_for(again.finding.organisations) == (EMSCHER, BOTTROP)

    # -- sync: scope ---------------------------------------------------------

    def test_scope_limits_obsoleting_to_the_cases_of_that_subject(self, store: Store) -> None:
        p1_p2, p2_p3, p3_p4, p1_sewer, sewer_p2 = sync(
            store,
            [
                finding(P1, P2),
                finding(P2, P3),
                finding(P3, P4),
                finding(P1, SEWER, rule="excavation_sewer"),
                finding(SEWER, P2, rule="sewer_renewal"),
            ],
        ).created

        # Project 2 on either side of a pair.
        result = sync(store, [], scope=P2.key, reason=project_deleted(2))
        assert result == replace(NOTHING, obsoleted=(p1_p2, p2_p3, sewer_p2))
        for case_id in (p3_p4, p1_sewer):
            assert case_of(store, case_id).status is CaseStatus.OPEN
            assert case_of(store, case_id).version == 1

        # A layer feature as the scope; its other case is obsolete already.
        result = sync(store, [], scope=SEWER.key)
        assert result == replace(NOTHING, obsoleted=(p1_sewer,))
        assert case_of(store, p3_p4).status is CaseStatus.OPEN

    def test_findings_in_scope_are_kept_and_added(self, store: Store) -> None:
        p1_p2, p1_p3, p3_p4 = sync(
            store, [finding(P1, P2), finding(P1, P3), finding(P3, P4)]
        ).created
        result = sync(store, [finding(P1, P3), finding(P4, P1)], scope=P1.key)
        [p4_p1] = result.created
        assert result == CaseSync(
            created=(p4_p1,), updated=(), unchanged=(p1_p3,), reopened=(), obsoleted=(p1_p2,)
        )
        assert p4_p1 > p3_p4
        assert case_of(store, p3_p4).version == 1

    def test_finding_outside_the_scope_updates_its_case(self, store: Store) -> None:
        p1_p2, p3_p4, p5_p6 = sync(
            store, [finding(P1, P2), finding(P3, P4), finding(P5, P6)]
        ).created
        sync(store, [], scope=P5.key, reason=project_deleted(5))
        changed = finding(P3, P4, severity="high")
        result = sync(store, [finding(P1, P2), changed, finding(P5, P6)], scope=P1.key)
        assert result == replace(NOTHING, unchanged=(p1_p2,), updated=(p3_p4,), reopened=(p5_p6,))
        assert store.count_cases(CaseQuery()) == 3
        assert case_of(store, p3_p4).finding == changed
        assert case_of(store, p5_p6).status is CaseStatus.OPEN

    def test_case_ids_are_never_reused(self, store: Store) -> None:
        first = sync(store, [finding(P1, P2), finding(P2, P3)]).created
        sync(store, [])
        [later] = sync(store, [finding(P3, P4)]).created
        assert later > max(first)

    def test_concurrent_syncs_never_duplicate_a_case(self, store: Store) -> None:
        workers = 5
        barrier = threading.Barrier(workers)
        results: list[CaseSync] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def check() -> None:
            barrier.wait()
            try:
                result = sync(store, [finding(P1, P2)], scope=P1.key)
                with lock:
                    results.append(result)
            except BaseException as exc:  # reported below, not swallowed
                errors.append(exc)

        threads = [threading.Thread(target=check) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert sorted(len(r.created) for r in results) == [0] * (workers - 1) + [1]
        assert store.count_cases(CaseQuery()) == 1

    # -- sync: atomic --------------------------------------------------------

    @pytest.mark.parametrize(
        ("broken", "error"),
        [
            ({"geometry": Point(float("nan"), Y0)}, InvalidInput),
            ({"geometry": NAN_VERTEX}, InvalidInput),
            ({"geometry": square(0, 0, float("inf"), 10)}, InvalidInput),
            ({"measures": {"overlap_area_m2": float("nan")}}, ValueError),
            ({"measures": {"since": date(2026, 1, 1)}}, TypeError),
            ({"message": {"de": object()}}, TypeError),
        ],
        ids=["nan-point", "nan-vertex", "infinite", "nan-measure", "date-measure", "object"],
    )
    def test_sync_is_atomic(
        self, store: Store, broken: dict[str, object], error: type[Exception]
    ) -> None:
        sync(store, [finding(P1, P2), finding(P1, P3), finding(P1, P4)])
        before = everything(store)
        findings = [
            finding(P1, P2, severity="high"),  # would update
            finding(P1, P5),  # would create
            finding(P1, P3, **broken),  # type: ignore[arg-type]
        ]  # and P1 × P4 would become obsolete
        with pytest.raises(error, match=re.escape("road_sewer|project:1|project:3")):
            sync(store, findings)
        assert everything(store) == before
        assert store.count_cases(CaseQuery(area=square(-10, -10, 10, 10))) == 3
        # The store still works.
        assert len(sync(store, findings[:2]).created) == 1

    def test_a_pair_key_twice_is_refused(self, store: Store) -> None:
        with pytest.raises(ValueError, match="more than once"):
            sync(store, [finding(), finding(severity="high")])
        assert store.count_cases(CaseQuery()) == 0

    def test_findings_in_parts_sync_as_at_once_and_obsolete_only_at_the_end(
        self, store: Store
    ) -> None:
        """A batch run whose shares come from helper processes (``sync_case_parts``)."""
        kept, moved = finding(P1, P2), finding(P1, SEWER, rule="x")
        [gone, *_] = sync(store, [finding(P1, P4), kept, moved]).created
        before = {case.finding.pair_key: case for case in everything(store)}
        grown = replace(moved, geometry=square(0, 0, 6, 6))
        first = [kept, finding(P2, P3)]  # the second part names the moved case:
        second = [grown, finding(P5, SEWER, rule="x")]  # not obsolete after the first

        done = store.sync_case_parts(
            (PreparedFindings.of(part) for part in (first, second)), "engine", OBSOLETE_RULE
        )

        created = done.created
        assert len(created) == 2 and created[0] < created[1]  # ids in the order parts came
        assert done == replace(
            NOTHING,
            created=created,
            updated=(before[grown.pair_key].id,),
            unchanged=(before[kept.pair_key].id,),
            obsoleted=(gone,),
        )
        assert [case_of(store, case_id).finding for case_id in created] == [first[1], second[1]]
        assert case_of(store, before[grown.pair_key].id).finding == grown
        assert case_of(store, gone).status is CaseStatus.OBSOLETE
        # The moved case is found where it is now, the new ones where they are.
        area = square(4.5, 4.5, 5.5, 5.5)
        assert before[grown.pair_key].id in case_ids(store.list_cases(CaseQuery(area=area)))
        # The same findings at once now change nothing.
        assert sync(store, first + second) == replace(
            NOTHING,
            unchanged=tuple(
                sorted((*created, before[grown.pair_key].id, before[kept.pair_key].id))
            ),
        )

    def test_a_case_named_by_two_parts_is_refused_and_nothing_is_written(
        self, store: Store
    ) -> None:
        sync(store, [finding(P1, P2)])
        before = everything(store)
        parts = ([finding(P1, P3), finding(P1, P2)], [finding(P1, P2, severity="high")])
        with pytest.raises(ValueError, match=re.escape("'road_sewer|project:1|project:2' more")):
            store.sync_case_parts(
                (PreparedFindings.of(part) for part in parts), "engine", OBSOLETE_RULE
            )
        assert everything(store) == before

    # -- the desk: status, assignee, due date, decisions, votes ----------------

    def test_change_case_status(self, store: Store) -> None:
        [case_id] = sync(store, [finding()]).created
        before = case_of(store, case_id)
        changed = store.apply_case_work(
            case_id, case_workflow.change_status(before, "in_coordination"), "anna", 1
        )
        assert changed.status is CaseStatus.IN_COORDINATION
        assert changed.status_reason == {}
        assert changed.version == 2
        assert changed.updated_at >= before.updated_at
        assert changed.created_at == before.created_at
        assert changed.finding == before.finding
        assert changed == case_of(store, case_id)
        assert events(changed) == [("engine", Event.CREATED), ("anna", Event.STATUS_CHANGED)]
        assert details(changed)[-1] == {"from": "open", "to": "in_coordination"}
        assert worded(changed)[-1] == "status open → in_coordination"
        assert worded(changed, "de")[-1] == "Status open → in_coordination"
        assert changed.history[-1].at == changed.updated_at

        back = store.apply_case_work(
            case_id, case_workflow.change_status(changed, "open"), "bert", 2
        )
        assert (back.status, back.status_reason, back.version) == (CaseStatus.OPEN, {}, 3)
        assert events(back)[-1] == ("bert", Event.STATUS_CHANGED)
        assert worded(back)[-1] == "status in_coordination → open"

    def test_a_case_work_is_written_at_once_and_bumps_the_version_once(self, store: Store) -> None:
        [case_id] = sync(store, [finding()]).created
        open_case = case_of(store, case_id)
        step = CaseWork(
            events=(
                HistoryEvent(Event.ASSIGNED, {"assignee": "anna", "previous": None}),
                HistoryEvent(Event.DUE_SET, {"due": "2026-01-15", "previous": None}),
                HistoryEvent(Event.STATUS_CHANGED, {"from": "open", "to": "in_coordination"}),
            ),
            status=CaseStatus.IN_COORDINATION,
            set_assignee=True,
            assignee="anna",
            set_due=True,
            due_date=date(2026, 1, 15),
        )
        case = store.apply_case_work(case_id, step, "bert", 1)
        assert case == case_of(store, case_id)
        assert (case.status, case.assignee, case.due_date) == (
            CaseStatus.IN_COORDINATION,
            "anna",
            date(2026, 1, 15),
        )
        assert case.version == 2
        assert case.updated_at > open_case.updated_at
        assert events(case)[1:] == [
            ("bert", Event.ASSIGNED),
            ("bert", Event.DUE_SET),
            ("bert", Event.STATUS_CHANGED),
        ]
        # All of one step at one moment, the case's new one.
        assert {entry.at for entry in case.history[1:]} == {case.updated_at}
        assert worded(case)[1:] == [
            "assigned to anna",
            "due date 2026-01-15",
            "status open → in_coordination",
        ]
        # What a step does not set stays as it is.
        moved = HistoryEvent(Event.DUE_SET, {"due": "2026-02-01", "previous": "2026-01-15"})
        later = store.apply_case_work(
            case_id, CaseWork(events=(moved,), set_due=True, due_date=date(2026, 2, 1)), "c", 2
        )
        assert (later.status, later.assignee, later.due_date, later.version) == (
            CaseStatus.IN_COORDINATION,
            "anna",
            date(2026, 2, 1),
            3,
        )
        # None is a value when it is to be set: nobody, the derived due date.
        cleared = store.apply_case_work(
            case_id,
            CaseWork(events=(), set_assignee=True, assignee=None, set_due=True, due_date=None),
            "c",
            3,
        )
        assert (cleared.assignee, cleared.due_date, cleared.version) == (None, None, 4)
        assert len(cleared.history) == len(later.history)

    def test_assign_and_set_a_due_date(self, store: Store) -> None:
        [case_id] = sync(store, [finding()]).created
        anna = store.add_account(new_account("anna", organisation=BOTTROP))
        assigned = work(store, case_id, lambda c: case_workflow.assign(c, anna), "bert")
        # Giving an open case to someone takes it up.
        assert (assigned.assignee, assigned.status, assigned.version) == (
            "anna",
            CaseStatus.IN_COORDINATION,
            2,
        )
        assert events(assigned)[1:] == [("bert", Event.ASSIGNED), ("bert", Event.STATUS_CHANGED)]
        assert details(assigned)[1] == {"assignee": "anna", "previous": None}
        due = work(store, case_id, lambda c: case_workflow.set_due(c, date(2026, 1, 15)), "bert")
        assert (due.due_date, due.version) == (date(2026, 1, 15), 3)
        assert details(due)[-1] == {"due": "2026-01-15", "previous": None}
        assert worded(due, "de")[-1] == "Frist 15.01.2026"
        default = work(store, case_id, lambda c: case_workflow.set_due(c, None), "bert")
        assert default.due_date is None
        assert details(default)[-1] == {"due": None, "previous": "2026-01-15"}
        assert worded(default)[-1] == "due date from the start dates"
        nobody = work(store, case_id, lambda c: case_workflow.assign(c, None), "bert")
        assert (nobody.assignee, nobody.status) == (None, CaseStatus.IN_COORDINATION)
        assert worded(nobody)[-1] == "assigned to nobody"

    def test_a_proposal_and_its_votes(self, store: Store) -> None:
        [case_id] = sync(store, [finding()]).created
        before = datetime.now(UTC)
        proposed = work(
            store,
            case_id,
            propose(
                "no_action", "Doppelt erfasst, siehe Fall 7", ("Fall 7 führen", " ", "Akte zu")
            ),
            "anna",
        )
        assert (proposed.status, proposed.version) == (CaseStatus.PROPOSED, 2)
        [decision] = proposed.decisions
        assert proposed.decision == decision
        assert (decision.kind, decision.text, decision.measures) == (
            DecisionKind.NO_ACTION,
            "Doppelt erfasst, siehe Fall 7",
            ("Fall 7 führen", "Akte zu"),
        )
        assert (decision.proposed_by, decision.state) == ("anna", DecisionState.WAITING)
        assert decision.proposed_at == proposed.updated_at >= before - timedelta(milliseconds=1)
        assert decision.closed_at is None
        assert decision.votes == ()
        assert events(proposed)[-1] == ("anna", Event.PROPOSED)
        assert worded(proposed)[-1] == (
            "decision proposed: no_action – Doppelt erfasst, siehe Fall 7"
        )

        first = work(store, case_id, vote(BOTTROP, "agree", "passt"), "anna")
        # One vote of two: the proposal waits for the other organisation.
        assert (first.status, first.version) == (CaseStatus.PROPOSED, 3)
        assert first.decision is not None
        [cast] = first.decision.votes
        assert (cast.organisation, cast.choice, cast.reason, cast.by) == (
            BOTTROP,
            VoteChoice.AGREE,
            "passt",
            "anna",
        )
        assert cast.at == first.updated_at
        assert first.decision.waiting_for(first.finding.organisations) == (EMSCHER,)
        assert details(first)[-1] == {
            "decision": decision.id,
            "organisation": BOTTROP,
            "choice": "agree",
            "reason": "passt",
        }
        assert worded(first)[-1] == "stadt-bottrop: agree – passt"

        last = work(store, case_id, vote(EMSCHER), "emil")
        assert (last.status, last.version) == (CaseStatus.AGREED, 4)
        assert last.decision is not None
        assert last.decision.state is DecisionState.AGREED
        assert last.decision.closed_at == last.updated_at
        assert [(v.organisation, v.by) for v in last.decision.votes] == [
            (BOTTROP, "anna"),
            (EMSCHER, "emil"),
        ]
        assert events(last)[-2:] == [("emil", Event.VOTED), ("emil", Event.AGREED)]
        assert worded(last)[-1] == "agreed: every organisation involved agreed"

    def test_an_objection_sends_the_proposal_back(self, store: Store) -> None:
        [case_id] = sync(store, [finding()]).created
        work(store, case_id, propose(), "anna")
        back = work(store, case_id, vote(EMSCHER, "object", "erst 2027"), "emil")
        assert (back.status, back.version) == (CaseStatus.IN_COORDINATION, 3)
        assert back.decision is None
        [decision] = back.decisions
        assert decision.state is DecisionState.SENT_BACK
        assert decision.closed_at == back.updated_at
        assert [(v.organisation, v.choice, v.reason) for v in decision.votes] == [
            (EMSCHER, VoteChoice.OBJECT, "erst 2027")
        ]
        assert events(back)[-2:] == [("emil", Event.VOTED), ("emil", Event.SENT_BACK)]
        assert worded(back)[-1] == "back to proposal: objection by emschergenossenschaft"
        # A new proposal starts a new vote; the old one stays on record.
        again = work(store, case_id, propose(text="Gemeinsam 2027"), "anna")
        assert [d.state for d in again.decisions] == [
            DecisionState.SENT_BACK,
            DecisionState.WAITING,
        ]
        assert again.decision is not None and again.decision.votes == ()

    def test_a_withdrawn_proposal_is_closed(self, store: Store) -> None:
        [case_id] = sync(store, [finding()]).created
        work(store, case_id, propose(), "anna")
        withdrawn = work(store, case_id, case_workflow.withdraw, "anna")
        assert withdrawn.status is CaseStatus.IN_COORDINATION
        assert [d.state for d in withdrawn.decisions] == [DecisionState.WITHDRAWN]
        assert withdrawn.decisions[0].closed_at == withdrawn.updated_at
        assert worded(withdrawn)[-1] == "proposal withdrawn"

    def test_one_organisation_votes_once_even_when_two_people_race(self, store: Store) -> None:
        [case_id] = sync(store, [finding()]).created
        seen = work(store, case_id, propose(), "anna")
        voters = 4
        outcomes = race(
            voters,
            lambda n: store.apply_case_work(
                case_id, case_workflow.vote(seen, BOTTROP, "agree", ""), f"u{n}", seen.version
            ),
        )
        assert outcomes == ["conflict"] * (voters - 1) + ["won"]
        case = case_of(store, case_id)
        assert case.decision is not None
        assert [v.organisation for v in case.decision.votes] == [BOTTROP]
        assert case.version == seen.version + 1

    def test_status_change_with_a_stale_version_conflicts(self, store: Store) -> None:
        [case_id] = sync(store, [finding()]).created
        seen = case_of(store, case_id)
        work(store, case_id, take_up, "anna")
        before = case_of(store, case_id)
        with pytest.raises(VersionConflict) as conflict:
            store.apply_case_work(case_id, propose("no_action", "erledigt")(seen), "bert", 1)
        message = str(conflict.value)
        assert f"case {case_id}" in message
        assert "version 1" in message
        assert "current version is 2" in message
        assert case_of(store, case_id) == before

    def test_recomputation_makes_a_pending_status_change_conflict(self, store: Store) -> None:
        [case_id] = sync(store, [finding()]).created
        seen = case_of(store, case_id)
        sync(store, [finding(severity="high")])
        with pytest.raises(VersionConflict, match="current version is 2"):
            store.apply_case_work(case_id, take_up(seen), "anna", 1)
        assert case_of(store, case_id).status is CaseStatus.OPEN
        assert work(store, case_id, take_up, "anna").version == 3

    def test_concurrent_reviewers_cannot_both_win(self, store: Store) -> None:
        [case_id] = sync(store, [finding()]).created
        seen = case_of(store, case_id)
        reviewers = 5
        outcomes = race(
            reviewers,
            lambda n: store.apply_case_work(case_id, take_up(seen), f"u{n}", 1),
        )
        assert outcomes == ["conflict"] * (reviewers - 1) + ["won"]
        case = case_of(store, case_id)
        assert case.version == 2
        assert len(case.history) == 2

    def test_unknown_case(self, store: Store) -> None:
        assert store.get_case(1) is None
        [case_id] = sync(store, [finding()]).created
        missing = case_id + 1000
        assert store.get_case(missing) is None
        step = take_up(case_of(store, case_id))
        for expected in (1, 2):
            with pytest.raises(NotFound, match=f"case {missing} does not exist"):
                store.apply_case_work(missing, step, "anna", expected)
        with pytest.raises(NotFound, match=f"case {missing} does not exist"):
            store.add_case_comment(missing, "Hallo?", "anna")
        assert case_of(store, case_id).version == 1

    def test_case_comments(self, store: Store) -> None:
        [case_id] = sync(store, [finding()]).created
        before = datetime.now(UTC)
        first = store.add_case_comment(case_id, "Ortstermin am 3. März?", "anna")
        second = store.add_case_comment(case_id, "Passt.\nZeile 2 ✓ 'x' \"y\"", "bert")
        after = datetime.now(UTC)
        assert second.id > first.id
        assert (first.by, first.text) == ("anna", "Ortstermin am 3. März?")
        assert is_utc(first.at)
        tolerance = timedelta(milliseconds=1)
        assert before - tolerance <= first.at <= second.at <= after + tolerance

        case = case_of(store, case_id)
        assert [(c.id, c.by, c.text) for c in case.comments] == [
            (first.id, "anna", first.text),
            (second.id, "bert", second.text),
        ]
        assert all(
            abs(c.at - n.at) < tolerance
            for c, n in zip(case.comments, (first, second), strict=True)
        )
        assert events(case) == [
            ("engine", Event.CREATED),
            ("anna", Event.COMMENTED),
            ("bert", Event.COMMENTED),
        ]
        assert details(case)[1:] == [{"comment": first.id}, {"comment": second.id}]
        assert worded(case)[1:] == ["comment written"] * 2
        # Commenting is not a change of the case: no conflict with a reviewer.
        assert case.version == 1
        assert work(store, case_id, take_up, "carl").version == 2
        # Comments stay with their case.
        [other] = sync(store, [finding(P3, P4)], scope=P3.key).created
        assert case_of(store, other).comments == ()

    def test_history_keeps_everything_in_order(self, store: Store) -> None:
        [case_id] = sync(store, [finding()], user="engine").created
        work(store, case_id, take_up, "anna")
        store.add_case_comment(case_id, "Abstimmung läuft", "bert")
        sync(store, [finding(severity="high")], user="batch")
        work(store, case_id, propose(), "anna")
        work(store, case_id, vote(BOTTROP), "anna")
        work(store, case_id, vote(EMSCHER), "emil")
        sync(store, [finding(severity="low")], user="batch")
        sync(store, [], user="batch", reason={"code": "rule_no_longer_applies"})
        sync(store, [finding(severity="low")], user="carl", scope=P2.key)
        case = case_of(store, case_id)
        assert events(case) == [
            ("engine", Event.CREATED),
            ("anna", Event.STATUS_CHANGED),
            ("bert", Event.COMMENTED),
            ("batch", Event.UPDATED),
            ("anna", Event.PROPOSED),
            ("anna", Event.VOTED),
            ("emil", Event.VOTED),
            ("emil", Event.AGREED),
            ("batch", Event.REOPENED_AFTER_CHANGE),
            ("batch", Event.OBSOLETED),
            ("carl", Event.REOPENED),
        ]
        assert worded(case)[-2:] == [
            "obsolete: the rule no longer applies to this pair",
            "reopened: the rule applies again",
        ]
        moments = [h.at for h in case.history]
        assert moments == sorted(moments)
        assert all(is_utc(moment) for moment in moments)
        assert case.updated_at == moments[-1]

    # -- the inbox ---------------------------------------------------------------

    @pytest.fixture
    def desk(self, store: Store) -> dict[str, int]:
        """Cases of Bottrop (and one of others only, one obsolete); name → id, created in
        an order that is not the inbox's."""
        early = date(2026, 2, 1)
        spec = {
            "no start": finding(P1, P2, severity="high", window_start=None, window_end=None),
            "early low": finding(
                P1,
                P3,
                severity="low",
                organisations=(BOTTROP,),
                departments=("gruen",),
                window_start=early,
            ),
            "late conflict": finding(
                P1, P4, relation="conflict", severity="high", window_start=date(2026, 6, 1)
            ),
            "early high": finding(P2, P3, severity="high", window_start=early),
            "early medium": finding(P2, P4, window_start=early),
            "early high too": finding(P3, P4, severity="high", window_start=early),
            "not ours": finding(
                P5, P6, severity="high", organisations=(EMSCHER,), window_start=date(2025, 1, 1)
            ),
            "obsolete": finding(P6, P7, window_start=date(2025, 1, 1)),
        }
        created = sync(store, list(spec.values())).created
        sync(store, [], scope=P7.key)
        return dict(zip(spec, created, strict=True))

    INBOX_ORDER = (
        "early high",
        "early high too",
        "early medium",
        "early low",
        "late conflict",
        "no start",
    )

    @staticmethod
    def names(desk: dict[str, int], page: InboxPage) -> list[str]:
        by_id = {case_id: name for name, case_id in desk.items()}
        return [by_id[case.id] for case, _ in page.cases]

    def inbox(self, store: Store, **filters: object) -> InboxPage:
        values: dict[str, object] = {"username": "anna", "organisation": BOTTROP} | filters
        return store.inbox(InboxQuery(**values))  # type: ignore[arg-type]

    def test_inbox_lists_the_live_cases_of_the_organisation_most_urgent_first(
        self, store: Store, desk: dict[str, int]
    ) -> None:
        page = self.inbox(store)
        assert self.names(desk, page) == list(self.INBOX_ORDER)
        assert (page.matched, page.unread) == (6, 6)
        assert all(unread for _, unread in page.cases)
        assert [case for case, _ in page.cases] == [
            replace(case_of(store, desk[name]), comments=(), history=())
            for name in self.INBOX_ORDER
        ]
        other = self.inbox(store, username="emil", organisation=EMSCHER)
        assert self.names(desk, other) == [
            "not ours",
            "early high",
            "early high too",
            "early medium",
            "late conflict",
            "no start",
        ]
        nobody = self.inbox(store, organisation="stadt-herne")
        assert (nobody.cases, nobody.matched, nobody.unread) == ([], 0, 0)

    def test_inbox_pages_by_offset_and_limit(self, store: Store, desk: dict[str, int]) -> None:
        seen: list[str] = []
        for offset in (0, 2, 4, 6):
            page = self.inbox(store, offset=offset, limit=2)
            assert page.matched == 6
            seen.extend(self.names(desk, page))
        assert seen == list(self.INBOX_ORDER)
        assert self.names(desk, self.inbox(store, offset=5, limit=50)) == ["no start"]
        assert self.names(desk, self.inbox(store, offset=1, limit=3)) == list(self.INBOX_ORDER[1:4])

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            ({"departments": ("gruen",)}, ["early low"]),
            ({"departments": ("strassenbau", "gruen")}, list(INBOX_ORDER)),
            ({"departments": ("stadtplanung",)}, []),
            ({"relations": ("conflict",)}, ["late conflict"]),
            ({"severities": ("low", "medium")}, ["early medium", "early low"]),
            (
                {"severities": ("high",), "relations": ("synergy",)},
                ["early high", "early high too", "no start"],
            ),
            ({"statuses": (CaseStatus.OPEN,)}, list(INBOX_ORDER)),
            ({"statuses": (CaseStatus.IN_COORDINATION,)}, []),
        ],
    )
    def test_inbox_filters(
        self,
        store: Store,
        desk: dict[str, int],
        filters: dict[str, object],
        expected: list[str],
    ) -> None:
        page = self.inbox(store, **filters)
        assert self.names(desk, page) == expected
        assert page.matched == len(expected)
        # The unread count is the organisation's, whatever the filters.
        assert page.unread == 6

    def test_inbox_by_status_assignee_and_waiting_votes(
        self, store: Store, desk: dict[str, int]
    ) -> None:
        anna = store.add_account(new_account("anna", organisation=BOTTROP))
        work(store, desk["early medium"], lambda c: case_workflow.assign(c, anna), "bert")
        work(store, desk["early low"], take_up, "bert")
        for name in ("late conflict", "no start", "early high too"):
            work(store, desk[name], propose(), "bert")
        work(store, desk["late conflict"], vote(BOTTROP), "anna")
        work(store, desk["early high too"], vote(BOTTROP), "anna")
        work(store, desk["early high too"], vote(EMSCHER), "emil")

        def names(**filters: object) -> list[str]:
            return self.names(desk, self.inbox(store, **filters))

        assert names() == list(self.INBOX_ORDER)  # agreed cases are live too
        assert names(statuses=(CaseStatus.IN_COORDINATION,)) == ["early medium", "early low"]
        assert names(statuses=(CaseStatus.PROPOSED, CaseStatus.AGREED)) == [
            "early high too",
            "late conflict",
            "no start",
        ]
        assert names(assignee="anna") == ["early medium"]
        assert names(assignee="bert") == []
        # Proposals still waiting for Bottrop's vote; Emscher has voted on neither of them.
        assert names(waiting_for_vote=True) == ["no start"]
        assert names(username="emil", organisation=EMSCHER, waiting_for_vote=True) == [
            "late conflict",
            "no start",
        ]
        assert names(waiting_for_vote=True, severities=("low",)) == []

    def test_inbox_due_by_the_date_set_else_before_the_start(
        self, store: Store, desk: dict[str, int]
    ) -> None:
        early = ["early high", "early high too", "early medium", "early low"]
        # Six weeks before 1 February 2026 is 21 December 2025.
        assert self.names(desk, self.inbox(store, due_by=date(2025, 12, 21))) == early
        assert self.names(desk, self.inbox(store, due_by=date(2025, 12, 20))) == []
        assert (
            self.names(desk, self.inbox(store, due_by=date(2026, 2, 1), due_days_before_start=0))
            == early
        )
        # A date set by hand counts instead of the derived one, both ways.
        work(
            store,
            desk["late conflict"],
            lambda c: case_workflow.set_due(c, date(2025, 12, 1)),
            "bert",
        )
        work(store, desk["early low"], lambda c: case_workflow.set_due(c, date(2026, 3, 1)), "bert")
        page = self.inbox(store, due_by=date(2025, 12, 21))
        assert self.names(desk, page) == [
            "early high",
            "early high too",
            "early medium",
            "late conflict",
        ]
        assert page.matched == 4
        # Without a start and a date set there is no due date at all.
        far = self.inbox(store, due_by=date(2099, 1, 1))
        assert "no start" not in self.names(desk, far)
        assert far.matched == 5

    def test_inbox_unread_since_last_seen(self, store: Store, desk: dict[str, int]) -> None:
        assert self.inbox(store).unread == 6
        store.seen_cases("anna", [desk["early high"], desk["early medium"]], datetime.now(UTC))
        store.seen_cases("anna", [], datetime.now(UTC))
        page = self.inbox(store)
        unread = {self.names(desk, page)[i]: flag for i, (_, flag) in enumerate(page.cases)}
        assert unread == {name: name not in ("early high", "early medium") for name in unread}
        assert page.unread == 4
        only = self.inbox(store, unread_only=True)
        assert self.names(desk, only) == [
            "early high too",
            "early low",
            "late conflict",
            "no start",
        ]
        assert (only.matched, only.unread) == (4, 4)
        # Each person reads for themselves.
        assert self.inbox(store, username="bert").unread == 6

        # A change after the person saw a case makes it unread again.
        work(store, desk["early high"], take_up, "bert")
        assert self.names(desk, self.inbox(store, unread_only=True))[0] == "early high"

        # "Mark all as read": up to that moment, in any time zone.
        store.seen_desk("anna", datetime.now(timezone(timedelta(hours=-5))))
        assert self.inbox(store).unread == 0
        assert self.inbox(store, unread_only=True).cases == []
        changed = replace(case_of(store, desk["early low"]).finding, severity="high")
        sync(store, [changed], scope="project:0")
        page = self.inbox(store, unread_only=True)
        assert self.names(desk, page) == ["early low"]
        assert (page.matched, page.unread) == (1, 1)
        # Seeing a case earlier than the last visit does not make it unread.
        store.seen_cases("anna", [desk["early medium"]], datetime(2020, 1, 1, tzinfo=UTC))
        assert self.inbox(store).unread == 1
        # The unread count ignores the filters; matched follows them.
        filtered = self.inbox(store, unread_only=True, severities=("low",))
        assert (filtered.cases, filtered.matched, filtered.unread) == ([], 0, 1)
        # Obsolete cases and those of others are no one's unread work here.
        assert self.inbox(store, username="emil", organisation=EMSCHER).unread == 6

    def test_listed_cases_carry_their_current_decision(self, store: Store) -> None:
        agreed = agreed_case(store)
        [waiting] = sync(store, [finding(P3, P4)], scope=P3.key).created
        work(store, waiting, propose(), "anna")
        [sent_back] = sync(store, [finding(P5, P6)], scope=P5.key).created
        work(store, sent_back, propose(), "anna")
        work(store, sent_back, vote(EMSCHER, "object", "nein"), "emil")
        listed = {case.id: case for case in store.list_cases(CaseQuery())}
        for case_id in (agreed, waiting, sent_back):
            assert listed[case_id].decision == case_of(store, case_id).decision
        assert listed[agreed].decision is not None
        assert listed[agreed].decision.state is DecisionState.AGREED
        assert listed[waiting].decision is not None
        assert listed[sent_back].decision is None

    # -- list and count --------------------------------------------------------

    CASE_AREA = square(0, 0, 100, 100)

    @pytest.fixture
    def world(self, store: Store) -> dict[str, int]:
        """Cases that differ in every filtered property; name → id."""
        spec = {
            "road×sewer": finding(
                P1,
                P2,
                "road_sewer",
                geometry=square(0, 0, 10, 10),
                organisations=("stadt-bottrop",),
                departments=("strassenbau", "entwaesserung"),
                window_start=date(2025, 1, 1),
                window_end=date(2025, 12, 31),
            ),
            "road×tree": finding(
                P1,
                feature("trees", "T-1"),
                "excavation_tree",
                relation="conflict",
                severity="high",
                # No vertex inside the area, but the segment crosses it.
                geometry=line((-100, 50), (200, 50)),
                organisations=("stadt-bottrop",),
                departments=("strassenbau", "gruen"),
                window_start=date(2026, 1, 1),
                window_end=None,
            ),
            "sewer×flood": finding(
                P2,
                feature("flood_zones", "F-9"),
                "sealing_flood",
                relation="conflict",
                severity="low",
                geometry=square(-500, -500, 500, 500),
                organisations=("emschergenossenschaft", "stadt-essen"),
                departments=("entwaesserung",),
                window_start=None,
                window_end=date(2024, 6, 30),
            ),
            "park×swale": finding(
                P3,
                P4,
                "green_swale",
                severity="high",
                # Bounding boxes overlap the area, the geometry does not.
                geometry=line((-20, 130), (130, 130), (130, -20)),
                organisations=("stadt-essen", "emschergenossenschaft"),
                departments=("gruen", "wasserwirtschaft"),
                window_start=None,
                window_end=None,
            ),
            "far note": finding(
                P4,
                P5,
                "any_meeting",
                relation="note",
                severity="low",
                geometry=at(5_000, 5_000),
                organisations=("stadt-herne",),
                departments=("stadtplanung",),
                window_start=date(2027, 3, 1),
                window_end=date(2027, 3, 31),
            ),
            "no geometry": finding(
                P5,
                P6,
                "any_meeting",
                relation="note",
                geometry=None,
                organisations=("stadt-herne", "stadt-bottrop"),
                departments=(),
                window_start=date(2025, 6, 15),
                window_end=date(2026, 2, 1),
            ),
            "on the boundary": finding(
                P6,
                P7,
                "road_sewer",
                severity="low",
                geometry=at(100, 40),
                organisations=("stadt-gelsenkirchen",),
                departments=("strassenbau",),
                window_start=date(2024, 1, 1),
                window_end=date(2024, 3, 31),
            ),
        }
        created = sync(store, list(spec.values())).created
        return dict(zip(spec, created, strict=True))

    def assert_finds(
        self, store: Store, world: dict[str, int], query: CaseQuery, expected: set[str]
    ) -> None:
        assert case_ids(store.list_cases(query)) == sorted(world[name] for name in expected)
        assert store.count_cases(query) == len(expected)

    def test_cases_without_filters_are_all_listed_by_id(
        self, store: Store, world: dict[str, int]
    ) -> None:
        listed = store.list_cases(CaseQuery())
        assert case_ids(listed) == sorted(world.values())
        # Listing leaves comments and history out.
        store.add_case_comment(world["road×sewer"], "x", "anna")
        listed = store.list_cases(CaseQuery())
        assert listed == [
            replace(case_of(store, case_id), comments=(), history=())
            for case_id in sorted(world.values())
        ]
        assert store.count_cases(CaseQuery()) == len(world)

    def test_a_first_page_of_an_area_tells_how_many_cases_match(
        self, store: Store, world: dict[str, int]
    ) -> None:
        """So that a map view's list need not count them again (``RenderedFeatures``)."""
        matching = store.count_cases(CaseQuery(area=self.CASE_AREA))
        assert matching >= 2
        first = store.case_stamps(CaseQuery(area=self.CASE_AREA, limit=1))
        assert (len(first.rows), first.matched) == (1, matching)
        outside = store.case_stamps(CaseQuery(area=square(2000, 2000, 2001, 2001), limit=1))
        assert (outside.rows, outside.matched) == ([], 0)

    def test_case_stamps_tell_each_write_of_a_listed_case(
        self, store: Store, world: dict[str, int]
    ) -> None:
        query = CaseQuery(area=self.CASE_AREA, after_id=min(world.values()), limit=3)
        listed = store.list_cases(query)
        stamps = store.case_stamps(query)
        assert stamps.rows == [RowStamp(c.id, c.version, c.updated_at) for c in listed]
        assert stamps.matched is None  # not a first page: the count is asked for
        case_id = world["road×sewer"]
        [before] = store.case_stamps(CaseQuery(ids=(case_id,))).rows
        store.add_case_comment(case_id, "x", "anna")  # no new version, but a new state
        [commented] = store.case_stamps(CaseQuery(ids=(case_id,))).rows
        assert commented.version == before.version and commented.updated_at > before.updated_at
        moved = replace(case_of(store, case_id).finding, geometry=at(5_000, 5_000))
        sync(store, [moved], scope="project:0")
        [recomputed] = store.case_stamps(CaseQuery(ids=(case_id,))).rows
        assert recomputed.version > commented.version
        assert recomputed.updated_at > commented.updated_at

    def test_cases_by_id(self, store: Store, world: dict[str, int]) -> None:
        wanted = (world["far note"], world["road×tree"], 10**9)
        assert case_ids(store.list_cases(CaseQuery(ids=wanted))) == sorted(wanted[:2])
        both = CaseQuery(ids=wanted, relations=("conflict",))
        assert case_ids(store.list_cases(both)) == [world["road×tree"]]
        assert store.count_cases(both) == 1

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            (CaseQuery(relations=("conflict",)), {"road×tree", "sewer×flood"}),
            (
                CaseQuery(relations=("synergy", "note")),
                {"road×sewer", "park×swale", "far note", "no geometry", "on the boundary"},
            ),
            (CaseQuery(severities=("high",)), {"road×tree", "park×swale"}),
            (CaseQuery(rule_ids=("road_sewer",)), {"road×sewer", "on the boundary"}),
            (CaseQuery(rule_ids=("unknown",)), set()),
            (
                CaseQuery(organisations=("stadt-bottrop",)),
                {"road×sewer", "road×tree", "no geometry"},
            ),
            (
                CaseQuery(organisations=("stadt-essen", "stadt-herne")),
                {"sewer×flood", "park×swale", "far note", "no geometry"},
            ),
            (CaseQuery(organisations=("stadt",)), set()),
            (CaseQuery(departments=("gruen",)), {"road×tree", "park×swale"}),
            (
                CaseQuery(departments=("wasserwirtschaft", "stadtplanung")),
                {"park×swale", "far note"},
            ),
            (CaseQuery(subject=P1.key), {"road×sewer", "road×tree"}),
            (CaseQuery(subject=P2.key), {"road×sewer", "sewer×flood"}),
            (CaseQuery(subject="layer:trees:T-1"), {"road×tree"}),
            (CaseQuery(subject="project:99"), set()),
            (
                CaseQuery(organisations=("stadt-bottrop",), departments=("gruen",)),
                {"road×tree"},
            ),
        ],
        ids=lambda value: value if isinstance(value, str) else None,
    )
    def test_cases_by_attributes(
        self, store: Store, world: dict[str, int], query: CaseQuery, expected: set[str]
    ) -> None:
        self.assert_finds(store, world, query, expected)

    def test_cases_by_status(self, store: Store, world: dict[str, int]) -> None:
        work(store, world["park×swale"], propose(), "anna")
        work(store, world["far note"], take_up, "anna")
        rest = [f for f in store.list_cases(CaseQuery()) if f.id != world["road×sewer"]]
        sync(store, [case.finding for case in rest], reason=project_deleted(2))
        self.assert_finds(
            store,
            world,
            CaseQuery(statuses=(CaseStatus.PROPOSED, CaseStatus.IN_COORDINATION)),
            {"park×swale", "far note"},
        )
        self.assert_finds(store, world, CaseQuery(statuses=(CaseStatus.OBSOLETE,)), {"road×sewer"})
        self.assert_finds(
            store,
            world,
            CaseQuery(statuses=(CaseStatus.OPEN,)),
            {"road×tree", "sewer×flood", "no geometry", "on the boundary"},
        )

    @pytest.mark.parametrize(
        ("time_from", "time_to", "expected"),
        [
            (date(2025, 6, 1), date(2025, 6, 30), {"road×sewer", "park×swale", "no geometry"}),
            # Touching boundaries count as overlap, on both sides.
            (
                date(2025, 12, 31),
                date(2026, 1, 1),
                {"road×sewer", "road×tree", "park×swale", "no geometry"},
            ),
            (date(2024, 6, 30), date(2024, 6, 30), {"sewer×flood", "park×swale"}),
            (date(2027, 3, 31), date(2027, 4, 30), {"road×tree", "park×swale", "far note"}),
            (date(2024, 7, 1), date(2024, 12, 31), {"park×swale"}),
            # Only one end of the query window given.
            (date(2028, 1, 1), None, {"road×tree", "park×swale"}),
            (None, date(2024, 12, 31), {"sewer×flood", "park×swale", "on the boundary"}),
            (
                None,
                date(2025, 1, 1),
                {"road×sewer", "sewer×flood", "park×swale", "on the boundary"},
            ),
        ],
    )
    def test_cases_by_time_window(
        self,
        store: Store,
        world: dict[str, int],
        time_from: date | None,
        time_to: date | None,
        expected: set[str],
    ) -> None:
        self.assert_finds(store, world, CaseQuery(time_from=time_from, time_to=time_to), expected)

    def test_cases_by_area_use_exact_intersection(
        self, store: Store, world: dict[str, int]
    ) -> None:
        expected = {"road×sewer", "road×tree", "sewer×flood", "on the boundary"}
        self.assert_finds(store, world, CaseQuery(area=self.CASE_AREA), expected)

    def test_cases_by_non_rectangular_area(self, store: Store, world: dict[str, int]) -> None:
        # A triangle: its bounding box holds "on the boundary", the triangle not.
        triangle = Polygon([(X0, Y0), (X0 + 100, Y0), (X0, Y0 + 60)])
        expected = {"road×sewer", "road×tree", "sewer×flood"}
        self.assert_finds(store, world, CaseQuery(area=triangle), expected)

    def test_cases_by_area_with_nothing_there(self, store: Store, world: dict[str, int]) -> None:
        far = square(-10_000, -10_000, -9_000, -9_000)
        self.assert_finds(store, world, CaseQuery(area=far), set())
        self.assert_finds(store, world, CaseQuery(area=Polygon()), set())

    def test_case_area_filter_follows_updated_geometry(
        self, store: Store, world: dict[str, int]
    ) -> None:
        moved = replace(case_of(store, world["road×sewer"]).finding, geometry=at(5_000, 5_000))
        emptied = replace(case_of(store, world["road×tree"]).finding, geometry=None)
        placed = replace(case_of(store, world["no geometry"]).finding, geometry=at(50, 50))
        assert sync(store, [moved, emptied, placed], scope="project:0").updated == tuple(
            sorted((world["road×sewer"], world["road×tree"], world["no geometry"]))
        )
        expected = {"sewer×flood", "on the boundary", "no geometry"}
        self.assert_finds(store, world, CaseQuery(area=self.CASE_AREA), expected)
        far = square(4_990, 4_990, 5_010, 5_010)
        self.assert_finds(store, world, CaseQuery(area=far), {"road×sewer", "far note"})

    def test_involvement_filters_follow_updated_findings(
        self, store: Store, world: dict[str, int]
    ) -> None:
        old = case_of(store, world["road×sewer"]).finding
        changed = replace(
            old,
            organisations=("stadt-herne", "stadt-herne", "emschergenossenschaft"),
            departments=("entwaesserung", "gruen"),
        )
        assert sync(store, [changed], scope="project:0").updated == (world["road×sewer"],)
        assert case_of(store, world["road×sewer"]).finding == changed
        self.assert_finds(
            store, world, CaseQuery(organisations=("stadt-bottrop",)), {"road×tree", "no geometry"}
        )
        self.assert_finds(
            store,
            world,
            CaseQuery(organisations=("stadt-herne",)),
            {"road×sewer", "far note", "no geometry"},
        )
        self.assert_finds(
            store, world, CaseQuery(departments=("strassenbau",)), {"road×tree", "on the boundary"}
        )
        self.assert_finds(
            store,
            world,
            CaseQuery(departments=("gruen",)),
            {"road×sewer", "road×tree", "park×swale"},
        )
        # And back again.
        sync(store, [old], scope="project:0")
        self.assert_finds(
            store,
            world,
            CaseQuery(organisations=("stadt-bottrop",)),
            {"road×sewer", "road×tree", "no geometry"},
        )
        self.assert_finds(
            store, world, CaseQuery(organisations=("stadt-herne",)), {"far note", "no geometry"}
        )
        self.assert_finds(
            store, world, CaseQuery(departments=("gruen",)), {"road×tree", "park×swale"}
        )

    def test_case_filters_must_all_hold(self, store: Store, world: dict[str, int]) -> None:
        query = CaseQuery(
            area=self.CASE_AREA,
            organisations=("stadt-bottrop", "stadt-essen"),
            departments=("strassenbau", "entwaesserung"),
            relations=("synergy", "conflict"),
            severities=("medium", "low"),
            statuses=(CaseStatus.OPEN,),
            time_from=date(2024, 1, 1),
            time_to=date(2025, 3, 1),
        )
        self.assert_finds(store, world, query, {"road×sewer", "sewer×flood"})
        self.assert_finds(
            store, world, replace(query, rule_ids=("sealing_flood",)), {"sewer×flood"}
        )
        self.assert_finds(store, world, replace(query, subject=P1.key), {"road×sewer"})

    def test_case_paging_covers_everything_exactly_once(
        self, store: Store, world: dict[str, int]
    ) -> None:
        for base, names in (
            (CaseQuery(), set(world)),
            (
                CaseQuery(organisations=("stadt-bottrop", "stadt-herne")),
                {"road×sewer", "road×tree", "far note", "no geometry"},
            ),
        ):
            expected = sorted(world[name] for name in names)
            seen: list[int] = []
            after: int | None = None
            while True:
                page = store.list_cases(replace(base, after_id=after, limit=3))
                assert len(page) <= 3
                if not page:
                    break
                seen.extend(case_ids(page))
                after = page[-1].id
            assert seen == expected
            # count ignores paging
            assert store.count_cases(replace(base, after_id=after, limit=1)) == len(expected)
        ordered = sorted(world.values())
        assert case_ids(store.list_cases(CaseQuery(limit=2))) == ordered[:2]
        assert case_ids(store.list_cases(CaseQuery(after_id=ordered[3]))) == ordered[4:]
        assert store.list_cases(CaseQuery(limit=0)) == []


def new_account(username: str = "a.kaya", **changes: object) -> NewAccount:
    values: dict[str, object] = {
        "username": username,
        "display_name": "Ayşe Kaya",
        "email": f"{username}@example.org",
        "organisation": "herne",
        "departments": ("roads",),
        "roles": frozenset({Role.PLANNER}),
    } | changes
    return NewAccount(**values)  # type: ignore[arg-type]


def audit_event(action: str = "project.create", **changes: object) -> AuditEvent:
    values: dict[str, object] = {
        "actor": "a.kaya",
        "actor_id": 1,
        "address": "127.0.0.1",
        "action": action,
        "object_type": "project",
        "object_id": "1",
        "after": {"title": "Straße"},
    } | changes
    return AuditEvent(**values)  # type: ignore[arg-type]


class AccountStorageContract:
    """Accounts, tokens, sessions, the audit chain and grouped transactions."""

    def test_account_round_trip_and_unique_username(self, store: Store) -> None:
        stored = store.add_account(new_account("A.Kaya", password_hash="h"))
        assert stored.username == "a.kaya"  # lower-case
        assert stored.display_name == "Ayşe Kaya" and stored.roles == {Role.PLANNER}
        assert store.find_account("A.KAYA") == stored == store.get_account(stored.id)
        assert store.password_hash(stored.id) == "h"
        with pytest.raises(InvalidInput, match="taken"):
            store.add_account(new_account("a.kaya"))
        assert [a.username for a in store.list_accounts("herne")] == ["a.kaya"]
        assert store.list_accounts("bochum") == []

    def test_update_account_checks_the_version(self, store: Store) -> None:
        stored = store.add_account(new_account())
        changed = store.update_account(
            stored.id, {"roles": frozenset({Role.VIEWER}), "active": False}, stored.version
        )
        assert changed.roles == {Role.VIEWER} and not changed.active
        assert changed.version == stored.version + 1
        with pytest.raises(VersionConflict):
            store.update_account(stored.id, {"email": "x@y.z"}, stored.version)
        with pytest.raises(NotFound):
            store.update_account(999, {"email": "x@y.z"})

    def test_tokens_and_sessions_are_found_with_their_account(self, store: Store) -> None:
        account = store.add_account(new_account())
        later = datetime.now(UTC) + timedelta(days=1)
        token = store.add_token(
            NewApiToken(account.id, "QGIS", "f" * 64, "zgb_abc", Scope.READ, later)
        )
        assert store.get_token(token.id) == token
        found = store.find_token("f" * 64)
        assert found is not None and found[0] == token and found[1] == account
        assert store.find_token("0" * 64) is None
        store.update_token(token.id, revoked_at=later)
        assert store.list_tokens(account.id)[0].revoked_at == later
        now = datetime.now(UTC)
        store.add_session(BrowserSession("e" * 64, account.id, "password", now, now, later))
        session = store.find_session("e" * 64)
        assert session is not None and session[1] == account
        assert store.delete_sessions(account_id=account.id) == 1
        assert store.find_session("e" * 64) is None

    def test_audit_chain_is_sealed_in_order(self, store: Store) -> None:
        assert store.audit_head() is None
        first = store.append_audit([audit_event(), audit_event("project.update")])
        second = store.append_audit([audit_event("project.delete", before={"a": 1}, after=None)])
        entries = list(store.iter_audit())
        assert [e.seq for e in entries] == [1, 2, 3]
        assert entries == [*first, *second]
        assert verify_chain(entries, store.audit_head()).intact
        assert store.count_audit(AuditQuery(action="project.")) == 3
        assert [e.seq for e in store.list_audit(AuditQuery(action="project.update"))] == [2]

    def test_a_transaction_commits_all_or_nothing(self, store: Store) -> None:
        with pytest.raises(RuntimeError), store.transaction():
            store.add_account(new_account())
            store.append_audit([audit_event("account.create")])
            raise RuntimeError("the change failed")
        assert store.list_accounts() == [] and store.audit_head() is None
        with store.transaction():
            account = store.add_account(new_account())
            assert store.find_account("a.kaya") == account  # reads see the open transaction
            store.append_audit([audit_event("account.create")])
        assert store.audit_head() is not None and store.list_accounts() == [account]


def mail(dedup_key: str | None = None) -> NewMail:
    return NewMail(
        "a.kaya@herne.de", "Neuer Fall: Straße", "Grüße aus Herne", "case", dedup_key=dedup_key
    )


class MailStorageContract:
    """The outbox: queued with a change, claimed once, sent or rescheduled or given up."""

    def test_a_queued_mail_is_claimed_once_and_then_sent(self, store: Store) -> None:
        mail_id = store.enqueue_mail(mail())
        assert mail_id is not None
        now = datetime.now(UTC)
        lease = now + timedelta(minutes=10)
        [claimed] = store.claim_due_mail(now, lease, 10)
        assert (claimed.id, claimed.subject, claimed.text) == (
            mail_id,
            "Neuer Fall: Straße",
            "Grüße aus Herne",
        )
        assert (claimed.attempts, claimed.next_attempt_at, claimed.state) == (
            1,
            lease,
            MailState.QUEUED,
        )
        assert store.claim_due_mail(now, lease, 10) == []  # leased to its sender
        store.mail_sent(mail_id, now)
        [listed] = store.list_mail(10)
        assert (listed.state, listed.sent_at, listed.attempts) == (MailState.SENT, now, 1)
        assert store.claim_due_mail(lease + timedelta(days=1), lease, 10) == []  # never again
        assert store.count_mail() == {MailState.QUEUED: 0, MailState.SENT: 1, MailState.FAILED: 0}

    def test_an_unsent_mail_is_retried_when_due_or_left_failed(self, store: Store) -> None:
        first, second = store.enqueue_mail(mail()), store.enqueue_mail(mail())
        assert first is not None and second is not None
        now = datetime.now(UTC)
        assert [m.id for m in store.claim_due_mail(now, now, 1)] == [first]  # oldest first
        retry_at = now + timedelta(minutes=5)
        store.mail_not_sent(first, "SMTPConnectError: refused", retry_at)
        assert [m.id for m in store.claim_due_mail(now, now, 10)] == [second]
        store.mail_not_sent(second, "550 no such user", None)
        [again] = store.claim_due_mail(retry_at, retry_at, 10)
        assert (again.id, again.attempts, again.last_error) == (
            first,
            2,
            "SMTPConnectError: refused",
        )
        failed = store.list_mail(10)[0]
        assert (failed.id, failed.state, failed.last_error) == (
            second,
            MailState.FAILED,
            "550 no such user",
        )
        later = retry_at + timedelta(days=1)
        assert [(m.id, m.attempts) for m in store.claim_due_mail(later, later, 10)] == [(first, 3)]
        assert store.count_mail() == {MailState.QUEUED: 1, MailState.SENT: 0, MailState.FAILED: 1}

    def test_a_dedup_key_queues_a_mail_once(self, store: Store) -> None:
        assert store.enqueue_mail(mail("digest:a.kaya:2027-03-01")) is not None
        with store.transaction():
            assert store.enqueue_mail(mail("digest:a.kaya:2027-03-01")) is None
            assert store.enqueue_mail(mail("digest:a.kaya:2027-03-02")) is not None
        assert len(store.list_mail(10)) == 2  # the transaction went on after the repeat

    def test_mail_commits_with_the_change_or_not_at_all(self, store: Store) -> None:
        with pytest.raises(RuntimeError), store.transaction():
            store.add_account(new_account())
            store.enqueue_mail(mail())
            raise RuntimeError("the change failed")
        assert store.list_mail(10) == [] and store.list_accounts() == []
        with store.transaction():
            store.add_account(new_account())
            store.enqueue_mail(mail())
        assert len(store.list_mail(10)) == 1


class GoodPracticeContract:
    """Good-practice examples: a proposal, its rounds of votes, its photos as blobs."""

    def _proposed(self, store: Store) -> GoodPractice:
        synergy = RealisedSynergy(
            case_id=7,
            rule_id="road_works_sewer_bundle",
            relation="synergy",
            partner={"de": "Kanal Bahnhofstraße", "en": "Kanal Bahnhofstraße"},
            organisations=("bochum", "herne"),
            decision_kind="bundle_works",
            decision_text="Einmal öffnen.",
        )
        content = ExampleContent(
            "Bahnhofstraße", "Kanal und Fahrbahn", 1250000.5, "netto", "Früh reden.",
            "Tiefbauamt", ("road_renewal", "sewer_rehabilitation"),
        )  # fmt: skip
        example = NewGoodPractice(
            12, "herne", "road_renewal", line((0, 0), (40, 5)), content,
            Round(("bochum", "herne"), (synergy,)),
        )  # fmt: skip
        return store.add_good_practice(example, "h.planner")

    def test_a_proposal_round_trips(self, store: Store) -> None:
        example = self._proposed(store)
        assert store.get_good_practice(example.id) == example
        assert store.good_practice_of_project(12) == example
        assert (example.state.value, example.round, example.version) == ("proposed", 1, 1)
        assert example.content.costs_eur == 1250000.5
        assert example.synergies[0].partner["de"] == "Kanal Bahnhofstraße"
        assert example.geometry.equals(line((0, 0), (40, 5)))
        assert is_utc(example.proposed_at) and example.proposed_by == "h.planner"
        assert store.get_good_practice(example.id + 1) is None
        assert store.good_practice_of_project(13) is None

    def test_votes_count_per_round_and_the_version_guards(self, store: Store) -> None:
        example = self._proposed(store)
        work = gp.vote(example, "herne", "agree", "")
        voted = store.apply_good_practice_work(example.id, work, "h.coordinator", 1)
        assert [v.organisation for v in voted.votes] == ["herne"]
        assert voted.waiting_for() == ("bochum",)
        with pytest.raises(VersionConflict):
            store.apply_good_practice_work(example.id, work, "h.coordinator", 1)
        released = store.apply_good_practice_work(
            example.id, gp.vote(voted, "bochum", "agree", ""), "b.coordinator", voted.version
        )
        assert released.state is ExampleState.RELEASED and released.released_at is not None
        assert store.list_good_practices((ExampleState.RELEASED,)) == [released]
        assert store.list_good_practices((ExampleState.PROPOSED,)) == []
        again = store.apply_good_practice_work(
            example.id,
            gp.revise(released, None, Round(("herne",), ()), None),
            "h.planner",
            released.version,
        )
        assert (again.state, again.round, again.votes, again.involved) == (
            ExampleState.PROPOSED, 2, (), ("herne",),
        )  # fmt: skip
        assert again.released_at is None
        withdrawn = store.apply_good_practice_work(
            example.id, gp.withdraw(again, "Privatgrund"), "h.coordinator", again.version
        )
        assert (withdrawn.withdrawn_by, withdrawn.withdraw_reason) == (
            "h.coordinator",
            "Privatgrund",
        )

    def test_photos_are_kept_as_blobs_with_their_thumbnails(self, store: Store) -> None:
        example = self._proposed(store)
        image, thumb = bytes(range(256)) * 40, b"\xff\xd8thumb"
        photo = store.add_good_practice_photo(
            example.id,
            NewPhoto(image, thumb, "image/png", 640, 480, "Mulde", kept_location=True),
            "h.planner",
        )
        assert (photo.caption, photo.size, photo.kept_location) == ("Mulde", len(image), True)
        assert store.get_good_practice(example.id).photos == (photo,)
        full = store.good_practice_photo(photo.id, thumbnail=False)
        small = store.good_practice_photo(photo.id, thumbnail=True)
        assert (full.example_id, full.media_type, full.data) == (example.id, "image/png", image)
        assert (small.media_type, small.data) == ("image/jpeg", thumb)
        assert store.delete_good_practice_photo(example.id + 1, photo.id) is False
        assert store.delete_good_practice_photo(example.id, photo.id) is True
        assert store.good_practice_photo(photo.id, thumbnail=False) is None
        assert store.get_good_practice(example.id).photos == ()


class StorageContract(
    LayerStorageContract,
    CaseStorageContract,
    RevisionContract,
    ThrottleContract,
    ChecklistContract,
    JobContract,
    AccountStorageContract,
    MailStorageContract,
    GoodPracticeContract,
):
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
        outcomes = race(
            editors,
            lambda n: store.update_project(
                added.id, attributes(title=f"edit {n}"), at(n, n), f"u{n}", 1
            ),
        )
        assert outcomes == ["conflict"] * (editors - 1) + ["won"]
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

    def test_a_first_page_of_an_area_tells_how_many_projects_match(
        self, store: ProjectStore
    ) -> None:
        store.add_projects([new(at(10 * i, 0), title=f"p{i}") for i in range(4)])
        first = store.project_stamps(ProjectQuery(area=square(-1, -1, 25, 1), limit=2))
        assert (len(first.rows), first.matched) == (2, 3)

    def test_project_stamps_tell_each_write_of_a_listed_project(self, store: ProjectStore) -> None:
        added = store.add_projects([new(at(10 * i, 0), title=f"p{i}") for i in range(4)])
        query = ProjectQuery(area=square(-1, -1, 25, 1), after_id=added[0].id, limit=5)
        listed = store.list_projects(query)
        assert ids(listed) == ids(added[1:3])
        assert store.project_stamps(query).rows == [
            RowStamp(p.id, p.version, p.updated_at) for p in listed
        ]
        changed = store.update_project(added[1].id, attributes(title="neu"), at(10, 0), "bob", 1)
        [stamp, _] = store.project_stamps(query).rows
        assert (stamp.version, stamp.updated_at) == (2, changed.updated_at)
        assert stamp.updated_at > listed[0].updated_at

    # -- columns (exports) ---------------------------------------------------

    def test_project_columns_match_the_listed_projects(self, store: ProjectStore) -> None:
        inside = new(at(10, 10), title="Straße neu", organisation="a")
        added = store.add_projects(
            [
                inside,
                new(square(0, 0, 50, 40), start=None, end=None, cost_eur=None),
                new(line((0, 0), (30, 5)), organisation="b", contact="", description="Ä ö ü"),
                replace(inside, geometry=at(5_000, 5_000)),
            ]
        )
        store.update_project(added[0].id, attributes(title="geändert"), at(11, 11), "bob", None)
        for query in (
            ProjectQuery(),
            ProjectQuery(area=square(-1, -1, 60, 60), organisations=("a", "b")),
            ProjectQuery(after_id=added[0].id, limit=2),
            ProjectQuery(organisations=("nobody",)),
        ):
            listed = store.list_projects(query)
            columns = store.project_columns(query)
            assert len(columns) == len(listed)
            assert columns.id.tolist() == ids(listed)
            assert [shapely.from_wkb(w) for w in columns.wkb] == [p.geometry for p in listed]
            for name in ("title", "description", "organisation", "status", "contact"):
                expected = [attributes_to_json(p.attributes)[name] for p in listed]
                assert columns.text[name].tolist() == expected
            assert columns.text["updated_by"].tolist() == [p.updated_by for p in listed]
            assert columns.start.dtype == np.dtype("datetime64[D]")
            assert [None if np.isnat(d) else d.astype(date) for d in columns.start] == [
                p.attributes.start for p in listed
            ]
            assert np.array_equal(
                columns.cost_eur,
                [
                    np.nan if p.attributes.cost_eur is None else p.attributes.cost_eur
                    for p in listed
                ],
                equal_nan=True,
            )
            assert columns.version.tolist() == [p.version for p in listed]
            moments = [p.updated_at.replace(tzinfo=None) for p in listed]
            assert columns.updated_at.astype("datetime64[us]").tolist() == moments

    def test_project_shapes_are_the_columns_a_map_shows(self, store: ProjectStore) -> None:
        added = store.add_projects(
            [
                new(at(10, 10), organisation="a", department="strasse", status="idea"),
                new(line((0, 0), (30, 5)), organisation="b", department="kanal"),
                new(at(5_000, 5_000), organisation="a"),
            ]
        )
        for query in (
            ProjectQuery(),
            ProjectQuery(area=square(-1, -1, 60, 60)),
            ProjectQuery(area=square(-1, -1, 60, 60), organisations=("b",)),
            ProjectQuery(after_id=added[0].id, limit=1),
            ProjectQuery(organisations=("nobody",)),
        ):
            columns, shapes = store.project_columns(query), store.project_shapes(query)
            assert shapes.id.tolist() == columns.id.tolist()
            assert shapes.wkb.tolist() == columns.wkb.tolist()
            for name in ("organisation", "department", "status"):
                assert getattr(shapes, name).tolist() == columns.text[name].tolist()
        near = store.project_shapes(ProjectQuery(area=square(-1, -1, 60, 60)))
        assert near.organisation.tolist() == ["a", "b"] and near.status[0] == "idea"
