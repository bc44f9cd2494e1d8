"""The "Technical information" application in the browser: a workshop buys a day of it,
finds the repair instruction for its car by VIN, opens a wiring diagram and zooms it, is
refused a security-related document until an administrator records the person's SERMI
approval, and sees its reading history; the vehicle page of the service booklet leads to the
car's documents and a technical action to its campaign document."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page, expect
from temporalio.testing import WorkflowEnvironment

from contracts.access import entitlement_workflow_id
from db.seed import seed_demo_vehicles
from db.technical_information_seed import seed_technical_information
from domain.catalogue import Service
from testkit.factories import grant_ticket
from tests.console.conftest import ConsoleServer
from tests.console.helpers import (
    administrator,
    api_token,
    create_voucher,
    screenshot,
    sign_in,
    workshop_through_api,
)

pytestmark = pytest.mark.e2e

DEMO_VIN = "WBA8E5105FK731548"  # a 320d (F30, 8E51) built on 12 March 2015


async def test_a_workshop_buys_a_day_finds_its_cars_documents_and_needs_sermi_for_keys(
    console: ConsoleServer, page: Page, dutch_page: Page, dev_env: WorkflowEnvironment
) -> None:
    await seed_demo_vehicles(console.session_factory)
    await seed_technical_information(console.session_factory)
    account = await workshop_through_api(console.api, console.session_factory)
    base = console.base_url
    try:
        await sign_in(page, base, account)

        # Before buying: the titles are found, the documents are not open.
        await page.goto(f"{base}/console/technical-information/?q=timing+chain&vin={DEMO_VIN}")
        await expect(page.locator("main")).to_contain_text("You see the titles")
        response = await page.goto(f"{base}/console/technical-information/documents/RI-F30-1132")
        assert response is not None and response.status == 403
        await expect(page.locator("#ti-refused")).to_contain_text("no access")

        # Buy a day of technical information on the credit page.
        voucher = await create_voucher(console.api, console.session_factory, 2500)
        await page.goto(f"{base}/console/credit?service=technical_information")
        await page.locator("#f-voucher_code").fill(voucher)
        await page.locator("form[action='/console/credit/voucher'] button[type=submit]").click()
        await page.locator("#f-service").select_option("technical_information")
        await page.locator("#f-period").select_option("day")
        await page.locator("form[action='/console/credit/tickets'] button[type=submit]").click()
        await page.locator("#confirm-ticket").click()  # the price confirmation
        await expect(page.locator("#ticket-bought")).to_be_visible()

        # The application is listed and opens the search.
        await page.goto(f"{base}/console/")
        card = page.locator("#app-technical_information")
        await expect(card).to_contain_text("Available")
        await card.locator("a[href='/console/technical-information/']").click()

        # By VIN and words: the repair instruction for this car, not the earlier one.
        await page.locator("#f-vin").fill(DEMO_VIN)
        await page.locator("#f-q").fill("timing chain")
        await page.locator("form.ti-search button[type=submit]").click()
        await expect(page.locator("#ti-vehicle")).to_contain_text("type code 8E51")
        results = page.locator(".ti-results > li")
        await expect(results.first).to_have_id("hit-RI-F30-1132")
        await expect(page.locator("#hit-RI-F30-1131")).to_have_count(0)
        await expect(results.first.locator("mark").first).to_have_text("timing")
        await screenshot(page, "technical-information-search")
        await results.first.locator("h3 a").click()
        await expect(page.locator("h1")).to_have_text(
            "Replace the timing chain (F30 320d from 01/2015)"
        )
        await expect(page.locator(".ti-body")).to_contain_text("120 Nm plus 90°")

        # A wiring diagram of the car: drawn inline, zoomable.
        await page.goto(
            f"{base}/console/technical-information/?vin={DEMO_VIN}&doc_type=wiring_diagram"
            "&system_group=electrical"
        )
        await page.locator("#hit-WD-F30-6101 h3 a").click()
        diagram = page.locator("#ti-diagram svg")
        await expect(diagram).to_be_visible()
        width = (await diagram.bounding_box() or {"width": 0})["width"]
        await page.locator("[data-ti-zoom=in]").click()
        await expect(page.locator("#ti-zoom-level")).to_have_text("125 %")
        assert (await diagram.bounding_box() or {"width": 0})["width"] > width * 1.2
        await screenshot(page, "technical-information-diagram")

        # Key programming is security-related: the title only, until SERMI is recorded.
        key_page = f"{base}/console/technical-information/documents/RI-F30-6621"
        response = await page.goto(key_page)
        assert response is not None and response.status == 403
        await expect(page.locator("h1")).to_have_text("Add a vehicle key and program it (F30)")
        await expect(page.locator("#ti-refused")).to_contain_text("SERMI approval")
        await expect(page.locator(".ti-body")).to_have_count(0)
        await screenshot(page, "technical-information-sermi-refused")

        me = await console.api.get("/me", headers=await api_token(console.api, account))
        approved = await console.api.post(
            "/admin/sermi-approvals",
            json={
                "user_id": me.json()["user_id"],
                "certificate_reference": "SERMI-NL-2026-0042",
                "expires_at": (datetime.now(UTC) + timedelta(days=365)).isoformat(),
            },
            headers=await administrator(console.api, console.session_factory),
        )
        assert approved.status_code == 201, approved.text
        response = await page.goto(key_page)
        assert response is not None and response.status == 200
        await expect(page.locator(".ti-body")).to_contain_text("Start key programming")

        # The reading history lists what was read, newest first.
        await page.goto(f"{base}/console/technical-information/history")
        rows = page.locator("#ti-history tbody tr")
        await expect(rows).to_have_count(3)
        await expect(rows.first).to_contain_text("RI-F30-6621")
        await screenshot(page, "technical-information-history")

        # From the service booklet's vehicle page: the car's documents and its campaigns'.
        now = datetime.now(UTC)
        await grant_ticket(
            console.session_factory, account.workshop_id, now - timedelta(minutes=1),
            now + timedelta(hours=1),
        )  # fmt: skip
        await page.goto(f"{base}/console/kasio/vehicles/{DEMO_VIN}")
        campaign = page.locator("a[href='/console/technical-information/documents/TC-0011190300']")
        await expect(campaign).to_be_visible()
        await page.locator("#vehicle-documents").click()
        await expect(page.locator("#ti-vehicle")).to_contain_text("320d")
        await expect(page.locator("#hit-TC-0011190300")).to_be_visible()

        # In Dutch: the page and the documents.
        await sign_in(dutch_page, base, account)
        await dutch_page.goto(
            f"{base}/console/technical-information/?q=distributieketting&vin={DEMO_VIN}"
        )
        await expect(dutch_page.locator("h1")).to_have_text("Technische informatie")
        await expect(dutch_page.locator("#ti-vehicle")).to_contain_text("typecode 8E51")
        await expect(dutch_page.locator("#hit-RI-F30-1132 h3")).to_have_text(
            "Distributieketting vervangen (F30 320d vanaf 01/2015)"
        )
        await dutch_page.locator("#hit-RI-F30-1132 h3 a").click()
        await expect(dutch_page.locator(".facts")).to_contain_text("Systeemgroep")
        await screenshot(dutch_page, "technical-information-document-nl")
    finally:
        # The entitlement flows the purchase started; the dev server outlives the test.
        for service in (Service.TECHNICAL_INFORMATION, Service.SERVICE_HISTORY):
            with contextlib.suppress(Exception):
                await dev_env.client.get_workflow_handle(
                    entitlement_workflow_id(account.workshop_id, service)
                ).terminate("test finished")
