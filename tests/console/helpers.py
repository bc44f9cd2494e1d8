"""What the console's browser tests share: a signed-up workshop made through the JSON API,
signing in through the pages, and screenshots.

Screenshots go to `artefacts/screenshots/<name>.png` at the repository's root (gitignored).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.accounts import AccountRepository
from tests.accounts_helpers import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    code_in,
    confirm_totp_enrolment,
    fresh_totp_code,
    last_mail_to,
    token_in,
)

SCREENSHOTS = Path(__file__).parents[2] / "artefacts" / "screenshots"
OWNER_PASSWORD = "a long owner password"
# The administrator's TOTP secret per test database (the account is enrolled once per database).
_admin_secrets: dict[str, str] = {}


@dataclass(frozen=True)
class WorkshopAccount:
    """A workshop's owner who has enrolled TOTP: everything needed to sign in again."""

    workshop_id: str
    email: str
    password: str
    totp_secret: str

    async def code(self) -> str:
        """A code the portal accepts now (each works once: `fresh_totp_code`)."""
        return await fresh_totp_code(self.totp_secret)


# A workshop's address in each country a test registers one in.
ADDRESSES = {"NL": "Industrieweg 12, 3542 AD Utrecht", "DE": "Industriestraße 12, 10115 Berlin"}


def application(name: str, vat_number: str, email: str, country: str = "NL") -> dict[str, Any]:
    """A valid application; `vat_number` is nine digits (a Dutch VAT ID is NL<9 digits>B01, a
    German one DE<9 digits>)."""
    return {
        "company_name": name,
        "legal_form": "BV" if country == "NL" else "GmbH",
        "address": ADDRESSES[country],
        "country": country,
        "vat_id": f"NL{vat_number}B01" if country == "NL" else f"{country}{vat_number}",
        "legal_representative": "Johan de Vries",
        "contact_email": email,
        "owner_name": "Johan de Vries",
    }


async def wait_for_registration_state(
    api: httpx.AsyncClient, registration_id: str, state: str
) -> None:
    for _ in range(200):
        current = (await api.get(f"/registrations/{registration_id}")).json()["state"]
        if current == state:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"registration {registration_id} never reached {state}")


async def administrator(
    api: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> dict[str, str]:
    """Bearer headers of the portal's administrator (created and enrolled on first use)."""
    await AccountRepository(session_factory).ensure_administrator(
        ADMIN_EMAIL, ADMIN_PASSWORD, "Admin"
    )
    first = await api.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    if first.status_code == 200 and first.json()["status"] == "totp_enrolment_required":
        secret, token = await confirm_totp_enrolment(api, first.json())
        _admin_secrets[str(session_factory.kw.get("bind"))] = secret
        return {"Authorization": f"Bearer {token}"}
    secret = _admin_secrets[str(session_factory.kw.get("bind"))]
    signed_in = await api.post(
        "/auth/login",
        json={
            "email": ADMIN_EMAIL,
            "password": ADMIN_PASSWORD,
            "totp_code": await fresh_totp_code(secret),
        },
    )
    assert signed_in.status_code == 200, signed_in.text
    return {"Authorization": f"Bearer {signed_in.json()['token']}"}


async def administrator_account(
    api: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> WorkshopAccount:
    """The portal's administrator (created and enrolled on first use), to sign in to pages."""
    await administrator(api, session_factory)
    secret = _admin_secrets[str(session_factory.kw.get("bind"))]
    return WorkshopAccount("", ADMIN_EMAIL, ADMIN_PASSWORD, secret)


async def approve_registration(
    api: httpx.AsyncClient,
    session_factory: async_sessionmaker[AsyncSession],
    registration_id: str,
) -> str:
    """The administrator approves through the JSON API; the new workshop's id."""
    await wait_for_registration_state(api, registration_id, "under_review")
    decided = await api.post(
        f"/admin/registrations/{registration_id}/decision",
        json={"approve": True, "reason": "documents checked"},
        headers=await administrator(api, session_factory),
    )
    assert decided.status_code == 200, decided.text
    workshop_id: str = decided.json()["workshop_id"]
    return workshop_id


async def create_voucher(
    api: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession], cents: int
) -> str:
    """A voucher worth `cents`, made by the administrator through the JSON API; its code."""
    created = await api.post(
        "/admin/vouchers",
        json={"amount_cents": cents},
        headers=await administrator(api, session_factory),
    )
    assert created.status_code == 201, created.text
    code: str = created.json()["code"]
    return code


async def workshop_through_api(
    api: httpx.AsyncClient,
    session_factory: async_sessionmaker[AsyncSession],
    name: str = "Garage De Vries",
    vat_number: str = "123456789",
    email: str = "johan@garage-devries.example",
    country: str = "NL",
) -> WorkshopAccount:
    """A registered, approved workshop whose owner set a password and enrolled TOTP, all done
    through the JSON API (for tests whose subject is another page)."""
    applied = await api.post("/registrations", json=application(name, vat_number, email, country))
    assert applied.status_code == 201, applied.text
    registration_id = applied.json()["registration_id"]
    mail = await last_mail_to(session_factory, email)
    verified = await api.post(
        f"/registrations/{registration_id}/email-verification", json={"code": code_in(mail.body)}
    )
    assert verified.status_code == 200, verified.text
    workshop_id = await approve_registration(api, session_factory, registration_id)
    activation = await last_mail_to(session_factory, email, "registration")
    accepted = await api.post(
        f"/invitations/{token_in(activation.body)}/accept", json={"password": OWNER_PASSWORD}
    )
    assert accepted.status_code == 200, accepted.text
    return await _enrolled(api, workshop_id, email, OWNER_PASSWORD)


async def _enrolled(
    api: httpx.AsyncClient, workshop_id: str, email: str, password: str
) -> WorkshopAccount:
    """The first sign-in of a new account, which enrols TOTP."""
    first = await api.post("/auth/login", json={"email": email, "password": password})
    secret, _ = await confirm_totp_enrolment(api, first.json())
    return WorkshopAccount(workshop_id, email, password, secret)


async def invited_technician(
    api: httpx.AsyncClient,
    session_factory: async_sessionmaker[AsyncSession],
    owner: WorkshopAccount,
    email: str = "piet@garage-devries.example",
) -> WorkshopAccount:
    """A technician of the owner's workshop: invited by the owner, enrolled through the API."""
    headers = await api_token(api, owner)
    invited = await api.post(
        f"/workshops/{owner.workshop_id}/invitations",
        json={"email": email, "name": "Piet Monteur"},
        headers=headers,
    )
    assert invited.status_code == 201, invited.text
    token = token_in((await last_mail_to(session_factory, email, "invitation")).body)
    password = "piet's long password"
    accepted = await api.post(f"/invitations/{token}/accept", json={"password": password})
    assert accepted.status_code == 200, accepted.text
    return await _enrolled(api, owner.workshop_id, email, password)


async def api_token(api: httpx.AsyncClient, account: WorkshopAccount) -> dict[str, str]:
    """Bearer headers of a fresh API session of `account`."""
    signed_in = await api.post(
        "/auth/login",
        json={
            "email": account.email,
            "password": account.password,
            "totp_code": await account.code(),
        },
    )
    assert signed_in.status_code == 200, signed_in.text
    return {"Authorization": f"Bearer {signed_in.json()['token']}"}


async def sign_in(page: Page, base_url: str, account: WorkshopAccount) -> None:
    """Sign in through the console's pages: password, then the TOTP code."""
    await page.goto(f"{base_url}/console/sign-in")
    await page.get_by_label(re.compile("^(Email address|E-mailadres)$")).fill(account.email)
    await page.get_by_label(re.compile("^(Password|Wachtwoord)$")).fill(account.password)
    await page.locator("form[action='/console/sign-in'] button[type=submit]").click()
    await page.locator("#f-code").fill(await account.code())
    await page.locator("form[action='/console/sign-in/code'] button[type=submit]").click()
    await expect(page.locator("form.sign-out")).to_be_visible()


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    match = CSRF.search(page.text)
    assert match, page.text
    return match.group(1)


async def console_sign_in(client: httpx.AsyncClient, account: WorkshopAccount) -> httpx.Response:
    """Password, then code, through the console's forms over HTTP (no browser); the answer
    that set the session."""
    form = await client.get("/console/sign-in")
    step_one = await client.post(
        "/console/sign-in",
        data={"email": account.email, "password": account.password, "csrf_token": csrf_of(form)},
    )
    assert step_one.status_code == 303, step_one.text
    code_form = await client.get(step_one.headers["location"])
    signed_in = await client.post(
        "/console/sign-in/code",
        data={"code": await account.code(), "csrf_token": csrf_of(code_form)},
    )
    assert signed_in.status_code == 303, signed_in.text
    assert "aos_session" in client.cookies
    return signed_in


async def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot under artefacts/screenshots/ (for the README and reviewers)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


DOCS_SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
# A README image stays small: the repository carries every version of it.
DOCS_SCREENSHOT_MAX_BYTES = 150_000


def _readme_image(name: str) -> Path:
    """Where a README image goes: docs/screenshots/ when AOS_DOCS_SCREENSHOTS=1 (`make` leaves
    the committed images alone otherwise), else beside the other screenshots."""
    folder = DOCS_SCREENSHOTS if os.environ.get("AOS_DOCS_SCREENSHOTS") == "1" else SCREENSHOTS
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"


def _small_enough(path: Path) -> Path:
    assert path.stat().st_size < DOCS_SCREENSHOT_MAX_BYTES, (path, path.stat().st_size)
    return path


async def phone_screenshot(page: Page, name: str) -> Path:
    """The page's first screen as a phone shows it (the viewport, not the whole page), for the
    README (see `_readme_image`); never larger than DOCS_SCREENSHOT_MAX_BYTES."""
    path = _readme_image(name)
    await page.screenshot(path=str(path))
    return _small_enough(path)


PDFTOPPM = shutil.which("pdftoppm")


def pdf_screenshot(pdf: bytes, name: str) -> Path:
    """The first page of a PDF drawn at 80 dpi by poppler's pdftoppm, for the README (see
    `_readme_image`); never larger than DOCS_SCREENSHOT_MAX_BYTES."""
    if PDFTOPPM is None:
        pytest.skip("needs pdftoppm (apt install poppler-utils)")
    path = _readme_image(name)
    subprocess.run(
        [PDFTOPPM, "-png", "-r", "80", "-singlefile", "-f", "1", "-l", "1", "-", str(path)[:-4]],
        input=pdf,
        check=True,
    )
    return _small_enough(path)


# What a page must not have: axe-core's violations of these impacts fail a test.
BLOCKING_IMPACTS = ("serious", "critical")
_axe = Axe()


async def accessibility_faults(page: Page, tag: str) -> list[str]:
    """axe-core (the copy bundled in axe-playwright-python) run on the page as it stands: one
    readable line per serious or critical violation, naming the rule, what it means and the
    elements it found."""
    results = await _axe.run(page)
    faults = []
    for violation in results.response["violations"]:
        if violation["impact"] not in BLOCKING_IMPACTS:
            continue
        targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]][:5]
        faults.append(
            f"{tag} {page.url}: {violation['impact']} {violation['id']} "
            f"({violation['help']}) at {targets}"
        )
    return faults


ZBARIMG = Path("/usr/bin/zbarimg")
HAS_ZBARIMG = ZBARIMG.exists()


async def qr_code_as_drawn(page: Page, selector: str, name: str) -> str:
    """What a phone's camera reads from the QR code at `selector`, as the page draws it: a
    screenshot of the element decoded by zbar (Debian's zbar-tools, which .ci/run installs)."""
    if not HAS_ZBARIMG:
        if os.environ.get("CI"):
            pytest.fail(f"{ZBARIMG} is missing; .ci/run installs Debian's zbar-tools package")
        pytest.skip(
            f"decoding a QR code needs Debian's zbarimg at {ZBARIMG} (apt install zbar-tools)"
        )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.locator(selector).screenshot(path=str(path))
    decoded = await asyncio.create_subprocess_exec(
        str(ZBARIMG), "--quiet", "--raw", str(path), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await decoded.communicate()
    assert decoded.returncode == 0, (
        f"zbarimg found no QR code in {path} (exit {decoded.returncode})"
    )
    return out.decode().strip()
