"""Failed sign-ins are throttled per account and source address; nobody can lock out another.

Each client below is the same API seen from its own IP address (the ASGI transport's client
address is what `web.auth.client_ip` reads). Time moves through the clock the accounts
repository is built with.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from db.accounts import AccountRepository
from db.models import User
from domain.accounts import FAILURE_WINDOW, SOURCE_FAILURE_LIMIT
from portal_app import create_app
from settings import Settings
from testkit.serving import running_api
from tests.accounts_helpers import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    fresh_totp_code,
    sign_in_enrolling_totp,
)
from web.deps import ResourcesDep, get_accounts

pytestmark = pytest.mark.database

OWNER_IP = "10.20.30.40"
WRONG = {"email": ADMIN_EMAIL, "password": "not the password at all"}


class MovableClock:
    """Real time plus an offset that the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def _app(settings: Settings, dev_env: WorkflowEnvironment, clock: MovableClock) -> FastAPI:
    app = create_app(settings, temporal=dev_env.client)

    def accounts_on_clock(resources: ResourcesDep) -> AccountRepository:
        return AccountRepository(resources.session_factory, clock=clock)

    app.dependency_overrides[get_accounts] = accounts_on_clock
    return app


@asynccontextmanager
async def _at(app: FastAPI, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def _totp_secret(session_factory: async_sessionmaker[AsyncSession]) -> str:
    async with session_factory() as session:
        secret = await session.scalar(select(User.totp_secret).where(User.email == ADMIN_EMAIL))
    assert secret
    return secret


async def _fail_until_held(client: httpx.AsyncClient, body: dict[str, str]) -> httpx.Response:
    """`SOURCE_FAILURE_LIMIT` wrong sign-ins (each 401), then the answer to one more."""
    for _ in range(SOURCE_FAILURE_LIMIT):
        wrong = await client.post("/auth/login", json=body)
        assert (wrong.status_code, wrong.json()["type"]) == (401, "/problems/invalid-credentials")
    return await client.post("/auth/login", json=body)


def _assert_too_many(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "/problems/too-many-attempts"
    assert int(response.headers["Retry-After"]) == problem["retry_after"] >= 1
    retry_after: int = problem["retry_after"]
    return retry_after


async def test_the_owner_signs_in_from_home_while_attackers_hammer_the_account(
    settings: Settings,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await AccountRepository(session_factory).ensure_administrator(
        ADMIN_EMAIL, ADMIN_PASSWORD, "Admin"
    )
    app = _app(settings, dev_env, MovableClock())
    async with running_api(app, client_ip=OWNER_IP) as owner:
        assert await sign_in_enrolling_totp(owner, ADMIN_EMAIL, ADMIN_PASSWORD)
        secret = await _totp_secret(session_factory)
        # Two attackers, each until held: 10 failures, the account's slowdown starts.
        for attacker_ip in ("203.0.113.7", "203.0.113.8"):
            async with _at(app, attacker_ip) as attacker:
                held = await _fail_until_held(attacker, WRONG)
                assert _assert_too_many(held) > (FAILURE_WINDOW - timedelta(minutes=1)).seconds
                # Held means held: even the right password is not checked from there.
                right = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
                _assert_too_many(await attacker.post("/auth/login", json=right))

        signed_in = await owner.post(
            "/auth/login",
            json={
                "email": ADMIN_EMAIL,
                "password": ADMIN_PASSWORD,
                "totp_code": await fresh_totp_code(secret),
            },
        )
        assert signed_in.status_code == 200, signed_in.text
        session = {"Authorization": f"Bearer {signed_in.json()['token']}"}
        assert (await owner.get("/me", headers=session)).json()["role"] == "administrator"


async def test_a_held_address_may_try_again_once_its_failures_leave_the_window(
    settings: Settings,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await AccountRepository(session_factory).ensure_administrator(
        ADMIN_EMAIL, ADMIN_PASSWORD, "Admin"
    )
    clock = MovableClock()
    async with running_api(_app(settings, dev_env, clock), client_ip=OWNER_IP) as client:
        retry_after = _assert_too_many(await _fail_until_held(client, WRONG))
        # An address that does not exist is held the same: a 429 does not reveal accounts.
        nobody = {"email": "nobody@garage.example", "password": "whatever it is"}
        _assert_too_many(await _fail_until_held(client, nobody))

        clock.offset = timedelta(seconds=retry_after - 60)
        _assert_too_many(await client.post("/auth/login", json=WRONG))
        clock.offset = timedelta(seconds=retry_after + 1)
        again = await client.post(
            "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert again.status_code == 200, again.text
        assert again.json()["status"] == "totp_enrolment_required"


async def test_an_account_under_attack_slows_down_addresses_that_failed_but_not_clean_ones(
    settings: Settings,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await AccountRepository(session_factory).ensure_administrator(
        ADMIN_EMAIL, ADMIN_PASSWORD, "Admin"
    )
    clock = MovableClock()
    app = _app(settings, dev_env, clock)
    async with running_api(app, client_ip="198.51.100.1") as first:
        _assert_too_many(await _fail_until_held(first, WRONG))
        async with _at(app, "198.51.100.2") as second:
            _assert_too_many(await _fail_until_held(second, WRONG))
        # 10 failures on the account: one more failure from a third address holds it a while,
        # although that address failed only once itself.
        async with _at(app, "198.51.100.3") as third:
            once = await third.post("/auth/login", json=WRONG)
            assert once.status_code == 401
            slowed = _assert_too_many(await third.post("/auth/login", json=WRONG))
            assert slowed <= 60
            clock.offset = timedelta(seconds=slowed + 1)
            assert (await third.post("/auth/login", json=WRONG)).status_code == 401
        # An address that never failed on the account is not slowed down at all.
        async with _at(app, OWNER_IP) as owner:
            right = await owner.post(
                "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            )
            assert right.status_code == 200, right.text


async def test_wrong_enrolment_codes_are_throttled_too(
    settings: Settings,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await AccountRepository(session_factory).ensure_administrator(
        ADMIN_EMAIL, ADMIN_PASSWORD, "Admin"
    )
    async with running_api(create_app(settings, temporal=dev_env.client)) as client:
        first = await client.post(
            "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        enrolment = first.json()
        right_code = await fresh_totp_code(enrolment["secret"])
        wrong_code = f"{(int(right_code) + 500_000) % 1_000_000:06d}"
        body = {"enrolment_token": enrolment["enrolment_token"], "code": wrong_code}
        for _ in range(SOURCE_FAILURE_LIMIT):
            wrong = await client.post("/auth/totp/confirm", json=body)
            assert (wrong.status_code, wrong.json()["type"]) == (
                401,
                "/problems/invalid-credentials",
            )
        _assert_too_many(await client.post("/auth/totp/confirm", json=body))
        # The enrolment token itself stays good for when the address may try again.
        assert (
            await client.post("/auth/totp/confirm", json={**body, "code": right_code})
        ).status_code == 429


def test_the_refusals_are_declared_in_the_openapi(
    settings: Settings, dev_env: WorkflowEnvironment
) -> None:
    schema = create_app(settings, temporal=dev_env.client).openapi()
    for path in ("/auth/login", "/auth/totp/confirm"):
        responses = schema["paths"][path]["post"]["responses"]
        assert "too-many-attempts" in responses["429"]["description"]
        assert "Retry-After" in responses["429"]["headers"]
        assert "invalid-credentials" in responses["401"]["description"]
        assert "423" not in responses


async def test_concurrent_failures_from_one_address_do_not_pass_the_limit(
    api_client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    # Each attempt is recorded before its password check, so parallel attempts see each other.
    await AccountRepository(session_factory).ensure_administrator(
        ADMIN_EMAIL, ADMIN_PASSWORD, "Admin"
    )
    answers = await asyncio.gather(
        *(api_client.post("/auth/login", json=WRONG) for _ in range(3 * SOURCE_FAILURE_LIMIT))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(401) == SOURCE_FAILURE_LIMIT, statuses
    assert statuses.count(429) == 2 * SOURCE_FAILURE_LIMIT, statuses
