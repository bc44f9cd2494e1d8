"""Invoices and credit notes: VAT treatment, amounts and numbers (pure).

Who is taxed where (Council Directive 2006/112/EC; the portal sells electronically supplied
services to workshops):

- a buyer in the seller's country pays the seller's **domestic** rate;
- a business buyer in another EU country with a valid VAT id: **reverse charge** (Article
  196), no VAT on the invoice, the legal mention printed, both VAT ids shown;
- a buyer in another EU country without a valid VAT id pays the **rate of its own country**
  (Article 58, declared through the One-Stop Shop);
- a buyer outside the EU: outside the scope of EU VAT.

Prepaid credit, so that no euro is taxed twice: credit bought with a top-up can only be spent on
the portal's tickets, which are all the same kind of supply (electronic services), at the same
rate, to the same buyer whose country and VAT status are known when the credit is bought. That
is a **single-purpose voucher** (Article 30a): VAT is due when the credit is paid for. So

- a top-up is invoiced with VAT (by the rules above) on the credit bought: the workshop pays
  credit + VAT and receives the credit;
- a ticket paid from credit gets its own invoice, which states the supply (service, period,
  price) with no further VAT and refers to the prepaid credit ("VAT was charged when the credit
  was bought");
- a voucher given by the portal is not a payment, and credit from it carries no VAT.

An invoice is never edited: a credit note cancels it, with its own number of the same gapless
series of the year, referring to the invoice it cancels and repeating its amounts negated.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from domain.errors import Conflict, NotFound
from domain.vat import EU_COUNTRIES, check_vat_format, normalise_vat_id, vat_prefix

# Standard rates in basis points (hundredths of a percent), EU member states, 2025.
STANDARD_RATES_BP: dict[str, int] = {
    "AT": 2000,
    "BE": 2100,
    "BG": 2000,
    "CY": 1900,
    "CZ": 2100,
    "DE": 1900,
    "DK": 2500,
    "EE": 2400,
    "ES": 2100,
    "FI": 2550,
    "FR": 2000,
    "GR": 2400,
    "HR": 2500,
    "HU": 2700,
    "IE": 2300,
    "IT": 2200,
    "LT": 2100,
    "LU": 1700,
    "LV": 2100,
    "MT": 1800,
    "NL": 2100,
    "PL": 2300,
    "PT": 2300,
    "RO": 2100,
    "SE": 2500,
    "SI": 2200,
    "SK": 2300,
}

REVERSE_CHARGE_MENTION = "Reverse charge \u2013 Article 196 of Council Directive 2006/112/EC"
REVERSE_CHARGE_MENTION_NL = "BTW verlegd"
OUTSIDE_EU_MENTION = "Not subject to EU VAT: the buyer is established outside the EU"
PREPAID_MENTION = "Paid from prepaid credit: VAT was charged when the credit was bought"
NUMBER_DIGITS = 6


class VatTreatment(StrEnum):
    DOMESTIC = "domestic"
    REVERSE_CHARGE = "reverse_charge"
    BUYER_COUNTRY = "buyer_country"  # a buyer without a valid VAT id in another member state
    OUTSIDE_EU = "outside_eu"
    PREPAID = "prepaid"  # a ticket paid from credit whose VAT was charged on the top-up


class InvoiceKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class InvoiceNotFound(NotFound):
    code = "invoice-not-found"
    title = "No invoice with this number"


class InvoiceCancelled(Conflict):
    code = "invoice-cancelled"
    title = "The invoice has been cancelled by a credit note already"


class CreditNoteNotCancellable(Conflict):
    code = "credit-note-not-cancellable"
    title = "A credit note cannot be cancelled"


@dataclass(frozen=True)
class Party:
    """Seller or buyer as the invoice names them."""

    name: str
    address: str
    country: str  # ISO 3166 alpha-2
    vat_id: str | None


@dataclass(frozen=True)
class VatDecision:
    treatment: VatTreatment
    rate_bp: int  # the rate charged; 0 under reverse charge, outside the EU, prepaid
    rate_country: str | None  # whose rate it is (None: none charged)
    mentions: tuple[str, ...]


_MENTIONS: dict[VatTreatment, tuple[str, ...]] = {
    VatTreatment.REVERSE_CHARGE: (REVERSE_CHARGE_MENTION, REVERSE_CHARGE_MENTION_NL),
    VatTreatment.OUTSIDE_EU: (OUTSIDE_EU_MENTION,),
    VatTreatment.PREPAID: (PREPAID_MENTION,),
}


def vat_mentions(treatment: VatTreatment) -> tuple[str, ...]:
    """The legal mentions an invoice under `treatment` carries (in the language of the law
    that requires them: the Directive's English, and the Dutch "BTW verlegd")."""
    return _MENTIONS.get(treatment, ())


def has_valid_vat_id(buyer: Party) -> bool:
    return bool(buyer.vat_id) and check_vat_format(buyer.country, buyer.vat_id or "").valid


def vat_decision(seller: Party, buyer: Party) -> VatDecision:
    """The VAT treatment of a supply from `seller` to `buyer` (the rules in the docstring)."""
    if buyer.country == seller.country:
        return VatDecision(
            VatTreatment.DOMESTIC, STANDARD_RATES_BP[seller.country], seller.country, ()
        )
    if buyer.country not in EU_COUNTRIES:
        return VatDecision(VatTreatment.OUTSIDE_EU, 0, None, vat_mentions(VatTreatment.OUTSIDE_EU))
    if has_valid_vat_id(buyer):
        return VatDecision(
            VatTreatment.REVERSE_CHARGE, 0, None, vat_mentions(VatTreatment.REVERSE_CHARGE)
        )
    return VatDecision(
        VatTreatment.BUYER_COUNTRY, STANDARD_RATES_BP[buyer.country], buyer.country, ()
    )


PREPAID = VatDecision(VatTreatment.PREPAID, 0, None, vat_mentions(VatTreatment.PREPAID))


def vat_cents(net_cents: int, rate_bp: int) -> int:
    """VAT on `net_cents` at `rate_bp`, rounded half up to the cent (negative amounts of a
    credit note round symmetrically)."""
    exact = Decimal(abs(net_cents)) * rate_bp / Decimal(10_000)
    rounded = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return rounded if net_cents >= 0 else -rounded


@dataclass(frozen=True)
class Amounts:
    net_cents: int
    vat_cents: int
    total_cents: int


def amounts(net_cents: int, decision: VatDecision) -> Amounts:
    vat = vat_cents(net_cents, decision.rate_bp)
    return Amounts(net_cents, vat, net_cents + vat)


def invoice_number(year: int, sequence: int) -> str:
    """`2026-000001`: the year and the sequence number within it, gapless."""
    return f"{year}-{sequence:0{NUMBER_DIGITS}d}"


def rate_percent(rate_bp: int) -> Decimal:
    """21.00 for 2100 basis points (shown without trailing zeros: 21, 25.5)."""
    return (Decimal(rate_bp) / 100).normalize()


def vat_id_label(party: Party) -> str:
    """A party's VAT id as printed: normalised, with its country prefix ("" without one)."""
    if not party.vat_id:
        return ""
    normalised = normalise_vat_id(party.vat_id)
    prefix = vat_prefix(party.country)
    return normalised if normalised.startswith(prefix) else prefix + normalised


def ensure_cancellable(kind: InvoiceKind, cancelled_by: str | None) -> None:
    """A credit note cancels one invoice, once; a credit note itself is not cancelled."""
    if kind is InvoiceKind.CREDIT_NOTE:
        raise CreditNoteNotCancellable("a credit note cannot be cancelled")
    if cancelled_by is not None:
        raise InvoiceCancelled(
            f"this invoice was cancelled by credit note {cancelled_by}", credit_note=cancelled_by
        )
