"""QGIS as an analyst's client: load an OGC API – Features collection through the OAPIF provider.

Run by Debian's ``/usr/bin/python3`` (``python3-qgis``, ``make qgis``), never by the project's
venv, with ``QT_QPA_PLATFORM=offscreen``; ``tests/test_ogc_qgis.py`` starts it in a
subprocess and reads the JSON it prints::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis/oapif_client.py \
        --landing http://127.0.0.1:5000/ogc --collection trees --token zgb_… \
        [--bbox 7.21,51.51,7.23,51.52] [--subset "\"species\" = 'Tilia cordata'"]

It counts the features QGIS gets (all pages), the features inside ``--bbox`` (a feature
request with a filter rectangle, which the provider sends as ``bbox=`` to the server) and with
``--subset`` the features of a subset string, and lists every URL QGIS requested and whether
each carried the token, so the test can tell what the server filtered.

Token: QGIS 3.22 has no ``http-header:`` option in data source URIs (QgsHttpHeaders came in
3.24) and no auth method that sends ``Authorization: Bearer`` (its methods are Basic,
EsriToken, which sends ``X-Esri-Authorization``, and the certificate ones; APIHeader came
later). So the token is added the way a 3.22 user can add it from Python or a startup script:
a request preprocessor of QgsNetworkAccessManager, which every provider request goes through.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, NoReturn

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsDataSourceUri,
    QgsFeatureRequest,
    QgsNetworkAccessManager,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)

REQUESTS: list[dict[str, Any]] = []


def add_token(token: str | None) -> None:
    """Send ``Authorization: Bearer <token>`` with every request, and log each request."""

    def preprocess(request: Any) -> None:
        if token:
            request.setRawHeader(b"Authorization", f"Bearer {token}".encode())
        header = bytes(request.rawHeader(b"Authorization")).decode()
        REQUESTS.append({"url": request.url().toString(), "token": bool(token) and bool(header)})

    QgsNetworkAccessManager.setRequestPreprocessor(preprocess)


def layer_uri(landing: str, collection: str, page_size: int, restrict: bool = False) -> str:
    """The OAPIF data source: the landing page, the collection id, the page size asked for;
    ``restrict``: only request what a feature request's rectangle asks for (``bbox=`` sent to
    the server; QGIS's "Only request features overlapping the view extent")."""
    uri = QgsDataSourceUri()
    uri.setParam("url", landing)
    uri.setParam("typename", collection)
    uri.setParam("pageSize", str(page_size))
    uri.setParam("pagingEnabled", "true")
    if restrict:
        uri.setParam("restrictToRequestBBOX", "1")
    return uri.uri(False)


def count(layer: QgsVectorLayer, request: QgsFeatureRequest) -> tuple[int, list[str]]:
    """Features of ``request`` and the URLs QGIS requested for them."""
    before = len(REQUESTS)
    ids = [str(f.attribute(0)) for f in layer.getFeatures(request)]
    return len(ids), [r["url"] for r in REQUESTS[before:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", required=True, help="the OGC API landing page URL")
    parser.add_argument("--collection", required=True)
    parser.add_argument("--token", default=None)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--bbox", default=None, help="minlon,minlat,maxlon,maxlat (CRS84)")
    parser.add_argument("--subset", default=None, help="a QGIS subset string to apply")
    args = parser.parse_args()

    app = QgsApplication([], False)
    app.initQgis()
    add_token(args.token)
    out: dict[str, Any] = {"qgis": Qgis.version()}
    uri = layer_uri(args.landing, args.collection, args.page_size)
    layer = QgsVectorLayer(uri, args.collection, "OAPIF")
    out["valid"] = layer.isValid()
    if not layer.isValid():
        out["error"] = layer.error().summary()
        finish(out)
    out["crs"] = layer.crs().authid()
    out["fields"] = layer.fields().names()
    out["feature_count"] = layer.featureCount()  # what the provider announces
    if args.bbox:
        # A layer of its own: without restrictToRequestBBOX QGIS downloads every feature
        # and filters them itself.
        restricted = QgsVectorLayer(
            layer_uri(args.landing, args.collection, args.page_size, restrict=True),
            args.collection,
            "OAPIF",
        )
        rect = QgsRectangle(*(float(v) for v in args.bbox.split(",")))
        crs84 = QgsCoordinateReferenceSystem("OGC:CRS84")
        to_layer = QgsCoordinateTransform(crs84, layer.crs(), QgsProject.instance())
        request = QgsFeatureRequest().setFilterRect(to_layer.transformBoundingBox(rect))
        out["bbox_count"], out["bbox_urls"] = count(restricted, request)
    fresh = QgsVectorLayer(uri, args.collection, "OAPIF")
    out["count"], out["all_urls"] = count(fresh, QgsFeatureRequest())
    if args.subset is not None:
        subset = QgsVectorLayer(uri, args.collection, "OAPIF")
        out["subset_accepted"] = subset.setSubsetString(args.subset)
        out["subset_count"], out["subset_urls"] = count(subset, QgsFeatureRequest())
    finish(out)


def finish(out: dict[str, Any]) -> NoReturn:
    """Print the result and leave at once: QGIS 3.22 may crash in its exit handlers."""
    out["requests"] = REQUESTS
    print(json.dumps(out), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
