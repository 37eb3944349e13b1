"""Jobs over HTTP: ``GET /api/jobs/<id>``, and answering long requests with one.

A client that sends ``Prefer: respond-async`` (RFC 7240) to a layer import, a bulk
project import or the batch detection run gets ``202 Accepted`` at once, with the job's
address in ``Location``; it then reads the job until its ``state`` is ``done`` (with the
``result`` the synchronous answer would have carried) or ``failed`` (with the ``problem``).
Without the header the request waits for the work, as before.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from zugabe.domain.accounts import Actor
from zugabe.services import Services
from zugabe.services.jobs import Job, Progress
from zugabe.web.auth import current_actor

blueprint = Blueprint("jobs", __name__, url_prefix="/api/jobs")


def _services() -> Services:
    return current_app.extensions["zugabe"]


@blueprint.get("/<job_id>")
def get_job(job_id: str) -> Response:
    return jsonify(_services().jobs.get(current_actor(), job_id).as_json())


def prefers_async() -> bool:
    """Whether the client asked to be answered before the work is done."""
    return any(
        part.strip().lower() == "respond-async"
        for part in request.headers.get("Prefer", "").split(",")
    )


def accepted(job: Job) -> Response:
    """``202 Accepted`` pointing at the job."""
    response = jsonify(job.as_json())
    response.status_code = 202
    response.headers["Location"] = url_for("jobs.get_job", job_id=job.id)
    response.headers["Preference-Applied"] = "respond-async"
    return response


def start_with_upload(
    actor: Actor,
    kind: str,
    subject: str,
    upload: Path,
    work: Callable[[Path, Progress], dict[str, Any]],
) -> Response:
    """A job on an uploaded file: the file moves to a folder of the job's own (the request's
    temporary folder goes with the request) and is removed when the job ends."""
    folder = Path(tempfile.mkdtemp(prefix="job-", dir=current_app.instance_path))
    kept = Path(shutil.move(str(upload), folder / upload.name))

    def run(progress: Progress) -> dict[str, Any]:
        try:
            return work(kept, progress)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    return accepted(_services().jobs.start(actor, kind, subject, run))


PREFER_ASYNC = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "description": "`respond-async`: answer at once with 202 and the job (RFC 7240).",
    "schema": {"type": "string"},
}
ACCEPTED = {
    "description": "With `Prefer: respond-async`: the job; `Location` is its address "
    "(GET /api/jobs/{job_id}).",
    "headers": {"Location": {"schema": {"type": "string"}}},
}


def openapi_paths() -> dict[str, Any]:
    """This module's paths of the OpenAPI document (merged by ``zugabe.web.openapi``)."""
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    job = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "kind": {
                "type": "string",
                "enum": ["layer.import", "projects.import", "cases.detect_all"],
            },
            "subject": {"type": "string"},
            "state": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
            "progress": {
                "type": "object",
                "properties": {
                    "done": {"type": "integer"},
                    "total": {"type": "integer"},
                    "share": {"type": ["number", "null"]},
                },
            },
            "created_by": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "result": {
                "type": ["object", "null"],
                "description": "What the request would have answered.",
            },
            "problem": {"type": ["object", "null"], "description": "Why it failed (RFC 9457)."},
        },
    }
    return {
        "/api/jobs/{job_id}": {
            "parameters": [
                {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {
                "summary": "A job started with Prefer: respond-async: state, progress, result",
                "operationId": "getJob",
                "responses": {
                    "200": {
                        "description": "The job.",
                        "content": {"application/json": {"schema": job}},
                    },
                    "404": {
                        "description": "No such job of yours (the last 200 finished jobs "
                        "are kept).",
                        "content": problem,
                    },
                },
            },
        }
    }
