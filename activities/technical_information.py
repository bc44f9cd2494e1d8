"""Technical information activities: end a SERMI approval, move a document version through
publishing, and tell the workshops of affected vehicles."""

from __future__ import annotations

from datetime import timedelta

from contracts import technical_information as contract
from contracts.mail import MailMessage
from contracts.stubs import implements
from contracts.technical_information import (
    EndSermiApprovalInput,
    NotifyWorkshopsInput,
    SetVersionStateInput,
    VersionStateChanged,
    WorkshopsNotified,
)
from db.document_audience import DocumentAudienceRepository
from db.sermi_approvals import SermiApprovalRepository
from db.technical_information import TechnicalInformationRepository
from domain.mail_texts import MailKind, mail_text
from domain.technical_information import (
    AFFECTED_SERVICE_WINDOW,
    NOTIFYING_TYPES,
    DocumentType,
    VersionState,
)
from mail.senders import MailSender


class TechnicalInformationActivities:
    def __init__(
        self,
        repository: TechnicalInformationRepository,
        sermi_approvals: SermiApprovalRepository,
        audience: DocumentAudienceRepository,
        sender: MailSender,
    ) -> None:
        self._repository = repository
        self._sermi_approvals = sermi_approvals
        self._audience = audience
        self._sender = sender

    @implements(contract.end_sermi_approval)
    async def end_sermi_approval(self, request: EndSermiApprovalInput) -> bool:
        return await self._sermi_approvals.revoke_sermi_approval(
            request.approval_id, request.reason, request.at
        )

    @implements(contract.set_document_version_state)
    async def set_document_version_state(
        self, request: SetVersionStateInput
    ) -> VersionStateChanged:
        superseded = await self._repository.set_version_state(
            request.document_id, request.version, VersionState(request.state), request.at
        )
        document = await self._repository.document(request.document_id)
        return VersionStateChanged(
            superseded_version=superseded,
            notifies_workshops=DocumentType(document.doc_type) in NOTIFYING_TYPES,
        )

    @implements(contract.notify_affected_workshops)
    async def notify_affected_workshops(self, request: NotifyWorkshopsInput) -> WorkshopsNotified:
        since = (request.at - AFFECTED_SERVICE_WINDOW).date()
        workshops = await self._audience.affected_workshops(request.document_id, since)
        titles = await self._repository.titles(request.document_id, request.version)
        for workshop_id, name, email, language in workshops:
            # The title in the reader's language where the document has one.
            title = (
                titles.get(language.value)
                or titles.get("en")
                or next(iter(titles.values()), request.document_id)
            )
            text = mail_text(
                MailKind.DOCUMENT_PUBLISHED,
                language,
                name=name,
                days=AFFECTED_SERVICE_WINDOW // timedelta(days=1),
                document_id=request.document_id,
                version=request.version,
                title=title,
            )
            await self._sender.send(
                MailMessage(
                    message_key=f"document-published/{request.document_id}/"
                    f"v{request.version}/{workshop_id}",
                    recipient=email,
                    subject=text.subject,
                    body=text.body,
                    category="technical-information",
                )
            )
        return WorkshopsNotified(workshops=len(workshops))
