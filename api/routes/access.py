"""Access: the catalogue, the workshop's credit account, vouchers, tickets and entitlements.

Writes take an `Idempotency-Key` header (8-100 letters, digits, `_ . : -`): a retry with the
same key and body returns the first result and never charges twice; the same key with another
body answers 409 `idempotency-key-reused`.

Other routers guard their endpoints with `web.deps.require_entitlement(Service.X)`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, Field
from pydantic.json_schema import JsonDict

from application.authorization import ensure_owner, ensure_workshop_access
from application.payments import SandboxPaymentGateway
from application.ticket_purchases import purchase_ticket
from db.base import INTEGER_MAX
from db.models.access import LedgerEntry, Ticket
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
    IdempotencyKeyReused,
    InsufficientCredit,
    InvalidAmount,
    InvalidVoucherCode,
    PaymentDeclined,
    PaymentGateway,
    TicketNotIssued,
    VoucherExists,
    VoucherUnknown,
    VoucherUsed,
)
from web.deps import (
    AccessRepositoryDep,
    AdminUser,
    CurrentUser,
    SettingsDep,
    TemporalDep,
)
from web.problems import problem_responses

router = APIRouter(tags=["access"])

_sandbox_gateway = SandboxPaymentGateway()


def get_payment_gateway() -> PaymentGateway:
    """The payment provider; replace with `app.dependency_overrides[get_payment_gateway]`."""
    return _sandbox_gateway


GatewayDep = Annotated[PaymentGateway, Depends(get_payment_gateway)]
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
async def catalogue(repository: AccessRepositoryDep) -> CatalogueView:
    """The services sold, the ticket periods and the current price of each (euro cents)."""
    return _catalogue(await repository.price_list())


@router.put("/admin/catalogue/prices", response_model=CatalogueView)
async def change_prices(
    changes: PriceChanges, admin: AdminUser, repository: AccessRepositoryDep
) -> CatalogueView:
    """Administrators: set prices. Tickets already sold keep the price they were sold at."""
    updated = await repository.change_prices(
        {(p.service, p.period): p.price_cents for p in changes.prices}, changed_by=admin.id
    )
    return _catalogue(updated)


# --- the credit account ----------------------------------------------------------------------


class LedgerEntryView(BaseModel):
    id: int
    kind: str
    amount_cents: int
    reference: str | None
    created_at: datetime

    @classmethod
    def of(cls, entry: LedgerEntry) -> LedgerEntryView:
        return cls(
            id=entry.id,
            kind=entry.kind,
            amount_cents=entry.amount_cents,
            reference=entry.reference,
            created_at=entry.created_at,
        )


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
    code: str
    amount_cents: int
    created_at: datetime


@router.get("/workshops/{workshop_id}/account", response_model=AccountView)
async def account(
    workshop_id: str,
    user: CurrentUser,
    repository: AccessRepositoryDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=INTEGER_MAX)] = 0,
) -> AccountView:
    """The balance (the sum of the ledger) and the ledger, newest entry first."""
    ensure_workshop_access(user, workshop_id)
    page = await repository.account(workshop_id, limit, offset)
    return AccountView(
        workshop_id=workshop_id,
        currency=CURRENCY,
        balance_cents=page.balance_cents,
        entries=[LedgerEntryView.of(e) for e in page.entries],
        total=page.total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/workshops/{workshop_id}/account/top-ups",
    status_code=201,
    response_model=CreditReceipt,
    responses=problem_responses(PaymentDeclined, InvalidAmount, IdempotencyKeyReused),
)
async def top_up(
    workshop_id: str,
    body: TopUpRequest,
    idempotency_key: IdempotencyKey,
    user: CurrentUser,
    repository: AccessRepositoryDep,
    gateway: GatewayDep,
) -> CreditReceipt:
    """Owners and administrators: buy credit through the payment provider.

    A declined payment answers 402 `payment-declined` and credits nothing.
    """
    ensure_owner(user, workshop_id)
    entry = await repository.top_up(
        workshop_id, idempotency_key, body.amount_cents, body.payment_token, user.id, gateway
    )
    return CreditReceipt(
        entry=LedgerEntryView.of(entry), balance_cents=await repository.balance(workshop_id)
    )


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
    repository: AccessRepositoryDep,
) -> CreditReceipt:
    """Owners and administrators: credit a voucher's amount. Each voucher is redeemed once
    (`voucher-unknown` 404, `voucher-used` 409)."""
    ensure_owner(user, workshop_id)
    entry = await repository.redeem_voucher(workshop_id, idempotency_key, body.code, user.id)
    return CreditReceipt(
        entry=LedgerEntryView.of(entry), balance_cents=await repository.balance(workshop_id)
    )


@router.post(
    "/admin/vouchers",
    status_code=201,
    response_model=VoucherView,
    responses=problem_responses(VoucherExists, InvalidVoucherCode, InvalidAmount),
)
async def create_voucher(
    body: VoucherCreation, admin: AdminUser, repository: AccessRepositoryDep
) -> VoucherView:
    """Administrators: create a voucher worth `amount_cents` (`voucher-exists` 409 on a taken code)."""
    voucher = await repository.create_voucher(body.code, body.amount_cents, admin.id)
    return VoucherView(
        code=voucher.code, amount_cents=voucher.amount_cents, created_at=voucher.created_at
    )


# --- tickets and entitlements ----------------------------------------------------------------


class TicketRequest(BaseModel):
    service: Service
    period: TicketPeriod


class TicketView(BaseModel):
    ticket_id: str
    service: Service
    period: TicketPeriod
    price_cents: int
    starts_at: datetime
    ends_at: datetime

    @classmethod
    def of(cls, ticket: Ticket) -> TicketView:
        return cls(
            ticket_id=ticket.id,
            service=Service(ticket.service),
            period=TicketPeriod(ticket.period),
            price_cents=ticket.price_cents,
            starts_at=ticket.starts_at,
            ends_at=ticket.ends_at,
        )


class PurchaseView(BaseModel):
    purchase_id: str
    ticket: TicketView
    balance_cents: int


class EntitlementView(BaseModel):
    service: Service
    state: str = Field(description="active, expired (coverage ended) or none (never had any)")
    starts_at: datetime | None
    ends_at: datetime | None
    remaining_seconds: int
    last_ended_at: datetime | None


@router.post(
    "/workshops/{workshop_id}/tickets",
    status_code=201,
    response_model=PurchaseView,
    responses=problem_responses(InsufficientCredit, TicketNotIssued, IdempotencyKeyReused),
)
async def buy_ticket(
    workshop_id: str,
    body: TicketRequest,
    idempotency_key: IdempotencyKey,
    user: CurrentUser,
    repository: AccessRepositoryDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> PurchaseView:
    """Owners and administrators: buy a ticket from the credit balance.

    Runs TicketPurchaseWorkflow (reserve credit, issue, confirm) and answers with its outcome.
    A ticket bought while one of the same service is active starts when that one ends.
    Refusals: 402 `insufficient-credit` (with `balance` and `price`), 409 `ticket-not-issued`
    (the credit was returned), 409 `idempotency-key-reused`. Nothing is charged on a refusal.
    """
    ensure_owner(user, workshop_id)
    result = await purchase_ticket(
        temporal,
        settings,
        repository,
        workshop_id=workshop_id,
        idempotency_key=idempotency_key,
        service=body.service,
        period=body.period,
        requested_by=user.id,
    )
    ticket = result.ticket
    return PurchaseView(
        purchase_id=result.purchase_id,
        ticket=TicketView(
            ticket_id=ticket.ticket_id,
            service=ticket.service,
            period=ticket.period,
            price_cents=ticket.price_cents,
            starts_at=ticket.starts_at,
            ends_at=ticket.ends_at,
        ),
        balance_cents=await repository.balance(workshop_id),
    )


@router.get("/workshops/{workshop_id}/tickets", response_model=list[TicketView])
async def tickets(
    workshop_id: str,
    user: CurrentUser,
    repository: AccessRepositoryDep,
    service: Service | None = None,
) -> list[TicketView]:
    """The workshop's tickets, latest start first; `service` narrows the list."""
    ensure_workshop_access(user, workshop_id)
    return [TicketView.of(t) for t in await repository.tickets(workshop_id, service)]


@router.get("/workshops/{workshop_id}/entitlements", response_model=list[EntitlementView])
async def entitlements(
    workshop_id: str, user: CurrentUser, repository: AccessRepositoryDep
) -> list[EntitlementView]:
    """Per service: covered now or not, until when, and how much time is left."""
    ensure_workshop_access(user, workshop_id)
    return [
        EntitlementView.model_validate(row)
        for row in await repository.entitlements(workshop_id, datetime.now(UTC))
    ]
