"""SERMI approvals: the security-related repair and maintenance approval a person holds,
recorded and revoked by an administrator, checked before security-related documents are shown."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.engine import reading
from db.models import SermiApproval
from db.rows import get_or_raise
from domain.technical_information import SermiApprovalNotFound


class SermiApprovalRepository:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def record_sermi_approval(
        self,
        user_id: str,
        certificate_reference: str,
        expires_at: datetime,
        recorded_by: str,
        now: datetime,
    ) -> SermiApproval:
        approval = SermiApproval(
            id=f"sermi-{uuid.uuid4().hex[:16]}",
            user_id=user_id,
            certificate_reference=certificate_reference,
            expires_at=expires_at,
            recorded_by=recorded_by,
            recorded_at=now,
            revoked_at=None,
            revoked_reason=None,
        )
        async with self._session_factory() as session, session.begin():
            session.add(approval)
        return approval

    async def active_sermi_approval(self, user_id: str, at: datetime) -> SermiApproval | None:
        async with reading(self._session_factory) as session:
            row: SermiApproval | None = await session.scalar(
                select(SermiApproval)
                .where(
                    SermiApproval.user_id == user_id,
                    SermiApproval.revoked_at.is_(None),
                    SermiApproval.expires_at > at,
                )
                .order_by(SermiApproval.expires_at.desc())
                .limit(1)
            )
            return row

    async def sermi_approval(self, approval_id: str) -> SermiApproval:
        async with reading(self._session_factory) as session:
            missing = SermiApprovalNotFound(f"no SERMI approval {approval_id}", field="approval_id")
            return await get_or_raise(session, SermiApproval, approval_id, missing)

    async def sermi_approvals(self, user_id: str | None) -> list[SermiApproval]:
        async with reading(self._session_factory) as session:
            query = select(SermiApproval).order_by(SermiApproval.recorded_at.desc())
            if user_id is not None:
                query = query.where(SermiApproval.user_id == user_id)
            return list(await session.scalars(query))

    async def revoke_sermi_approval(self, approval_id: str, reason: str, at: datetime) -> bool:
        """Ends an approval; False when it had ended already (a retry changes nothing)."""
        async with self._session_factory() as session, session.begin():
            result = await session.execute(
                update(SermiApproval)
                .where(SermiApproval.id == approval_id, SermiApproval.revoked_at.is_(None))
                .values(revoked_at=at, revoked_reason=reason)
            )
            return bool(getattr(result, "rowcount", 0))
