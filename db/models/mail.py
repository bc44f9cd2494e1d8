"""Mail the portal sent while no SMTP server is configured (the embedded mode's inbox)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base


class OutboxMail(Base):
    __tablename__ = "outbox_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The sender's idempotency key: an activity retry must not store the same mail twice.
    message_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64))
