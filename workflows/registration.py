"""RegistrationWorkflow: one per application, from submission to an approved workshop.

submitted --(email code)--> email_verified --(VAT check)--> under_review --(decision)-->
approved | rejected. Abandoned when the email is not verified within 24 h or no decision is
taken within 14 days (reviewers get a reminder after 2 days). Human steps are updates with
validators, so a malformed or out-of-order step is refused before it reaches history.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes
    from contracts.errors import domain_failure
    from contracts.mail import MailMessage, send_mail
    from contracts.registration import (
        REGISTRATION_WORKFLOW,
        STATUS_QUERY,
        CheckVatInput,
        CreateWorkshopInput,
        DecisionInput,
        NotifyReviewersInput,
        RecordRegistrationStateInput,
        RegistrationInput,
        RegistrationStatus,
        RegistrationUpdate,
        ResendCodeInput,
        VerifyEmailInput,
        check_vat_id,
        create_workshop_and_owner,
        notify_reviewers,
        record_registration_state,
    )
    from domain.mail_texts import MailKind, MailText, mail_text
    from domain.registration import (
        CODE_LIFETIME,
        EMAIL_VERIFICATION_DEADLINE,
        MAX_CODE_ATTEMPTS,
        MAX_CODE_RESENDS,
        REVIEW_DEADLINE,
        REVIEW_REMINDER_AFTER,
        CodeAttemptsExhausted,
        CodeExpired,
        CodeRejected,
        RegistrationMachine,
        RegistrationNotUnderReview,
        RegistrationState,
        ResendLimitReached,
        WrongRegistrationState,
        code_digest,
    )

ACTIVITY_TIMEOUT = timedelta(seconds=30)


@workflow.defn(name=REGISTRATION_WORKFLOW)
class RegistrationWorkflow:
    @workflow.init
    def __init__(self, request: RegistrationInput) -> None:
        self.request = request
        self.machine = RegistrationMachine()
        self.code_hash: str | None = None
        self.code_expires_at: datetime | None = None
        self.code_attempts = 0
        self.codes_sent = 0
        self.vat_check: str | None = None
        self.decision: DecisionInput | None = None
        self.workshop_id: str | None = None
        self.stored_state = "submitted"  # the state the registrations table holds

    @property
    def state(self) -> RegistrationState:
        return cast(RegistrationState, self.machine.current_state_value)

    # --- the process ------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: RegistrationInput) -> RegistrationStatus:
        workflow.upsert_search_attributes([search_attributes.FLOW_STATE.value_set(self.state)])
        await self._send_code()
        try:
            await workflow.wait_condition(
                lambda: self.state != "submitted", timeout=EMAIL_VERIFICATION_DEADLINE
            )
        except TimeoutError:
            await self._enter("abandon", decision_reason="email not verified within 24 hours")
            return self.status()

        application = request.application
        vat = await workflow.execute_activity(
            check_vat_id,
            CheckVatInput(country=application.country, vat_id=application.vat_id),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        self.vat_check = ("valid: " if vat.valid else "invalid: ") + vat.reason
        await self._enter("start_review", vat_check=self.vat_check)

        if not await self._wait_for_decision():
            await self._enter("abandon", decision_reason="no decision within 14 days")
            return self.status()

        assert self.decision is not None
        if self.decision.approve:
            self.workshop_id = await workflow.execute_activity(
                create_workshop_and_owner,
                CreateWorkshopInput(
                    registration_id=request.registration_id,
                    portal_url=request.portal_url,
                    language=request.language,
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
            workflow.upsert_search_attributes(
                [search_attributes.WORKSHOP_ID.value_set(self.workshop_id)]
            )
            await self._enter("approve", decision_reason=self.decision.reason)
        else:
            await self._enter("reject", decision_reason=self.decision.reason)
            await self._mail(
                f"rejected/{request.registration_id}",
                mail_text(
                    MailKind.REGISTRATION_REJECTED,
                    request.language,
                    company_name=application.company_name,
                    reason=self.decision.reason,
                ),
            )
        return self.status()

    async def _wait_for_decision(self) -> bool:
        try:
            await workflow.wait_condition(
                lambda: self.decision is not None, timeout=REVIEW_REMINDER_AFTER
            )
            return True
        except TimeoutError:
            await workflow.execute_activity(
                notify_reviewers,
                NotifyReviewersInput(
                    registration_id=self.request.registration_id,
                    company_name=self.request.application.company_name,
                    waiting_days=REVIEW_REMINDER_AFTER.days,
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
        try:
            await workflow.wait_condition(
                lambda: self.decision is not None,
                timeout=REVIEW_DEADLINE - REVIEW_REMINDER_AFTER,
            )
            return True
        except TimeoutError:
            return False

    async def _enter(self, event: str, **recorded: str | None) -> None:
        self.machine.send(event)
        workflow.upsert_search_attributes([search_attributes.FLOW_STATE.value_set(self.state)])
        await workflow.execute_activity(
            record_registration_state,
            RecordRegistrationStateInput(
                registration_id=self.request.registration_id,
                state=self.state,
                workshop_id=self.workshop_id,
                **recorded,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        self.stored_state = self.state

    async def _send_code(self) -> None:
        code = f"{workflow.random().randint(0, 999_999):06d}"
        self.code_hash = code_digest(self.request.registration_id, code)
        self.code_expires_at = workflow.now() + CODE_LIFETIME
        self.code_attempts = 0
        self.codes_sent += 1
        text = mail_text(
            MailKind.REGISTRATION_CODE,
            self.request.language,
            code=code,
            verify_url=f"{self.request.portal_url}/console/registrations/"
            f"{self.request.registration_id}/verify",
        )
        await self._mail(f"code/{self.request.registration_id}/{self.codes_sent}", text)

    async def _mail(self, key: str, text: MailText) -> None:
        await workflow.execute_activity(
            send_mail,
            MailMessage(
                message_key=key,
                recipient=self.request.application.contact_email,
                subject=text.subject,
                body=text.body,
                category="registration",
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )

    # --- human steps ------------------------------------------------------------------------

    @workflow.update(name=RegistrationUpdate.VERIFY_EMAIL)
    async def verify_email(self, step: VerifyEmailInput) -> RegistrationStatus:
        """The applicant proves the contact email with the mailed code (single use)."""
        if code_digest(self.request.registration_id, step.code) != self.code_hash:
            self.code_attempts += 1
            raise domain_failure(
                CodeRejected(
                    "the verification code is wrong",
                    field="code",
                    attempts_left=MAX_CODE_ATTEMPTS - self.code_attempts,
                )
            )
        self.machine.send("verify_email")
        workflow.upsert_search_attributes([search_attributes.FLOW_STATE.value_set(self.state)])
        return self.status()

    @verify_email.validator
    def _validate_verify_email(self, step: VerifyEmailInput) -> None:
        if self.state != "submitted":
            raise domain_failure(
                WrongRegistrationState(
                    f"the email is already verified (state {self.state})", state=self.state
                )
            )
        if not (len(step.code) == 6 and step.code.isdigit()):
            raise domain_failure(CodeRejected("the code has 6 digits", field="code"))
        if self.code_attempts >= MAX_CODE_ATTEMPTS:
            raise domain_failure(
                CodeAttemptsExhausted(
                    f"{MAX_CODE_ATTEMPTS} wrong codes: ask for a new code", field="code"
                )
            )
        if self.code_expires_at is not None and workflow.now() >= self.code_expires_at:
            raise domain_failure(
                CodeExpired("the code has expired: ask for a new one", field="code")
            )

    @workflow.update(name=RegistrationUpdate.RESEND_CODE)
    async def resend_code(self, step: ResendCodeInput) -> RegistrationStatus:
        """A fresh code; the previous one stops working."""
        await self._send_code()
        return self.status()

    @resend_code.validator
    def _validate_resend_code(self, step: ResendCodeInput) -> None:
        if self.state != "submitted":
            raise domain_failure(
                WrongRegistrationState(f"no code is needed in state {self.state}", state=self.state)
            )
        if self.codes_sent > MAX_CODE_RESENDS:
            raise domain_failure(
                ResendLimitReached(f"at most {MAX_CODE_RESENDS} codes are re-sent")
            )

    @workflow.update(name=RegistrationUpdate.DECIDE)
    async def decide(self, decision: DecisionInput) -> RegistrationStatus:
        """An administrator approves or rejects; answers once the outcome is stored."""
        self.decision = decision
        await workflow.wait_condition(lambda: self.stored_state in ("approved", "rejected"))
        return self.status()

    @decide.validator
    def _validate_decide(self, decision: DecisionInput) -> None:
        if self.state != "under_review":
            raise domain_failure(
                RegistrationNotUnderReview(f"the registration is {self.state}", state=self.state)
            )
        if self.decision is not None:  # decided; the outcome is being stored
            raise domain_failure(
                RegistrationNotUnderReview("the registration was decided already", state=self.state)
            )

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> RegistrationStatus:
        return RegistrationStatus(
            registration_id=self.request.registration_id,
            state=self.state,
            vat_check=self.vat_check,
            workshop_id=self.workshop_id,
            decision_reason=self.decision.reason if self.decision else None,
            code_attempts_left=max(0, MAX_CODE_ATTEMPTS - self.code_attempts),
            code_expires_at=self.code_expires_at,
        )
