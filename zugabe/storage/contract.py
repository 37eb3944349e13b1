"""The storage contract every backend implements.

The services talk only to this interface; the embedded SQLite backend is the
default and a PostGIS backend follows. ``tests/storage_contract.py`` holds
the tests every backend must pass, unchanged.

All geometry crossing this boundary is shapely geometry in the storage CRS.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from shapely.geometry.base import BaseGeometry

from zugabe.domain.project import Project, ProjectAttributes, Status


@dataclass(frozen=True)
class NewProject:
    """A project to be stored; the backend assigns id and version."""

    attributes: ProjectAttributes
    geometry: BaseGeometry
    user: str


@dataclass(frozen=True)
class ProjectQuery:
    """Filters for listing projects; all given filters must hold.

    ``area`` is a polygon in the storage CRS: a project matches when its
    geometry intersects it. ``time_from``/``time_to`` select projects whose
    planned window overlaps [time_from, time_to]; a missing start or end of a
    project counts as open-ended. ``text`` matches a case-insensitive
    substring of the title. Results are ordered by id; ``after_id`` and
    ``limit`` page through them.
    """

    area: BaseGeometry | None = None
    organisations: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    measure_types: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = ()
    time_from: date | None = None
    time_to: date | None = None
    text: str | None = None
    after_id: int | None = None
    limit: int | None = None


class ProjectStore(ABC):
    """Persistent, transactional registry of projects.

    Every write is atomic: it happens completely or not at all. Writes take
    the acting user for the audit fields.
    """

    @abstractmethod
    def add_projects(self, projects: Iterable[NewProject]) -> list[Project]:
        """Store all projects in one transaction and return them with ids.

        If anything fails (including the iterable raising), nothing is stored.
        """

    @abstractmethod
    def get_project(self, project_id: int) -> Project | None:
        """The project with this id, or None."""

    @abstractmethod
    def update_project(
        self,
        project_id: int,
        attributes: ProjectAttributes,
        geometry: BaseGeometry,
        user: str,
        expected_version: int | None,
    ) -> Project:
        """Replace a project's attributes and geometry; version grows by one.

        Raises ``NotFound`` if the id is unknown and ``VersionConflict`` when
        ``expected_version`` is given and is not the stored version; the check
        and the write are one transaction, so concurrent editors cannot both
        win.
        """

    @abstractmethod
    def delete_project(self, project_id: int, user: str, expected_version: int | None) -> None:
        """Delete a project (``NotFound``, ``VersionConflict`` as for update)."""

    @abstractmethod
    def list_projects(self, query: ProjectQuery) -> list[Project]:
        """Projects matching the query, ordered by id."""

    @abstractmethod
    def count_projects(self, query: ProjectQuery) -> int:
        """How many projects match the query, ignoring ``after_id`` and ``limit``."""

    @abstractmethod
    def schema_version(self) -> int:
        """The schema version the store is migrated to."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
