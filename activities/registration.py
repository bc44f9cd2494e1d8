"""Activities of the registration flow: the registrations table, the VAT check, the new
workshop with its owner, and mail to applicants and reviewers."""

from __future__ import annotations

from typing import Protocol

from contracts import registration as contract
from contracts.mail import MailMessage
from contracts.registration import (
    CheckVatInput,
    CreateWorkshopInput,
    NotifyReviewersInput,
    RecordRegistrationStateInput,
    VatCheckResult,
)
from contracts.stubs import implements
from db.accounts import AccountRepository
from domain.mail_texts import MailKind, mail_text
from domain.vat import check_vat_format
from mail.senders import MailSender
from security.credentials import hash_token


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
        accounts: AccountRepository,
        mail: MailSender,
        vat_checker: VatChecker,
    ) -> None:
        self._accounts = accounts
        self._mail = mail
        self._vat_checker = vat_checker

    @implements(contract.check_vat_id)
    async def check_vat_id(self, request: CheckVatInput) -> VatCheckResult:
        """A failing checker is an answer too: the application goes to review with the reason."""
        try:
            return await self._vat_checker.check(request.country, request.vat_id)
        except Exception as error:  # a VIES outage must not block the application
            return VatCheckResult(valid=False, reason=f"VAT check unavailable: {error}"[:300])

    @implements(contract.record_registration_state)
    async def record_registration_state(self, request: RecordRegistrationStateInput) -> None:
        await self._accounts.record_registration_state(
            request.registration_id,
            request.state,
            vat_check=request.vat_check,
            decision_reason=request.decision_reason,
            workshop_id=request.workshop_id,
        )

    @implements(contract.create_workshop_and_owner)
    async def create_workshop_and_owner(self, request: CreateWorkshopInput) -> str:
        """The approved workshop, its owner account, and the owner's activation mail.

        Idempotent: a retry finds the workshop it created (unique registration id) and only
        issues a fresh activation link.
        """
        created = await self._accounts.create_workshop_and_owner(
            request.registration_id, request.language
        )
        token = created.invitation_token
        # The owner's account's language: a retry after the owner changed it writes in theirs.
        text = mail_text(
            MailKind.REGISTRATION_APPROVED,
            created.owner_language,
            name=created.name,
            portal_url=request.portal_url,
            token=token,
        )
        await self._mail.send(
            MailMessage(
                message_key=f"registration-approved/{request.registration_id}/{hash_token(token)[:16]}",
                recipient=created.owner_email,
                subject=text.subject,
                body=text.body,
                category="registration",
            )
        )
        return created.workshop_id

    @implements(contract.notify_reviewers)
    async def notify_reviewers(self, request: NotifyReviewersInput) -> int:
        reviewers = await self._accounts.administrators_to_mail()
        for email, language in reviewers:
            text = mail_text(
                MailKind.REVIEW_REMINDER,
                language,
                company_name=request.company_name,
                registration_id=request.registration_id,
                waiting_days=request.waiting_days,
            )
            await self._mail.send(
                MailMessage(
                    message_key=f"review-reminder/{request.registration_id}/{email}",
                    recipient=email,
                    subject=text.subject,
                    body=text.body,
                    category="review-reminder",
                )
            )
        return len(reviewers)
