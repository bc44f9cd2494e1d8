"""The booklet's clocks on the time-skipping server, through the API: abandonment after 30
minutes stores nothing, the print window closes, deletion is refused the next day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from db.models import ServiceEntry
from domain.service_history import CONSENT_TEXT_VERSION
from portal_app import create_app
from settings import Settings
from testkit.factories import long_ticket
from testkit.serving import running_api
from tests.service_history.conftest import DEMO_VIN, Garage, garage, seed


@pytest.fixture
async def api(
    portal_on_time_skipping_server: Settings,
    time_skipping_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(portal_on_time_skipping_server, temporal=time_skipping_env.client)
    await seed(session_factory)
    async with running_api(app) as client:
        yield client


@pytest.fixture
async def shop(
    session_factory: async_sessionmaker[AsyncSession], time_skipping_env: WorkflowEnvironment
) -> Garage:
    shop = await garage(session_factory)
    await long_ticket(session_factory, shop.workshop_id, await time_skipping_env.get_current_time())
    return shop


async def _entries(session_factory: async_sessionmaker[AsyncSession]) -> int:
    async with session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(ServiceEntry)) or 0)


async def _created_entry(api: httpx.AsyncClient, env: WorkflowEnvironment, shop: Garage) -> str:
    tech = shop.technician.headers
    entry = (await api.post("/service-entries", json={"vin": DEMO_VIN}, headers=tech)).json()
    url = f"/service-entries/{entry['entry_id']}"
    today = (await env.get_current_time()).date()  # the workflows' clock, skipped by other tests
    steps = [
        ("consent", {"confirmed": True, "consent_text_version": CONSENT_TEXT_VERSION}),
        ("details", {"mileage_km": 196_000, "service_date": today.isoformat()}),
        ("services", {"cbs_items": ["engine_oil", "vehicle_check"]}),
        ("create", None),
    ]
    for step, body in steps:
        response = await api.post(f"{url}/{step}", json=body, headers=tech)
        assert response.status_code == 200, (step, response.text)
    return url


async def test_an_entry_without_progress_for_30_minutes_is_abandoned_and_stores_nothing(
    api: httpx.AsyncClient,
    time_skipping_env: WorkflowEnvironment,
    shop: Garage,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    tech = shop.technician.headers
    entry = (await api.post("/service-entries", json={"vin": DEMO_VIN}, headers=tech)).json()
    url = f"/service-entries/{entry['entry_id']}"
    await time_skipping_env.sleep(timedelta(minutes=20))
    consent = await api.post(
        f"{url}/consent",
        json={"confirmed": True, "consent_text_version": CONSENT_TEXT_VERSION},
        headers=tech,
    )
    assert consent.json()["state"] == "consent_recorded"
    await time_skipping_env.sleep(timedelta(minutes=20))  # 40 minutes open, 20 since progress
    assert (await api.get(url, headers=tech)).json()["state"] == "consent_recorded"

    await time_skipping_env.sleep(timedelta(minutes=11))
    status = (await api.get(url, headers=tech)).json()
    assert (status["state"], status["next_steps"]) == ("abandoned", [])
    late = await api.post(
        f"{url}/details",
        json={"mileage_km": 196_000, "service_date": "2024-01-01"},
        headers=tech,
    )
    assert (late.status_code, late.json()["type"]) == (409, "/problems/service-entry-closed")
    assert await _entries(session_factory) == 0


async def test_the_print_window_closes_15_minutes_after_creation(
    api: httpx.AsyncClient, time_skipping_env: WorkflowEnvironment, shop: Garage
) -> None:
    tech = shop.technician.headers
    url = await _created_entry(api, time_skipping_env, shop)
    await time_skipping_env.sleep(timedelta(minutes=14))
    printed = await api.get(f"{url}/maintenance-log.pdf", headers=tech)
    assert printed.status_code == 200 and printed.content.startswith(b"%PDF")

    await time_skipping_env.sleep(timedelta(minutes=2))
    assert (await api.get(url, headers=tech)).json()["state"] == "closed"
    late = await api.get(f"{url}/maintenance-log.pdf", headers=tech)
    assert (late.status_code, late.json()["type"]) == (
        409,
        "/problems/maintenance-log-not-printable",
    )
    assert late.json()["rule"].startswith("the maintenance log can be printed only")


async def test_deletion_is_refused_the_next_day(
    api: httpx.AsyncClient,
    time_skipping_env: WorkflowEnvironment,
    shop: Garage,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    tech = shop.technician.headers
    url = await _created_entry(api, time_skipping_env, shop)
    await time_skipping_env.sleep(timedelta(days=1))
    refused = await api.delete(url, headers=tech)
    assert (refused.status_code, refused.json()["type"]) == (
        409,
        "/problems/service-entry-not-deletable",
    )
    assert "only on the day it was created" in refused.json()["rule"]
    assert await _entries(session_factory) == 1
    histories = (await api.get(f"/vehicles/{DEMO_VIN}/histories", headers=tech)).json()
    assert len(histories) == 1
