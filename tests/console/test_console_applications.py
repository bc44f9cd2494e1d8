"""The applications page says plainly when access has ended, with the end time, and leads to
buying time; a running ticket shows its time left."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from console.i18n import Translator
from db.models.access import Ticket, TicketPurchase
from tests.console.conftest import ConsoleServer
from tests.console.helpers import screenshot, sign_in, workshop_through_api

pytestmark = pytest.mark.e2e


async def _past_ticket(
    session_factory: async_sessionmaker[AsyncSession],
    workshop_id: str,
    service: str,
    ends_at: datetime,
) -> str:
    """A week's ticket that ended at `ends_at`, as TicketPurchaseWorkflow leaves one behind
    (written directly: the test cannot wait a week for a real one to end)."""
    purchase_id, ticket_id = f"purchase-{uuid.uuid4().hex}", f"ticket-{uuid.uuid4().hex}"
    starts_at = ends_at - timedelta(days=7)
    async with session_factory() as session, session.begin():
        session.add(
            TicketPurchase(
                id=purchase_id,
                workshop_id=workshop_id,
                idempotency_key=f"past-{uuid.uuid4().hex}",
                service=service,
                period="week",
                price_cents=30000,
                state="confirmed",
                ticket_id=ticket_id,
                requested_by=None,
                created_at=starts_at,
                updated_at=starts_at,
            )
        )
        await session.flush()
        session.add(
            Ticket(
                id=ticket_id,
                workshop_id=workshop_id,
                service=service,
                period="week",
                price_cents=30000,
                starts_at=starts_at,
                ends_at=ends_at,
                purchase_id=purchase_id,
                created_at=starts_at,
            )
        )
    return ticket_id


async def test_expired_access_says_when_it_ended_and_links_to_buying_time(
    console: ConsoleServer, page: Page, dutch_page: Page
) -> None:
    account = await workshop_through_api(console.api, console.session_factory)
    ended_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2, hours=3)
    ticket_id = await _past_ticket(
        console.session_factory, account.workshop_id, "ecu_programming", ended_at
    )

    await sign_in(page, console.base_url, account)
    await page.goto(f"{console.base_url}/console/")
    programming = page.locator("#app-ecu_programming")
    english = Translator("en", ZoneInfo(console.settings.console_timezone))
    await expect(programming.locator(".status")).to_have_text(
        f"Access ended on {english.datetime(ended_at)}."
    )
    await expect(
        programming.locator("a[href='/console/credit?service=ecu_programming#buy']")
    ).to_be_visible()
    await screenshot(page, "applications-expired")
    await page.goto(f"{console.base_url}/console/credit/tickets/{ticket_id}")
    await expect(page.locator("main")).to_contain_text(f"Ended on {english.datetime(ended_at)}.")

    await sign_in(dutch_page, console.base_url, account)
    await dutch_page.goto(f"{console.base_url}/console/")
    dutch = Translator("nl", ZoneInfo(console.settings.console_timezone))
    await expect(dutch_page.locator("#app-ecu_programming .status")).to_have_text(
        f"Toegang beëindigd op {dutch.datetime(ended_at)}."
    )
