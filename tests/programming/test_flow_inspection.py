"""Operators find flows by their keys through the API and the `temporal` CLI alike, read their
timelines, and see their state machines with the current state marked."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.accounts import Role
from domain.flash_package import FlashPackageManifest
from settings import Settings
from testkit.factories import SignedIn, create_workshop, sign_in
from tests.programming.conftest import (
    Station,
    buy_time,
    register_station,
    start_session,
)

pytestmark = pytest.mark.e2e


async def _flows(client: httpx.AsyncClient, headers: dict[str, str], **filters: str) -> Any:
    response = await client.get("/flows", params=filters, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["flows"]


async def _temporal_list(dev_env: WorkflowEnvironment, query: str) -> set[str]:
    """The workflow ids `temporal workflow list --query QUERY` lists."""
    cli = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "temporal"),
        "workflow",
        "list",
        "--address",
        dev_env.client.service_client.config.target_host,
        "--query",
        query,
        "--output",
        "jsonl",
        stdout=asyncio.subprocess.PIPE,
    )
    listed = (await asyncio.wait_for(cli.communicate(), timeout=30))[0].decode()
    assert cli.returncode == 0
    return {json.loads(line)["execution"]["workflowId"] for line in listed.splitlines() if line}


async def test_find_read_and_draw_a_programming_session(
    api_client: httpx.AsyncClient,
    portal_on_dev_server: Settings,
    station_on_dev_server: Station,
    workshop_owner: SignedIn,
    demo_package: FlashPackageManifest,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    owner, car = workshop_owner, station_on_dev_server.vehicle
    await buy_time(api_client, owner)
    await register_station(api_client, owner, station_on_dev_server.station_id)
    started = await start_session(api_client, owner, station_on_dev_server.station_id, car.vin)
    workflow_id = started["workflow_id"]
    await dev_env.client.get_workflow_handle(workflow_id).result()

    for _ in range(100):  # visibility is eventually consistent
        by_vin = await _flows(api_client, owner.headers, vin=car.vin, status="completed")
        if by_vin and by_vin[0]["state"] == "completed":
            break
        await asyncio.sleep(0.1)
    assert [f["workflow_id"] for f in by_vin] == [workflow_id]
    assert by_vin[0]["type"] == "ProgrammingSessionWorkflow"
    assert by_vin[0]["station_id"] == station_on_dev_server.station_id
    assert by_vin[0]["vin"] == car.vin  # from the memo: the search attribute holds no VIN
    mine = await _flows(api_client, owner.headers, workshop=owner.workshop_id or "")
    assert {"ProgrammingSessionWorkflow", "TicketPurchaseWorkflow", "EntitlementWorkflow"} <= {
        f["type"] for f in mine
    }

    other = await sign_in(
        session_factory, Role.WORKSHOP_OWNER, await create_workshop(session_factory)
    )
    assert await _flows(api_client, other.headers, vin=car.vin) == []
    foreign = await api_client.get(
        "/flows", params={"workshop": owner.workshop_id}, headers=other.headers
    )
    assert foreign.status_code == 404
    hidden = await api_client.get(f"/flows/{workflow_id}/history", headers=other.headers)
    assert hidden.status_code == 404
    injected = await api_client.get("/flows", params={"vin": "x' OR '1'='1"}, headers=owner.headers)
    assert (injected.status_code, injected.json()["field"]) == (422, "vin")

    # The temporal CLI finds it by the VIN's search value, which the portal's key makes and the
    # API shows; by the VIN itself it finds nothing, since Temporal never sees one.
    search_value = by_vin[0]["vin_search_value"]
    assert search_value == portal_on_dev_server.vin_search_value(car.vin) != car.vin
    assert await _temporal_list(dev_env, f"Vin='{search_value}'") == {workflow_id}
    assert await _temporal_list(dev_env, f"Vin='{car.vin}'") == set()

    timeline = (await api_client.get(f"/flows/{workflow_id}/history", headers=owner.headers)).json()
    # The portal's checks run as local activities: one marker each, named like an activity.
    activities = [
        e["name"]
        for e in timeline["events"]
        if e["event"] in ("activity_task_scheduled", "marker_recorded") and e["name"]
    ]
    # Run together: their markers stand in the order they ended.
    assert sorted(activities[:2]) == ["check_entitlement", "read_verified_manifest"]
    assert activities[2] == "identify_vehicle"
    # One heartbeating activity per ECU, whatever its segments.
    assert activities.count("program_ecu") == len(demo_package.ecus)
    assert "program_segment" not in activities
    assert timeline["events"][-1]["event"] == "workflow_execution_completed"

    diagram = await api_client.get(
        "/flows/types/ProgrammingSessionWorkflow/diagram",
        params={"workflow_id": workflow_id},
        headers=owner.headers,
    )
    assert diagram.text.startswith("stateDiagram-v2")
    assert "completed:::active" in diagram.text
    unknown = await api_client.get("/flows/types/NoSuchFlow/diagram", headers=owner.headers)
    assert unknown.status_code == 404
