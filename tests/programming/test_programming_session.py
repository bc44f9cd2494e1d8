"""A 4-ECU flash of the simulated car, end to end on the dev server."""

from __future__ import annotations

import uuid

import httpx
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from contracts.errors import domain_error_from
from contracts.programming import ProgrammingSessionInput, programming_workflow_id
from domain.flash_package import FlashPackageManifest
from hw.flash_files import load_package
from settings import Settings
from testkit.factories import SignedIn
from testkit.portal_api import buy_time
from tests.programming.conftest import DEMO_PACKAGE, Station
from workflows.programming_session import ProgrammingSessionWorkflow

pytestmark = pytest.mark.e2e


def _session(owner: SignedIn, station: Station, vin: str) -> ProgrammingSessionInput:
    session_id = str(uuid.uuid4())
    return ProgrammingSessionInput(
        session_id=session_id,
        workshop_id=owner.workshop_id or "",
        station_id=station.station_id,
        station_task_queue=station.task_queue,
        vin=vin,
        package_id=DEMO_PACKAGE,
        technician_id=owner.user_id,
    )


async def test_four_ecus_programmed_software_and_memory_match_the_package(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    station_on_dev_server: Station,
    workshop_owner: SignedIn,
    demo_package: FlashPackageManifest,
    dev_env: WorkflowEnvironment,
) -> None:
    await buy_time(api_client, workshop_owner)
    vin = station_on_dev_server.vehicle.config.vin
    request = _session(workshop_owner, station_on_dev_server, vin)
    report = await dev_env.client.execute_workflow(
        ProgrammingSessionWorkflow.run,
        request,
        id=programming_workflow_id(request.session_id),
        task_queue=portal_on_dev_server.portal_task_queue,
    )
    assert report.state == "completed", report
    programmed = {e.ecu: e for e in report.ecus}
    assert sorted(programmed) == sorted(demo_package.ecu_names)
    package = load_package(portal_on_dev_server.packages_dir / DEMO_PACKAGE)
    for ecu in demo_package.ecus:
        assert programmed[ecu.ecu].status == "done"
        assert [str(u) for u in programmed[ecu.ecu].software_after] == [
            str(u) for u in ecu.software_units
        ]
        sim_ecu = station_on_dev_server.vehicle.ecu(ecu.ecu)
        for segment in ecu.segments:
            assert sim_ecu.memory_crc(segment.address, segment.length) == segment.crc32
    assert package.manifest.package_id == DEMO_PACKAGE
    assert report.bytes_done == report.bytes_total == sum(e.total_bytes for e in demo_package.ecus)

    # The same package again: every ECU is already at target, nothing is written.
    again = _session(workshop_owner, station_on_dev_server, vin)
    second = await dev_env.client.execute_workflow(
        ProgrammingSessionWorkflow.run,
        again,
        id=programming_workflow_id(again.session_id),
        task_queue=portal_on_dev_server.portal_task_queue,
    )
    assert {e.status for e in second.ecus} == {"already_at_target"}


async def test_another_car_at_the_station_stops_the_session(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    station_on_dev_server: Station,
    workshop_owner: SignedIn,
    demo_package: FlashPackageManifest,
    dev_env: WorkflowEnvironment,
) -> None:
    await buy_time(api_client, workshop_owner)
    request = _session(workshop_owner, station_on_dev_server, "WBA8E5105FK731548")
    report = await dev_env.client.execute_workflow(
        ProgrammingSessionWorkflow.run,
        request,
        id=programming_workflow_id(request.session_id),
        task_queue=portal_on_dev_server.portal_task_queue,
    )
    assert report.state == "refused"
    assert "WBA8E5105FK731548" in (report.reason or "")
    assert all(e.status != "done" for e in report.ecus)


async def test_without_purchased_time_the_session_is_refused(
    portal_on_dev_server: Settings,
    station_on_dev_server: Station,
    workshop_owner: SignedIn,
    demo_package: FlashPackageManifest,
    dev_env: WorkflowEnvironment,
) -> None:
    request = _session(
        workshop_owner, station_on_dev_server, station_on_dev_server.vehicle.config.vin
    )
    with pytest.raises(WorkflowFailureError) as failure:
        await dev_env.client.execute_workflow(
            ProgrammingSessionWorkflow.run,
            request,
            id=programming_workflow_id(request.session_id),
            task_queue=portal_on_dev_server.portal_task_queue,
        )
    error = domain_error_from(failure.value)
    assert error is not None and error.code == "no-access"
