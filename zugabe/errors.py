"""One exception hierarchy for the whole service.

Every error carries the HTTP status it maps to and a message meant for the
user, so the web layer can turn any of them into an RFC 9457 problem response
and the CLI into a plain message, without knowing the cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zugabe.messages import CATALOGUE, DEFAULT, Message

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

    ``message``, when given, words ``detail`` in the language of whoever reads it (see
    ``zugabe.messages``); ``detail`` is its English text, for the CLI and the logs.
    """

    pointer: str
    detail: str
    message: Message | None = field(default=None, compare=False)

    @classmethod
    def coded(cls, pointer: str, code: str, **params: Any) -> FieldError:
        """An error worded from the catalogue: ``FieldError.coded("/title", "field.empty",
        field="title")``."""
        return cls.of(pointer, Message(code, params))

    @classmethod
    def of(cls, pointer: str, message: Message) -> FieldError:
        return cls(pointer, message.text(), message)

    def under(self, prefix: str) -> FieldError:
        """The same error, its pointer below ``prefix`` (``/properties`` + ``/title``)."""
        return FieldError(prefix + self.pointer, self.detail, self.message)

    def as_dict(self, lang: str = DEFAULT) -> dict[str, str]:
        if self.message is None:
            return {"pointer": self.pointer, "detail": self.detail}
        return {
            "pointer": self.pointer,
            "detail": self.message.text(lang),
            "code": self.message.code,
        }


class ZugabeError(Exception):
    """Base of all errors the service reports to users."""

    status: int = 500
    title: str = "Internal error"
    problem_type: str = "about:blank"

    def __init__(
        self,
        detail: str = "",
        *,
        field_errors: list[FieldError] | None = None,
        message: Message | None = None,
    ) -> None:
        """``detail`` in English, or ``message`` to word it in the reader's language."""
        detail = message.text() if message is not None else detail
        super().__init__(detail)
        self.detail = detail
        self.message = message
        self.field_errors = field_errors or []

    def problem(self, lang: str = DEFAULT) -> dict[str, Any]:
        """The error as an RFC 9457 problem (without ``instance``, which the web adds), its
        title, detail and field errors worded in ``lang`` where the catalogue has them."""
        body: dict[str, Any] = {
            "type": self.problem_type,
            "title": problem_title(self.status, self.title, lang),
            "status": self.status,
            "detail": self.message.text(lang) if self.message is not None else self.detail,
        }
        if self.field_errors:
            body["errors"] = [e.as_dict(lang) for e in self.field_errors]
        return body


def problem_title(status: int, english: str, lang: str) -> str:
    """The generic title of a status in ``lang`` (``english`` where none is catalogued)."""
    code = f"title.{status}"
    return Message(code).text(lang) if lang != DEFAULT and code in CATALOGUE else english


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
