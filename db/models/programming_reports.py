"""Signed programming reports: built once when first asked for after the session ended, then
kept as they were signed (never updated)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base


class ProgrammingReport(Base):
    __tablename__ = "programming_reports"

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workshop_id: Mapped[str] = mapped_column(String(64), index=True)
    key_id: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime]
    document: Mapped[bytes] = mapped_column(LargeBinary)  # the signed JSON, byte for byte
