"""The palette stays apart for every reader, and the web map reads it from the server.

Distances are CIEDE2000 (Sharma, Wu & Dalal 2005) between sRGB colours in CIELAB (D65);
colour blindness is simulated with the severity-1.0 matrices of Machado, Oliveira &
Fernandes (2009), applied to linear sRGB.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest
from flask.testing import FlaskClient

from zugabe.domain.layers import default_layers_folder, load_layer_definitions
from zugabe.domain.palette import DEPARTMENT_COLORS, OTHER_COLOR, RELATION_COLORS
from zugabe.domain.vocabulary import Vocabulary

ROOT = Path(__file__).resolve().parents[1]

SIMULATIONS: dict[str, np.ndarray | None] = {
    "normal": None,
    "deuteranopia": np.array(
        [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.011820, 0.042940, 0.968881],
        ]
    ),
    "protanopia": np.array(
        [
            [0.152286, 1.052583, -0.204868],
            [0.114503, 0.786281, 0.099216],
            [-0.003882, -0.048116, 1.051998],
        ]
    ),
}
SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
# The least distance of two palette colours (departments and relations together), and of two
# classes of one layer (ColorBrewer ramps: steps of lightness, so smaller but still visible).
PALETTE_MIN = {"normal": 20.0, "deuteranopia": 10.0, "protanopia": 10.0}
LAYER_CLASSES_MIN = {"normal": 10.0, "deuteranopia": 8.0, "protanopia": 8.0}


def lab(color: str, vision: str) -> np.ndarray:
    """CIELAB (D65) of a ``#rrggbb`` colour as a reader with this vision sees it."""
    srgb = np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    matrix = SIMULATIONS[vision]
    if matrix is not None:
        linear = np.clip(matrix @ linear, 0, 1)
    xyz = (SRGB_TO_XYZ @ linear) / SRGB_TO_XYZ.sum(axis=1)
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> float:
    """CIEDE2000 colour difference (kL = kC = kH = 1)."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25**7)))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    h1, h2 = np.degrees(np.arctan2(b1, a1)) % 360, np.degrees(np.arctan2(b2, a2)) % 360
    chroma = c1 * c2 != 0
    dh = h2 - h1 if chroma else 0.0
    dh = dh - 360 if dh > 180 else dh + 360 if dh < -180 else dh
    delta_h = 2 * np.sqrt(c1 * c2) * np.sin(np.radians(dh / 2))
    if not chroma:
        h_mean = h1 + h2
    elif abs(h1 - h2) <= 180:
        h_mean = (h1 + h2) / 2
    else:
        h_mean = (h1 + h2 + 360) / 2 if h1 + h2 < 360 else (h1 + h2 - 360) / 2
    l_mean, c_mean = (l1 + l2) / 2, (c1 + c2) / 2
    t = (
        1
        - 0.17 * np.cos(np.radians(h_mean - 30))
        + 0.24 * np.cos(np.radians(2 * h_mean))
        + 0.32 * np.cos(np.radians(3 * h_mean + 6))
        - 0.20 * np.cos(np.radians(4 * h_mean - 63))
    )
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c, s_h = 1 + 0.045 * c_mean, 1 + 0.015 * c_mean * t
    rotation = (
        -np.sin(np.radians(60 * np.exp(-(((h_mean - 275) / 25) ** 2))))
        * 2
        * np.sqrt(c_mean**7 / (c_mean**7 + 25**7))
    )
    dl, dc, dh_ = (l2 - l1) / s_l, (c2 - c1) / s_c, delta_h / s_h
    return float(np.sqrt(dl**2 + dc**2 + dh_**2 + rotation * dc * dh_))


def closest(colors: dict[str, str], vision: str) -> tuple[float, str, str]:
    """The least distance between two of the colours, with their names."""
    return min(
        (ciede2000(lab(colors[a], vision), lab(colors[b], vision)), a, b)
        for a, b in itertools.combinations(colors, 2)
    )


@pytest.mark.parametrize(
    ("lab1", "lab2", "expected"),
    [  # Sharma, Wu & Dalal (2005), table 1: pairs 1, 3, 7 and 17
        ((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
        ((50, 2.8361, -74.0200), (50, 0, -82.7485), 3.4412),
        ((50, 0, 0), (50, -1, 2), 2.3669),
        ((50, 2.5, 0), (73, 25, -18), 27.1492),
    ],
)
def test_ciede2000_matches_the_published_pairs(
    lab1: tuple[float, ...], lab2: tuple[float, ...], expected: float
) -> None:
    assert ciede2000(np.array(lab1), np.array(lab2)) == pytest.approx(expected, abs=1e-4)


def test_departments_and_relations_stay_apart_for_every_reader() -> None:
    departments = Vocabulary.default().departments
    assert len(DEPARTMENT_COLORS) >= len(departments)  # no colour repeats in the default
    colors = {f"relation {k}": v for k, v in RELATION_COLORS.items()}
    colors |= {f"department {i}": c for i, c in enumerate(DEPARTMENT_COLORS)}
    for vision, least in PALETTE_MIN.items():
        distance, a, b = closest(colors, vision)
        assert distance >= least, f"{vision}: {a} and {b} only {distance:.1f} apart"


def test_layer_classes_stay_apart_within_each_layer() -> None:
    for key, definition in load_layer_definitions(default_layers_folder()).items():
        if definition.classify is None:
            continue
        colors = {cls.label.en: cls.color for cls in definition.classify.classes}
        for vision, least in LAYER_CLASSES_MIN.items():
            distance, a, b = closest(colors, vision)
            assert distance >= least, f"{key}, {vision}: {a} and {b} only {distance:.1f} apart"


def test_the_map_reads_the_palette_from_the_server(client: FlaskClient) -> None:
    vocab = client.get("/api/vocab").get_json()
    keys = [d["key"] for d in vocab["departments"]]
    assert vocab["colors"] == {
        "relations": RELATION_COLORS,
        "departments": dict(zip(keys, DEPARTMENT_COLORS, strict=False)),
        "other": OTHER_COLOR,
    }
    script = (ROOT / "webmap" / "static" / "zugabe-map.js").read_text("utf-8")
    assert "vocab.colors" in script
    assert not re.search(r"(DEPARTMENT|RELATION)_COLORS", script)
    for color in (*RELATION_COLORS.values(), *DEPARTMENT_COLORS):
        assert color.lower() not in script.lower()
    stylesheet = (ROOT / "webmap" / "static" / "zugabe-map.css").read_text("utf-8")
    assert not re.search(r"li\.case\.(conflict|synergy|note) \{ border-color", stylesheet)
