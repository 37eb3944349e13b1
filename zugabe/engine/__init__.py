"""Coordination engine: pure functions on shapely 2 and numpy, no Flask, no SQL.

``detection`` finds where projects meet each other and the thematic layers under the
configured rules (``zugabe.domain.rules``); ``messages`` fills the values a finding's
message shows.
"""

from zugabe.engine.detection import (
    DetectionIndex,
    Finding,
    Involved,
    RuleFindings,
    detect_all,
    detect_every_rule,
    detect_for_project,
    findings_by_rule,
)
from zugabe.engine.messages import MessageValues, message_values, render_message

__all__ = [
    "DetectionIndex",
    "Finding",
    "Involved",
    "MessageValues",
    "RuleFindings",
    "detect_all",
    "detect_every_rule",
    "detect_for_project",
    "findings_by_rule",
    "message_values",
    "render_message",
]
