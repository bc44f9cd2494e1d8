"""The service booklet (KaSIO) pages in a real browser, beyond the workshop's journey (which
reads a key at `demo-1`, records, prints and deletes a maintenance entry: see
`test_console_journey.py`): the refusals next to their fields; another workshop's entry as
absent as an unknown one; no coverage told plainly; the key pages in Dutch."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
from playwright.async_api import Browser, Page, expect

from db.models import ServiceEntry
from domain.service_history import CONSENT_TEXT_VERSION
from testkit.factories import grant_ticket
from tests.console.conftest import ConsoleServer
from tests.console.helpers import (
    WorkshopAccount,
    api_token,
    screenshot,
    sign_in,
    workshop_through_api,
)
from tests.console.service_booklet_steps import KASIO
from tests.service_history.conftest import DEMO_VIN, seed


async def covered(console: ConsoleServer, workshop_id: str) -> None:
    """A day of service booklet, written straight to the database (buying is not the subject)."""
    now = datetime.now(UTC)
    await grant_ticket(
        console.session_factory, workshop_id, now - timedelta(hours=1), now + timedelta(days=1)
    )


async def entry_through_api(
    api: httpx.AsyncClient, headers: dict[str, str], service_date: date, mileage_km: int
) -> str:
    """A stored maintenance entry of the demo vehicle made through the JSON API; its id."""
    opened = await api.post("/service-entries", json={"vin": DEMO_VIN}, headers=headers)
    assert opened.status_code == 201, opened.text
    url = f"/service-entries/{opened.json()['entry_id']}"
    steps: list[tuple[str, dict[str, object] | None]] = [
        ("consent", {"confirmed": True, "consent_text_version": CONSENT_TEXT_VERSION}),
        ("details", {"mileage_km": mileage_km, "service_date": service_date.isoformat()}),
        ("services", {"cbs_items": ["engine_oil"]}),
        ("create", None),
        ("close", None),
    ]
    for step, body in steps:
        answer = await api.post(f"{url}/{step}", json=body, headers=headers)
        assert answer.status_code == 200, (step, answer.text)
    entry_id: str = opened.json()["entry_id"]
    return entry_id


async def entry_order(page: Page) -> list[str]:
    """The entry ids of the histories table, top to bottom."""
    rows = page.locator("#histories tbody tr")
    return [str(await row.get_attribute("data-entry")) for row in await rows.all()]


async def test_refusals_show_at_their_place_and_another_workshops_entry_is_not_found(
    console: ConsoleServer, page: Page, browser: Browser
) -> None:
    base = console.base_url
    await seed(console.session_factory)
    ours = await workshop_through_api(console.api, console.session_factory)
    theirs = await workshop_through_api(
        console.api,
        console.session_factory,
        name="Autobedrijf Jansen",
        vat_number="987654321",
        email="piet@autobedrijf-jansen.example",
    )
    await covered(console, ours.workshop_id)
    ours_api = await api_token(console.api, ours)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    old_entry = await entry_through_api(console.api, ours_api, yesterday, 195_500)
    new_entry = await entry_through_api(
        console.api, ours_api, yesterday + timedelta(days=1), 196_000
    )

    # Without coverage the booklet says so, with the end time, and links to buying time.
    ended = datetime.now(UTC) - timedelta(hours=2)
    await grant_ticket(
        console.session_factory, theirs.workshop_id, ended - timedelta(days=1), ended
    )
    other_context = await browser.new_context(locale="en-GB", timezone_id="Europe/Amsterdam")
    other = await other_context.new_page()
    try:
        await sign_in(other, base, theirs)
        answer = await other.goto(f"{base}{KASIO}/")
        assert answer is not None and answer.status == 403
        await expect(other.get_by_role("alert")).to_contain_text(
            "Your workshop's access to the service booklet ended on"
        )
        await expect(other.get_by_role("link", name="Buy time")).to_have_attribute(
            "href", "/console/credit"
        )
        await screenshot(other, "kasio-not-covered")

        # Covered again: our entry is exactly as absent to them as an entry that never was.
        await covered(console, theirs.workshop_id)
        foreign = await other.goto(f"{base}{KASIO}/entries/{old_entry}")
        foreign_text = await other.locator("main").inner_text()
        unknown = await other.goto(f"{base}{KASIO}/entries/{uuid.uuid4()}")
        unknown_text = await other.locator("main").inner_text()
        assert foreign is not None and unknown is not None
        assert (foreign.status, unknown.status) == (404, 404)
        assert foreign_text == unknown_text and "Not found" in foreign_text
        pdf = await other.context.request.get(
            f"{base}{KASIO}/entries/{old_entry}/maintenance-log.pdf"
        )
        assert pdf.status == 404
        their_csrf = await other.locator("form.sign-out input[name=csrf_token]").input_value()
        asked = await other.context.request.post(
            f"{base}{KASIO}/entries/{old_entry}/delete", form={"csrf_token": their_csrf}
        )
        assert asked.status == 404  # not even asked to confirm: absent like an unknown entry
    finally:
        await other_context.close()

    # The histories sort by a column from the keyboard; only today's entry can be deleted.
    await sign_in(page, base, ours)
    await page.goto(f"{base}{KASIO}/vehicles/{DEMO_VIN}")
    rows = page.locator("#histories tbody tr")
    await expect(rows).to_have_count(2)
    assert await entry_order(page) == [new_entry, old_entry]  # newest first
    await page.get_by_role("link", name="Mileage").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("th[aria-sort=descending]")).to_contain_text("Mileage")
    assert await entry_order(page) == [new_entry, old_entry]
    await page.get_by_role("link", name="Mileage").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("th[aria-sort=ascending]")).to_contain_text("Mileage")
    assert await entry_order(page) == [old_entry, new_entry]
    await page.get_by_role("link", name="Date").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("th[aria-sort=descending]")).to_contain_text("Date")
    assert await entry_order(page) == [new_entry, old_entry]
    await expect(rows.first.locator("summary", has_text="Delete")).to_have_count(1)
    await screenshot(page, "kasio-histories-sorted")

    # Our own entry of yesterday has no delete action; a delete sent anyway is refused next
    # to its row, and the entry stays.
    row = page.locator(f"#histories tr[data-entry='{old_entry}']")
    await expect(row.get_by_role("button")).to_have_count(0)
    token = await page.locator("form.new-entry input[name=csrf_token]").input_value()
    refused = await page.context.request.post(
        f"{base}{KASIO}/entries/{old_entry}/delete", form={"csrf_token": token, "confirm": "yes"}
    )
    assert refused.status == 409
    await page.set_content(await refused.text())
    await expect(page.locator(f"#f-entry-{old_entry} .field-error")).to_contain_text(
        "This entry can no longer be deleted"
    )
    await expect(page.locator("#error-summary")).to_contain_text("can no longer be deleted")
    without_token = await page.context.request.post(f"{base}{KASIO}/entries/{old_entry}/delete")
    assert without_token.status == 403
    async with console.session_factory() as session:
        assert await session.get(ServiceEntry, old_entry) is not None

    # A repair entry takes the same steps, under its own title.
    await page.goto(f"{base}{KASIO}/vehicles/{DEMO_VIN}")
    await page.get_by_role("button", name="New repair entry").click()
    await expect(page.get_by_role("heading", name="New repair entry")).to_be_visible()
    await expect(page.get_by_role("button", name="Accept")).to_be_visible()

    # An unknown VIN is said next to the search field, with what was typed kept.
    await page.goto(f"{base}{KASIO}/")
    await page.get_by_label("VIN or short VIN").fill("WBA8E5105FK73I548")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("#f-q-error")).to_contain_text(
        "The letters I, O and Q never occur in a VIN (character 14)."
    )
    await expect(page.get_by_label("VIN or short VIN")).to_have_value("WBA8E5105FK73I548")


async def test_the_key_pages_in_dutch(console: ConsoleServer, dutch_page: Page) -> None:
    base = console.base_url
    page = dutch_page
    await seed(console.session_factory)
    account: WorkshopAccount = await workshop_through_api(console.api, console.session_factory)
    await covered(console, account.workshop_id)
    await sign_in(page, base, account)

    await page.goto(f"{base}{KASIO}/")
    await expect(
        page.get_by_role("heading", name="Digitaal serviceboekje", exact=True)
    ).to_be_visible()
    await expect(page.locator("#key-table caption")).to_have_text("Sleuteltabel")
    await screenshot(page, "kasio-find-nl")
    await page.get_by_label("Chassisnummer of kort chassisnummer").fill("WBA8E5105FK731548")
    await page.get_by_role("button", name="Zoeken").click()
    await expect(page.locator(".vehicle-line")).to_contain_text(
        "Laatst bekende kilometerstand: 194.826 km"
    )
    await expect(page.locator("#status")).to_contain_text("Remvloeistof: Over tijd")
    await expect(page.locator("#vehicle-data")).to_contain_text("12 mrt 2015")
    await screenshot(page, "kasio-vehicle-nl")

    await page.get_by_role("button", name="Nieuwe invoer in de onderhoudshistorie").click()
    await expect(page.locator("#consent-text")).to_contain_text("Hierbij wordt bevestigd")
    await page.get_by_label("De eigenaar geeft toestemming voor de gegevensopslag").check()
    await page.get_by_role("button", name="Accepteren").click()
    await page.get_by_label("Kilometerstand (km)").fill("194.000")
    await page.get_by_label("Opmerking", exact=True).fill("Olie ververst.")
    await expect(page.locator("#remark-counter")).to_have_text("14 van 200 tekens")
    await page.get_by_role("button", name="Verder").click()
    await expect(page.locator("#f-mileage_km-error")).to_contain_text(
        "onder de laatst bekende stand van 194.826 km"
    )
    await expect(page.get_by_label("Kilometerstand (km)")).to_have_value("194.000")
    await screenshot(page, "kasio-entry-details-nl")
