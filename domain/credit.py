"""A workshop's credit account: an append-only ledger of signed amounts in euro cents.

The balance is the sum of the ledger; it is never stored on its own. Every write carries an
idempotency key, so a retried request finds its first result instead of charging again.

This module is pure: no I/O, no imports from other project packages.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from domain.errors import Conflict, DomainError, NotFound

MAX_TOP_UP_CENTS = 10_000_000  # 100 000 euro per top-up or voucher
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{8,100}$"
VOUCHER_CODE_PATTERN = re.compile(r"^[A-Z0-9-]{6,40}$")
# What a person may type for a code: the same, in either case, with spaces around it (they
# are taken off, and the code upper-cased, by `normalise_voucher_code`).
VOUCHER_CODE_INPUT_PATTERN = r"^ *[A-Za-z0-9-]{6,40} *$"


class LedgerEntryKind(StrEnum):
    TOP_UP = "top_up"  # paid through the payment gateway (+)
    VOUCHER = "voucher"  # a redeemed voucher (+)
    PURCHASE = "purchase"  # credit reserved for a ticket (-)
    REFUND = "refund"  # a reservation given back because the ticket was not issued (+)


class InvalidAmount(DomainError):
    code = "invalid-amount"
    title = "The amount is not valid"


class InsufficientCredit(DomainError):
    code = "insufficient-credit"
    title = "The credit balance does not cover the price"
    kind = "payment_required"


class PaymentDeclined(DomainError):
    code = "payment-declined"
    title = "The payment was declined"
    kind = "payment_required"


class DirectChargeUnavailable(DomainError):
    """Production sells credit through the payment provider's page (`POST
    /workshops/{id}/payments`), which invoices it; the direct charge is the embedded mode's
    sandbox."""

    code = "direct-charge-unavailable"
    title = "Credit is bought through the payment page; a direct charge is the sandbox's only"
    kind = "forbidden"


class VoucherUnknown(NotFound):
    code = "voucher-unknown"
    title = "No voucher has this code"


class VoucherUsed(Conflict):
    code = "voucher-used"
    title = "The voucher has been redeemed already"


class VoucherExists(Conflict):
    code = "voucher-exists"
    title = "A voucher with this code exists"


class InvalidVoucherCode(DomainError):
    code = "invalid-voucher-code"
    title = "The voucher code is not valid"


class IdempotencyKeyReused(Conflict):
    code = "idempotency-key-reused"
    title = "The idempotency key was used for a different request"


class TicketNotIssued(Conflict):
    code = "ticket-not-issued"
    title = "The ticket could not be issued; the credit was returned"


@dataclass(frozen=True)
class PaymentResult:
    approved: bool
    reference: str
    reason: str | None = None


class PaymentGateway(Protocol):
    """What a payment provider must offer. `charge` is idempotent per key: a retry with the
    same key returns the first result and never charges twice."""

    async def charge(
        self, idempotency_key: str, amount_cents: int, payment_token: str | None
    ) -> PaymentResult: ...


def check_amount(amount_cents: int, field: str = "amount_cents") -> int:
    """A positive whole number of cents, at most MAX_TOP_UP_CENTS."""
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise InvalidAmount("an amount is a whole number of cents", field=field)
    if amount_cents <= 0:
        raise InvalidAmount("the amount must be more than zero", field=field)
    if amount_cents > MAX_TOP_UP_CENTS:
        raise InvalidAmount(f"the amount must be at most {MAX_TOP_UP_CENTS} cents", field=field)
    return amount_cents


def ensure_affordable(balance_cents: int, price_cents: int) -> None:
    if balance_cents < price_cents:
        raise InsufficientCredit(
            f"the balance of {balance_cents} cents does not cover the price of {price_cents}",
            balance=balance_cents,
            price=price_cents,
        )


def normalise_voucher_code(code: str) -> str:
    normalised = code.strip().upper()
    if not VOUCHER_CODE_PATTERN.match(normalised):
        raise InvalidVoucherCode(
            "a voucher code has 6 to 40 letters, digits or dashes", field="code"
        )
    return normalised


def request_fingerprint(fields: Mapping[str, Any]) -> str:
    """A stable hash of a request's meaningful fields: same key, other body -> other hash."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def ensure_same_request(stored_fingerprint: str | None, fingerprint: str) -> None:
    if stored_fingerprint is not None and stored_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "this idempotency key was used with a different request; use a new key",
            field="Idempotency-Key",
        )
