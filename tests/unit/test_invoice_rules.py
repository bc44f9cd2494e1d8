"""The VAT rules of an invoice (domain.invoices): who pays which rate, the legal mentions,
rounding to the cent, the number series, and what a credit note may cancel."""

from __future__ import annotations

import pytest

from domain.invoices import (
    REVERSE_CHARGE_MENTION,
    CreditNoteNotCancellable,
    InvoiceCancelled,
    InvoiceKind,
    Party,
    VatTreatment,
    amounts,
    ensure_cancellable,
    invoice_number,
    rate_percent,
    vat_cents,
    vat_decision,
)

SELLER = Party("AOS Portal B.V.", "Utrecht", "NL", "NL859876543B01")


def buyer(country: str, vat_id: str | None) -> Party:
    return Party("Garage", "Somewhere", country, vat_id)


@pytest.mark.parametrize(
    ("country", "vat_id", "treatment", "rate_bp", "rate_country"),
    [
        ("NL", "NL123456789B01", VatTreatment.DOMESTIC, 2100, "NL"),
        ("NL", None, VatTreatment.DOMESTIC, 2100, "NL"),  # a Dutch buyer pays Dutch VAT anyway
        ("DE", "DE123456789", VatTreatment.REVERSE_CHARGE, 0, None),
        ("DE", "DE12345", VatTreatment.BUYER_COUNTRY, 1900, "DE"),  # not a valid format
        ("BE", None, VatTreatment.BUYER_COUNTRY, 2100, "BE"),
        ("FI", None, VatTreatment.BUYER_COUNTRY, 2550, "FI"),
        ("GR", "EL123456789", VatTreatment.REVERSE_CHARGE, 0, None),
        ("CH", "CHE123456789", VatTreatment.OUTSIDE_EU, 0, None),
    ],
)
def test_the_treatment_follows_the_buyers_country_and_vat_id(
    country: str, vat_id: str | None, treatment: VatTreatment, rate_bp: int, rate_country: str
) -> None:
    decision = vat_decision(SELLER, buyer(country, vat_id))
    assert (decision.treatment, decision.rate_bp, decision.rate_country) == (
        treatment,
        rate_bp,
        rate_country,
    )
    assert (REVERSE_CHARGE_MENTION in decision.mentions) == (
        treatment is VatTreatment.REVERSE_CHARGE
    )


def test_vat_is_rounded_half_up_to_the_cent_and_symmetrically_for_credit_notes() -> None:
    assert vat_cents(10_000, 2100) == 2_100
    assert vat_cents(1_002, 2100) == 210  # 210.42
    assert vat_cents(1_010, 2550) == 258  # 257.55 -> 258
    assert vat_cents(-1_010, 2550) == -258
    decision = vat_decision(SELLER, buyer("NL", None))
    invoice, note = amounts(1_010, decision), amounts(-1_010, decision)
    assert note.total_cents == -invoice.total_cents


def test_numbers_and_rates_as_printed() -> None:
    assert invoice_number(2026, 1) == "2026-000001"
    assert str(rate_percent(2100)) == "21" and str(rate_percent(2550)) == "25.5"


def test_a_credit_note_cancels_an_invoice_once_and_is_not_cancelled_itself() -> None:
    ensure_cancellable(InvoiceKind.INVOICE, None)
    with pytest.raises(InvoiceCancelled):
        ensure_cancellable(InvoiceKind.INVOICE, "2026-000002")
    with pytest.raises(CreditNoteNotCancellable):
        ensure_cancellable(InvoiceKind.CREDIT_NOTE, None)
