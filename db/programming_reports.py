"""Signed programming reports: kept once, read as they were stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.engine import reading
from db.models import ProgrammingReport
from db.rows import insert_once


class ProgrammingReportRepository:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def document(self, session_id: str) -> bytes | None:
        """The signed report of the session as it was stored; None before it was built."""
        async with reading(self._session_factory) as session:
            report = await session.get(ProgrammingReport, session_id)
        return None if report is None else report.document

    async def keep(
        self, session_id: str, workshop_id: str, key_id: str, signed_at: datetime, document: bytes
    ) -> bytes:
        """Store the report unless one is there already (two requests built it at once): the
        one stored first is the report, and is returned."""
        report = ProgrammingReport(
            session_id=session_id,
            workshop_id=workshop_id,
            key_id=key_id,
            signed_at=signed_at,
            document=document,
        )
        if await insert_once(self._session_factory, report):
            return document
        stored = await self.document(session_id)
        assert stored is not None  # the row that was in the way
        return stored
