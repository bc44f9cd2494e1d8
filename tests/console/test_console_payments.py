"""Adding credit in the browser: the price confirmation with VAT, the simulated provider's hosted
page, and back. A payment that succeeds (credit once, an invoice listed whose PDF reads right,
in English and in Dutch), one that fails (no credit, a clear message), one that is abandoned
(the payer never pays: after the timeout the page says so, no credit), and one whose callback
the provider sends again (credited and invoiced once)."""

from __future__ import annotations

import re
import shutil
import subprocess

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.console.conftest import ConsoleServer
from tests.console.helpers import pdf_screenshot, screenshot, sign_in, workshop_through_api

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


async def _at_the_provider(page: Page, console: ConsoleServer, amount: str) -> str:
    """A top-up of `amount` confirmed and the provider's page open; the payment's page URL."""
    await _to_the_provider(page, console, amount)
    await page.locator("#confirm-payment").click()
    payment_url = page.url
    await page.locator("#checkout").click()
    return payment_url


async def _expect_credit(page: Page, console: ConsoleServer, balance: str, invoices: int) -> None:
    """The balance the credit page shows and how many invoices the invoices page lists."""
    await page.goto(f"{console.base_url}/console/credit")
    await expect(page.locator("#balance")).to_have_text(balance)
    await page.goto(f"{console.base_url}/console/invoices")
    await expect(page.locator("#invoices tbody tr")).to_have_count(invoices)


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
    await _at_the_provider(page, console, "40")
    await page.locator("button[value=fail]").click()
    await expect(page.locator("#payment-state")).to_have_text(
        "The payment failed. Nothing was charged and no credit was added."
    )
    await expect(page.locator("#checkout")).to_have_count(0)
    await screenshot(page, "payment-failed")
    await _expect_credit(page, console, "€0.00", invoices=0)


# Long enough to confirm and open the provider's page on a loaded machine, short for a test.
ABANDON_AFTER_SECONDS = 8


@pytest.mark.parametrize("payment_abandon_after_seconds", [ABANDON_AFTER_SECONDS])
async def test_a_payment_never_paid_is_abandoned_and_adds_nothing(
    console: ConsoleServer, page: Page
) -> None:
    account = await workshop_through_api(console.api, console.session_factory)
    await sign_in(page, console.base_url, account)
    await _at_the_provider(page, console, "60")
    assert page.url.startswith(console.provider_url)
    await expect(page.locator("#amount")).to_have_text("EUR 72.60")
    # The payer leaves the provider's page without pressing anything, back to the portal.
    await page.go_back()
    assert page.url.startswith(f"{console.base_url}/console/credit/payments/")
    await expect(page.locator("#payment-state")).to_contain_text("Waiting for the payment provider")
    # The pending page refreshes itself; the timeout ends the payment.
    await expect(page.locator("#payment-state")).to_have_text(
        "The payment was not completed in time. No credit was added; start again if you wish.",
        timeout=(ABANDON_AFTER_SECONDS + 30) * 1000,
    )
    await expect(page.locator("#checkout")).to_have_count(0)
    await screenshot(page, "payment-abandoned")
    await _expect_credit(page, console, "€0.00", invoices=0)


async def test_a_repeated_callback_credits_and_invoices_once(
    console: ConsoleServer, page: Page
) -> None:
    account = await workshop_through_api(console.api, console.session_factory)
    await sign_in(page, console.base_url, account)
    payment_url = await _at_the_provider(page, console, "100")
    payment_id = payment_url.rsplit("/", 1)[1]
    await page.locator("button[value=pay]").click()
    await expect(page.locator("#payment-state")).to_have_text("Paid: the credit was added")

    # The provider did not get the portal's answer, so it sends the same callback again
    # (the same webhook-id, signed anew), as a real provider retries.
    async with httpx.AsyncClient(base_url=console.provider_url, timeout=60) as provider:
        repeated = await provider.post(f"/payments/{payment_id}/callback")
    assert repeated.status_code == 200, repeated.text
    assert repeated.json()["portal_status"] == 200

    await page.goto(payment_url)
    await expect(page.locator("#payment-state")).to_have_text("Paid: the credit was added")
    await _expect_credit(page, console, "€100.00", invoices=1)


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


async def test_a_german_business_is_reverse_charged_on_its_dutch_invoice(
    console: ConsoleServer, dutch_page: Page
) -> None:
    """Also draws the invoice the README shows (docs/screenshots/, AOS_DOCS_SCREENSHOTS=1)."""
    page = dutch_page
    account = await workshop_through_api(
        console.api,
        console.session_factory,
        name="Autohaus Becker",
        vat_number="123456789",
        email="jonas@autohaus-becker.example",
        country="DE",
    )
    await sign_in(page, console.base_url, account)
    await _to_the_provider(page, console, "100,00")
    await expect(page.locator("#quote-vat")).to_contain_text("€\xa00,00")
    await expect(page.locator("#quote-total")).to_have_text("€\xa0100,00")
    await page.locator("#confirm-payment").click()
    await page.locator("#checkout").click()
    await expect(page.locator("#amount")).to_have_text("EUR 100.00")
    await page.locator("button[value=pay]").click()
    await expect(page.locator("#payment-state")).to_have_class(re.compile("notice-ok"))
    await page.goto(f"{console.base_url}/console/invoices")
    number = (await page.locator("#invoices tbody tr td").first.inner_text()).strip()
    await page.get_by_role("link", name="Nederlands").click()  # the session's language
    answer = await page.context.request.get(f"{console.base_url}/console/invoices/{number}.pdf")
    pdf = await answer.body()
    text = re.sub(r"\s+", " ", pdf_text(pdf))
    assert f"Factuur {number}" in text and "DE123456789" in text
    assert "BTW verlegd" in text and "2006/112/EC" in text
    assert "Totaal € 100,00" in text
    pdf_screenshot(pdf, "invoice-nl-reverse-charge")
