"""Records the tests need as a starting point, written straight to the database.

End-to-end tests go through the API instead; these are for tests of one feature that need a
workshop and a signed-in person without repeating registration and login each time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.account_store import AccountStore
from db.models import Ticket, TicketPurchase, User, Workshop
from domain.accounts import Role
from domain.catalogue import Service


@dataclass
class SignedIn:
    user_id: str
    workshop_id: str | None
    token: str
    client_ip: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def create_workshop(
    session_factory: async_sessionmaker[AsyncSession],
    name: str = "Garage Test",
    *,
    country: str = "NL",
    vat_id: str | None = None,
) -> str:
    """A workshop (in the Netherlands with a valid VAT id unless told otherwise)."""
    workshop_id = f"ws-{uuid.uuid4().hex[:12]}"
    async with session_factory() as session, session.begin():
        session.add(
            Workshop(
                id=workshop_id,
                name=name,
                legal_form="BV",
                vat_id=vat_id or f"NL{uuid.uuid4().int % 10**9:09d}B01",
                country=country,
                address="Werkplaatsweg 1, 1234 AB Utrecht",
                legal_representative="A. Monteur",
                contact_email=f"{workshop_id}@garage.example",
                registration_id=f"reg-{workshop_id}",
                created_at=datetime.now(UTC),
            )
        )
    return workshop_id


async def sign_in(
    session_factory: async_sessionmaker[AsyncSession],
    role: Role,
    workshop_id: str | None = None,
    client_ip: str = "127.0.0.1",
) -> SignedIn:
    """A user of `role` with a live session from `client_ip` (as after login and TOTP)."""
    user_id = f"user-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    async with session_factory() as session, session.begin():
        session.add(
            User(
                id=user_id,
                email=f"{user_id}@garage.example",
                name=f"Test {role.value}",
                role=role.value,
                workshop_id=workshop_id,
                password_hash=None,
                totp_enrolled=True,
                created_at=now,
            )
        )
        await session.flush()
        # The very session a completed login writes, so the tests' sessions follow its rules.
        issued = AccountStore.add_session(session, user_id, client_ip)
    return SignedIn(user_id, workshop_id, issued.token, client_ip)


async def grant_ticket(
    session_factory: async_sessionmaker[AsyncSession],
    workshop_id: str,
    starts_at: datetime,
    ends_at: datetime,
    service: Service = Service.SERVICE_HISTORY,
) -> str:
    """A confirmed ticket written straight to the database (for tests that are not about
    buying, or that cannot wait for a real ticket to end); its id."""
    purchase_id, ticket_id = f"tp-{uuid.uuid4().hex[:12]}", f"tk-{uuid.uuid4().hex[:12]}"
    async with session_factory() as session, session.begin():
        session.add(
            TicketPurchase(
                id=purchase_id,
                workshop_id=workshop_id,
                idempotency_key=purchase_id,
                service=service.value,
                period="year",
                price_cents=1,
                state="confirmed",
                ticket_id=ticket_id,
                created_at=starts_at,
                updated_at=starts_at,
            )
        )
        await session.flush()
        session.add(
            Ticket(
                id=ticket_id,
                workshop_id=workshop_id,
                service=service.value,
                period="year",
                price_cents=1,
                starts_at=starts_at,
                ends_at=ends_at,
                purchase_id=purchase_id,
                created_at=starts_at,
            )
        )
    return ticket_id


async def long_ticket(
    session_factory: async_sessionmaker[AsyncSession],
    workshop_id: str,
    clock: datetime,
    service: Service = Service.SERVICE_HISTORY,
) -> None:
    """Coverage of both the real clock (the API's check) and `clock`, a time-skipping server's
    (the workflows' check), which other tests may have moved years ahead, for a century."""
    now = datetime.now(UTC)
    starts, ends = min(now, clock), max(now, clock)
    await grant_ticket(
        session_factory,
        workshop_id,
        starts - timedelta(days=1),
        ends + timedelta(days=36500),
        service,
    )
