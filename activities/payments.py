"""The payment activities: credit a confirmed payment (with its invoice), record one that ended
without credit, and invoice a ticket paid from credit.

`PaymentActivities(repository, seller)` is registered on the portal worker; `seller` is the
portal's own name, address and VAT id as invoices carry them.
"""

from __future__ import annotations

from contracts import payments as contract
from contracts.errors import domain_errors_as_application_errors
from contracts.payments import (
    CreditedPayment,
    CreditPaymentInput,
    IssuedInvoice,
    SettlePaymentInput,
    TicketInvoiceInput,
)
from contracts.stubs import implements
from db.invoices import InvoiceRepository
from domain.invoices import Party


class PaymentActivities:
    def __init__(self, repository: InvoiceRepository, seller: Party) -> None:
        self._repository = repository
        self._seller = seller

    @implements(contract.credit_payment)
    async def credit_payment(self, request: CreditPaymentInput) -> CreditedPayment:
        with domain_errors_as_application_errors():
            _, invoice = await self._repository.credit_payment(
                request.payment_id, request.provider_reference, self._seller
            )
        return CreditedPayment(invoice_number=invoice.number)

    @implements(contract.settle_payment)
    async def settle_payment(self, request: SettlePaymentInput) -> None:
        with domain_errors_as_application_errors():
            await self._repository.settle_payment(request.payment_id, request.state)

    @implements(contract.issue_ticket_invoice)
    async def issue_ticket_invoice(self, request: TicketInvoiceInput) -> IssuedInvoice:
        with domain_errors_as_application_errors():
            invoice = await self._repository.issue_ticket_invoice(request.ticket_id, self._seller)
        return IssuedInvoice(invoice_number=invoice.number)
