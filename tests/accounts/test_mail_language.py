"""Mail goes out in the recipient's language, kept per person: on the dev server, through the
API, reading each mail from the outbox the embedded mode delivers into."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import OutboxMail
from settings import Settings
from tests.accounts_helpers import (
    APPLICATION,
    admin_headers,
    code_in,
    last_mail_to,
    sign_in_enrolling_totp,
    token_in,
)

pytestmark = [pytest.mark.e2e, pytest.mark.database]

DUTCH_BROWSER = {"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.5"}
ENGLISH_BROWSER = {"Accept-Language": "en-GB,en;q=0.9"}
ENGLISH_APPLICATION = APPLICATION | {
    "company_name": "Smith Motors",
    "vat_id": "NL987654321B01",
    "contact_email": "jane@smith-motors.example",
    "owner_name": "Jane Smith",
    "legal_representative": "Jane Smith",
}


async def _registered_owner(
    client: httpx.AsyncClient,
    session_factory: async_sessionmaker[AsyncSession],
    application: dict[str, Any],
    browser: dict[str, str],
    admin: dict[str, str],
) -> tuple[dict[str, str], OutboxMail, OutboxMail]:
    """Apply in the browser's language, verify, approve, set the password and sign in: the
    owner's API headers, the code mail and the activation mail."""
    applied = await client.post("/registrations", json=application, headers=browser)
    assert applied.status_code == 201, applied.text
    registration_id = applied.json()["registration_id"]
    email = application["contact_email"]
    code_mail = await last_mail_to(session_factory, email, "registration")
    verified = await client.post(
        f"/registrations/{registration_id}/email-verification",
        json={"code": code_in(code_mail.body)},
    )
    assert verified.status_code == 200, verified.text
    for _ in range(100):
        decided = await client.post(
            f"/admin/registrations/{registration_id}/decision",
            json={"approve": True, "reason": "documents checked"},
            headers=admin,
        )
        if decided.status_code == 200:
            break
        await asyncio.sleep(0.1)  # the VAT check still runs: not under review yet
    assert decided.status_code == 200, decided.text
    activation = await last_mail_to(session_factory, email, "registration", after_id=code_mail.id)
    password = "a long owner password"
    accepted = await client.post(
        f"/invitations/{token_in(activation.body)}/accept", json={"password": password}
    )
    assert accepted.status_code == 200, accepted.text
    token = await sign_in_enrolling_totp(client, email, password)
    return {"Authorization": f"Bearer {token}"}, code_mail, activation


async def test_a_dutch_applicant_gets_dutch_mail_and_an_english_one_english(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    admin = await admin_headers(api_client, session_factory)
    dutch, code, activation = await _registered_owner(
        api_client, session_factory, APPLICATION, DUTCH_BROWSER, admin
    )
    assert code.subject == "Uw verificatiecode"
    assert "Deze is een uur geldig" in code.body
    assert activation.subject == "Garage De Vries is geregistreerd: kies uw wachtwoord"
    assert "Uw werkplaats Garage De Vries is goedgekeurd" in activation.body
    me = await api_client.get("/me", headers=dutch)
    assert me.json()["language"] == "nl"

    english, code, activation = await _registered_owner(
        api_client, session_factory, ENGLISH_APPLICATION, ENGLISH_BROWSER, admin
    )
    assert code.subject == "Your verification code"
    assert "It is valid for one hour" in code.body
    assert activation.subject == "Smith Motors is registered: set your password"
    assert (await api_client.get("/me", headers=english)).json()["language"] == "en"

    # The Dutch owner invites a technician: the invitation is Dutch, the inviter's language.
    invited = await api_client.post(
        f"/workshops/{me.json()['workshop_id']}/invitations",
        json={"email": "piet@garage-devries.example", "name": "Piet Jansen"},
        headers=dutch,
    )
    assert invited.status_code == 201, invited.text
    invitation = await last_mail_to(session_factory, "piet@garage-devries.example")
    assert invitation.subject == "U bent uitgenodigd voor het AOS-portaal"


async def test_a_person_who_switches_to_dutch_gets_the_next_mail_in_dutch(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    admin = await admin_headers(api_client, session_factory)
    owner, _code, _activation = await _registered_owner(
        api_client, session_factory, ENGLISH_APPLICATION, ENGLISH_BROWSER, admin
    )
    email = ENGLISH_APPLICATION["contact_email"]
    await api_client.post("/auth/password-reset", json={"email": email})
    before = await last_mail_to(session_factory, email, "password-reset")
    assert before.subject == "Reset your password"

    switched = await api_client.patch("/me", json={"language": "nl"}, headers=owner)
    assert (switched.status_code, switched.json()["language"]) == (200, "nl"), switched.text
    await api_client.post("/auth/password-reset", json={"email": email})
    after = await last_mail_to(session_factory, email, "password-reset", after_id=before.id)
    assert after.subject == "Stel uw wachtwoord opnieuw in"
    assert token_in(after.body)

    unknown = await api_client.patch("/me", json={"language": "de"}, headers=owner)
    assert unknown.status_code == 422, unknown.text
    assert unknown.headers["content-type"] == "application/problem+json"
    assert "language" in unknown.text
    anonymous = await api_client.patch("/me", json={"language": "nl"})
    assert anonymous.status_code == 401, anonymous.text
    assert (await api_client.get("/me", headers=owner)).json()["language"] == "nl"


async def test_an_accept_language_longer_than_any_browser_sends_is_refused(
    api_client: httpx.AsyncClient, portal_on_dev_server: Settings
) -> None:
    too_long = {"Accept-Language": "nl-NL," + "en;q=0.5," * 25}
    assert len(too_long["Accept-Language"]) > 200
    refused = await api_client.post("/registrations", json=APPLICATION, headers=too_long)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "accept-language" in refused.text.lower()
