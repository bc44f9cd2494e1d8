"""Forwarded headers are believed from trusted proxies only (`AOS_TRUSTED_PROXIES`, api/edge.py).

The client's address is what failed sign-ins are counted by and what a session is bound to. A
rotating `X-Forwarded-For` from any other peer must neither escape the throttle nor move a
session. The served API is started with the very command `make dev` runs (`worker.api_command`;
the Dockerfile and the compose file say the same, tests/test_compose.py checks), because
uvicorn's own rewrite of these headers sits in front of the app.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pyotp
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

import worker
from db.accounts import AccountRepository
from domain.accounts import SOURCE_FAILURE_LIMIT, Role
from portal_app import create_app
from settings import Settings
from testkit.factories import create_workshop, sign_in
from testkit.serving import free_port, running_api

ROOT = Path(__file__).resolve().parents[2]
NOBODY = {"email": "nobody@garage.example", "password": "not the password at all"}
OWNER_EMAIL, OWNER_PASSWORD = "owner@garage.example", "correct horse battery staple"


@asynccontextmanager
async def _served_api(
    settings: Settings, trusted_proxies: str = ""
) -> AsyncIterator[httpx.AsyncClient]:
    """The API as `make dev` serves it (uvicorn in its own process), on this test's database
    and Temporal, and a client of it; every request reaches it from 127.0.0.1."""
    port = free_port()
    command = worker.api_command(settings.model_copy(update={"api_port": port}))
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("AOS_")},
        "AOS_DATABASE_URL": settings.database_url,
        "AOS_DATA_DIR": str(settings.data_dir),
        "AOS_TEMPORAL_ADDRESS": settings.temporal_address,
        "AOS_PORTAL_TASK_QUEUE": settings.portal_task_queue,
        "AOS_TRUSTED_PROXIES": trusted_proxies,
        "AOS_LOG_LEVEL": "warning",
    }
    process = await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for _ in range(300):
                assert process.returncode is None, f"the API exited with {process.returncode}"
                try:
                    if (await client.get("/health/live")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the API did not start")
            yield client
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 15)


def _forwarded(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def _fail_with_addresses(client: httpx.AsyncClient, addresses: list[str]) -> list[int]:
    """Wrong sign-ins, one per forwarded address; their statuses."""
    statuses = []
    for address in addresses:
        answer = await client.post("/auth/login", json=NOBODY, headers=_forwarded(address))
        statuses.append(answer.status_code)
    return statuses


async def _sign_in_through(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """Password and TOTP enrolment through the API, every request with `headers`; the token."""
    first = await client.post(
        "/auth/login", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD}, headers=headers
    )
    assert first.status_code == 200, first.text
    enrolment = first.json()
    confirmed = await client.post(
        "/auth/totp/confirm",
        json={
            "enrolment_token": enrolment["enrolment_token"],
            "code": pyotp.TOTP(enrolment["secret"]).now(),
        },
        headers=headers,
    )
    assert confirmed.status_code == 200, confirmed.text
    token: str = confirmed.json()["token"]
    return token


def _bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


async def test_from_an_untrusted_peer_forwarded_addresses_change_nothing(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    # Before AOS_TRUSTED_PROXIES, uvicorn believed X-Forwarded-For from 127.0.0.1: each wrong
    # password from a new header value counted for a new address and was never held.
    await AccountRepository(session_factory).ensure_administrator(
        OWNER_EMAIL, OWNER_PASSWORD, "Owner"
    )
    workshop_id = await create_workshop(session_factory)
    spoofed = await sign_in(session_factory, Role.TECHNICIAN, workshop_id, "198.51.100.77")
    async with _served_api(settings) as client:
        rotating = [f"198.51.100.{n}" for n in range(1, SOURCE_FAILURE_LIMIT + 2)]
        statuses = await _fail_with_addresses(client, rotating)
        assert statuses == [401] * SOURCE_FAILURE_LIMIT + [429], statuses

        # A session is bound to the peer, whatever the header said when it began ...
        token = await _sign_in_through(client, _forwarded("198.51.100.200"))
        me = await client.get("/me", headers=_bearer(token))
        assert me.status_code == 200, me.text
        # ... and a session bound to another address is not reached by naming it.
        stolen = await client.get(
            "/me", headers=_bearer(spoofed.token, **_forwarded(spoofed.client_ip))
        )
        assert (stolen.status_code, stolen.json()["type"]) == (
            401,
            "/problems/session-ip-changed",
        )


async def test_behind_a_trusted_proxy_each_client_is_its_forwarded_address(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await AccountRepository(session_factory).ensure_administrator(
        OWNER_EMAIL, OWNER_PASSWORD, "Owner"
    )
    async with _served_api(settings, trusted_proxies="127.0.0.1") as proxy:
        first, second = "203.0.113.10", "203.0.113.20"
        # The first client is held; a value it put in front of the header does not help,
        # since the proxy appends the address it saw (the last one that is not a proxy).
        statuses = await _fail_with_addresses(proxy, [first] * SOURCE_FAILURE_LIMIT)
        assert statuses == [401] * SOURCE_FAILURE_LIMIT, statuses
        escaping = await _fail_with_addresses(proxy, [f"192.0.2.99, {first}"])
        assert escaping == [429]
        # The second client, behind the same proxy, has its own count.
        assert await _fail_with_addresses(proxy, [second]) == [401]

        token = await _sign_in_through(proxy, _forwarded(second))
        at_home = await proxy.get("/me", headers=_bearer(token, **_forwarded(second)))
        assert at_home.status_code == 200, at_home.text
        elsewhere = await proxy.get("/me", headers=_bearer(token, **_forwarded(first)))
        assert elsewhere.json()["type"] == "/problems/session-ip-changed"


@pytest.mark.parametrize(
    ("trusted", "peer", "held_after"),
    [
        # a peer outside the trusted networks: its own address counts, headers or not
        ("10.0.0.0/8", "203.0.113.7", SOURCE_FAILURE_LIMIT),
        # a proxy inside them: each forwarded client counts on its own, none is held
        ("10.0.0.0/8,192.0.2.1", "10.4.5.6", None),
    ],
)
async def test_the_app_itself_believes_trusted_networks_only(
    settings: Settings,
    dev_env: WorkflowEnvironment,
    trusted: str,
    peer: str,
    held_after: int | None,
) -> None:
    # However the app is served (here in-process, no uvicorn at all), the app decides.
    app = create_app(
        Settings(**{**settings.model_dump(), "trusted_proxies": trusted}),
        temporal=dev_env.client,
    )
    rotating = [f"198.51.100.{n}" for n in range(1, SOURCE_FAILURE_LIMIT + 3)]
    async with running_api(app, client_ip=peer) as client:
        statuses = await _fail_with_addresses(client, rotating)
    if held_after is None:
        assert statuses == [401] * len(rotating), statuses
    else:
        assert statuses == [401] * held_after + [429] * (len(rotating) - held_after), statuses
