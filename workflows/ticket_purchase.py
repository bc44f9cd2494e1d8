"""TicketPurchaseWorkflow: reserve credit -> issue the ticket -> confirm -> invoice.

Id `ticket-purchase-<workshop>-<idempotency key>` (`ticket_purchase_workflow_id`), started with
id-reuse policy REJECT_DUPLICATE and conflict policy USE_EXISTING: a retried request joins the
running purchase or gets the outcome of the finished one, never a second charge.

Outcomes: a `TicketPurchaseResult` with the ticket, or a failure carrying a domain error
(`insufficient-credit`, `ticket-not-issued`, ...; see contracts/errors.py). When issuing fails
after the credit was reserved, the reservation is released (a refund ledger entry) first.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes
    from contracts.access import (
        TICKET_PURCHASE_WORKFLOW,
        ActivateEntitlementInput,
        IssuedTicket,
        IssueTicketInput,
        PurchaseFlowState,
        PurchaseInput,
        ReserveCreditInput,
        TicketPurchaseInput,
        TicketPurchaseResult,
        activate_entitlement,
        confirm_purchase,
        issue_ticket,
        release_credit,
        reserve_credit,
    )
    from contracts.errors import domain_failure, to_application_error
    from contracts.payments import TicketInvoiceInput, issue_ticket_invoice
    from domain.credit import TicketNotIssued

DATABASE_STEP = timedelta(seconds=30)
# Issuing is tried a few times; then the reservation is released rather than held forever.
ISSUE_RETRY = RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=10))
# Reserving, confirming, releasing and activating must finish: retried until they do.
KEEP_TRYING = RetryPolicy(maximum_interval=timedelta(seconds=30))


@workflow.defn(name=TICKET_PURCHASE_WORKFLOW)
class TicketPurchaseWorkflow:
    def __init__(self) -> None:
        self._state: PurchaseFlowState = "reserving"
        self._workshop_id = ""

    @workflow.query
    def state(self) -> str:
        return self._state

    def _set_state(self, state: PurchaseFlowState) -> None:
        self._state = state
        workflow.upsert_search_attributes(
            [
                search_attributes.WORKSHOP_ID.value_set(self._workshop_id),
                search_attributes.FLOW_STATE.value_set(state),
            ]
        )

    @workflow.run
    async def run(self, request: TicketPurchaseInput) -> TicketPurchaseResult:
        self._workshop_id = request.workshop_id
        self._set_state("reserving")
        try:
            reservation = await workflow.execute_activity(
                reserve_credit,
                ReserveCreditInput(
                    workshop_id=request.workshop_id,
                    idempotency_key=request.idempotency_key,
                    service=request.service,
                    period=request.period,
                    requested_by=request.requested_by,
                ),
                start_to_close_timeout=DATABASE_STEP,
                retry_policy=KEEP_TRYING,
            )
        except ActivityError as error:
            self._set_state("rejected")
            raise domain_failure(error) from error

        purchase = PurchaseInput(purchase_id=reservation.purchase_id)
        self._set_state("issuing")
        try:
            ticket = await self._issue(reservation.purchase_id)
        except ActivityError as error:
            self._set_state("releasing")
            outcome = await workflow.execute_activity(
                release_credit,
                purchase,
                start_to_close_timeout=DATABASE_STEP,
                retry_policy=KEEP_TRYING,
            )
            if outcome.released:
                self._set_state("released")
                workflow.logger.warning("ticket not issued, credit released: %s", error)
                raise to_application_error(
                    TicketNotIssued(
                        "the ticket could not be issued; the reserved credit was returned",
                        price=reservation.price_cents,
                    )
                ) from error
            # The ticket was written after all (the failure came after the commit): keep it.
            ticket = await self._issue(reservation.purchase_id)

        await workflow.execute_activity(
            activate_entitlement,
            ActivateEntitlementInput(ticket=ticket),
            start_to_close_timeout=DATABASE_STEP,
            retry_policy=KEEP_TRYING,
        )
        self._set_state("confirming")
        await workflow.execute_activity(
            confirm_purchase,
            purchase,
            start_to_close_timeout=DATABASE_STEP,
            retry_policy=KEEP_TRYING,
        )
        # Histories recorded before tickets were invoiced have no invoice step.
        if workflow.patched("ticket-invoice"):
            await workflow.execute_activity(
                issue_ticket_invoice,
                TicketInvoiceInput(ticket_id=ticket.ticket_id),
                start_to_close_timeout=DATABASE_STEP,
                retry_policy=KEEP_TRYING,
            )
        self._set_state("confirmed")
        return TicketPurchaseResult(purchase_id=reservation.purchase_id, ticket=ticket)

    async def _issue(self, purchase_id: str) -> IssuedTicket:
        return await workflow.execute_activity(
            issue_ticket,
            IssueTicketInput(purchase_id=purchase_id, at=workflow.now()),
            start_to_close_timeout=DATABASE_STEP,
            retry_policy=ISSUE_RETRY,
        )
