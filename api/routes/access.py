"""Access: the catalogue, the workshop's credit account, vouchers, tickets and entitlements.

Writes take an `Idempotency-Key` header (8-100 letters, digits, `_ . : -`): a retry with the
same key and body returns the first result and never charges twice; the same key with another
body answers 409 `idempotency-key-reused`.

Other routers guard their endpoints with `web.deps.require_entitlement(Service.X)`. The
HTTP face of `application.access`: each route parses the request, calls the use case and shapes
the answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict

from application import access as use_cases
from application.access import EntitlementView, TicketView
from db.base import INTEGER_MAX
from domain.catalogue import (
    CURRENCY,
    MAX_PRICE_CENTS,
    PERIOD_LABELS,
    SERVICE_LABELS,
    PriceList,
    Service,
    TicketPeriod,
)
from domain.credit import (
    IDEMPOTENCY_KEY_PATTERN,
    MAX_TOP_UP_CENTS,
    VOUCHER_CODE_INPUT_PATTERN,
    DirectChargeUnavailable,
    IdempotencyKeyReused,
    InsufficientCredit,
    InvalidAmount,
    InvalidVoucherCode,
    PaymentDeclined,
    TicketNotIssued,
    VoucherExists,
    VoucherUnknown,
    VoucherUsed,
)
from web.deps import AdminUser, CurrentUser, PaymentGatewayDep, ResourcesDep
from web.problems import WORKFLOW_UNAVAILABLE, problem_responses

router = APIRouter(tags=["access"])

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="A client-chosen key per request; retries reuse it.",
    ),
]


# --- the catalogue ---------------------------------------------------------------------------


class PriceView(BaseModel):
    service: Service
    period: TicketPeriod
    price_cents: int = Field(gt=0, le=MAX_PRICE_CENTS)


class ServiceView(BaseModel):
    code: Service
    label: str


class PeriodView(BaseModel):
    code: TicketPeriod
    label: str


class CatalogueView(BaseModel):
    currency: str
    services: list[ServiceView]
    periods: list[PeriodView]
    prices: list[PriceView]


class PriceChanges(BaseModel):
    prices: list[PriceView] = Field(min_length=1)


def _catalogue(prices: PriceList) -> CatalogueView:
    return CatalogueView(
        currency=CURRENCY,
        services=[ServiceView(code=s, label=SERVICE_LABELS[s]) for s in Service],
        periods=[PeriodView(code=p, label=PERIOD_LABELS[p]) for p in TicketPeriod],
        prices=[
            PriceView(service=s, period=p, price_cents=prices.price(s, p))
            for s in Service
            for p in TicketPeriod
        ],
    )


@router.get("/catalogue", response_model=CatalogueView)
async def catalogue(resources: ResourcesDep) -> CatalogueView:
    """The services sold, the ticket periods and the current price of each (euro cents)."""
    return _catalogue(await use_cases.price_list(resources))


@router.put("/admin/catalogue/prices", response_model=CatalogueView)
async def change_prices(
    changes: PriceChanges, admin: AdminUser, resources: ResourcesDep
) -> CatalogueView:
    """Administrators: set prices. Tickets already sold keep the price they were sold at."""
    updated = await use_cases.change_prices(
        resources, admin, {(p.service, p.period): p.price_cents for p in changes.prices}
    )
    return _catalogue(updated)


# --- the credit account ----------------------------------------------------------------------


class LedgerEntryView(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read from a ledger entry's row

    id: int
    kind: str
    amount_cents: int
    reference: str | None
    created_at: datetime


class AccountView(BaseModel):
    workshop_id: str
    currency: str
    balance_cents: int
    entries: list[LedgerEntryView]
    total: int
    limit: int
    offset: int


class CreditReceipt(BaseModel):
    entry: LedgerEntryView
    balance_cents: int

    @classmethod
    def of(cls, credited: use_cases.Credited) -> CreditReceipt:
        return cls(
            entry=LedgerEntryView.model_validate(credited.entry),
            balance_cents=credited.balance_cents,
        )


# Declared for clients; `domain.credit.check_amount` enforces it with its own problem type
# (`invalid-amount`), which is why it is not a pydantic bound.
AMOUNT_BOUNDS: JsonDict = {"exclusiveMinimum": 0, "maximum": MAX_TOP_UP_CENTS}
# The same for codes (`invalid-voucher-code`, from `domain.credit.normalise_voucher_code`).
VOUCHER_CODE_SCHEMA: JsonDict = {"pattern": VOUCHER_CODE_INPUT_PATTERN}


class TopUpRequest(BaseModel):
    amount_cents: int = Field(description="Whole euro cents.", json_schema_extra=AMOUNT_BOUNDS)
    payment_token: str | None = Field(
        default=None,
        max_length=200,
        description="The provider's payment token. Sandbox: `tok_declined` is declined, "
        "and so is any amount ending in 13 cents.",
    )


class VoucherRedemption(BaseModel):
    code: str = Field(
        max_length=60,
        description="Letters (either case), digits and dashes; surrounding spaces are ignored.",
        json_schema_extra=VOUCHER_CODE_SCHEMA,
    )


class VoucherCreation(BaseModel):
    amount_cents: int = Field(description="Whole euro cents.", json_schema_extra=AMOUNT_BOUNDS)
    code: str | None = Field(
        default=None,
        max_length=60,
        description="Generated when absent.",
        json_schema_extra=VOUCHER_CODE_SCHEMA,
    )


class VoucherView(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read from a voucher's row

    code: str
    amount_cents: int
    created_at: datetime


@router.get("/workshops/{workshop_id}/account", response_model=AccountView)
async def account(
    workshop_id: str,
    user: CurrentUser,
    resources: ResourcesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=INTEGER_MAX)] = 0,
) -> AccountView:
    """The balance (the sum of the ledger) and the ledger, newest entry first."""
    page = await use_cases.credit_account(resources, user, workshop_id, limit, offset)
    return AccountView(
        workshop_id=workshop_id,
        currency=CURRENCY,
        balance_cents=page.balance_cents,
        entries=[LedgerEntryView.model_validate(e) for e in page.entries],
        total=page.total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/workshops/{workshop_id}/account/top-ups",
    status_code=201,
    response_model=CreditReceipt,
    responses=problem_responses(
        PaymentDeclined, InvalidAmount, IdempotencyKeyReused, DirectChargeUnavailable
    ),
)
async def top_up(
    workshop_id: str,
    body: TopUpRequest,
    idempotency_key: IdempotencyKey,
    user: CurrentUser,
    resources: ResourcesDep,
    gateway: PaymentGatewayDep,
) -> CreditReceipt:
    """Owners and administrators, in the embedded mode: charge credit at once through the
    sandbox gateway (production answers 403 `direct-charge-unavailable`: credit is bought on
    the provider's page, `POST /workshops/{workshop_id}/payments`, with an invoice).

    A declined payment answers 402 `payment-declined` and credits nothing.
    """
    credited = await use_cases.top_up(
        resources,
        user,
        gateway,
        workshop_id,
        idempotency_key,
        body.amount_cents,
        body.payment_token,
    )
    return CreditReceipt.of(credited)


@router.post(
    "/workshops/{workshop_id}/vouchers/redeem",
    status_code=201,
    response_model=CreditReceipt,
    responses=problem_responses(
        VoucherUnknown, VoucherUsed, InvalidVoucherCode, IdempotencyKeyReused
    ),
)
async def redeem_voucher(
    workshop_id: str,
    body: VoucherRedemption,
    idempotency_key: IdempotencyKey,
    user: CurrentUser,
    resources: ResourcesDep,
) -> CreditReceipt:
    """Owners and administrators: credit a voucher's amount. Each voucher is redeemed once
    (`voucher-unknown` 404, `voucher-used` 409)."""
    credited = await use_cases.redeem_voucher(
        resources, user, workshop_id, idempotency_key, body.code
    )
    return CreditReceipt.of(credited)


@router.post(
    "/admin/vouchers",
    status_code=201,
    response_model=VoucherView,
    responses=problem_responses(VoucherExists, InvalidVoucherCode, InvalidAmount),
)
async def create_voucher(
    body: VoucherCreation, admin: AdminUser, resources: ResourcesDep
) -> VoucherView:
    """Administrators: create a voucher worth `amount_cents` (`voucher-exists` 409 on a taken code)."""
    voucher = await use_cases.create_voucher(resources, admin, body.code, body.amount_cents)
    return VoucherView.model_validate(voucher)


# --- tickets and entitlements ----------------------------------------------------------------


class TicketRequest(BaseModel):
    service: Service
    period: TicketPeriod


class PurchaseView(BaseModel):
    purchase_id: str
    ticket: TicketView
    balance_cents: int


@router.post(
    "/workshops/{workshop_id}/tickets",
    status_code=201,
    response_model=PurchaseView,
    responses=problem_responses(
        InsufficientCredit, TicketNotIssued, IdempotencyKeyReused, WORKFLOW_UNAVAILABLE
    ),
)
async def buy_ticket(
    workshop_id: str,
    body: TicketRequest,
    idempotency_key: IdempotencyKey,
    user: CurrentUser,
    resources: ResourcesDep,
) -> PurchaseView:
    """Owners and administrators: buy a ticket from the credit balance.

    Runs TicketPurchaseWorkflow (reserve credit, issue, confirm) and answers with its outcome.
    A ticket bought while one of the same service is active starts when that one ends.
    Refusals: 402 `insufficient-credit` (with `balance` and `price`), 409 `ticket-not-issued`
    (the credit was returned), 409 `idempotency-key-reused`. Nothing is charged on a refusal.
    """
    purchase = await use_cases.buy_ticket(
        resources, user, workshop_id, idempotency_key, body.service, body.period
    )
    return PurchaseView(
        purchase_id=purchase.purchase_id,
        ticket=purchase.ticket,
        balance_cents=purchase.balance_cents,
    )


@router.get("/workshops/{workshop_id}/tickets", response_model=list[TicketView])
async def tickets(
    workshop_id: str,
    user: CurrentUser,
    resources: ResourcesDep,
    service: Service | None = None,
) -> list[TicketView]:
    """The workshop's tickets, latest start first; `service` narrows the list."""
    return await use_cases.workshop_tickets(resources, user, workshop_id, service)


@router.get("/workshops/{workshop_id}/entitlements", response_model=list[EntitlementView])
async def entitlements(
    workshop_id: str, user: CurrentUser, resources: ResourcesDep
) -> list[EntitlementView]:
    """Per service: covered now or not, until when, and how much time is left."""
    return await use_cases.entitlements(resources, user, workshop_id)
