"""One package id everywhere, and steering that answers the truth (issue #15): the packages
`GET /packages` offers start sessions; resume, skip-ecu and abort answer with the state after
they took effect; an ended session refuses them with 409 and its final state."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from hw.sim.demo_package import build_demo_package
from settings import Settings
from testkit.factories import SignedIn
from tests.programming.conftest import (
    buy_time,
    register_station,
    running_station,
    session_needing_technician,
    start_session,
    steer,
    wait_until_ended,
)

pytestmark = pytest.mark.e2e

STEPS: list[tuple[str, dict[str, Any]]] = [
    ("resume", {}),
    ("skip-ecu", {"ecu": "DME"}),
    ("abort", {"reason": "too late"}),
]


async def _refused_as_ended(
    api: httpx.AsyncClient, owner: SignedIn, session_id: str, final_state: str
) -> None:
    for step, body in STEPS:
        refused = await steer(api, owner, session_id, step, body)
        assert refused.status_code == 409, (step, refused.text)
        problem = refused.json()
        assert problem["type"] == "/problems/programming-session-ended", (step, problem)
        assert problem["state"] == final_state, (step, problem)


async def test_every_listed_package_starts_a_session_and_an_ended_one_takes_no_steps(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    dev_env: WorkflowEnvironment,
    workshop_owner: SignedIn,
) -> None:
    settings = portal_on_dev_server
    # as the README says: the folder's name is the package's id
    build_demo_package(settings.packages_dir / "demo-2.0.0", image_size_per_ecu=8 * 1024)
    # a copy in another folder: its manifest names another id, so it is not offered
    shutil.copytree(settings.packages_dir / "demo-2.0.0", settings.packages_dir / "copied")
    await buy_time(api_client, workshop_owner)

    async with running_station(dev_env.client, settings) as station:
        await register_station(api_client, workshop_owner, station.station_id)
        listed = await api_client.get("/packages", headers=workshop_owner.headers)
        assert listed.status_code == 200, listed.text
        package_ids = [package["package_id"] for package in listed.json()]
        assert package_ids == ["demo-2.0.0"]

        body = {"station_id": station.station_id, "vin": station.vehicle.vin}
        copied = await api_client.post(
            "/programming-sessions",
            json={**body, "package_id": "copied"},
            headers=workshop_owner.headers,
        )
        assert (copied.status_code, copied.json()["type"]) == (422, "/problems/package-invalid")
        assert "folder" in copied.json()["detail"]

        for package_id in package_ids:
            started = await start_session(
                api_client, workshop_owner, station.station_id, station.vehicle.vin, package_id
            )
            session_id = started["session_id"]
            final = await wait_until_ended(api_client, workshop_owner.headers, session_id)
            assert final["state"] == "completed", final
            for _ in range(50):  # the workflow closes just after its last state
                report = await api_client.get(
                    f"/programming-sessions/{session_id}/report", headers=workshop_owner.headers
                )
                if report.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            await _refused_as_ended(api_client, workshop_owner, session_id, "completed")


async def test_steering_answers_with_the_state_it_led_to(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    dev_env: WorkflowEnvironment,
    workshop_owner: SignedIn,
) -> None:
    async with session_needing_technician(
        api_client, portal_on_dev_server, dev_env.client, workshop_owner, "steer-2.0.0"
    ) as started:
        session_id = started["session_id"]

        skipped = await steer(api_client, workshop_owner, session_id, "skip-ecu", {"ecu": "EGS"})
        assert skipped.status_code == 200, skipped.text
        assert {e["ecu"]: e["status"] for e in skipped.json()["ecus"]}["EGS"] == "skipped"

        resumed = await steer(api_client, workshop_owner, session_id, "resume", {})
        assert resumed.status_code == 200, resumed.text
        # the state the resume led to, not the one it ended; the fault's reason is gone
        assert resumed.json()["state"] != "needs_technician", resumed.json()
        assert resumed.json()["reason"] is None, resumed.json()

        # the hardware is still wrong: the session asks for the technician again
        again = await wait_until_ended(api_client, workshop_owner.headers, session_id)
        assert again["state"] == "needs_technician", again
        aborted = await steer(
            api_client, workshop_owner, session_id, "abort", {"reason": "wrong car part"}
        )
        assert aborted.status_code == 200, aborted.text
        assert (aborted.json()["state"], aborted.json()["reason"]) == (
            "aborted",
            "wrong car part",
        )

        for _ in range(50):  # until the workflow has closed its station link and ended
            description = await dev_env.client.get_workflow_handle(
                started["workflow_id"]
            ).describe()
            if description.close_time is not None:
                break
            await asyncio.sleep(0.1)
        await _refused_as_ended(api_client, workshop_owner, session_id, "aborted")
