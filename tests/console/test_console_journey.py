"""A new workshop's way into the console, in a real browser, in English and in Dutch:
register, verify the email from the mailed link, be approved (the administrator through the
JSON API), set the password from the invitation link, enrol TOTP from the QR code, add credit
and redeem a voucher, buy a day of service booklet, and see it on the applications page.

In English the same page and the same new workshop go on to their first service entry: claim
`demo-1` (through the JSON API), read the demo key there, record a maintenance entry written
into the simulated car, print its maintenance log, and delete it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.async_api import Page, expect
from temporalio.testing import WorkflowEnvironment

from tests.accounts_helpers import code_in, fresh_totp_code, last_mail_to
from tests.console.conftest import ConsoleServer
from tests.console.helpers import (
    OWNER_PASSWORD,
    WorkshopAccount,
    api_token,
    approve_registration,
    create_voucher,
    qr_code_as_drawn,
    screenshot,
)
from tests.console.service_booklet_steps import read_a_key_record_print_and_delete_an_entry

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Expected:
    """What each language must show (texts and formats), asserted at the key pages."""

    register_heading: str
    verified: str
    enrol_heading: str
    applications_heading: str
    no_time: str
    available: str
    to_pay_for_top_up: str  # 50 euros and 21 % Dutch VAT
    balance_after_top_up: str  # 50 euros
    balance_after_voucher: str  # + 25 euros
    day: str
    month_names: str  # a date of this language: "5 mrt 2026" / "5 Mar 2026"
    code_subject: str  # the mails, in the language the applicant registered in
    activation_subject: str


ENGLISH = Expected(
    register_heading="Register your workshop",
    verified="Your email address is confirmed.",
    enrol_heading="Set up strong authentication",
    applications_heading="Applications",
    no_time="No time bought",
    available="Available",
    to_pay_for_top_up="€60.50",
    balance_after_top_up="€50.00",
    balance_after_voucher="€75.00",
    day="1 day",
    month_names=r"\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sept?|Oct|Nov|Dec) \d{4}, \d\d:\d\d",
    code_subject="Your verification code",
    activation_subject="Garage Journey en is registered: set your password",
)
DUTCH = Expected(
    register_heading="Uw werkplaats inschrijven",
    verified="Uw e-mailadres is bevestigd.",
    enrol_heading="Sterke authenticatie instellen",
    applications_heading="Applicaties",
    no_time="Geen tijd gekocht",
    available="Beschikbaar",
    to_pay_for_top_up="€\xa060,50",
    balance_after_top_up="€\xa050,00",
    balance_after_voucher="€\xa075,00",
    day="1 dag",
    month_names=r"\d{1,2} (jan|feb|mrt|apr|mei|jun|jul|aug|sep|okt|nov|dec) \d{4},? \d\d:\d\d",
    code_subject="Uw verificatiecode",
    activation_subject="Garage Journey nl is geregistreerd: kies uw wachtwoord",
)


async def _journey(
    console: ConsoleServer, page: Page, expected: Expected, tag: str
) -> WorkshopAccount:
    """From the console's start page to a day of service booklet; the new workshop's owner,
    signed in on `page`."""
    base = console.base_url
    email = f"owner-{tag}@garage-journey.example"

    # Register.
    await page.goto(f"{base}/console/")
    await page.locator("a[href='/console/register']").click()
    await expect(page.locator("h1")).to_have_text(expected.register_heading)
    await screenshot(page, f"{tag}-register")
    await page.locator("#f-company_name").fill(f"Garage Journey {tag}")
    await page.locator("#f-legal_form").fill("BV")
    await page.locator("#f-address").fill("Industrieweg 12, 3542 AD Utrecht")
    await page.locator("#f-country").select_option("NL")
    await page.locator("#f-vat_id").fill("NL123456789B01" if tag == "en" else "NL987654321B01")
    await page.locator("#f-legal_representative").fill("Johan de Vries")
    await page.locator("#f-owner_name").fill("Johan de Vries")
    await page.locator("#f-contact_email").fill(email)
    await page.locator("form[action='/console/register'] button[type=submit]").click()

    # Verify the email: the mail links to the page, the code is in the mail.
    mail = await last_mail_to(console.session_factory, email)
    assert mail.subject == expected.code_subject
    link = re.search(r"(http://\S+/console/registrations/\S+/verify)", mail.body)
    assert link, mail.body
    await page.goto(link.group(1))
    await page.locator("#f-code").fill(code_in(mail.body))
    await page.locator("form[action$='/verify'] button[type=submit]").click()
    await expect(page.locator("#application-state")).to_contain_text(expected.verified)
    await screenshot(page, f"{tag}-application-status")
    registration_id = page.url.rstrip("/").rsplit("/", 1)[1]

    # The administrator approves (the operators' pages are another part's; here the API).
    workshop_id = await approve_registration(console.api, console.session_factory, registration_id)

    # Set the password from the invitation link in the approval mail.
    activation = await last_mail_to(console.session_factory, email, "registration")
    assert activation.subject == expected.activation_subject
    invitation = re.search(r"(http://\S+/console/invitations/\S+)", activation.body)
    assert invitation, activation.body
    await page.goto(invitation.group(1))
    await page.locator("#f-password").fill(OWNER_PASSWORD)
    await page.locator("#f-password_again").fill(OWNER_PASSWORD)
    await page.locator("form[action^='/console/invitations/'] button[type=submit]").click()

    # First sign-in: password, then TOTP enrolment from the QR code and the secret shown.
    await page.locator("#f-email").fill(email)
    await page.locator("#f-password").fill(OWNER_PASSWORD)
    await page.locator("form[action='/console/sign-in'] button[type=submit]").click()
    await expect(page.locator("h1")).to_have_text(expected.enrol_heading)
    await screenshot(page, f"{tag}-totp-enrolment")
    secret = (await page.locator("#totp-secret").inner_text()).strip()
    # What the authenticator app scans: the whole code, as drawn, carries the key shown.
    scanned = await qr_code_as_drawn(page, ".qr svg", f"{tag}-totp-qr-code")
    assert scanned.startswith("otpauth://totp/") and f"secret={secret}" in scanned, scanned
    await page.locator("#f-code").fill(await fresh_totp_code(secret))
    await page.locator("form[action='/console/sign-in/enrol'] button[type=submit]").click()
    assert await page.locator(".codes li").count() == 10
    await page.locator("main a.button").click()

    # The applications page: nothing bought yet; its link leads to buying time.
    await expect(page.locator("h1")).to_have_text(expected.applications_heading)
    booklet = page.locator("#app-service_history")
    await expect(booklet).to_contain_text(expected.no_time)
    await screenshot(page, f"{tag}-applications-empty")
    await booklet.locator("a[href*='/console/credit']").click()

    # Credit: a top-up in the page's number format, a voucher, then a day of service booklet.
    await page.locator("#f-amount").fill("50" if tag == "en" else "50,00")
    await page.locator("form[action='/console/credit/top-up'] button[type=submit]").click()
    # The price confirmation (credit, VAT, total), then the provider's page: Pay.
    await expect(page.locator("#quote-total")).to_have_text(expected.to_pay_for_top_up)
    await page.locator("#confirm-payment").click()
    await page.locator("#checkout").click()
    await page.locator("button[value=pay]").click()
    await expect(page.locator("#payment-state")).to_have_class(re.compile("notice-ok"))
    await page.locator("main a[href='/console/credit']").click()
    await expect(page.locator("#balance")).to_have_text(expected.balance_after_top_up)
    voucher = await create_voucher(console.api, console.session_factory, 2500)
    await page.locator("#f-voucher_code").fill(voucher)
    await page.locator("form[action='/console/credit/voucher'] button[type=submit]").click()
    await expect(page.locator("#balance")).to_have_text(expected.balance_after_voucher)
    await expect(page.locator("#ledger tbody tr")).to_have_count(2)
    await expect(page.locator("#ledger tbody tr").first).to_contain_text(
        re.compile(expected.month_names)
    )
    assert await page.locator("#f-service").input_value() == "service_history"
    await page.locator("#f-period").select_option("day")
    await screenshot(page, f"{tag}-credit")
    await page.locator("form[action='/console/credit/tickets'] button[type=submit]").click()
    await page.locator("#confirm-ticket").click()  # the price confirmation
    await expect(page.locator("#ticket-bought")).to_be_visible()
    await expect(page.locator("h1")).to_contain_text(expected.day)
    await expect(page.locator("#ticket-ends")).to_have_text(re.compile(expected.month_names))
    await screenshot(page, f"{tag}-ticket")

    # The applications page shows the booklet available, with its time left and end.
    await page.goto(f"{base}/console/")
    await expect(booklet).to_contain_text(expected.available)
    await expect(booklet.locator(".remaining")).not_to_be_empty()
    await expect(booklet).to_contain_text(re.compile(expected.month_names))
    await expect(page.locator("#app-ecu_programming")).to_contain_text(expected.no_time)
    await screenshot(page, f"{tag}-applications")
    return WorkshopAccount(workshop_id, email, OWNER_PASSWORD, secret)


async def test_a_new_workshop_gets_from_registration_to_its_first_service_entry(
    console: ConsoleServer,
    dev_env: WorkflowEnvironment,
    page: Page,
    entitlements_ended: list[str],
) -> None:
    account = await _journey(console, page, ENGLISH, "en")
    entitlements_ended.append(account.workshop_id)
    owner = await api_token(console.api, account)
    await read_a_key_record_print_and_delete_an_entry(
        console, dev_env, page, account.workshop_id, owner
    )


async def test_the_same_journey_in_dutch(
    console: ConsoleServer, dutch_page: Page, entitlements_ended: list[str]
) -> None:
    """Accept-Language nl-NL: every key page is Dutch, and so are its amounts and dates."""
    account = await _journey(console, dutch_page, DUTCH, "nl")
    entitlements_ended.append(account.workshop_id)
    await expect(dutch_page.locator("html")).to_have_attribute("lang", "nl")
    # The switch on every page: back to English, remembered for the next page.
    await dutch_page.locator(".languages a[hreflang=en]").click()
    await expect(dutch_page.locator("h1")).to_have_text(ENGLISH.applications_heading)
    await dutch_page.goto(f"{console.base_url}/console/credit")
    await expect(dutch_page.locator("#balance")).to_have_text(re.compile(r"^€\d+\.\d\d$"))
