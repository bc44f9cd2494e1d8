"""Registering a workshop: apply, verify the contact email, and (administrators) decide.

The use cases behind `POST /registrations`, `/registrations/{id}/...`, `/admin/registrations`
and the console's registration and operators' pages. The registration's flow
(RegistrationWorkflow) is the judge of each step; the table only says whether a registration
exists and whether it is closed.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from application.authorization import ensure_administrator
from application.resources import AppResources
from application.workflow_calls import execute_update
from contracts.registration import (
    REGISTRATION_WORKFLOW,
    STATUS_QUERY,
    DecisionInput,
    RegistrationInput,
    RegistrationStatus,
    RegistrationUpdate,
    ResendCodeInput,
    VerifyEmailInput,
    registration_workflow_id,
)
from db.accounts import AccountRepository
from db.models import Registration, User
from domain.languages import DEFAULT_LANGUAGE, Language
from domain.registration import (
    OPEN_STATES,
    Application,
    RegistrationNotUnderReview,
    WrongRegistrationState,
)


async def submit_application(
    resources: AppResources,
    application: Application,
    portal_url: str,
    language: Language = DEFAULT_LANGUAGE,
) -> tuple[Registration, bool]:
    """The open registration of `application` with its running flow, and whether this call
    created it. `language` is the one the applicant applied in: their mail's, and their
    account's once approved. Re-sending the identical application finds the first one; another
    open application with the same VAT ID or email is `application-already-open`."""
    registration, created = await AccountRepository(resources.session_factory).apply(application)
    # Idempotent: a retry after a lost answer, or after a crash before the start, lands here.
    await resources.temporal.start_workflow(
        REGISTRATION_WORKFLOW,
        RegistrationInput(
            registration_id=registration.id,
            application=application,
            portal_url=portal_url,
            language=language,
        ),
        id=registration_workflow_id(registration.id),
        task_queue=resources.settings.portal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return registration, created


async def _stored_state(
    resources: AppResources, registration_id: str, *, open_for_steps: bool = False
) -> str:
    """The registration's stored state; `not-found` when unknown.

    With `open_for_steps`, a closed one is refused here: its workflow has finished and takes
    no more steps, and the caller should hear the rule, not "no such process". The read's
    transaction ends before the workflow call (see web.deps.current_session on SQLite locks).
    """
    state = await AccountRepository(resources.session_factory).registration_state(registration_id)
    if open_for_steps and state not in OPEN_STATES:
        raise WrongRegistrationState(f"the registration is {state}", state=state)
    return state


async def registration_status(resources: AppResources, registration_id: str) -> RegistrationStatus:
    """Where an application stands (`not-found` when unknown): the flow's status query. The id
    is the applicant's receipt, so no sign-in is needed."""
    await _stored_state(resources, registration_id)
    handle = resources.temporal.get_workflow_handle(registration_workflow_id(registration_id))
    return await handle.query(STATUS_QUERY, result_type=RegistrationStatus)


async def verify_registration_email(
    resources: AppResources, registration_id: str, step: VerifyEmailInput
) -> RegistrationStatus:
    """The flow's `verify_email` update: the mailed 6-digit code (5 tries per code, 1 hour)."""
    await _stored_state(resources, registration_id, open_for_steps=True)
    handle = resources.temporal.get_workflow_handle(registration_workflow_id(registration_id))
    return await execute_update(handle, RegistrationUpdate.VERIFY_EMAIL, step, RegistrationStatus)


async def resend_registration_code(
    resources: AppResources, registration_id: str
) -> RegistrationStatus:
    """The flow's `resend_code` update: a fresh code is mailed, the previous one stops working."""
    await _stored_state(resources, registration_id, open_for_steps=True)
    handle = resources.temporal.get_workflow_handle(registration_workflow_id(registration_id))
    return await execute_update(
        handle, RegistrationUpdate.RESEND_CODE, ResendCodeInput(), RegistrationStatus
    )


async def decide_registration(
    resources: AppResources, caller: User, registration_id: str, *, approve: bool, reason: str
) -> RegistrationStatus:
    """An administrator's decision on an application under review: the flow's `decide` update
    (approving creates the workshop and its owner's account).

    The flow's validator is the one judge of the state: `GET /registrations/{id}` reports the
    flow's state, and the table follows it only once an activity has recorded it, so a
    client that saw `under_review` could find the table still `submitted`. The table is
    asked only whether the registration exists and whether it is closed: a closed state is
    recorded before the flow ends and never changes, and an ended flow takes no updates.
    """
    ensure_administrator(caller)
    state = await _stored_state(resources, registration_id)
    if state not in OPEN_STATES:
        raise RegistrationNotUnderReview(f"the registration is {state}", state=state)
    handle = resources.temporal.get_workflow_handle(registration_workflow_id(registration_id))
    try:
        return await execute_update(
            handle,
            RegistrationUpdate.DECIDE,
            DecisionInput(approve=approve, reason=reason, reviewer_id=caller.id),
            RegistrationStatus,
        )
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        # Another decision ended the flow between the read above and this update.
        state = await _stored_state(resources, registration_id)
        if state in OPEN_STATES:
            raise
        raise RegistrationNotUnderReview(f"the registration is {state}", state=state) from None


async def list_registrations(
    resources: AppResources,
    caller: User,
    state: str | None,
    limit: int,
    offset: int,
) -> Sequence[Registration]:
    """Applications, newest first, optionally in one state (administrators)."""
    ensure_administrator(caller)
    return await AccountRepository(resources.session_factory).registrations(state, limit, offset)
