"""SermiApprovalWorkflow: one per SERMI approval (`sermi-approval-<approval_id>`), the clock of
a person's access to security-related technical information.

It mails the person 30 days before the approval expires (`domain.technical_information.
SERMI_EXPIRY_NOTICE`; at once when recorded with less time left) and, at expiry, records the
end (`end_sermi_approval`) and mails the person again. An administrator's revocation (recorded
by the API, then the signal `revoked`) ends it early. Reading checks the approval's record, whose
`expires_at` already ends access on time; the flow makes the end visible, mailed and recorded.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import cast

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes
    from contracts.mail import MailMessage, send_mail
    from contracts.technical_information import (
        SERMI_APPROVAL_WORKFLOW,
        SERMI_STATUS_QUERY,
        EndSermiApprovalInput,
        SermiApprovalInput,
        SermiApprovalStatus,
        SermiRevocation,
        SermiSignal,
        end_sermi_approval,
    )
    from domain.languages import local_datetime
    from domain.mail_texts import MailKind, mail_text
    from domain.technical_information import (
        SermiApprovalMachine,
        SermiApprovalState,
        sermi_notice_at,
    )

ACTIVITY_TIMEOUT = timedelta(seconds=30)


@workflow.defn(name=SERMI_APPROVAL_WORKFLOW)
class SermiApprovalWorkflow:
    def __init__(self) -> None:
        self.machine = SermiApprovalMachine()
        self.revocation: SermiRevocation | None = None
        self.start: SermiApprovalInput | None = None
        self.notice_sent = False

    @property
    def state(self) -> SermiApprovalState:
        return cast(SermiApprovalState, self.machine.current_state_value)

    @workflow.signal(name=SermiSignal.REVOKED)
    def revoked(self, revocation: SermiRevocation) -> None:
        if self.revocation is None:
            self.revocation = revocation

    @workflow.query(name=SERMI_STATUS_QUERY)
    def status(self) -> SermiApprovalStatus:
        assert self.start is not None
        return SermiApprovalStatus(
            approval_id=self.start.approval_id,
            state=self.state,
            expires_at=self.start.expires_at,
            notice_sent=self.notice_sent,
        )

    def _move(self, event: str) -> None:
        self.machine.send(event)
        workflow.upsert_search_attributes([search_attributes.FLOW_STATE.value_set(self.state)])

    async def _revoked_within(self, timeout: timedelta) -> bool:  # noqa: ASYNC109
        if timeout > timedelta(0):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self.revocation is not None, timeout=timeout)
        return self.revocation is not None

    async def _mail(self, key: str, kind: MailKind) -> None:
        assert self.start is not None
        text = mail_text(
            kind,
            self.start.language,
            certificate_reference=self.start.certificate_reference,
            expires_at=local_datetime(self.start.expires_at, self.start.language),
        )
        await workflow.execute_activity(
            send_mail,
            MailMessage(
                message_key=f"{workflow.info().workflow_id}/{key}",
                recipient=self.start.recipient,
                subject=text.subject,
                body=text.body,
                category="sermi-approval",
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )

    @workflow.run
    async def run(self, start: SermiApprovalInput) -> SermiApprovalStatus:
        self.start = start
        attributes = [search_attributes.FLOW_STATE.value_set(self.state)]
        if start.workshop_id:
            attributes.append(search_attributes.WORKSHOP_ID.value_set(start.workshop_id))
        workflow.upsert_search_attributes(attributes)

        if await self._revoked_within(sermi_notice_at(start.expires_at) - workflow.now()):
            self._move("revoke")
            return self.status()
        if workflow.now() < start.expires_at:
            await self._mail("expiry-notice", MailKind.SERMI_EXPIRY_NOTICE)
            self.notice_sent = True
            self._move("announce_expiry")
        if await self._revoked_within(start.expires_at - workflow.now()):
            self._move("revoke")
            return self.status()
        await workflow.execute_activity(
            end_sermi_approval,
            EndSermiApprovalInput(
                approval_id=start.approval_id, reason="expired", at=start.expires_at
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        await self._mail("expired", MailKind.SERMI_EXPIRED)
        self._move("expire")
        return self.status()
