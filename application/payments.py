"""Payment gateways. The sandbox stands in until a real provider is plugged in.

A real gateway implements `domain.credit.PaymentGateway` (one `charge` method, idempotent per
key) and is handed to the API and the console with
`app.dependency_overrides[web.deps.get_payment_gateway]`.
"""

from __future__ import annotations

import hashlib

from domain.credit import PaymentResult

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
