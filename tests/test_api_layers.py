"""/api/layers: definitions, upload-import, features by bbox, delete."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from tests.conftest import client_as
from zugabe.web import create_app


def trees_geojson(count: int) -> bytes:
    """Street trees in a row in Herne (lon/lat), every other one without crown radius."""
    features = [
        {
            "type": "Feature",
            "properties": {"Baumart": "Linde", "Kronenradius": 4.0 if i % 2 == 0 else None},
            "geometry": {"type": "Point", "coordinates": [7.21 + i * 0.001, 51.54]},
        }
        for i in range(count)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def upload(client: FlaskClient, key: str, name: str, content: bytes, **form: Any) -> Any:
    data = {"file": (io.BytesIO(content), name), **form}
    return client.post(f"/api/layers/{key}", data=data, content_type="multipart/form-data")


def test_layer_types_are_listed_with_definitions(client: FlaskClient) -> None:
    layers = {layer["key"]: layer for layer in client.get("/api/layers").get_json()["layers"]}
    assert {"sewer_sections", "trees", "heavy_rain_hazard", "streets"} <= set(layers)
    assert layers["trees"]["title"]["de"]
    assert layers["trees"]["stored"] is None


def test_upload_import_and_read_features(client: FlaskClient) -> None:
    response = upload(client, "trees", "baeume.geojson", trees_geojson(10))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"] == "/api/layers/trees"
    assert body["report"]["accepted"] == 10
    assert body["stored"]["feature_count"] == 10
    assert body["stored"]["source"] == "baeume.geojson"
    west, south, east, north = body["stored"]["extent"]
    # The extent encloses the trees (7.21..7.219, 51.54) and hugs them within ~20 m.
    assert west <= 7.21 <= 7.219 <= east and south <= 51.54 <= north
    assert max(7.21 - west, east - 7.219, 51.54 - south, north - 51.54) < 0.0003

    page = client.get("/api/layers/trees/features?bbox=7.2095,51.53,7.2125,51.55").get_json()
    assert page["numberMatched"] == 3
    radii = [f["properties"].get("crown_radius") for f in page["features"]]
    assert radii == [4.0, None, 4.0]
    first = page["features"][0]
    assert first["geometry"] == {"type": "Point", "coordinates": [7.21, 51.54]}

    zones = client.get("/api/layers/trees/features?geometry=derived&limit=2").get_json()
    assert [f["geometry"]["type"] for f in zones["features"]] == ["Polygon", "Polygon"]
    assert any(link["rel"] == "next" for link in zones["links"])


def test_paging_visits_every_feature_once(client: FlaskClient) -> None:
    upload(client, "trees", "baeume.geojson", trees_geojson(7))
    url: str | None = "/api/layers/trees/features?limit=3"
    seen: list[int] = []
    while url:
        body = client.get(url).get_json()
        seen += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert len(seen) == len(set(seen)) == 7


def test_refused_file_keeps_the_previous_version(client: FlaskClient) -> None:
    assert upload(client, "trees", "baeume.geojson", trees_geojson(3)).status_code == 201
    broken = upload(
        client, "trees", "baeume.geojson", b'{"type": "FeatureCollection", "features": ['
    )
    assert broken.status_code == 422
    assert broken.mimetype == "application/problem+json"
    assert client.get("/api/layers/trees").get_json()["stored"]["feature_count"] == 3


def test_content_must_match_the_file_name(client: FlaskClient) -> None:
    response = upload(client, "trees", "baeume.gpkg", trees_geojson(1))
    assert response.status_code == 422
    assert "does not look like a .gpkg file" in response.get_json()["detail"]


def test_unsupported_file_type(client: FlaskClient) -> None:
    response = upload(client, "trees", "setup.exe", b"MZ\x90\x00")
    assert response.status_code == 422
    assert "not a supported upload" in response.get_json()["detail"]


def test_zip_with_path_traversal_is_refused(client: FlaskClient) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("../../evil.shp", b"x")
    response = upload(client, "trees", "evil.zip", buffer.getvalue())
    assert response.status_code == 422
    assert "path outside the archive" in response.get_json()["detail"]


def test_oversize_upload_is_refused(instance_path: Path) -> None:
    app = create_app({"instance_path": instance_path, "max_upload_bytes": 4096})
    try:
        steward = client_as(app, "steward")
        response = upload(steward, "trees", "baeume.geojson", trees_geojson(200))
        assert response.status_code == 413
        assert response.mimetype == "application/problem+json"
        assert steward.get("/api/layers/trees").get_json()["stored"] is None
    finally:
        app.extensions["zugabe"].close()


def test_unknown_layer_and_delete(client: FlaskClient) -> None:
    assert client.get("/api/layers/unicorns").status_code == 404
    assert upload(client, "unicorns", "x.geojson", trees_geojson(1)).status_code == 404
    upload(client, "trees", "baeume.geojson", trees_geojson(2))
    assert client.delete("/api/layers/trees").status_code == 204
    assert client.get("/api/layers/trees").get_json()["stored"] is None
    assert client.delete("/api/layers/trees").status_code == 404
