"""Starting a flash at the car without typing the VIN: the programming start page offers the
VIN a station of the workshop read lately (from a key, in the workshop's key table), and picking
it fills in the station and the VIN. Another workshop's reads, and reads older than a shift,
are not offered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page, expect

from contracts.key_reads import StationKeyRead
from db.service_history import ServiceHistoryRepository
from domain.demo_vehicles import demo_key_data, load_demo_vehicles
from tests.console.conftest import ConsoleServer
from tests.console.helpers import api_token, screenshot, sign_in, workshop_through_api
from tests.service_history.conftest import DEMO_VIN, OTHER_VIN, seed

pytestmark = pytest.mark.e2e


async def _claimed(
    console: ConsoleServer, headers: dict[str, str], workshop_id: str, station: str
) -> None:
    claimed = await console.api.post(
        f"/workshops/{workshop_id}/stations",
        json={"station_id": station, "name": station, "confirm_never_seen": True},
        headers=headers,
    )
    assert claimed.status_code == 201, claimed.text


async def _key_read(
    console: ConsoleServer, workshop_id: str, station: str, vin: str, at: datetime
) -> None:
    """A key of `vin` read at `station`, as the key read flow stores it (its subject is the
    service booklet's pages; here it is only how the station came to know the car)."""
    await ServiceHistoryRepository(console.session_factory).record_key_read(
        workshop_id,
        StationKeyRead(station_id=station, key=demo_key_data(vin), reader="KeyReader", read_at=at),
    )


async def test_the_start_page_offers_the_vin_a_station_read(
    console: ConsoleServer, page: Page
) -> None:
    await seed(console.session_factory)
    third_vin = next(v.vin for v in load_demo_vehicles() if v.vin not in (DEMO_VIN, OTHER_VIN))
    ours = await workshop_through_api(console.api, console.session_factory)
    theirs = await workshop_through_api(
        console.api,
        console.session_factory,
        name="Other",
        vat_number="987654321",
        email="other@garage-other.example",
    )
    now = datetime.now(UTC)
    our_headers = await api_token(console.api, ours)
    await _claimed(console, our_headers, ours.workshop_id, "bay-3")
    await _claimed(console, our_headers, ours.workshop_id, "bay-4")
    await _claimed(console, await api_token(console.api, theirs), theirs.workshop_id, "their-bay")
    await _key_read(console, ours.workshop_id, "bay-3", DEMO_VIN, now - timedelta(minutes=5))
    await _key_read(console, ours.workshop_id, "bay-4", third_vin, now - timedelta(hours=13))
    await _key_read(console, theirs.workshop_id, "their-bay", OTHER_VIN, now)

    await sign_in(page, console.base_url, ours)
    await page.goto(f"{console.base_url}/console/programming/")
    offered = page.locator("#at-stations")
    await expect(offered.locator("a.use-vin")).to_have_count(1)
    await expect(offered).to_contain_text(f"Use {DEMO_VIN} at bay-3")
    shown = await page.locator("main").inner_text()
    assert OTHER_VIN not in shown and "their-bay" not in shown  # another workshop's
    assert third_vin not in shown  # read a shift ago: another car may stand there now
    await screenshot(page, "programming-vin-at-station")

    await offered.get_by_role("link", name=f"Use {DEMO_VIN} at bay-3").click()
    await expect(page.get_by_label("Vehicle identification number (VIN)")).to_have_value(DEMO_VIN)
    await expect(page.get_by_label("Station")).to_have_value("bay-3")
