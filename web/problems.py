"""RFC 9457 problem details for every error the API answers.

Each problem has a stable `type` (`/problems/<code>`), a `title`, the `status`, a `detail` for
people and, where it helps, the `field` at fault and further facts as extension members.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, APIRouter, iter_route_contexts
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from application.workflow_calls import StationNotKnownYet
from contracts.errors import domain_error_from
from domain.errors import Conflict, DomainError, ErrorKind, Forbidden, NotFound, Unauthenticated

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

STATUS_BY_KIND: dict[ErrorKind, int] = {
    "invalid": 422,
    "not_found": 404,
    "conflict": 409,
    "forbidden": 403,
    "unauthenticated": 401,
    "payment_required": 402,
    "too_many_requests": 429,
    "too_large": 413,
    "upstream_failed": 502,
    "unavailable": 503,
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


# A domain error's facts become extension members, which never replace a problem's own members
# nor the answer's other parts: a refusal can come from a station, which is untrusted.
_NOT_FACTS = frozenset({"type", "title", "status", "detail", "instance", "field"}) | frozenset(
    inspect.signature(problem_response).parameters
)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    # A refusal that says when to come back (`retry_after`, seconds) says it in the header too.
    retry_after = exc.context.get("retry_after")
    if not isinstance(retry_after, int):
        retry_after = None
    facts = {key: value for key, value in exc.context.items() if key not in _NOT_FACTS}
    return problem_response(
        request,
        status=STATUS_BY_KIND[exc.kind],
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        headers={"Retry-After": str(retry_after)} if retry_after is not None else None,
        field=exc.field,
        **facts,
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


def _allowed_methods(request: Request) -> str:
    """Every method of every route whose path matches, for `Allow`.

    Starlette's 405 names only the methods of the first route that matched the path, but one
    path often has several routes (`GET` and `POST /packages`), one per method.
    """
    methods: set[str] = set()
    path = request.scope["path"]
    for route in iter_route_contexts(request.app.router.routes):
        path_regex = getattr(route, "path_regex", None)
        if route.methods and path_regex is not None and path_regex.match(path):
            methods |= route.methods
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    code = phrase.lower().replace(" ", "-").replace("'", "")
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem_response(
        request,
        status=exc.status_code,
        code=code,
        title=phrase,
        detail=detail,
        headers=headers or None,
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


# --- what the OpenAPI says about problems ------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A problem the API answers that is not a domain error: the framework's or Temporal's."""

    status: int
    code: str
    title: str


ProblemSource = type[DomainError] | Problem
Responses = dict[int | str, dict[str, Any]]

VALIDATION_ERROR = Problem(422, "validation-error", "The request is not valid")
WORKFLOW_UNAVAILABLE = Problem(503, StationNotKnownYet.code, StationNotKnownYet.title)
# A body that is not JSON at all (FastAPI's own 400, through `_http_error`).
MALFORMED_BODY = Problem(400, "bad-request", "Bad Request")


def _as_problem(source: ProblemSource) -> Problem:
    if isinstance(source, Problem):
        return source
    return Problem(STATUS_BY_KIND[source.kind], source.code, source.title)


def _add_problem(responses: Responses, problem: Problem) -> None:
    """Declare `problem` in `responses`: its status, and its type as a named example whose
    list the status's description repeats (the types a client can switch on)."""
    entry = responses.setdefault(problem.status, {"model": ProblemDetail})
    content = entry.setdefault("content", {}).setdefault(PROBLEM_MEDIA_TYPE, {})
    content["schema"] = {"$ref": "#/components/schemas/ProblemDetail"}
    examples = content.setdefault("examples", {})
    examples[problem.code] = {
        "summary": problem.title,
        "value": {
            "type": problem_type(problem.code),
            "title": problem.title,
            "status": problem.status,
        },
    }
    types = ", ".join(f"`{example['value']['type']}`" for example in examples.values())
    entry["description"] = f"{HTTPStatus(problem.status).phrase}. Problem types: {types}."


def problem_responses(*sources: ProblemSource) -> Responses:
    """`responses=` for a route: each status its errors answer with, and their problem types.

    Pass the domain error classes the route raises (their `kind` gives the status) and the
    non-domain problems (`WORKFLOW_UNAVAILABLE`, ...). The app adds those of the route's
    dependencies (`declare_route_problems`) and the defaults (`PROBLEM_RESPONSES`).
    """
    responses: Responses = {}
    for source in sources:
        _add_problem(responses, _as_problem(source))
    return responses


def with_retry_after(responses: Responses, status: int, description: str) -> Responses:
    """`responses` (from `problem_responses`) whose `status` answer carries `Retry-After`."""
    responses[status]["headers"] = {
        "Retry-After": {"description": description, "schema": {"type": "integer", "minimum": 1}}
    }
    return responses


def _dependency_calls(dependant: Dependant) -> set[Callable[..., Any]]:
    calls: set[Callable[..., Any]] = set()
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            calls.add(dependency.call)
        calls |= _dependency_calls(dependency)
    return calls


def declare_route_problems(
    router: APIRouter, problems_by_dependency: Mapping[Callable[..., Any], Sequence[ProblemSource]]
) -> None:
    """Declare on every route the problems its dependencies answer with (who is calling, the
    Temporal client, ...), so each is written once, beside the dependency that raises it; and
    the app's defaults (`PROBLEM_RESPONSES`) beside a route's own problems of the same status.
    Call it before the router is included (an app copies a route's responses then).
    Idempotent: the routers are module-level and every app (a test builds many) declares on
    the same routes."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        calls = _dependency_calls(route.dependant)
        problems = [
            _as_problem(source)
            for call, sources in problems_by_dependency.items()
            if call in calls
            for source in sources
        ]
        if route.body_field is not None:
            problems.append(MALFORMED_BODY)
        for status, default in PROBLEM_RESPONSES.items():
            if status in route.responses:
                examples = default["content"][PROBLEM_MEDIA_TYPE]["examples"]
                problems += [
                    Problem(
                        int(status),
                        example["value"]["type"].removeprefix("/problems/"),
                        example["summary"],
                    )
                    for example in examples.values()
                ]
        for problem in problems:
            # A route's own entry may be shared (FastAPI merges responses shallowly): copy it.
            if problem.status in route.responses:
                route.responses[problem.status] = copy.deepcopy(route.responses[problem.status])
            _add_problem(route.responses, problem)


PROBLEM_RESPONSES: Responses = problem_responses(
    Unauthenticated, Forbidden, NotFound, Conflict, VALIDATION_ERROR
)
"""What any route may answer: the generic refusals and the request's validation."""
