"""The applications page (what this workshop may use now) and the credit page (balance,
ledger, top-up, vouchers, tickets).

The same use cases (`application.access`) as the JSON API's `/workshops/{id}/account`,
`/top-ups`, `/vouchers/redeem`, `/tickets` and `/entitlements`, with the same idempotency: each
form carries a key made when the form was rendered, so a form sent twice is charged once.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from babel.numbers import NumberFormatError, parse_decimal
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from application import access as use_cases
from application.authorization import ensure_owner
from console.confirmation import confirmed
from console.deps import CsrfChecked, SignedIn, Translate, WorkshopMember
from console.forms import FormErrors
from console.i18n import N_, Translator
from console.rendering import render
from db.base import INTEGER_MAX
from domain.catalogue import CURRENCY, Service, TicketPeriod, service_name
from domain.credit import (
    IDEMPOTENCY_KEY_PATTERN,
    MAX_TOP_UP_CENTS,
    InvalidAmount,
    LedgerEntryKind,
    check_amount,
)
from domain.errors import DomainError
from web.deps import ResourcesDep

router = APIRouter(prefix="/console", include_in_schema=False)

# The applications the console shows, in the order of the page.
APPLICATIONS: list[Service] = [
    Service.SERVICE_HISTORY,
    Service.ECU_PROGRAMMING,
    Service.TECHNICAL_INFORMATION,
]
# The services' names (msgids; their translations are the domain's, see console.i18n).
SERVICE_NAMES: dict[Service, str] = {service: service_name(service) for service in Service}
SERVICE_DESCRIPTIONS: dict[Service, str] = {
    Service.SERVICE_HISTORY: N_(
        "Read a car's key, look up its service history and record maintenance and repairs."
    ),
    Service.ECU_PROGRAMMING: N_("Program a car's control units at a station of the workshop."),
    Service.TECHNICAL_INFORMATION: N_(
        "Repair instructions, wiring diagrams and technical actions."
    ),
    Service.TELESERVICE: N_("Remote services of connected cars."),
}
# Where an application opens in the console.
SERVICE_PAGES: dict[Service, str] = {
    Service.SERVICE_HISTORY: "/console/kasio/",
    Service.ECU_PROGRAMMING: "/console/programming/",
    Service.TECHNICAL_INFORMATION: "/console/technical-information/",
}
PERIOD_NAMES: dict[TicketPeriod, str] = {
    TicketPeriod.HOUR: N_("1 hour"),
    TicketPeriod.DAY: N_("1 day"),
    TicketPeriod.WEEK: N_("1 week"),
    TicketPeriod.MONTH: N_("1 month"),
    TicketPeriod.YEAR: N_("1 year"),
}
LEDGER_KINDS: dict[str, str] = {
    LedgerEntryKind.TOP_UP.value: N_("Top-up"),
    LedgerEntryKind.VOUCHER.value: N_("Voucher"),
    LedgerEntryKind.PURCHASE.value: N_("Ticket bought"),
    LedgerEntryKind.REFUND.value: N_("Refund"),
}
LEDGER_PAGE_SIZE = 25


def new_idempotency_key() -> str:
    """A form's key, made when it is rendered: sending the same form again reuses it."""
    return f"console-{uuid.uuid4().hex}"


def key_valid(translate: Translator, errors: FormErrors, key: str) -> bool:
    """The form's key as the API's `Idempotency-Key` header would accept it."""
    if re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
        return True
    errors.add(None, translate._("This form is out of date. Fill it in again and send it."))
    return False


@router.get("/")
async def applications(request: Request, person: SignedIn, resources: ResourcesDep) -> Response:
    """What this workshop may use now, and for how long."""
    if person.user.workshop_id is None:  # portal staff have no applications of their own
        return RedirectResponse("/console/operators/", status_code=303)
    views = await use_cases.entitlements(resources, person.user, person.user.workshop_id)
    by_service = {view.service: view for view in views}
    cards = [
        {
            "service": service.value,
            "name": SERVICE_NAMES[service],
            "description": SERVICE_DESCRIPTIONS[service],
            "page": SERVICE_PAGES.get(service),
            "state": by_service[service].state,
            "ends_at": by_service[service].ends_at,
            "remaining": timedelta(seconds=by_service[service].remaining_seconds),
            "last_ended_at": by_service[service].last_ended_at,
        }
        for service in APPLICATIONS
    ]
    return render(request, "access/applications.html", {"cards": cards})


@dataclass
class CreditForms:
    """What the credit page's three forms show: typed values, errors, fresh keys."""

    amount: str = ""
    voucher_code: str = ""
    service: str = Service.SERVICE_HISTORY.value
    period: str = TicketPeriod.DAY.value
    errors: FormErrors | None = None

    def context(self) -> dict[str, Any]:
        return {
            "amount": self.amount,
            "voucher_code": self.voucher_code,
            "service": self.service,
            "period": self.period,
            "errors": self.errors or FormErrors(),
            "voucher_key": new_idempotency_key(),
            "ticket_key": new_idempotency_key(),
        }


async def credit_page(
    request: Request,
    person: WorkshopMember,
    resources: ResourcesDep,
    forms: CreditForms,
    *,
    page: int = 1,
    done: str | None = None,
) -> Response:
    account = await use_cases.credit_account(
        resources, person.user, person.workshop_id, LEDGER_PAGE_SIZE, (page - 1) * LEDGER_PAGE_SIZE
    )
    prices = await use_cases.price_list(resources)
    return render(
        request,
        "access/credit.html",
        {
            "balance_cents": account.balance_cents,
            "currency": CURRENCY,
            "entries": account.entries,
            "ledger_kinds": LEDGER_KINDS,
            "page": page,
            "pages": max(1, -(-account.total // LEDGER_PAGE_SIZE)),
            "may_buy": person.is_owner,
            "services": [(s.value, SERVICE_NAMES[s]) for s in APPLICATIONS],
            "periods": [(p.value, PERIOD_NAMES[p]) for p in TicketPeriod],
            "prices": {
                s.value: {p.value: prices.price(s, p) for p in TicketPeriod} for s in APPLICATIONS
            },
            "service_names": {s.value: n for s, n in SERVICE_NAMES.items()},
            "period_names": {p.value: n for p, n in PERIOD_NAMES.items()},
            "done": done,
            "here": "/console/credit",
            **forms.context(),
        },
        status_code=422 if forms.errors else 200,
    )


@router.get("/credit")
async def credit(
    request: Request,
    person: WorkshopMember,
    resources: ResourcesDep,
    # Bounded like the API's offsets: a larger page would overflow the database's integer.
    page: Annotated[int, Query(ge=1, le=INTEGER_MAX // LEDGER_PAGE_SIZE)] = 1,
    service: str | None = None,
    done: str | None = None,
) -> Response:
    """The balance and ledger, and the forms to add credit and to buy time."""
    forms = CreditForms()
    if service in {s.value for s in APPLICATIONS}:
        forms.service = service
    return await credit_page(request, person, resources, forms, page=page, done=done)


def parse_amount(translate: Translator, typed: str) -> int:
    """Euros as typed in the page's language (`12.50` / `12,50`) -> cents; `invalid-amount`."""
    try:
        euros = parse_decimal(
            typed.strip().lstrip("€").strip(), locale=translate.language, strict=True
        )
    except (NumberFormatError, InvalidOperation, ValueError) as error:
        raise InvalidAmount("not a number", field="amount") from error
    cents = euros * 100
    if cents != cents.to_integral_value():
        raise InvalidAmount("more than two decimals", field="amount")
    return check_amount(int(cents), field="amount")


def amount_error(translate: Translator) -> str:
    return translate._(
        "Enter an amount between %(min)s and %(max)s, like %(example)s.",
        min=translate.money(1),
        max=translate.money(MAX_TOP_UP_CENTS),
        example=translate.number(Decimal("50"), decimals=2),
    )


@router.post("/credit/voucher")
async def redeem_voucher(
    request: Request,
    _: CsrfChecked,
    person: WorkshopMember,
    resources: ResourcesDep,
    translate: Translate,
    voucher_code: Annotated[str, Form()] = "",
    idempotency_key: Annotated[str, Form()] = "",
) -> Response:
    """Credit a voucher's amount (the same call as `POST .../vouchers/redeem`)."""
    ensure_owner(person.user, person.workshop_id)
    errors = FormErrors()
    if not voucher_code.strip():
        errors.add("voucher_code", translate._("Enter the voucher's code."))
    elif key_valid(translate, errors, idempotency_key):
        try:
            await use_cases.redeem_voucher(
                resources, person.user, person.workshop_id, idempotency_key, voucher_code
            )
        except DomainError as error:
            errors.add_domain_error(
                translate, error, fields={"code": "voucher_code"}, default_field="voucher_code"
            )
        else:
            return RedirectResponse("/console/credit?done=voucher", status_code=303)
    return await credit_page(
        request, person, resources, CreditForms(voucher_code=voucher_code, errors=errors)
    )


@router.post("/credit/tickets")
async def buy_ticket(
    request: Request,
    _: CsrfChecked,
    person: WorkshopMember,
    resources: ResourcesDep,
    translate: Translate,
    service: Annotated[str, Form()] = "",
    period: Annotated[str, Form()] = "",
    idempotency_key: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Buy a ticket from the credit (the same TicketPurchaseWorkflow as `POST .../tickets`),
    after a page that shows its price, VAT and period and asks to confirm."""
    ensure_owner(person.user, person.workshop_id)
    errors = FormErrors()
    if service not in {s.value for s in APPLICATIONS}:
        errors.add("service", translate._("Choose an application."))
    if period not in {p.value for p in TicketPeriod}:
        errors.add("period", translate._("Choose how long."))
    if not errors and not confirmed(confirm):
        try:
            quote = await use_cases.ticket_quote(
                resources, person.user, person.workshop_id, Service(service), TicketPeriod(period)
            )
        except DomainError as error:
            errors.add_domain_error(translate, error, default_field="period")
            return await credit_page(
                request,
                person,
                resources,
                CreditForms(service=service, period=period, errors=errors),
            )
        return render(
            request,
            "access/confirm_ticket.html",
            {
                "quote": quote,
                "service_name": SERVICE_NAMES[quote.service],
                "period_name": PERIOD_NAMES[quote.period],
                "idempotency_key": idempotency_key,
                "here": "/console/credit",
            },
        )
    if not errors and key_valid(translate, errors, idempotency_key):
        try:
            purchase = await use_cases.buy_ticket(
                resources,
                person.user,
                person.workshop_id,
                idempotency_key,
                Service(service),
                TicketPeriod(period),
            )
        except DomainError as error:
            # "Too little credit" is about the chosen price: shown at the period's field.
            errors.add_domain_error(translate, error, default_field="period")
        else:
            return RedirectResponse(
                f"/console/credit/tickets/{purchase.ticket.ticket_id}?bought=1", status_code=303
            )
    return await credit_page(
        request,
        person,
        resources,
        CreditForms(service=service, period=period, errors=errors),
    )


@router.get("/credit/tickets/{ticket_id}")
async def ticket(
    request: Request,
    ticket_id: str,
    person: WorkshopMember,
    resources: ResourcesDep,
    bought: bool = False,
) -> Response:
    """One ticket of the workshop: what, from when until when, at which price. Another
    workshop's ticket is the same "not found" page as an unknown id."""
    found = await use_cases.workshop_ticket(resources, person.user, person.workshop_id, ticket_id)
    return render(
        request,
        "access/ticket.html",
        {
            "ticket": found,
            "service_name": SERVICE_NAMES[found.service],
            "period_name": PERIOD_NAMES[found.period],
            "state": found.state(datetime.now(UTC)),
            "bought": bought,
        },
    )
