"""Registrations: the applications of independent workshops, the state their flow records,
and the workshop and owner account an approval creates."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.account_store import AccountStore, NewWorkshop, new_user, utc_now
from db.engine import reading
from db.models import Registration, User, Workshop
from db.rows import get_or_raise
from domain.accounts import INVITATION_LIFETIME, Role
from domain.errors import NotFound
from domain.languages import DEFAULT_LANGUAGE, Language, language_or_default
from domain.registration import OPEN_STATES, Application, ApplicationAlreadyOpen


class RegistrationRecords(AccountStore):
    """The registration steps of `db.accounts.AccountRepository`."""

    # --- registrations --------------------------------------------------------------------------

    async def apply(self, application: Application) -> tuple[Registration, bool]:
        """The open registration of this application, and whether this call created it.

        Re-sending the identical application finds the same registration; another open
        application with the same VAT ID or contact email is `registration-already-open`.
        """
        fingerprint = application.fingerprint()
        try:
            async with self._session_factory() as session, session.begin():
                registration = await self._open_registration_for(session, application)
                created = registration is None
                if registration is None:
                    now = utc_now()
                    registration = Registration(
                        id=str(uuid.uuid4()),
                        state="submitted",
                        is_open=True,
                        fingerprint=fingerprint,
                        created_at=now,
                        updated_at=now,
                        **application.model_dump(),
                    )
                    session.add(registration)
        except IntegrityError:  # a concurrent identical request won the race
            async with reading(self._session_factory) as session:
                registration = await self._open_registration_for(session, application)
            if registration is None:
                raise
            created = False
        if registration.fingerprint != fingerprint:
            field = "vat_id" if registration.vat_id == application.vat_id else "contact_email"
            raise ApplicationAlreadyOpen(
                f"registration {registration.id} with this {field} is still open",
                field=field,
                open_registration_id=registration.id,
            )
        return registration, created

    async def registration_state(self, registration_id: str) -> str:
        """The registration's stored state; `not-found` when unknown."""
        async with reading(self._session_factory) as session:
            missing = NotFound("no registration with this id", field="registration_id")
            registration = await get_or_raise(session, Registration, registration_id, missing)
        return registration.state

    async def registrations(
        self, state: str | None, limit: int, offset: int
    ) -> Sequence[Registration]:
        """Applications, newest first, optionally in one state."""
        query = (
            select(Registration)
            .order_by(Registration.created_at.desc())
            .limit(limit)
            .offset(offset)
        )
        if state is not None:
            query = query.where(Registration.state == state)
        async with reading(self._session_factory) as session:
            return (await session.scalars(query)).all()

    async def record_registration_state(
        self,
        registration_id: str,
        state: str,
        *,
        vat_check: str | None = None,
        decision_reason: str | None = None,
        workshop_id: str | None = None,
    ) -> None:
        """Mirror the workflow's state; a field given as None keeps its stored value."""
        values: dict[str, object] = {
            "state": state,
            "is_open": state in OPEN_STATES,
            "updated_at": utc_now(),
        }
        given = {
            "vat_check": vat_check,
            "decision_reason": decision_reason,
            "workshop_id": workshop_id,
        }
        values.update({name: value for name, value in given.items() if value is not None})
        async with self._session_factory() as session, session.begin():
            await session.execute(
                update(Registration).where(Registration.id == registration_id).values(**values)
            )

    async def create_workshop_and_owner(
        self, registration_id: str, language: Language = DEFAULT_LANGUAGE
    ) -> NewWorkshop:
        """The approved registration's workshop, its owner account (reading `language`, the one
        the applicant applied in), and a fresh activation token.

        Idempotent: a retry finds the workshop it created (unique registration id) and the
        owner (unique email), and only issues a fresh token.
        """
        now = utc_now()
        async with self._session_factory() as session, session.begin():
            missing = ValueError(f"registration {registration_id} is not stored")
            registration = await get_or_raise(session, Registration, registration_id, missing)
            workshop = await session.scalar(
                select(Workshop).where(Workshop.registration_id == registration.id)
            )
            if workshop is None:
                workshop = Workshop(
                    id=f"ws-{uuid.uuid4().hex[:12]}",
                    name=registration.company_name,
                    legal_form=registration.legal_form,
                    vat_id=registration.vat_id,
                    country=registration.country,
                    address=registration.address,
                    legal_representative=registration.legal_representative,
                    contact_email=registration.contact_email,
                    registration_id=registration.id,
                    created_at=now,
                )
                session.add(workshop)
                await session.flush()
            owner = await session.scalar(
                select(User).where(User.email == registration.contact_email)
            )
            if owner is None:
                owner = new_user(
                    registration.contact_email,
                    registration.owner_name,
                    Role.WORKSHOP_OWNER,
                    workshop.id,
                    None,
                    now,
                    language,
                )
                session.add(owner)
                await session.flush()
            token, _ = self._add_one_time_token(
                session, owner.id, "invitation", INVITATION_LIFETIME
            )
            return NewWorkshop(
                workshop.id,
                registration.company_name,
                owner.email,
                token,
                language_or_default(owner.language),
            )

    @staticmethod
    async def _open_registration_for(
        session: AsyncSession, application: Application
    ) -> Registration | None:
        return await session.scalar(
            select(Registration).where(
                Registration.is_open,
                or_(
                    Registration.vat_id == application.vat_id,
                    Registration.contact_email == application.contact_email,
                ),
            )
        )
