"""Paying for credit and the invoices: the price confirmation of a top-up or a ticket, a
payment on the provider's hosted page, the provider's signed callback, invoices and credit notes.

`POST /payment-provider/callbacks` has no session: its Standard Webhooks signature with the
provider secret is the credential. The workshop routes are the workshop's own (another
workshop's payment or invoice answers 404, like an unknown one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from api.signed_messages import SignedHeadersDep, with_message_rate
from api.uploads import upload_body
from application import access, invoices, payments
from application.payments import CallbackReceipt
from domain.catalogue import Service, TicketPeriod
from domain.credit import MAX_TOP_UP_CENTS, InsufficientCredit, InvalidAmount
from domain.invoices import (
    CreditNoteNotCancellable,
    InvoiceCancelled,
    InvoiceNotFound,
    VatDecision,
    VatTreatment,
    rate_percent,
)
from domain.payments import (
    PAYMENT_ID_PATTERN,
    CallbackInvalid,
    CallbackTooLarge,
    PaymentClosed,
    PaymentNotFound,
    PaymentsNotConfigured,
    PaymentState,
)
from domain.signed_messages import (
    MessageSignatureInvalid,
    MessageStale,
    MessageUnsigned,
)
from web.deps import AdminUser, CurrentUser, ResourcesDep
from web.problems import WORKFLOW_UNAVAILABLE, problem_responses

router = APIRouter(tags=["payments and invoices"])

INVOICE_NUMBER = r"^\d{4}-\d{6}$"
NumberPath = Annotated[str, Path(min_length=11, max_length=11, pattern=INVOICE_NUMBER)]
PaymentIdPath = Annotated[str, Path(max_length=36, pattern=PAYMENT_ID_PATTERN)]
WorkshopPath = Annotated[str, Path(max_length=64)]
Amount = Annotated[int, Query(gt=0, le=MAX_TOP_UP_CENTS, description="Credit in euro cents")]


class VatView(BaseModel):
    treatment: VatTreatment
    rate_percent: str = Field(description="The rate charged, e.g. `21` (0 when none is)")
    rate_country: str | None
    mentions: list[str]

    @classmethod
    def of(cls, decision: VatDecision) -> VatView:
        return cls(
            treatment=decision.treatment,
            rate_percent=str(rate_percent(decision.rate_bp)),
            rate_country=decision.rate_country,
            mentions=list(decision.mentions),
        )


class TopUpQuote(BaseModel):
    credit_cents: int
    vat_cents: int
    total_cents: int = Field(description="What the payment provider charges")
    vat: VatView


class TicketQuoteView(BaseModel):
    service: Service
    period: TicketPeriod
    price_cents: int
    vat: VatView
    starts_at: datetime
    ends_at: datetime


class PaymentRequest(BaseModel):
    amount_cents: int = Field(gt=0, le=MAX_TOP_UP_CENTS, description="The credit to buy, cents")


class PaymentView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    payment_id: str = Field(validation_alias=AliasChoices("payment_id", "id"))
    state: PaymentState
    credit_cents: int
    vat_cents: int
    total_cents: int
    created_at: datetime


class StartedPaymentView(PaymentView):
    checkout_url: str = Field(description="The provider's hosted page: send the payer there")


class InvoiceView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: str
    kind: str = Field(description="`invoice` or `credit_note`")
    issued_at: datetime
    treatment: VatTreatment
    net_cents: int
    vat_cents: int
    total_cents: int
    credits_number: str | None = Field(description="A credit note: the invoice it cancels")
    cancelled_by: str | None = Field(description="The credit note that cancelled it")


@router.get(
    "/workshops/{workshop_id}/top-up-quote",
    response_model=TopUpQuote,
    responses=problem_responses(InvalidAmount),
)
async def top_up_quote(
    workshop_id: WorkshopPath, amount_cents: Amount, user: CurrentUser, resources: ResourcesDep
) -> TopUpQuote:
    """The price confirmation of a top-up: the credit, the VAT on it and the total to pay."""
    quote = await payments.quote_top_up(resources, user, workshop_id, amount_cents)
    return TopUpQuote(
        credit_cents=quote.credit_cents,
        vat_cents=quote.amounts.vat_cents,
        total_cents=quote.amounts.total_cents,
        vat=VatView.of(quote.decision),
    )


@router.get(
    "/workshops/{workshop_id}/ticket-quote",
    response_model=TicketQuoteView,
    responses=problem_responses(InsufficientCredit),
)
async def ticket_quote(
    workshop_id: WorkshopPath,
    service: Service,
    period: TicketPeriod,
    user: CurrentUser,
    resources: ResourcesDep,
) -> TicketQuoteView:
    """The price confirmation of a ticket: price, VAT treatment and the period it covers;
    402 `insufficient-credit` when the balance does not cover it."""
    quote = await access.ticket_quote(resources, user, workshop_id, service, period)
    return TicketQuoteView(
        service=quote.service,
        period=quote.period,
        price_cents=quote.price_cents,
        vat=VatView.of(quote.decision),
        starts_at=quote.starts_at,
        ends_at=quote.ends_at,
    )


@router.post(
    "/workshops/{workshop_id}/payments",
    status_code=201,
    response_model=StartedPaymentView,
    responses=problem_responses(InvalidAmount, WORKFLOW_UNAVAILABLE),
)
async def start_payment(
    workshop_id: WorkshopPath,
    body: PaymentRequest,
    request: Request,
    user: CurrentUser,
    resources: ResourcesDep,
) -> StartedPaymentView:
    """Owners: pay for credit on the provider's page (the confirmed quote). Nothing is credited
    until the provider confirms; without an outcome in time the payment is abandoned."""
    return_url = str(request.base_url).rstrip("/") + "/console/credit/payments/{payment_id}"
    started = await payments.start_top_up(
        resources, user, workshop_id, body.amount_cents, return_url
    )
    view = PaymentView.model_validate(started.payment)
    return StartedPaymentView(**view.model_dump(), checkout_url=started.checkout_url)


@router.get(
    "/workshops/{workshop_id}/payments/{payment_id}",
    response_model=PaymentView,
    responses=problem_responses(PaymentNotFound),
)
async def payment(
    workshop_id: WorkshopPath, payment_id: PaymentIdPath, user: CurrentUser, resources: ResourcesDep
) -> PaymentView:
    """One payment and its state (pending, paid, failed, cancelled, abandoned)."""
    found = await payments.workshop_payment(resources, user, workshop_id, payment_id)
    return PaymentView.model_validate(found)


@router.post(
    "/payment-provider/callbacks",
    response_model=CallbackReceipt,
    responses=with_message_rate(
        problem_responses(
            MessageUnsigned,
            MessageSignatureInvalid,
            MessageStale,
            CallbackTooLarge,
            CallbackInvalid,
            PaymentNotFound,
            PaymentClosed,
            PaymentsNotConfigured,
            WORKFLOW_UNAVAILABLE,
        )
    ),
    openapi_extra=upload_body(
        "application/json",
        "The payment's outcome (`payment_id`, `outcome`: paid, failed or cancelled, "
        "`amount_cents`, `currency`, `provider_reference`), signed by the Standard Webhooks "
        "scheme with the provider secret; at most {payment_callback_max_bytes} bytes.",
        {"x-max-bytes": "payment_callback_max_bytes"},
        binary=False,
    ),
)
async def provider_callback(
    request: Request,
    resources: ResourcesDep,
    headers: SignedHeadersDep,
) -> CallbackReceipt:
    """The payment provider confirms a payment's outcome. A repeated callback is answered with
    the payment's state and changes nothing (credit arrives once); another outcome for a
    settled payment is 409 `payment-closed`; more than `AOS_SIGNED_MESSAGES_PER_MINUTE`
    signed messages from one address this minute is 429 `too-many-messages`, before the body
    is read."""
    declared = request.headers.get("content-length", "")
    return await payments.receive_callback(
        resources,
        headers,
        request.stream(),
        int(declared) if declared.isdigit() else None,
    )


@router.get("/workshops/{workshop_id}/invoices", response_model=list[InvoiceView])
async def invoice_list(
    workshop_id: WorkshopPath, user: CurrentUser, resources: ResourcesDep
) -> list[InvoiceView]:
    """The workshop's invoices and credit notes, newest first."""
    found = await invoices.workshop_invoices(resources, user, workshop_id)
    return [InvoiceView.model_validate(invoice) for invoice in found]


@router.get(
    "/workshops/{workshop_id}/invoices/{number}.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}},
        **problem_responses(InvoiceNotFound),
    },
)
async def invoice_document(
    workshop_id: WorkshopPath, number: NumberPath, user: CurrentUser, resources: ResourcesDep
) -> Response:
    """The invoice or credit note as a PDF (English, dates in UTC; the console's is in the
    workshop's language)."""
    pdf = await invoices.invoice_pdf(resources, user, workshop_id, number)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="invoice-{number}.pdf"'},
    )


@router.post(
    "/admin/invoices/{number}/credit-note",
    status_code=201,
    response_model=InvoiceView,
    responses=problem_responses(InvoiceNotFound, InvoiceCancelled, CreditNoteNotCancellable),
)
async def credit_note(number: NumberPath, admin: AdminUser, resources: ResourcesDep) -> InvoiceView:
    """Administrators cancel an invoice by a credit note (never an edit of the invoice)."""
    return InvoiceView.model_validate(await invoices.cancel_invoice(resources, admin, number))
