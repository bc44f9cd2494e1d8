"""Paying for credit on the simulated provider's hosted page, through the API and the
provider's page over HTTP, the portal worker on the dev server: a payment that succeeds (credit
once, however often the callback comes, and before the browser is back), fails, is cancelled or
abandoned; the callback's refusals; another workshop's payment."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.accounts import Role
from portal_app import create_app
from settings import Settings
from testkit.connected_car import signed
from testkit.factories import create_workshop, sign_in
from testkit.serving import running_api
from tests.payments.conftest import Stack

CALLBACK = "/payment-provider/callbacks"


async def test_a_paid_top_up_is_credited_once_and_invoiced(stack: Stack) -> None:
    owner = await stack.owner()
    quote = await stack.api.get(
        f"/workshops/{owner.workshop_id}/top-up-quote",
        params={"amount_cents": 10_000},
        headers=owner.headers,
    )
    assert quote.status_code == 200, quote.text
    assert quote.json() | {"vat": None} == {
        "credit_cents": 10_000,
        "vat_cents": 2_100,
        "total_cents": 12_100,
        "vat": None,
    }
    assert quote.json()["vat"]["treatment"] == "domestic"

    payment = await stack.pay(owner, 10_000)
    assert payment["state"] == "pending" and payment["total_cents"] == 12_100
    assert await stack.balance(owner) == 0  # nothing before the provider confirms

    page = await stack.provider.get(payment["checkout_url"])
    assert "EUR 121.00" in page.text and payment["payment_id"] in page.text
    returned = await stack.press(payment["checkout_url"], "pay")
    # The provider called back before it sent the browser back to the portal's page.
    assert returned.status_code == 303
    assert returned.headers["location"].endswith(
        f"/console/credit/payments/{payment['payment_id']}"
    )
    assert (await stack.settled(owner, payment["payment_id"]))["state"] == "paid"
    assert await stack.balance(owner) == 10_000

    # The provider repeats its callback (same webhook-id): answered, credited no second time.
    repeated = await stack.provider.post(f"/payments/{payment['payment_id']}/callback")
    assert repeated.json()["portal_status"] == 200
    assert await stack.balance(owner) == 10_000
    ledger = await stack.api.get(f"/workshops/{owner.workshop_id}/account", headers=owner.headers)
    assert [entry["kind"] for entry in ledger.json()["entries"]] == ["top_up"]

    [invoice] = await stack.invoices(owner)
    assert invoice["kind"] == "invoice" and invoice["total_cents"] == 12_100
    text = await stack.invoice_text(owner, invoice["number"])
    assert f"Invoice {invoice['number']}" in text
    assert "VAT 21% (NL)" in text and "€21.00" in text and "€121.00" in text


@pytest.mark.parametrize(("action", "state"), [("fail", "failed"), ("cancel", "cancelled")])
async def test_a_failed_or_cancelled_payment_credits_nothing(
    stack: Stack, action: str, state: str
) -> None:
    owner = await stack.owner()
    payment = await stack.pay(owner, 5_000)
    await stack.press(payment["checkout_url"], action)
    assert (await stack.settled(owner, payment["payment_id"]))["state"] == state
    assert await stack.balance(owner) == 0
    assert await stack.invoices(owner) == []
    # A late "paid" for the settled payment is refused: nothing changes.
    body, headers = signed(
        stack.settings.payment_secret(),
        {
            "payment_id": payment["payment_id"],
            "outcome": "paid",
            "amount_cents": payment["total_cents"],
            "currency": "EUR",
            "provider_reference": "late",
        },
    )
    late = await stack.api.post(CALLBACK, content=body, headers=headers)
    assert late.status_code == 409 and late.json()["type"].endswith("payment-closed")
    assert await stack.balance(owner) == 0


@pytest.mark.parametrize("abandon_after_seconds", [2])
async def test_an_abandoned_payment_is_marked_so_and_credits_nothing(stack: Stack) -> None:
    owner = await stack.owner()
    payment = await stack.pay(owner, 5_000)
    await stack.provider.get(payment["checkout_url"])  # the payer looks, and never comes back
    assert (await stack.settled(owner, payment["payment_id"]))["state"] == "abandoned"
    assert await stack.balance(owner) == 0 and await stack.invoices(owner) == []


def _callback(payment: dict[str, object], **changes: object) -> dict[str, object]:
    return {
        "payment_id": payment["payment_id"],
        "outcome": "paid",
        "amount_cents": payment["total_cents"],
        "currency": "EUR",
        "provider_reference": "sim-test",
        **changes,
    }


async def test_callbacks_that_are_refused(stack: Stack) -> None:
    owner = await stack.owner()
    payment = await stack.pay(owner, 5_000)
    secret = stack.settings.payment_secret()

    body, headers = signed("whsec_" + "QUJD" * 8, _callback(payment))  # another secret
    refused = await stack.api.post(CALLBACK, content=body, headers=headers)
    assert refused.status_code == 401 and refused.json()["type"].endswith("signature-invalid")

    body, headers = signed(secret, _callback(payment), at=datetime.now(UTC) - timedelta(hours=1))
    stale = await stack.api.post(CALLBACK, content=body, headers=headers)
    assert stale.status_code == 401 and stale.json()["type"].endswith("message-stale")

    unsigned = await stack.api.post(CALLBACK, json=_callback(payment))
    assert unsigned.status_code == 401

    padded = json.dumps(_callback(payment, padding="x" * 5000)).encode()
    body, headers = signed(secret, padded)
    too_large = await stack.api.post(CALLBACK, content=body, headers=headers)
    assert too_large.status_code == 413 and too_large.json()["max_bytes"] == 4096

    body, headers = signed(secret, _callback(payment, amount_cents=1))
    wrong_amount = await stack.api.post(CALLBACK, content=body, headers=headers)
    assert wrong_amount.status_code == 422
    assert wrong_amount.json()["type"].endswith("callback-invalid")

    body, headers = signed(secret, _callback(payment, payment_id="pay-" + "0" * 32))
    unknown = await stack.api.post(CALLBACK, content=body, headers=headers)
    assert unknown.status_code == 404

    assert (await stack.payment(owner, payment["payment_id"]))["state"] == "pending"
    assert await stack.balance(owner) == 0


async def test_a_callback_signed_by_the_provider_credits_once_when_sent_twice_at_once(
    stack: Stack,
) -> None:
    owner = await stack.owner()
    payment = await stack.pay(owner, 2_500)
    body, headers = signed(stack.settings.payment_secret(), _callback(payment))
    first = await stack.api.post(CALLBACK, content=body, headers=headers)
    second = await stack.api.post(CALLBACK, content=body, headers=headers)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (await stack.settled(owner, payment["payment_id"]))["state"] == "paid"
    again = await stack.api.post(CALLBACK, content=body, headers=headers)
    assert again.json() == {"payment_id": payment["payment_id"], "state": "paid"}
    assert await stack.balance(owner) == 2_500
    assert len(await stack.invoices(owner)) == 1


async def test_another_workshop_sees_neither_the_payment_nor_the_invoice(stack: Stack) -> None:
    owner, other = await stack.owner(), await stack.owner()
    payment = await stack.pay(owner, 1_000)
    await stack.press(payment["checkout_url"], "pay")
    await stack.settled(owner, payment["payment_id"])
    [invoice] = await stack.invoices(owner)
    for path in (
        f"/workshops/{owner.workshop_id}/payments/{payment['payment_id']}",
        f"/workshops/{owner.workshop_id}/invoices/{invoice['number']}.pdf",
        f"/workshops/{other.workshop_id}/payments/{payment['payment_id']}",
        f"/workshops/{other.workshop_id}/invoices/{invoice['number']}.pdf",
    ):
        answer = await stack.api.get(path, headers=other.headers)
        assert answer.status_code == 404, (path, answer.text)
    listed = await stack.api.get(f"/workshops/{owner.workshop_id}/invoices", headers=other.headers)
    assert listed.status_code in (403, 404)


async def test_production_sells_credit_only_through_the_payment_page(
    settings: Settings,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # The sandbox's direct charge credits without a payment page or an invoice: the embedded
    # mode's only. (model_copy skips the production checks of secrets and database, which this
    # test does not need.)
    production = settings.model_copy(update={"environment": "production", "secret_key": "x" * 32})
    workshop_id = await create_workshop(session_factory)
    owner = await sign_in(session_factory, Role.WORKSHOP_OWNER, workshop_id)
    async with running_api(create_app(production, temporal=dev_env.client)) as api:
        answer = await api.post(
            f"/workshops/{workshop_id}/account/top-ups",
            json={"amount_cents": 2_500},
            headers={**owner.headers, "Idempotency-Key": "production-top-up-1"},
        )
        assert answer.status_code == 403, answer.text
        assert answer.json()["type"] == "/problems/direct-charge-unavailable"
        balance = await api.get(f"/workshops/{workshop_id}/account", headers=owner.headers)
        assert balance.json()["balance_cents"] == 0
