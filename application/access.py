"""Access: the catalogue, a workshop's credit account, vouchers, tickets and entitlements.

The use cases behind `/catalogue`, `/workshops/{id}/account`, `/top-ups`, `/vouchers/redeem`,
`/tickets`, `/entitlements`, `/admin/vouchers`, `/admin/catalogue/prices` and the console's
applications and credit pages. Every write takes the caller's idempotency key: a retry with
the same key and request gets the first outcome and is never charged twice; the same key with
another request is `idempotency-key-reused`.

A ticket purchase runs TicketPurchaseWorkflow (reserve credit, issue, confirm) under a
workflow id made of the workshop and the key. Payments go through a `PaymentGateway`
(`application.payments` has the sandbox), which the caller hands in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from temporalio.client import WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from application.authorization import ensure_administrator, ensure_owner, ensure_workshop_access
from application.resources import AppResources
from contracts.access import (
    TICKET_PURCHASE_WORKFLOW,
    TicketPurchaseInput,
    TicketPurchaseResult,
    ticket_purchase_workflow_id,
)
from contracts.errors import domain_error_from_failure
from contracts.search_attributes import workshop_scope
from db.access_repository import AccessRepository, AccountPage
from db.models import User
from db.models.access import LedgerEntry, Voucher
from domain.catalogue import PriceList, Service, TicketPeriod, period_end
from domain.credit import (
    DirectChargeUnavailable,
    PaymentGateway,
    ensure_affordable,
    ensure_same_request,
    request_fingerprint,
)
from domain.entitlement import coverage_at, last_coverage_end, next_ticket_start
from domain.errors import NotFound
from domain.invoices import PREPAID, VatDecision

FINGERPRINT_MEMO = "request_fingerprint"


class TicketView(BaseModel):
    """A ticket: the service and period bought, the price paid and the time it covers."""

    # Read alike from a ticket's row (`id`) and from a purchase's outcome (`ticket_id`): the
    # one mapping of a ticket to what clients see.
    model_config = ConfigDict(from_attributes=True)

    ticket_id: str = Field(validation_alias=AliasChoices("ticket_id", "id"))
    service: Service
    period: TicketPeriod
    price_cents: int
    starts_at: datetime
    ends_at: datetime

    def state(self, at: datetime) -> str:
        """`ended`, `running` or `later` (it starts when the running ticket ends)."""
        if self.ends_at <= at:
            return "ended"
        return "running" if self.starts_at <= at else "later"


class EntitlementView(BaseModel):
    service: Service
    state: str = Field(description="active, expired (coverage ended) or none (never had any)")
    starts_at: datetime | None
    ends_at: datetime | None
    remaining_seconds: int
    last_ended_at: datetime | None


@dataclass(frozen=True)
class Purchase:
    """A ticket bought, and the balance after it."""

    purchase_id: str
    ticket: TicketView
    balance_cents: int


@dataclass(frozen=True)
class Credited:
    """Credit added (a top-up or a voucher), and the balance after it."""

    entry: LedgerEntry
    balance_cents: int


def _repository(resources: AppResources) -> AccessRepository:
    return AccessRepository(resources.session_factory)


# --- the catalogue --------------------------------------------------------------------------------


async def price_list(resources: AppResources) -> PriceList:
    """The current price of every service and period (public)."""
    return await _repository(resources).price_list()


async def change_prices(
    resources: AppResources, caller: User, changes: dict[tuple[Service, TicketPeriod], int]
) -> PriceList:
    """Administrators set prices; tickets already sold keep the price they were sold at."""
    ensure_administrator(caller)
    return await _repository(resources).change_prices(changes, changed_by=caller.id)


# --- the credit account ---------------------------------------------------------------------------


async def credit_account(
    resources: AppResources, caller: User, workshop_id: str, limit: int, offset: int
) -> AccountPage:
    """The balance (the sum of the ledger) and a page of the ledger, newest entry first."""
    ensure_workshop_access(caller, workshop_id)
    return await _repository(resources).account(workshop_id, limit, offset)


async def top_up(
    resources: AppResources,
    caller: User,
    gateway: PaymentGateway,
    workshop_id: str,
    idempotency_key: str,
    amount_cents: int,
    payment_token: str | None,
) -> Credited:
    """Owners and administrators charge credit at once through the sandbox gateway (the
    embedded mode only: production buys credit on the provider's page, with an invoice); a
    declined payment is `payment-declined` and credits nothing."""
    ensure_owner(caller, workshop_id)
    if resources.settings.environment != "embedded":
        raise DirectChargeUnavailable(
            "buy credit through the payment page: POST /workshops/{workshop_id}/payments"
        )
    repository = _repository(resources)
    entry = await repository.top_up(
        workshop_id, idempotency_key, amount_cents, payment_token, caller.id, gateway
    )
    return Credited(entry, await repository.balance(workshop_id))


async def redeem_voucher(
    resources: AppResources, caller: User, workshop_id: str, idempotency_key: str, code: str
) -> Credited:
    """Owners and administrators credit a voucher's amount; each voucher is redeemed once."""
    ensure_owner(caller, workshop_id)
    repository = _repository(resources)
    entry = await repository.redeem_voucher(workshop_id, idempotency_key, code, caller.id)
    return Credited(entry, await repository.balance(workshop_id))


async def create_voucher(
    resources: AppResources, caller: User, code: str | None, amount_cents: int
) -> Voucher:
    """Administrators create a voucher (its code generated when none is given)."""
    ensure_administrator(caller)
    return await _repository(resources).create_voucher(code, amount_cents, caller.id)


# --- tickets and entitlements ---------------------------------------------------------------------


async def buy_ticket(
    resources: AppResources,
    caller: User,
    workshop_id: str,
    idempotency_key: str,
    service: Service,
    period: TicketPeriod,
) -> Purchase:
    """Owners and administrators buy a ticket from the credit balance (TicketPurchaseWorkflow).

    A ticket bought while one of the same service is active starts when that one ends.
    Refusals: `insufficient-credit`, `ticket-not-issued` (the credit was returned),
    `idempotency-key-reused`; nothing is charged on a refusal.
    """
    ensure_owner(caller, workshop_id)
    repository = _repository(resources)
    result = await _run_ticket_purchase(
        resources,
        repository,
        workshop_id=workshop_id,
        idempotency_key=idempotency_key,
        service=service,
        period=period,
        requested_by=caller.id,
    )
    return Purchase(
        purchase_id=result.purchase_id,
        ticket=TicketView.model_validate(result.ticket),
        balance_cents=await repository.balance(workshop_id),
    )


@dataclass(frozen=True)
class TicketQuote:
    """What the workshop confirms before a ticket is bought: the price, its VAT treatment
    (charged on the prepaid credit: `domain.invoices`) and the period it would cover."""

    service: Service
    period: TicketPeriod
    price_cents: int
    decision: VatDecision
    starts_at: datetime
    ends_at: datetime


async def ticket_quote(
    resources: AppResources, caller: User, workshop_id: str, service: Service, period: TicketPeriod
) -> TicketQuote:
    """The price confirmation of a ticket; nothing is charged. A ticket the balance does not
    cover is refused here already (`insufficient-credit`)."""
    ensure_owner(caller, workshop_id)
    repository = _repository(resources)
    await repository.require_workshop(workshop_id)
    price = (await repository.price_list()).price(service, period)
    ensure_affordable(await repository.balance(workshop_id), price)
    starts_at = next_ticket_start(await repository.windows(workshop_id, service), datetime.now(UTC))
    return TicketQuote(service, period, price, PREPAID, starts_at, period_end(starts_at, period))


async def workshop_tickets(
    resources: AppResources, caller: User, workshop_id: str, service: Service | None = None
) -> list[TicketView]:
    """The workshop's tickets, latest start first; `service` narrows the list."""
    ensure_workshop_access(caller, workshop_id)
    tickets = await _repository(resources).tickets(workshop_id, service)
    return [TicketView.model_validate(ticket) for ticket in tickets]


async def workshop_ticket(
    resources: AppResources, caller: User, workshop_id: str, ticket_id: str
) -> TicketView:
    """One ticket of the workshop; another workshop's ticket is `not-found` like an unknown id."""
    absent = NotFound("no ticket with this id")
    ensure_workshop_access(caller, workshop_id, absent=absent)
    tickets = await workshop_tickets(resources, caller, workshop_id)
    found = next((ticket for ticket in tickets if ticket.ticket_id == ticket_id), None)
    if found is None:
        raise absent
    return found


async def entitlements(
    resources: AppResources, caller: User, workshop_id: str
) -> list[EntitlementView]:
    """Per service: covered now or not, until when, and how much time is left."""
    ensure_workshop_access(caller, workshop_id)
    at = datetime.now(UTC)
    views = []
    for service, windows in (await _repository(resources).windows_by_service(workshop_id)).items():
        window = coverage_at(windows, at)
        ended = last_coverage_end(windows, at)
        views.append(
            EntitlementView(
                service=service,
                state="active" if window else ("expired" if ended else "none"),
                starts_at=window.starts_at if window else None,
                ends_at=window.ends_at if window else None,
                remaining_seconds=int((window.ends_at - at).total_seconds()) if window else 0,
                last_ended_at=ended,
            )
        )
    return views


async def _run_ticket_purchase(
    resources: AppResources,
    repository: AccessRepository,
    *,
    workshop_id: str,
    idempotency_key: str,
    service: Service,
    period: TicketPeriod,
    requested_by: str,
) -> TicketPurchaseResult:
    """The purchase's outcome; its refusals are raised as their domain errors
    (`insufficient-credit`, `ticket-not-issued`, `idempotency-key-reused`). The caller has
    checked that `requested_by` may buy for the workshop (`buy_ticket` does)."""
    temporal = resources.temporal
    await repository.require_workshop(workshop_id)
    fingerprint = request_fingerprint({"service": service.value, "period": period.value})
    workflow_id = ticket_purchase_workflow_id(workshop_id, idempotency_key)
    try:
        handle = await temporal.start_workflow(
            TICKET_PURCHASE_WORKFLOW,
            TicketPurchaseInput(
                workshop_id=workshop_id,
                idempotency_key=idempotency_key,
                service=service,
                period=period,
                requested_by=requested_by,
            ),
            id=workflow_id,
            task_queue=resources.settings.portal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            memo={FINGERPRINT_MEMO: fingerprint},
            search_attributes=workshop_scope(workshop_id),
            result_type=TicketPurchaseResult,
        )
    except WorkflowAlreadyStartedError:  # finished earlier: the same key gets the same outcome
        handle = temporal.get_workflow_handle(workflow_id, result_type=TicketPurchaseResult)
    description = await handle.describe()
    ensure_same_request(await description.memo_value(FINGERPRINT_MEMO, None), fingerprint)
    try:
        result: TicketPurchaseResult = await handle.result()
    except WorkflowFailureError as error:
        raise domain_error_from_failure(error) or error from error
    return result
