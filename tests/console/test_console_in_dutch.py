"""A Dutch session (Accept-Language nl-NL) on the pages that were still partly English: the
vehicle page (its histories, its technical actions), the maintenance log PDF the customer takes
home (read back with `pdftotext`), and the operators' flow list, a flow's state diagram and its
timeline (times to the millisecond, events named in words)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Page, expect

from console.i18n import Translator
from db.models import ServiceEntry
from domain.service_history import CONSENT_TEXT_VERSION
from testkit.factories import grant_ticket
from tests.console.conftest import ConsoleServer
from tests.console.helpers import (
    administrator_account,
    api_token,
    screenshot,
    sign_in,
    workshop_through_api,
)
from tests.console.service_booklet_steps import KASIO
from tests.service_history.conftest import DEMO_VIN, seed

pytestmark = pytest.mark.e2e

PDFTOTEXT = shutil.which("pdftotext")


def english_words_in(text: str, words: tuple[str, ...]) -> list[str]:
    """Which of `words` (whole words, as written) occur in `text`."""
    return [word for word in words if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text)]


def pdf_text(pdf: bytes) -> str:
    assert PDFTOTEXT is not None
    return subprocess.run(
        [PDFTOTEXT, "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


async def _created_entry(api: httpx.AsyncClient, headers: dict[str, str], day: str) -> str:
    """A maintenance entry of the demo vehicle, created and still printable; its id."""
    opened = await api.post("/service-entries", json={"vin": DEMO_VIN}, headers=headers)
    assert opened.status_code == 201, opened.text
    entry_id: str = opened.json()["entry_id"]
    steps: list[tuple[str, dict[str, object] | None]] = [
        ("consent", {"confirmed": True, "consent_text_version": CONSENT_TEXT_VERSION}),
        ("details", {"mileage_km": 195_000, "service_date": day}),
        ("services", {"cbs_items": ["engine_oil", "front_brakes"]}),
        ("create", None),
    ]
    for step, body in steps:
        answer = await api.post(f"/service-entries/{entry_id}/{step}", json=body, headers=headers)
        assert answer.status_code == 200, (step, answer.text)
    return entry_id


async def _flow_rows(page: Page, url: str, count: int) -> None:
    """Open the flow search `url` until it lists `count` flows (the visibility store lags)."""
    rows = page.locator("#flows tbody tr")
    for _ in range(50):
        await page.goto(url)
        if await rows.count() >= count:
            return
        await asyncio.sleep(0.2)
    await expect(rows).to_have_count(count)


async def test_a_dutch_session_finds_no_english_on_these_pages_nor_in_the_log(
    console: ConsoleServer, dutch_page: Page
) -> None:
    if PDFTOTEXT is None:
        if os.environ.get("CI"):
            pytest.fail("pdftotext is missing; CI must install Debian's poppler-utils")
        pytest.skip("needs pdftotext (apt install poppler-utils)")
    page, base = dutch_page, console.base_url
    dutch = Translator("nl", ZoneInfo(console.settings.console_timezone))
    await seed(console.session_factory)
    account = await workshop_through_api(console.api, console.session_factory)
    now = datetime.now(UTC)
    await grant_ticket(
        console.session_factory, account.workshop_id, now - timedelta(hours=1), now + timedelta(1)
    )
    owner = await api_token(console.api, account)
    service_day = (now - timedelta(days=1)).date()
    entry_id = await _created_entry(console.api, owner, service_day.isoformat())

    # The maintenance log: Dutch labels, the CBS items as the page names them, Dutch numbers,
    # dates and times in the console's time zone as the pages show them.
    await sign_in(page, base, account)
    # The PDF is fetched outside the page (no Accept-Language): the session's own choice of
    # language, the switch's cookie, is what makes it Dutch.
    await page.get_by_role("link", name="Nederlands").click()
    log = await page.context.request.get(f"{base}{KASIO}/entries/{entry_id}/maintenance-log.pdf")
    assert log.status == 200
    text = pdf_text(await log.body())
    async with console.session_factory() as session:
        stored = await session.get(ServiceEntry, entry_id)
        assert stored is not None
        created_at = stored.created_at
    if created_at.tzinfo is None:  # SQLite keeps UTC without its zone
        created_at = created_at.replace(tzinfo=UTC)
    for dutch_text in (
        "Onderhoudslogboek",
        "Motorolie",
        "Remblokken voor",
        "Kilometerstand: 195.000 km",
        f"Onderhoudsdatum: {dutch.date(service_day)}",
        "Uitgevoerde werkzaamheden:",
        "Werkplaats: Garage De Vries",
        f"Vastgelegd op {dutch.datetime(created_at)}",
        "Chassisnummer",
    ):
        assert dutch_text in text, (dutch_text, text)
    assert not english_words_in(
        text,
        (
            "Maintenance log",
            "Engine oil",
            "Front brake pads",
            "Mileage",
            "Service date",
            "Workshop",
            "Work performed",
            "Recorded",
            "UTC",
            "195,000",
        ),
    ), text

    # The vehicle page: the histories' heading and the technical actions' titles.
    await page.goto(f"{base}{KASIO}/vehicles/{DEMO_VIN}")
    await expect(page.locator("#histories-title")).to_have_text("Historie")
    actions = page.locator("#technical-actions")
    await expect(actions).to_contain_text("Uitlaatgasrecirculatiekoeler vervangen")
    await expect(actions).to_contain_text("Software van de motorregeleenheid bijwerken")
    shown = await page.locator("main").inner_text()
    assert not english_words_in(
        shown,
        (
            "Histories",
            "Replace the exhaust gas recirculation cooler",
            "Update the engine control unit software",
        ),
    )
    closed = await console.api.post(f"/service-entries/{entry_id}/close", headers=owner)
    assert closed.status_code == 200, closed.text

    # The operators' pages, as the portal's administrator, still in Dutch.
    await page.context.clear_cookies()
    await sign_in(page, base, await administrator_account(console.api, console.session_factory))
    await _flow_rows(page, f"{base}/console/operators/flows?workshop={account.workshop_id}", 2)
    listed = page.locator("#flows tbody")
    await expect(listed).to_contain_text("Goedgekeurd")  # the registration
    await expect(listed).to_contain_text("Afgesloten")  # the service entry
    await expect(listed).to_contain_text("Onderhoudsinvoer")
    await screenshot(page, "operators-flows-dutch")
    shown = await page.locator("main").inner_text()
    raw = (
        "running",
        "completed",
        "closed",
        "written_to_vehicle",
        "approved",
        "RegistrationWorkflow",
        "ServiceEntryWorkflow",
    )
    assert not english_words_in(shown, raw), shown

    await page.locator("#flows a[href*='registration-']").click()
    await expect(page.locator("#current-state")).to_have_text("Goedgekeurd")
    await expect(page.locator("#diagram table")).to_contain_text("E-mailadres bevestigen")
    timeline = page.locator("#timeline tbody")
    await expect(timeline).to_contain_text("Update aanvaard")
    await expect(timeline).to_contain_text("Workflowtaak voltooid")
    times = await page.locator("#timeline tbody td:nth-child(2)").all_inner_texts()
    assert times and all(re.search(r"\d{2}:\d{2}:\d{2}\.\d{3}$", t) for t in times), times
    assert len(set(times)) > 1  # to the millisecond, the events no longer share one minute
    await screenshot(page, "operators-flow-dutch")
    shown = await page.locator("main").inner_text()
    assert not english_words_in(
        shown,
        (
            "Approved",
            "Under review",
            "Verify email",
            "Submitted",
            "Start review",
            "workflow_execution_started",
            "activity_task_completed",
            "EVENT_TYPE",
        ),
    ), shown
