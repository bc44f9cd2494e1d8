"""Reading and writing teleservices: accepted inbound messages (by webhook-id, once), the
teleservice ticket list, and a car's service partner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.remote_key_reads import RemoteKeyReadStatus
from contracts.teleservices import OpenTicketRef, TeleserviceTicketStatus
from db.engine import reading
from db.models import (
    InboundMessage,
    RemoteKeyReadRequest,
    TeleserviceTicketRecord,
    User,
    Vehicle,
    Workshop,
)
from db.rows import get_of_workshop, get_or_add, get_or_raise, insert_once
from domain.languages import Language, language_or_default
from domain.remote_key_reads import RemoteKeyReadNotFound
from domain.service_history import VehicleNotFound
from domain.teleservices import OPEN_TICKET_STATES, ServiceLevel, TicketNotFound, VehicleFactsReport


@dataclass(frozen=True)
class StoredMessage:
    """What storing a message found: `new` (this delivery stored it) and whether it was
    processed already (a replay) or not (a crash between storing and telling the tickets)."""

    new: bool
    processed: bool


class TeleserviceRepository:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    # --- inbound messages ------------------------------------------------------------------

    async def store_message(
        self, message_id: str, kind: str, vin: str, body: dict[str, Any], at: datetime
    ) -> StoredMessage:
        """Store the message once by its id. Two deliveries at once: the primary key lets one
        insert; the other finds its row."""
        message = InboundMessage(
            message_id=message_id,
            kind=kind,
            vin=vin,
            received_at=at,
            processed_at=None,
            body=body,
        )
        if await insert_once(self._session_factory, message):
            return StoredMessage(new=True, processed=False)
        async with reading(self._session_factory) as session:
            found = await session.get(InboundMessage, message_id)
        return StoredMessage(new=False, processed=found is None or found.processed_at is not None)

    async def mark_processed(self, message_id: str, at: datetime) -> None:
        async with self._session_factory() as session, session.begin():
            message = await session.get(InboundMessage, message_id)
            if message is not None and message.processed_at is None:
                message.processed_at = at

    async def message_count(self) -> int:
        async with reading(self._session_factory) as session:
            return int(await session.scalar(select(func.count()).select_from(InboundMessage)) or 0)

    # --- the car's service partner ----------------------------------------------------------

    async def service_partner(self, vin: str) -> str | None:
        """The car's service partner; None for an unknown car or one without a partner."""
        async with reading(self._session_factory) as session:
            vehicle = await session.get(Vehicle, vin)
        return vehicle.service_partner_id if vehicle is not None else None

    async def assign_service_partner(self, vin: str, workshop_id: str | None, at: datetime) -> bool:
        """Set the car's partner; False when the car or the workshop is unknown."""
        async with self._session_factory() as session, session.begin():
            vehicle = await session.get(Vehicle, vin)
            if vehicle is None:
                return False
            if workshop_id is not None and await session.get(Workshop, workshop_id) is None:
                return False
            vehicle.service_partner_id = workshop_id
            vehicle.updated_at = at
        return True

    async def vehicle(self, vin: str) -> Vehicle:
        async with reading(self._session_factory) as session:
            missing = VehicleNotFound(f"no vehicle with the VIN {vin}", field="vin")
            return await get_or_raise(session, Vehicle, vin, missing)

    async def update_vehicle_facts(self, facts: VehicleFactsReport, at: datetime) -> bool:
        """The teleservice facts the backend reports; False for a car the portal does not know.
        A partner the portal does not know is left as it was."""
        async with self._session_factory() as session, session.begin():
            vehicle = await session.get(Vehicle, facts.vin)
            if vehicle is None:
                return False
            vehicle.teleservice_eligible = facts.teleservice_capable
            vehicle.connected_drive_contract = facts.connected_drive_contract
            vehicle.remote_key_read_eligible = facts.remote_key_read_capable
            partner = facts.service_partner_id
            if partner is not None and await session.get(Workshop, partner) is not None:
                vehicle.service_partner_id = partner
            vehicle.updated_at = at
        return True

    async def workshop_contact(self, workshop_id: str) -> tuple[str, Language] | None:
        """The workshop's contact email and the language of its account (English when the
        address is nobody's account); None for an unknown workshop."""
        async with reading(self._session_factory) as session:
            row = (
                await session.execute(
                    select(Workshop.contact_email, User.language)
                    .outerjoin(User, User.email == Workshop.contact_email)
                    .where(Workshop.id == workshop_id)
                )
            ).first()
        return (row[0], language_or_default(row[1])) if row is not None else None

    # --- the ticket list --------------------------------------------------------------------

    async def record_ticket(self, status: TeleserviceTicketStatus, at: datetime) -> None:
        """Write the workflow's state of a ticket into its row (created on its first write)."""
        async with self._session_factory() as session, session.begin():
            row = await get_or_add(session, TeleserviceTicketRecord, status.ticket_id)
            row.workflow_id = status.workflow_id
            row.vin = status.vin
            row.workshop_id = status.workshop_id
            row.item = status.item
            row.state = status.state
            row.service_level = status.service_level
            row.opened_at = status.opened_at
            row.acknowledged_at = status.acknowledged_at
            row.appointment_at = status.appointment_at
            row.closed_at = status.closed_at
            row.close_reason = status.close_reason
            row.close_detail = status.close_detail
            row.calls = len(status.calls)
            row.last_call_at = max(
                (call.received_at for call in status.calls), default=status.opened_at
            )
            row.updated_at = at

    async def open_tickets(self, vin: str) -> list[OpenTicketRef]:
        async with reading(self._session_factory) as session:
            rows = await session.scalars(
                select(TeleserviceTicketRecord)
                .where(TeleserviceTicketRecord.vin == vin)
                .where(TeleserviceTicketRecord.state.in_(OPEN_TICKET_STATES))
                .order_by(TeleserviceTicketRecord.opened_at)
            )
            return [
                OpenTicketRef(ticket_id=row.id, workflow_id=row.workflow_id, item=row.item)
                for row in rows
            ]

    async def tickets(
        self,
        workshop_id: str,
        *,
        open_only: bool = False,
        service_level: ServiceLevel | None = None,
        vin: str | None = None,
        limit: int = 200,
    ) -> Sequence[TeleserviceTicketRecord]:
        """The workshop's tickets, newest first."""
        query = select(TeleserviceTicketRecord).where(
            TeleserviceTicketRecord.workshop_id == workshop_id
        )
        if open_only:
            query = query.where(TeleserviceTicketRecord.state.in_(OPEN_TICKET_STATES))
        if service_level is not None:
            query = query.where(TeleserviceTicketRecord.service_level == service_level.value)
        if vin is not None:
            query = query.where(TeleserviceTicketRecord.vin == vin)
        query = query.order_by(
            TeleserviceTicketRecord.opened_at.desc(), TeleserviceTicketRecord.id
        ).limit(limit)
        async with reading(self._session_factory) as session:
            return (await session.scalars(query)).all()

    async def ticket(self, ticket_id: str, workshop_id: str | None) -> TeleserviceTicketRecord:
        """One ticket; another workshop's answers as an unknown one (`workshop_id` None: any)."""
        async with reading(self._session_factory) as session:
            missing = TicketNotFound("no teleservice ticket with this id")
            return await get_of_workshop(
                session, TeleserviceTicketRecord, ticket_id, workshop_id, missing
            )

    # --- remote key-read requests ---------------------------------------------------------

    async def record_remote_request(self, status: RemoteKeyReadStatus, at: datetime) -> None:
        async with self._session_factory() as session, session.begin():
            row = await get_or_add(session, RemoteKeyReadRequest, status.request_id)
            row.workflow_id = status.workflow_id
            row.workshop_id = status.workshop_id
            row.vin = status.vin
            row.state = status.state
            row.requested_by = status.requested_by
            row.requested_at = status.requested_at
            row.deadline_at = status.deadline_at
            row.ended_at = status.ended_at
            row.key_record_id = status.key_record.key_record_id if status.key_record else None
            row.updated_at = at

    async def remote_requests(
        self, workshop_id: str, limit: int = 200
    ) -> Sequence[RemoteKeyReadRequest]:
        """The workshop's requests, newest first."""
        async with reading(self._session_factory) as session:
            rows = await session.scalars(
                select(RemoteKeyReadRequest)
                .where(RemoteKeyReadRequest.workshop_id == workshop_id)
                .order_by(RemoteKeyReadRequest.requested_at.desc(), RemoteKeyReadRequest.id)
                .limit(limit)
            )
            return rows.all()

    async def remote_request(
        self, request_id: str, workshop_id: str | None
    ) -> RemoteKeyReadRequest:
        async with reading(self._session_factory) as session:
            missing = RemoteKeyReadNotFound("no remote key-read request with this id")
            return await get_of_workshop(
                session, RemoteKeyReadRequest, request_id, workshop_id, missing
            )
