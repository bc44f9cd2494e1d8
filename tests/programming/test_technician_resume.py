"""A fault that retries cannot fix stops the flash at a safe point; the technician fixes the
cause and resumes through the API; the segment continues after its last confirmed block."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.accounts import Role
from domain.catalogue import Service
from hw.sim.demo_package import build_demo_package
from portal_app import create_app
from settings import Settings
from testkit.factories import create_workshop, long_ticket, sign_in
from testkit.portal_api import register_station
from testkit.serving import running_api
from tests.programming.conftest import progress_of as _progress
from tests.programming.conftest import running_station, start_session

PACKAGE = "resume-test"


async def test_low_battery_mid_segment_then_resume_continues_the_segment(
    time_skipping_env: WorkflowEnvironment,
    portal_on_time_skipping_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    env, settings = time_skipping_env, portal_on_time_skipping_server
    manifest = build_demo_package(
        settings.packages_dir / PACKAGE,
        image_size_per_ecu=256 * 1024,
        ecus=("DME",),
        package_id=PACKAGE,
    )
    workshop_id = await create_workshop(session_factory)
    owner = await sign_in(session_factory, Role.WORKSHOP_OWNER, workshop_id)
    # The API checks access on the wall clock, the workflow on the test server's clock, which
    # earlier tests moved ahead: the ticket covers both.
    await long_ticket(
        session_factory, workshop_id, await env.get_current_time(), Service.ECU_PROGRAMMING
    )

    app = create_app(settings, temporal=env.client)
    async with running_station(env.client, settings) as station, running_api(app) as api:
        await register_station(api, owner, station.station_id)
        car, dme = station.vehicle, station.vehicle.ecu("DME")
        started = await start_session(api, owner, station.station_id, car.vin, PACKAGE)
        session_id = started["session_id"]

        with env.auto_time_skipping_disabled():
            for _ in range(4000):
                if dme.download is not None and dme.download.blocks >= 20:
                    break
                await asyncio.sleep(0.005)
        car.faults.sag_battery(10_500)  # the charger was unplugged
        blocks_before_fault = dme.stats.blocks_programmed

        for _ in range(120):  # the retries run out; the test server skips their backoff
            progress = await _progress(api, owner.headers, session_id)
            if progress["state"] == "needs_technician":
                break
            await env.sleep(timedelta(seconds=2))
        assert progress["state"] == "needs_technician", progress
        assert progress["current_ecu"] == "DME"
        assert progress["reason"]

        early = await api.post(
            f"/programming-sessions/{session_id}/skip-ecu",
            json={"ecu": "DME"},
            headers=owner.headers,
        )
        assert early.status_code == 409  # it has started: it cannot be skipped any more

        car.battery_mv = 12_600  # the technician plugs the charger back in
        resumed = await api.post(
            f"/programming-sessions/{session_id}/resume", json={}, headers=owner.headers
        )
        assert resumed.status_code == 200, resumed.text
        for _ in range(600):
            progress = await _progress(api, owner.headers, session_id)
            if progress["state"] in ("completed", "needs_technician", "aborted"):
                break
            await asyncio.sleep(0.05)
        assert progress["state"] == "completed", progress

        again = await api.post(
            f"/programming-sessions/{session_id}/resume", json={}, headers=owner.headers
        )
        assert again.status_code == 409, again.text  # ended, or about to: never "not found"

    segments = manifest.ecu("DME").segments
    for segment in segments:
        assert dme.memory_crc(segment.address, segment.length) == segment.crc32
    block = dme.config.max_block_length - 2
    expected = sum(-(-segment.length // block) for segment in segments)
    assert blocks_before_fault >= 20
    assert dme.stats.blocks_programmed == expected  # continued, nothing programmed twice
    assert dme.stats.erases == len(segments)  # the interrupted segment was not erased again
