"""Sending mail: one `MailSender` interface, SMTP when configured, otherwise the outbox table
(which administrators read at `GET /admin/outbox`). The API sends with it directly (sign-in
mail), workflows through the `send_mail` activity."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.mail import MailMessage
from db.engine import reading
from db.models import OutboxMail
from settings import Settings


class MailSender(Protocol):
    async def send(self, message: MailMessage) -> None: ...


class OutboxMailSender:
    """Stores mail in `outbox_mail`; administrators read it at `GET /admin/outbox`."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def send(self, message: MailMessage) -> None:
        async with self._session_factory() as session, session.begin():
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


class SmtpMailSender:
    """Sends through an SMTP server with STARTTLS when a user is configured."""

    def __init__(
        self, host: str, port: int, sender: str, user: str | None, password: str | None
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._user, self._password = user, password

    def _send_blocking(self, message: MailMessage) -> None:
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = str(message.recipient)
        mail["Subject"] = message.subject
        mail["Message-ID"] = f"<{message.message_key}@aos>"
        mail.set_content(message.body)
        with smtplib.SMTP(self._host, self._port, timeout=30) as smtp:
            if self._user:
                smtp.starttls()
                smtp.login(self._user, self._password or "")
            smtp.send_message(mail)

    async def send(self, message: MailMessage) -> None:
        await asyncio.to_thread(self._send_blocking, message)


def mail_sender_for(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> MailSender:
    """SMTP when `AOS_SMTP_HOST` is set, otherwise the outbox table."""
    if settings.smtp_host:
        return SmtpMailSender(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_sender,
            settings.smtp_user,
            settings.smtp_password,
        )
    return OutboxMailSender(session_factory)
