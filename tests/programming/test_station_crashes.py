"""The station worker is killed (SIGKILL) at random points of a transfer, again and again, and
restarted; the flash still completes with correct memory, no block is programmed twice, and
after each crash at most about one heartbeat interval of data is sent again.

The car runs in this test process as a DoIP entity on 127.0.0.1, so it outlives the station.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.flash_package import FlashPackageManifest
from hw.flash_files import build_demo_package
from hw.sim.vehicle import SimVehicle
from settings import Settings
from tests.factories import SignedIn
from tests.programming.conftest import buy_time
from workflows.programming_session import (
    ProgrammingSessionInput,
    ProgrammingSessionWorkflow,
    programming_workflow_id,
)

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]
KILLS = 10
PACKAGE = "crash-test"


def _start_station(
    settings: Settings, station_id: str, vehicle_url: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AOS_TEMPORAL_ADDRESS": settings.temporal_address,
        "AOS_DATA_DIR": str(settings.data_dir),
        "AOS_DATABASE_URL": settings.database_url,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "worker.py",
            "station",
            "--station-id",
            station_id,
            "--vehicle",
            vehicle_url,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _transfer_reaches(
    vehicle: SimVehicle, blocks: int, handle: WorkflowHandle[Any, Any]
) -> bool:
    """True once some ECU's running download has taken `blocks` blocks (False: flash over)."""
    for poll in range(6000):
        for ecu in vehicle.ecus.values():
            download = ecu.download
            if download is not None and download.blocks >= blocks:
                return True
        await asyncio.sleep(0.005)
        ended = poll % 200 == 199 and (
            (await handle.describe()).status != WorkflowExecutionStatus.RUNNING
        )
        if ended:
            return False
    return False


# The subject is the station and the clock, not the database: one database is enough.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_station_killed_mid_transfer_ten_times(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    workshop_owner: SignedIn,
    dev_env: WorkflowEnvironment,
) -> None:
    settings = portal_on_dev_server
    manifest: FlashPackageManifest = build_demo_package(
        settings.packages_dir / PACKAGE, image_size_per_ecu=512 * 1024, package_id=PACKAGE
    )
    await buy_time(api_client, workshop_owner)
    vehicle = SimVehicle()
    server = vehicle.serve_doip("127.0.0.1", 0)
    station_id = f"crash-{uuid.uuid4().hex[:6]}"
    session_id = str(uuid.uuid4())
    handle = await dev_env.client.start_workflow(
        ProgrammingSessionWorkflow.run,
        ProgrammingSessionInput(
            session_id=session_id,
            workshop_id=workshop_owner.workshop_id or "",
            station_id=station_id,
            station_task_queue=settings.station_task_queue(station_id),
            vin=vehicle.vin,
            package_id=PACKAGE,
            technician_id=workshop_owner.user_id,
        ),
        id=programming_workflow_id(session_id),
        task_queue=settings.portal_task_queue,
    )
    rng = random.Random(20261122)
    station = _start_station(settings, station_id, server.url)
    kills = 0
    try:
        while kills < KILLS:
            # Wait until a segment is being transferred, then kill at a random block of it.
            kill_after = rng.randint(10, 60)
            if not await _transfer_reaches(vehicle, kill_after, handle):
                break
            station.send_signal(signal.SIGKILL)
            station.wait()
            kills += 1
            station = _start_station(settings, station_id, server.url)
        report = await asyncio.wait_for(handle.result(), timeout=300)
    finally:
        station.kill()
        station.wait()
        vehicle.close()

    assert kills == KILLS, f"the flash ended after {kills} kills: make the image larger"
    assert report.state == "completed", report
    resent_blocks = 0
    for package in manifest.ecus:
        ecu = vehicle.ecu(package.ecu)
        for segment in package.segments:
            assert ecu.memory_crc(segment.address, segment.length) == segment.crc32
        block = ecu.config.max_block_length - 2
        expected_blocks = sum(-(-segment.length // block) for segment in package.segments)
        # Every block programmed exactly once; repeats after a crash were acknowledged only.
        assert ecu.stats.blocks_programmed == expected_blocks, package.ecu
        resent_blocks += (ecu.stats.blocks_skipped_identical + ecu.stats.blocks_repeated) * block
    throughput = report.throughput_bytes_per_second or 0.0
    assert throughput > 0
    # One heartbeat interval is 1 s (the station worker's throttle); allow the interval plus
    # the blocks in flight for each crash.
    allowed = KILLS * (throughput * 1.0 + 8 * 4096)
    print(f"crash test: resent {resent_blocks} bytes over {kills} kills, allowed {allowed:.0f}")
    assert resent_blocks <= allowed
