"""Sending mail: one `MailSender` interface, SMTP when configured, otherwise the outbox table
(`db.outbox`, which administrators read at `GET /admin/outbox`). The use cases send with it
directly (sign-in mail, `application.accounts`), workflows through the `send_mail` activity."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.mail import MailMessage
from db.outbox import store_outbox_mail
from settings import Settings


class MailSender(Protocol):
    async def send(self, message: MailMessage) -> None: ...


class OutboxMailSender:
    """Keeps mail in the outbox table (`db.outbox`); administrators read it at
    `GET /admin/outbox`."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def send(self, message: MailMessage) -> None:
        await store_outbox_mail(self._session_factory, message)


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
