"""Thematic layers over HTTP (``/api/layers``): metadata, features, upload, delete."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from werkzeug.utils import secure_filename

from zugabe.errors import BadRequest, FieldError, InvalidInput, UnsupportedMediaType
from zugabe.io.layer_files import CsvOptions
from zugabe.services import Services
from zugabe.services.jobs import Progress
from zugabe.services.query import parse_bbox, parse_mapping
from zugabe.web.api import json_integer, json_object, page_params, page_response
from zugabe.web.apidoc import MAX_ID
from zugabe.web.auth import current_actor
from zugabe.web.jobs import prefers_async, start_with_upload

blueprint = Blueprint("layers", __name__, url_prefix="/api/layers")

# What an upload may be, recognised by its first bytes as well as its name:
# a renamed executable is refused before GDAL sees it.
UPLOAD_SIGNATURES = {
    ".gpkg": (b"SQLite format 3\x00",),
    ".zip": (b"PK\x03\x04",),
    ".geojson": (b"{", b"\xef\xbb\xbf{"),
    ".json": (b"{", b"\xef\xbb\xbf{"),
    ".xml": (b"<", b"\xef\xbb\xbf<"),
    ".csv": (b"",),
}


def _services() -> Services:
    return current_app.extensions["zugabe"]


@blueprint.get("")
def list_layers() -> Response:
    return jsonify({"layers": _services().layers.describe_all(current_actor())})


@blueprint.get("/<key>")
def get_layer(key: str) -> Response:
    return jsonify(_services().layers.describe(current_actor(), key))


@blueprint.get("/<key>/features")
def layer_features(key: str) -> Response:
    layers = _services().layers
    bbox = parse_bbox(request.args["bbox"]) if request.args.get("bbox") else None
    derived = request.args.get("geometry") == "derived"
    limit, after = page_params()
    features, matched, next_after = layers.features(
        current_actor(), key, bbox, limit=limit, after=after
    )
    return page_response(
        [layers.feature_json(f, derived=derived) for f in features], matched, next_after
    )


@blueprint.post("/<key>")
def upload_layer(key: str) -> Response:
    """Import an uploaded file (multipart field ``file``) as the layer's new version."""
    services = _services()
    actor = current_actor()
    definition = services.layers.definition(key)
    # Refused before the upload is read: anonymous callers and accounts without the theme.
    services.policy.require_layer_write(actor, definition.theme, f"importing the layer {key}")
    with received_upload(services.settings.max_upload_bytes, UPLOAD_SIGNATURES) as path:
        accept_partial, options = flag("accept_partial"), upload_options()
        organisation = request.form.get("organisation") or None

        def work(path: Path, progress: Progress | None = None) -> dict[str, Any]:
            _info, report = services.layers.import_file(
                path,
                key,
                actor,
                accept_partial=accept_partial,
                progress=progress,
                organisation=organisation,
                **options,
            )
            return services.layers.describe(actor, key) | {"report": report.as_dict()}

        if prefers_async():
            return start_with_upload(actor, "layer.import", key, path, work)
        response = jsonify(work(path))
    response.status_code = 201
    response.headers["Location"] = url_for("layers.get_layer", key=key)
    return response


@contextmanager
def received_upload(max_bytes: int, signatures: Mapping[str, tuple[bytes, ...]]) -> Iterator[Path]:
    """The uploaded ``file``, saved in a temporary folder that is removed afterwards.

    Checked before any reader sees it: a multipart body (else 415), size (``max_bytes``,
    else 413), name ending (a key of ``signatures``) and first bytes (one of its values),
    so a renamed executable never reaches GDAL. Zip archives are checked further by the
    reader (``check_zip``).
    """
    request.max_content_length = max_bytes
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(
            f"send the file as multipart/form-data, not {request.mimetype or 'no Content-Type'}"
        )
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput(
            "no file uploaded", field_errors=[FieldError("/file", "send the file as 'file'")]
        )
    name = secure_filename(upload.filename) or "upload"
    suffix = Path(name).suffix.lower()
    if suffix not in signatures:
        raise InvalidInput(
            f"'{upload.filename}' is not a supported upload; send one of "
            + ", ".join(sorted(signatures))
            + " (a shapefile zipped with its .dbf, .shx and .prj)",
            field_errors=[FieldError("/file", "unsupported file type")],
        )
    with tempfile.TemporaryDirectory(dir=current_app.instance_path) as folder:
        path = Path(folder) / name
        upload.save(path)
        with path.open("rb") as handle:
            head = handle.read(16)
        if not head.startswith(signatures[suffix]) or (b"\x00" in head[:8] and suffix == ".csv"):
            raise InvalidInput(
                f"'{upload.filename}' does not look like a {suffix} file",
                field_errors=[FieldError("/file", "content does not match the file name")],
            )
        yield path


def upload_options() -> dict[str, Any]:
    """The reading options sent as form fields beside an upload, as import keywords."""
    form = request.form
    decimal_comma = {"true": True, "false": False}.get(form.get("decimal_comma", "").lower())
    csv_options = CsvOptions(
        form.get("x_field") or None,
        form.get("y_field") or None,
        form.get("delimiter") or None,
        decimal_comma,
        form.get("encoding") or None,
        form.get("wkt_field") or None,
    )
    return {
        "source_layer": form.get("source_layer") or None,
        "source_crs": form.get("source_crs") or None,
        "mapping": parse_mapping(form.getlist("map")) or None,
        "csv_options": csv_options,
    }


_FLAGS = {"": False, "false": False, "0": False, "no": False, "true": True, "1": True, "yes": True}


def flag(name: str) -> bool:
    """A true/false option of an upload, as a query parameter or a form field (400 if neither)."""
    raw = request.args.get(name, request.form.get(name, "")).strip().lower()
    if raw not in _FLAGS:
        raise BadRequest(f"'{name}' must be true or false, got {raw!r}")
    return _FLAGS[raw]


@blueprint.get("/<key>/versions")
def layer_versions(key: str) -> Response:
    return jsonify({"versions": _services().layers.versions(current_actor(), key)})


@blueprint.post("/<key>/rollback")
def rollback_layer(key: str) -> Response:
    """Body ``{"version": N}``, or none for the version before the current one."""
    raw = json_object(("version",)).get("version") if request.content_length else None
    version = json_integer(raw)
    if raw is not None and (version is None or not 1 <= version <= MAX_ID):
        raise InvalidInput(
            "'version' must be a version number",
            field_errors=[FieldError("/version", "a positive integer")],
        )
    services = _services()
    actor = current_actor()
    services.layers.rollback(key, actor, version)
    return jsonify(services.layers.describe(actor, key))


@blueprint.delete("/<key>")
def delete_layer(key: str) -> Response:
    _services().layers.remove(key, current_actor())
    return Response(status=204)
