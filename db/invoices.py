"""Reading and writing payments, invoices and credit notes.

Numbers: each invoice and credit note takes the next number of its year's series
(`domain.invoices.invoice_number`) in the transaction that stores it, from the year's
`invoice_counters` row, incremented by one conditional UPDATE: on PostgreSQL the UPDATE locks
the row until the transaction ends, so concurrent invoices queue; a rolled-back invoice rolls
its number back too, so the series has no gap. Locks are taken in one order (the workshop's
credit account, an invoice being cancelled, then the counter), so two writers never wait on
each other in a circle.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.access_repository import AccessRepository
from db.engine import reading
from db.models.access import Ticket
from db.models.invoices import Invoice, InvoiceCounter, Payment
from db.rows import get_of_workshop, get_or_raise
from domain.credit import LedgerEntryKind, check_amount, request_fingerprint
from domain.invoices import (
    PREPAID,
    InvoiceKind,
    InvoiceNotFound,
    Party,
    VatDecision,
    VatTreatment,
    amounts,
    ensure_cancellable,
    invoice_number,
    vat_decision,
    vat_mentions,
)
from domain.payments import FINAL_STATES, PaymentClosed, PaymentNotFound, PaymentState


def _party(party: Party) -> dict[str, Any]:
    return dataclasses.asdict(party)


class InvoiceRepository:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory
        self._access = AccessRepository(session_factory)

    # --- buyers -----------------------------------------------------------------------------

    async def _buyer(self, session: AsyncSession, workshop_id: str) -> Party:
        workshop = await self._access.ensure_workshop(session, workshop_id)
        return Party(workshop.name, workshop.address, workshop.country, workshop.vat_id)

    async def buyer(self, workshop_id: str) -> Party:
        async with reading(self._session_factory) as session:
            return await self._buyer(session, workshop_id)

    # --- payments ---------------------------------------------------------------------------

    async def create_payment(
        self, workshop_id: str, credit_cents: int, seller: Party, requested_by: str | None
    ) -> Payment:
        """A pending payment of `credit_cents` of credit plus the VAT the workshop owes on it."""
        check_amount(credit_cents)
        async with self._session_factory() as session, session.begin():
            owed = amounts(
                credit_cents, vat_decision(seller, await self._buyer(session, workshop_id))
            )
            now = datetime.now(UTC)
            payment = Payment(
                id=f"pay-{uuid.uuid4().hex}",
                workshop_id=workshop_id,
                credit_cents=credit_cents,
                vat_cents=owed.vat_cents,
                total_cents=owed.total_cents,
                state=PaymentState.PENDING.value,
                provider_reference=None,
                requested_by=requested_by,
                created_at=now,
                updated_at=now,
            )
            session.add(payment)
        return payment

    async def payment(self, payment_id: str, workshop_id: str | None = None) -> Payment:
        """The payment; with `workshop_id`, another workshop's payment is not found either."""
        async with reading(self._session_factory) as session:
            missing = PaymentNotFound("no payment with this id", field="payment_id")
            return await get_of_workshop(session, Payment, payment_id, workshop_id, missing)

    async def credit_payment(
        self, payment_id: str, provider_reference: str, seller: Party
    ) -> tuple[Payment, Invoice]:
        """The confirmed payment's credit and invoice, once: the ledger entry's idempotency key
        is the payment id (the ledger's idempotent opening), so a second call finds both."""
        async with self._session_factory() as session, session.begin():
            missing = PaymentNotFound("no payment with this id")
            payment = await get_or_raise(session, Payment, payment_id, missing)
            key = f"payment:{payment_id}"
            fingerprint = request_fingerprint({"payment": payment_id})
            # Locks the workshop's credit account until the transaction ends.
            earlier = await self._access._open_ledger(
                session, payment.workshop_id, key, fingerprint
            )
            if earlier is None:
                if payment.state != PaymentState.PENDING:
                    raise PaymentClosed(f"the payment is {payment.state}", state=payment.state)
                self._access._add_entry(
                    session,
                    LedgerEntryKind.TOP_UP,
                    payment.workshop_id,
                    payment.credit_cents,
                    key,
                    fingerprint,
                    provider_reference,
                    payment.requested_by,
                )
                payment.state, payment.updated_at = PaymentState.PAID.value, datetime.now(UTC)
                payment.provider_reference = provider_reference
            buyer = await self._buyer(session, payment.workshop_id)
            invoice = await self._issue(
                session,
                source=key,
                workshop_id=payment.workshop_id,
                seller=seller,
                buyer=buyer,
                decision=vat_decision(seller, buyer),
                net_cents=payment.credit_cents,
                line={"item": "top_up", "payment_id": payment.id},
            )
        return payment, invoice

    async def settle_payment(self, payment_id: str, state: PaymentState) -> Payment:
        """A payment that ends without credit: failed, cancelled or abandoned. A settled
        payment keeps its state."""
        async with self._session_factory() as session, session.begin():
            missing = PaymentNotFound("no payment with this id")
            payment = await get_or_raise(
                session, Payment, payment_id, missing, with_for_update=True
            )
            if payment.state not in FINAL_STATES:
                payment.state, payment.updated_at = state.value, datetime.now(UTC)
        return payment

    # --- invoices ---------------------------------------------------------------------------

    async def _next_number(self, session: AsyncSession, year: int) -> str:
        dialect = session.bind.dialect.name if session.bind else "sqlite"
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await session.execute(
            insert(InvoiceCounter)
            .values(year=year, last_number=0)
            .on_conflict_do_nothing(index_elements=["year"])
        )
        sequence = await session.scalar(
            update(InvoiceCounter)
            .where(InvoiceCounter.year == year)
            .values(last_number=InvoiceCounter.last_number + 1)
            .returning(InvoiceCounter.last_number)
        )
        assert sequence is not None
        return invoice_number(year, sequence)

    async def _issue(
        self,
        session: AsyncSession,
        *,
        source: str,
        workshop_id: str,
        seller: Party,
        buyer: Party,
        decision: VatDecision,
        net_cents: int,
        line: dict[str, Any],
        kind: InvoiceKind = InvoiceKind.INVOICE,
        credits_number: str | None = None,
    ) -> Invoice:
        existing = await session.scalar(select(Invoice).where(Invoice.source == source))
        if existing is not None:
            return existing
        issued_at = datetime.now(UTC)
        owed = amounts(net_cents, decision)
        invoice = Invoice(
            number=await self._next_number(session, issued_at.year),
            kind=kind.value,
            workshop_id=workshop_id,
            source=source,
            issued_at=issued_at,
            seller=_party(seller),
            buyer=_party(buyer),
            line=line,
            treatment=decision.treatment.value,
            rate_bp=decision.rate_bp,
            rate_country=decision.rate_country,
            net_cents=owed.net_cents,
            vat_cents=owed.vat_cents,
            total_cents=owed.total_cents,
            credits_number=credits_number,
            cancelled_by=None,
        )
        session.add(invoice)
        await session.flush()
        return invoice

    async def issue_ticket_invoice(self, ticket_id: str, seller: Party) -> Invoice:
        """The invoice of a ticket paid from credit (once per ticket): the supply, with the VAT
        already charged on the credit (`domain.invoices`, prepaid credit)."""
        async with self._session_factory() as session, session.begin():
            missing = InvoiceNotFound("no ticket with this id")
            ticket = await get_or_raise(session, Ticket, ticket_id, missing)
            return await self._issue(
                session,
                source=f"ticket:{ticket.id}",
                workshop_id=ticket.workshop_id,
                seller=seller,
                buyer=await self._buyer(session, ticket.workshop_id),
                decision=PREPAID,
                net_cents=ticket.price_cents,
                line={
                    "item": "ticket",
                    "ticket_id": ticket.id,
                    "service": ticket.service,
                    "period": ticket.period,
                    "starts_at": ticket.starts_at.isoformat(),
                    "ends_at": ticket.ends_at.isoformat(),
                },
            )

    async def credit_note(self, number: str) -> Invoice:
        """Cancel the invoice `number` by a credit note: a new number, the same amounts
        negated, a reference to the invoice; the invoice itself only records by which."""
        async with self._session_factory() as session, session.begin():
            missing = InvoiceNotFound("no invoice with this number", field="number")
            invoice = await get_or_raise(session, Invoice, number, missing, with_for_update=True)
            ensure_cancellable(InvoiceKind(invoice.kind), invoice.cancelled_by)
            note = await self._issue(
                session,
                source=f"cancels:{invoice.number}",
                workshop_id=invoice.workshop_id,
                seller=Party(**invoice.seller),
                buyer=Party(**invoice.buyer),
                decision=_decision_of(invoice),
                net_cents=-invoice.net_cents,
                line=invoice.line,
                kind=InvoiceKind.CREDIT_NOTE,
                credits_number=invoice.number,
            )
            invoice.cancelled_by = note.number
        return note

    async def invoices(self, workshop_id: str) -> Sequence[Invoice]:
        """The workshop's invoices and credit notes, newest first."""
        async with reading(self._session_factory) as session:
            await self._access.ensure_workshop(session, workshop_id)
            query = select(Invoice).where(Invoice.workshop_id == workshop_id)
            return (await session.scalars(query.order_by(Invoice.issued_at.desc()))).all()

    async def invoice(self, number: str, workshop_id: str | None = None) -> Invoice:
        """One invoice; with `workshop_id`, another workshop's is not found either."""
        async with reading(self._session_factory) as session:
            missing = InvoiceNotFound("no invoice with this number", field="number")
            return await get_of_workshop(session, Invoice, number, workshop_id, missing)


def _decision_of(invoice: Invoice) -> VatDecision:
    """The VAT decision an invoice was issued under (a credit note repeats it)."""
    return VatDecision(
        VatTreatment(invoice.treatment),
        invoice.rate_bp,
        invoice.rate_country,
        vat_mentions(VatTreatment(invoice.treatment)),
    )
