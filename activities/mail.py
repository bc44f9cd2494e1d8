"""Mail as a Temporal activity, so a workflow's mail survives crashes and is retried."""

from __future__ import annotations

from contracts import mail as contract
from contracts.mail import MailMessage
from contracts.stubs import implements
from mail.senders import MailSender


class MailActivities:
    def __init__(self, sender: MailSender) -> None:
        self._sender = sender

    @implements(contract.send_mail)
    async def send_mail(self, message: MailMessage) -> None:
        await self._sender.send(message)
