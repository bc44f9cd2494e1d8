"""Access: prices, credit ledger, vouchers, ticket purchases and tickets.

The ledger is append-only: the balance of a workshop is the sum of its entries. The
`credit_accounts` row exists so every balance-changing transaction can lock one row per
workshop (SELECT ... FOR UPDATE on PostgreSQL; SQLite serialises writers with BEGIN IMMEDIATE).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base


class PriceChange(Base):
    """An administrator's price for one service and period; the newest one is the price."""

    __tablename__ = "price_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(16))
    price_cents: Mapped[int] = mapped_column(Integer)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime]

    __table_args__ = (Index("ix_price_changes_service_period", "service", "period"),)


class CreditAccount(Base):
    __tablename__ = "credit_accounts"

    workshop_id: Mapped[str] = mapped_column(ForeignKey("workshops.id"), primary_key=True)
    created_at: Mapped[datetime]


class LedgerEntry(Base):
    """One signed movement of credit in cents. Never updated, never deleted."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    workshop_id: Mapped[str] = mapped_column(ForeignKey("credit_accounts.workshop_id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(Integer)
    # "<operation>:<client key>", unique per workshop: a retried write finds its first result.
    idempotency_key: Mapped[str] = mapped_column(String(140))
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("workshop_id", "idempotency_key"),)


class Voucher(Base):
    __tablename__ = "vouchers"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    redeemed_by_workshop_id: Mapped[str | None] = mapped_column(ForeignKey("workshops.id"))
    redeemed_at: Mapped[datetime | None]


class TicketPurchase(Base):
    """One purchase request; its state follows TicketPurchaseWorkflow (reserved .. confirmed)."""

    __tablename__ = "ticket_purchases"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workshop_id: Mapped[str] = mapped_column(ForeignKey("workshops.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(100))
    service: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(16))
    price_cents: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    ticket_id: Mapped[str | None] = mapped_column(String(64))
    requested_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("workshop_id", "idempotency_key"),)


class Ticket(Base):
    """Access to one service for [starts_at, ends_at), at the price it was sold for."""

    __tablename__ = "tickets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workshop_id: Mapped[str] = mapped_column(ForeignKey("workshops.id"))
    service: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(16))
    price_cents: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    purchase_id: Mapped[str] = mapped_column(ForeignKey("ticket_purchases.id"), unique=True)
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_tickets_workshop_id_service", "workshop_id", "service"),)
