"""Workshop registration: apply, verify the contact email, and (administrators) decide."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from temporalio.common import WorkflowIDConflictPolicy

from api.deps import AdminUser, SessionDep, SettingsDep, TemporalDep
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
from db.models import Registration
from domain.errors import NotFound
from domain.registration import (
    OPEN_STATES,
    Application,
    ApplicationAlreadyOpen,
    RegistrationNotUnderReview,
    RegistrationState,
    WrongRegistrationState,
)

router = APIRouter(tags=["registrations"])


class RegistrationCreated(BaseModel):
    registration_id: str
    state: str


class Decision(BaseModel):
    approve: bool
    reason: str = ""


class RegistrationSummary(BaseModel):
    registration_id: str
    state: str
    company_name: str
    country: str
    vat_id: str
    contact_email: str
    vat_check: str | None
    workshop_id: str | None
    created_at: datetime


async def _open_registration_for(
    session: SessionDep, application: Application
) -> Registration | None:
    return await session.scalar(
        select(Registration).where(
            Registration.is_open,
            or_(
                Registration.vat_id == application.vat_id,
                Registration.contact_email == application.contact_email,
            ),
        )
    )


@router.post("/registrations", status_code=201, response_model=RegistrationCreated)
async def apply(
    application: Application,
    request: Request,
    response: Response,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> RegistrationCreated:
    """Apply as an independent workshop. A code is mailed to the contact email.

    Re-sending the identical application returns the same registration (200); another open
    application with the same VAT ID or email is a 409 naming it.
    """
    fingerprint = application.fingerprint()
    existing = await _open_registration_for(session, application)
    if existing is None:
        now = datetime.now(UTC)
        existing = Registration(
            id=str(uuid.uuid4()),
            state="submitted",
            is_open=True,
            fingerprint=fingerprint,
            created_at=now,
            updated_at=now,
            **application.model_dump(),
        )
        session.add(existing)
        try:
            await session.commit()
        except IntegrityError:  # a concurrent identical request won the race
            await session.rollback()
            existing = await _open_registration_for(session, application)
            if existing is None:
                raise
            response.status_code = 200
    else:
        response.status_code = 200
    registration_id, state = existing.id, existing.state
    same_application = existing.fingerprint == fingerprint
    same_vat = existing.vat_id == application.vat_id
    await session.rollback()  # no transaction stays open across the workflow start
    if not same_application:
        field = "vat_id" if same_vat else "contact_email"
        raise ApplicationAlreadyOpen(
            f"registration {registration_id} with this {field} is still open",
            field=field,
            open_registration_id=registration_id,
        )
    # Idempotent: a retry after a lost answer, or after a crash before the start, lands here.
    await temporal.start_workflow(
        REGISTRATION_WORKFLOW,
        RegistrationInput(
            registration_id=registration_id,
            application=application,
            portal_url=str(request.base_url).rstrip("/"),
        ),
        id=registration_workflow_id(registration_id),
        task_queue=settings.portal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return RegistrationCreated(registration_id=registration_id, state=state)


async def _require_registration(
    session: SessionDep, registration_id: str, *, open_for_steps: bool = False
) -> str:
    """The registration's stored state; 404 when unknown.

    With `open_for_steps`, a closed one is refused here: its workflow has finished and takes
    no more steps, and the caller should hear the rule, not "no such process".
    """
    registration = await session.get(Registration, registration_id)
    state = registration.state if registration else None
    # End the read before the workflow call: see api.auth.current_session on SQLite locks.
    await session.rollback()
    if state is None:
        raise NotFound("no registration with this id", field="registration_id")
    if open_for_steps and state not in OPEN_STATES:
        raise WrongRegistrationState(f"the registration is {state}", state=state)
    return state


@router.get("/registrations/{registration_id}", response_model=RegistrationStatus)
async def registration_status(
    registration_id: str, session: SessionDep, temporal: TemporalDep
) -> RegistrationStatus:
    """Where the application stands. The id is the applicant's receipt."""
    await _require_registration(session, registration_id)
    handle = temporal.get_workflow_handle(registration_workflow_id(registration_id))
    return await handle.query(STATUS_QUERY, result_type=RegistrationStatus)


@router.post(
    "/registrations/{registration_id}/email-verification", response_model=RegistrationStatus
)
async def verify_email(
    registration_id: str, step: VerifyEmailInput, session: SessionDep, temporal: TemporalDep
) -> RegistrationStatus:
    """Confirm the contact email with the mailed 6-digit code (5 tries per code, 1 hour)."""
    await _require_registration(session, registration_id, open_for_steps=True)
    handle = temporal.get_workflow_handle(registration_workflow_id(registration_id))
    return await execute_update(handle, RegistrationUpdate.VERIFY_EMAIL, step, RegistrationStatus)


@router.post(
    "/registrations/{registration_id}/email-verification/resend", response_model=RegistrationStatus
)
async def resend_code(
    registration_id: str, session: SessionDep, temporal: TemporalDep
) -> RegistrationStatus:
    """Mail a fresh code; the previous one stops working."""
    await _require_registration(session, registration_id, open_for_steps=True)
    handle = temporal.get_workflow_handle(registration_workflow_id(registration_id))
    return await execute_update(
        handle, RegistrationUpdate.RESEND_CODE, ResendCodeInput(), RegistrationStatus
    )


@router.post("/admin/registrations/{registration_id}/decision", response_model=RegistrationStatus)
async def decide(
    registration_id: str,
    decision: Decision,
    admin: AdminUser,
    session: SessionDep,
    temporal: TemporalDep,
) -> RegistrationStatus:
    """Approve (the workshop and its owner account are created) or reject an application."""
    state = await _require_registration(session, registration_id)
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
    session: SessionDep,
    state: RegistrationState | None = Query(default=None),
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0),
) -> list[RegistrationSummary]:
    """Applications, newest first, optionally in one state."""
    query = (
        select(Registration).order_by(Registration.created_at.desc()).limit(limit).offset(offset)
    )
    if state is not None:
        query = query.where(Registration.state == state)
    return [
        RegistrationSummary(
            registration_id=r.id,
            state=r.state,
            company_name=r.company_name,
            country=r.country,
            vat_id=r.vat_id,
            contact_email=r.contact_email,
            vat_check=r.vat_check,
            workshop_id=r.workshop_id,
            created_at=r.created_at,
        )
        for r in (await session.scalars(query)).all()
    ]
