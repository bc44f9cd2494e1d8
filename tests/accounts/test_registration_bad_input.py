"""Bad applications and bad steps get a problem with a stable type and the field, and change
nothing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import Registration
from settings import Settings
from tests.accounts_helpers import APPLICATION, code_in, last_mail_to


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("contact_email", "not-an-email"),
        ("vat_id", "NL12345"),
        ("vat_id", "DE123456789"),
        ("country", "US"),
        ("country", "XX"),
        ("company_name", ""),
    ],
)
async def test_malformed_application_names_the_field(
    api_client: httpx.AsyncClient,
    session_factory: async_sessionmaker[AsyncSession],
    field: str,
    value: str,
) -> None:
    response = await api_client.post("/registrations", json={**APPLICATION, field: value})
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/validation-error"
    assert response.json()["field"] == field
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Registration)) == 0


async def test_second_open_application_with_same_vat_or_email_is_a_conflict(
    api_client: httpx.AsyncClient, portal_on_dev_server: Settings
) -> None:
    first = await api_client.post("/registrations", json=APPLICATION)
    assert first.status_code == 201
    open_id = first.json()["registration_id"]
    same_vat = {**APPLICATION, "contact_email": "other@garage.example"}
    conflict = await api_client.post("/registrations", json=same_vat)
    assert conflict.status_code == 409
    body = conflict.json()
    assert body["type"] == "/problems/registration-already-open"
    assert (body["field"], body["open_registration_id"]) == ("vat_id", open_id)
    same_email = {**APPLICATION, "vat_id": "NL999999999B01", "company_name": "Other"}
    conflict = await api_client.post("/registrations", json=same_email)
    assert (conflict.status_code, conflict.json()["field"]) == (409, "contact_email")


async def test_wrong_codes_count_down_then_a_new_code_works(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    registration_id = (await api_client.post("/registrations", json=APPLICATION)).json()[
        "registration_id"
    ]
    first_mail = await last_mail_to(session_factory, APPLICATION["contact_email"])
    url = f"/registrations/{registration_id}/email-verification"

    malformed = await api_client.post(url, json={"code": "12ab"})
    assert (malformed.status_code, malformed.json()["field"]) == (422, "code")

    wrong = str((int(code_in(first_mail.body)) + 1) % 1_000_000).zfill(6)
    for attempts_left in (4, 3, 2, 1, 0):
        response = await api_client.post(url, json={"code": wrong})
        assert response.status_code == 422, response.text
        assert response.json()["type"] == "/problems/verification-code-wrong"
        assert response.json()["attempts_left"] == attempts_left
    exhausted = await api_client.post(url, json={"code": code_in(first_mail.body)})
    assert exhausted.status_code == 409
    assert exhausted.json()["type"] == "/problems/verification-code-attempts-exhausted"

    resent = await api_client.post(f"/registrations/{registration_id}/email-verification/resend")
    assert resent.status_code == 200, resent.text
    new_mail = await last_mail_to(
        session_factory, APPLICATION["contact_email"], after_id=first_mail.id
    )
    if code_in(new_mail.body) != code_in(first_mail.body):
        old = await api_client.post(url, json={"code": code_in(first_mail.body)})
        assert old.status_code == 422
    verified = await api_client.post(url, json={"code": code_in(new_mail.body)})
    assert verified.status_code == 200, verified.text
    assert verified.json()["state"] == "email_verified"


async def test_unknown_registration_is_404(api_client: httpx.AsyncClient) -> None:
    response = await api_client.post(
        "/registrations/no-such-id/email-verification", json={"code": "123456"}
    )
    assert response.status_code == 404
    assert response.json()["type"] == "/problems/not-found"
