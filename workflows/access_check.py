"""The access checks as workflows make them: at the workflow's clock, through activities.

A refusal fails the activity with `access-expired` or `no-access` (see domain/entitlement.py).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts import access as contract
    from contracts.access import (
        EntitlementCheckInput,
        EntitlementGrant,
        EntitlementSignal,
        Subscription,
        entitlement_workflow_id,
    )
    from domain.catalogue import Service

ACCESS_CHECK_TIMEOUT = timedelta(seconds=30)


async def check_access(
    workshop_id: str, service: Service, *, local: bool = False
) -> EntitlementGrant:
    """The workshop's coverage of `service` now, or an ActivityError carrying the refusal.

    `local`: as a local activity, run by the worker that runs the workflow (a portal worker)
    within the workflow task: one marker in the history instead of an activity's three events
    and the workflow task that reads its result."""
    request = EntitlementCheckInput(workshop_id=workshop_id, service=service, at=workflow.now())
    if local:
        return await workflow.execute_local_activity(
            contract.check_entitlement, request, start_to_close_timeout=ACCESS_CHECK_TIMEOUT
        )
    return await workflow.execute_activity(
        contract.check_entitlement, request, start_to_close_timeout=ACCESS_CHECK_TIMEOUT
    )


async def remaining_coverage(workshop_id: str, service: Service) -> timedelta:
    """Covered time left now (zero without coverage); never refuses."""
    remaining = await workflow.execute_activity(
        contract.remaining_coverage,
        EntitlementCheckInput(workshop_id=workshop_id, service=service, at=workflow.now()),
        start_to_close_timeout=ACCESS_CHECK_TIMEOUT,
    )
    return remaining.remaining


async def subscribe_to_coverage(workshop_id: str, service: Service) -> None:
    """Ask the workshop's entitlement flow for `service` to signal this flow when more time is
    bought (`coverage_extended`)."""
    entitlement = workflow.get_external_workflow_handle(
        entitlement_workflow_id(workshop_id, service)
    )
    try:
        await entitlement.signal(
            EntitlementSignal.SUBSCRIBE, Subscription(workflow_id=workflow.info().workflow_id)
        )
    except Exception as error:  # no entitlement flow yet: the next purchase starts one
        workflow.logger.info("no entitlement flow to subscribe to yet: %s", error)
