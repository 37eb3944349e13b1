"""Coordination engine: pure functions on shapely 2 and numpy, no Flask, no SQL.

``detection`` finds where projects meet each other and the thematic layers under the
configured rules (``zugabe.domain.rules``).
"""

from zugabe.engine.detection import (
    DetectionIndex,
    Finding,
    detect_all,
    detect_for_project,
    message_values,
    render_message,
)

__all__ = [
    "DetectionIndex",
    "Finding",
    "detect_all",
    "detect_for_project",
    "message_values",
    "render_message",
]
