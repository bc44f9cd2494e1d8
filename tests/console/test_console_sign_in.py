"""Signing in to the console in a real browser: password, then the TOTP code; sign-out ends
the session; a code works once."""

from __future__ import annotations

import base64

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
    # Between the two steps the browser holds a random token, not the password.
    pending = next(c for c in await page.context.cookies() if c["name"] == "aos_pending")
    assert pending["httpOnly"] and pending["path"] == "/console/sign-in"
    token = pending["value"]
    assert account.password not in token  # and 32 random bytes have no room for it sealed
    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) == 32
    code = await account.code()
    await page.get_by_label("Code from your authenticator app").fill(code)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{console.base_url}/console/credit")
    assert "aos_pending" not in {c["name"] for c in await page.context.cookies()}

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_text("You are signed out.")).to_be_visible()
    await page.goto(f"{console.base_url}/console/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    # The same code again, as someone who saw it typed would: refused at the code field.
    await page.get_by_label("Email address").fill(account.email)
    await page.get_by_label("Password").fill(account.password)
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_label("Code from your authenticator app").fill(code)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#f-code-error")).to_contain_text(
        "This code was used already. Wait for the next code from the app."
    )
    await expect(page.locator("#error-summary")).to_contain_text("This code was used already.")
    await screenshot(page, "sign-in-code-used")
    # The pending sign-in survives the refusal: the next code signs in.
    await page.get_by_label("Code from your authenticator app").fill(await account.code())
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("form.sign-out")).to_be_visible()
