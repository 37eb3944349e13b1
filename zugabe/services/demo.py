"""Load the demo town into a store (``zugabe demo``, ``make run``)."""

from __future__ import annotations

import json
from pathlib import Path

from zugabe.errors import InvalidInput
from zugabe.services.layers import LayerService
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


def load_demo_layers(layers: LayerService, folder: Path) -> dict[str, int]:
    """Import the demo town's thematic layers (``layers/<key>.geojson``) not yet stored.

    They go through the same importer as a user's files; returns the feature
    count per layer imported now.
    """
    loaded: dict[str, int] = {}
    for path in sorted((folder / "layers").glob("*.geojson")):
        if layers.store.get_layer(path.stem) is not None:
            continue
        info, _report = layers.import_file(path, path.stem, DEMO_USER)
        loaded[path.stem] = info.feature_count
    return loaded
