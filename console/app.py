"""Mounting the console into the API app: `install_console(app)` from `portal_app.create_app`.

It adds the page routers (`PAGE_ROUTERS`), the static files (`/console/static/...`, served by
the app itself), `/` -> `/console/`, the language switch, the console's answers to errors (an
HTML page instead of a problem document, for `/console` paths only) and a Content-Security-
Policy that lets a page load nothing from another site.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from console.deps import CsrfRejected, NotAWorkshopMember, SignInRequired, signed_in
from console.forms import domain_error_message
from console.i18n import LANGUAGE_COOKIE, LANGUAGES, load_catalogues
from console.paths import PREFIX, safe_next
from console.rendering import render, translator
from console.routes import PAGE_ROUTERS
from console.security import clear_session_cookies, set_cookie
from contracts.errors import domain_error_from
from db.accounts import AccountRepository
from domain.errors import DomainError, NotFound
from web.problems import STATUS_BY_KIND

STATIC_DIR = Path(__file__).parent / "static"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

ExceptionHandler = Callable[[Request, Any], Any]


def is_console(request: Request) -> bool:
    return request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")


router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse(PREFIX + "/", status_code=303)


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    """The console's mark, for browsers and bookmarks that ask the site's root for it."""
    return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/vnd.microsoft.icon")


@router.get(PREFIX)
async def console_root() -> RedirectResponse:
    return RedirectResponse(PREFIX + "/", status_code=303)


@router.get(PREFIX + "/language/{language}")
async def switch_language(request: Request, language: str, next: str | None = None) -> Response:
    """The language switch on every page: remembered in a cookie for a year."""
    if language not in LANGUAGES:
        raise NotFound("no such language")
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(
        response,
        request.app.state.resources.settings,
        LANGUAGE_COOKIE,
        language,
        max_age=365 * 24 * 3600,
    )
    return response


# --- errors as pages ----------------------------------------------------------------------------


def not_found_page(request: Request) -> Response:
    """The one "not found" page: an unknown id and another workshop's id look the same."""
    return render(request, "errors/not_found.html", status_code=404)


async def _recognise_signed_in(request: Request) -> None:
    """An error page keeps the menu and the sign-out button: the person behind the session
    cookie, when the page's own dependencies did not get as far as reading it."""
    if getattr(request.state, "signed_in", None) is not None:
        return
    resources = request.app.state.resources
    # Whatever fails here (no session, or the database behind a 500), the page still renders.
    with contextlib.suppress(Exception):
        await signed_in(request, AccountRepository(resources.session_factory))


async def _domain_error_page(request: Request, error: DomainError) -> Response:
    await _recognise_signed_in(request)
    if isinstance(error, NotFound):
        return not_found_page(request)
    return render(
        request,
        "errors/error.html",
        {"message": domain_error_message(translator(request), error)},
        status_code=STATUS_BY_KIND.get(error.kind, 409),
    )


async def _error_page(request: Request, exc: Exception) -> Response:
    if isinstance(exc, DomainError):
        return await _domain_error_page(request, exc)
    if not isinstance(exc, SignInRequired):
        await _recognise_signed_in(request)
    if isinstance(exc, SignInRequired):
        target = f"{PREFIX}/sign-in?reason={exc.reason}"
        if request.method == "GET" and request.url.path != PREFIX + "/":
            target += f"&next={quote(request.url.path, safe='/')}"
        response = RedirectResponse(target, status_code=303)
        clear_session_cookies(response, request.app.state.resources.settings)
        return response
    if isinstance(exc, CsrfRejected):
        return render(request, "errors/forbidden.html", {"csrf": True}, status_code=403)
    if isinstance(exc, NotAWorkshopMember):
        return render(request, "errors/forbidden.html", {"csrf": False}, status_code=403)
    if isinstance(exc, StarletteHTTPException):
        if exc.status_code == 404:
            return not_found_page(request)
        return render(request, "errors/error.html", {"message": None}, status_code=exc.status_code)
    if isinstance(exc, (WorkflowFailureError, WorkflowUpdateFailedError, RPCError)):
        carried = domain_error_from(exc)
        if carried is not None:
            return await _domain_error_page(request, carried)
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
            return not_found_page(request)
    # RequestValidationError: the console parses its forms itself, so this is a crafted URL.
    if isinstance(exc, RequestValidationError):
        return not_found_page(request)
    return render(request, "errors/error.html", {"message": None}, status_code=500)


def _console_or(api_handler: ExceptionHandler | None) -> ExceptionHandler:
    async def handler(request: Request, exc: Exception) -> Response:
        if is_console(request) or api_handler is None:
            return await _error_page(request, exc)
        answer = api_handler(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    return handler


# --- the Content-Security-Policy ----------------------------------------------------------------


class ConsoleSecurityHeaders:
    """Adds the console's security headers to every `/console` response (pure ASGI, so Server-
    Sent Events stream through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    # frame-ancestors' forerunner, for browsers that do not know it
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_console(app: FastAPI) -> None:
    """Serve the console from `app`; call after the API's problem handlers are installed."""
    load_catalogues()
    app.include_router(router)
    for page_router in PAGE_ROUTERS:
        app.include_router(page_router)
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    handled: list[type[Exception]] = [
        DomainError,
        RequestValidationError,
        StarletteHTTPException,
        WorkflowUpdateFailedError,
        WorkflowFailureError,
        RPCError,
        Exception,
    ]
    for exc_class in handled:
        app.add_exception_handler(exc_class, _console_or(app.exception_handlers.get(exc_class)))
    for exc_class in (SignInRequired, CsrfRejected, NotAWorkshopMember):
        app.add_exception_handler(exc_class, _error_page)
    app.add_middleware(ConsoleSecurityHeaders)
