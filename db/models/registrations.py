"""Workshop applications. The workflow owns the process; this row makes it searchable and
enforces one open application per VAT ID and per contact email."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base


def _one_open_per(column: str) -> Index:
    """A unique index over the open applications only."""
    return Index(
        f"uq_registrations_open_{column}",
        column,
        unique=True,
        sqlite_where=text("is_open"),
        postgresql_where=text("is_open"),
    )


class Registration(Base):
    __tablename__ = "registrations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    is_open: Mapped[bool] = mapped_column(default=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    company_name: Mapped[str] = mapped_column(String(200))
    legal_form: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(500))
    country: Mapped[str] = mapped_column(String(2))
    vat_id: Mapped[str] = mapped_column(String(20), index=True)
    legal_representative: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(320), index=True)
    owner_name: Mapped[str] = mapped_column(String(200))
    vat_check: Mapped[str | None] = mapped_column(String(300))
    decision_reason: Mapped[str | None] = mapped_column(String(1000))
    workshop_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    # One open application per VAT ID and per email; closed ones may repeat.
    __table_args__ = (_one_open_per("vat_id"), _one_open_per("contact_email"))
