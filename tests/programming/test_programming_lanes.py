"""ECUs in lanes, one heartbeating activity per ECU, on the dev server.

- Over DoIP each ECU is a lane of its own: the four ECUs' activities run at the same time
  (the history shows them overlap), each ECU costs a few history events.
- On a CAN bus the ECUs share one lane: one activity after another.
- A fault in one lane puts the session in `needs_technician`; the other lanes finish the ECU
  they are on and start no other; the technician's resume continues every lane.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from application.programming import start_session_workflow
from contracts.programming import (
    ProgrammingProgress,
    ProgrammingSessionInput,
    ProgrammingUpdate,
    ResumeInput,
)
from domain.flash_package import FlashPackageManifest
from hw.sim.config import FLASH_LAYOUT, default_vehicle_config
from hw.sim.vehicle import SimVehicle
from settings import Settings
from testkit.factories import SignedIn
from testkit.portal_api import buy_time, register_station
from tests.programming.conftest import DEMO_PACKAGE, Station, running_station
from workflows.programming_session import ProgrammingSessionWorkflow

pytestmark = pytest.mark.e2e


async def _start(
    env: WorkflowEnvironment,
    settings: Settings,
    owner: SignedIn,
    station: Station,
    max_parallel_ecus: int = 4,
) -> WorkflowHandle[ProgrammingSessionWorkflow, ProgrammingProgress]:
    return await start_session_workflow(
        env.client,
        settings,
        ProgrammingSessionInput(
            session_id=str(uuid.uuid4()),
            workshop_id=owner.workshop_id or "",
            station_id=station.station_id,
            station_task_queue=station.task_queue,
            vin=station.vehicle.vin,
            package_id=DEMO_PACKAGE,
            technician_id=owner.user_id,
            max_parallel_ecus=max_parallel_ecus,
        ),
    )


def _programmed_right(vehicle: SimVehicle, manifest: FlashPackageManifest) -> None:
    """Every segment in its ECU, each erased once and each block programmed once."""
    for package in manifest.ecus:
        ecu = vehicle.ecu(package.ecu)
        block = ecu.config.max_block_length - 2
        for segment in package.segments:
            assert ecu.memory_crc(segment.address, segment.length) == segment.crc32
        blocks = sum(-(-segment.length // block) for segment in package.segments)
        assert (ecu.stats.erases, ecu.stats.blocks_programmed) == (len(package.segments), blocks)


async def _ecu_activities(
    handle: WorkflowHandle[ProgrammingSessionWorkflow, ProgrammingProgress],
) -> tuple[list[HistoryEvent], list[tuple[str, int]]]:
    """The history, and the order `program_ecu` activities were scheduled (+1) and ended (-1)
    in, each with its ECU."""
    events = [event async for event in handle.fetch_history_events()]
    ecu_of: dict[int, str] = {}
    order: list[tuple[str, int]] = []
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            if attributes.activity_type.name == "program_ecu":
                ecu = attributes.activity_id.rsplit("-", 1)[0]  # <ECU>-<n>
                ecu_of[event.event_id] = ecu
                order.append((ecu, +1))
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
            if scheduled in ecu_of:
                order.append((ecu_of[scheduled], -1))
    return events, order


def _ecu_span(events: list[HistoryEvent]) -> tuple[int, int]:
    """Positions of the first `program_ecu` scheduled and the last one's completion."""
    scheduled = {
        event.event_id
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == "program_ecu"
    }
    first = min(i for i, event in enumerate(events) if event.event_id in scheduled)
    last = max(
        i
        for i, event in enumerate(events)
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and event.activity_task_completed_event_attributes.scheduled_event_id in scheduled
    )
    return first, last


def _most_at_once(order: list[tuple[str, int]]) -> int:
    running = most = 0
    for _, step in order:
        running += step
        most = max(most, running)
    return most


async def test_a_doip_package_programs_its_ecus_in_parallel_lanes(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    workshop_owner: SignedIn,
    demo_package: FlashPackageManifest,
    dev_env: WorkflowEnvironment,
) -> None:
    await buy_time(api_client, workshop_owner)
    async with running_station(dev_env.client, portal_on_dev_server, doip=True) as station:
        await register_station(api_client, workshop_owner, station.station_id)
        handle = await _start(dev_env, portal_on_dev_server, workshop_owner, station)
        report = await asyncio.wait_for(handle.result(), timeout=120)
        # The plan as the API shows it.
        shown = await api_client.get(
            f"/programming-sessions/{handle.id.removeprefix('programming-')}",
            headers=workshop_owner.headers,
        )
    assert report.state == "completed", report
    _programmed_right(station.vehicle, demo_package)
    assert shown.status_code == 200, shown.text
    plan = shown.json()["plan"]
    assert [lane["ecus"] for lane in plan["lanes"]] == [[ecu] for ecu in demo_package.ecu_names]
    assert (plan["parallel"], plan["max_parallel"]) == (True, 4)
    assert plan["actions"]["DME"][:3] == ["prepare", "erase 0", "download 0"]
    assert plan["actions"]["DME"][-1] == "finish"

    events, order = await _ecu_activities(handle)
    assert sorted(ecu for ecu, step in order if step > 0) == sorted(demo_package.ecu_names)
    assert _most_at_once(order) == 4  # all four lanes at the same time
    # The ECUs' own events: from the first ECU's activity scheduled to the workflow task after
    # the last one completed; the rest is the session's (access, manifest, identify, states).
    ecus = len(demo_package.ecus)
    first, last = _ecu_span(events)
    own = (last - first + 1 + 3) / ecus
    print(
        f"4 ECUs over DoIP in parallel lanes: {len(events)} history events in all, "
        f"{len(events) / ecus:.2f} per ECU; the ECUs' own {own:.2f} per ECU"
    )
    assert own <= 12
    assert len(events) / ecus <= 17  # the session's fixed events (about 36) included


async def test_a_can_package_programs_its_ecus_in_one_lane(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    workshop_owner: SignedIn,
    demo_package: FlashPackageManifest,
    dev_env: WorkflowEnvironment,
) -> None:
    await buy_time(api_client, workshop_owner)
    async with running_station(dev_env.client, portal_on_dev_server) as station:
        handle = await _start(dev_env, portal_on_dev_server, workshop_owner, station)
        report = await asyncio.wait_for(handle.result(), timeout=120)
    assert report.state == "completed", report
    _programmed_right(station.vehicle, demo_package)
    assert report.plan is not None
    assert [lane.ecus for lane in report.plan.lanes] == [demo_package.ecu_names]
    events, order = await _ecu_activities(handle)
    assert [ecu for ecu, step in order if step > 0] == demo_package.ecu_names
    assert _most_at_once(order) == 1  # one after another
    print(f"4 ECUs on one CAN bus: {len(events)} history events")


async def _until(
    handle: WorkflowHandle[ProgrammingSessionWorkflow, ProgrammingProgress],
    done: dict[str, str],
    state: str,
) -> ProgrammingProgress:
    for _ in range(600):
        progress = await handle.query(ProgrammingSessionWorkflow.progress)
        statuses = {e.ecu: str(e.status) for e in progress.ecus}
        if progress.state == state and all(statuses.get(k) == v for k, v in done.items()):
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError(f"session {progress.state}, ECUs {statuses}")


async def test_a_fault_in_one_lane_waits_for_the_technician_and_resume_continues_every_lane(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    workshop_owner: SignedIn,
    demo_package: FlashPackageManifest,
    dev_env: WorkflowEnvironment,
) -> None:
    """Two lanes at once: DME and EGS start; the EGS has the wrong hardware (no retry fixes
    it). The DME finishes, and its slot's next lane (BDC) does not start until the technician
    has fixed the EGS and resumed."""
    await buy_time(api_client, workshop_owner)
    car = default_vehicle_config()
    car.ecu("EGS").hardware_id = "not-the-package-target"
    async with running_station(dev_env.client, portal_on_dev_server, car, doip=True) as station:
        handle = await _start(
            dev_env, portal_on_dev_server, workshop_owner, station, max_parallel_ecus=2
        )
        waiting = await _until(handle, {"DME": "done"}, "needs_technician")
        statuses = {e.ecu: str(e.status) for e in waiting.ecus}
        assert statuses == {
            "DME": "done",
            "EGS": "programming",
            "BDC": "pending",
            "KOMBI": "pending",
        }
        assert "EGS prepare" in (waiting.reason or "")
        await asyncio.sleep(0.5)  # the lanes stay put while the session waits
        assert station.vehicle.ecu("BDC").stats.erases == 0

        station.vehicle.ecu("EGS").config.hardware_id = FLASH_LAYOUT["EGS"].hardware_id
        resumed = await handle.execute_update(
            ProgrammingUpdate.RESUME, ResumeInput(), result_type=ProgrammingProgress
        )
        assert resumed.state == "identifying"  # the same car is identified again first
        report = await asyncio.wait_for(handle.result(), timeout=120)
    assert report.state == "completed", report
    assert {str(e.status) for e in report.ecus} == {"done"}
    _programmed_right(station.vehicle, demo_package)
