"""Mail as a Temporal activity, so a workflow's mail survives crashes and is retried."""

from __future__ import annotations

from temporalio import activity

from contracts.mail import MailActivity, MailMessage
from db.mail import MailSender


class MailActivities:
    def __init__(self, sender: MailSender) -> None:
        self._sender = sender

    @activity.defn(name=MailActivity.SEND_MAIL)
    async def send_mail(self, message: MailMessage) -> None:
        await self._sender.send(message)
