"""Activities of the registration flow: the registrations table, the VAT check, the new
workshop with its owner, and mail to applicants and reviewers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from contracts.mail import MailMessage
from contracts.registration import (
    CheckVatInput,
    CreateWorkshopInput,
    NotifyReviewersInput,
    RecordRegistrationStateInput,
    RegistrationActivity,
    VatCheckResult,
)
from db.credentials import hash_token, new_token
from db.mail import MailSender
from db.models import OneTimeToken, Registration, User, Workshop
from domain.accounts import INVITATION_LIFETIME, Role
from domain.registration import OPEN_STATES
from domain.vat import check_vat_format


class VatChecker(Protocol):
    async def check(self, country: str, vat_id: str) -> VatCheckResult: ...


class FormatVatChecker:
    """The default: the member state's format. A VIES client implements the same interface."""

    async def check(self, country: str, vat_id: str) -> VatCheckResult:
        result = check_vat_format(country, vat_id)
        return VatCheckResult(valid=result.valid, reason=result.reason)


class RegistrationActivities:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        mail: MailSender,
        vat_checker: VatChecker,
    ) -> None:
        self._session_factory = session_factory
        self._mail = mail
        self._vat_checker = vat_checker

    @activity.defn(name=RegistrationActivity.CHECK_VAT_ID)
    async def check_vat_id(self, request: CheckVatInput) -> VatCheckResult:
        """A failing checker is an answer too: the application goes to review with the reason."""
        try:
            return await self._vat_checker.check(request.country, request.vat_id)
        except Exception as error:  # a VIES outage must not block the application
            return VatCheckResult(valid=False, reason=f"VAT check unavailable: {error}"[:300])

    @activity.defn(name=RegistrationActivity.RECORD_REGISTRATION_STATE)
    async def record_registration_state(self, request: RecordRegistrationStateInput) -> None:
        values: dict[str, object] = {
            "state": request.state,
            "is_open": request.state in OPEN_STATES,
            "updated_at": datetime.now(UTC),
        }
        for name in ("vat_check", "decision_reason", "workshop_id"):
            if getattr(request, name) is not None:
                values[name] = getattr(request, name)
        async with self._session_factory() as session, session.begin():
            await session.execute(
                update(Registration)
                .where(Registration.id == request.registration_id)
                .values(**values)
            )

    @activity.defn(name=RegistrationActivity.CREATE_WORKSHOP_AND_OWNER)
    async def create_workshop_and_owner(self, request: CreateWorkshopInput) -> str:
        """The approved workshop, its owner account, and the owner's activation mail.

        Idempotent: a retry finds the workshop it created (unique registration id) and only
        issues a fresh activation link.
        """
        now = datetime.now(UTC)
        token = new_token()
        async with self._session_factory() as session, session.begin():
            registration = await session.get(Registration, request.registration_id)
            if registration is None:
                raise ValueError(f"registration {request.registration_id} is not stored")
            workshop = await session.scalar(
                select(Workshop).where(Workshop.registration_id == registration.id)
            )
            if workshop is None:
                workshop = Workshop(
                    id=f"ws-{uuid.uuid4().hex[:12]}",
                    name=registration.company_name,
                    legal_form=registration.legal_form,
                    vat_id=registration.vat_id,
                    country=registration.country,
                    address=registration.address,
                    legal_representative=registration.legal_representative,
                    contact_email=registration.contact_email,
                    registration_id=registration.id,
                    created_at=now,
                )
                session.add(workshop)
                await session.flush()
            owner = await session.scalar(
                select(User).where(User.email == registration.contact_email)
            )
            if owner is None:
                owner = User(
                    id=f"user-{uuid.uuid4().hex[:12]}",
                    email=registration.contact_email,
                    name=registration.owner_name,
                    role=Role.WORKSHOP_OWNER.value,
                    workshop_id=workshop.id,
                    password_hash=None,
                    totp_enrolled=False,
                    created_at=now,
                )
                session.add(owner)
                await session.flush()
            session.add(
                OneTimeToken(
                    token_hash=hash_token(token),
                    purpose="invitation",
                    user_id=owner.id,
                    created_at=now,
                    expires_at=now + INVITATION_LIFETIME,
                )
            )
            workshop_id, email, name = workshop.id, owner.email, registration.company_name
        await self._mail.send(
            MailMessage(
                message_key=f"registration-approved/{request.registration_id}/{hash_token(token)[:16]}",
                recipient=email,
                subject=f"{name} is registered: set your password",
                body=(
                    f"Your workshop {name} was approved.\n"
                    f"Set your password with this token within 7 days:\n{token}\n"
                    f"(POST {request.portal_url}/invitations/<token>/accept)\n"
                ),
                category="registration",
            )
        )
        return workshop_id

    @activity.defn(name=RegistrationActivity.NOTIFY_REVIEWERS)
    async def notify_reviewers(self, request: NotifyReviewersInput) -> int:
        async with self._session_factory() as session:
            reviewers = (
                await session.scalars(
                    select(User.email).where(User.role == Role.ADMINISTRATOR.value)
                )
            ).all()
        for email in reviewers:
            await self._mail.send(
                MailMessage(
                    message_key=f"review-reminder/{request.registration_id}/{email}",
                    recipient=email,
                    subject=f"Registration of {request.company_name} waits for review",
                    body=(
                        f"The registration {request.registration_id} has waited "
                        f"{request.waiting_days} days for a decision. It is abandoned after 14."
                    ),
                    category="review-reminder",
                )
            )
        return len(reviewers)
