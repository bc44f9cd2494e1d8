"""Portal staff: the mail outbox of the embedded mode."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from db.base import INTEGER_MAX
from db.outbox import outbox_mail
from web.deps import AdminUser, ResourcesDep

router = APIRouter(prefix="/admin", tags=["administration"])


class OutboxEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    recipient: str
    subject: str
    body: str
    category: str


@router.get("/outbox", response_model=list[OutboxEntry])
async def outbox(
    admin: AdminUser,
    resources: ResourcesDep,
    recipient: str | None = Query(default=None, description="Only mail to this address"),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=INTEGER_MAX),
) -> list[OutboxEntry]:
    """Mail the portal sent while no SMTP server is configured, newest first."""
    mails = await outbox_mail(resources.session_factory, recipient, limit, offset)
    return [OutboxEntry.model_validate(mail) for mail in mails]
