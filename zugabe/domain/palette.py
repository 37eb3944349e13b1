"""The colours of ZUGABE's pictures: the web map, printed reports, QGIS styles.

One palette everywhere, so a conflict or a department has the same colour on screen, on paper
and in QGIS. It mirrors ``RELATION_COLORS`` and ``DEPARTMENT_COLORS`` of
``webmap/static/zugabe-map.js``, where departments take the colours in vocabulary order.
"""

from __future__ import annotations

from collections.abc import Iterable

RELATION_COLORS: dict[str, str] = {"conflict": "#d7301f", "synergy": "#1a9850", "note": "#6a51a3"}
DEPARTMENT_COLORS: tuple[str, ...] = (
    "#1f78b4",
    "#8c510a",
    "#33a02c",
    "#e7298a",
    "#ff7f00",
    "#6a3d9a",
    "#b15928",
    "#01665e",
    "#a6761d",
    "#666666",
)
OTHER_COLOR = "#333333"  # a relation the palette does not know


def department_colors(departments: Iterable[str]) -> dict[str, str]:
    """Each department key (in vocabulary order) with its colour, the palette repeating."""
    return {key: DEPARTMENT_COLORS[i % len(DEPARTMENT_COLORS)] for i, key in enumerate(departments)}


def relation_color(relation: str) -> str:
    return RELATION_COLORS.get(relation, OTHER_COLOR)
