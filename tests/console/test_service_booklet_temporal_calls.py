"""How many calls into Temporal each step of a service entry costs from the console, in the
browser: the served app's own Temporal client counts every remote call with the request that
made it (testkit.temporal_calls), on the dev server with the real portal worker and a station
worker on a simulated car.

The console's "create" takes three steps of the flow at once (services, create, write into
the car): three updates, one call each; opening is one update-with-start."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from portal_app import create_app
from settings import Settings
from testkit.factories import grant_ticket
from testkit.serving import serving_api
from testkit.temporal_calls import CallCounter, RequestLabels, counting_client
from tests.console.helpers import sign_in, workshop_through_api
from tests.console.service_booklet_steps import KASIO
from tests.service_history.conftest import DEMO_VIN, add_station, seed, station_worker

UPDATE = "update_workflow_execution"


@dataclass(frozen=True)
class CountedConsole:
    base_url: str
    api: httpx.AsyncClient
    counter: CallCounter


@pytest.fixture
async def counted_console(
    portal_on_dev_server: Settings, dev_env: WorkflowEnvironment
) -> AsyncIterator[CountedConsole]:
    """The API app with its console over real HTTP, its Temporal client counting its calls."""
    counted, counter = counting_client(dev_env.client)
    app = create_app(portal_on_dev_server, temporal=counted)
    app.add_middleware(RequestLabels)
    async with (
        serving_api(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=60) as api,
    ):
        yield CountedConsole(base_url, api, counter)


async def test_each_step_of_an_entry_from_the_console_and_create_in_three_calls(
    counted_console: CountedConsole,
    portal_on_dev_server: Settings,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
    page: Page,
) -> None:
    base, counter = counted_console.base_url, counted_console.counter
    await seed(session_factory)
    ours = await workshop_through_api(counted_console.api, session_factory)
    now = datetime.now(UTC)
    await grant_ticket(
        session_factory, ours.workshop_id, now - timedelta(hours=1), now + timedelta(days=1)
    )
    station_id = f"st-{uuid.uuid4().hex[:10]}"
    await add_station(session_factory, ours.workshop_id, station_id)
    await sign_in(page, base, ours)

    async with station_worker(dev_env.client, portal_on_dev_server, station_id):
        await page.goto(f"{base}{KASIO}/vehicles/{DEMO_VIN}")
        await page.get_by_label("Station wired to the vehicle").select_option(station_id)
        counter.clear()
        await page.get_by_role("button", name="New maintenance entry").click()
        await expect(page.get_by_role("heading", name="Consent to data storage")).to_be_visible()
        entry_id = page.url.rsplit("/", 1)[-1]
        entry = f"{KASIO}/entries/{entry_id}"
        opened = counter.of(f"POST {KASIO}/vehicles/{DEMO_VIN}/entries")
        assert opened == ["execute_multi_operation"]  # update-with-start
        assert counter.of(f"GET {entry}") == ["query_workflow"]  # the page after it

        counter.clear()
        await page.get_by_label("The owner consents to the data storage").check()
        await page.get_by_role("button", name="Accept").click()
        await expect(page.get_by_label("Mileage (km)")).to_be_visible()
        assert counter.of(f"POST {entry}/consent") == [UPDATE]

        counter.clear()
        await page.get_by_label("Mileage (km)").fill("195,000")
        await page.get_by_role("button", name="Continue").click()
        await expect(page.get_by_label("Engine oil")).to_be_visible()
        assert counter.of(f"POST {entry}/details") == [UPDATE]

        counter.clear()
        await page.get_by_label("Engine oil").check()
        await expect(
            page.get_by_label(re.compile("Write the service history into the vehicle"))
        ).to_be_checked()
        await page.get_by_role("button", name="Create the entry").click()
        await expect(page.locator("#transfer")).to_have_text(
            "The entry was written into the vehicle, and the vehicle confirmed it."
        )
        created = counter.of(f"POST {entry}/create")
        print(f"create: {created}")
        assert created == [UPDATE, UPDATE, UPDATE]  # services, create, write into the car
        assert counter.of(f"GET {entry}") == ["query_workflow"]

        counter.clear()
        await page.get_by_role("button", name="Close the window").click()
        await expect(
            page.get_by_text("The entry is stored in the vehicle's histories.")
        ).to_be_visible()
        assert counter.of(f"POST {entry}/close") == [UPDATE]
