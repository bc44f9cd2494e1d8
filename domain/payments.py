"""Payments through a hosted payment page (pure).

A top-up is paid in three steps: the workshop confirms the price (credit, VAT, total), the
portal sends the browser to the provider's hosted page, and the provider confirms the outcome
by a signed callback (Standard Webhooks, `domain.signed_messages`). Credit arrives only on a
confirmed callback, once per payment id; a payment nobody completes in time is abandoned.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from domain.errors import Conflict, DomainError, NotFound, TooLarge

PAYMENT_ID_PATTERN = r"^pay-[0-9a-f]{32}$"


class PaymentState(StrEnum):
    PENDING = "pending"  # waiting for the provider's callback
    PAID = "paid"  # confirmed: credited, invoiced
    FAILED = "failed"  # the provider refused the payment
    CANCELLED = "cancelled"  # the payer cancelled on the provider's page
    ABANDONED = "abandoned"  # no outcome within the payment's time


FINAL_STATES = frozenset(
    {PaymentState.PAID, PaymentState.FAILED, PaymentState.CANCELLED, PaymentState.ABANDONED}
)


class ProviderOutcome(StrEnum):
    """What a provider's callback can report."""

    PAID = "paid"
    FAILED = "failed"
    CANCELLED = "cancelled"


OUTCOME_STATE = {
    ProviderOutcome.PAID: PaymentState.PAID,
    ProviderOutcome.FAILED: PaymentState.FAILED,
    ProviderOutcome.CANCELLED: PaymentState.CANCELLED,
}


class PaymentNotFound(NotFound):
    code = "payment-not-found"
    title = "No payment with this id"


class PaymentClosed(Conflict):
    code = "payment-closed"
    title = "The payment was settled already; a different outcome is not taken"


class CallbackTooLarge(TooLarge):
    code = "callback-too-large"
    title = "The callback is larger than the portal accepts"


class CallbackInvalid(DomainError):
    code = "callback-invalid"
    title = "The signed callback is not a payment outcome the portal knows"


class PaymentsNotConfigured(DomainError):
    code = "payments-not-configured"
    title = "The portal has no secret for the payment provider"
    kind = "unavailable"


@dataclass(frozen=True)
class Checkout:
    """What the provider's page is asked to collect."""

    payment_id: str  # the merchant reference
    amount_cents: int
    currency: str
    description: str
    return_url: str  # where the payer's browser comes back to


class PaymentProvider(Protocol):
    """A provider with a hosted payment page: the portal only sends the payer there; the
    provider confirms by a signed callback to `POST /payment-provider/callbacks`."""

    def checkout_url(self, checkout: Checkout) -> str:
        """The address of the hosted page that collects `checkout`."""
        ...
