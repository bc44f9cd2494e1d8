"""Account administration used by commands (not by workflows): the initial administrator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.credentials import hash_password
from db.models import User
from domain.accounts import Role, check_password_policy


async def ensure_administrator(
    session_factory: async_sessionmaker[AsyncSession], email: str, password: str, name: str
) -> bool:
    """Create the administrator unless an account with this email exists. True when created."""
    email = email.strip().lower()
    check_password_policy(password, email)
    async with session_factory() as session, session.begin():
        if await session.scalar(select(User.id).where(User.email == email)) is not None:
            return False
        session.add(
            User(
                id=f"user-{uuid.uuid4().hex[:12]}",
                email=email,
                name=name,
                role=Role.ADMINISTRATOR.value,
                workshop_id=None,
                password_hash=hash_password(password),
                totp_enrolled=False,
                created_at=datetime.now(UTC),
            )
        )
    return True
