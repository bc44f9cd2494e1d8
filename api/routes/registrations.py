"""Workshop registration: apply, verify the contact email, and (administrators) decide.

The HTTP face of `application.registration`: each route parses the request, calls the use
case and shapes the answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from application import registration as use_cases
from contracts.registration import RegistrationStatus, VerifyEmailInput
from db.base import INTEGER_MAX
from domain.registration import (
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
from web.deps import AdminUser, ResourcesDep
from web.languages import ACCEPT_LANGUAGE_MAX_LENGTH, preferred_language
from web.problems import WORKFLOW_UNAVAILABLE, problem_responses

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
        **problem_responses(ApplicationAlreadyOpen, WORKFLOW_UNAVAILABLE),
    },
)
async def apply(
    application: Application,
    request: Request,
    response: Response,
    resources: ResourcesDep,
    accept_language: Annotated[
        str,
        Header(
            max_length=ACCEPT_LANGUAGE_MAX_LENGTH,
            description="The applicant's languages: their mail is written in the best match "
            "(English or Dutch), which their account keeps",
        ),
    ] = "",
) -> RegistrationCreated:
    """Apply as an independent workshop. A code is mailed to the contact email.

    Re-sending the identical application returns the same registration (200); another open
    application with the same VAT ID or email is a 409 naming it. The mail is written in the
    best match of `Accept-Language` (English or Dutch; English otherwise), which the owner's
    account keeps once the workshop is approved (`PATCH /me` changes it).
    """
    registration, created = await use_cases.submit_application(
        resources,
        application,
        str(request.base_url).rstrip("/"),
        preferred_language(accept_language),
    )
    if not created:
        response.status_code = 200
    return RegistrationCreated.model_validate(registration)


@router.get(
    "/registrations/{registration_id}",
    response_model=RegistrationStatus,
    responses=problem_responses(WORKFLOW_UNAVAILABLE),
)
async def registration_status(registration_id: str, resources: ResourcesDep) -> RegistrationStatus:
    """Where the application stands. The id is the applicant's receipt."""
    return await use_cases.registration_status(resources, registration_id)


@router.post(
    "/registrations/{registration_id}/email-verification",
    response_model=RegistrationStatus,
    responses=problem_responses(
        CodeRejected,
        CodeExpired,
        CodeAttemptsExhausted,
        WrongRegistrationState,
        WORKFLOW_UNAVAILABLE,
    ),
)
async def verify_email(
    registration_id: str, step: VerifyEmailInput, resources: ResourcesDep
) -> RegistrationStatus:
    """Confirm the contact email with the mailed 6-digit code (5 tries per code, 1 hour)."""
    return await use_cases.verify_registration_email(resources, registration_id, step)


@router.post(
    "/registrations/{registration_id}/email-verification/resend",
    response_model=RegistrationStatus,
    responses=problem_responses(ResendLimitReached, WrongRegistrationState, WORKFLOW_UNAVAILABLE),
)
async def resend_code(registration_id: str, resources: ResourcesDep) -> RegistrationStatus:
    """Mail a fresh code; the previous one stops working."""
    return await use_cases.resend_registration_code(resources, registration_id)


@router.post(
    "/admin/registrations/{registration_id}/decision",
    response_model=RegistrationStatus,
    responses=problem_responses(RegistrationNotUnderReview, WORKFLOW_UNAVAILABLE),
)
async def decide(
    registration_id: str, decision: Decision, admin: AdminUser, resources: ResourcesDep
) -> RegistrationStatus:
    """Approve (the workshop and its owner account are created) or reject an application."""
    return await use_cases.decide_registration(
        resources, admin, registration_id, approve=decision.approve, reason=decision.reason
    )


@router.get("/admin/registrations", response_model=list[RegistrationSummary])
async def list_registrations(
    admin: AdminUser,
    resources: ResourcesDep,
    state: RegistrationState | None = Query(default=None),
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=INTEGER_MAX),
) -> list[RegistrationSummary]:
    """Applications, newest first, optionally in one state."""
    registrations = await use_cases.list_registrations(resources, admin, state, limit, offset)
    return [RegistrationSummary.model_validate(r) for r in registrations]
