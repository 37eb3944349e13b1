"""Use cases around thematic layers: import a file, list, read features, remove.

An import checks every row and keeps a report of what was accepted, repaired
(invalid geometry made valid) or refused (with row number and reason). The
accepted rows replace the layer's previous version in one transaction, so a
failure or Ctrl-C leaves the previous version as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from zugabe.config import Settings
from zugabe.domain.accounts import Actor
from zugabe.domain.feature_identity import duplicate_ids, id_text
from zugabe.domain.filters import Filter
from zugabe.domain.geometry_repair import repaired
from zugabe.domain.layers import LayerDefinition, coerce_value, match_fields
from zugabe.domain.policy import Policy
from zugabe.errors import BadRequest, FieldError, InvalidInput, NotFound
from zugabe.io.crs import Reprojector, choose_transformation
from zugabe.io.geojson import geometry_to_json
from zugabe.io.layer_files import (
    CsvOptions,
    Source,
    SourceTable,
    crs_from_text,
    export_parts,
    open_parts,
    open_source,
    option_name,
)
from zugabe.services.audit import AuditService, Change
from zugabe.services.collector_pause import collector_paused
from zugabe.storage.contract import (
    LayerFeature,
    LayerFeatureBatch,
    LayerInfo,
    NewLayerVersion,
    Store,
)

if TYPE_CHECKING:
    from zugabe.services.cases import CaseService
    from zugabe.services.notifications import NotificationService

BATCH_SIZE = 50_000
REPORT_ROWS_KEPT = 1000  # refused/repaired rows listed in a report; the counts are always complete

Progress = Callable[[int, int], None]  # (features just written, features to write)

# The layer whose polygons name areas in filters ("district=…" of exports and reports).
DISTRICTS = "districts"


@dataclass
class ImportReport:
    """What an import did, kept with the layer version and printed by the CLI."""

    layer: str
    source: str
    source_layer: str | None
    source_crs: str
    transformation: str
    transformation_accuracy_m: float | None
    rows_read: int = 0
    accepted: int = 0
    repaired: int = 0
    refused: int = 0
    field_mapping: dict[str, str] = field(default_factory=dict)
    unmatched_fields: list[str] = field(default_factory=list)
    repaired_rows: list[tuple[int, str]] = field(default_factory=list)
    refused_rows: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duplicate_ids: dict[str, Any] | None = None  # see ``feature_identity.DuplicateIds``

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def refuse(self, row: int, reason: str) -> None:
        self.refused += 1
        if len(self.refused_rows) < REPORT_ROWS_KEPT:
            self.refused_rows.append((row, reason))

    def repair(self, row: int, reason: str) -> None:
        self.repaired += 1
        if len(self.repaired_rows) < REPORT_ROWS_KEPT:
            self.repaired_rows.append((row, reason))


class LayerService:
    def __init__(
        self,
        store: Store,
        definitions: Mapping[str, LayerDefinition],
        settings: Settings,
        policy: Policy,
        audit: AuditService,
        organisations: Collection[str],
        notifications: NotificationService,
        reprojector: Reprojector,
        cases: CaseService,
    ) -> None:
        self.store = store
        self.policy = policy
        self.audit = audit
        self.organisations = frozenset(organisations)
        self.notifications = notifications
        self.definitions = definitions
        self.settings = settings
        self.reprojector = reprojector
        self.batch_size = BATCH_SIZE
        self.cases = cases  # an import recomputes the coordination cases

    def _responsible(self, organisation: str | None, actor: Actor) -> str | None:
        if organisation is None:
            return actor.organisation
        if organisation not in self.organisations:
            raise InvalidInput(
                f"unknown organisation '{organisation}'",
                field_errors=[
                    FieldError("/organisation", f"one of {', '.join(sorted(self.organisations))}")
                ],
            )
        return organisation

    def definition(self, key: str) -> LayerDefinition:
        try:
            return self.definitions[key]
        except KeyError:
            raise NotFound(
                f"unknown layer '{key}'; layers: {', '.join(sorted(self.definitions))}"
            ) from None

    @collector_paused()  # a million features' values and geometries
    def import_file(
        self,
        path: Path,
        layer_key: str,
        actor: Actor,
        *,
        source_layer: str | None = None,
        source_crs: str | None = None,
        mapping: Mapping[str, str] | None = None,
        csv_options: CsvOptions | None = None,
        progress: Progress | None = None,
        accept_partial: bool = False,
        organisation: str | None = None,
    ) -> tuple[LayerInfo, ImportReport]:
        """Check every row of a file and store the accepted ones as the layer's new version.

        A file whose rows are all refused never replaces the stored version, nor one with
        more than ``max_refused_share`` of its rows refused unless ``accept_partial``.
        ``organisation`` answers for the data (default: the importing account's): it is
        involved in the cases of the layer's features, and named as their contact.
        """
        self.policy.require_writer(actor)
        definition = self.definition(layer_key)
        self.policy.require_layer_write(actor, definition.theme, f"importing the layer {layer_key}")
        responsible = self._responsible(organisation, actor)
        parts = export_parts(path, layer_key, source_layer)
        source = (
            open_parts(path, parts, limits=self.settings)
            if parts
            else open_source(path, source_layer, csv_options, limits=self.settings)
        )
        crs = source_crs_of(source, source_crs)
        transformation = choose_transformation(crs, self.reprojector.storage_crs)
        report = ImportReport(
            layer=layer_key,
            source=source.source,
            source_layer=source.source_layer,
            source_crs=crs_label(crs),
            transformation=transformation.description,
            transformation_accuracy_m=transformation.accuracy_m,
        )
        if source.count == 0:
            raise _no_features(source, layer_key)
        match = match_fields(source.fields, definition, mapping)
        if match.missing_required:
            raise InvalidInput(
                f"{source.source}: no field for the required attribute(s) "
                f"{', '.join(match.missing_required)} of layer '{layer_key}'; "
                f"fields in the file: {', '.join(source.fields)}; "
                f"map one with {option_name('map')} FIELD=ATTRIBUTE"
            )
        report.field_mapping = dict(match.mapping)
        report.unmatched_fields = list(match.unmatched_source)
        transformer = transformation.transformer
        accepted = self._check(source, definition, match.mapping, transformer, report)
        if report.rows_read == 0:
            raise _no_features(source, layer_key)
        report.notes = [*source.notes, *filter(None, [transformation.warning])]
        report.accepted = accepted.count
        self._refuse_if_too_many_refused(report, accept_partial)
        self._name_duplicate_ids(definition, accepted, report)
        version = NewLayerVersion(
            key=layer_key,
            source=source.source,
            source_layer=source.source_layer,
            source_crs=report.source_crs,
            transformation=report.transformation,
            user=actor.username,
            report=report.as_dict(),
            keep_earlier=self.settings.keep_layer_versions,
            responsible_organisation=responsible,
        )
        batches = self._batches(definition, accepted, progress)
        before = self.store.get_layer(layer_key)
        with self._writing():
            info = self.store.replace_layer(version, batches)
            self.audit.record(
                actor,
                Change(
                    "layer.import",
                    "layer",
                    layer_key,
                    _layer_values(before),
                    (_layer_values(info) or {}) | {"refused": report.refused},
                ),
            )
            self._recompute_cases(actor)
            self.notifications.layer_imported(layer_key, info.feature_count, actor)
        return info, report

    def _writing(self) -> AbstractContextManager[None]:
        """One transaction for a layer change and the cases it changes (see
        ``CaseService.writing``): no crash leaves new features with old cases."""
        stack = ExitStack()
        stack.enter_context(self.cases.writing())
        stack.enter_context(self.store.transaction(bulk=True))
        return stack

    def _recompute_cases(self, actor: Actor) -> None:
        run = self.cases.detect_everything(actor)  # cases with this layer's features may change
        self.notifications.cases_changed(run.sync, actor)

    def _refuse_if_too_many_refused(self, report: ImportReport, accept_partial: bool) -> None:
        """Keep the stored version when the file would replace it with (almost) nothing."""
        read = max(report.rows_read, 1)
        share = report.refused / read
        limit = self.settings.max_refused_share
        if report.accepted and (share <= limit or accept_partial):
            return
        rows = [FieldError(f"/rows/{row}", reason) for row, reason in report.refused_rows[:20]]
        kept = f"the stored version of layer '{report.layer}' is kept"
        if not report.accepted:
            raise InvalidInput(
                f"none of the {report.rows_read} rows of {report.source} could be imported; {kept}",
                field_errors=rows,
            )
        raise InvalidInput(
            f"{report.refused} of {report.rows_read} rows of {report.source} were refused "
            f"({share:.0%}, more than max_refused_share {limit:.0%}); {kept}. Import the "
            f"accepted rows anyway with {option_name('accept_partial')}",
            field_errors=rows,
        )

    def _check(
        self,
        source: Source,
        definition: LayerDefinition,
        mapping: Mapping[str, str],
        transformer: Transformer,
        report: ImportReport,
    ) -> _Accepted:
        """Every row checked, a chunk at a time; only the accepted rows are kept, converted
        and in the storage CRS, until they are written."""
        region = self.reprojector.bbox_to_storage(self.settings.region_bbox)
        shapely.prepare(region)
        accepted = _Accepted()
        for chunk in source.chunks(list(mapping)):
            report.rows_read += len(chunk) + len(chunk.refused)
            for row, reason in chunk.refused:
                report.refuse(row, reason)
            keep = np.ones(len(chunk), dtype=bool)
            values = self._coerce(chunk, definition, mapping, keep, report)
            geometries = self._geometries(chunk, definition, transformer, region, keep, report)
            kept = {attribute: column[keep] for attribute, column in values.items()}
            accepted.add(geometries[keep], kept, chunk.rows[keep])
        return accepted

    @staticmethod
    def _name_duplicate_ids(
        definition: LayerDefinition, accepted: _Accepted, report: ImportReport
    ) -> None:
        """Say which ids repeat: such features are recognised by their geometry instead."""
        if definition.id_attribute is None:
            return
        repeated = duplicate_ids([id_text(v) for v in accepted.column(definition.id_attribute)])
        if repeated is not None:
            report.duplicate_ids = asdict(repeated)
            report.notes.append(repeated.note(definition.id_attribute))

    def _coerce(
        self,
        table: SourceTable,
        definition: LayerDefinition,
        mapping: Mapping[str, str],
        keep: np.ndarray,
        report: ImportReport,
    ) -> dict[str, np.ndarray]:
        """Attribute values, one array per attribute (None: missing); a row with a value that
        does not fit is refused.

        Values are converted once per distinct raw value: source files repeat
        the same materials, classes and years thousands of times.
        """
        values: dict[str, np.ndarray] = {}
        for source_name, attribute in mapping.items():
            column: list[Any] = [None] * len(table)
            spec = definition.attribute(attribute)
            # Free text (ids, names) is mostly distinct: stripping it directly
            # is what coerce_value would do, without a cache that never hits.
            free_text = spec.type == "string" and not spec.allowed
            cache: dict[Any, tuple[Any, str | None]] = {}
            for index, raw in enumerate(table.fields[source_name].tolist()):
                if free_text and type(raw) is str and (text := raw.strip()):
                    column[index] = text
                    continue
                try:
                    value, reason = cache[raw]
                except KeyError:
                    value, reason = cache.setdefault(raw, coerce_value(spec, raw))
                except TypeError:  # unhashable raw value
                    value, reason = coerce_value(spec, raw)
                if reason is not None:
                    if keep[index]:
                        keep[index] = False
                        report.refuse(int(table.rows[index]), f"{source_name}: {reason}")
                elif value is not None:
                    column[index] = value.isoformat() if hasattr(value, "isoformat") else value
            values[attribute] = np.fromiter(column, dtype=object, count=len(column))
        return values

    def _geometries(
        self,
        table: SourceTable,
        definition: LayerDefinition,
        transformer: Transformer,
        region: shapely.Geometry,
        keep: np.ndarray,
        report: ImportReport,
    ) -> np.ndarray:
        """Geometry in the storage CRS; empty, unfitting or out-of-``region`` rows are refused."""
        geometries = table.geometries.copy()

        def refuse(mask: np.ndarray, reason: str | Callable[[int], str]) -> None:
            for index in np.flatnonzero(mask & keep):
                text = reason(index) if callable(reason) else reason
                report.refuse(int(table.rows[index]), text)
            keep[mask] = False

        missing = shapely.is_missing(geometries) | shapely.is_empty(geometries)
        refuse(missing, "no geometry")
        type_names = np.array(
            [g.geom_type if g is not None else "" for g in geometries], dtype=object
        )
        fits = np.array([definition.accepts_geometry(t) for t in type_names]) | missing
        refuse(
            ~fits,
            lambda i: (
                f"geometry type {type_names[i]} does not fit layer '{definition.key}' "
                f"({', '.join(definition.geometry_types)})"
            ),
        )
        present = ~missing
        finite = np.ones(len(geometries), dtype=bool)
        finite[present] = _all_finite(geometries[present])
        refuse(~finite, "coordinates are not finite numbers (NaN or infinite)")
        usable = keep.copy()
        geometries[usable] = shapely.transform(
            geometries[usable], lambda c: np.column_stack(transformer.transform(c[:, 0], c[:, 1]))
        )
        transformed = np.ones(len(geometries), dtype=bool)
        transformed[usable] = _all_finite(geometries[usable])
        refuse(~transformed, "coordinates cannot be transformed to the storage CRS")
        inside = np.ones(len(geometries), dtype=bool)
        inside[keep] = shapely.intersects(region, geometries[keep])
        refuse(
            ~inside,
            lambda i: (
                "outside the region served "
                f"(first point {shapely.get_coordinates(geometries[i])[0].round(1).tolist()} "
                f"in {self.settings.storage_crs})"
            ),
        )
        valid = np.ones(len(geometries), dtype=bool)
        valid[keep] = shapely.is_valid(geometries[keep])
        for index in np.flatnonzero(~valid):
            fixed, done = repaired(geometries[index])
            if fixed is None:
                report.refuse(int(table.rows[index]), done)
                keep[index] = False
            else:
                geometries[index] = fixed
                report.repair(int(table.rows[index]), done)
        return geometries

    def _batches(
        self, definition: LayerDefinition, accepted: _Accepted, progress: Progress | None
    ) -> Iterator[LayerFeatureBatch]:
        """The accepted rows in batches for the store; each chunk is let go once written."""
        total = accepted.count
        while accepted.chunks:
            geometries, values, rows = accepted.chunks.pop(0)
            for start in range(0, len(rows), self.batch_size):
                part = slice(start, start + self.batch_size)
                batch_geometries = geometries[part]
                attributes = _attribute_rows(
                    {a: v[part] for a, v in values.items()}, len(batch_geometries)
                )
                derived = None
                if definition.derived is not None:
                    spec = definition.derived
                    radii = np.array(
                        [spec.radius_for(a.get(spec.radius_attribute or "")) for a in attributes]
                    )
                    derived = list(shapely.buffer(batch_geometries, radii))
                yield LayerFeatureBatch(
                    geometries=list(batch_geometries),
                    attributes=attributes,
                    source_rows=rows[part].tolist(),
                    derived=derived,
                )
                if progress is not None:
                    progress(len(batch_geometries), total)

    def list(self, actor: Actor) -> list[LayerInfo]:
        self.policy.require_read(actor)
        return self.store.list_layers()

    def describe(self, actor: Actor, key: str) -> dict[str, Any]:
        """Definition and stored version of a layer, as the API and web map use it."""
        self.policy.require_read(actor)
        info = self.store.get_layer(key)
        return self.definition(key).as_dict() | {"stored": self._info_json(info)}

    def describe_all(self, actor: Actor) -> list[dict[str, Any]]:
        self.policy.require_read(actor)
        stored = {info.key: info for info in self.store.list_layers()}
        return [
            definition.as_dict() | {"stored": self._info_json(stored.get(key))}
            for key, definition in sorted(self.definitions.items())
        ]

    def features(
        self,
        actor: Actor,
        key: str,
        bbox: tuple[float, float, float, float] | None,
        *,
        limit: int | None = None,
        after: int | None = None,
    ) -> tuple[list[LayerFeature], int, int | None]:
        """One page of a layer's features: the features, how many match, the next cursor."""
        area = self.reprojector.bbox_to_storage(bbox) if bbox else None
        return self.features_in(actor, key, area, limit=limit, after=after)

    def features_in(
        self,
        actor: Actor,
        key: str,
        area: BaseGeometry | None,
        *,
        limit: int | None = None,
        after: int | None = None,
        filter: Filter | None = None,
    ) -> tuple[list[LayerFeature], int, int | None]:
        """``features`` for an area of the storage CRS (the OGC API's box in any CRS) and a
        CQL2 filter."""
        self.policy.require_read(actor)
        self.definition(key)
        limit = self.settings.page_size if limit is None else limit
        if not 1 <= limit <= self.settings.max_page_size:
            raise BadRequest(f"'limit' must be between 1 and {self.settings.max_page_size}")
        features = self.store.layer_features(
            key, area, after_id=after, limit=limit + 1, filter=filter
        )
        has_more = len(features) > limit
        features = features[:limit]
        total = self.store.count_layer_features(key, area, filter=filter)
        return features, total, features[-1].id if has_more else None

    def feature_json(self, feature: LayerFeature, *, derived: bool = False) -> dict[str, Any]:
        """A layer feature as a GeoJSON Feature (lon/lat); ``derived`` serves the derived shape."""
        geometry = feature.derived if derived and feature.derived is not None else feature.geometry
        return {
            "type": "Feature",
            "id": feature.id,
            "geometry": geometry_to_json(self.reprojector.to_wgs84(geometry)),
            "properties": feature.attributes | {"source_row": feature.source_row},
        }

    def _info_json(self, info: LayerInfo | None) -> dict[str, Any] | None:
        if info is None:
            return None
        extent = None
        if info.extent is not None:
            lonlat = self.reprojector.to_wgs84(shapely.box(*info.extent)).bounds
            extent = [round(v, 7) for v in lonlat]
        return {
            "version": info.version,
            "feature_count": info.feature_count,
            "extent": extent,
            "source": info.source,
            "source_layer": info.source_layer,
            "source_crs": info.source_crs,
            "transformation": info.transformation,
            "imported_at": info.imported_at.isoformat(),
            "imported_by": info.imported_by,
            "responsible_organisation": info.responsible_organisation,
            "report": info.report,
        }

    def districts(self, wanted: str) -> list[LayerFeature]:
        """The features of the ``districts`` layer whose number (its id attribute) or name
        (any case) is ``wanted``: the area filter of exports and reports."""
        definition = self.definitions.get(DISTRICTS)
        if definition is None or self.store.get_layer(DISTRICTS) is None:
            raise NotFound(f"no district {wanted!r}: the layer '{DISTRICTS}' is not stored")
        id_name = definition.id_attribute or "district_id"
        features = self.store.layer_features(DISTRICTS)
        folded = wanted.casefold()
        hits = [
            f
            for f in features
            if str(f.attributes.get(id_name, "")) == wanted
            or str(f.attributes.get("name", "")).casefold() == folded
        ]
        if not hits:
            known = ", ".join(
                f"{f.attributes.get(id_name)} ({f.attributes.get('name')})" for f in features[:20]
            )
            raise NotFound(f"no district {wanted!r} in the layer '{DISTRICTS}'; known: {known}")
        return hits

    def versions(self, actor: Actor, key: str) -> list[dict[str, Any]]:
        """Every version of a layer on record, newest first, and which can be brought back."""
        self.policy.require_read(actor)
        self.definition(key)
        return [
            (self._info_json(info) or {}) | {"restorable": kept}
            for info, kept in self.store.layer_versions(key)
        ]

    def rollback(self, key: str, actor: Actor, version: int | None = None) -> LayerInfo:
        """Bring back an earlier version (default: the one before the current) as a new
        version, its cases recomputed; the current one is kept like any replaced version."""
        self.policy.require_writer(actor)
        definition = self.definition(key)
        self.policy.require_layer_write(actor, definition.theme, f"rolling back the layer {key}")
        with self._writing():
            stored = self.store.layer_versions(key)
            current = stored[0][0]
            kept = [info for info, restorable in stored[1:] if restorable]
            target = next((i for i in kept if version in (None, i.version)), None)
            if target is None:
                known = ", ".join(str(i.version) for i in kept) or "none"
                raise NotFound(
                    f"version {version} of layer '{key}' cannot be brought back; "
                    f"kept earlier versions: {known} (keep_layer_versions "
                    f"{self.settings.keep_layer_versions})"
                    if version is not None
                    else f"layer '{key}' has no kept earlier version to go back to"
                )
            features = self.store.archived_layer_features(key, target.version)
            note = f"rollback to version {target.version} (replacing version {current.version})"
            restored = NewLayerVersion(
                key=key,
                source=target.source,
                source_layer=target.source_layer,
                source_crs=target.source_crs,
                transformation=target.transformation,
                user=actor.username,
                report=target.report | {"notes": [*target.report.get("notes", []), note]},
                keep_earlier=self.settings.keep_layer_versions,
                responsible_organisation=target.responsible_organisation,
            )
            info = self.store.replace_layer(restored, [_feature_batch(features)])
            self.audit.record(
                actor,
                Change(
                    "layer.rollback",
                    "layer",
                    key,
                    _layer_values(current),
                    (_layer_values(info) or {}) | {"restored": target.version},
                ),
            )
            self._recompute_cases(actor)
            self.notifications.layer_imported(key, info.feature_count, actor)
        return info

    def remove(self, key: str, actor: Actor) -> None:
        self.policy.require_writer(actor)
        definition = self.definition(key)
        self.policy.require_layer_write(actor, definition.theme, f"removing the layer {key}")
        with self._writing():
            before = self.store.get_layer(key)
            self.store.delete_layer(key, actor.username)
            self.audit.record(actor, Change("layer.remove", "layer", key, _layer_values(before)))
            self._recompute_cases(actor)


@dataclass
class _Accepted:
    """The accepted rows of an import until they are written, chunk by chunk: geometries,
    one array per attribute and the source rows, without an object per row."""

    chunks: list[tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]] = field(default_factory=list)
    count: int = 0

    def add(self, geometries: np.ndarray, values: dict[str, np.ndarray], rows: np.ndarray) -> None:
        self.chunks.append((geometries, values, rows))
        self.count += len(rows)

    def column(self, attribute: str) -> list[Any]:
        """Every accepted row's value of ``attribute`` (None: missing)."""
        return [
            value
            for _geometries, values, rows in self.chunks
            for value in (values[attribute].tolist() if attribute in values else [None] * len(rows))
        ]


def _attribute_rows(values: Mapping[str, np.ndarray], size: int) -> list[dict[str, Any]]:
    """One dict per row with its present values, as the store takes attributes."""
    if not values:
        return [{} for _ in range(size)]
    names = list(values)
    return [
        {name: value for name, value in zip(names, row, strict=True) if value is not None}
        for row in zip(*(column.tolist() for column in values.values()), strict=True)
    ]


def _no_features(source: Source, layer_key: str) -> InvalidInput:
    return InvalidInput(
        f"{source.source} holds no features; the stored version of layer '{layer_key}' is kept",
        field_errors=[FieldError("/file", "no features")],
    )


def _feature_batch(features: list[LayerFeature]) -> LayerFeatureBatch:
    """Stored features as one batch to write again (a rollback)."""
    return LayerFeatureBatch(
        geometries=[f.geometry for f in features],
        attributes=[f.attributes for f in features],
        source_rows=[f.source_row for f in features],
        derived=[f.derived for f in features],
    )


def _all_finite(geometries: np.ndarray) -> np.ndarray:
    """Per geometry: are all its coordinates finite? (GEOS bounds skip NaN vertices.)"""
    coords, owner = shapely.get_coordinates(geometries, return_index=True)
    finite = np.ones(len(geometries), dtype=bool)
    finite[owner[~np.isfinite(coords).all(axis=1)]] = False
    return finite


def source_crs_of(table: SourceTable | Source, given: str | None) -> CRS:
    """The CRS the user gave, else the file's; a file without one cannot be placed."""
    crs = crs_from_text(given) if given else table.crs
    if crs is None:
        raise InvalidInput(
            f"{table.source} says nothing about its coordinate reference system; "
            f"give it with {option_name('source_crs')} (e.g. EPSG:25832)"
        )
    return crs


def crs_label(crs: CRS) -> str:
    """``EPSG:25832`` when the CRS has a code, else its name and a WKT excerpt."""
    epsg = crs.to_epsg(min_confidence=90)
    return f"EPSG:{epsg}" if epsg else f"{crs.name} (custom, no EPSG code)"


def _layer_values(info: LayerInfo | None) -> dict[str, Any] | None:
    """A stored layer version for the audit log (not its features)."""
    if info is None:
        return None
    return {
        "version": info.version,
        "features": info.feature_count,
        "source": info.source,
        "source_crs": info.source_crs,
    }
