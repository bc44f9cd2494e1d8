"""The person's account page: the language they choose there is kept on the account, the
console shows itself in it, and their next mail is written in it."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.accounts_helpers import last_mail_to
from tests.console.conftest import ConsoleServer
from tests.console.helpers import api_token, sign_in, workshop_through_api

pytestmark = pytest.mark.e2e


async def test_a_person_who_chooses_dutch_gets_dutch_pages_and_dutch_mail(
    console: ConsoleServer, page: Page
) -> None:
    account = await workshop_through_api(console.api, console.session_factory)
    headers = await api_token(console.api, account)
    await sign_in(page, console.base_url, account)

    await page.get_by_role("link", name="Johan de Vries").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    await expect(page.locator("#account-email")).to_have_text(account.email)
    await expect(page.get_by_label("Your language")).to_have_value("en")
    await page.get_by_label("Your language").select_option("nl")
    await page.get_by_role("button", name="Save the language").click()

    await expect(page.get_by_role("status")).to_have_text("Uw taal is opgeslagen.")
    await expect(page.get_by_label("Uw taal")).to_have_value("nl")
    me = await console.api.get("/me", headers=headers)
    assert me.json()["language"] == "nl"

    await console.api.post("/auth/password-reset", json={"email": account.email})
    mail = await last_mail_to(console.session_factory, account.email, "password-reset")
    assert mail.subject == "Stel uw wachtwoord opnieuw in"


async def test_a_language_the_portal_does_not_speak_is_refused_at_its_field(
    console: ConsoleServer, page: Page
) -> None:
    account = await workshop_through_api(console.api, console.session_factory)
    await sign_in(page, console.base_url, account)
    await page.goto(f"{console.base_url}/console/account")
    # What a tampered form sends: a language outside the list.
    await page.locator("#f-language").evaluate(
        "select => { select.add(new Option('Deutsch', 'de')); select.value = 'de'; }"
    )
    async with page.expect_response("**/console/account/language") as answer:
        await page.get_by_role("button", name="Save the language").click()
    assert (await answer.value).status == 422
    await expect(page.locator("#f-language-error")).to_contain_text("Choose one of the languages.")
    headers = await api_token(console.api, account)
    assert (await console.api.get("/me", headers=headers)).json()["language"] == "en"

    # Longer than any language code (8 characters at most): refused with the form's own token.
    token = page.locator("form[action='/console/account/language'] input[type=hidden]")
    too_long = await page.context.request.post(
        f"{console.base_url}/console/account/language",
        form={
            str(await token.get_attribute("name")): str(await token.get_attribute("value")),
            "language": "x" * 9,
        },
    )
    assert too_long.status == 422, await too_long.text()
