"""Load the demo town into a store (``zugabe demo``, ``make run``)."""

from __future__ import annotations

import json
from pathlib import Path

from zugabe.errors import InvalidInput
from zugabe.services.projects import ProjectFilter, ProjectService

DEMO_USER = "demo"


def load_demo_projects(projects: ProjectService, folder: Path) -> int:
    """Load ``projects.geojson`` of the demo town, unless the store has projects.

    Returns how many projects were loaded (0 when the store was not empty),
    so re-running ``make run`` never duplicates the demo. The features go
    through the same checks as the API, in one transaction.
    """
    if projects.list(ProjectFilter(), limit=1).number_matched:
        return 0
    path = folder / "projects.geojson"
    try:
        collection = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"demo file {path} cannot be read: {exc}") from exc
    return len(projects.create_many(collection["features"], DEMO_USER))
