"""Payments: PaymentWorkflow, the signal the provider's callback sends it, and its activities.

Workflows, activities and the API meet here; none of them imports another.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity

from domain.payments import PaymentState, ProviderOutcome

PAYMENT_WORKFLOW = "PaymentWorkflow"
PROVIDER_OUTCOME_SIGNAL = "provider_outcome"
PAYMENT_STATE_QUERY = "state"


def payment_workflow_id(payment_id: str) -> str:
    return f"payment-{payment_id}"


class PaymentInput(BaseModel):
    payment_id: str
    workshop_id: str
    # How long the payer has on the provider's page before the payment counts as abandoned.
    abandon_after: timedelta


class ProviderOutcomeSignal(BaseModel):
    """The provider's verified callback, as the callback endpoint passes it on."""

    outcome: ProviderOutcome
    provider_reference: str
    message_id: str


class PaymentResult(BaseModel):
    payment_id: str
    state: PaymentState
    invoice_number: str | None = None


# --- the payment activities (portal worker) --------------------------------------------------


class CreditPaymentInput(BaseModel):
    payment_id: str
    provider_reference: str


class CreditedPayment(BaseModel):
    invoice_number: str


class SettlePaymentInput(BaseModel):
    payment_id: str
    state: PaymentState  # failed, cancelled or abandoned


_PORTAL = "runs on the portal worker: activities.payments"


@activity.defn(name="credit_payment")
async def credit_payment(request: CreditPaymentInput) -> CreditedPayment:
    """Credit the confirmed payment and issue its invoice, once per payment id."""
    raise NotImplementedError(_PORTAL)


@activity.defn(name="settle_payment")
async def settle_payment(request: SettlePaymentInput) -> None:
    """Record a payment that ended without credit (failed, cancelled, abandoned)."""
    raise NotImplementedError(_PORTAL)


class TicketInvoiceInput(BaseModel):
    ticket_id: str


class IssuedInvoice(BaseModel):
    invoice_number: str


@activity.defn(name="issue_ticket_invoice")
async def issue_ticket_invoice(request: TicketInvoiceInput) -> IssuedInvoice:
    """The invoice of a ticket paid from credit, once per ticket."""
    raise NotImplementedError(_PORTAL)
