"""Access: the ticket purchase and entitlement flows, and the access activities they call.

Workflows, activities and the API meet here; none of them imports another.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel
from temporalio import activity

from domain.catalogue import Service, TicketPeriod
from domain.languages import DEFAULT_LANGUAGE, Language

# --- the access activities (portal worker) ---------------------------------------------------


class ReserveCreditInput(BaseModel):
    workshop_id: str
    idempotency_key: str
    service: Service
    period: TicketPeriod
    requested_by: str | None = None


class Reservation(BaseModel):
    purchase_id: str
    price_cents: int


class IssueTicketInput(BaseModel):
    purchase_id: str
    # The workflow's clock: a ticket starts at this instant, or when current coverage ends.
    at: datetime


class IssuedTicket(BaseModel):
    ticket_id: str
    purchase_id: str
    workshop_id: str
    service: Service
    period: TicketPeriod
    price_cents: int
    starts_at: datetime
    ends_at: datetime
    notify_email: str | None = None
    notify_language: Language = DEFAULT_LANGUAGE  # the expiry notices'


class ActivateEntitlementInput(BaseModel):
    ticket: IssuedTicket


class PurchaseInput(BaseModel):
    purchase_id: str


class ReleaseOutcome(BaseModel):
    released: bool


class EntitlementCheckInput(BaseModel):
    workshop_id: str
    service: Service
    at: datetime


class EntitlementGrant(BaseModel):
    workshop_id: str
    service: Service
    starts_at: datetime
    ends_at: datetime
    remaining: timedelta


class RemainingTime(BaseModel):
    remaining: timedelta


_PORTAL = "runs on the portal worker: activities.access"


@activity.defn(name="reserve_credit")
async def reserve_credit(request: ReserveCreditInput) -> Reservation:
    """Take the ticket's price off the balance, or refuse (`insufficient-credit`)."""
    raise NotImplementedError(_PORTAL)


@activity.defn(name="issue_ticket")
async def issue_ticket(request: IssueTicketInput) -> IssuedTicket:
    """The reserved purchase's ticket, from `at` or from the end of current coverage."""
    raise NotImplementedError(_PORTAL)


@activity.defn(name="activate_entitlement")
async def activate_entitlement(request: ActivateEntitlementInput) -> None:
    """Tell the workshop's EntitlementWorkflow of the ticket (signal-with-start)."""
    raise NotImplementedError(_PORTAL)


@activity.defn(name="confirm_purchase")
async def confirm_purchase(request: PurchaseInput) -> None:
    raise NotImplementedError(_PORTAL)


@activity.defn(name="release_credit")
async def release_credit(request: PurchaseInput) -> ReleaseOutcome:
    """Compensation: refund the reservation, unless its ticket exists after all."""
    raise NotImplementedError(_PORTAL)


@activity.defn(name="check_entitlement")
async def check_entitlement(request: EntitlementCheckInput) -> EntitlementGrant:
    """The access check at `at`: the coverage, or a refusal (`access-expired`, `no-access`)."""
    raise NotImplementedError(_PORTAL)


@activity.defn(name="remaining_coverage")
async def remaining_coverage(request: EntitlementCheckInput) -> RemainingTime:
    """Covered time left at `at` (zero without coverage); never refuses."""
    raise NotImplementedError(_PORTAL)


# --- TicketPurchaseWorkflow -------------------------------------------------------------------

TICKET_PURCHASE_WORKFLOW = "TicketPurchaseWorkflow"

PurchaseFlowState = Literal[
    "reserving", "issuing", "confirming", "confirmed", "releasing", "released", "rejected"
]


def ticket_purchase_workflow_id(workshop_id: str, idempotency_key: str) -> str:
    return f"ticket-purchase-{workshop_id}-{idempotency_key}"


class TicketPurchaseInput(BaseModel):
    workshop_id: str
    idempotency_key: str
    service: Service
    period: TicketPeriod
    requested_by: str | None = None


class TicketPurchaseResult(BaseModel):
    purchase_id: str
    ticket: IssuedTicket


# --- EntitlementWorkflow ----------------------------------------------------------------------

ENTITLEMENT_WORKFLOW = "EntitlementWorkflow"

EntitlementFlowState = Literal["waiting", "active", "expired"]


class EntitlementSignal(StrEnum):
    TICKET_ISSUED = "ticket_issued"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"


COVERAGE_QUERY = "coverage"
# What the entitlement flow signals to its subscribers (a programming session waiting for time).
COVERAGE_EXTENDED_SIGNAL = "coverage_extended"


def entitlement_workflow_id(workshop_id: str, service: Service) -> str:
    return f"entitlement-{workshop_id}-{service.value}"


class TicketWindow(BaseModel):
    ticket_id: str
    period: TicketPeriod
    starts_at: datetime
    ends_at: datetime


class TicketIssued(BaseModel):
    ticket: TicketWindow
    notify_email: str | None = None
    notify_language: Language = DEFAULT_LANGUAGE  # the expiry notices'


class Subscription(BaseModel):
    workflow_id: str


class CoverageExtended(BaseModel):
    """Sent to subscribers: coverage of `service` now lasts until `ends_at`."""

    workshop_id: str
    service: Service
    starts_at: datetime
    ends_at: datetime


class CoverageState(BaseModel):
    workshop_id: str
    service: Service
    state: EntitlementFlowState
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    last_ended_at: datetime | None = None
    subscribers: list[str] = []
    notices_sent: list[datetime] = []


class EntitlementInput(BaseModel):
    workshop_id: str
    service: Service
    tickets: list[TicketWindow] = []
    notify_email: str | None = None
    notify_language: Language = DEFAULT_LANGUAGE  # the expiry notices'
    subscribers: list[str] = []
    notices_sent: list[datetime] = []
    last_ended_at: datetime | None = None
    announced_end: datetime | None = None
    # Continue as new once history is this long, before the server would suggest it.
    history_length_limit: int | None = None
