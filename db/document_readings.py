"""The reading record of technical information: who read which document version, in which
language, when; a workshop's history and the operators' usage figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.engine import reading
from db.models import TechDocumentText, TechDocumentVersion, TechDocumentView, User


@dataclass(frozen=True)
class ReadingRecord:
    view: TechDocumentView
    person: str
    title: str


class DocumentReadingRepository:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def record_view(
        self,
        user_id: str,
        workshop_id: str | None,
        document_id: str,
        version: int,
        language: str,
        at: datetime,
    ) -> None:
        async with self._session_factory() as session, session.begin():
            session.add(
                TechDocumentView(
                    user_id=user_id,
                    workshop_id=workshop_id,
                    document_id=document_id,
                    version=version,
                    language=language,
                    viewed_at=at,
                )
            )

    async def reading_history(
        self, workshop_id: str, limit: int, offset: int
    ) -> tuple[int, list[ReadingRecord]]:
        """The workshop's document views, newest first, with who read and the title read."""
        async with reading(self._session_factory) as session:
            where = TechDocumentView.workshop_id == workshop_id
            total = await session.scalar(select(func.count(TechDocumentView.id)).where(where))
            rows = await session.execute(
                select(TechDocumentView, User.name, TechDocumentText.title)
                .join(User, User.id == TechDocumentView.user_id)
                .join(
                    TechDocumentVersion,
                    (TechDocumentVersion.document_id == TechDocumentView.document_id)
                    & (TechDocumentVersion.version == TechDocumentView.version),
                )
                .join(
                    TechDocumentText,
                    (TechDocumentText.version_id == TechDocumentVersion.id)
                    & (TechDocumentText.language == TechDocumentView.language),
                )
                .where(where)
                .order_by(TechDocumentView.viewed_at.desc(), TechDocumentView.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return int(total or 0), [ReadingRecord(v, name, title) for v, name, title in rows]

    async def usage(self, limit: int) -> list[tuple[str, int, int]]:
        """Per document: views and distinct workshops, most read first (operators)."""
        async with reading(self._session_factory) as session:
            rows = await session.execute(
                select(
                    TechDocumentView.document_id,
                    func.count(TechDocumentView.id),
                    func.count(func.distinct(TechDocumentView.workshop_id)),
                )
                .group_by(TechDocumentView.document_id)
                .order_by(func.count(TechDocumentView.id).desc(), TechDocumentView.document_id)
                .limit(limit)
            )
            return [(document, int(views), int(workshops)) for document, views, workshops in rows]
