"""The applications page says plainly when access has ended, with the end time, and leads to
buying time; a running ticket shows its time left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from console.i18n import Translator
from domain.catalogue import Service
from testkit.factories import grant_ticket
from tests.console.conftest import ConsoleServer
from tests.console.helpers import screenshot, sign_in, workshop_through_api

pytestmark = pytest.mark.e2e


async def test_expired_access_says_when_it_ended_and_links_to_buying_time(
    console: ConsoleServer, page: Page, dutch_page: Page
) -> None:
    account = await workshop_through_api(console.api, console.session_factory)
    ended_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2, hours=3)
    # Written directly: the test cannot wait a week for a real ticket to end.
    ticket_id = await grant_ticket(
        console.session_factory,
        account.workshop_id,
        ended_at - timedelta(days=7),
        ended_at,
        Service.ECU_PROGRAMMING,
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
