"""Fixtures of the programming tests: purchased time, a demo package, a station worker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.accounts import Role
from domain.flash_package import FlashPackageManifest
from hw.sim import registry
from hw.sim.config import VehicleConfig, default_vehicle_config
from hw.sim.demo_package import build_demo_package
from hw.sim.vehicle import SimVehicle
from settings import Settings
from station.portal_files import PortalFiles
from station.worker import StationDependencies, station_worker
from testkit.factories import SignedIn, create_workshop, sign_in
from testkit.portal_api import buy_time, register_station
from testkit.station_gateway import StationConnection, through_gateway
from tests.helpers import until_polling

DEMO_PACKAGE = "demo-2.0.0"


@dataclass
class Station:
    station_id: str
    task_queue: str
    vehicle_name: str
    vehicle: SimVehicle
    connection: StationConnection


@pytest.fixture
def demo_package(settings: Settings) -> FlashPackageManifest:
    return build_demo_package(
        settings.packages_dir / DEMO_PACKAGE, image_size_per_ecu=24 * 1024, package_id=DEMO_PACKAGE
    )


def new_station_id() -> str:
    return f"st-{uuid.uuid4().hex[:8]}"


@contextlib.asynccontextmanager
async def running_station(
    client: Client,
    settings: Settings,
    config: VehicleConfig | None = None,
    *,
    station_id: str | None = None,
    remote: tuple[Path, PortalFiles] | None = None,
    token: str | None = None,
    doip: bool = False,
) -> AsyncIterator[Station]:
    """A station worker wired to its own simulated car (`sim://?name=...`, on a CAN bus; with
    `doip`, the same car served over DoIP on 127.0.0.1), reaching Temporal only through a
    station gateway in front of `client`'s server, with its own token.

    It shares the portal's data folder, or with `remote` (its own folder, the portal over HTTP)
    it runs as a station on another machine does.
    """
    station_id = station_id or new_station_id()
    name = f"car-{station_id}"
    vehicle = registry.get_or_create(name, config=config)
    vehicle_url = vehicle.serve_doip("127.0.0.1", 0).url if doip else f"sim://?name={name}"
    root, portal = remote if remote else (settings.data_dir, None)
    deps = StationDependencies(
        station_id=station_id,
        vehicle_url=vehicle_url,
        packages_dir=root / "packages",
        traces_dir=root / "traces",
        portal=portal,
    )
    task_queue = settings.station_task_queue(station_id)
    try:
        async with (
            through_gateway(client, settings, station_id, token) as connection,
            station_worker(connection.client, deps, task_queue),
        ):
            await until_polling(client, settings, station_id)
            yield Station(station_id, task_queue, name, vehicle, connection)
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


async def start_session(
    client: httpx.AsyncClient,
    owner: SignedIn,
    station_id: str,
    vin: str,
    package_id: str = DEMO_PACKAGE,
) -> dict[str, Any]:
    """`POST /programming-sessions` as the owner; the started session (`session_id`,
    `workflow_id`, ...)."""
    started = await client.post(
        "/programming-sessions",
        json={"station_id": station_id, "vin": vin, "package_id": package_id},
        headers=owner.headers,
    )
    assert started.status_code == 201, started.text
    body: dict[str, Any] = started.json()
    return body


async def progress_of(client: httpx.AsyncClient, headers: dict[str, str], session_id: str) -> Any:
    """`GET /programming-sessions/{id}`: the session's progress as the API answers it."""
    response = await client.get(f"/programming-sessions/{session_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def wait_until_ended(
    client: httpx.AsyncClient, headers: dict[str, str], session_id: str
) -> dict[str, Any]:
    """The session's progress once it completed, ended or waits for the technician."""
    for _ in range(600):
        progress = await client.get(f"/programming-sessions/{session_id}", headers=headers)
        assert progress.status_code == 200, progress.text
        body: dict[str, Any] = progress.json()
        if body["state"] in ("completed", "aborted", "refused", "needs_technician"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"session still {body['state']}")


async def steer(
    client: httpx.AsyncClient, owner: SignedIn, session_id: str, step: str, body: dict[str, Any]
) -> httpx.Response:
    """`POST /programming-sessions/{id}/<step>` (resume, skip-ecu, abort) as the owner."""
    return await client.post(
        f"/programming-sessions/{session_id}/{step}", json=body, headers=owner.headers
    )


@contextlib.asynccontextmanager
async def session_needing_technician(
    api: httpx.AsyncClient,
    settings: Settings,
    temporal: Client,
    owner: SignedIn,
    package_id: str,
) -> AsyncIterator[dict[str, Any]]:
    """A session of `package_id` (DME and EGS) on a station of its own whose car's DME has the
    wrong hardware, a fault no retry fixes: the session waits for the technician on the DME.
    Yields the started session (`session_id`, `workflow_id`, ...); the station runs until the
    block ends."""
    build_demo_package(
        settings.packages_dir / package_id, image_size_per_ecu=8 * 1024, ecus=("DME", "EGS")
    )
    await buy_time(api, owner)
    config = default_vehicle_config()
    config.ecu("DME").hardware_id = "not-the-package-target"
    async with running_station(temporal, settings, config) as station:
        await register_station(api, owner, station.station_id)
        started = await start_session(
            api, owner, station.station_id, station.vehicle.vin, package_id
        )
        waiting = await wait_until_ended(api, owner.headers, started["session_id"])
        assert (waiting["state"], waiting["current_ecu"]) == ("needs_technician", "DME")
        yield started
