"""Mail, as workflows ask the portal worker to send it."""

from __future__ import annotations

from pydantic import BaseModel, EmailStr, Field
from temporalio import activity


class MailMessage(BaseModel):
    """One mail. `message_key` makes sending idempotent across activity retries."""

    message_key: str = Field(min_length=1, max_length=200)
    recipient: EmailStr
    subject: str = Field(max_length=300)
    body: str
    category: str = Field(default="general", max_length=64)


@activity.defn(name="send_mail")
async def send_mail(message: MailMessage) -> None:
    """Send one mail (once per `message_key`)."""
    raise NotImplementedError("runs on the portal worker: activities.mail")
