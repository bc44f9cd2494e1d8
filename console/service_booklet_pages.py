"""The service booklet (KaSIO) pages' common ground: their prefix, the guard that shows a
workshop without coverage the page that says so (also shown by the KaSIO teleservice pages),
and how a booklet page is rendered.

The pages themselves: `console.routes.service_booklet` (find a vehicle, the vehicle page, open
or delete an entry) and `console.routes.service_booklet_entries` (an entry step by step).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import date, datetime
from typing import Annotated, Any

from babel.dates import format_date
from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError

from console import service_booklet as booklet_model
from console.deps import WorkshopMember
from console.forms import FormErrors
from console.i18n import Translator
from console.paths import PREFIX
from console.rendering import render, translator
from console.service_booklet import Booklet
from contracts.errors import domain_error_from
from domain.entitlement import AccessExpired, NoAccess
from domain.errors import DomainError
from domain.service_history import CBS_LABELS
from web.deps import ResourcesDep

BOOKLET = PREFIX + "/kasio"
BUY_TIME = PREFIX + "/credit"


def refused_access(error: BaseException) -> DomainError | None:
    """The entitlement refusal in `error`: raised by the guard, or by a workflow that checked
    the coverage again (it can end while an entry is being made)."""
    if isinstance(error, (NoAccess, AccessExpired)):
        return error
    if isinstance(error, (WorkflowUpdateFailedError, WorkflowFailureError)):
        carried = domain_error_from(error)
        if carried is not None and carried.code in (NoAccess.code, AccessExpired.code):
            return carried
    return None


class BookletRoute(APIRoute):
    """A booklet page route: a workshop without coverage gets the page that says so."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def covered_or_told(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as error:
                refusal = refused_access(error)
                if refusal is None:
                    raise
                return not_covered_page(request, refusal)

        return covered_or_told


def not_covered_page(
    request: Request, refusal: DomainError, template: str = "kasio/not_covered.html"
) -> Response:
    """403: the workshop has no (more) coverage of the service; `template` says so and links
    to buying time, with the moment the coverage ended when there was one."""
    ended_at = refusal.context.get("ended_at")
    return render(
        request,
        template,
        {
            "ended_at": datetime.fromisoformat(ended_at) if isinstance(ended_at, str) else None,
            "buy_time": BUY_TIME,
        },
        status_code=403,
    )


async def _booklet(request: Request, person: WorkshopMember, resources: ResourcesDep) -> Booklet:
    return await booklet_model.open_booklet(request, person.user, resources)


BookletDep = Annotated[Booklet, Depends(_booklet)]


def booklet_page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    errors: FormErrors | None = None,
    status_code: int | None = None,
) -> Response:
    """A booklet page: its errors (shown next to their fields and in the summary) and the
    helpers its templates share."""
    translate = translator(request)
    errors = errors or FormErrors()
    return render(
        request,
        template,
        {
            "errors": errors,
            "booklet": BOOKLET,
            "day": lambda value: day(translate, value),
            "cbs_label": lambda cbs_id: translate._(CBS_LABELS.get(cbs_id) or cbs_id),
            **context,
        },
        status_code=status_code or (422 if errors else 200),
    )


def day(translate: Translator, value: date | None) -> str:
    """A calendar day (a service date, a production date) in the page's language."""
    return format_date(value, "medium", locale=translate.language) if value else ""


def station_options(
    translate: Translator, stations: list[Any], *, none_label: str | None = None
) -> list[tuple[str, str]]:
    """The workshop's stations as a select's options, each saying whether its worker is online."""
    state = {
        True: translate._("online"),
        False: translate._("offline"),
        None: translate._("status unknown"),
    }
    options = [("", none_label)] if none_label is not None else []
    return options + [
        (s.station_id, f"{s.name} ({s.station_id}), {state[s.online]}") for s in stations
    ]
