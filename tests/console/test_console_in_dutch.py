"""A Dutch session (Accept-Language nl-NL) on the pages that were still partly English: the
vehicle page (its histories, its technical actions), the maintenance log PDF the customer takes
home (read back with `pdftotext`), the programming page's flash package, and the operators'
flow list, a flow's state diagram and its timeline (times to the millisecond, events named in
words). On every main page, and in the PDF, none of the console's English texts (each msgid of
the catalogues that reads otherwise in Dutch) shows."""

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
from babel.messages.pofile import read_po
from playwright.async_api import Page, expect

from console.i18n import LOCALES_DIR, Translator
from db.models import ServiceEntry
from domain.catalogue import Service
from domain.service_history import CONSENT_TEXT_VERSION
from hw.sim.demo_package import build_demo_package
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


def _english_ui_texts() -> tuple[str, ...]:
    """The console's English texts that read otherwise in Dutch: the msgids of the Dutch
    catalogues, of two words or more (a single word may be Dutch as well: "Open", "Status"),
    without placeholders (those are filled in on the page)."""
    texts = []
    for po_file in sorted((LOCALES_DIR / "nl" / "LC_MESSAGES").glob("*.po")):
        with po_file.open("rb") as source:
            for message in read_po(source, locale="nl"):
                english = message.id
                if (
                    isinstance(english, str)
                    and len(english.split()) >= 2
                    and "%(" not in english
                    and message.string
                    and message.string != english
                ):
                    texts.append(english)
    return tuple(texts)


ENGLISH_UI_TEXTS = _english_ui_texts()


async def english_on_pages(page: Page, base: str, paths: list[str]) -> list[str]:
    """Each page's English UI texts, as `path: [texts]` lines (none on a Dutch page)."""
    found = []
    for path in paths:
        answer = await page.goto(base + path)
        assert answer is not None and answer.status == 200, (path, answer)
        english = english_words_in(await page.locator("body").inner_text(), ENGLISH_UI_TEXTS)
        if english:
            found.append(f"{path}: {english}")
    return found


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
    for service in Service:
        await grant_ticket(
            console.session_factory,
            account.workshop_id,
            now - timedelta(hours=1),
            now + timedelta(1),
            service,
        )
    owner = await api_token(console.api, account)
    registered = await console.api.post(
        f"/workshops/{account.workshop_id}/stations",
        json={"station_id": "bay-1", "name": "Brug 1", "confirm_never_seen": True},
        headers=owner,
    )
    assert registered.status_code == 201, registered.text
    build_demo_package(console.settings.packages_dir / "demo-2.0.0", package_id="demo-2.0.0")
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
    assert not english_words_in(text, ENGLISH_UI_TEXTS), text
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

    # The flash package as the programming page offers it: its description in Dutch.
    await page.goto(f"{base}/console/programming/")
    offered = page.get_by_label("Flashpakket")
    await expect(offered).to_contain_text("demopakket")
    assert "demo package for the simulated vehicle" not in await offered.inner_text()

    # No English UI text on any main page of the workshop.
    english = await english_on_pages(
        page,
        base,
        [
            "/console/",
            "/console/credit",
            KASIO + "/",
            f"{KASIO}/vehicles/{DEMO_VIN}",
            f"{KASIO}/entries/{entry_id}",
            f"{KASIO}/teleservice-tickets",
            f"{KASIO}/remote-key-reads",
            "/console/programming/",
            "/console/stations",
            "/console/technical-information/",
            "/console/account",
        ],
    )
    assert english == [], "\n".join(english)
    # The same look finds the English of a page shown in English: it would see a gap.
    await page.goto(f"{base}/console/language/en?next=/console/stations")
    assert await english_on_pages(page, base, ["/console/stations"])
    await page.goto(f"{base}/console/language/nl?next=/console/stations")
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

    # (Not the outbox: it shows each mail as sent, in its recipient's language.)
    english = await english_on_pages(
        page,
        base,
        ["/console/operators/", f"/console/operators/flows?workshop={account.workshop_id}"],
    )
    assert english == [], "\n".join(english)

    await page.goto(f"{base}/console/operators/flows?workshop={account.workshop_id}")
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
    assert not english_words_in(await page.locator("body").inner_text(), ENGLISH_UI_TEXTS)
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
