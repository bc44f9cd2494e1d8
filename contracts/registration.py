"""Registration: the RegistrationWorkflow's input, steps and status, and its activities."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field
from temporalio import activity

from domain.languages import DEFAULT_LANGUAGE, Language
from domain.registration import Application, RegistrationState

REGISTRATION_WORKFLOW = "RegistrationWorkflow"


def registration_workflow_id(registration_id: str) -> str:
    return f"registration-{registration_id}"


class RegistrationUpdate(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESEND_CODE = "resend_code"
    DECIDE = "decide"


STATUS_QUERY = "status"


class RegistrationInput(BaseModel):
    registration_id: str
    application: Application
    portal_url: str = "http://127.0.0.1:8000"
    # The language the applicant applied in: their mail's, and their account's once approved.
    language: Language = DEFAULT_LANGUAGE


class VerifyEmailInput(BaseModel):
    code: str = Field(description="The 6-digit code mailed to the contact email")


class ResendCodeInput(BaseModel):
    """No fields yet; a model so the step can grow without breaking running workflows."""


class DecisionInput(BaseModel):
    approve: bool
    reason: str = Field(default="", max_length=1000)
    reviewer_id: str


class RegistrationStatus(BaseModel):
    registration_id: str
    state: RegistrationState
    vat_check: str | None = None
    workshop_id: str | None = None
    decision_reason: str | None = None
    code_attempts_left: int
    code_expires_at: datetime | None = None


# --- the registration activities (portal worker) ----------------------------------------------


class CheckVatInput(BaseModel):
    country: str
    vat_id: str


class VatCheckResult(BaseModel):
    valid: bool
    reason: str


class RecordRegistrationStateInput(BaseModel):
    registration_id: str
    state: RegistrationState
    vat_check: str | None = None
    decision_reason: str | None = None
    workshop_id: str | None = None


class CreateWorkshopInput(BaseModel):
    registration_id: str
    portal_url: str
    language: Language = DEFAULT_LANGUAGE  # the owner's account's and activation mail's


class NotifyReviewersInput(BaseModel):
    registration_id: str
    company_name: str
    waiting_days: int


_PORTAL = "runs on the portal worker: activities.registration"


@activity.defn(name="check_vat_id")
async def check_vat_id(request: CheckVatInput) -> VatCheckResult:
    """The VAT id's check; an unavailable checker is an answer too (not valid, with why)."""
    raise NotImplementedError(_PORTAL)


@activity.defn(name="record_registration_state")
async def record_registration_state(request: RecordRegistrationStateInput) -> None:
    """The registrations table follows the workflow's state."""
    raise NotImplementedError(_PORTAL)


@activity.defn(name="create_workshop_and_owner")
async def create_workshop_and_owner(request: CreateWorkshopInput) -> str:
    """The approved workshop and its owner (mailed an activation link); its workshop id."""
    raise NotImplementedError(_PORTAL)


@activity.defn(name="notify_reviewers")
async def notify_reviewers(request: NotifyReviewersInput) -> int:
    """Remind the administrators of a waiting registration; how many were mailed."""
    raise NotImplementedError(_PORTAL)
