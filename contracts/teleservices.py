"""Teleservices: the TeleserviceTicketWorkflow, its signals, updates and activities.

A ticket's workflow id is `teleservice-ticket-<vin search value>-<item>`: one open ticket per
due item per car, whatever delivers the call (signal-with-start adds a repeated call to the
running ticket; a closed ticket's id may start again). The VIN appears only as its keyed search
value (contracts.search_attributes), never in clear.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field
from temporalio import activity

from domain.teleservices import (
    MAX_CLOSE_REASON_LENGTH,
    CloseReason,
    MessageKind,
    ServiceLevel,
    TicketNoticeKind,
    TicketState,
)

TELESERVICE_TICKET_WORKFLOW = "TeleserviceTicketWorkflow"


def teleservice_ticket_workflow_id(vin_search: str, item: str) -> str:
    return f"teleservice-ticket-{vin_search}-{item}"


class TicketSignal(StrEnum):
    ADD_CALL = "add_call"
    SERVICE_ENTRY_CREATED = "service_entry_created"
    ITEM_RESOLVED = "item_resolved"


class TicketUpdate(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    PLAN_APPOINTMENT = "plan_appointment"
    CLOSE = "close"


TICKET_STATUS_QUERY = "status"


class TicketCall(BaseModel):
    """One message of the car that concerns the ticket's item (the signal `add_call`)."""

    message_id: str
    kind: MessageKind
    received_at: datetime
    mileage_km: int | None = None


class TicketCarry(BaseModel):
    """A ticket's state, carried into its next run (continue-as-new)."""

    state: TicketState
    opened_at: datetime
    calls: list[TicketCall]
    seen_messages: list[str]
    notices_sent: list[str]
    acknowledged_at: datetime | None = None
    appointment_at: datetime | None = None


class TeleserviceTicketInput(BaseModel):
    ticket_id: str
    vin: str
    vin_search: str
    item: str
    workshop_id: str = Field(description="The car's service partner when the ticket opened")
    carried: TicketCarry | None = None  # None: a new ticket


class EntryCoversItem(BaseModel):
    """The signal a ServiceEntryWorkflow sends to a ticket its entry covers."""

    entry_id: str
    workshop_id: str
    cbs_items: list[str]


class ItemResolvedByCar(BaseModel):
    message_id: str
    received_at: datetime


class AcknowledgeInput(BaseModel):
    acknowledged_by: str = ""


class PlanAppointmentInput(BaseModel):
    appointment_at: datetime
    planned_by: str = ""


class CloseTicketInput(BaseModel):
    reason: str = Field(max_length=MAX_CLOSE_REASON_LENGTH)
    closed_by: str = ""


class TeleserviceTicketStatus(BaseModel):
    ticket_id: str
    workflow_id: str
    vin: str
    item: str
    workshop_id: str
    state: TicketState
    service_level: ServiceLevel
    opened_at: datetime
    acknowledged_at: datetime | None = None
    appointment_at: datetime | None = None
    closed_at: datetime | None = None
    close_reason: CloseReason | None = None
    close_detail: str | None = None
    calls: list[TicketCall] = []
    notices_sent: list[str] = []


# --- activities (portal worker: activities.teleservices) ---------------------------------------


class TicketNoticeInput(BaseModel):
    ticket_id: str
    workshop_id: str
    item: str
    kind: TicketNoticeKind
    due_at: datetime


class FindOpenTicketsInput(BaseModel):
    vin: str


class OpenTicketRef(BaseModel):
    ticket_id: str
    workflow_id: str
    item: str


class OpenTickets(BaseModel):
    tickets: list[OpenTicketRef] = []


_PORTAL = "runs on the portal worker: activities.teleservices"


@activity.defn(name="record_teleservice_ticket")
async def record_teleservice_ticket(status: TeleserviceTicketStatus) -> None:
    """Write the ticket's state into the ticket list (the page's and the API's list)."""
    raise NotImplementedError(_PORTAL)


@activity.defn(name="send_teleservice_ticket_notice")
async def send_teleservice_ticket_notice(notice: TicketNoticeInput) -> None:
    """A reminder to the workshop, or an escalation to the operators (outbox mail), once."""
    raise NotImplementedError(_PORTAL)


@activity.defn(name="find_open_teleservice_tickets")
async def find_open_teleservice_tickets(request: FindOpenTicketsInput) -> OpenTickets:
    """The car's open tickets (a new service entry tells those it covers)."""
    raise NotImplementedError(_PORTAL)
