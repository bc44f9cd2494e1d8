"""Mail, as workflows ask the portal worker to send it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, EmailStr, Field


class MailActivity(StrEnum):
    SEND_MAIL = "send_mail"


class MailMessage(BaseModel):
    """One mail. `message_key` makes sending idempotent across activity retries."""

    message_key: str = Field(min_length=1, max_length=200)
    recipient: EmailStr
    subject: str = Field(max_length=300)
    body: str
    category: str = Field(default="general", max_length=64)
