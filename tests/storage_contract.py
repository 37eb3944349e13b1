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
``LayerStorageContract``, the thematic-layer tests; a backend module may also
run ``LayerStorageContract`` alone, e.g. once more with other tuning.
Everything here goes through the ``Store`` interface only, so the same tests
hold the embedded and the PostGIS backend to one behaviour.
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
from zugabe.storage.contract import (
    LayerFeature,
    LayerFeatureBatch,
    NewLayerVersion,
    NewProject,
    ProjectQuery,
    ProjectStore,
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

    def test_delete_unknown_layer_is_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound, match="layer 'nirgends' does not exist"):
            store.delete_layer("nirgends", "wasserverband")

    def test_layers_and_projects_live_side_by_side(self, store: Store) -> None:
        [project] = store.add_projects([new(at(5, 5))])
        store.replace_layer(layer_version(), [batch([at(5, 5)])])
        assert ids(store.list_projects(ProjectQuery(area=square(0, 0, 10, 10)))) == [project.id]
        store.delete_layer("sewer_sections", "alice")
        assert store.get_project(project.id) == project


class StorageContract(LayerStorageContract):
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
