"""The stations page: an owner adds a station (one never seen polling only when confirmed),
renames it, issues its token, which then opens the station's routes of the API, and releases
it, after which the token no longer works. A technician sees the stations and changes none."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.console.conftest import ConsoleServer
from tests.console.helpers import (
    api_token,
    invited_technician,
    screenshot,
    sign_in,
    workshop_through_api,
)

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

    # A new token cuts off a running station: the first click only opens the warning.
    await row.get_by_text("Issue a new token").click()
    await expect(row.locator(".confirm-body")).to_contain_text("stops working at once")
    await row.get_by_role("button", name="Issue the new token").click()
    token = (await page.locator("#station-token").text_content() or "").strip()
    assert token
    assert await _station_answers(console, token) == "package-not-found"  # the token opens
    assert await _station_answers(console, "not-a-token") == "station-token-invalid"

    # The form sent without the confirmation (as a browser without <details> would) issues
    # nothing: the confirmation page asks, and the token in use keeps working until then.
    await page.goto(f"{console.base_url}/console/stations")
    await row.locator("form[action$='/token']").evaluate("form => form.submit()")
    await expect(
        page.get_by_role("heading", name=f"Issue a new token for {STATION}?")
    ).to_be_visible()
    assert await _station_answers(console, token) == "package-not-found"
    await page.get_by_role("button", name="Issue the new token").click()
    replaced = (await page.locator("#station-token").text_content() or "").strip()
    assert replaced and replaced != token
    assert await _station_answers(console, token) == "station-token-invalid"
    token = replaced
    csrf = await page.locator("form.sign-out input[name=csrf_token]").input_value()
    unknown = await page.request.post(
        f"{console.base_url}/console/stations/bay-99/token", form={"csrf_token": csrf}
    )
    assert unknown.status == 404  # no confirmation asked for a station that is not ours

    # Release is red, not a twin of Rename.
    await page.goto(f"{console.base_url}/console/stations")
    release_colour = await row.locator("button[name=release]").evaluate(
        "button => getComputedStyle(button).backgroundColor"
    )
    rename_colour = await row.locator("button[name=rename]").evaluate(
        "button => getComputedStyle(button).backgroundColor"
    )
    assert release_colour == "rgb(179, 38, 30)" != rename_colour
    await row.locator("button[name=release]").click()  # without the tick: asked, kept
    await expect(page.locator(f"#f-release-{STATION}-error")).to_be_visible()
    assert await _station_answers(console, token) == "package-not-found"
    await row.locator(f"#f-release-{STATION}").check()
    await row.locator("button[name=release]").click()
    await expect(page.locator("#no-stations")).to_be_visible()
    assert await _station_answers(console, token) == "station-token-invalid"


async def test_a_technician_sees_the_stations_and_changes_none(
    console: ConsoleServer, page: Page
) -> None:
    owner = await workshop_through_api(console.api, console.session_factory)
    claimed = await console.api.post(
        f"/workshops/{owner.workshop_id}/stations",
        json={"station_id": STATION, "name": "Bay 7", "confirm_never_seen": True},
        headers=await api_token(console.api, owner),
    )
    assert claimed.status_code == 201, claimed.text
    technician = await invited_technician(console.api, console.session_factory, owner)

    await sign_in(page, console.base_url, technician)
    await page.goto(f"{console.base_url}/console/stations")
    await expect(page.locator(f"#station-{STATION} .station-name")).to_have_text("Bay 7")
    await expect(page.locator("form[action^='/console/stations']")).to_have_count(0)

    # A form sent anyway, with the session's own CSRF token, is refused: owners only.
    csrf = await page.locator("form.sign-out input[type=hidden]").get_attribute("value")
    refused = await page.request.post(
        f"{console.base_url}/console/stations/{STATION}/release",
        form={"csrf_token": csrf or ""},
    )
    assert refused.status == 403
    listed = await console.api.get("/stations", headers=await api_token(console.api, technician))
    assert [station["station_id"] for station in listed.json()] == [STATION]
