"""Domain errors across Temporal: activity -> workflow -> API, without losing the problem type.

- In an activity: `with domain_errors_as_application_errors(): ...` turns a `DomainError`
  into `ApplicationError(type=<code>, non_retryable=True, details=[{code, title, kind, field,
  context}])`; retrying a broken business rule would not help. A refusal is expected, not a
  fault: it is logged as one line (`refused_in_activity`), and its category is BENIGN, which
  Temporal's worker logs at DEBUG instead of a warning with the tracebacks.
- In a workflow: `raise domain_failure(SomeDomainError(...))` fails the workflow (or rejects
  an update) with the domain error; `except ActivityError as error: raise domain_failure(error)`
  passes on the one an activity raised (other failures are re-raised as they are);
  `with as_domain_failure(): ...` does both for a block.
- In the API: `except (WorkflowFailureError, WorkflowUpdateFailedError) as error:
  raise domain_error_from_failure(error) or error` (alias `domain_error_from`) gives back the DomainError, which the
  problem handler renders with its status and `type`. The original class is found by its
  `code` among the imported DomainError subclasses; an unknown code still renders right from
  the carried kind and title.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, get_args

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from domain.errors import DomainError, ErrorKind

DETAILS_MARKER = "domain_error"


def to_application_error(error: DomainError) -> ApplicationError:
    """The Temporal form of a domain error: non-retryable, typed by its code."""
    details = {
        DETAILS_MARKER: True,
        "code": error.code,
        "title": error.title,
        "kind": error.kind,
        "field": error.field,
        "context": error.context,
    }
    return _refusal(error.detail, details, error.code)


def _refusal(message: str, details: dict[str, Any], code: str | None) -> ApplicationError:
    # A refusal is an answer, not a fault: never retried, and BENIGN so that the SDK logs it
    # without a traceback and does not count it as a failure in its metrics.
    return ApplicationError(
        message,
        details,
        type=code,
        non_retryable=True,
        category=ApplicationErrorCategory.BENIGN,
    )


def refused_in_activity(error: DomainError) -> ApplicationError:
    """What an activity raises when a business rule refuses (`raise refused_in_activity(e)
    from None`): the refusal logged as one line, naming its code and the activity (the
    detail stays out: it may name a person)."""
    activity.logger.info("refused: %s (%s)", error.code, error.title)
    return to_application_error(error)


@contextmanager
def domain_errors_as_application_errors() -> Iterator[None]:
    """Wrap an activity body: a DomainError leaves it as a non-retryable ApplicationError."""
    try:
        yield
    except DomainError as error:
        # no chained cause: the refusal is the whole story, there is no fault to trace
        raise refused_in_activity(error) from None


def _carried_details(error: BaseException) -> tuple[ApplicationError, dict[str, Any]] | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ApplicationError) and current.details:
            first = current.details[0]
            if isinstance(first, dict) and first.get(DETAILS_MARKER):
                return current, first
        current = getattr(current, "cause", None) or current.__cause__
    return None


def domain_failure(error: DomainError | BaseException) -> BaseException:
    """For workflows: what to raise so the workflow (or update) fails with the domain error.

    Given a DomainError: its ApplicationError (`raise domain_failure(CodeRejected(...))`).
    Given a failure (an ActivityError): the carried domain ApplicationError inside it, or the
    failure itself when it carries none (`except ActivityError as e: raise domain_failure(e)`).
    """
    if isinstance(error, DomainError):
        return to_application_error(error)
    carried = _carried_details(error)
    if carried is None:
        return error
    failure, details = carried
    return _refusal(failure.message, details, failure.type)


@contextmanager
def as_domain_failure() -> Iterator[None]:
    """For workflows: `with as_domain_failure(): ...` raises `domain_failure(error)` for what
    the block raises (a broken rule, an activity's refusal), so that an update's validator
    rejects, or an update or the workflow fails, with the domain error; anything carrying no
    domain error leaves the block as it is."""
    try:
        yield
    except Exception as error:
        failure = domain_failure(error)
        if failure is error:
            raise
        raise failure from error


def _subclasses(cls: type[DomainError]) -> Iterator[type[DomainError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


_fallback_classes: dict[tuple[str, str, str], type[DomainError]] = {}


def _domain_class(code: str, title: str, kind: str) -> type[DomainError]:
    for cls in _subclasses(DomainError):
        if cls.code == code and cls.kind == kind:
            return cls
    if kind not in get_args(ErrorKind):
        kind = "invalid"
    key = (code, title, kind)
    if key not in _fallback_classes:
        _fallback_classes[key] = type(
            "CarriedDomainError", (DomainError,), {"code": code, "title": title, "kind": kind}
        )
    return _fallback_classes[key]


def domain_error_from_failure(error: BaseException) -> DomainError | None:
    """For the API: the DomainError carried anywhere in a Temporal failure chain, or None."""
    carried = _carried_details(error)
    if carried is None:
        return None
    failure, details = carried
    cls = _domain_class(
        str(details.get("code") or failure.type),
        str(details.get("title") or "The request breaks a business rule"),
        str(details.get("kind") or "invalid"),
    )
    context = details.get("context") or {}
    return cls(failure.message, field=details.get("field"), **context)


# The short name the problem handler uses.
domain_error_from = domain_error_from_failure
