"""Each TOTP code works once (RFC 6238, 5.2): whoever saw a code typed, or caught a request,
cannot sign in with it again, not even at the same moment as its owner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from db.accounts import AccountRepository
from db.models import User
from portal_app import create_app
from settings import Settings
from tests.accounts_helpers import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    confirm_totp_enrolment,
    fresh_totp_code,
)

SIGN_IN = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
CONCURRENT = 4


def _assert_code_used(answer: httpx.Response, field: str) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert (problem["type"], problem["field"]) == ("/problems/totp-code-used", field)


async def _enrolled_administrator(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> str:
    """The administrator, enrolled through the API; the TOTP secret."""
    await AccountRepository(session_factory).ensure_administrator(
        ADMIN_EMAIL, ADMIN_PASSWORD, "Admin"
    )
    first = await client.post("/auth/login", json=SIGN_IN)
    secret, _ = await confirm_totp_enrolment(client, first.json())
    return secret


async def test_a_code_signs_in_once(
    api_client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    secret = await _enrolled_administrator(api_client, session_factory)
    code = await fresh_totp_code(secret)
    first = await api_client.post("/auth/login", json=SIGN_IN | {"totp_code": code})
    assert first.status_code == 200, first.text
    again = await api_client.post("/auth/login", json=SIGN_IN | {"totp_code": code})
    _assert_code_used(again, "totp_code")

    # Nor does it change the password of a session that has it.
    headers = {"Authorization": f"Bearer {first.json()['token']}"}
    change = {"current_password": ADMIN_PASSWORD, "new_password": "a new long password!"}
    refused = await api_client.post(
        "/auth/password-change", json=change | {"totp_code": code}, headers=headers
    )
    _assert_code_used(refused, "totp_code")
    changed = await api_client.post(
        "/auth/password-change",
        json=change | {"totp_code": await fresh_totp_code(secret)},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text


async def test_the_enrolment_code_does_not_sign_in_again(
    api_client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await AccountRepository(session_factory).ensure_administrator(
        ADMIN_EMAIL, ADMIN_PASSWORD, "Admin"
    )
    # Two first sign-ins before enrolling: two enrolment tokens of the same secret.
    enrolments = [(await api_client.post("/auth/login", json=SIGN_IN)).json() for _ in range(2)]
    assert enrolments[0]["secret"] == enrolments[1]["secret"]
    code = await fresh_totp_code(enrolments[0]["secret"])
    confirmations = [
        await api_client.post(
            "/auth/totp/confirm",
            json={"enrolment_token": enrolment["enrolment_token"], "code": code},
        )
        for enrolment in enrolments
    ]
    assert confirmations[0].status_code == 200, confirmations[0].text
    _assert_code_used(confirmations[1], "code")
    _assert_code_used(
        await api_client.post("/auth/login", json=SIGN_IN | {"totp_code": code}), "totp_code"
    )


@asynccontextmanager
async def _account_row_held(
    session_factory: async_sessionmaker[AsyncSession], email: str
) -> AsyncIterator[None]:
    """Holds the account's row as a slow sign-in in flight would (PostgreSQL: FOR UPDATE;
    SQLite: the write lock), so the sign-ins started meanwhile all arrive at once."""
    async with session_factory() as session, session.begin():
        await session.execute(select(User.id).where(User.email == email).with_for_update())
        yield


# Sessions of this database that wait for a lock (PostgreSQL's view; read in a transaction of
# its own each time: a transaction sees one snapshot of it).
WAITING_FOR_A_LOCK = text(
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


async def _until_waiting(session_factory: async_sessionmaker[AsyncSession], count: int) -> None:
    """Until `count` transactions wait for the held row (PostgreSQL). SQLite shows no such
    thing: there, a moment for the sign-ins to arrive at its write lock."""
    for _ in range(300):
        async with session_factory() as session:
            if session.get_bind().dialect.name != "postgresql":
                await asyncio.sleep(1)
                return
            if await session.scalar(WAITING_FOR_A_LOCK) == count:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the {count} sign-ins never waited for the account's row together")


async def test_concurrent_sign_ins_with_one_code_let_one_through(
    settings: Settings,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # Each from its own address: the throttle holds none of them.
    app = create_app(settings, temporal=dev_env.client)
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(f"10.0.0.{n}", 40000)),
            base_url="http://testserver",
        )
        for n in range(1, CONCURRENT + 1)
    ]
    async with app.router.lifespan_context(app):
        secret = await _enrolled_administrator(clients[0], session_factory)
        code = await fresh_totp_code(secret)
        async with _account_row_held(session_factory, ADMIN_EMAIL):
            sign_ins = [
                asyncio.create_task(c.post("/auth/login", json=SIGN_IN | {"totp_code": code}))
                for c in clients
            ]
            await _until_waiting(session_factory, CONCURRENT)
        answers = await asyncio.gather(*sign_ins)
        for client in clients:
            await client.aclose()
    assert sorted(a.status_code for a in answers) == [200] + [401] * (CONCURRENT - 1)
    for answer in answers:
        if answer.status_code == 401:
            _assert_code_used(answer, "totp_code")


def test_the_refusal_is_declared_in_the_openapi(
    settings: Settings, dev_env: WorkflowEnvironment
) -> None:
    schema = create_app(settings, temporal=dev_env.client).openapi()
    for path in ("/auth/login", "/auth/totp/confirm", "/auth/password-change"):
        unauthorised = schema["paths"][path]["post"]["responses"]["401"]
        assert "totp-code-used" in unauthorised["description"], path
