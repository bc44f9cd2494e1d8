"""Teleservices (pure): what a connected car sends, the teleservice ticket's states and its
service levels on working days.

A connected car sends its Condition Based Service (CBS) items when they come due (Teleservice
Call), a low-battery warning (Battery Guard), or the driver's service request. Each due item
opens one ticket for the car's service partner; while that ticket is open the same item of the
same car opens no second one, a repeated call is added to it. A ticket goes
new → acknowledged → appointment planned → closed; it closes when a service entry covering its
item is created, by hand with a reason, or when the car reports the item resolved.

Service levels count working days (Monday to Friday; a calendar may add holidays): a ticket
not acknowledged within 2 working days reminds the workshop, within 4 it is escalated to the
operators; a planned appointment that passes (a working day after it) without an entry
reminds the workshop again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field
from statemachine import State, StateMachine

from domain.errors import Conflict, DomainError, NotFound
from domain.key_data import KeyData
from domain.vin import VIN_PATTERN

# --- what the car sends -----------------------------------------------------------------------

MAX_INBOUND_MESSAGE_BYTES = 64 * 1024
"""A message larger than this is refused before it is read whole (a Teleservice Call holds a
few dozen CBS items and check-control messages: a few KiB)."""

MAX_ITEMS_PER_CALL = 64
ITEM_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"

BATTERY_ITEM = "battery"
SERVICE_REQUEST_ITEM = "service_request"


class MessageKind(StrEnum):
    TELESERVICE_CALL = "teleservice_call"
    BATTERY_GUARD = "battery_guard"
    SERVICE_REQUEST = "service_request"
    ITEM_RESOLVED = "item_resolved"
    KEY_READ = "key_read"
    VEHICLE_FACTS = "vehicle_facts"


class CbsStatus(StrEnum):
    OK = "ok"
    DUE = "due"
    OVERDUE = "overdue"


class CbsReport(BaseModel):
    cbs_id: str = Field(pattern=ITEM_PATTERN, description="CBS item id, e.g. engine_oil")
    status: CbsStatus
    due_date: date | None = None
    remaining_km: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)


class CheckControlMessage(BaseModel):
    code: int = Field(ge=0, le=65_535)
    severity: Literal["info", "warning", "critical"]
    text: str = Field(default="", max_length=200)


class _CarMessage(BaseModel):
    vin: str = Field(pattern=VIN_PATTERN)
    sent_at: datetime
    mileage_km: int | None = Field(default=None, ge=0, le=2_000_000)


class TeleserviceCall(_CarMessage):
    """The car's service data, sent on its own when CBS items come due."""

    kind: Literal[MessageKind.TELESERVICE_CALL] = MessageKind.TELESERVICE_CALL
    cbs: list[CbsReport] = Field(default=[], max_length=MAX_ITEMS_PER_CALL)
    check_control: list[CheckControlMessage] = Field(default=[], max_length=MAX_ITEMS_PER_CALL)


class BatteryGuard(_CarMessage):
    """The car's low-battery warning."""

    kind: Literal[MessageKind.BATTERY_GUARD] = MessageKind.BATTERY_GUARD
    voltage: float = Field(ge=0, le=60)


class ServiceRequest(_CarMessage):
    """The driver asks for service from the car."""

    kind: Literal[MessageKind.SERVICE_REQUEST] = MessageKind.SERVICE_REQUEST
    remark: str = Field(default="", max_length=200)


class ItemResolved(_CarMessage):
    """The car reports that a due item is no longer due (reset in the car)."""

    kind: Literal[MessageKind.ITEM_RESOLVED] = MessageKind.ITEM_RESOLVED
    item: str = Field(pattern=ITEM_PATTERN)


class RemoteKeyData(_CarMessage):
    """The car's answer to a remote key-read request: its key data."""

    kind: Literal[MessageKind.KEY_READ] = MessageKind.KEY_READ
    request_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    key: KeyData


class VehicleFactsReport(_CarMessage):
    """What the backend knows of a car's teleservices: the vehicle page's facts."""

    kind: Literal[MessageKind.VEHICLE_FACTS] = MessageKind.VEHICLE_FACTS
    teleservice_capable: bool
    connected_drive_contract: bool
    remote_key_read_capable: bool
    service_partner_id: str | None = Field(default=None, max_length=64)


AnyCarMessage = (
    TeleserviceCall
    | BatteryGuard
    | ServiceRequest
    | ItemResolved
    | RemoteKeyData
    | VehicleFactsReport
)
CarMessage = Annotated[AnyCarMessage, Field(discriminator="kind")]


def due_items(message: AnyCarMessage) -> list[str]:
    """The items of a message that open a ticket or are added to an open one."""
    if isinstance(message, TeleserviceCall):
        due = [item.cbs_id for item in message.cbs if item.status != CbsStatus.OK]
        return sorted(set(due))
    if isinstance(message, BatteryGuard):
        return [BATTERY_ITEM]
    if isinstance(message, ServiceRequest):
        return [SERVICE_REQUEST_ITEM]
    return []


def covered_by_entry(item: str, entry_cbs_items: Iterable[str]) -> bool:
    """Whether a service entry with these CBS items closes a ticket for `item`: a CBS item is
    covered when the entry performed it; a service request or a battery warning by any entry
    (the car was at the workshop)."""
    if item in (SERVICE_REQUEST_ITEM, BATTERY_ITEM):
        return True
    return item in set(entry_cbs_items)


# --- the ticket ---------------------------------------------------------------------------------


class TeleserviceTicketMachine(StateMachine):
    """new → acknowledged → appointment planned → closed; closed from any open state."""

    new = State(initial=True)
    acknowledged = State()
    appointment_planned = State("Appointment planned")
    closed = State(final=True)

    acknowledge = new.to(acknowledged)
    plan_appointment = acknowledged.to(appointment_planned) | appointment_planned.to(
        appointment_planned
    )
    close = new.to(closed) | acknowledged.to(closed) | appointment_planned.to(closed)


TicketState = Literal["new", "acknowledged", "appointment_planned", "closed"]
OPEN_TICKET_STATES: frozenset[str] = frozenset({"new", "acknowledged", "appointment_planned"})


class CloseReason(StrEnum):
    SERVICE_ENTRY = "service_entry"
    BY_HAND = "by_hand"
    RESOLVED_BY_CAR = "resolved_by_car"


class ServiceLevel(StrEnum):
    """Where a ticket stands against its service levels (the page's filters)."""

    ON_TIME = "on_time"
    DUE = "due"  # the workshop was reminded
    OVERDUE = "overdue"  # escalated to the operators, or the appointment passed without entry


class TicketNoticeKind(StrEnum):
    ACKNOWLEDGE_REMINDER = "acknowledge_reminder"
    ESCALATION = "escalation"
    APPOINTMENT_MISSED = "appointment_missed"


CALLS_PER_RUN = 500
"""A ticket continues as a new run (its state carried over) after this many calls in one run,
or earlier when Temporal suggests it: a car that calls every few minutes for weeks must not
grow one history without bound."""
MESSAGE_IDS_KEPT = 1000  # the ids a ticket remembers to count a redelivered message once

ACKNOWLEDGE_REMINDER_WORKING_DAYS = 2
ESCALATION_WORKING_DAYS = 4
APPOINTMENT_GRACE_WORKING_DAYS = 1
MAX_CLOSE_REASON_LENGTH = 200


class TicketNotFound(NotFound):
    code = "teleservice-ticket-not-found"
    title = "No teleservice ticket with this id"


class TicketStepNotAllowed(Conflict):
    code = "teleservice-ticket-step-not-allowed"
    title = "The ticket is not in a state that allows this step"


class InvalidTicketStep(DomainError):
    code = "invalid-teleservice-ticket-step"
    title = "The ticket step is not valid"


ALLOWED_STEPS: dict[str, frozenset[str]] = {
    "new": frozenset({"acknowledge", "close"}),
    "acknowledged": frozenset({"plan_appointment", "close"}),
    "appointment_planned": frozenset({"plan_appointment", "close"}),
    "closed": frozenset(),
}


def ensure_ticket_step(state: str, step: str) -> None:
    if step not in ALLOWED_STEPS.get(state, frozenset()):
        raise TicketStepNotAllowed(
            f"a ticket that is {state.replace('_', ' ')} cannot take the step {step!r}",
            state=state,
        )


def check_close_reason(reason: str) -> None:
    if not reason.strip():
        raise InvalidTicketStep("closing by hand needs a reason", field="reason")
    if len(reason) > MAX_CLOSE_REASON_LENGTH:
        raise InvalidTicketStep(
            f"the reason has at most {MAX_CLOSE_REASON_LENGTH} characters", field="reason"
        )


class InvalidAppointment(DomainError):
    code = "invalid-appointment"
    title = "The appointment is not within the next year"


def check_appointment(appointment_at: datetime, now: datetime) -> None:
    if appointment_at < now:
        raise InvalidAppointment("the appointment is in the past", field="appointment_at")
    if appointment_at > now + timedelta(days=366):
        raise InvalidAppointment(
            "the appointment is more than a year ahead", field="appointment_at"
        )


# --- working days -------------------------------------------------------------------------------


def is_working_day(day: date, holidays: frozenset[date] = frozenset()) -> bool:
    """Monday to Friday, except the calendar's holidays."""
    return day.weekday() < 5 and day not in holidays


def add_working_days(
    start: datetime, days: int, holidays: frozenset[date] = frozenset()
) -> datetime:
    """The moment `days` working days after `start`, at the same time of day: each following
    day that is a working day counts one. A ticket opened on Friday at 10:00 is 2 working days
    old on Tuesday at 10:00; one opened on Saturday, on Tuesday too."""
    moment, counted = start, 0
    while counted < days:
        moment += timedelta(days=1)
        if is_working_day(moment.date(), holidays):
            counted += 1
    return moment


def next_service_level_deadline(
    state: str,
    opened_at: datetime,
    appointment_at: datetime | None,
    notices_sent: Iterable[str],
    holidays: frozenset[date] = frozenset(),
) -> tuple[datetime, TicketNoticeKind] | None:
    """The next service-level notice a ticket owes and when, or None."""
    sent = set(notices_sent)
    if state == "new":
        if TicketNoticeKind.ACKNOWLEDGE_REMINDER not in sent:
            at = add_working_days(opened_at, ACKNOWLEDGE_REMINDER_WORKING_DAYS, holidays)
            return at, TicketNoticeKind.ACKNOWLEDGE_REMINDER
        if TicketNoticeKind.ESCALATION not in sent:
            return (
                add_working_days(opened_at, ESCALATION_WORKING_DAYS, holidays),
                TicketNoticeKind.ESCALATION,
            )
        return None
    if state == "appointment_planned" and appointment_at is not None:
        key = f"{TicketNoticeKind.APPOINTMENT_MISSED}:{appointment_at.isoformat()}"
        if key not in sent:
            at = add_working_days(appointment_at, APPOINTMENT_GRACE_WORKING_DAYS, holidays)
            return at, TicketNoticeKind.APPOINTMENT_MISSED
    return None


def notice_key(kind: TicketNoticeKind, appointment_at: datetime | None) -> str:
    """How a sent notice is remembered: a missed appointment once per appointment."""
    if kind == TicketNoticeKind.APPOINTMENT_MISSED and appointment_at is not None:
        return f"{kind}:{appointment_at.isoformat()}"
    return str(kind)


def service_level(notices_sent: Iterable[str]) -> ServiceLevel:
    """The worst notice a ticket owed: escalated or a missed appointment is overdue, a
    reminder due."""
    sent = set(notices_sent)
    if TicketNoticeKind.ESCALATION in sent or any(
        key.startswith(TicketNoticeKind.APPOINTMENT_MISSED) for key in sent
    ):
        return ServiceLevel.OVERDUE
    if TicketNoticeKind.ACKNOWLEDGE_REMINDER in sent:
        return ServiceLevel.DUE
    return ServiceLevel.ON_TIME
