"""Buying a ticket: the one implementation behind `POST /workshops/{id}/tickets` and the
console's credit page.

It runs TicketPurchaseWorkflow (reserve credit, issue, confirm) under a workflow id made of
the workshop and the caller's idempotency key, so a retry with the same key gets the first
outcome and is never charged twice; the same key with another request is
`idempotency-key-reused`.
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from contracts.access import (
    TICKET_PURCHASE_WORKFLOW,
    TicketPurchaseInput,
    TicketPurchaseResult,
    ticket_purchase_workflow_id,
)
from contracts.errors import domain_error_from_failure
from db.access_repository import AccessRepository
from domain.catalogue import Service, TicketPeriod
from domain.credit import ensure_same_request, request_fingerprint
from settings import Settings

FINGERPRINT_MEMO = "request_fingerprint"


async def purchase_ticket(
    temporal: Client,
    settings: Settings,
    repository: AccessRepository,
    *,
    workshop_id: str,
    idempotency_key: str,
    service: Service,
    period: TicketPeriod,
    requested_by: str,
) -> TicketPurchaseResult:
    """The purchase's outcome; its refusals are raised as their domain errors
    (`insufficient-credit`, `ticket-not-issued`, `idempotency-key-reused`). The caller has
    checked that `requested_by` may buy for the workshop."""
    await repository.require_workshop(workshop_id)
    fingerprint = request_fingerprint({"service": service.value, "period": period.value})
    workflow_id = ticket_purchase_workflow_id(workshop_id, idempotency_key)
    try:
        handle = await temporal.start_workflow(
            TICKET_PURCHASE_WORKFLOW,
            TicketPurchaseInput(
                workshop_id=workshop_id,
                idempotency_key=idempotency_key,
                service=service,
                period=period,
                requested_by=requested_by,
            ),
            id=workflow_id,
            task_queue=settings.portal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            memo={FINGERPRINT_MEMO: fingerprint},
            result_type=TicketPurchaseResult,
        )
    except WorkflowAlreadyStartedError:  # finished earlier: the same key gets the same outcome
        handle = temporal.get_workflow_handle(workflow_id, result_type=TicketPurchaseResult)
    description = await handle.describe()
    ensure_same_request(await description.memo_value(FINGERPRINT_MEMO, None), fingerprint)
    try:
        result: TicketPurchaseResult = await handle.result()
    except WorkflowFailureError as error:
        raise domain_error_from_failure(error) or error from error
    return result
