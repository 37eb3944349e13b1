"""The two subjects of a case as people name them, and whom to talk to about each.

A reviewer reads "Kanal Bahnhofstraße" and "Haltung HE-H00605, Bahnhofstraße", not
``project:12`` and ``sewer_sections HE-H00605``; and wants the organisation, department,
contact and e-mail of both sides at hand to call or write to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shapely.geometry.base import BaseGeometry

from zugabe.domain.cases import Subject
from zugabe.domain.layers import LayerDefinition
from zugabe.domain.project import Project
from zugabe.storage.contract import LayerFeature, Store

STREETS = "streets"
STREET_NAME = "name"
STREET_REACH_M = 30.0
"""A layer feature is "in" the nearest street within this distance."""
NAME_ATTRIBUTE = "name"


class SubjectDescriber:
    def __init__(self, store: Store, definitions: Mapping[str, LayerDefinition]) -> None:
        self.store = store
        self.definitions = definitions

    def describe(
        self, subject: Subject, project: Project | None, feature: LayerFeature | None
    ) -> dict[str, Any]:
        """``label`` (de/en) and ``contact`` of one subject as it is stored now (a project or
        feature that no longer exists: its reference, no contact)."""
        if subject.kind == "project":
            return self._project(subject, project)
        return self._feature(subject, feature)

    def _project(self, subject: Subject, project: Project | None) -> dict[str, Any]:
        if project is None:
            fallback = f"#{subject.ref}"
            return {"label": {"de": f"Maßnahme {fallback}", "en": f"Project {fallback}"}}
        a = project.attributes
        return {
            "label": {"de": a.title, "en": a.title},
            "contact": {
                "organisation": a.organisation,
                "department": a.department,
                "contact": a.contact,
                **self._person(project.updated_by or project.created_by),
            },
        }

    def _feature(self, subject: Subject, feature: LayerFeature | None) -> dict[str, Any]:
        assert subject.layer is not None
        definition = self.definitions.get(subject.layer)
        title = definition.title if definition else None
        name = feature.attributes.get(NAME_ATTRIBUTE) if feature else None
        named = f"{subject.ref} {name}" if name and name != subject.ref else subject.ref
        street = self._street(feature.geometry) if feature and subject.layer != STREETS else None
        where = f", {street}" if street else ""
        body: dict[str, Any] = {
            "label": {
                "de": f"{title.de if title else subject.layer} {named}{where}",
                "en": f"{title.en if title else subject.layer} {named}{where}",
            }
        }
        layer = self.store.get_layer(subject.layer)
        if layer is not None:
            body["contact"] = {
                "organisation": layer.responsible_organisation,
                "department": None,
                "contact": "",
                **self._person(layer.imported_by),
            }
        return body

    def _street(self, geometry: BaseGeometry) -> str | None:
        """The name of the nearest stored street within reach, if a streets layer is there."""
        if self.store.get_layer(STREETS) is None:
            return None
        near = self.store.layer_features(STREETS, area=geometry.buffer(STREET_REACH_M))
        named = [f for f in near if f.attributes.get(STREET_NAME)]
        if not named:
            return None
        nearest = min(named, key=lambda f: f.geometry.distance(geometry))
        return str(nearest.attributes[STREET_NAME])

    def _person(self, username: str) -> dict[str, Any]:
        account = self.store.find_account(username)
        if account is None or not account.active:
            return {"person": None, "email": None}
        return {"person": account.display_name, "email": account.email or None}
