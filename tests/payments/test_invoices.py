"""Invoices as a workshop gets them, read back from the PDF with `pdftotext`: the three VAT
treatments (a Dutch buyer at the Dutch rate, a German business with a valid VAT id under
reverse charge, a Belgian buyer without a valid VAT id at the Belgian rate), a ticket paid from
credit, a credit note cancelling an invoice, and gapless numbers when payments are confirmed at
the same moment (on PostgreSQL too)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from domain.accounts import Role
from domain.invoices import invoice_number
from testkit.connected_car import signed
from testkit.factories import SignedIn, sign_in
from tests.payments.conftest import Stack

SELLER_VAT = "NL859876543B01"


async def _paid_invoice(stack: Stack, owner: SignedIn, credit_cents: int) -> dict[str, Any]:
    payment = await stack.pay(owner, credit_cents)
    await stack.press(payment["checkout_url"], "pay")
    assert (await stack.settled(owner, payment["payment_id"]))["state"] == "paid"
    [invoice] = [i for i in await stack.invoices(owner) if i["kind"] == "invoice"]
    return invoice


def _compact(text: str) -> str:
    return re.sub(r"\s+", " ", text)


async def test_a_dutch_buyer_pays_dutch_vat(stack: Stack) -> None:
    owner = await stack.owner("NL", "NL123456789B01")
    invoice = await _paid_invoice(stack, owner, 10_000)
    assert (invoice["treatment"], invoice["vat_cents"]) == ("domestic", 2_100)
    text = _compact(await stack.invoice_text(owner, invoice["number"]))
    assert f"VAT id: {SELLER_VAT}" in text and "VAT id: NL123456789B01" in text
    assert "VAT 21% (NL) €21.00" in text and "Total €121.00" in text
    assert "Reverse charge" not in text


async def test_a_german_business_with_a_valid_vat_id_is_reverse_charged(stack: Stack) -> None:
    owner = await stack.owner("DE", "DE123456789")
    quote = await stack.api.get(
        f"/workshops/{owner.workshop_id}/top-up-quote",
        params={"amount_cents": 10_000},
        headers=owner.headers,
    )
    assert quote.json()["total_cents"] == 10_000
    assert quote.json()["vat"]["treatment"] == "reverse_charge"
    invoice = await _paid_invoice(stack, owner, 10_000)
    assert (invoice["vat_cents"], invoice["total_cents"]) == (0, 10_000)
    text = _compact(await stack.invoice_text(owner, invoice["number"]))
    assert "VAT id: DE123456789" in text and f"VAT id: {SELLER_VAT}" in text
    assert "VAT: reverse charge €0.00" in text
    assert "Reverse charge \u2013 Article 196 of Council Directive 2006/112/EC" in text
    assert "BTW verlegd" in text


async def test_a_belgian_buyer_without_a_valid_vat_id_pays_belgian_vat(stack: Stack) -> None:
    owner = await stack.owner("BE", "BE12345")  # not the format of a Belgian VAT id
    invoice = await _paid_invoice(stack, owner, 10_000)
    assert (invoice["treatment"], invoice["vat_cents"]) == ("buyer_country", 2_100)
    text = _compact(await stack.invoice_text(owner, invoice["number"]))
    assert "VAT 21% (BE) €21.00" in text and "Total €121.00" in text
    assert "Reverse charge" not in text and "BTW verlegd" not in text


async def test_a_ticket_paid_from_credit_is_invoiced_without_vat_a_second_time(
    stack: Stack,
) -> None:
    owner = await stack.owner()
    await _paid_invoice(stack, owner, 10_000)
    confirm = await stack.api.get(
        f"/workshops/{owner.workshop_id}/ticket-quote",
        params={"service": "service_history", "period": "day"},
        headers=owner.headers,
    )
    assert confirm.status_code == 200, confirm.text
    assert confirm.json()["vat"]["treatment"] == "prepaid"
    bought = await stack.api.post(
        f"/workshops/{owner.workshop_id}/tickets",
        json={"service": "service_history", "period": "day"},
        headers={**owner.headers, "Idempotency-Key": "ticket-invoice-1"},
    )
    assert bought.status_code == 201, bought.text
    ticket = [i for i in await stack.invoices(owner) if i["treatment"] == "prepaid"]
    assert len(ticket) == 1
    assert ticket[0]["net_cents"] == confirm.json()["price_cents"] == ticket[0]["total_cents"]
    text = _compact(await stack.invoice_text(owner, ticket[0]["number"]))
    assert "Access ticket: Service booklet, 1 day" in text
    assert "VAT was charged when the credit was bought" in text


async def test_a_credit_note_cancels_an_invoice_with_a_number_of_its_own(stack: Stack) -> None:
    owner = await stack.owner()
    invoice = await _paid_invoice(stack, owner, 10_000)
    administrator = await sign_in(stack.session_factory, Role.ADMINISTRATOR)
    path = f"/admin/invoices/{invoice['number']}/credit-note"
    refused = await stack.api.post(path, headers=owner.headers)
    assert refused.status_code == 403
    note = await stack.api.post(path, headers=administrator.headers)
    assert note.status_code == 201, note.text
    assert note.json()["kind"] == "credit_note"
    assert note.json()["credits_number"] == invoice["number"]
    assert note.json()["total_cents"] == -12_100
    again = await stack.api.post(path, headers=administrator.headers)
    assert again.status_code == 409 and again.json()["type"].endswith("invoice-cancelled")
    listed = {i["number"]: i for i in await stack.invoices(owner)}
    assert listed[invoice["number"]]["cancelled_by"] == note.json()["number"]
    assert listed[invoice["number"]]["total_cents"] == 12_100  # the invoice itself is unchanged
    text = _compact(await stack.invoice_text(owner, note.json()["number"]))
    assert f"Credit note {note.json()['number']}" in text
    assert f"Cancels invoice {invoice['number']}" in text and "-€121.00" in text


@pytest.mark.database
async def test_payments_confirmed_at_once_get_gapless_numbers(stack: Stack) -> None:
    owner = await stack.owner()
    payments = [await stack.pay(owner, 1_000 + n) for n in range(8)]
    secret = stack.settings.payment_secret()

    async def confirm(payment: dict[str, Any]) -> int:
        body, headers = signed(
            secret,
            {
                "payment_id": payment["payment_id"],
                "outcome": "paid",
                "amount_cents": payment["total_cents"],
                "currency": "EUR",
                "provider_reference": "sim-at-once",
            },
        )
        return (
            await stack.api.post("/payment-provider/callbacks", content=body, headers=headers)
        ).status_code

    assert await asyncio.gather(*(confirm(p) for p in payments)) == [200] * 8
    for payment in payments:
        await stack.settled(owner, payment["payment_id"])
    numbers = sorted(i["number"] for i in await stack.invoices(owner))
    year = int(numbers[0][:4])
    assert numbers == [invoice_number(year, n) for n in range(1, 9)]
    assert await stack.balance(owner) == sum(1_000 + n for n in range(8))
