"""The outbox table: mail kept in the database while no SMTP server is configured (the
embedded mode). `mail.senders.OutboxMailSender` writes it; administrators read it at
`GET /admin/outbox` and on the operators' console page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.mail import MailMessage
from db.engine import reading
from db.models import OutboxMail


async def store_outbox_mail(
    session_factory: async_sessionmaker[AsyncSession], message: MailMessage
) -> None:
    """Keep `message` once: a message key stored before (a retried send) adds nothing."""
    async with session_factory() as session, session.begin():
        existing = await session.scalar(
            select(OutboxMail.id).where(OutboxMail.message_key == message.message_key)
        )
        if existing is not None:
            return
        session.add(
            OutboxMail(
                message_key=message.message_key,
                created_at=datetime.now(UTC),
                recipient=str(message.recipient),
                subject=message.subject,
                body=message.body,
                category=message.category,
            )
        )


async def outbox_mail(
    session_factory: async_sessionmaker[AsyncSession],
    recipient: str | None,
    limit: int,
    offset: int,
) -> Sequence[OutboxMail]:
    """The outbox, newest first; with `recipient`, only mail to that address."""
    query = select(OutboxMail).order_by(OutboxMail.id.desc()).limit(limit).offset(offset)
    if recipient is not None:
        query = query.where(OutboxMail.recipient == recipient.lower())
    async with reading(session_factory) as session:
        return (await session.scalars(query)).all()
