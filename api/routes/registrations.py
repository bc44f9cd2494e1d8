"""Workshop registration: apply, verify the contact email, and (administrators) decide."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query, Request, Response
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

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
from db.base import INTEGER_MAX
from db.models import Registration, User
from domain.registration import (
    OPEN_STATES,
    Application,
    ApplicationAlreadyOpen,
    CodeAttemptsExhausted,
    CodeExpired,
    CodeRejected,
    RegistrationNotUnderReview,
    RegistrationState,
    ResendLimitReached,
    WrongRegistrationState,
)
from settings import Settings
from web.deps import AccountsDep, AdminUser, SettingsDep, TemporalDep
from web.problems import problem_responses

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


@router.post(
    "/registrations",
    status_code=201,
    response_model=RegistrationCreated,
    responses={
        200: {
            "model": RegistrationCreated,
            "description": "The identical application was already open: its registration, "
            "as the first answer gave it; nothing new is created",
        },
        **problem_responses(ApplicationAlreadyOpen),
    },
)
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
    registration, created = await submit_application(
        accounts, temporal, settings, application, str(request.base_url).rstrip("/")
    )
    if not created:
        response.status_code = 200
    return RegistrationCreated.model_validate(registration)


async def submit_application(
    accounts: AccountRepository,
    temporal: Client,
    settings: Settings,
    application: Application,
    portal_url: str,
) -> tuple[Registration, bool]:
    """The open registration of `application` with its running flow, and whether this call
    created it (the API's `POST /registrations` and the console's registration page)."""
    registration, created = await accounts.apply(application)
    # Idempotent: a retry after a lost answer, or after a crash before the start, lands here.
    await temporal.start_workflow(
        REGISTRATION_WORKFLOW,
        RegistrationInput(
            registration_id=registration.id, application=application, portal_url=portal_url
        ),
        id=registration_workflow_id(registration.id),
        task_queue=settings.portal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return registration, created


async def _require_registration(
    accounts: AccountRepository, registration_id: str, *, open_for_steps: bool = False
) -> str:
    """The registration's stored state; 404 when unknown.

    With `open_for_steps`, a closed one is refused here: its workflow has finished and takes
    no more steps, and the caller should hear the rule, not "no such process". The read's
    transaction ends before the workflow call (see web.deps.current_session on SQLite locks).
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
    return await registration_status_of(accounts, temporal, registration_id)


@router.post(
    "/registrations/{registration_id}/email-verification",
    response_model=RegistrationStatus,
    responses=problem_responses(
        CodeRejected, CodeExpired, CodeAttemptsExhausted, WrongRegistrationState
    ),
)
async def verify_email(
    registration_id: str, step: VerifyEmailInput, accounts: AccountsDep, temporal: TemporalDep
) -> RegistrationStatus:
    """Confirm the contact email with the mailed 6-digit code (5 tries per code, 1 hour)."""
    return await verify_registration_email(accounts, temporal, registration_id, step)


async def verify_registration_email(
    accounts: AccountRepository, temporal: Client, registration_id: str, step: VerifyEmailInput
) -> RegistrationStatus:
    """The flow's `verify_email` update (the API's and the console's verification step)."""
    await _require_registration(accounts, registration_id, open_for_steps=True)
    handle = temporal.get_workflow_handle(registration_workflow_id(registration_id))
    return await execute_update(handle, RegistrationUpdate.VERIFY_EMAIL, step, RegistrationStatus)


async def registration_status_of(
    accounts: AccountRepository, temporal: Client, registration_id: str
) -> RegistrationStatus:
    """Where an application stands (`not-found` when unknown): the flow's status query."""
    await _require_registration(accounts, registration_id)
    handle = temporal.get_workflow_handle(registration_workflow_id(registration_id))
    return await handle.query(STATUS_QUERY, result_type=RegistrationStatus)


@router.post(
    "/registrations/{registration_id}/email-verification/resend",
    response_model=RegistrationStatus,
    responses=problem_responses(ResendLimitReached, WrongRegistrationState),
)
async def resend_code(
    registration_id: str, accounts: AccountsDep, temporal: TemporalDep
) -> RegistrationStatus:
    """Mail a fresh code; the previous one stops working."""
    return await resend_registration_code(accounts, temporal, registration_id)


async def resend_registration_code(
    accounts: AccountRepository, temporal: Client, registration_id: str
) -> RegistrationStatus:
    """The flow's `resend_code` update (the API's and the console's)."""
    await _require_registration(accounts, registration_id, open_for_steps=True)
    handle = temporal.get_workflow_handle(registration_workflow_id(registration_id))
    return await execute_update(
        handle, RegistrationUpdate.RESEND_CODE, ResendCodeInput(), RegistrationStatus
    )


@router.post(
    "/admin/registrations/{registration_id}/decision",
    response_model=RegistrationStatus,
    responses=problem_responses(RegistrationNotUnderReview),
)
async def decide(
    registration_id: str,
    decision: Decision,
    admin: AdminUser,
    accounts: AccountsDep,
    temporal: TemporalDep,
) -> RegistrationStatus:
    """Approve (the workshop and its owner account are created) or reject an application."""
    return await decide_registration(accounts, temporal, admin, registration_id, decision)


async def decide_registration(
    accounts: AccountRepository,
    temporal: Client,
    admin: User,
    registration_id: str,
    decision: Decision,
) -> RegistrationStatus:
    """An administrator's decision on an application under review (the API's and the
    operators' console's): the registration flow's `decide` update.

    The flow's validator is the one judge of the state: `GET /registrations/{id}` reports the
    flow's state, and the table follows it only once an activity has recorded it, so a
    client that saw `under_review` could find the table still `submitted`. The table is
    asked only whether the registration exists and whether it is closed: a closed state is
    recorded before the flow ends and never changes, and an ended flow takes no updates.
    """
    state = await _require_registration(accounts, registration_id)
    if state not in OPEN_STATES:
        raise RegistrationNotUnderReview(f"the registration is {state}", state=state)
    handle = temporal.get_workflow_handle(registration_workflow_id(registration_id))
    try:
        return await execute_update(
            handle,
            RegistrationUpdate.DECIDE,
            DecisionInput(approve=decision.approve, reason=decision.reason, reviewer_id=admin.id),
            RegistrationStatus,
        )
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        # Another decision ended the flow between the read above and this update.
        state = await _require_registration(accounts, registration_id)
        if state in OPEN_STATES:
            raise
        raise RegistrationNotUnderReview(f"the registration is {state}", state=state) from None


@router.get("/admin/registrations", response_model=list[RegistrationSummary])
async def list_registrations(
    admin: AdminUser,
    accounts: AccountsDep,
    state: RegistrationState | None = Query(default=None),
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=INTEGER_MAX),
) -> list[RegistrationSummary]:
    """Applications, newest first, optionally in one state."""
    registrations = await accounts.registrations(state, limit, offset)
    return [RegistrationSummary.model_validate(r) for r in registrations]
