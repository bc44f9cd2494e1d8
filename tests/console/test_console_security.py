"""The console's defences, over HTTP against the app in-process (each client at its own IP):
CSRF tokens, the session cookie's flags, the session bound to the IP that signed in, and
another workshop's data answering exactly like an unknown id."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.accounts import SOURCE_FAILURE_LIMIT
from portal_app import create_app
from settings import Settings
from tests.console.helpers import (
    api_token,
    console_sign_in,
    create_voucher,
    csrf_of,
    workshop_through_api,
)

pytestmark = pytest.mark.e2e

ClientAt = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@asynccontextmanager
async def _app_clients(settings: Settings, dev_env: WorkflowEnvironment) -> AsyncIterator[ClientAt]:
    app = create_app(settings, temporal=dev_env.client)
    async with app.router.lifespan_context(app):

        @asynccontextmanager
        async def client_at(
            ip: str = "127.0.0.1", scheme: str = "http"
        ) -> AsyncIterator[httpx.AsyncClient]:
            transport = httpx.ASGITransport(app=app, client=(ip, 50000))
            async with httpx.AsyncClient(
                transport=transport, base_url=f"{scheme}://testserver"
            ) as client:
                yield client

        yield client_at


@pytest.fixture
async def client_at(
    portal_on_dev_server: Settings, dev_env: WorkflowEnvironment
) -> AsyncIterator[ClientAt]:
    """`client_at(ip)`: an httpx client of the app (API and console) calling from `ip`."""
    async with _app_clients(portal_on_dev_server, dev_env) as factory:
        yield factory


def main_of(page: httpx.Response) -> str:
    match = re.search(r"<main.*?</main>", page.text, re.S)
    assert match, page.text
    return match.group(0)


async def test_a_form_without_or_with_a_wrong_csrf_token_is_refused(
    client_at: ClientAt, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with client_at() as client, client_at() as other_browser:
        account = await workshop_through_api(client, session_factory)
        # Before any sign-in: the sign-in form is protected too.
        refused = await client.post(
            "/console/sign-in", data={"email": account.email, "password": account.password}
        )
        assert refused.status_code == 403
        assert "Not allowed" in refused.text

        await console_sign_in(client, account)
        credit = await client.get("/console/credit")
        assert credit.status_code == 200
        token = csrf_of(credit)
        other_token = csrf_of(await other_browser.get("/console/sign-in"))
        voucher = {"voucher_code": "V-UNKNOWN", "idempotency_key": f"key-{uuid.uuid4().hex}"}
        for wrong in ({}, {"csrf_token": "forged"}, {"csrf_token": other_token}):
            answer = await client.post("/console/credit/voucher", data=voucher | wrong)
            assert answer.status_code == 403, answer.text
            assert "The form could not be checked" in answer.text
        # Signing out needs the token too: the session survives a forged sign-out.
        assert (await client.post("/console/sign-out")).status_code == 403
        assert (await client.get("/console/")).status_code == 200

        # With the page's own token the same form goes through (and fails on the code).
        accepted = await client.post(
            "/console/credit/voucher", data=voucher | {"csrf_token": token}
        )
        assert accepted.status_code == 422
        assert "There is no voucher with this code." in accepted.text


async def test_the_session_cookie_is_httponly_samesite_strict_and_secure_in_production(
    client_at: ClientAt,
    portal_on_dev_server: Settings,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with client_at() as client:
        account = await workshop_through_api(client, session_factory)
        signed_in = await console_sign_in(client, account)
    cookie = next(
        c for c in signed_in.headers.get_list("set-cookie") if c.startswith("aos_session=")
    )
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/console" in flags
    assert "secure" not in flags  # make dev and the tests serve http://127.0.0.1

    production = portal_on_dev_server.model_copy(update={"console_secure_cookies": True})
    assert Settings(environment="embedded").console_cookies_secure is False
    async with (
        _app_clients(production, dev_env) as secure_client_at,
        secure_client_at(scheme="https") as client,
    ):
        signed_in = await console_sign_in(client, account)
        cookies = signed_in.headers.get_list("set-cookie")
    cookie = next(c for c in cookies if c.startswith("aos_session="))
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert {"httponly", "samesite=strict", "secure"} <= set(flags)


async def test_a_cookie_replayed_from_another_ip_is_refused_and_ends_the_session(
    client_at: ClientAt, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with client_at("127.0.0.1") as client, client_at("203.0.113.9") as thief:
        account = await workshop_through_api(client, session_factory)
        await console_sign_in(client, account)
        assert (await client.get("/console/credit")).status_code == 200

        thief.cookies.set("aos_session", client.cookies["aos_session"], path="/console")
        replayed = await thief.get("/console/credit")
        assert replayed.status_code == 303
        assert replayed.headers["location"].startswith("/console/sign-in?reason=ip-changed")

        # The portal's rule: the session ended there, for its first address too.
        again = await client.get("/console/credit")
        assert again.status_code == 303
        assert again.headers["location"].startswith("/console/sign-in?reason=ended")


async def test_another_workshops_ticket_is_the_same_not_found_page_as_an_unknown_id(
    client_at: ClientAt, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with client_at() as client:
        owner = await workshop_through_api(client, session_factory)
        stranger = await workshop_through_api(
            client,
            session_factory,
            name="Garage Elders",
            vat_number="987654321",
            email="anna@garage-elders.example",
        )
        headers = await api_token(client, owner)
        redeemed = await client.post(
            f"/workshops/{owner.workshop_id}/vouchers/redeem",
            json={"code": await create_voucher(client, session_factory, 5000)},
            headers=headers | {"Idempotency-Key": f"key-{uuid.uuid4().hex}"},
        )
        assert redeemed.status_code == 201, redeemed.text
        bought = await client.post(
            f"/workshops/{owner.workshop_id}/tickets",
            json={"service": "service_history", "period": "day"},
            headers=headers | {"Idempotency-Key": f"key-{uuid.uuid4().hex}"},
        )
        assert bought.status_code == 201, bought.text
        ticket_id = bought.json()["ticket"]["ticket_id"]

    async with client_at() as owner_browser:
        await console_sign_in(owner_browser, owner)
        own = await owner_browser.get(f"/console/credit/tickets/{ticket_id}")
        assert own.status_code == 200
        assert "1 day" in main_of(own)

    async with client_at() as stranger_browser:
        await console_sign_in(stranger_browser, stranger)
        others = await stranger_browser.get(f"/console/credit/tickets/{ticket_id}")
        unknown = await stranger_browser.get(f"/console/credit/tickets/ticket-{uuid.uuid4().hex}")
    assert others.status_code == unknown.status_code == 404
    assert main_of(others) == main_of(unknown)
    assert "Not found" in main_of(others)


async def test_failed_console_sign_ins_count_in_the_apis_own_throttle(
    client_at: ClientAt, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """The console signs in through the same repository call as `POST /auth/login`: failures
    on either count towards the same per-address throttle."""
    async with client_at("198.51.100.7") as client:
        account = await workshop_through_api(client, session_factory)
        for _ in range(SOURCE_FAILURE_LIMIT):
            form = await client.get("/console/sign-in")
            failed = await client.post(
                "/console/sign-in",
                data={
                    "email": account.email,
                    "password": "wrong password!",
                    "csrf_token": csrf_of(form),
                },
            )
            assert failed.status_code == 422
            assert "The email address, password or code is wrong." in failed.text
        held = await client.post(
            "/auth/login",
            json={
                "email": account.email,
                "password": account.password,
                "totp_code": await account.code(),
            },
        )
        assert held.status_code == 429, held.text
        form = await client.get("/console/sign-in")
        refused = await client.post(
            "/console/sign-in",
            data={
                "email": account.email,
                "password": account.password,
                "csrf_token": csrf_of(form),
            },
        )
        assert refused.status_code == 422
        assert "Too many failed sign-ins from this address." in refused.text
    async with client_at("127.0.0.1") as elsewhere:  # another address is not held
        await console_sign_in(elsewhere, account)


async def test_console_pages_forbid_loading_anything_from_another_site(
    client_at: ClientAt,
) -> None:
    async with client_at() as client:
        page = await client.get("/console/sign-in")
        api = await client.get("/catalogue")
        root = await client.get("/")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"  # the same, for browsers without CSP 2
    assert page.headers["cache-control"] == "no-store"
    assert "content-security-policy" not in api.headers  # the JSON API is as it was
    assert (root.status_code, root.headers["location"]) == (303, "/console/")
    assert re.search(r'<script[^>]+src="https?://', page.text) is None
    assert re.search(r'<link[^>]+href="https?://', page.text) is None


async def test_production_answers_tell_browsers_to_use_https_only(
    client_at: ClientAt, portal_on_dev_server: Settings, dev_env: WorkflowEnvironment
) -> None:
    paths = ("/console/sign-in", "/catalogue", "/no-such-path")
    async with client_at() as client:
        embedded = [await client.get(path) for path in paths]
    assert [("strict-transport-security" in a.headers) for a in embedded] == [False] * 3

    # The settings' check would refuse SQLite in production; the header does not care.
    production = portal_on_dev_server.model_copy(
        update={"environment": "production", "secret_key": "production-secret-" + "x" * 32}
    )
    async with _app_clients(production, dev_env) as production_at, production_at() as client:
        answers = [await client.get(path) for path in paths]
    assert [a.status_code for a in answers] == [200, 200, 404]
    for answer in answers:  # pages, the JSON API and its problems alike
        assert answer.headers["strict-transport-security"] == "max-age=31536000"


async def test_adding_credit_charges_nothing_before_the_provider_confirms(
    client_at: ClientAt, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """ "Add credit" shows the price confirmation, and "Confirm and pay" opens a payment that
    waits for the provider's confirmation: sending either, twice, adds no credit."""
    async with client_at() as client:
        account = await workshop_through_api(client, session_factory)
        await console_sign_in(client, account)
        page = await client.get("/console/credit")
        form = {"amount": "50", "csrf_token": csrf_of(page)}
        for _ in range(2):
            quoted = await client.post("/console/credit/top-up", data=form)
            assert quoted.status_code == 200, quoted.text
            assert '<dd id="quote-total">€60.50</dd>' in quoted.text
        confirm = {"amount_cents": "5000", "csrf_token": csrf_of(quoted)}
        for _ in range(2):
            started = await client.post("/console/credit/payments", data=confirm)
            assert started.status_code == 303, started.text
        waiting = await client.get(started.headers["location"])
        assert 'id="checkout"' in waiting.text  # the way to the provider's page
        credit = await client.get("/console/credit")
        assert '<strong id="balance">€0.00</strong>' in credit.text


async def test_a_ledger_page_past_the_databases_integers_is_not_a_server_error(
    client_at: ClientAt, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """The console bounds its paging like the API (#15): 2**63 used to overflow the query."""
    async with client_at() as client:
        owner = await workshop_through_api(client, session_factory)
    async with client_at() as browser:
        await console_sign_in(browser, owner)
        assert (await browser.get("/console/credit?page=2")).status_code == 200
        crafted = await browser.get("/console/credit?page=9223372036854775808")
        assert crafted.status_code == 404, crafted.text
