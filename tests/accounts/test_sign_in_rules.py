"""Sign-in rules a workshop relies on: throttling, IP-bound sessions, single-use tokens, policy."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from db.accounts import AccountRepository
from db.models import User
from domain.accounts import Role
from portal_app import create_app
from settings import Settings
from testkit.factories import create_workshop, sign_in
from testkit.serving import running_api
from tests.accounts_helpers import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    fresh_totp_code,
    last_mail_to,
    sign_in_enrolling_totp,
    token_in,
)

pytestmark = pytest.mark.database


def _client_at(app: FastAPI, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_five_failures_hold_the_address_not_the_account(
    settings: Settings,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # This was a 15-minute account lock (423), which anybody knowing the email could set on
    # its owner (issue #15). Now the failing address is held, and only for this account;
    # tests/accounts/test_sign_in_throttle.py walks the whole rule.
    await AccountRepository(session_factory).ensure_administrator(
        ADMIN_EMAIL, ADMIN_PASSWORD, "Admin"
    )
    app = create_app(settings, temporal=dev_env.client)
    wrong = {"email": ADMIN_EMAIL, "password": "not the password at all"}
    right = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    async with running_api(app, client_ip="10.1.1.1") as failing:
        for _ in range(5):
            response = await failing.post("/auth/login", json=wrong)
            assert response.status_code == 401
            assert response.json()["type"] == "/problems/invalid-credentials"
        held = await failing.post("/auth/login", json=right)
        assert held.status_code == 429
        assert held.json()["type"] == "/problems/too-many-attempts"
        assert int(held.headers["Retry-After"]) == held.json()["retry_after"]
        async with _client_at(app, "10.9.9.9") as elsewhere:
            assert (await elsewhere.post("/auth/login", json=right)).status_code == 200


async def test_unknown_email_answers_like_a_wrong_password(api_client: httpx.AsyncClient) -> None:
    response = await api_client.post(
        "/auth/login", json={"email": "nobody@garage.example", "password": "whatever it is"}
    )
    assert response.status_code == 401
    assert response.json()["type"] == "/problems/invalid-credentials"


async def test_enrolled_account_needs_the_second_factor(
    api_client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await AccountRepository(session_factory).ensure_administrator(
        ADMIN_EMAIL, ADMIN_PASSWORD, "Admin"
    )
    first = await sign_in_enrolling_totp(api_client, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert first
    without = await api_client.post(
        "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert without.status_code == 401
    assert without.json()["type"] == "/problems/totp-required"
    async with session_factory() as session:
        secret = await session.scalar(select(User.totp_secret).where(User.email == ADMIN_EMAIL))
    assert secret
    with_code = await api_client.post(
        "/auth/login",
        json={
            "email": ADMIN_EMAIL,
            "password": ADMIN_PASSWORD,
            "totp_code": await fresh_totp_code(secret),
        },
    )
    assert with_code.status_code == 200, with_code.text
    assert with_code.json()["status"] == "signed_in"


async def test_a_session_used_from_another_ip_is_refused_and_ended(
    settings: Settings,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    workshop_id = await create_workshop(session_factory)
    person = await sign_in(session_factory, Role.TECHNICIAN, workshop_id, client_ip="10.1.1.1")
    app = create_app(settings, temporal=dev_env.client)
    async with running_api(app, client_ip="10.1.1.1") as home:
        assert (await home.get("/me", headers=person.headers)).status_code == 200
        async with _client_at(app, "10.9.9.9") as elsewhere:
            stolen = await elsewhere.get("/me", headers=person.headers)
        assert stolen.status_code == 401
        assert stolen.json()["type"] == "/problems/session-ip-changed"
        after = await home.get("/me", headers=person.headers)
        assert after.status_code == 401
        assert after.json()["type"] == "/problems/session-expired"


async def test_logout_ends_the_session(
    api_client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    person = await sign_in(session_factory, Role.ADMINISTRATOR)
    assert (await api_client.post("/auth/logout", headers=person.headers)).status_code == 200
    assert (await api_client.get("/me", headers=person.headers)).status_code == 401


async def test_password_reset_token_works_once(
    api_client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await AccountRepository(session_factory).ensure_administrator(
        ADMIN_EMAIL, ADMIN_PASSWORD, "Admin"
    )
    asked = await api_client.post("/auth/password-reset", json={"email": ADMIN_EMAIL})
    assert asked.status_code == 202
    unknown = await api_client.post("/auth/password-reset", json={"email": "x@garage.example"})
    assert unknown.status_code == 202 and unknown.json() == asked.json()
    token = token_in((await last_mail_to(session_factory, ADMIN_EMAIL, "password-reset")).body)

    short = await api_client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "short"}
    )
    assert short.status_code == 422
    assert (short.json()["type"], short.json()["field"]) == ("/problems/weak-password", "password")

    new_password = "another long password"
    done = await api_client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": new_password}
    )
    assert done.status_code == 200, done.text
    again = await api_client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "yet another one!"}
    )
    assert again.status_code == 422
    assert again.json()["type"] == "/problems/token-invalid"
    login = await api_client.post(
        "/auth/login", json={"email": ADMIN_EMAIL, "password": new_password}
    )
    assert login.status_code == 200


async def test_owner_invites_a_technician_whose_link_works_once(
    api_client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    workshop_id = await create_workshop(session_factory)
    owner = await sign_in(session_factory, Role.WORKSHOP_OWNER, workshop_id)
    technician = await sign_in(session_factory, Role.TECHNICIAN, workshop_id)
    body = {"email": "piet@garage.example", "name": "Piet Monteur"}

    refused = await api_client.post(
        f"/workshops/{workshop_id}/invitations", json=body, headers=technician.headers
    )
    assert refused.status_code == 403

    invited = await api_client.post(
        f"/workshops/{workshop_id}/invitations", json=body, headers=owner.headers
    )
    assert invited.status_code == 201, invited.text
    token = token_in((await last_mail_to(session_factory, body["email"], "invitation")).body)
    same_email = await api_client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "x" * 20}
    )
    assert same_email.status_code == 422  # an invitation token is not a reset token
    password = "piet's long password"
    assert (
        await api_client.post(f"/invitations/{token}/accept", json={"password": password})
    ).status_code == 200
    reused = await api_client.post(f"/invitations/{token}/accept", json={"password": password})
    assert reused.status_code == 422
    assert reused.json()["type"] == "/problems/token-invalid"

    session_token = await sign_in_enrolling_totp(api_client, body["email"], password)
    me = await api_client.get("/me", headers={"Authorization": f"Bearer {session_token}"})
    assert (me.json()["role"], me.json()["workshop_id"]) == ("technician", workshop_id)


async def test_password_equal_to_the_email_is_refused(
    api_client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    workshop_id = await create_workshop(session_factory)
    owner = await sign_in(session_factory, Role.WORKSHOP_OWNER, workshop_id)
    email = "longname.technician@garage.example"
    await api_client.post(
        f"/workshops/{workshop_id}/invitations",
        json={"email": email, "name": "Long Name"},
        headers=owner.headers,
    )
    token = token_in((await last_mail_to(session_factory, email, "invitation")).body)
    refused = await api_client.post(f"/invitations/{token}/accept", json={"password": email})
    assert refused.status_code == 422
    assert refused.json()["type"] == "/problems/weak-password"
    accepted = await api_client.post(
        f"/invitations/{token}/accept", json={"password": "a good long password"}
    )
    assert accepted.status_code == 200  # the refused attempt did not use the token up
