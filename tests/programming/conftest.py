"""Fixtures of the programming tests: purchased time, a demo package, a station worker."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.accounts import Role
from domain.flash_package import FlashPackageManifest
from hw.flash_files import build_demo_package
from hw.sim import registry
from hw.sim.config import VehicleConfig
from hw.sim.vehicle import SimVehicle
from settings import Settings
from tests.factories import SignedIn, create_workshop, sign_in
from worker import StationDependencies, station_worker

DEMO_PACKAGE = "demo-2.0.0"


async def buy_time(
    client: httpx.AsyncClient,
    owner: SignedIn,
    service: str = "ecu_programming",
    period: str = "day",
) -> None:
    """Top up and buy a ticket through the API, as a workshop owner does."""
    key = uuid.uuid4().hex
    topped = await client.post(
        f"/workshops/{owner.workshop_id}/account/top-ups",
        json={"amount_cents": 1_000_000},
        headers={**owner.headers, "Idempotency-Key": f"top-up-{key}"},
    )
    assert topped.status_code in (200, 201), topped.text
    bought = await client.post(
        f"/workshops/{owner.workshop_id}/tickets",
        json={"service": service, "period": period},
        headers={**owner.headers, "Idempotency-Key": f"ticket-{key}"},
    )
    assert bought.status_code in (200, 201), bought.text


async def register_station(client: httpx.AsyncClient, owner: SignedIn, station_id: str) -> None:
    registered = await client.post(
        f"/workshops/{owner.workshop_id}/stations",
        json={"station_id": station_id, "name": "Bay 1"},
        headers=owner.headers,
    )
    assert registered.status_code == 201, registered.text


@dataclass
class Station:
    station_id: str
    task_queue: str
    vehicle_name: str
    vehicle: SimVehicle


@pytest.fixture
def demo_package(settings: Settings) -> FlashPackageManifest:
    return build_demo_package(
        settings.packages_dir / DEMO_PACKAGE, image_size_per_ecu=24 * 1024, package_id=DEMO_PACKAGE
    )


@contextlib.asynccontextmanager
async def running_station(
    client: Client, settings: Settings, config: VehicleConfig | None = None
) -> AsyncIterator[Station]:
    """A station worker wired to its own simulated car (`sim://?name=...`)."""
    station_id = f"st-{uuid.uuid4().hex[:8]}"
    name = f"car-{station_id}"
    vehicle = registry.get_or_create(name, config=config)
    deps = StationDependencies(
        station_id=station_id,
        vehicle_url=f"sim://?name={name}",
        packages_dir=settings.packages_dir,
        traces_dir=settings.traces_dir,
    )
    task_queue = settings.station_task_queue(station_id)
    try:
        async with station_worker(client, deps, task_queue):
            yield Station(station_id, task_queue, name, vehicle)
    finally:
        registry.remove(name)


@pytest.fixture
async def station_on_dev_server(
    dev_env: WorkflowEnvironment, settings: Settings
) -> AsyncIterator[Station]:
    async with running_station(dev_env.client, settings) as station:
        yield station


@pytest.fixture
async def workshop_owner(session_factory: async_sessionmaker[AsyncSession]) -> SignedIn:
    workshop_id = await create_workshop(session_factory)
    return await sign_in(session_factory, Role.WORKSHOP_OWNER, workshop_id)
