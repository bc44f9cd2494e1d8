"""Paying for credit: the price confirmation, the payment on the provider's hosted page
(PaymentWorkflow), and the provider's signed callback.

The provider is chosen from the settings (`payment_provider`): today the simulated hosted
payment page (`hw/sim/payment_provider.py`, its own process), which reaches the portal only by
its callback, `POST /payment-provider/callbacks`, signed by the Standard Webhooks scheme with
the provider secret (`Settings.payment_secret`).

The older `SandboxPaymentGateway` (a `domain.credit.PaymentGateway` that approves at once)
still backs `POST /workshops/{id}/account/top-ups`, which tests and scripts use for credit.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from pydantic import BaseModel, Field
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from application.authorization import ensure_owner, ensure_workshop_access
from application.resources import AppResources
from application.signed_inbound import read_bounded, validated_body
from contracts.payments import (
    PAYMENT_WORKFLOW,
    PROVIDER_OUTCOME_SIGNAL,
    PaymentInput,
    ProviderOutcomeSignal,
    payment_workflow_id,
)
from contracts.search_attributes import workshop_scope
from db.invoices import InvoiceRepository
from db.models import User
from db.models.invoices import Payment
from domain.credit import PaymentResult, check_amount
from domain.invoices import Amounts, VatDecision, amounts, vat_decision
from domain.payments import (
    FINAL_STATES,
    OUTCOME_STATE,
    CallbackInvalid,
    CallbackTooLarge,
    Checkout,
    PaymentClosed,
    PaymentNotFound,
    PaymentProvider,
    PaymentsNotConfigured,
    PaymentState,
    ProviderOutcome,
)
from domain.signed_messages import SignedHeaders, verify
from settings import Settings

CURRENCY = "EUR"
SIMULATED_CHECKOUT_PATH = "/checkout"


class SimulatedHostedPaymentPage:
    """The simulated provider's hosted page: a GET address carrying what it shows."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url.rstrip("/")

    def checkout_url(self, checkout: Checkout) -> str:
        query = urlencode(
            {
                "payment_id": checkout.payment_id,
                "amount_cents": checkout.amount_cents,
                "currency": checkout.currency,
                "description": checkout.description,
                "return_url": checkout.return_url,
            }
        )
        return f"{self._base_url}{SIMULATED_CHECKOUT_PATH}?{query}"


def payment_provider(settings: Settings) -> PaymentProvider:
    """The provider the settings name (one is implemented: the simulated hosted page)."""
    return SimulatedHostedPaymentPage(settings.payment_provider_url)


def _repository(resources: AppResources) -> InvoiceRepository:
    return InvoiceRepository(resources.session_factory)


# --- the price confirmation and the payment ---------------------------------------------------


@dataclass(frozen=True)
class Quote:
    """What the workshop confirms before anything is charged."""

    credit_cents: int
    decision: VatDecision
    amounts: Amounts


async def quote_top_up(
    resources: AppResources, caller: User, workshop_id: str, credit_cents: int
) -> Quote:
    """Credit, the VAT owed on it (by the workshop's country and VAT id) and the total."""
    ensure_owner(caller, workshop_id)
    check_amount(credit_cents)
    buyer = await _repository(resources).buyer(workshop_id)
    decision = vat_decision(resources.settings.seller(), buyer)
    return Quote(credit_cents, decision, amounts(credit_cents, decision))


@dataclass(frozen=True)
class StartedPayment:
    payment: Payment
    checkout_url: str


async def start_top_up(
    resources: AppResources, caller: User, workshop_id: str, credit_cents: int, return_url: str
) -> StartedPayment:
    """The confirmed top-up: a pending payment, its PaymentWorkflow, and the provider's page
    to send the payer to. Nothing is credited until the provider confirms."""
    ensure_owner(caller, workshop_id)
    settings = resources.settings
    payment = await _repository(resources).create_payment(
        workshop_id, credit_cents, settings.seller(), caller.id
    )
    await resources.temporal.start_workflow(
        PAYMENT_WORKFLOW,
        PaymentInput(
            payment_id=payment.id,
            workshop_id=workshop_id,
            abandon_after=timedelta(seconds=settings.payment_abandon_after_seconds),
        ),
        id=payment_workflow_id(payment.id),
        task_queue=settings.portal_task_queue,
        search_attributes=workshop_scope(workshop_id),
    )
    return_url = return_url.replace("{payment_id}", payment.id)
    return StartedPayment(payment, checkout_url(settings, payment, return_url))


def checkout_url(settings: Settings, payment: Payment, return_url: str) -> str:
    """The provider's page that collects `payment`, sending the payer back to `return_url`."""
    checkout = Checkout(
        payment_id=payment.id,
        amount_cents=payment.total_cents,
        currency=CURRENCY,
        description=f"Credit top-up {payment.id}",
        return_url=return_url,
    )
    return payment_provider(settings).checkout_url(checkout)


async def workshop_payment(
    resources: AppResources, caller: User, workshop_id: str, payment_id: str
) -> Payment:
    """One payment of the workshop; another workshop's is `payment-not-found`."""
    absent = PaymentNotFound("no payment with this id")
    ensure_workshop_access(caller, workshop_id, absent=absent)
    return await _repository(resources).payment(payment_id, workshop_id)


# --- the provider's callback --------------------------------------------------------------------


class ProviderCallback(BaseModel):
    """The body of the provider's signed callback."""

    payment_id: str = Field(pattern=r"^pay-[0-9a-f]{32}$")
    outcome: ProviderOutcome
    amount_cents: int = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    provider_reference: str = Field(min_length=1, max_length=100)


class CallbackReceipt(BaseModel):
    payment_id: str
    state: PaymentState = Field(description="The payment's state as the portal holds it now")


async def receive_callback(
    resources: AppResources,
    headers: SignedHeaders,
    chunks: AsyncIterator[bytes],
    declared_length: int | None,
) -> CallbackReceipt:
    """Verify the provider's callback and pass its outcome to the payment's workflow.

    A repeated callback (same outcome) is answered with the payment's state and changes
    nothing; a different outcome for a settled payment is `payment-closed`.
    """
    settings = resources.settings
    limit = settings.payment_callback_max_bytes
    body = await read_bounded(
        chunks,
        declared_length,
        limit,
        CallbackTooLarge(f"a callback has at most {limit} bytes", max_bytes=limit),
    )
    try:
        secret = settings.payment_secret()
    except ValueError as error:
        raise PaymentsNotConfigured("set AOS_PAYMENT_PROVIDER_SECRET") from error
    message_id = verify(secret, headers, body, datetime.now(UTC))
    callback = validated_body(ProviderCallback.model_validate_json, body, CallbackInvalid)
    payment = await _repository(resources).payment(callback.payment_id)
    if (callback.amount_cents, callback.currency) != (payment.total_cents, CURRENCY):
        raise CallbackInvalid(
            "the amount is not the payment's amount",
            field="amount_cents",
            expected=payment.total_cents,
        )
    expected = OUTCOME_STATE[callback.outcome]
    if payment.state in FINAL_STATES:
        return _settled(payment, expected)
    handle: WorkflowHandle[object, object] = resources.temporal.get_workflow_handle(
        payment_workflow_id(payment.id)
    )
    try:
        await handle.signal(
            PROVIDER_OUTCOME_SIGNAL,
            ProviderOutcomeSignal(
                outcome=callback.outcome,
                provider_reference=callback.provider_reference,
                message_id=message_id,
            ),
        )
    except RPCError as error:  # the workflow ended (abandoned) since the payment was read
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return _settled(await _repository(resources).payment(payment.id), expected)
    return CallbackReceipt(payment_id=payment.id, state=PaymentState(payment.state))


def _settled(payment: Payment, expected: PaymentState) -> CallbackReceipt:
    """A settled payment: the same outcome again is answered, another one refused."""
    if payment.state != expected:
        raise PaymentClosed(
            f"the payment is {payment.state}; a {expected} callback is not taken",
            state=payment.state,
        )
    return CallbackReceipt(payment_id=payment.id, state=PaymentState(payment.state))


# --- the sandbox gateway (the immediate top-up) -------------------------------------------------

# The sandbox's documented test inputs.
DECLINED_TEST_TOKEN = "tok_declined"
DECLINED_CENTS_SUFFIX = 13  # amounts ending in ...13 cents are declined


class SandboxPaymentGateway:
    """Approves every charge except amounts ending in 13 cents and the token `tok_declined`.

    Deterministic, so a retried charge with the same key gives the same answer and reference.
    """

    async def charge(
        self, idempotency_key: str, amount_cents: int, payment_token: str | None
    ) -> PaymentResult:
        reference = "sandbox-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]
        if payment_token == DECLINED_TEST_TOKEN:
            return PaymentResult(False, reference, "the card was declined (sandbox test token)")
        if amount_cents % 100 == DECLINED_CENTS_SUFFIX:
            return PaymentResult(
                False, reference, "the sandbox declines amounts ending in 13 cents"
            )
        return PaymentResult(True, reference)
