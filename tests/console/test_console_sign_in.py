"""Signing in to the console in a real browser: password, then the TOTP code; sign-out ends
the session."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.console.conftest import ConsoleServer
from tests.console.helpers import screenshot, workshop_through_api


async def test_sign_in_with_password_and_code_then_sign_out(
    console: ConsoleServer, page: Page
) -> None:
    account = await workshop_through_api(console.api, console.session_factory)

    await page.goto(f"{console.base_url}/console/credit")  # not signed in: to the sign-in page
    await expect(page).to_have_url(
        f"{console.base_url}/console/sign-in?reason=required&next=/console/credit"
    )
    await screenshot(page, "sign-in")
    await page.get_by_label("Email address").fill(account.email)
    await page.get_by_label("Password").fill(account.password)
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("heading", name="Strong authentication")).to_be_visible()
    await screenshot(page, "sign-in-code")
    await page.get_by_label("Code from your authenticator app").fill(await account.code())
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{console.base_url}/console/credit")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_text("You are signed out.")).to_be_visible()
    await page.goto(f"{console.base_url}/console/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
