"""Teleservice activities: the ticket list, the service-level notices, a car's open tickets;
the remote key read's request to the backend, key table, list and mail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from contracts import remote_key_reads as remote
from contracts import teleservices as contract
from contracts.key_reads import KeyRecordView
from contracts.mail import MailMessage
from contracts.remote_key_reads import (
    AnnounceRemoteKeyReadInput,
    BackendAnswer,
    RecordRemoteKeyReadInput,
    RemoteKeyReadStatus,
    SendKeyReadRequestInput,
)
from contracts.stubs import implements
from contracts.teleservices import (
    FindOpenTicketsInput,
    OpenTickets,
    TeleserviceTicketStatus,
    TicketNoticeInput,
)
from db.accounts import AccountRepository
from db.service_history import ServiceHistoryRepository
from db.teleservices import TeleserviceRepository
from domain.mail_texts import MailKind, mail_text
from domain.signed_messages import sign
from domain.teleservices import TicketNoticeKind
from mail.senders import MailSender

# Each notice's mail.
_MAIL_KINDS = {
    TicketNoticeKind.ACKNOWLEDGE_REMINDER: MailKind.TELESERVICE_ACKNOWLEDGE_REMINDER,
    TicketNoticeKind.ESCALATION: MailKind.TELESERVICE_ESCALATION,
    TicketNoticeKind.APPOINTMENT_MISSED: MailKind.TELESERVICE_APPOINTMENT_MISSED,
}


class TeleserviceActivities:
    def __init__(
        self,
        repository: TeleserviceRepository,
        accounts: AccountRepository,
        mail: MailSender,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._repository = repository
        self._accounts = accounts
        self._mail = mail
        self._clock = clock

    @implements(contract.record_teleservice_ticket)
    async def record_teleservice_ticket(self, status: TeleserviceTicketStatus) -> None:
        await self._repository.record_ticket(status, self._clock())

    @implements(contract.send_teleservice_ticket_notice)
    async def send_teleservice_ticket_notice(self, notice: TicketNoticeInput) -> None:
        if notice.kind == TicketNoticeKind.ESCALATION:
            recipients = list(await self._accounts.administrators_to_mail())
        else:
            contact = await self._repository.workshop_contact(notice.workshop_id)
            recipients = [contact] if contact else []
        for recipient, language in recipients:
            text = mail_text(
                _MAIL_KINDS[notice.kind],
                language,
                ticket=notice.ticket_id,
                item=notice.item,
                workshop=notice.workshop_id,
            )
            await self._mail.send(
                MailMessage(
                    # Once per ticket, notice and recipient, however often the activity runs.
                    message_key=f"teleservice/{notice.ticket_id}/{notice.kind}/"
                    f"{notice.due_at.isoformat()}/{recipient}",
                    recipient=recipient,
                    subject=text.subject,
                    body=text.body,
                    category=f"teleservice-{notice.kind.replace('_', '-')}",
                )
            )

    @implements(contract.find_open_teleservice_tickets)
    async def find_open_teleservice_tickets(self, request: FindOpenTicketsInput) -> OpenTickets:
        return OpenTickets(tickets=await self._repository.open_tickets(request.vin))


class RemoteKeyReadActivities:
    """The remote key read's side effects: the backend over HTTP, the key table, the list and
    the workshop's mail."""

    def __init__(
        self,
        repository: TeleserviceRepository,
        service_history: ServiceHistoryRepository,
        mail: MailSender,
        backend_url: str,
        secret: Callable[[], str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._repository = repository
        self._service_history = service_history
        self._mail = mail
        self._backend_url = backend_url.rstrip("/")
        self._secret = secret
        self._clock = clock

    @implements(remote.send_remote_key_read_request)
    async def send_remote_key_read_request(self, request: SendKeyReadRequestInput) -> BackendAnswer:
        body = request.model_dump_json().encode()
        # The request id is the message id: a retry is the same message, which the backend
        # takes once.
        headers = sign(self._secret(), f"krr_{request.request_id}", self._clock(), body)
        async with httpx.AsyncClient(timeout=20) as client:
            answer = await client.post(
                f"{self._backend_url}/key-read-requests",
                content=body,
                headers={**headers, "Content-Type": "application/json"},
            )
        if answer.status_code >= 300:
            raise RuntimeError(f"the connected-car backend answered {answer.status_code}")
        return BackendAnswer.ACCEPTED

    @implements(remote.record_remote_key_read)
    async def record_remote_key_read(self, request: RecordRemoteKeyReadInput) -> KeyRecordView:
        record = await self._service_history.record_remote_key_read(
            request.workshop_id, request.key, request.read_at
        )
        return KeyRecordView.model_validate(record)

    @implements(remote.record_remote_key_read_request)
    async def record_remote_key_read_request(self, status: RemoteKeyReadStatus) -> None:
        await self._repository.record_remote_request(status, self._clock())

    @implements(remote.announce_remote_key_read)
    async def announce_remote_key_read(self, request: AnnounceRemoteKeyReadInput) -> None:
        contact = await self._repository.workshop_contact(request.workshop_id)
        if contact is None:
            return
        recipient, language = contact
        text = mail_text(
            MailKind.REMOTE_KEY_READ_RECEIVED,
            language,
            vin=request.vin,
            request_id=request.request_id,
        )
        await self._mail.send(
            MailMessage(
                message_key=f"remote-key-read/{request.request_id}",
                recipient=recipient,
                subject=text.subject,
                body=text.body,
                category="remote-key-read-received",
            )
        )
