"""Workshop registration: apply, verify the contact email, and (administrators) decide."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query, Request, Response
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from temporalio.common import WorkflowIDConflictPolicy

from api.deps import AccountsDep, AdminUser, SettingsDep, TemporalDep
from api.workflow_calls import execute_update
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
from domain.registration import (
    OPEN_STATES,
    Application,
    RegistrationNotUnderReview,
    RegistrationState,
    WrongRegistrationState,
)

router = APIRouter(tags=["registrations"])


class RegistrationCreated(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    registration_id: str = Field(validation_alias=AliasChoices("registration_id", "id"))
    state: str


class Decision(BaseModel):
    approve: bool
    reason: str = ""


class RegistrationSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    registration_id: str = Field(validation_alias=AliasChoices("registration_id", "id"))
    state: str
    company_name: str
    country: str
    vat_id: str
    contact_email: str
    vat_check: str | None
    workshop_id: str | None
    created_at: datetime


@router.post("/registrations", status_code=201, response_model=RegistrationCreated)
async def apply(
    application: Application,
    request: Request,
    response: Response,
    accounts: AccountsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> RegistrationCreated:
    """Apply as an independent workshop. A code is mailed to the contact email.

    Re-sending the identical application returns the same registration (200); another open
    application with the same VAT ID or email is a 409 naming it.
    """
    registration, created = await accounts.apply(application)
    if not created:
        response.status_code = 200
    # Idempotent: a retry after a lost answer, or after a crash before the start, lands here.
    await temporal.start_workflow(
        REGISTRATION_WORKFLOW,
        RegistrationInput(
            registration_id=registration.id,
            application=application,
            portal_url=str(request.base_url).rstrip("/"),
        ),
        id=registration_workflow_id(registration.id),
        task_queue=settings.portal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return RegistrationCreated.model_validate(registration)


async def _require_registration(
    accounts: AccountRepository, registration_id: str, *, open_for_steps: bool = False
) -> str:
    """The registration's stored state; 404 when unknown.

    With `open_for_steps`, a closed one is refused here: its workflow has finished and takes
    no more steps, and the caller should hear the rule, not "no such process". The read's
    transaction ends before the workflow call (see api.deps.current_session on SQLite locks).
    """
    state = await accounts.registration_state(registration_id)
    if open_for_steps and state not in OPEN_STATES:
        raise WrongRegistrationState(f"the registration is {state}", state=state)
    return state


@router.get("/registrations/{registration_id}", response_model=RegistrationStatus)
async def registration_status(
    registration_id: str, accounts: AccountsDep, temporal: TemporalDep
) -> RegistrationStatus:
    """Where the application stands. The id is the applicant's receipt."""
    await _require_registration(accounts, registration_id)
    handle = temporal.get_workflow_handle(registration_workflow_id(registration_id))
    return await handle.query(STATUS_QUERY, result_type=RegistrationStatus)


@router.post(
    "/registrations/{registration_id}/email-verification", response_model=RegistrationStatus
)
async def verify_email(
    registration_id: str, step: VerifyEmailInput, accounts: AccountsDep, temporal: TemporalDep
) -> RegistrationStatus:
    """Confirm the contact email with the mailed 6-digit code (5 tries per code, 1 hour)."""
    await _require_registration(accounts, registration_id, open_for_steps=True)
    handle = temporal.get_workflow_handle(registration_workflow_id(registration_id))
    return await execute_update(handle, RegistrationUpdate.VERIFY_EMAIL, step, RegistrationStatus)


@router.post(
    "/registrations/{registration_id}/email-verification/resend", response_model=RegistrationStatus
)
async def resend_code(
    registration_id: str, accounts: AccountsDep, temporal: TemporalDep
) -> RegistrationStatus:
    """Mail a fresh code; the previous one stops working."""
    await _require_registration(accounts, registration_id, open_for_steps=True)
    handle = temporal.get_workflow_handle(registration_workflow_id(registration_id))
    return await execute_update(
        handle, RegistrationUpdate.RESEND_CODE, ResendCodeInput(), RegistrationStatus
    )


@router.post("/admin/registrations/{registration_id}/decision", response_model=RegistrationStatus)
async def decide(
    registration_id: str,
    decision: Decision,
    admin: AdminUser,
    accounts: AccountsDep,
    temporal: TemporalDep,
) -> RegistrationStatus:
    """Approve (the workshop and its owner account are created) or reject an application."""
    state = await _require_registration(accounts, registration_id)
    if state != "under_review":
        raise RegistrationNotUnderReview(f"the registration is {state}", state=state)
    handle = temporal.get_workflow_handle(registration_workflow_id(registration_id))
    return await execute_update(
        handle,
        RegistrationUpdate.DECIDE,
        DecisionInput(approve=decision.approve, reason=decision.reason, reviewer_id=admin.id),
        RegistrationStatus,
    )


@router.get("/admin/registrations", response_model=list[RegistrationSummary])
async def list_registrations(
    admin: AdminUser,
    accounts: AccountsDep,
    state: RegistrationState | None = Query(default=None),
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0),
) -> list[RegistrationSummary]:
    """Applications, newest first, optionally in one state."""
    registrations = await accounts.registrations(state, limit, offset)
    return [RegistrationSummary.model_validate(r) for r in registrations]
