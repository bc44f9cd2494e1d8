"""The access-expiry notice is written in the language of the workshop's contact, as its
account keeps it (time-skipping server, the real activities): Dutch words, the service's Dutch
name, and the end as a Dutch reader reads it (Dutch month, Amsterdam time)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.account_store import new_user
from db.models import OutboxMail, Workshop
from domain.accounts import Role
from domain.catalogue import Service, TicketPeriod
from domain.languages import Language
from testkit.factories import create_workshop
from tests.access.conftest import Portal

pytestmark = pytest.mark.database


async def test_a_dutch_owner_is_told_in_dutch_that_access_ends_soon(
    portal: Portal, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    ws = await create_workshop(session_factory)
    async with session_factory() as session, session.begin():
        workshop = await session.get(Workshop, ws)
        assert workshop is not None
        session.add(
            new_user(
                workshop.contact_email,
                "Johan de Vries",
                Role.WORKSHOP_OWNER,
                ws,
                None,
                datetime.now(UTC),
                Language.NL,
            )
        )
    await portal.top_up(ws, 10_000)
    ticket = (
        await portal.buy(ws, Service.TECHNICAL_INFORMATION, TicketPeriod.HOUR, "nl-hour-1")
    ).ticket

    await portal.sleep_until(ticket.ends_at - timedelta(seconds=1))
    query = select(OutboxMail).where(OutboxMail.category == "access-expiry")
    for _ in range(50):
        async with session_factory() as session:
            mails = list((await session.scalars(query)).all())
        if mails:
            break
        await asyncio.sleep(0.1)
    assert [(m.recipient, m.subject) for m in mails] == [
        (f"{ws}@garage.example", "Uw toegang tot Technische informatie loopt binnenkort af")
    ]
    assert "om zonder onderbreking door te werken" in mails[0].body
    # The end as a Dutch reader reads it: day, Dutch month (as CLDR names it), year, "om" and
    # the Amsterdam time.
    local = ticket.ends_at.astimezone(ZoneInfo("Europe/Amsterdam"))
    day = format_date(local, "d MMMM y", locale="nl")
    assert f"tot Technische informatie eindigt op {day} om " in mails[0].body
    assert f" om {local:%H:%M} (over ongeveer" in mails[0].body
    assert "technical_information" not in mails[0].body and "UTC" not in mails[0].body
