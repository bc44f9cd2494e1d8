"""Rendering a page: the Jinja2 environment and `render`, which every page route returns.

Templates use `{% trans %}`/`_()` for their texts (translated into the request's language)
and the filters `datetime`, `timestamp`, `date`, `money`, `number` and `duration` for values
formatted for that language (and `console.flow_texts`' filters for the operators' identifiers). `render` adds what the base layout needs: the language and its switch, the
CSRF token for forms, and the signed-in person (`signed_in`) when there is one.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Match

from console.flow_texts import FLOW_FILTERS
from console.i18n import LANGUAGES, Translator, request_language
from console.security import (
    CSRF_FIELD,
    PRESESSION_COOKIE,
    csrf_binding,
    csrf_token,
    new_presession_value,
    set_cookie,
)

TEMPLATES_DIR = Path(__file__).parent / "templates"

# The translator of the page being rendered: the environment is shared by every request, the
# gettext callables read the current one from here (a render does not await, so it stays put).
_translator: ContextVar[Translator] = ContextVar("console_translator")


def _gettext(message: str, **values: Any) -> str:
    return _translator.get()._(message, **values)


def _ngettext(singular: str, plural: str, count: int, **values: Any) -> str:
    return _translator.get().ngettext(singular, plural, count, **values)


def _format(kind: str) -> Any:
    def apply(value: Any, *args: Any) -> str:
        return str(getattr(_translator.get(), kind)(value, *args))

    return apply


def _flow_label(label: Callable[[Translator, str | None], str]) -> Any:
    def apply(value: str | None) -> str:
        return label(_translator.get(), value)

    return apply


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, _ngettext, newstyle=True
    )
    for kind in ("datetime", "timestamp", "date", "money", "number", "duration"):
        environment.filters[kind] = _format(kind)
    for name, label in FLOW_FILTERS.items():
        environment.filters[name] = _flow_label(label)
    return environment


environment = _environment()


def translator(request: Request) -> Translator:
    """The request's translator: its language (`console.i18n.request_language`) and the
    console's time zone."""
    known: Translator | None = getattr(request.state, "translator", None)
    if known is None:
        settings = request.app.state.resources.settings
        known = Translator(request_language(request), ZoneInfo(settings.console_timezone))
        request.state.translator = known
    return known


def _answers_get(request: Request, path: str) -> bool:
    scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    return any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes)


def _page_path(request: Request) -> str:
    """The address of the page shown, for the language switch to return to. A page rendered
    by a POST (a form with errors) is its own address when that answers GET too, else the
    page the form was sent from (`Referer`), else the start page. A route can name it:
    `render(..., {"here": "/console/credit"})`."""
    if request.method == "GET":
        return request.url.path
    referer = urlsplit(request.headers.get("referer", ""))
    candidates = [request.url.path]
    if referer.netloc == request.url.netloc:
        candidates.append(referer.path)
    for path in candidates:
        if path.startswith("/console/") and _answers_get(request, path):
            return path
    return "/console/"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """The page `template` in the request's language, with the base layout's context."""
    settings = request.app.state.resources.settings
    translate = translator(request)
    binding = csrf_binding(request)
    new_presession = None
    if binding is None:  # a first visit: forms need a CSRF token before any sign-in
        binding = new_presession = new_presession_value()
    page_context: dict[str, Any] = {
        "request": request,
        "lang": translate.language,
        "languages": LANGUAGES,
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token(settings, binding),
        "signed_in": getattr(request.state, "signed_in", None),
        "here": quote(_page_path(request), safe="/"),
        "now": datetime.now().astimezone(),
        "timedelta": timedelta,
        **(context or {}),
    }
    token = _translator.set(translate)
    try:
        html = environment.get_template(template).render(page_context)
    finally:
        _translator.reset(token)
    response = HTMLResponse(html, status_code=status_code)
    if new_presession is not None:
        set_cookie(response, settings, PRESESSION_COOKIE, new_presession)
    # Pages show personal data: never kept by a shared browser's cache.
    response.headers["Cache-Control"] = "no-store"
    return response
