"""Teleservice activities: the ticket list, the service-level notices, a car's open tickets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from contracts import teleservices as contract
from contracts.mail import MailMessage
from contracts.stubs import implements
from contracts.teleservices import (
    FindOpenTicketsInput,
    OpenTickets,
    TeleserviceTicketStatus,
    TicketNoticeInput,
)
from db.accounts import AccountRepository
from db.mail import MailSender
from db.teleservices import TeleserviceRepository
from domain.teleservices import TicketNoticeKind

_SUBJECTS = {
    TicketNoticeKind.ACKNOWLEDGE_REMINDER: "Teleservice ticket {ticket} waits for acknowledgement",
    TicketNoticeKind.ESCALATION: "Escalated: teleservice ticket {ticket} not acknowledged",
    TicketNoticeKind.APPOINTMENT_MISSED: "Teleservice ticket {ticket}: the appointment passed",
}
_BODIES = {
    TicketNoticeKind.ACKNOWLEDGE_REMINDER: (
        "A car of which you are the service partner reported '{item}'. The ticket {ticket} "
        "has not been acknowledged for 2 working days; acknowledge it in the console "
        "(Teleservice Tickets)."
    ),
    TicketNoticeKind.ESCALATION: (
        "The teleservice ticket {ticket} ('{item}') of workshop {workshop} has not been "
        "acknowledged for 4 working days."
    ),
    TicketNoticeKind.APPOINTMENT_MISSED: (
        "The appointment planned for ticket {ticket} ('{item}') has passed and no service "
        "entry covers it yet. Record the entry, or plan a new appointment."
    ),
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
            recipients = list(await self._accounts.administrator_emails())
        else:
            contact = await self._repository.workshop_contact(notice.workshop_id)
            recipients = [contact] if contact else []
        facts = {"ticket": notice.ticket_id, "item": notice.item, "workshop": notice.workshop_id}
        for recipient in recipients:
            await self._mail.send(
                MailMessage(
                    # Once per ticket, notice and recipient, however often the activity runs.
                    message_key=f"teleservice/{notice.ticket_id}/{notice.kind}/"
                    f"{notice.due_at.isoformat()}/{recipient}",
                    recipient=recipient,
                    subject=_SUBJECTS[notice.kind].format(**facts),
                    body=_BODIES[notice.kind].format(**facts),
                    category=f"teleservice-{notice.kind.replace('_', '-')}",
                )
            )

    @implements(contract.find_open_teleservice_tickets)
    async def find_open_teleservice_tickets(self, request: FindOpenTicketsInput) -> OpenTickets:
        return OpenTickets(tickets=await self._repository.open_tickets(request.vin))
