"""One exception hierarchy for the whole service.

Every error carries the HTTP status it maps to and a message meant for the
user, so the web layer can turn any of them into an RFC 9457 problem response
and the CLI into a plain message, without knowing the cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

QUOTE_MAX = 200
"""Most characters of a user's input an error text repeats."""


def quoted(value: object) -> str:
    """A value for an error text: its repr, cut after ``QUOTE_MAX`` characters (a 10 MB
    value is not echoed back)."""
    text = repr(value)
    return text if len(text) <= QUOTE_MAX else text[:QUOTE_MAX] + f"… ({len(text):,} characters)"


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field.

    ``pointer`` is a JSON pointer into the submitted document
    (``/properties/title``, ``/geometry/coordinates/0/3``) so a form can show
    the message next to the right input.
    """

    pointer: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "detail": self.detail}


class ZugabeError(Exception):
    """Base of all errors the service reports to users."""

    status: int = 500
    title: str = "Internal error"
    problem_type: str = "about:blank"

    def __init__(self, detail: str, *, field_errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field_errors = field_errors or []

    def problem(self) -> dict[str, Any]:
        """The error as an RFC 9457 problem (without ``instance``, which the web adds)."""
        body: dict[str, Any] = {
            "type": self.problem_type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.field_errors:
            body["errors"] = [e.as_dict() for e in self.field_errors]
        return body


class ConfigError(ZugabeError):
    """Invalid configuration: raised at start, before anything is served."""

    title = "Invalid configuration"


class InvalidInput(ZugabeError):
    """The submitted document cannot be accepted; nothing was stored."""

    status = 422
    title = "Invalid input"
    problem_type = "/problems/invalid-input"


class BadRequest(ZugabeError):
    """The request itself is malformed (query parameters, headers)."""

    status = 400
    title = "Bad request"
    problem_type = "/problems/bad-request"


class NotFound(ZugabeError):
    status = 404
    title = "Not found"
    problem_type = "/problems/not-found"


class Conflict(ZugabeError):
    """The request is well formed but the object's state does not allow it now (e.g. a case
    that cannot move from its status to the one asked)."""

    status = 409
    title = "Conflict"
    problem_type = "/problems/conflict"


class VersionConflict(ZugabeError):
    """The caller edited an outdated version (optimistic locking)."""

    status = 412
    title = "Precondition failed"
    problem_type = "/problems/version-conflict"


class StorageError(ZugabeError):
    """The store cannot be opened or is in an unexpected state."""

    status = 503
    title = "Storage unavailable"


class Unauthorized(ZugabeError):
    """No valid credentials: not signed in, an unknown, expired or revoked token."""

    status = 401
    title = "Unauthorized"
    problem_type = "/problems/unauthorized"


class Forbidden(ZugabeError):
    """Signed in, but the account may not do this; the detail names what is needed."""

    status = 403
    title = "Forbidden"
    problem_type = "/problems/forbidden"


class TooManyAttempts(ZugabeError):
    """Too many failed sign-ins for an account or from an address."""

    status = 429
    title = "Too many attempts"
    problem_type = "/problems/too-many-attempts"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class UnsupportedMediaType(ZugabeError):
    """A body in a media type the endpoint does not take (e.g. text/plain for JSON)."""

    status = 415
    title = "Unsupported media type"
    problem_type = "/problems/unsupported-media-type"
