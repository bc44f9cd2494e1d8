"""The operators' pages in a real browser: an administrator approves a registration from the
page, finds the flow by its workshop, opens its timeline and its diagram with the current state
marked, and reads the outbox; a workshop's owner may not open them."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Page, expect

from db.accounts import AccountRepository
from tests.accounts_helpers import code_in, fresh_totp_code, last_mail_to
from tests.console.conftest import ConsoleServer
from tests.console.helpers import (
    WorkshopAccount,
    api_token,
    application,
    screenshot,
    sign_in,
    wait_for_registration_state,
    workshop_through_api,
)

pytestmark = pytest.mark.e2e

ADMIN_EMAIL = "operator@aos-portal.example"
ADMIN_PASSWORD = "an operator's long password"
APPLICANT = "Autobedrijf Operatortest"
APPLICANT_EMAIL = "info@operatortest.example"


async def _administrator(console: ConsoleServer) -> WorkshopAccount:
    """An administrator who has enrolled TOTP (through the JSON API)."""
    await AccountRepository(console.session_factory).ensure_administrator(
        ADMIN_EMAIL, ADMIN_PASSWORD, "Operator"
    )
    first = await console.api.post(
        "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    enrolment = first.json()
    secret: str = enrolment["secret"]
    confirmed = await console.api.post(
        "/auth/totp/confirm",
        json={
            "enrolment_token": enrolment["enrolment_token"],
            "code": await fresh_totp_code(secret),
        },
    )
    assert confirmed.status_code == 200, confirmed.text
    return WorkshopAccount("", ADMIN_EMAIL, ADMIN_PASSWORD, secret)


async def _under_review(console: ConsoleServer) -> str:
    applied = await console.api.post(
        "/registrations", json=application(APPLICANT, "246813579", APPLICANT_EMAIL)
    )
    assert applied.status_code == 201, applied.text
    registration_id: str = applied.json()["registration_id"]
    mail = await last_mail_to(console.session_factory, APPLICANT_EMAIL)
    verified = await console.api.post(
        f"/registrations/{registration_id}/email-verification", json={"code": code_in(mail.body)}
    )
    assert verified.status_code == 200, verified.text
    await wait_for_registration_state(console.api, registration_id, "under_review")
    return registration_id


async def test_an_operator_approves_a_registration_and_inspects_its_flow(
    console: ConsoleServer, page: Page
) -> None:
    registration_id = await _under_review(console)
    admin = await _administrator(console)
    await sign_in(page, console.base_url, admin)

    await page.goto(f"{console.base_url}/console/operators/")
    row = page.locator(f'tr[data-registration="{registration_id}"]')
    await expect(row).to_contain_text(APPLICANT_EMAIL)
    await screenshot(page, "operators-registrations")
    await row.get_by_role("button", name=f"Approve {APPLICANT}").click()
    await expect(page.get_by_role("status")).to_contain_text("approved")
    await expect(row).to_have_count(0)
    status = (await console.api.get(f"/registrations/{registration_id}")).json()
    assert status["state"] == "approved"
    workshop_id = status["workshop_id"]

    # Find the flow by its workshop (the visibility store may lag a moment behind).
    await page.get_by_role("link", name="Flows").first.click()
    await page.get_by_label("Workshop id").fill(workshop_id)
    await page.get_by_role("button", name="Search").click()
    flow_link = page.get_by_role("link", name=f"registration-{registration_id}")
    for _ in range(50):
        if await flow_link.count():
            break
        await asyncio.sleep(0.2)
        await page.reload()
    await expect(flow_link).to_be_visible()
    await expect(page.locator("#flows tbody tr")).to_have_count(1)
    await screenshot(page, "operators-flow-search")

    await flow_link.click()
    await expect(page.locator("#current-state")).to_have_text("Approved")
    active = page.locator(".diagram-states li.active")
    await expect(active).to_have_count(1)
    await expect(active).to_have_text("Approved")
    await expect(page.locator("#timeline")).to_contain_text("Update accepted")
    # The page draws the very Mermaid text the JSON API serves for this flow.
    served = await console.api.get(
        "/flows/types/RegistrationWorkflow/diagram",
        params={"workflow_id": f"registration-{registration_id}"},
        headers=await api_token(console.api, admin),
    )
    assert served.status_code == 200, served.text
    shown = await page.locator("pre.mermaid-source").text_content()
    assert shown == served.text and "approved:::active" in served.text
    await screenshot(page, "operators-flow")

    await page.get_by_role("link", name="Outbox").first.click()
    await page.get_by_label("Recipient").fill(APPLICANT_EMAIL)
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("article.card").first).to_contain_text(APPLICANT_EMAIL)
    await screenshot(page, "operators-outbox")


async def test_a_workshop_owner_gets_the_forbidden_page(console: ConsoleServer, page: Page) -> None:
    owner = await workshop_through_api(console.api, console.session_factory)
    await sign_in(page, console.base_url, owner)
    for path in ("", "flows?workshop=x", "outbox", "flows/registration-x"):
        response = await page.goto(f"{console.base_url}/console/operators/{path}")
        assert response is not None and response.status == 403, path
    csrf = await page.locator("form.sign-out input[name=csrf_token]").input_value()
    decided = await page.request.post(
        f"{console.base_url}/console/operators/registrations/any/decision",
        form={"csrf_token": csrf, "decision": "approve"},
    )
    assert decided.status == 403
