"""The access activities: the steps of a ticket purchase and the access check for workflows.

`AccessActivities(repository)` is registered on the portal worker. Business refusals leave
as non-retryable ApplicationErrors typed by the domain code (contracts/errors.py).
"""

from __future__ import annotations

from temporalio import activity
from temporalio.common import WorkflowIDConflictPolicy

from contracts import access as contract
from contracts.access import (
    ENTITLEMENT_WORKFLOW,
    ActivateEntitlementInput,
    EntitlementCheckInput,
    EntitlementGrant,
    EntitlementInput,
    EntitlementSignal,
    IssuedTicket,
    IssueTicketInput,
    PurchaseInput,
    ReleaseOutcome,
    RemainingTime,
    Reservation,
    ReserveCreditInput,
    TicketIssued,
    TicketWindow,
    entitlement_workflow_id,
)
from contracts.errors import domain_errors_as_application_errors
from contracts.search_attributes import workshop_scope
from contracts.stubs import implements
from db.access_repository import AccessRepository
from db.models.access import Ticket
from domain.catalogue import Service, TicketPeriod
from domain.languages import DEFAULT_LANGUAGE, Language


def issued_ticket(
    ticket: Ticket,
    notify_email: str | None = None,
    notify_language: Language = DEFAULT_LANGUAGE,
) -> IssuedTicket:
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
        notify_language=notify_language,
    )


class AccessActivities:
    def __init__(self, repository: AccessRepository) -> None:
        self._repository = repository

    @implements(contract.reserve_credit)
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

    @implements(contract.issue_ticket)
    async def issue_ticket(self, request: IssueTicketInput) -> IssuedTicket:
        with domain_errors_as_application_errors():
            ticket, email, language = await self._repository.issue_ticket(
                request.purchase_id, request.at
            )
        return issued_ticket(ticket, email, language)

    @implements(contract.activate_entitlement)
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
            notify_language=ticket.notify_language,
        )
        await activity.client().start_workflow(
            ENTITLEMENT_WORKFLOW,
            EntitlementInput(
                workshop_id=ticket.workshop_id,
                service=ticket.service,
                tickets=windows,
                notify_email=ticket.notify_email,
                notify_language=ticket.notify_language,
            ),
            id=entitlement_workflow_id(ticket.workshop_id, ticket.service),
            task_queue=activity.info().task_queue,
            start_signal=EntitlementSignal.TICKET_ISSUED,
            start_signal_args=[issued],
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=workshop_scope(ticket.workshop_id),
        )

    @implements(contract.confirm_purchase)
    async def confirm_purchase(self, request: PurchaseInput) -> None:
        with domain_errors_as_application_errors():
            await self._repository.confirm_purchase(request.purchase_id)

    @implements(contract.release_credit)
    async def release_credit(self, request: PurchaseInput) -> ReleaseOutcome:
        """Compensation: a refund entry for the reservation, unless the ticket exists after all."""
        with domain_errors_as_application_errors():
            return ReleaseOutcome(
                released=await self._repository.release_credit(request.purchase_id)
            )

    @implements(contract.check_entitlement)
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

    @implements(contract.remaining_coverage)
    async def remaining_coverage(self, request: EntitlementCheckInput) -> RemainingTime:
        """Covered time left at `at` (zero without coverage); never refuses."""
        return RemainingTime(
            remaining=await self._repository.remaining(
                request.workshop_id, request.service, request.at
            )
        )
