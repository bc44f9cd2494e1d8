"""Adding credit in the browser: the price confirmation with VAT, the simulated provider's hosted
page, and back. A payment that succeeds (credit once, an invoice listed whose PDF reads right,
in English and in Dutch) and one that fails (no credit, a clear message)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from playwright.async_api import Page, expect

from tests.console.conftest import ConsoleServer
from tests.console.helpers import screenshot, sign_in, workshop_through_api

pytestmark = pytest.mark.e2e

PDFTOTEXT = shutil.which("pdftotext")


def pdf_text(pdf: bytes) -> str:
    if PDFTOTEXT is None:
        pytest.skip("needs pdftotext (apt install poppler-utils)")
    return subprocess.run(
        [PDFTOTEXT, "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


async def _to_the_provider(page: Page, console: ConsoleServer, amount: str) -> None:
    await page.goto(f"{console.base_url}/console/credit")
    await page.locator("#f-amount").fill(amount)
    await page.locator("form[action='/console/credit/top-up'] button[type=submit]").click()


async def test_a_payment_that_succeeds_adds_credit_and_an_invoice(
    console: ConsoleServer, page: Page
) -> None:
    account = await workshop_through_api(console.api, console.session_factory)
    await sign_in(page, console.base_url, account)
    await _to_the_provider(page, console, "100")
    # The price confirmation: nothing charged yet.
    await expect(page.locator("#quote-credit")).to_have_text("€100.00")
    await expect(page.locator("#quote-vat")).to_contain_text("€21.00")
    await expect(page.locator("#quote-total")).to_have_text("€121.00")
    await screenshot(page, "payment-confirm-top-up")
    await page.locator("#confirm-payment").click()
    await expect(page.locator("#payment-state")).to_contain_text("Waiting for the payment provider")
    await page.locator("#checkout").click()

    # The provider's own page: amount and merchant reference, Pay / Fail / Cancel.
    assert page.url.startswith(console.provider_url)
    await expect(page.locator("#amount")).to_have_text("EUR 121.00")
    await screenshot(page, "payment-provider-page")
    await page.locator("button[value=pay]").click()

    # Back at the portal, which heard from the provider first.
    assert page.url.startswith(console.base_url)
    await expect(page.locator("#payment-state")).to_have_text("Paid: the credit was added")
    await page.locator("main a[href='/console/credit']").click()
    await expect(page.locator("#balance")).to_have_text("€100.00")
    await page.reload()  # a reload adds nothing
    await expect(page.locator("#balance")).to_have_text("€100.00")

    await page.locator("#invoices-link").click()
    rows = page.locator("#invoices tbody tr")
    await expect(rows).to_have_count(1)
    number = (await rows.first.locator("td").first.inner_text()).strip()
    assert re.fullmatch(r"\d{4}-\d{6}", number)
    await screenshot(page, "payment-invoices")
    answer = await page.request.get(f"{console.base_url}/console/invoices/{number}.pdf")
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
    text = re.sub(r"\s+", " ", pdf_text(await answer.body()))
    assert f"Invoice {number}" in text and "VAT 21% (NL) €21.00" in text
    assert "Total €121.00" in text


async def test_a_payment_that_fails_adds_nothing_and_says_so(
    console: ConsoleServer, page: Page
) -> None:
    account = await workshop_through_api(console.api, console.session_factory)
    await sign_in(page, console.base_url, account)
    await _to_the_provider(page, console, "40")
    await page.locator("#confirm-payment").click()
    await page.locator("#checkout").click()
    await page.locator("button[value=fail]").click()
    await expect(page.locator("#payment-state")).to_have_text(
        "The payment failed. Nothing was charged and no credit was added."
    )
    await expect(page.locator("#checkout")).to_have_count(0)
    await screenshot(page, "payment-failed")
    await page.goto(f"{console.base_url}/console/credit")
    await expect(page.locator("#balance")).to_have_text("€0.00")
    await page.goto(f"{console.base_url}/console/invoices")
    await expect(page.locator("#invoices")).to_have_count(0)


async def test_a_dutch_workshop_gets_its_invoice_in_dutch(
    console: ConsoleServer, dutch_page: Page
) -> None:
    page = dutch_page
    account = await workshop_through_api(console.api, console.session_factory)
    await sign_in(page, console.base_url, account)
    await _to_the_provider(page, console, "100,00")
    await expect(page.locator("#quote-total")).to_have_text("€\xa0121,00")
    await page.locator("#confirm-payment").click()
    await page.locator("#checkout").click()
    await page.locator("button[value=pay]").click()
    await expect(page.locator("#payment-state")).to_have_class(re.compile("notice-ok"))
    await page.goto(f"{console.base_url}/console/invoices")
    number = (await page.locator("#invoices tbody tr td").first.inner_text()).strip()
    # Fetched outside the page (no Accept-Language): the session's language choice decides.
    await page.get_by_role("link", name="Nederlands").click()
    answer = await page.context.request.get(f"{console.base_url}/console/invoices/{number}.pdf")
    text = re.sub(r"\s+", " ", pdf_text(await answer.body()))
    assert f"Factuur {number}" in text and "Btw 21% (NL) € 21,00" in text  # NBSPs made spaces
    assert "Invoice" not in text and "Total" not in text
