"""Teleservices: the signed messages the connected-car backend delivered, and the ticket list.

`inbound_messages` holds every accepted message once, by its `webhook-id` (unique): a second
delivery of the same id is a replay. Refused messages are not stored (an audit line says why).
`teleservice_tickets` and `remote_key_read_requests` are the lists the page and the API read: each TeleserviceTicketWorkflow
and RemoteKeyReadWorkflow writes its own row as it changes (the workflow is the truth, the row its last known state).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base


class InboundMessage(Base):
    __tablename__ = "inbound_messages"

    message_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    vin: Mapped[str] = mapped_column(String(17), index=True)
    received_at: Mapped[datetime]
    # None: stored but its tickets were not told yet (a crash in between); a redelivery then
    # finishes it instead of being refused as a replay.
    processed_at: Mapped[datetime | None]
    body: Mapped[dict[str, Any]] = mapped_column(JSON)


class TeleserviceTicketRecord(Base):
    __tablename__ = "teleservice_tickets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200))
    vin: Mapped[str] = mapped_column(String(17), index=True)
    workshop_id: Mapped[str] = mapped_column(ForeignKey("workshops.id"), index=True)
    item: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(32))
    service_level: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    appointment_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(String(32))
    close_detail: Mapped[str | None] = mapped_column(String(200))
    calls: Mapped[int] = mapped_column(Integer)
    last_call_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_teleservice_tickets_workshop_state", "workshop_id", "state"),)


class RemoteKeyReadRequest(Base):
    """A workshop's remote key-read request (KaSIO "Remote KeyRead-aanvragen"), as its
    RemoteKeyReadWorkflow last wrote it."""

    __tablename__ = "remote_key_read_requests"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200))
    workshop_id: Mapped[str] = mapped_column(ForeignKey("workshops.id"), index=True)
    vin: Mapped[str] = mapped_column(String(17))
    state: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    deadline_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    key_record_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime]
