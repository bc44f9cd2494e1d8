"""Programming through the API, as the portal and the technician's client use it."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.accounts import Role
from domain.flash_package import FlashPackageManifest
from hw.sim.vehicle import SimVehicle
from settings import Settings
from station.worker import StationDependencies, station_worker
from testkit.factories import SignedIn, create_workshop, sign_in
from testkit.station_gateway import through_gateway
from tests.programming.conftest import (
    DEMO_PACKAGE,
    Station,
    buy_time,
    register_station,
    start_session,
    wait_until_ended,
)

pytestmark = pytest.mark.e2e


async def test_flash_through_the_api_with_report_and_trace(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    station_on_dev_server: Station,
    workshop_owner: SignedIn,
    demo_package: FlashPackageManifest,
) -> None:
    await buy_time(api_client, workshop_owner)
    await register_station(api_client, workshop_owner, station_on_dev_server.station_id)
    packages = await api_client.get("/packages", headers=workshop_owner.headers)
    assert [p["package_id"] for p in packages.json()] == [DEMO_PACKAGE]
    station = await api_client.get(
        f"/stations/{station_on_dev_server.station_id}", headers=workshop_owner.headers
    )
    assert station.json()["online"] is True

    started = await start_session(
        api_client,
        workshop_owner,
        station_on_dev_server.station_id,
        station_on_dev_server.vehicle.config.vin,
    )
    session_id = started["session_id"]
    final = await wait_until_ended(api_client, workshop_owner.headers, session_id)
    assert final["state"] == "completed", final
    assert final["bytes_done"] == final["bytes_total"] > 0

    for _ in range(50):  # the report is there once the workflow has closed
        report = await api_client.get(
            f"/programming-sessions/{session_id}/report", headers=workshop_owner.headers
        )
        if report.status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert report.status_code == 200, report.text
    assert {e["ecu"]: e["status"] for e in report.json()["report"]["ecus"]} == dict.fromkeys(
        demo_package.ecu_names, "done"
    )
    trace = await api_client.get(
        f"/programming-sessions/{session_id}/trace", headers=workshop_owner.headers
    )
    assert trace.status_code == 200
    assert "Rx" in trace.text and "Tx" in trace.text  # python-can ASC frame lines

    abort = await api_client.post(
        f"/programming-sessions/{session_id}/abort",
        json={"reason": "too late"},
        headers=workshop_owner.headers,
    )
    assert (abort.status_code, abort.json()["type"]) == (409, "/problems/programming-session-ended")


async def test_refusals_before_the_car_is_touched(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    station_on_dev_server: Station,
    workshop_owner: SignedIn,
    demo_package: FlashPackageManifest,
) -> None:
    headers = workshop_owner.headers
    await register_station(api_client, workshop_owner, station_on_dev_server.station_id)
    vin = station_on_dev_server.vehicle.config.vin
    body = {"station_id": station_on_dev_server.station_id, "vin": vin, "package_id": DEMO_PACKAGE}

    no_time = await api_client.post("/programming-sessions", json=body, headers=headers)
    assert (no_time.status_code, no_time.json()["type"]) == (403, "/problems/no-access")

    await buy_time(api_client, workshop_owner)
    bad_vin = await api_client.post(
        "/programming-sessions", json={**body, "vin": "WBA8E5105FK73154O"}, headers=headers
    )
    assert (bad_vin.status_code, bad_vin.json()["field"]) == (422, "vin")
    for lanes in (0, 17):  # 1 to 16 ECUs at the same time
        too_many = await api_client.post(
            "/programming-sessions", json={**body, "max_parallel_ecus": lanes}, headers=headers
        )
        assert (too_many.status_code, too_many.json()["field"]) == (422, "max_parallel_ecus")

    unknown = await api_client.post(
        "/programming-sessions", json={**body, "package_id": "no-such"}, headers=headers
    )
    assert (unknown.status_code, unknown.json()["type"]) == (404, "/problems/package-not-found")

    foreign = await api_client.post(
        "/programming-sessions", json={**body, "station_id": "not-ours"}, headers=headers
    )
    assert (foreign.status_code, foreign.json()["field"]) == (404, "station_id")

    await register_station(api_client, workshop_owner, "nobody-home")
    offline = await api_client.post(
        "/programming-sessions", json={**body, "station_id": "nobody-home"}, headers=headers
    )
    assert (offline.status_code, offline.json()["type"]) == (409, "/problems/station-offline")

    segment = demo_package.ecu("EGS").segments[0]
    image = portal_on_dev_server.packages_dir / DEMO_PACKAGE / segment.file
    corrupted = bytearray(image.read_bytes())
    corrupted[100] ^= 0xFF
    image.write_bytes(bytes(corrupted))
    corrupt = await api_client.post("/programming-sessions", json=body, headers=headers)
    assert corrupt.status_code == 422
    problem = corrupt.json()
    assert problem["type"] == "/problems/package-invalid"
    assert any(p["ecu"] == "EGS" and p["check"] in ("crc32", "sha256") for p in problem["problems"])
    assert station_on_dev_server.vehicle.ecu("EGS").stats.blocks_programmed == 0


async def test_programming_sessions_of_another_workshop_are_invisible(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    station_on_dev_server: Station,
    workshop_owner: SignedIn,
    demo_package: FlashPackageManifest,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await buy_time(api_client, workshop_owner)
    await register_station(api_client, workshop_owner, station_on_dev_server.station_id)
    started = await api_client.post(
        "/programming-sessions",
        json={
            "station_id": station_on_dev_server.station_id,
            "vin": station_on_dev_server.vehicle.config.vin,
            "package_id": DEMO_PACKAGE,
        },
        headers=workshop_owner.headers,
    )
    session_id = started.json()["session_id"]
    other_workshop = await create_workshop(session_factory, "Other Garage")
    for role in (Role.WORKSHOP_OWNER, Role.TECHNICIAN):
        intruder = await sign_in(session_factory, role, other_workshop)
        calls = [
            ("GET", "", None),
            ("GET", "/report", None),
            ("GET", "/report.pdf", None),
            ("GET", "/trace", None),
            ("POST", "/resume", {}),
            ("POST", "/skip-ecu", {"ecu": "DME"}),
            ("POST", "/abort", {"reason": "not mine"}),
        ]
        for method, suffix, body in calls:
            response = await api_client.request(
                method,
                f"/programming-sessions/{session_id}{suffix}",
                json=body,
                headers=intruder.headers,
            )
            assert response.status_code == 404, (role, method, suffix, response.text)
        station = await api_client.get(
            f"/stations/{station_on_dev_server.station_id}", headers=intruder.headers
        )
        assert station.status_code == 404
    await wait_until_ended(api_client, workshop_owner.headers, session_id)


async def test_flash_over_doip_through_the_api(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    workshop_owner: SignedIn,
    demo_package: FlashPackageManifest,
    dev_env: WorkflowEnvironment,
) -> None:
    """The same flash with the car as a DoIP entity on 127.0.0.1 (an ICOM-style interface),
    asked to program one ECU after another (`parallel` off)."""
    settings = portal_on_dev_server
    car = SimVehicle()
    server = car.serve_doip("127.0.0.1", 0)
    station_id = f"doip-{uuid.uuid4().hex[:6]}"
    deps = StationDependencies(station_id, server.url, settings.packages_dir, settings.traces_dir)
    try:
        await register_station(api_client, workshop_owner, station_id)
        async with (
            through_gateway(dev_env.client, settings, station_id) as connection,
            station_worker(connection.client, deps, settings.station_task_queue(station_id)),
        ):
            await buy_time(api_client, workshop_owner)
            started = await api_client.post(
                "/programming-sessions",
                json={
                    "station_id": station_id,
                    "vin": car.vin,
                    "package_id": DEMO_PACKAGE,
                    "parallel": False,
                },
                headers=workshop_owner.headers,
            )
            assert started.status_code == 201, started.text
            final = await wait_until_ended(
                api_client, workshop_owner.headers, started.json()["session_id"]
            )
    finally:
        car.close()
    assert final["state"] == "completed", final
    assert final["plan"]["parallel"] is False
    assert [lane["ecus"] for lane in final["plan"]["lanes"]] == [demo_package.ecu_names]
    for package in demo_package.ecus:
        outcome = next(e for e in final["ecus"] if e["ecu"] == package.ecu)
        assert outcome["software_after"] == [
            u.model_dump(mode="json") for u in package.software_units
        ]
        for segment in package.segments:
            assert car.ecu(package.ecu).memory_crc(segment.address, segment.length) == segment.crc32
