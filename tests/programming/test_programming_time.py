"""Programming against purchased time, on the time-skipping server.

- Coverage too short for the plan pauses the session before anything starts
  (`waiting_for_time`); buying more time resumes it.
- Coverage that ends in the middle of an ECU stops its activity at a segment boundary (never
  in a segment): the session waits for time and, once it is bought (`coverage_extended`),
  continues block-exact from the next segment.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from application.payments import SandboxPaymentGateway
from application.programming import start_session_workflow
from contracts.access import (
    TicketPurchaseInput,
    entitlement_workflow_id,
    ticket_purchase_workflow_id,
)
from db.access_repository import AccessRepository
from domain.catalogue import Service, TicketPeriod
from domain.flash_package import SegmentSpec
from hw.flash_files import read_manifest
from hw.sim.config import default_vehicle_config, tune_ecu
from hw.sim.demo_package import build_demo_package
from settings import Settings
from testkit.factories import create_workshop
from tests.programming.conftest import Station, running_station
from workflows.programming_session import (
    ProgrammingProgress,
    ProgrammingSessionInput,
    ProgrammingSessionWorkflow,
)
from workflows.ticket_purchase import TicketPurchaseWorkflow

PACKAGE = "time-test"


async def _buy_hour(env: WorkflowEnvironment, queue: str, workshop_id: str) -> None:
    key = uuid.uuid4().hex
    with env.auto_time_skipping_disabled():
        await env.client.execute_workflow(
            TicketPurchaseWorkflow.run,
            TicketPurchaseInput(
                workshop_id=workshop_id,
                idempotency_key=key,
                service=Service.ECU_PROGRAMMING,
                period=TicketPeriod.HOUR,
            ),
            id=ticket_purchase_workflow_id(workshop_id, key),
            task_queue=queue,
        )


async def _wait_for(
    env: WorkflowEnvironment,
    handle: WorkflowHandle[ProgrammingSessionWorkflow, ProgrammingProgress],
    state: str,
    seconds: float = 30,
) -> ProgrammingProgress:
    with env.auto_time_skipping_disabled():
        for _ in range(int(seconds * 20)):
            progress = await handle.query(ProgrammingSessionWorkflow.progress)
            if progress.state == state:
                return progress
            await asyncio.sleep(0.05)
    raise AssertionError(f"session stayed {progress.state}, never {state}")


async def _start(
    env: WorkflowEnvironment, settings: Settings, station: Station, workshop_id: str
) -> WorkflowHandle[ProgrammingSessionWorkflow, ProgrammingProgress]:
    with env.auto_time_skipping_disabled():
        return await start_session_workflow(
            env.client,
            settings,
            ProgrammingSessionInput(
                session_id=str(uuid.uuid4()),
                workshop_id=workshop_id,
                station_id=station.station_id,
                station_task_queue=station.task_queue,
                vin=station.vehicle.vin,
                package_id=PACKAGE,
                technician_id="tech-1",
            ),
        )


async def _workshop_with_credit(session_factory: async_sessionmaker[AsyncSession]) -> str:
    workshop_id = await create_workshop(session_factory)
    await AccessRepository(session_factory).top_up(
        workshop_id, "credit", 1_000_000, None, "test", SandboxPaymentGateway()
    )
    return workshop_id


async def _stop_entitlement(env: WorkflowEnvironment, workshop_id: str) -> None:
    await env.client.get_workflow_handle(
        entitlement_workflow_id(workshop_id, Service.ECU_PROGRAMMING)
    ).terminate("test finished")


async def test_too_little_time_pauses_before_the_ecu_and_buying_more_resumes(
    time_skipping_env: WorkflowEnvironment,
    portal_on_time_skipping_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    env, settings = time_skipping_env, portal_on_time_skipping_server
    build_demo_package(
        settings.packages_dir / PACKAGE,
        image_size_per_ecu=8 * 1024,
        ecus=("DME", "EGS"),
        package_id=PACKAGE,
    )
    workshop_id = await _workshop_with_credit(session_factory)
    await _buy_hour(env, settings.portal_task_queue, workshop_id)
    await env.sleep(timedelta(minutes=59, seconds=45))  # 15 s of the hour are left

    async with running_station(env.client, settings) as station:
        handle = await _start(env, settings, station, workshop_id)
        paused = await _wait_for(env, handle, "waiting_for_time")
        assert paused.current_ecu is None
        assert {e.ecu: e.status for e in paused.ecus} == {"DME": "pending", "EGS": "pending"}
        assert "the plan needs about" in (paused.reason or "")
        # The simulated car is on a CAN bus: one lane, DME then EGS, each ~20 s estimated.
        assert paused.plan is not None
        assert [lane.ecus for lane in paused.plan.lanes] == [["DME", "EGS"]]
        assert paused.plan.estimated_seconds > 15
        assert station.vehicle.ecu("DME").stats.erases == 0  # nothing was touched

        await _buy_hour(env, settings.portal_task_queue, workshop_id)
        with env.auto_time_skipping_disabled():
            report = await asyncio.wait_for(handle.result(), timeout=120)
    assert report.state == "completed"
    assert [e.status for e in report.ecus] == ["done", "done"]
    assert all(e.overrun is None for e in report.ecus)
    await _stop_entitlement(env, workshop_id)


async def test_coverage_ending_mid_ecu_stops_at_a_segment_and_continues_block_exact(
    time_skipping_env: WorkflowEnvironment,
    portal_on_time_skipping_server: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Real time: the time-skipping server cannot jump while an activity runs, so the DME gets
    a slow erase (as real ECUs have, by size) that eats the last purchased seconds: its first
    segment's erase takes ~15 s, so the second segment (whose erase and check the activity
    now expects to take as long) cannot finish in the ~14 s left and is not started."""
    env, settings = time_skipping_env, portal_on_time_skipping_server
    build_demo_package(
        settings.packages_dir / PACKAGE,
        image_size_per_ecu=8 * 1024,
        ecus=("DME",),
        package_id=PACKAGE,
    )
    workshop_id = await _workshop_with_credit(session_factory)
    await _buy_hour(env, settings.portal_task_queue, workshop_id)
    # 30 s are left: the plan (one ECU, ~20.5 s estimated, margin 20 %) may start.
    await env.sleep(timedelta(minutes=59, seconds=30))
    car = tune_ecu(default_vehicle_config(), "DME", erase_time=0.0, erase_time_per_mib=1920.0)
    segments = build_manifest_segments(settings, "DME")

    async with running_station(env.client, settings, car) as station:
        dme = station.vehicle.ecu("DME")
        block = dme.config.max_block_length - 2
        handle = await _start(env, settings, station, workshop_id)
        paused = await _wait_for(env, handle, "waiting_for_time", seconds=120)
        outcome = {e.ecu: e for e in paused.ecus}["DME"]
        assert outcome.status == "programming"
        assert outcome.bytes_done == segments[0].length  # the first segment, checked
        assert "DME stopped before segment 2" in (paused.reason or "")
        assert (dme.stats.erases, dme.stats.blocks_programmed) == (
            1,
            -(-segments[0].length // block),
        )
        assert dme.memory_crc(segments[0].address, segments[0].length) == segments[0].crc32

        await _buy_hour(env, settings.portal_task_queue, workshop_id)
        with env.auto_time_skipping_disabled():
            report = await asyncio.wait_for(handle.result(), timeout=120)
    assert report.state == "completed"
    assert [(e.ecu, e.status, e.overrun) for e in report.ecus] == [("DME", "done", None)]
    # Block-exact: each segment erased once, each block programmed once, none sent again.
    blocks = sum(-(-segment.length // block) for segment in segments)
    assert (dme.stats.erases, dme.stats.blocks_programmed) == (len(segments), blocks)
    assert dme.stats.blocks_skipped_identical == dme.stats.blocks_repeated == 0
    for segment in segments:
        assert dme.memory_crc(segment.address, segment.length) == segment.crc32
    await _stop_entitlement(env, workshop_id)


def build_manifest_segments(settings: Settings, ecu: str) -> list[SegmentSpec]:
    return read_manifest(settings.packages_dir / PACKAGE).ecu(ecu).segments
