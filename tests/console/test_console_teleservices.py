"""The KaSIO teleservice pages in a real browser: the start screen's two entries, a car's
Teleservice Call as a ticket to acknowledge and close by hand, a remote key read requested
from the vehicle page's Teleservices section and cancelled on the list, and, in Dutch, the
refusal the seed shows to a workshop that has no right."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.async_api import Page, expect

from db.accounts import AccountRepository
from domain.catalogue import Service
from testkit.connected_car import INBOUND_PATH, signed, teleservice_call
from testkit.factories import grant_ticket
from tests.accounts_helpers import fresh_totp_code
from tests.console.conftest import ConsoleServer
from tests.console.helpers import (
    WorkshopAccount,
    api_token,
    console_sign_in,
    csrf_of,
    screenshot,
    sign_in,
    workshop_through_api,
)
from tests.service_history.conftest import DEMO_VIN, seed

KASIO = "/console/kasio"
OPERATOR_EMAIL = "teleservice-operator@aos-portal.example"
OPERATOR_PASSWORD = "a teleservice operator's long password"


async def _teleservices_and_booklet(console: ConsoleServer, workshop_id: str) -> None:
    now = datetime.now(UTC)
    for service in (Service.SERVICE_HISTORY, Service.TELESERVICE):
        await grant_ticket(
            console.session_factory,
            workshop_id,
            now - timedelta(hours=1),
            now + timedelta(days=1),
            service,
        )


async def _from_the_car(console: ConsoleServer, payload: dict[str, Any]) -> None:
    body, headers = signed(console.settings.teleservice_secret(), payload)
    answer = await console.api.post(INBOUND_PATH, content=body, headers=headers)
    assert answer.status_code == 202, answer.text


def _facts(partner_id: str) -> dict[str, Any]:
    return {
        "kind": "vehicle_facts",
        "vin": DEMO_VIN,
        "sent_at": datetime.now(UTC).isoformat(),
        "teleservice_capable": True,
        "connected_drive_contract": True,
        "remote_key_read_capable": True,
        "service_partner_id": partner_id,
    }


async def test_a_teleservice_ticket_is_acknowledged_and_closed_and_a_remote_read_cancelled(
    console: ConsoleServer, page: Page
) -> None:
    base = console.base_url
    await seed(console.session_factory)
    account = await workshop_through_api(console.api, console.session_factory)
    await _teleservices_and_booklet(console, account.workshop_id)
    await _from_the_car(console, _facts(account.workshop_id))
    await _from_the_car(console, teleservice_call(DEMO_VIN, ["engine_oil"]))

    await sign_in(page, base, account)
    await page.goto(f"{base}{KASIO}/")
    start = page.get_by_role("navigation", name="KaSIO")
    for entry in ("Vehicle identification", "Remote KeyRead requests", "Teleservice Tickets"):
        await expect(start.get_by_role("link", name=entry)).to_be_visible()
    await start.get_by_role("link", name="Teleservice Tickets").click()
    await expect(page.get_by_role("heading", name="Teleservice Tickets")).to_be_visible()
    row = page.locator("#teleservice-tickets tbody tr", has_text=DEMO_VIN)
    await expect(row).to_contain_text("Engine oil", timeout=15_000)
    await expect(row).to_contain_text("New")
    await screenshot(page, "kasio-teleservice-tickets")

    await row.get_by_role("button", name=re.compile("^Acknowledge")).click()
    row = page.locator("#teleservice-tickets tbody tr", has_text=DEMO_VIN)
    await expect(row).to_contain_text("Acknowledged")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT10:00")
    await row.get_by_label("Appointment").fill(yesterday)
    await row.get_by_role("button", name="Plan").click()
    await expect(page.get_by_role("alert")).to_contain_text("not in the past")
    row = page.locator("#teleservice-tickets tbody tr", has_text=DEMO_VIN)
    in_two_days = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT10:00")
    await row.get_by_label("Appointment").fill(in_two_days)
    await row.get_by_role("button", name="Plan").click()
    row = page.locator("#teleservice-tickets tbody tr", has_text=DEMO_VIN)
    await expect(row).to_contain_text("Appointment planned")
    await row.get_by_label("Reason to close").fill("Customer had it done elsewhere")
    await row.get_by_role("button", name="Close").click()
    await expect(page.locator("#teleservice-tickets caption")).to_contain_text("All")
    await expect(page.locator("#teleservice-tickets tbody")).to_contain_text("Closed by hand")
    await page.get_by_role("link", name="Open").click()
    await expect(page.locator("#teleservice-tickets tbody")).to_contain_text(
        "No teleservice tickets."
    )

    await page.goto(f"{base}{KASIO}/vehicles/{DEMO_VIN}")
    section = page.locator("#teleservices")
    await expect(section).to_contain_text("Remote key read capable")
    await section.get_by_role("button", name="Request a remote key read").click()
    await expect(page.get_by_role("heading", name="Remote KeyRead requests")).to_be_visible()
    request = page.locator("#remote-key-reads tbody tr", has_text=DEMO_VIN)
    await expect(request).to_contain_text(re.compile("Requested|Waiting for the car"))
    await screenshot(page, "kasio-remote-key-reads")
    await request.get_by_role("button", name=re.compile("^Cancel")).click()
    await expect(page.locator("#remote-key-reads tbody tr", has_text=DEMO_VIN)).to_contain_text(
        "Cancelled", timeout=15_000
    )


async def test_a_workshop_without_the_right_is_told_so_in_dutch(
    console: ConsoleServer, dutch_page: Page
) -> None:
    base = console.base_url
    await seed(console.session_factory)
    partner = await workshop_through_api(console.api, console.session_factory)
    other = await workshop_through_api(
        console.api,
        console.session_factory,
        name="Autobedrijf Jansen",
        vat_number="987654321",
        email="piet@autobedrijf-jansen.example",
    )
    await _teleservices_and_booklet(console, other.workshop_id)
    await _from_the_car(console, _facts(partner.workshop_id))

    await sign_in(dutch_page, base, other)
    await dutch_page.goto(f"{base}{KASIO}/vehicles/{DEMO_VIN}")
    section = dutch_page.locator("#teleservices")
    await section.get_by_role("button", name="Remote KeyRead aanvragen").click()
    await expect(dutch_page.get_by_role("heading", name="Remote KeyRead-aanvragen")).to_be_visible()
    await expect(dutch_page.locator("main")).to_contain_text(
        "U hebt niet het recht om een Remote KeyRead-aanvraag voor het voertuig uit te voeren."
    )
    await screenshot(dutch_page, "kasio-remote-key-read-refused-nl")
    await dutch_page.goto(f"{base}{KASIO}/teleservice-tickets")
    await expect(dutch_page.locator("#teleservice-tickets")).to_contain_text(
        "Geen teleservice tickets."
    )


async def _operator(console: ConsoleServer) -> WorkshopAccount:
    """The portal's administrator, TOTP enrolled through the JSON API."""
    await AccountRepository(console.session_factory).ensure_administrator(
        OPERATOR_EMAIL, OPERATOR_PASSWORD, "Operator"
    )
    first = await console.api.post(
        "/auth/login", json={"email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD}
    )
    enrolment = first.json()
    assert "enrolment_token" in enrolment, first.text
    confirmed = await console.api.post(
        "/auth/totp/confirm",
        json={
            "enrolment_token": enrolment["enrolment_token"],
            "code": await fresh_totp_code(enrolment["secret"]),
        },
    )
    assert confirmed.status_code == 200, confirmed.text
    return WorkshopAccount("", OPERATOR_EMAIL, OPERATOR_PASSWORD, enrolment["secret"])


async def test_an_operator_assigns_a_cars_service_partner(
    console: ConsoleServer, page: Page
) -> None:
    base = console.base_url
    await seed(console.session_factory)
    partner = await workshop_through_api(console.api, console.session_factory)
    await _teleservices_and_booklet(console, partner.workshop_id)
    operator = await _operator(console)

    await sign_in(page, base, operator)
    await page.goto(f"{base}/console/operators/")
    await page.get_by_role("link", name="Service partners").click()
    await page.get_by_label("VIN").fill("NOT-A-VIN")
    await page.get_by_label("Workshop id").fill(partner.workshop_id)
    await page.get_by_role("button", name="Assign").click()
    await expect(page.locator("#f-vin-error")).to_contain_text("17-character VIN")
    await page.get_by_label("VIN").fill(DEMO_VIN)
    await page.get_by_role("button", name="Assign").click()
    await expect(page.get_by_role("status")).to_contain_text("The service partner is assigned.")

    # The car's calls now reach the partner.
    await _from_the_car(console, teleservice_call(DEMO_VIN, ["brake_fluid"]))
    headers = await api_token(console.api, partner)
    tickets = await console.api.get("/teleservice-tickets", headers=headers)
    assert [t["item"] for t in tickets.json()] == ["brake_fluid"]


async def test_another_workshops_ticket_is_the_same_not_found_page_as_an_unknown_one(
    console: ConsoleServer,
) -> None:
    await seed(console.session_factory)
    partner = await workshop_through_api(console.api, console.session_factory)
    stranger = await workshop_through_api(
        console.api,
        console.session_factory,
        name="Garage Elders",
        vat_number="987654321",
        email="anna@garage-elders.example",
    )
    for workshop in (partner, stranger):
        await _teleservices_and_booklet(console, workshop.workshop_id)
    await _from_the_car(console, _facts(partner.workshop_id))
    await _from_the_car(console, teleservice_call(DEMO_VIN, ["engine_oil"]))
    tickets = await console.api.get(
        "/teleservice-tickets", headers=await api_token(console.api, partner)
    )
    (ticket,) = tickets.json()

    async with httpx.AsyncClient(base_url=console.base_url) as browser:
        await console_sign_in(browser, stranger)
        form = await browser.get(f"{KASIO}/teleservice-tickets")
        answers = [
            await browser.post(
                f"{KASIO}/teleservice-tickets/{ticket_id}/acknowledge",
                data={"csrf_token": csrf_of(form)},
            )
            for ticket_id in (ticket["ticket_id"], "tt-0123456789abcdef")
        ]
    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].text == answers[1].text
