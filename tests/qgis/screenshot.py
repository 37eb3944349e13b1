"""The README's screenshot: QGIS rendering ZUGABE's demo town from its OGC API, offscreen.

Run by Debian's Python with QGIS (``make qgis``), against a running server::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis/screenshot.py \
        --landing http://127.0.0.1:5000/ogc --token zgb_… --out docs/img/qgis-zugabe.png

Layers (bottom to top): ``--layers`` (default trees), then the projects coloured by status.
Rendered with QgsMapSettings and QgsMapRendererParallelJob, the way QGIS draws its canvas.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from oapif_client import add_token, layer_uri
from qgis.core import (
    QgsApplication,
    QgsCategorizedSymbolRenderer,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsRendererCategory,
    QgsSymbol,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

# Status colours of the projects (idea … cancelled), readable on white.
STATUS_COLOURS = {
    "idea": "#9e9e9e",
    "planning": "#1f78b4",
    "approved": "#33a02c",
    "under_construction": "#ff7f00",
    "done": "#6a3d9a",
    "cancelled": "#e31a1c",
}


def projects_renderer(layer: QgsVectorLayer) -> QgsCategorizedSymbolRenderer:
    """Projects by status, lines and outlines 0.8 mm wide."""
    categories = []
    for status, colour in STATUS_COLOURS.items():
        symbol = QgsSymbol.defaultSymbol(layer.geometryType())
        symbol.setColor(QColor(colour))
        symbol.setOpacity(0.85)
        if hasattr(symbol, "setWidth"):
            symbol.setWidth(0.8)
        categories.append(QgsRendererCategory(status, symbol, status))
    return QgsCategorizedSymbolRenderer("status", categories)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", required=True)
    parser.add_argument("--token", default=None)
    parser.add_argument("--layers", default="trees", help="collections drawn below the projects")
    parser.add_argument("--out", type=Path, default=Path("docs/img/qgis-zugabe.png"))
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args()

    app = QgsApplication([], False)
    app.initQgis()
    add_token(args.token)
    layers = []
    for key in [*filter(None, args.layers.split(",")), "projects"]:
        layer = QgsVectorLayer(layer_uri(args.landing, key, 1000), key, "OAPIF")
        if not layer.isValid():
            print(f"{key}: {layer.error().summary()}", file=sys.stderr)
            os._exit(1)
        if key == "projects":
            layer.setRenderer(projects_renderer(layer))
        else:
            symbol = QgsSymbol.defaultSymbol(layer.geometryType())
            symbol.setColor(QColor("#7fbf7b"))
            symbol.setOpacity(0.6)
            layer.renderer().setSymbol(symbol)
        layers.append(layer)

    settings = QgsMapSettings()
    settings.setLayers(list(reversed(layers)))  # the first is drawn on top
    settings.setDestinationCrs(layers[-1].crs())
    settings.setOutputSize(QSize(args.width, args.height))
    settings.setBackgroundColor(QColor("white"))
    extent = layers[-1].extent()
    extent.scale(1.05)
    settings.setExtent(extent)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not job.renderedImage().save(str(args.out), "PNG"):
        print(f"could not write {args.out}", file=sys.stderr)
        os._exit(1)
    print(f"wrote {args.out} ({args.width} × {args.height})")
    sys.stdout.flush()
    os._exit(0)  # QGIS 3.22 may crash in its exit handlers


if __name__ == "__main__":
    main()
