"""Steps of the account journeys that several tests walk through the API."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pyotp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.accounts import AccountRepository
from db.models import OutboxMail

ADMIN_EMAIL = "admin@aos-portal.example"
ADMIN_PASSWORD = "correct horse battery staple"

APPLICATION: dict[str, Any] = {
    "company_name": "Garage De Vries",
    "legal_form": "BV",
    "address": "Industrieweg 12, 3542 AD Utrecht",
    "country": "NL",
    "vat_id": "NL123456789B01",
    "legal_representative": "Johan de Vries",
    "contact_email": "johan@garage-devries.example",
    "owner_name": "Johan de Vries",
}


# The newest TOTP time step each secret's code was handed out for, by `fresh_totp_code`.
_steps_handed_out: dict[str, int] = {}


async def fresh_totp_code(secret: str) -> str:
    """A code of `secret` that the portal accepts now, for a test that signs in again.

    The portal takes the current time step's code and one either side, and each step only
    once (a code works once): this hands out the current step's code, then the next step's,
    and when those are used up waits until the clock reaches the step after. Every sign-in of
    a test's account must take its code from here, or this cannot know what is used.
    """
    totp = pyotp.TOTP(secret)
    while True:
        now = time.time()
        current = totp.timecode(now)
        step = max(current, _steps_handed_out.get(secret, current - 1) + 1)
        if step <= current + 1:
            _steps_handed_out[secret] = step
            return totp.generate_otp(step)
        await asyncio.sleep((step - 1) * totp.interval - now + 0.05)


async def last_mail_to(
    session_factory: async_sessionmaker[AsyncSession],
    recipient: str,
    category: str | None = None,
    after_id: int = 0,
) -> OutboxMail:
    """The newest mail to `recipient`, waiting a little: activities send it asynchronously."""
    query = select(OutboxMail).where(OutboxMail.recipient == recipient, OutboxMail.id > after_id)
    if category:
        query = query.where(OutboxMail.category == category)
    for _ in range(100):
        async with session_factory() as session:
            mail = (await session.scalars(query.order_by(OutboxMail.id.desc()))).first()
        if mail is not None:
            return mail
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail to {recipient}")


def token_in(body: str) -> str:
    match = re.search(r"^([A-Za-z0-9_\-]{40,})$", body, re.M)
    assert match, body
    return match.group(1)


def code_in(body: str) -> str:
    match = re.search(r"\b(\d{6})\b", body)
    assert match, body
    return match.group(1)


async def sign_in_enrolling_totp(client: httpx.AsyncClient, email: str, password: str) -> str:
    """First sign-in: password, TOTP enrolment with the provisioning secret, session token."""
    first = await client.post("/auth/login", json={"email": email, "password": password})
    assert first.status_code == 200, first.text
    _, token = await confirm_totp_enrolment(client, first.json())
    return token


async def confirm_totp_enrolment(
    client: httpx.AsyncClient, enrolment: dict[str, Any]
) -> tuple[str, str]:
    """Confirm the enrolment a first `POST /auth/login` answered with: the TOTP secret (to
    sign in again later) and the new session's token."""
    assert enrolment["status"] == "totp_enrolment_required"
    assert enrolment["provisioning_uri"].startswith("otpauth://totp/")
    secret: str = enrolment["secret"]
    confirmed = await client.post(
        "/auth/totp/confirm",
        json={
            "enrolment_token": enrolment["enrolment_token"],
            "code": await fresh_totp_code(secret),
        },
    )
    assert confirmed.status_code == 200, confirmed.text
    assert len(confirmed.json()["recovery_codes"]) == 10
    token: str = confirmed.json()["token"]
    return secret, token


async def admin_headers(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> dict[str, str]:
    await AccountRepository(session_factory).ensure_administrator(
        ADMIN_EMAIL, ADMIN_PASSWORD, "Admin"
    )
    token = await sign_in_enrolling_totp(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    return {"Authorization": f"Bearer {token}"}
