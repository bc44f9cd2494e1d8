"""Domain errors. Each has a stable `code` (the problem `type` over HTTP, the ApplicationError
`type` in Temporal) and a `kind` that the API turns into a status code."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

ErrorKind = Literal[
    "invalid",
    "not_found",
    "conflict",
    "forbidden",
    "unauthenticated",
    "payment_required",
    "too_many_requests",
    "too_large",
    # Another system the request needed failed (a station): not the caller's fault, nor the
    # portal's own server error.
    "upstream_failed",
    # The request cannot be answered yet; asked again shortly, it can (with `retry_after`).
    "unavailable",
]


class DomainError(Exception):
    """A business rule said no. `detail` is for people; `context` holds machine-readable facts."""

    code: ClassVar[str] = "domain-error"
    title: ClassVar[str] = "The request breaks a business rule"
    kind: ClassVar[ErrorKind] = "invalid"

    def __init__(self, detail: str, *, field: str | None = None, **context: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.context = context


class NotFound(DomainError):
    code = "not-found"
    title = "Not found"
    kind = "not_found"


class Conflict(DomainError):
    code = "conflict"
    title = "Conflicts with the current state"
    kind = "conflict"


class Forbidden(DomainError):
    code = "forbidden"
    title = "Not allowed"
    kind = "forbidden"


class Unauthenticated(DomainError):
    code = "unauthenticated"
    title = "Authentication required"
    kind = "unauthenticated"


class TooLarge(DomainError):
    """What was sent is larger (or holds more) than the portal accepts: 413."""

    code = "too-large"
    title = "Larger than the portal accepts"
    kind = "too_large"
