"""`worker.py station` stopped with SIGTERM in the middle of a transfer: it hands its activity
back and leaves within seconds with code 0, and the flash continues on the next station worker
from its last heartbeat to correct memory."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.flash_package import FlashPackageManifest
from hw.sim.demo_package import build_demo_package
from hw.sim.vehicle import SimVehicle
from settings import Settings
from testkit.factories import SignedIn
from testkit.portal_api import buy_time
from testkit.station_gateway import station_gateway, station_token
from tests.programming.test_station_crashes import (
    PACKAGE,
    _blocks,
    _check_flash,
    _programmed_reaches,
    _start_session,
    _start_station,
)

pytestmark = pytest.mark.e2e
PROMPTLY = 8.0  # seconds; `make dev` and service managers SIGKILL after 10


async def test_a_station_stopped_mid_transfer_leaves_promptly_and_the_flash_completes(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    workshop_owner: SignedIn,
    dev_env: WorkflowEnvironment,
) -> None:
    settings = portal_on_dev_server
    manifest: FlashPackageManifest = build_demo_package(
        settings.packages_dir / PACKAGE, image_size_per_ecu=256 * 1024, package_id=PACKAGE
    )
    await buy_time(api_client, workshop_owner)
    vehicle = SimVehicle()
    server = vehicle.serve_doip("127.0.0.1", 0)
    station_id = f"sigterm-{uuid.uuid4().hex[:6]}"
    token = await station_token(settings, station_id)
    station: subprocess.Popen[bytes] | None = None
    try:
        async with station_gateway(dev_env.client, settings) as gateway:
            address = f"127.0.0.1:{gateway.port}"
            station = _start_station(settings, station_id, server.url, address, token)
            handle = await _start_session(
                dev_env, settings, workshop_owner, station_id, vehicle.vin
            )
            dme = manifest.ecus[0]
            assert await _programmed_reaches(vehicle, dme.ecu, _blocks(dme, vehicle) // 2, handle)

            started = time.monotonic()
            station.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(station.wait, 30)
            took = time.monotonic() - started
            print(f"station stopped mid-transfer after {took:.1f}s")
            assert code == 0
            assert took < PROMPTLY

            station = _start_station(settings, station_id, server.url, address, token)
            report = await asyncio.wait_for(handle.result(), timeout=120)
            # The stop interrupted the DME and the ECUs programmed beside it, once each.
            _check_flash(report, vehicle, manifest, dict.fromkeys(manifest.ecu_names, 1), 0)
    finally:
        if station is not None and station.poll() is None:
            station.kill()
            station.wait()
        vehicle.close()
