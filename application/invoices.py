"""Invoices and credit notes: the workshop's list, one as a PDF, and cancelling one by a credit
note (administrators). Invoices are issued by the flows (PaymentWorkflow for a top-up,
TicketPurchaseWorkflow for a ticket), never here.

Another workshop's invoice is `invoice-not-found`, like an unknown number.
"""

from __future__ import annotations

from collections.abc import Sequence

from application.authorization import ensure_administrator, ensure_workshop_access
from application.invoice_pdf import InvoiceWording, render_invoice
from application.resources import AppResources
from db.invoices import InvoiceRepository
from db.models import User
from db.models.invoices import Invoice
from domain.invoices import InvoiceNotFound


def _repository(resources: AppResources) -> InvoiceRepository:
    return InvoiceRepository(resources.session_factory)


async def workshop_invoices(
    resources: AppResources, caller: User, workshop_id: str
) -> Sequence[Invoice]:
    """The workshop's invoices and credit notes, newest first."""
    ensure_workshop_access(caller, workshop_id)
    return await _repository(resources).invoices(workshop_id)


async def workshop_invoice(
    resources: AppResources, caller: User, workshop_id: str, number: str
) -> Invoice:
    absent = InvoiceNotFound("no invoice with this number")
    ensure_workshop_access(caller, workshop_id, absent=absent)
    return await _repository(resources).invoice(number, workshop_id)


async def invoice_pdf(
    resources: AppResources,
    caller: User,
    workshop_id: str,
    number: str,
    wording: InvoiceWording | None = None,
) -> bytes:
    """The invoice or credit note as a PDF in `wording`'s language (default English, UTC)."""
    return render_invoice(await workshop_invoice(resources, caller, workshop_id, number), wording)


async def cancel_invoice(resources: AppResources, caller: User, number: str) -> Invoice:
    """Administrators cancel an invoice by a credit note (`invoice-cancelled` the second time,
    `credit-note-not-cancellable` for a credit note)."""
    ensure_administrator(caller)
    return await _repository(resources).credit_note(number)
