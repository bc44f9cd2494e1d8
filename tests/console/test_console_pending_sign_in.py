"""Between the console's password step and its code step the server keeps a pending sign-in;
the browser's cookie is its random token and nothing else. Over HTTP against the app
in-process (each client at its own address), with the accounts repository on a clock the test
moves."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from db.accounts import AccountRepository
from db.models import PendingSignIn, User
from domain.accounts import PENDING_SIGN_IN_LIFETIME
from portal_app import create_app
from security.credentials import hash_token
from settings import Settings
from tests.console.helpers import WorkshopAccount, workshop_through_api
from tests.console.test_console_security import csrf_of
from web.deps import ResourcesDep, get_accounts

pytestmark = pytest.mark.e2e

ClientAt = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
TIMED_OUT = "/console/sign-in?reason=timed-out"


class MovableClock:
    """Real time plus an offset that the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
async def client_at(
    portal_on_dev_server: Settings, dev_env: WorkflowEnvironment, clock: MovableClock
) -> AsyncIterator[ClientAt]:
    """`client_at(ip)`: an httpx client of the app (API and console) calling from `ip`."""
    app = create_app(portal_on_dev_server, temporal=dev_env.client)

    def accounts_on_clock(resources: ResourcesDep) -> AccountRepository:
        return AccountRepository(resources.session_factory, clock=clock)

    app.dependency_overrides[get_accounts] = accounts_on_clock
    async with app.router.lifespan_context(app):

        @asynccontextmanager
        async def at(ip: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
            transport = httpx.ASGITransport(app=app, client=(ip, 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield c

        yield at


async def _password_step(client: httpx.AsyncClient, account: WorkshopAccount) -> str:
    """The first step through the form; the pending sign-in cookie it set."""
    form = await client.get("/console/sign-in")
    answer = await client.post(
        "/console/sign-in",
        data={"email": account.email, "password": account.password, "csrf_token": csrf_of(form)},
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith("/console/sign-in/code")
    pending: str = client.cookies["aos_pending"]
    return pending


async def _code_step(client: httpx.AsyncClient, code: str) -> httpx.Response:
    """The second step's form sent with `code` (the CSRF token of a page this client may see)."""
    form = await client.get("/console/sign-in")
    return await client.post(
        "/console/sign-in/code",
        data={"code": code, "csrf_token": csrf_of(form), "next": "/console/credit"},
    )


def _refused(answer: httpx.Response) -> None:
    """Sent back to the first step, with no session."""
    assert (answer.status_code, answer.headers["location"]) == (303, TIMED_OUT), answer.text
    assert not any(c.startswith("aos_session=") for c in answer.headers.get_list("set-cookie"))


async def test_the_cookie_between_the_steps_is_a_random_token_used_once(
    client_at: ClientAt, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with client_at() as client, client_at("203.0.113.9") as thief:
        account = await workshop_through_api(client, session_factory)
        pending = await _password_step(client, account)

        # Nothing of the password in it, and no room for it: 32 random bytes, where even the
        # password alone sealed (12-byte nonce, 16-byte tag) would take more.
        raw = base64.urlsafe_b64decode(pending + "=" * (-len(pending) % 4))
        assert account.password not in pending and account.password.encode() not in raw
        assert len(raw) == 32 < 12 + 16 + len(account.password)
        # What it stands for is kept on the server, without the password: the account, the
        # address, five minutes.
        async with session_factory() as session:
            row = await session.scalar(
                select(PendingSignIn).where(PendingSignIn.token_hash == hash_token(pending))
            )
            user_id = await session.scalar(select(User.id).where(User.email == account.email))
        assert row is not None and (row.user_id, row.client_ip) == (user_id, "127.0.0.1")
        assert row.used_at is None
        assert timedelta(0) < row.expires_at - datetime.now(UTC) <= PENDING_SIGN_IN_LIFETIME
        stored = [str(getattr(row, column.key)) for column in PendingSignIn.__table__.columns]
        assert not any(account.password in value for value in stored)

        # The cookie from another address is no pending sign-in there.
        thief.cookies.set("aos_pending", pending, path="/console/sign-in")
        _refused(await thief.get("/console/sign-in/code"))
        _refused(await _code_step(thief, await account.code()))

        code_page = await client.get("/console/sign-in/code")
        assert code_page.status_code == 200
        signed_in = await _code_step(client, await account.code())
        assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/console/credit")
        assert "aos_session" in client.cookies and "aos_pending" not in client.cookies
        assert (await client.get("/console/credit")).status_code == 200

        # Used once: the same pending sign-in again (a copied cookie, the back button) with a
        # right and unused code opens no second session.
        client.cookies.set("aos_pending", pending, path="/console/sign-in")
        _refused(await client.get("/console/sign-in/code"))
        _refused(await _code_step(client, await account.code()))


async def test_an_expired_pending_sign_in_is_refused(
    client_at: ClientAt, session_factory: async_sessionmaker[AsyncSession], clock: MovableClock
) -> None:
    async with client_at() as client:
        account = await workshop_through_api(client, session_factory)
        await _password_step(client, account)
        clock.offset = PENDING_SIGN_IN_LIFETIME - timedelta(seconds=5)
        assert (await client.get("/console/sign-in/code")).status_code == 200
        clock.offset = PENDING_SIGN_IN_LIFETIME + timedelta(seconds=1)
        _refused(await client.get("/console/sign-in/code"))
        _refused(await _code_step(client, await account.code()))
        assert "aos_pending" not in client.cookies  # the refusal cleared it

        # Starting again works.
        await _password_step(client, account)
        signed_in = await _code_step(client, await account.code())
        assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/console/credit")
