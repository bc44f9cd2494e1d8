"""Every main page works on a technician's phone (390 px) and tablet (768 px), and on a
desktop, in English and in Dutch: nothing scrolls sideways, every link of the main menu lies
inside the header, where its white text is readable, and axe-core finds no serious or critical
accessibility violation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page

from db.seed import seed_demo_vehicles
from domain.catalogue import Service
from testkit.factories import grant_ticket
from tests.console.conftest import ConsoleServer
from tests.console.helpers import (
    accessibility_faults,
    administrator_account,
    api_token,
    phone_screenshot,
    screenshot,
    sign_in,
    workshop_through_api,
)
from tests.service_history.conftest import DEMO_VIN

pytestmark = pytest.mark.e2e

WIDTHS = {"phone": (390, 844), "tablet": (768, 1024), "desktop": (1280, 900)}
WORKSHOP_PAGES = [
    "/console/",
    "/console/credit",
    "/console/kasio/",
    f"/console/kasio/vehicles/{DEMO_VIN}",
    "/console/programming/",
    "/console/stations",
    "/console/technical-information/",
    "/console/kasio/teleservice-tickets",
    "/console/kasio/remote-key-reads",
    "/console/account",
]
# The phone pages the README shows ("What it looks like"), by the name of their image.
README_PHONE_PAGES = {
    "/console/": "phone-home",
    f"/console/kasio/vehicles/{DEMO_VIN}": "phone-service-booklet",
    "/console/programming/": "phone-programming",
    "/console/stations": "phone-stations",
}
ANONYMOUS_PAGES = ["/console/sign-in", "/console/register"]
OPERATOR_PAGES = ["/console/operators/", "/console/operators/flows", "/console/operators/outbox"]

# How far the page reaches past the window, and the menu links that lie outside the header.
LAYOUT_FAULTS = """() => {
  const overflow = document.documentElement.scrollWidth - window.innerWidth;
  const header = document.querySelector('.site-header').getBoundingClientRect();
  const outside = [...document.querySelectorAll('.site-header a, .site-header button')]
    .filter(e => {
      const box = e.getBoundingClientRect();
      return box.left < header.left || box.right > header.right
        || box.top < header.top || box.bottom > header.bottom;
    })
    .map(e => e.textContent.trim());
  // The outermost elements that reach past the window.
  const past = e => e.getBoundingClientRect().right > window.innerWidth + 0.5;
  const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + (e.classList.length ? '.' + [...e.classList].join('.') : '');
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => past(e) && !past(e.parentElement))
    .slice(0, 3).map(name);
  return {overflow, outside, wide};
}"""


async def layout_faults(page: Page, base_url: str, paths: list[str], tag: str) -> list[str]:
    """Each page at each width: what a phone user, or one with a screen reader or weak eyes,
    would trip over, as readable lines."""
    faults = []
    for device, (width, height) in WIDTHS.items():
        await page.set_viewport_size({"width": width, "height": height})
        for path in paths:
            answer = await page.goto(base_url + path)
            assert answer is not None and answer.status == 200, (path, answer)
            found = await page.evaluate(LAYOUT_FAULTS)
            if found["overflow"] > 0:
                faults.append(
                    f"{tag} {path} at {width} px scrolls {found['overflow']} px sideways "
                    f"(too wide: {found['wide']})"
                )
            if found["outside"]:
                faults.append(f"{tag} {path} at {width} px: {found['outside']} outside the header")
            faults += await accessibility_faults(page, f"{tag} at {width} px")
            if device == "phone" and tag == "en" and path in README_PHONE_PAGES:
                await phone_screenshot(page, README_PHONE_PAGES[path])
            if path == "/console/" or path == f"/console/kasio/vehicles/{DEMO_VIN}":
                name = "applications" if path == "/console/" else "vehicle"
                await screenshot(page, f"{device}-{tag}-{name}")
    return faults


async def test_every_main_page_fits_a_phone_and_a_tablet(
    console: ConsoleServer, page: Page, dutch_page: Page
) -> None:
    account = await workshop_through_api(console.api, console.session_factory)
    await seed_demo_vehicles(console.session_factory)
    now = datetime.now(UTC)
    for service in Service:
        await grant_ticket(
            console.session_factory, account.workshop_id, now, now + timedelta(days=1), service
        )
    headers = await api_token(console.api, account)
    registered = await console.api.post(
        f"/workshops/{account.workshop_id}/stations",
        json={"station_id": "bay-1", "name": "Bay 1, left of the door", "confirm_never_seen": True},
        headers=headers,
    )
    assert registered.status_code == 201, registered.text

    faults = []
    for tag, browser_page in (("en", page), ("nl", dutch_page)):
        faults += await layout_faults(browser_page, console.base_url, ANONYMOUS_PAGES, tag)
        await sign_in(browser_page, console.base_url, account)
        faults += await layout_faults(browser_page, console.base_url, WORKSHOP_PAGES, tag)

    operator = await administrator_account(console.api, console.session_factory)
    for tag, browser_page in (("en", page), ("nl", dutch_page)):
        await sign_in(browser_page, console.base_url, operator)
        faults += await layout_faults(browser_page, console.base_url, OPERATOR_PAGES, tag)
    assert faults == [], "\n".join(faults)
