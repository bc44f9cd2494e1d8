"""Portal staff: the mail outbox of the embedded mode."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import AdminUser, SessionDep
from db.models import OutboxMail

router = APIRouter(prefix="/admin", tags=["administration"])


class OutboxEntry(BaseModel):
    id: int
    created_at: datetime
    recipient: str
    subject: str
    body: str
    category: str


@router.get("/outbox", response_model=list[OutboxEntry])
async def outbox(
    admin: AdminUser,
    session: SessionDep,
    recipient: str | None = Query(default=None, description="Only mail to this address"),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> list[OutboxEntry]:
    """Mail the portal sent while no SMTP server is configured, newest first."""
    query = select(OutboxMail).order_by(OutboxMail.id.desc()).limit(limit).offset(offset)
    if recipient is not None:
        query = query.where(OutboxMail.recipient == recipient.lower())
    return [
        OutboxEntry(
            id=m.id,
            created_at=m.created_at,
            recipient=m.recipient,
            subject=m.subject,
            body=m.body,
            category=m.category,
        )
        for m in (await session.scalars(query)).all()
    ]
