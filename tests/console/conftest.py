"""Fixtures of the console's tests: the real API app over HTTP on a free port, with the portal
worker on the Temporal dev server and a fresh database, and Debian's Chromium driven by
Playwright (never a downloaded browser).

- `console`: a `ConsoleServer` with `base_url`, `api` (an httpx client of the JSON API at the
  same address), `settings` and `session_factory`; the simulated payment provider is served
  beside it (`provider_url`), reaching the portal only by its signed callback.
- `browser`: headless Chromium, one per test session. Without /usr/bin/chromium the browser
  tests are skipped with a message, unless CI is set: then they fail.
- `payment_abandon_after_seconds`: the console's abandonment timeout of a payment (30 minutes;
  a test parametrizes it shorter).
- `entitlements_ended`: append a workshop id that bought service-booklet time; its
  entitlement flow is terminated after the test.
- `page` (English, Accept-Language en-GB) and `dutch_page` (Accept-Language nl-NL): a fresh
  browser context each, so cookies never leak between tests.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from contracts.access import entitlement_workflow_id
from domain.catalogue import Service
from hw.sim.payment_provider import SimulatedPaymentProvider, create_provider_app
from portal_app import create_app
from settings import Settings
from testkit.serving import free_port, serving_api

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_INSTALLED = CHROMIUM.exists()


@dataclass(frozen=True)
class ConsoleServer:
    base_url: str
    api: httpx.AsyncClient
    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    provider_url: str


@pytest.fixture
def payment_abandon_after_seconds() -> int:
    return 1800


@pytest.fixture
async def console(
    portal_on_dev_server: Settings,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
    payment_abandon_after_seconds: int,
) -> AsyncIterator[ConsoleServer]:
    """The API app (with its console) served by uvicorn on a free port of 127.0.0.1, and the
    simulated payment provider on another."""
    portal_port, provider_port = free_port(), free_port()
    settings = portal_on_dev_server.model_copy(
        update={
            "payment_provider_url": f"http://127.0.0.1:{provider_port}",
            "payment_abandon_after_seconds": payment_abandon_after_seconds,
        }
    )
    provider = SimulatedPaymentProvider(
        f"http://127.0.0.1:{portal_port}", settings.payment_secret()
    )
    app = create_app(settings, temporal=dev_env.client)
    async with (
        serving_api(app, portal_port) as base_url,
        serving_api(create_provider_app(provider), provider_port) as provider_url,
        httpx.AsyncClient(base_url=base_url, timeout=60) as api,
    ):
        yield ConsoleServer(base_url, api, settings, session_factory, provider_url)


@pytest.fixture
async def entitlements_ended(dev_env: WorkflowEnvironment) -> AsyncIterator[list[str]]:
    """Workshops whose service-booklet entitlement flow (started by buying a ticket) is
    terminated after the test: the dev server outlives it."""
    workshops: list[str] = []
    yield workshops
    for workshop_id in workshops:
        with contextlib.suppress(Exception):
            await dev_env.client.get_workflow_handle(
                entitlement_workflow_id(workshop_id, Service.SERVICE_HISTORY)
            ).terminate("test finished")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM_INSTALLED:
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium package")
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        await launched.close()


async def _page(browser: Browser, locale: str) -> AsyncIterator[Page]:
    context = await browser.new_context(locale=locale, timezone_id="Europe/Amsterdam")
    context.set_default_timeout(30_000)
    page = await context.new_page()
    yield page
    await context.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    async for opened in _page(browser, "en-GB"):
        yield opened


@pytest.fixture
async def dutch_page(browser: Browser) -> AsyncIterator[Page]:
    async for opened in _page(browser, "nl-NL"):
        yield opened
