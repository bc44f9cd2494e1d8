"""Remote key reads. On the time-skipping server, with the simulated connected-car backend
served over HTTP and the API over HTTP, both signing: a request reaches the backend, the car
wakes on day 3 and its key data enters the key table marked remote, announced by mail; another
request expires at day 7 and a late answer changes nothing. On the dev server: who may ask,
the refusals with their reasons, cancelling, and another workshop's request answering 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.accounts import Role
from hw.sim.connected_car_backend import ConnectedCarBackend, create_backend_app
from portal_app import create_app
from portal_worker import PortalDependencies, portal_worker
from settings import Settings
from testkit.factories import SignedIn, sign_in
from testkit.serving import free_port, serving_api
from tests.teleservices.conftest import (
    DEMO_VIN,
    Partner,
    eventually,
    seeded_cars,
    service_partner,
)


@dataclass
class Stack:
    api: httpx.AsyncClient  # the portal's API over HTTP
    backend: httpx.AsyncClient  # the simulated connected-car backend over HTTP
    simulated: ConnectedCarBackend
    partner: Partner
    operator: SignedIn


@pytest.fixture
async def stack(
    time_skipping_env: WorkflowEnvironment,
    database_url: str,
    tmp_path: Any,
    task_queue: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Stack]:
    portal_port, backend_port = free_port(), free_port()
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        portal_task_queue=task_queue,
        connected_car_backend_url=f"http://127.0.0.1:{backend_port}",
    )
    await seeded_cars(session_factory)
    partner = await service_partner(
        session_factory, clock=await time_skipping_env.get_current_time()
    )
    operator = await sign_in(session_factory, Role.ADMINISTRATOR)
    simulated = ConnectedCarBackend(
        f"http://127.0.0.1:{portal_port}", settings.teleservice_secret()
    )
    app = create_app(settings, temporal=time_skipping_env.client)
    deps = PortalDependencies(settings, session_factory)
    async with (
        portal_worker(time_skipping_env.client, deps, task_queue),
        serving_api(app, portal_port) as portal_url,
        serving_api(create_backend_app(simulated), backend_port) as backend_url,
        httpx.AsyncClient(base_url=portal_url, timeout=30) as api,
        httpx.AsyncClient(base_url=backend_url, timeout=30) as backend,
    ):
        # The backend reports the car's facts: capable, under contract, this partner's.
        configured = await backend.put(
            f"/cars/{DEMO_VIN}", json={"service_partner_id": partner.workshop_id}
        )
        assert configured.status_code == 200, configured.text
        assert (await backend.post(f"/cars/{DEMO_VIN}/facts")).json() == {"portal_status": 202}
        yield Stack(api, backend, simulated, partner, operator)


async def _request(stack: Stack) -> dict[str, Any]:
    answer = await stack.api.post(
        f"/vehicles/{DEMO_VIN}/remote-key-reads", json={}, headers=stack.partner.technician.headers
    )
    assert answer.status_code == 201, answer.text
    request: dict[str, Any] = answer.json()
    # The portal has sent it to the backend, which keeps it for the car.
    await eventually(
        lambda: stack.backend.get("/health"), lambda a: a.json()["pending_key_reads"] == 1
    )
    return request


async def _status(stack: Stack, request_id: str) -> dict[str, Any]:
    answer = await stack.api.get(
        f"/remote-key-reads/{request_id}", headers=stack.partner.technician.headers
    )
    assert answer.status_code == 200, answer.text
    status: dict[str, Any] = answer.json()
    return status


async def _keys(stack: Stack) -> list[dict[str, Any]]:
    answer = await stack.api.get(
        f"/workshops/{stack.partner.workshop_id}/keys", headers=stack.partner.owner.headers
    )
    assert answer.status_code == 200, answer.text
    keys: list[dict[str, Any]] = answer.json()
    return keys


async def test_a_key_read_is_received_when_the_car_wakes_up_on_day_3(
    stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    vehicle = await stack.api.get(f"/vehicles/{DEMO_VIN}", headers=stack.partner.technician.headers)
    assert vehicle.json()["teleservices"]["remote_key_read_eligible"] is True

    request = await _request(stack)
    request_id = request["request_id"]
    assert (await _status(stack, request_id))["state"] == "waiting"

    await time_skipping_env.sleep(timedelta(days=3))
    assert (await _status(stack, request_id))["state"] == "waiting"
    assert await _keys(stack) == []
    woke = await stack.backend.post(f"/cars/{DEMO_VIN}/wake")
    assert woke.json()["key_reads_answered"] == [request_id]

    received = await eventually(
        lambda: _status(stack, request_id), lambda s: s["state"] == "received"
    )
    assert received["key_record"]["remote"] is True
    keys = await _keys(stack)
    assert [(k["vin"], k["remote"], k["station_id"]) for k in keys] == [(DEMO_VIN, True, None)]
    listed = await eventually(
        lambda: stack.api.get("/remote-key-reads", headers=stack.partner.technician.headers),
        lambda a: a.json()[0]["state"] == "received",
    )
    age = listed.json()[0]["age_seconds"]
    assert timedelta(days=3) <= timedelta(seconds=age) < timedelta(days=3, hours=1)
    mail = await stack.api.get("/admin/outbox", headers=stack.operator.headers)
    announced = [m for m in mail.json() if m["category"] == "remote-key-read-received"]
    assert [m["recipient"] for m in announced] == [f"{stack.partner.workshop_id}@garage.example"]


async def test_a_key_read_expires_at_day_7_and_a_late_answer_changes_nothing(
    stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    request = await _request(stack)
    request_id = request["request_id"]
    await time_skipping_env.sleep(timedelta(days=7) - timedelta(minutes=5))
    assert (await _status(stack, request_id))["state"] == "waiting"
    await time_skipping_env.sleep(timedelta(minutes=10))
    expired = await eventually(
        lambda: _status(stack, request_id), lambda s: s["state"] == "expired"
    )
    assert expired["key_record"] is None

    await stack.backend.post(f"/cars/{DEMO_VIN}/wake")  # the car, far too late
    assert (await _status(stack, request_id))["state"] == "expired"
    assert await _keys(stack) == []
    listed = (
        await stack.api.get("/remote-key-reads", headers=stack.partner.technician.headers)
    ).json()
    assert [(r["request_id"], r["state"]) for r in listed] == [(request_id, "expired")]
