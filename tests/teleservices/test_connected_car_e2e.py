"""End to end with the real simulated connected-car backend process (`worker.py
connected-car-backend`), the API over HTTP and the portal worker on the dev server: the car's
signed Teleservice Call opens a ticket, the workshop acknowledges it, and a service entry made
through the API closes it."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.service_history import CONSENT_TEXT_VERSION
from portal_app import create_app
from portal_worker import PortalDependencies, portal_worker
from settings import Settings
from testkit.serving import free_port, serving_api
from tests.teleservices.conftest import DEMO_VIN, eventually, seeded_cars, service_partner

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def backend_process(data_dir: Path, portal_url: str) -> Iterator[str]:
    """The simulated backend as `make dev` runs it, until it says it is ready; its URL."""
    port = free_port()
    command = [sys.executable, "worker.py", "connected-car-backend"]
    process = subprocess.Popen(
        [*command, "--listen", f"127.0.0.1:{port}", "--portal", portal_url],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "AOS_DATA_DIR": str(data_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            if "connected-car backend ready" in line:
                ready.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert ready.wait(30), "\n".join(lines)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        reader.join(timeout=5)


@pytest.fixture
async def portal(
    settings: Settings,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[tuple[Settings, str]]:
    deps = PortalDependencies(settings, session_factory)
    async with (
        portal_worker(dev_env.client, deps, settings.portal_task_queue),
        serving_api(create_app(settings, temporal=dev_env.client)) as url,
    ):
        yield settings, url


async def test_a_signed_teleservice_call_is_acknowledged_and_closed_by_a_service_entry(
    portal: tuple[Settings, str], session_factory: async_sessionmaker[AsyncSession]
) -> None:
    settings, portal_url = portal
    await seeded_cars(session_factory)
    partner = await service_partner(session_factory)
    tech = partner.technician.headers
    settings.teleservice_secret()  # the embedded secret the backend reads from AOS_DATA_DIR

    with backend_process(settings.data_dir, portal_url) as backend_url:
        async with (
            httpx.AsyncClient(base_url=portal_url, timeout=30) as api,
            httpx.AsyncClient(base_url=backend_url, timeout=30) as backend,
        ):
            car = await backend.put(
                f"/cars/{DEMO_VIN}",
                json={"due": ["engine_oil"], "service_partner_id": partner.workshop_id},
            )
            assert car.status_code == 200, car.text
            assert (await backend.post(f"/cars/{DEMO_VIN}/facts")).json()["portal_status"] == 202
            vehicle = (await api.get(f"/vehicles/{DEMO_VIN}", headers=tech)).json()
            assert vehicle["teleservices"]["teleservice_eligible"] is True

            woke = (await backend.post(f"/cars/{DEMO_VIN}/wake")).json()
            assert woke["teleservice_call"] is not None

            async def listed() -> list[dict[str, Any]]:
                found: list[dict[str, Any]] = (
                    await api.get("/teleservice-tickets", headers=tech)
                ).json()
                return found

            tickets = await eventually(listed, lambda found: len(found) == 1)
            assert (tickets[0]["item"], tickets[0]["state"]) == ("engine_oil", "new")
            url = f"/teleservice-tickets/{tickets[0]['ticket_id']}"
            acknowledged = await api.post(f"{url}/acknowledge", headers=tech)
            assert acknowledged.json()["state"] == "acknowledged", acknowledged.text
            assert [c["message_id"] for c in acknowledged.json()["calls"]] == [
                woke["teleservice_call"]
            ]

            entry = (
                await api.post("/service-entries", json={"vin": DEMO_VIN}, headers=tech)
            ).json()
            steps = [
                ("consent", {"confirmed": True, "consent_text_version": CONSENT_TEXT_VERSION}),
                (
                    "details",
                    {"mileage_km": 196_000, "service_date": datetime.now(UTC).date().isoformat()},
                ),
                ("services", {"cbs_items": ["engine_oil"]}),
                ("create", None),
            ]
            for step, body in steps:
                answer = await api.post(
                    f"/service-entries/{entry['entry_id']}/{step}", json=body, headers=tech
                )
                assert answer.status_code == 200, (step, answer.text)

            closed = await eventually(
                lambda: api.get(url, headers=tech), lambda a: a.json()["state"] == "closed"
            )
            assert closed.json()["close_reason"] == "service_entry"
            assert closed.json()["close_detail"] == f"service entry {entry['entry_id']}"
