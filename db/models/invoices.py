"""Payments through the payment provider, invoices and credit notes, and the yearly counter
of their gapless number series.

An invoice is written once and never changed but for `cancelled_by` (the number of the credit
note that cancels it). Seller and buyer are copied onto it as they were when it was issued.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base


class Payment(Base):
    """One top-up paid through the payment provider; its state follows PaymentWorkflow."""

    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workshop_id: Mapped[str] = mapped_column(ForeignKey("workshops.id"), index=True)
    credit_cents: Mapped[int] = mapped_column(Integer)  # what the ledger receives
    vat_cents: Mapped[int] = mapped_column(Integer)
    total_cents: Mapped[int] = mapped_column(Integer)  # what the provider charges
    state: Mapped[str] = mapped_column(String(16))  # pending, paid, failed, cancelled, abandoned
    provider_reference: Mapped[str | None] = mapped_column(String(100))
    requested_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class InvoiceCounter(Base):
    """The last number given in a year's series; its row is locked by the UPDATE that takes
    the next number, so concurrent invoices queue and a rolled-back one leaves no gap."""

    __tablename__ = "invoice_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer)


class Invoice(Base):
    __tablename__ = "invoices"

    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # invoice, credit_note
    workshop_id: Mapped[str] = mapped_column(ForeignKey("workshops.id"), index=True)
    # What it invoices, unique: "payment:<id>", "ticket:<id>", "cancels:<number>". Issuing
    # twice for the same source finds the first invoice.
    source: Mapped[str] = mapped_column(String(100), unique=True)
    issued_at: Mapped[datetime]
    seller: Mapped[dict[str, Any]] = mapped_column(JSON)
    buyer: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The one line: {"item": "top_up"|"ticket", "service", "period", "starts_at", "ends_at"}.
    line: Mapped[dict[str, Any]] = mapped_column(JSON)
    treatment: Mapped[str] = mapped_column(String(16))
    rate_bp: Mapped[int] = mapped_column(Integer)
    rate_country: Mapped[str | None] = mapped_column(String(2))
    net_cents: Mapped[int] = mapped_column(Integer)
    vat_cents: Mapped[int] = mapped_column(Integer)
    total_cents: Mapped[int] = mapped_column(Integer)
    credits_number: Mapped[str | None] = mapped_column(String(20))  # a credit note's invoice
    cancelled_by: Mapped[str | None] = mapped_column(String(20))
