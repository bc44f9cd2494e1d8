"""An invoice or credit note as a one-page A4 PDF (reportlab), in the workshop's language.

Written like the maintenance log (`application.maintenance_log`): in the words and formats it
is given (`InvoiceWording`; the console passes its page's translator), English with dates in
UTC for the JSON API. The legal VAT mentions are printed as the law words them (the Directive's
English and the Dutch "BTW verlegd"), whatever the language. Its texts are msgids of the
console's catalogues (`console.catalogue` reads this module too).
"""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from babel.numbers import format_currency
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from application.maintenance_log import EnglishInUtc, LogWording
from db.models.invoices import Invoice
from domain.catalogue import PERIOD_LABELS, Service, TicketPeriod, service_name
from domain.invoices import (
    InvoiceKind,
    Party,
    VatTreatment,
    rate_percent,
    vat_id_label,
    vat_mentions,
)


class InvoiceWording(LogWording, Protocol):
    def money(self, cents: int, currency: str = "EUR") -> str: ...


class EnglishInUtcWithMoney(EnglishInUtc):
    """`EnglishInUtc` with British money formats (`€1,234.50`)."""

    def money(self, cents: int, currency: str = "EUR") -> str:
        return format_currency(Decimal(cents) / 100, currency, locale=self._LOCALE)


def _description(invoice: Invoice, say: InvoiceWording) -> list[str]:
    line = invoice.line
    if line.get("item") == "ticket":
        starts = datetime.fromisoformat(line["starts_at"])
        ends = datetime.fromisoformat(line["ends_at"])
        return [
            say._(
                "Access ticket: %(service)s, %(period)s",
                service=say._(service_name(Service(line["service"]))),
                period=say._(PERIOD_LABELS[TicketPeriod(line["period"])]),
            ),
            say._(
                "Period: %(start)s to %(end)s",
                start=say.datetime(starts),
                end=say.datetime(ends),
            ),
        ]
    return [say._("Prepaid credit for the AOS portal (payment %(id)s)", id=line["payment_id"])]


def _vat_line(invoice: Invoice, say: InvoiceWording) -> str:
    treatment = VatTreatment(invoice.treatment)
    if treatment in (VatTreatment.DOMESTIC, VatTreatment.BUYER_COUNTRY):
        return say._(
            "VAT %(rate)s%% (%(country)s)",
            rate=say.number(rate_percent(invoice.rate_bp)),
            country=invoice.rate_country or "",
        )
    if treatment is VatTreatment.REVERSE_CHARGE:
        return say._("VAT: reverse charge")
    if treatment is VatTreatment.PREPAID:
        return say._("VAT: charged on the prepaid credit")
    return say._("VAT: not applicable")


def render_invoice(invoice: Invoice, wording: InvoiceWording | None = None) -> bytes:
    """The invoice or credit note as a PDF in `wording`'s language (default: English, UTC)."""
    say = wording if wording is not None else EnglishInUtcWithMoney()
    seller, buyer = Party(**invoice.seller), Party(**invoice.buyer)
    credit_note = invoice.kind == InvoiceKind.CREDIT_NOTE.value
    title = say._("Credit note") if credit_note else say._("Invoice")
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(f"{title} {invoice.number}")
    canvas.setAuthor(seller.name)
    _, height = A4
    y = height - 25 * mm

    def line(
        text: str, *, size: int = 10, bold: bool = False, gap: float = 6, x: float = 20
    ) -> None:
        nonlocal y
        canvas.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        canvas.drawString(x * mm, y, text)
        y -= gap * mm

    line(f"{title} {invoice.number}", size=18, bold=True, gap=10)
    line(say._("Date: %(day)s", day=say.date(invoice.issued_at)))
    if invoice.credits_number:
        line(say._("Cancels invoice %(number)s", number=invoice.credits_number))
    y -= 4 * mm
    for heading, party in ((say._("Seller"), seller), (say._("Buyer"), buyer)):
        line(heading, bold=True)
        line(party.name)
        line(party.address)
        vat_id = vat_id_label(party)
        line(say._("VAT id: %(vat_id)s", vat_id=vat_id) if vat_id else say._("VAT id: none"))
        y -= 4 * mm
    for text in _description(invoice, say):
        line(text)
    y -= 4 * mm
    rows = (
        (say._("Net amount"), invoice.net_cents),
        (_vat_line(invoice, say), invoice.vat_cents),
        (say._("Total"), invoice.total_cents),
    )
    for label, cents in rows:
        canvas.setFont("Helvetica", 10)
        canvas.drawString(20 * mm, y, label)
        canvas.drawRightString(190 * mm, y, say.money(cents))
        y -= 7 * mm
    y -= 4 * mm
    treatment = VatTreatment(invoice.treatment)
    if treatment is VatTreatment.REVERSE_CHARGE:
        for mention in vat_mentions(treatment):  # as the law words them, in every language
            line(mention, bold=True)
    elif treatment is VatTreatment.PREPAID:
        line(say._("Paid from prepaid credit: VAT was charged when the credit was bought"))
    elif treatment is VatTreatment.OUTSIDE_EU:
        line(say._("Not subject to EU VAT: the buyer is established outside the EU"))
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
