"""RFC 9457 problem details for every error the API answers.

Each problem has a stable `type` (`/problems/<code>`), a `title`, the `status`, a `detail` for
people and, where it helps, the `field` at fault and further facts as extension members.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from contracts.errors import domain_error_from
from domain.errors import DomainError, ErrorKind

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

STATUS_BY_KIND: dict[ErrorKind, int] = {
    "invalid": 422,
    "not_found": 404,
    "conflict": 409,
    "forbidden": 403,
    "unauthenticated": 401,
    "payment_required": 402,
    "locked": 423,
}


class ProblemDetail(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


def problem_type(code: str) -> str:
    return f"/problems/{code}"


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body.update({key: value for key, value in extensions.items() if value is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _field_path(location: tuple[Any, ...]) -> str:
    # ("body", "address", "country") -> "address.country"; the first part says where, not what.
    parts = (
        [str(part) for part in location[1:]] if len(location) > 1 else [str(p) for p in location]
    )
    return ".".join(parts)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return problem_response(
        request,
        status=STATUS_BY_KIND[exc.kind],
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        field=exc.field,
        **exc.context,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_path(tuple(error["loc"])), "message": error["msg"], "kind": error["type"]}
        for error in exc.errors()
    ]
    first = errors[0] if errors else {"field": None, "message": "invalid request"}
    return problem_response(
        request,
        status=422,
        code="validation-error",
        title="The request is not valid",
        detail=f"{first['field']}: {first['message']}" if first["field"] else first["message"],
        field=first["field"],
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    code = phrase.lower().replace(" ", "-").replace("'", "")
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    return problem_response(
        request,
        status=exc.status_code,
        code=code,
        title=phrase,
        detail=detail,
        headers=getattr(exc, "headers", None),
    )


async def _temporal_error(request: Request, exc: Exception) -> JSONResponse:
    carried = domain_error_from(exc)  # a workflow or update refused it: the rule's own problem
    if carried is not None:
        return await _domain_error(request, carried)
    if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
        return problem_response(
            request, status=404, code="not-found", title="Not found", detail="no such process"
        )
    log.error("workflow call failed on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(
        request,
        status=503 if isinstance(exc, RPCError) else 500,
        code="workflow-unavailable" if isinstance(exc, RPCError) else "workflow-failed",
        title="The workflow could not answer",
        detail="The process behind this request failed or is unreachable; try again later.",
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # The detail stays generic: a stack trace or a database message may carry personal data.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        request,
        status=500,
        code="internal-error",
        title="Internal error",
        detail="The server failed to answer; the error was logged.",
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for temporal_error in (WorkflowUpdateFailedError, WorkflowFailureError, RPCError):
        app.add_exception_handler(temporal_error, _temporal_error)
    app.add_exception_handler(Exception, _unexpected_error)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDetail, "content": {PROBLEM_MEDIA_TYPE: {}}}
    for status in (400, 401, 403, 404, 409, 422)
}
