"""Whether this process can serve requests: what a load balancer or a monitor asks every
few seconds (``GET /health``).

Cheap — one small read of the store, nothing loaded — and open to anyone, so it tells
nothing an outsider could use: no version, no path, no error text. The reason a check
failed goes to the log, as the name of the error only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from zugabe.services.cases import CaseService
from zugabe.services.projects import ProjectService
from zugabe.storage.contract import Store

log = logging.getLogger("zugabe.health")


@dataclass(frozen=True)
class Health:
    store: str
    """``ok``, or ``unreachable``: the store did not answer a read."""
    schema: str
    """``current``: the schema this process opened; ``changed``: another process (a newer
    ZUGABE) migrated the store since, and this one must be restarted; ``unknown``."""
    detection_index: str
    """``warm``, or ``cold``: the first save builds it (seconds in a big region); this
    does not make the process unready."""
    rendered_projects: str
    """``warm``: the projects are rendered for the map (after the index); ``cold``: a map
    view renders the projects it shows first. Neither makes the process unready."""
    rendered_cases: str
    """``warm``: the newest cases are rendered for the map (after the projects); ``cold``:
    a map view renders the cases it shows first. Neither makes the process unready."""

    @property
    def ready(self) -> bool:
        return self.store == "ok" and self.schema == "current"

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ready else "unavailable",
            "checks": {
                "store": self.store,
                "schema": self.schema,
                "detection_index": self.detection_index,
                "rendered_projects": self.rendered_projects,
                "rendered_cases": self.rendered_cases,
            },
        }


class HealthService:
    def __init__(self, store: Store, projects: ProjectService, cases: CaseService) -> None:
        self.store = store
        self.projects = projects
        self.cases = cases
        self.schema_at_open = store.schema_version()  # the store migrates when it opens

    def check(self) -> Health:
        index, projects, cases = ("warm" if done else "cold" for done in self._warmed_up())
        try:
            version = self.store.schema_version()
        except Exception as exc:  # whatever the backend raises: not ready
            log.warning("health: the store did not answer (%s)", type(exc).__name__)
            return Health("unreachable", "unknown", index, projects, cases)
        if version != self.schema_at_open:
            log.warning(
                "health: the store's schema changed from version %d to %d since this "
                "process opened it: restart it",
                self.schema_at_open,
                version,
            )
            return Health("ok", "changed", index, projects, cases)
        return Health("ok", "current", index, projects, cases)

    def _warmed_up(self) -> tuple[bool, bool, bool]:
        """What ``Services.warm_up`` has done: the index, the projects, the cases."""
        return self.cases.index_warm, self.projects.rendered_ahead, self.cases.rendered_ahead
