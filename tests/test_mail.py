"""Mail sent by workflows lands in the outbox exactly once, also when the activity is retried."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.mail import MailActivities
from contracts.mail import MailMessage
from db.models import OutboxMail
from mail.senders import OutboxMailSender


async def test_outbox_keeps_one_copy_per_message_key(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    activities = MailActivities(OutboxMailSender(session_factory))
    message = MailMessage(
        message_key="registration-1/code-1",
        recipient="owner@garage.example",
        subject="Your code",
        body="123456",
        category="registration",
    )
    env = ActivityEnvironment()
    await env.run(activities.send_mail, message)
    await env.run(activities.send_mail, message)  # a retry after a lost acknowledgement
    async with session_factory() as session:
        stored = (await session.scalars(select(OutboxMail))).all()
    assert [(m.recipient, m.subject, m.category) for m in stored] == [
        ("owner@garage.example", "Your code", "registration")
    ]
