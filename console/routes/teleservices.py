"""The KaSIO teleservice pages: "Teleservice Tickets" (the workshop's tickets, with filters,
to acknowledge or close) and "Remote KeyRead requests" (each request with its state and age,
to cancel), the vehicle page's remote key-read request, and the operators' page that assigns
a car's service partner.

Every page calls the use cases of `application.teleservices`, as the JSON API does; without a
`teleservice` ticket the page says so and links to buying time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from application import remote_key_reads, teleservices
from application.authorization import ensure_administrator
from application.remote_key_reads import OwnerConsent
from application.resources import AppResources
from application.teleservices import TicketFilter
from console.deps import CsrfChecked, SignedIn, Translate, WorkshopMember, WorkshopPerson
from console.forms import FormErrors, domain_error_message
from console.i18n import N_, Translator
from console.paths import PREFIX
from console.rendering import render
from console.service_booklet_pages import not_covered_page
from domain.entitlement import AccessExpired, NoAccess
from domain.errors import DomainError, NotFound
from domain.service_history import CBS_LABELS, CONSENT_TEXT_VERSION
from domain.teleservices import (
    BATTERY_ITEM,
    MAX_CLOSE_REASON_LENGTH,
    SERVICE_REQUEST_ITEM,
    ServiceLevel,
)
from domain.vin import parse_vin
from web.deps import ResourcesDep

KASIO = PREFIX + "/kasio"
TICKETS = KASIO + "/teleservice-tickets"
REMOTE_READS = KASIO + "/remote-key-reads"
FILTERS = ("open", "due", "overdue", "all")
ITEM_LABELS = {
    **CBS_LABELS,
    BATTERY_ITEM: N_("Battery (Battery Guard)"),
    SERVICE_REQUEST_ITEM: N_("Service request by the driver"),
}

router = APIRouter(prefix=KASIO, include_in_schema=False)


def _not_covered(request: Request, refusal: DomainError) -> Response:
    return not_covered_page(request, refusal, "teleservices/not_covered.html")


@dataclass(frozen=True)
class TeleservicePages:
    """A workshop member's request on the teleservice pages: the two lists it may answer with,
    and the one way a step is taken from them."""

    request: Request
    person: WorkshopPerson
    resources: AppResources
    translate: Translator

    async def tickets(
        self, show: str, errors: FormErrors | None = None, status_code: int = 200
    ) -> Response:
        """The list "Teleservice Tickets", filtered by `show` (one of `FILTERS`)."""
        filters = {
            "open": TicketFilter(open_only=True),
            "due": TicketFilter(open_only=True, service_level=ServiceLevel.DUE),
            "overdue": TicketFilter(open_only=True, service_level=ServiceLevel.OVERDUE),
            "all": TicketFilter(),
        }[show]
        try:
            tickets = await teleservices.list_tickets(
                self.resources, self.person.user, None, filters
            )
        except (NoAccess, AccessExpired) as refusal:
            return _not_covered(self.request, refusal)
        return render(
            self.request,
            "teleservices/tickets.html",
            {
                "tickets": tickets,
                "show": show,
                "filters": FILTERS,
                "tickets_url": TICKETS,
                "kasio": KASIO,
                "item_label": lambda item: ITEM_LABELS.get(item, item),
                "errors": errors or FormErrors(),
                "max_reason": MAX_CLOSE_REASON_LENGTH,
            },
            status_code=status_code,
        )

    async def remote_reads(
        self, errors: FormErrors | None = None, status_code: int = 200
    ) -> Response:
        """The list "Remote KeyRead requests", each with its age (until now while it is open)."""
        try:
            rows = await remote_key_reads.list_remote_key_reads(
                self.resources, self.person.user, None
            )
        except (NoAccess, AccessExpired) as refusal:
            return _not_covered(self.request, refusal)
        now = datetime.now(UTC)
        return render(
            self.request,
            "teleservices/remote_key_reads.html",
            {
                "rows": [(row, remote_key_reads.request_age(row, now)) for row in rows],
                "remote_url": REMOTE_READS,
                "kasio": KASIO,
                "errors": errors or FormErrors(),
            },
            status_code=status_code,
        )

    async def take_step(
        self,
        step: Awaitable[object],
        page: Callable[[FormErrors, int], Awaitable[Response]],
        done: str,
        status: int | None = None,
    ) -> Response:
        """Take a workshop's step on a ticket or a request, and answer as the console does: to
        `done` when it is taken; without a `teleservice` ticket, the page that says so; another
        workshop's id, the one not-found page as for an unknown id; any other refusal, `page`
        with the reason at its top (`status`, else by the refusal's kind)."""
        try:
            await step
        except (NoAccess, AccessExpired) as refusal:
            return _not_covered(self.request, refusal)
        except NotFound:
            raise
        except DomainError as error:
            errors = FormErrors()
            errors.add(None, domain_error_message(self.translate, error))
            if status is None:
                status = (
                    403 if error.kind == "forbidden" else 409 if error.kind == "conflict" else 422
                )
            return await page(errors, status)
        return RedirectResponse(done, status_code=303)


async def teleservice_pages(
    request: Request, person: WorkshopMember, resources: ResourcesDep, translate: Translate
) -> TeleservicePages:
    return TeleservicePages(request, person, resources, translate)


TeleservicePagesDep = Annotated[TeleservicePages, Depends(teleservice_pages)]


# --- Teleservice Tickets ------------------------------------------------------------------------


@router.get("/teleservice-tickets")
async def tickets_page(pages: TeleservicePagesDep, show: str = "open") -> Response:
    """The workshop's teleservice tickets: open, due (reminded), overdue (escalated) or all."""
    return await pages.tickets(show if show in FILTERS else "open")


@router.post("/teleservice-tickets/{ticket_id}/acknowledge")
async def acknowledge_ticket(
    ticket_id: str, pages: TeleservicePagesDep, _: CsrfChecked
) -> Response:
    return await pages.take_step(
        teleservices.acknowledge_ticket(pages.resources, pages.person.user, ticket_id),
        lambda errors, status: pages.tickets("all", errors, status),
        f"{TICKETS}?show=open",
        409,
    )


@router.post("/teleservice-tickets/{ticket_id}/appointment")
async def plan_appointment(
    ticket_id: str,
    pages: TeleservicePagesDep,
    _: CsrfChecked,
    appointment_at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """The appointment, as typed in the console's time zone."""
    errors = FormErrors()
    try:
        moment = datetime.fromisoformat(appointment_at).replace(tzinfo=pages.translate.timezone)
    except ValueError:
        errors.add(None, pages.translate._("Enter the appointment's date and time."))
        return await pages.tickets("open", errors, 422)
    return await pages.take_step(
        teleservices.plan_ticket_appointment(pages.resources, pages.person.user, ticket_id, moment),
        lambda errors, status: pages.tickets("open", errors, status),
        f"{TICKETS}?show=open",
        422,
    )


@router.post("/teleservice-tickets/{ticket_id}/close")
async def close_ticket(
    ticket_id: str,
    pages: TeleservicePagesDep,
    _: CsrfChecked,
    reason: Annotated[str, Form(max_length=MAX_CLOSE_REASON_LENGTH)] = "",
) -> Response:
    return await pages.take_step(
        teleservices.close_ticket(pages.resources, pages.person.user, ticket_id, reason),
        lambda errors, status: pages.tickets("open", errors, status),
        f"{TICKETS}?show=all",
        422,
    )


# --- Remote KeyRead requests --------------------------------------------------------------------


@router.get("/remote-key-reads")
async def remote_key_reads_page(pages: TeleservicePagesDep) -> Response:
    """Every remote key-read request of the workshop, with its state and age."""
    return await pages.remote_reads()


@router.post("/vehicles/{vin}/remote-key-read")
async def request_remote_key_read(
    vin: str,
    pages: TeleservicePagesDep,
    _: CsrfChecked,
    owner_consent: Annotated[str, Form()] = "",
) -> Response:
    """Ask the car for its key data (from the vehicle page's Teleservices section)."""
    consent = (
        OwnerConsent(confirmed=True, consent_text_version=CONSENT_TEXT_VERSION)
        if owner_consent
        else None
    )
    return await pages.take_step(
        remote_key_reads.request_remote_key_read(
            pages.resources, pages.person.user, vin.upper(), consent
        ),
        pages.remote_reads,
        REMOTE_READS,
    )


@router.post("/remote-key-reads/{request_id}/cancel")
async def cancel_remote_key_read(
    request_id: str, pages: TeleservicePagesDep, _: CsrfChecked
) -> Response:
    return await pages.take_step(
        remote_key_reads.cancel_remote_key_read(pages.resources, pages.person.user, request_id),
        pages.remote_reads,
        REMOTE_READS,
        409,
    )


# --- operators: a car's service partner (demo data) ---------------------------------------------

operator_router = APIRouter(prefix=PREFIX + "/operators", include_in_schema=False)


def _partner_page(
    request: Request,
    *,
    vin: str = "",
    workshop_id: str = "",
    done: bool = False,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "teleservices/service_partner.html",
        {"vin": vin, "workshop_id": workshop_id, "done": done, "errors": errors or FormErrors()},
        status_code=status_code,
    )


@operator_router.get("/service-partners")
async def service_partner_page(request: Request, person: SignedIn) -> Response:
    """Operators assign a car's service partner (the backend reports it in production)."""
    ensure_administrator(person.user)
    return _partner_page(request, done=request.query_params.get("done") == "1")


@operator_router.post("/service-partners")
async def assign_service_partner(
    request: Request,
    person: SignedIn,
    resources: ResourcesDep,
    translate: Translate,
    _: CsrfChecked,
    vin: Annotated[str, Form(max_length=17)] = "",
    workshop_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    ensure_administrator(person.user)
    errors = FormErrors()
    try:
        parsed = parse_vin(vin)
    except DomainError:
        errors.add("vin", translate._("Enter the vehicle's 17-character VIN."))
        return _partner_page(
            request, vin=vin, workshop_id=workshop_id, errors=errors, status_code=422
        )
    try:
        await teleservices.assign_service_partner(
            resources, person.user, parsed, workshop_id.strip() or None
        )
    except NotFound:
        errors.add(
            "workshop_id", translate._("No vehicle with this VIN, or no workshop with this id.")
        )
        return _partner_page(
            request, vin=vin, workshop_id=workshop_id, errors=errors, status_code=404
        )
    return RedirectResponse(PREFIX + "/operators/service-partners?done=1", status_code=303)
