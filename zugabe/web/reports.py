"""(issue 6, in progress)"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

blueprint = Blueprint("reports", __name__)


def openapi_paths() -> dict[str, Any]:
    """This module's paths of the OpenAPI document (merged by ``zugabe.web.openapi``)."""
    return {}
