"""Form errors in the browser: each shows next to its field and in the summary at the top, in
the page's language, and the form keeps what the user typed."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.console.conftest import ConsoleServer
from tests.console.helpers import screenshot, sign_in, workshop_through_api

pytestmark = pytest.mark.e2e


async def test_errors_show_at_their_field_and_in_the_summary_and_keep_the_typed_values(
    console: ConsoleServer, page: Page
) -> None:
    account = await workshop_through_api(console.api, console.session_factory)

    # A wrong password: at the password field and in the summary; the email stays.
    await page.goto(f"{console.base_url}/console/sign-in")
    await page.locator("#f-email").fill(account.email)
    await page.locator("#f-password").fill("not the password at all")
    await page.locator("form[action='/console/sign-in'] button[type=submit]").click()
    message = "The email address, password or code is wrong."
    await expect(page.locator("#f-password-error")).to_contain_text(message)
    await expect(page.locator(".error-summary a[href='#f-password']")).to_have_text(message)
    await expect(page.locator("#f-email")).to_have_value(account.email)
    await expect(page.locator("#f-password")).to_have_attribute("aria-invalid", "true")
    await screenshot(page, "form-error-sign-in")
    # The summary's link takes the keyboard to the field.
    await page.locator(".error-summary a[href='#f-password']").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#f-password")).to_be_focused()

    await sign_in(page, console.base_url, account)
    await page.goto(f"{console.base_url}/console/credit")

    # Too little credit: next to the period chosen, in the summary; the choices stay.
    await page.locator("#f-service").select_option("ecu_programming")
    await page.locator("#f-period").select_option("year")
    await page.locator("form[action='/console/credit/tickets'] button[type=submit]").click()
    await expect(page.locator("#f-period-error")).to_contain_text(
        "Not enough credit: this costs €7,500.00 and the balance is €0.00."
    )
    await expect(page.locator(".error-summary a[href='#f-period']")).to_be_visible()
    await expect(page.locator("#f-service")).to_have_value("ecu_programming")
    await expect(page.locator("#f-period")).to_have_value("year")
    await screenshot(page, "form-error-credit")

    # An amount that is not one: the typed text stays.
    await page.locator("#f-amount").fill("fifty")
    await page.locator("form[action='/console/credit/top-up'] button[type=submit]").click()
    await expect(page.locator("#f-amount-error")).to_contain_text("Enter an amount between")
    await expect(page.locator("#f-amount")).to_have_value("fifty")

    # The same error in Dutch, after the switch on the page.
    await page.locator(".languages a[hreflang=nl]").click()
    await page.locator("#f-service").select_option("ecu_programming")
    await page.locator("#f-period").select_option("year")
    await page.locator("form[action='/console/credit/tickets'] button[type=submit]").click()
    await expect(page.locator("#f-period-error")).to_contain_text(
        "Onvoldoende tegoed: dit kost €\xa07.500,00 en het saldo is €\xa00,00."
    )
    await expect(page.locator(".error-summary h2")).to_have_text("Er is een probleem")
