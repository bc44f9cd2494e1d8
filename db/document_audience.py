"""Whom a technical document concerns: the workshops that serviced a vehicle it applies to
(told of a new bulletin), and the campaign document of each technical action."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.engine import reading
from db.models import ServiceEntry, TechDocument, TechDocumentApplicability, User, Vehicle, Workshop
from domain.languages import language_or_default
from domain.technical_information import Language


class DocumentAudienceRepository:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def documents_for_action(self, action_ids: Sequence[str]) -> dict[str, str]:
        """The campaign document of each technical action that has one (action id → id)."""
        if not action_ids:
            return {}
        async with reading(self._session_factory) as session:
            rows = await session.execute(
                select(TechDocument.action_id, TechDocument.id).where(
                    TechDocument.action_id.in_(list(action_ids))
                )
            )
            return {action: document for action, document in rows if action is not None}

    async def affected_workshops(
        self, document_id: str, serviced_since: date
    ) -> list[tuple[str, str, str, Language]]:
        """Workshops that made a service entry since `serviced_since` for a vehicle the
        document applies to: (id, name, contact email, the contact's language), by id."""
        a = TechDocumentApplicability
        applies = (
            select(a.id)
            .where(
                a.document_id == document_id,
                a.series == Vehicle.series,
                a.type_code.is_(None) | (a.type_code == Vehicle.type_code),
                a.produced_from.is_(None) | (a.produced_from <= Vehicle.production_date),
                a.produced_until.is_(None) | (a.produced_until >= Vehicle.production_date),
            )
            .exists()
        )
        async with reading(self._session_factory) as session:
            rows = await session.execute(
                select(Workshop.id, Workshop.name, Workshop.contact_email, User.language)
                .join(ServiceEntry, ServiceEntry.workshop_id == Workshop.id)
                .join(Vehicle, Vehicle.vin == ServiceEntry.vin)
                .outerjoin(User, User.email == Workshop.contact_email)
                .where(ServiceEntry.service_date >= serviced_since, applies)
                .distinct()
                .order_by(Workshop.id)
            )
            return [
                (w, name, email, language_or_default(language)) for w, name, email, language in rows
            ]
