"""The access activities: the steps of a ticket purchase and the access check for workflows.

`AccessActivities(repository)` is registered on the portal worker. Business refusals leave
as non-retryable ApplicationErrors typed by the domain code (workflows/errors.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import activity
from temporalio.common import WorkflowIDConflictPolicy

from db.access_repository import AccessRepository
from db.models.access import Ticket
from domain.catalogue import Service, TicketPeriod
from workflows.entitlement import (
    EntitlementInput,
    EntitlementWorkflow,
    TicketIssued,
    TicketWindow,
    entitlement_workflow_id,
)
from workflows.errors import domain_errors_as_application_errors


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


def issued_ticket(ticket: Ticket, notify_email: str | None = None) -> IssuedTicket:
    return IssuedTicket(
        ticket_id=ticket.id,
        purchase_id=ticket.purchase_id,
        workshop_id=ticket.workshop_id,
        service=Service(ticket.service),
        period=TicketPeriod(ticket.period),
        price_cents=ticket.price_cents,
        starts_at=ticket.starts_at,
        ends_at=ticket.ends_at,
        notify_email=notify_email,
    )


class AccessActivities:
    def __init__(self, repository: AccessRepository) -> None:
        self._repository = repository

    @activity.defn
    async def reserve_credit(self, request: ReserveCreditInput) -> Reservation:
        """Take the ticket's current price off the balance (or refuse: insufficient-credit)."""
        with domain_errors_as_application_errors():
            purchase = await self._repository.reserve_credit(
                request.workshop_id,
                request.idempotency_key,
                request.service,
                request.period,
                request.requested_by,
            )
        return Reservation(purchase_id=purchase.id, price_cents=purchase.price_cents)

    @activity.defn
    async def issue_ticket(self, request: IssueTicketInput) -> IssuedTicket:
        with domain_errors_as_application_errors():
            ticket, email = await self._repository.issue_ticket(request.purchase_id, request.at)
        return issued_ticket(ticket, email)

    @activity.defn
    async def activate_entitlement(self, request: ActivateEntitlementInput) -> None:
        """Signal-with-start the workshop's EntitlementWorkflow for the ticket's service."""
        ticket = request.ticket
        windows = [
            TicketWindow(
                ticket_id=t.id,
                period=TicketPeriod(t.period),
                starts_at=t.starts_at,
                ends_at=t.ends_at,
            )
            for t in await self._repository.tickets(ticket.workshop_id, ticket.service)
            if t.ends_at >= ticket.starts_at
        ]
        issued = TicketIssued(
            ticket=TicketWindow(
                ticket_id=ticket.ticket_id,
                period=ticket.period,
                starts_at=ticket.starts_at,
                ends_at=ticket.ends_at,
            ),
            notify_email=ticket.notify_email,
        )
        await activity.client().start_workflow(
            EntitlementWorkflow.run,
            EntitlementInput(
                workshop_id=ticket.workshop_id,
                service=ticket.service,
                tickets=windows,
                notify_email=ticket.notify_email,
            ),
            id=entitlement_workflow_id(ticket.workshop_id, ticket.service),
            task_queue=activity.info().task_queue,
            start_signal="ticket_issued",
            start_signal_args=[issued],
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )

    @activity.defn
    async def confirm_purchase(self, request: PurchaseInput) -> None:
        with domain_errors_as_application_errors():
            await self._repository.confirm_purchase(request.purchase_id)

    @activity.defn
    async def release_credit(self, request: PurchaseInput) -> ReleaseOutcome:
        """Compensation: a refund entry for the reservation, unless the ticket exists after all."""
        with domain_errors_as_application_errors():
            return ReleaseOutcome(
                released=await self._repository.release_credit(request.purchase_id)
            )

    @activity.defn
    async def check_entitlement(self, request: EntitlementCheckInput) -> EntitlementGrant:
        """The access check for workflows, at the workflow's time `at`.

        Refuses with `access-expired` or `no-access` (non-retryable ApplicationError).
        """
        with domain_errors_as_application_errors():
            coverage = await self._repository.check_entitlement(
                request.workshop_id, request.service, request.at
            )
        return EntitlementGrant(
            workshop_id=request.workshop_id,
            service=request.service,
            starts_at=coverage.window.starts_at,
            ends_at=coverage.window.ends_at,
            remaining=coverage.remaining,
        )

    @activity.defn
    async def remaining_coverage(self, request: EntitlementCheckInput) -> RemainingTime:
        """Covered time left at `at` (zero without coverage); never refuses."""
        return RemainingTime(
            remaining=await self._repository.remaining(
                request.workshop_id, request.service, request.at
            )
        )
