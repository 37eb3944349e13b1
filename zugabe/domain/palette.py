"""The colours of ZUGABE's pictures: the web map, printed reports, QGIS styles.

One palette everywhere, so a conflict or a department has the same colour on screen, on paper
and in QGIS; the web map reads it from ``GET /api/vocab`` (``colors``). Departments take the
colours in vocabulary order.

The colours are taken from two palettes made for colour-blind readers: Okabe & Ito, *Color
Universal Design* (2008), and Paul Tol, *Colour schemes* (SRON/EPS/TN/09-002, 2021: the
bright, vibrant, muted and dark schemes). Of these, the ten were chosen whose closest pair is
farthest apart in CIEDE2000, in normal vision and in deuteranopia and protanopia as simulated
by Machado, Oliveira & Fernandes (2009). ``tests/test_palette.py`` checks the distances:
every pair at least 20 apart in normal vision and 10 in both simulations (measured: 22.1,
12.5 and 11.8).
"""

from __future__ import annotations

from collections.abc import Iterable

RELATION_COLORS: dict[str, str] = {
    "conflict": "#d55e00",  # Okabe–Ito vermillion
    "synergy": "#225522",  # Tol dark green
    "note": "#332288",  # Tol muted indigo (drawn dashed)
}
DEPARTMENT_COLORS: tuple[str, ...] = (
    "#bbbbbb",  # roads: Tol bright grey
    "#0072b2",  # drainage: Okabe–Ito blue
    "#009988",  # green spaces: Tol vibrant teal
    "#ee3377",  # planning: Tol vibrant magenta
    "#882255",  # environment: Tol muted wine
    "#33bbee",  # water management: Tol vibrant cyan
    "#e69f00",  # utility networks: Okabe–Ito orange
)
OTHER_COLOR = "#333333"  # a relation or department the palette does not know
DRAFT_COLOR = "#000000"  # a project being drawn: no department's, no relation's


def department_colors(departments: Iterable[str]) -> dict[str, str]:
    """Each department key (in vocabulary order) with its colour, the palette repeating."""
    return {key: DEPARTMENT_COLORS[i % len(DEPARTMENT_COLORS)] for i, key in enumerate(departments)}


def relation_color(relation: str) -> str:
    """The colour of a case of this relation (conflict, synergy, note)."""
    return RELATION_COLORS.get(relation, OTHER_COLOR)


def colors_json(departments: Iterable[str]) -> dict[str, object]:
    """The palette as the web map reads it: relations, departments by key, and the fallback."""
    return {
        "relations": dict(RELATION_COLORS),
        "departments": department_colors(departments),
        "other": OTHER_COLOR,
    }
