"""The service booklet (KaSIO) steps of a workshop's journey in the browser, shared by the
console's journey tests: claim the station `demo-1` (through the JSON API; the console has no
claim page), read the demo key there (a station worker on the simulated car, through the
gateway), find the vehicle, record a maintenance entry from the consent to the printed
maintenance log, written into the car, then delete it from the histories."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from db.models import ServiceEntry
from hw import protocol as P
from hw.sim import registry
from tests.console.conftest import ConsoleServer
from tests.console.helpers import screenshot
from tests.service_history.conftest import DEMO_VIN, seed, station_worker

DEMO_STATION = "demo-1"
KASIO = "/console/kasio"


async def read_a_key_record_print_and_delete_an_entry(
    console: ConsoleServer,
    dev_env: WorkflowEnvironment,
    page: Page,
    workshop_id: str,
    owner: dict[str, str],
) -> None:
    """On `page`, signed in as a member of `workshop_id` that has service-booklet time: claim
    `demo-1` with the owner's API headers `owner`, read the demo key at it, record a
    maintenance entry written into the car, print its log, and delete the entry."""
    base = console.base_url
    await seed(console.session_factory)
    async with station_worker(dev_env.client, console.settings, DEMO_STATION):
        claimed = await console.api.post(
            f"/workshops/{workshop_id}/stations",
            json={"station_id": DEMO_STATION, "name": "Bay 1"},
            headers=owner,
        )
        assert claimed.status_code == 201, claimed.text

        # Find a vehicle: the key table is empty until the station's KeyReader reads the key.
        await page.goto(f"{base}{KASIO}/")
        await expect(
            page.get_by_role("heading", name="Service booklet", exact=True)
        ).to_be_visible()
        await expect(page.locator("#key-table")).to_contain_text("No key data yet.")
        await screenshot(page, "kasio-find")
        await page.get_by_label("Station with the KeyReader").select_option(DEMO_STATION)
        await page.get_by_role("button", name="Refresh key table").click()
        row = page.locator("#key-table tbody tr", has_text=DEMO_VIN)
        await expect(row).to_be_visible()
        await expect(row).to_contain_text("194,826 km")
        await expect(page.get_by_text(f"The key of {DEMO_VIN} was read.")).to_be_visible()
        await expect(page).to_have_url(f"{base}{KASIO}/")  # the row came in without leaving
        await screenshot(page, "kasio-key-table")

        # The short VIN finds the same car; choosing it from the key table opens its page.
        await page.get_by_label("VIN or short VIN").fill("k731548")
        await page.get_by_role("button", name="Search").click()
        await expect(page).to_have_url(f"{base}{KASIO}/vehicles/{DEMO_VIN}")
        await page.goto(f"{base}{KASIO}/")
        await (
            page.locator("#key-table tbody tr", has_text=DEMO_VIN)
            .get_by_role("link", name="Choose")
            .click()
        )
        await expect(page.get_by_role("heading", name="BMW 320d", exact=False)).to_be_visible()
        for section in (
            "Status information",
            "Key data",
            "Vehicle data",
            "Teleservices",
            "Special options",
            "Technical actions",
            "Histories",
        ):
            await expect(page.get_by_role("heading", name=section, exact=True)).to_be_visible()
        await expect(page.locator("#status")).to_contain_text("Brake fluid: Overdue")
        await expect(page.locator("#key-data")).to_contain_text("KeyReader (simulated)")
        await expect(page.locator("#histories")).to_contain_text("This vehicle has no entries yet.")
        await expect(page.get_by_label("Station wired to the vehicle")).to_have_value(DEMO_STATION)
        await screenshot(page, "kasio-vehicle")

        # 1. Consent: accepting without the tick is refused next to the checkbox.
        await page.get_by_role("button", name="New maintenance entry").click()
        await expect(page.get_by_role("heading", name="Consent to data storage")).to_be_visible()
        await screenshot(page, "kasio-entry-consent")
        await page.get_by_role("button", name="Accept").click()
        await expect(page.locator("#f-confirmed-error")).to_contain_text("Tick the consent")
        await page.get_by_label("The owner consents to the data storage").check()
        await page.get_by_role("button", name="Accept").click()

        # 2. A remark of 201 characters: the counter says so, the server refuses it next to
        # the field, and what was typed stays.
        too_long = "Oil and filter changed, brake fluid replaced. " * 4 + "x" * 17
        assert len(too_long) == 201
        await page.get_by_label("Mileage (km)").fill("195,000")
        await page.get_by_label("Remark", exact=True).fill(too_long)
        await expect(page.locator("#remark-counter")).to_have_text("Too long by 1")
        await page.get_by_role("button", name="Continue").click()
        await expect(page.locator("#f-remark-error")).to_contain_text(
            "The remark has 201 characters; at most 200 are allowed."
        )
        await expect(page.locator("#error-summary")).to_contain_text("The remark has 201")
        await expect(page.get_by_label("Remark", exact=True)).to_have_value(too_long)
        await expect(page.get_by_label("Mileage (km)")).to_have_value("195,000")
        await screenshot(page, "kasio-entry-remark-too-long")
        await page.get_by_label("Remark", exact=True).fill(too_long[:200])
        await expect(page.locator("#remark-counter")).to_have_text("200 of 200 characters")
        await page.get_by_role("button", name="Continue").click()

        # 3-5. The services performed, written into the vehicle, create.
        await page.get_by_label("Engine oil").check()
        await page.get_by_label("Brake fluid").check()
        await expect(
            page.get_by_label(re.compile("Write the service history into the vehicle"))
        ).to_be_checked()
        await screenshot(page, "kasio-entry-services")
        await page.get_by_role("button", name="Create the entry").click()

        # 6-7. Stored, written into the car (and the car holds it), the log printable now.
        await expect(page.locator("#transfer")).to_have_text(
            "The entry was written into the vehicle, and the vehicle confirmed it."
        )
        await screenshot(page, "kasio-entry-created")
        car_items = P.decode_service_items(
            registry.get(DEMO_STATION).ecu(P.INSTRUMENT_CLUSTER).service_items
        )
        assert {item.item_id: item.status for item in car_items}[4] == P.ServiceStatus.OK
        log_path = await page.locator("#print-log").get_attribute("href")
        assert log_path is not None
        log = await page.context.request.get(f"{base}{log_path}")
        assert log.status == 200
        assert log.headers["content-type"] == "application/pdf"
        assert (await log.body()).startswith(b"%PDF")

        await page.get_by_role("button", name="Close the window").click()
        await expect(
            page.get_by_text("The entry is stored in the vehicle's histories.")
        ).to_be_visible()
        late = await page.context.request.get(f"{base}{log_path}")
        assert late.status == 409  # printable then, and only then

    # The histories: the new entry, deletable today by this workshop.
    histories = page.locator("#histories tbody tr")
    await expect(histories).to_have_count(1)
    await expect(histories.first).to_contain_text("195,000 km")
    await expect(histories.first).to_contain_text("Maintenance")
    await expect(histories.first).to_contain_text("From a key read")
    await expect(page.locator("#status")).not_to_contain_text("Brake fluid")  # reset in the car
    await screenshot(page, "kasio-histories")
    # Deleting cannot be undone: a delete sent without the confirmation only asks, and the
    # entry stays; on the page the first click opens the warning, the second deletes.
    entry_id = await histories.first.get_attribute("data-entry")
    csrf = await page.locator("form.new-entry input[name=csrf_token]").input_value()
    asked = await page.context.request.post(
        f"{base}{KASIO}/entries/{entry_id}/delete", form={"csrf_token": csrf}
    )
    assert asked.status == 200 and "Delete this entry?" in await asked.text()
    async with console.session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(ServiceEntry)) == 1
    await histories.first.locator("summary").click()
    await expect(histories.first).to_contain_text("removed from the vehicle's histories for good")
    await histories.first.get_by_role("button", name="Delete the entry").click()
    await expect(page.get_by_text("The entry was deleted.")).to_be_visible()
    await expect(page.locator("#histories")).to_contain_text("This vehicle has no entries yet.")
    await expect(page.locator(".vehicle-line")).to_contain_text("194,826 km")
    async with console.session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(ServiceEntry)) == 0
