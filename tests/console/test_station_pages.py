"""The stations page: an owner adds a station (one never seen polling only when confirmed),
renames it, issues its token, which then opens the station's routes of the API, and releases
it, after which the token no longer works."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.console.conftest import ConsoleServer
from tests.console.helpers import screenshot, sign_in, workshop_through_api

pytestmark = pytest.mark.e2e

STATION = "bay-7"


async def _station_answers(console: ConsoleServer, token: str) -> str:
    """What the API's station routes answer to `token`: the problem's type."""
    response = await console.api.get(
        f"/stations/{STATION}/packages/no-such-package/archive",
        headers={"Authorization": f"Bearer {token}"},
    )
    return str(response.json()["type"]).removeprefix("/problems/")


async def test_an_owner_adds_renames_keys_and_releases_a_station(
    console: ConsoleServer, page: Page
) -> None:
    account = await workshop_through_api(console.api, console.session_factory)
    await sign_in(page, console.base_url, account)
    await page.goto(f"{console.base_url}/console/stations")
    await expect(page.locator("#no-stations")).to_be_visible()

    claim = page.locator("form[action='/console/stations']")
    await claim.locator("#f-station_id").fill("Bay_7")
    await claim.locator("#f-name").fill("Bay 7")
    await claim.locator("button[type=submit]").click()
    await expect(page.locator("#f-station_id-error")).to_be_visible()  # breaks the id rule

    await page.locator("#f-station_id").fill(STATION)
    await page.locator("form[action='/console/stations'] button[type=submit]").click()
    # No worker of bay-7 ever polled: a typo must not claim a station without a confirmation.
    await expect(page.locator("#f-confirm_never_seen-error")).to_contain_text(
        "No worker of this station has connected yet"
    )
    await expect(page.locator("#no-stations")).to_be_visible()
    await page.locator("#f-confirm_never_seen").check()
    await page.locator("form[action='/console/stations'] button[type=submit]").click()
    row = page.locator(f"#station-{STATION}")
    await expect(row.locator(".station-name")).to_have_text("Bay 7")
    await expect(row.locator(".station-status")).to_have_text("Offline")

    await row.locator(f"#f-name-{STATION}").fill("Bay 7 (left)")
    await row.locator("button[name=rename]").click()
    await expect(page.locator(f"#station-{STATION} .station-name")).to_have_text("Bay 7 (left)")
    await screenshot(page, "stations")

    await page.locator(f"#station-{STATION} button[name=token]").click()
    token = (await page.locator("#station-token").text_content() or "").strip()
    assert token
    assert await _station_answers(console, token) == "package-not-found"  # the token opens
    assert await _station_answers(console, "not-a-token") == "station-token-invalid"

    await page.goto(f"{console.base_url}/console/stations")
    await page.locator(f"#station-{STATION} button[name=release]").click()
    await expect(page.locator("#no-stations")).to_be_visible()
    assert await _station_answers(console, token) == "station-token-invalid"
