"""`make dev` heals itself: a part that is killed or frozen comes back without anyone's help,
and the flows carry on where they were."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from temporalio.client import Client

from db.engine import create_engine, create_session_factory
from tests.accounts_helpers import APPLICATION, code_in, last_mail_to
from tests.e2e.dev_stack import DevStack, dev_stack
from tests.helpers import until_polled

pytestmark = pytest.mark.e2e

# Short delays and quick health checks, so that each test takes seconds, not minutes.
QUICK_SUPERVISOR = {
    "AOS_SUPERVISOR_RESTART_DELAY_SECONDS": "0.5",
    "AOS_SUPERVISOR_HEALTH_INTERVAL_SECONDS": "1",
    "AOS_SUPERVISOR_HEALTH_FAILURES": "2",
}
TEMPORAL = ("start-dev",)
API = ("uvicorn",)
PORTAL_WORKER = ("portal",)
GATEWAY = ("gateway",)
STATION_WORKER = ("station",)


def _register(stack: DevStack, application: dict[str, str]) -> str:
    response = httpx.post(f"{stack.api_url}/registrations", json=application, timeout=60)
    assert response.status_code in (200, 201, 202), response.text
    registration_id: str = response.json()["registration_id"]
    return registration_id


def _verification_code(stack: DevStack, recipient: str) -> str:
    """The code in the verification mail (the embedded mode's mailbox is the outbox table)."""

    async def read() -> str:
        engine = create_engine(f"sqlite:///{stack.data_dir}/aos.db")
        try:
            for _ in range(30):  # the portal worker sends it when it gets to it
                try:
                    mail = await last_mail_to(create_session_factory(engine), recipient)
                    return code_in(mail.body)
                except AssertionError:
                    await asyncio.sleep(1)
            raise AssertionError(f"no mail to {recipient}:\n{stack.tail()}")
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _another_application(n: int) -> dict[str, str]:
    return {
        **APPLICATION,
        "vat_id": f"NL12345678{n}B01",
        "contact_email": f"owner-{n}@garage.example",
        "company_name": f"Garage {n}",
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """One `make dev` for the tests here (each starts in seconds only once); every test leaves
    it running and healthy, and SIGTERM stops it cleanly at the end."""
    with dev_stack(tmp_path_factory.mktemp("dev") / "data", **QUICK_SUPERVISOR) as running:
        running.wait_ready(90)
        yield running
        print("\n".join(line for line in running.lines if line.startswith("make dev:")))
        assert running.stop(signal.SIGTERM) == 0, running.tail()


def test_killed_and_frozen_temporal_come_back_and_the_flows_carry_on(stack: DevStack) -> None:
    stack.wait_ready(60)
    before = _another_application(1)
    registration_id = _register(stack, before)
    code = _verification_code(stack, before["contact_email"])

    temporal = stack.part(*TEMPORAL)
    os.kill(temporal, signal.SIGKILL)
    stack.wait_for_line("temporal exited with code -9; starting it again", 10)
    temporal = stack.wait_for_part(TEMPORAL, other_than=temporal, seconds=20)
    stack.wait_ready(60)

    # The registration started before the kill takes its next step after it.
    verified = httpx.post(
        f"{stack.api_url}/registrations/{registration_id}/email-verification",
        json={"code": code},
        timeout=60,
    )
    assert verified.status_code == 200, f"{verified.text}\n{stack.tail()}"
    assert verified.json()["state"] == "email_verified"

    # Frozen (SIGSTOP): it still holds its port, but no longer answers. The supervisor counts
    # failed checks of a restarted part only once it has answered (or after a start grace).
    stack.wait_for_line("temporal answers its health check", 60, count=2)
    os.kill(temporal, signal.SIGSTOP)
    stack.wait_for_line("temporal is not answering its health check", 30)
    stack.wait_for_part(TEMPORAL, other_than=temporal, seconds=20)
    stack.wait_ready(60)

    # A new flow starts and runs its first activity.
    after = _another_application(2)
    _register(stack, after)
    assert _verification_code(stack, after["contact_email"])


def test_a_killed_api_and_portal_worker_come_back(stack: DevStack) -> None:
    stack.wait_ready(60)
    api, portal_worker = stack.part(*API), stack.part(*PORTAL_WORKER)
    os.kill(api, signal.SIGKILL)
    os.kill(portal_worker, signal.SIGKILL)
    stack.wait_for_line("api exited with code -9; starting it again", 10)
    stack.wait_for_line("portal-worker exited with code -9; starting it again", 10)
    stack.wait_for_part(API, other_than=api, seconds=20)
    stack.wait_for_part(PORTAL_WORKER, other_than=portal_worker, seconds=20)
    stack.wait_ready(60)

    # The new API accepts a flow and the new portal worker runs it.
    application = _another_application(3)
    _register(stack, application)
    assert _verification_code(stack, application["contact_email"])


def test_a_killed_gateway_and_station_worker_come_back_and_the_station_polls_again(
    stack: DevStack,
) -> None:
    stack.wait_ready(60)
    gateway, station = stack.part(*GATEWAY), stack.part(*STATION_WORKER)
    os.kill(gateway, signal.SIGKILL)
    os.kill(station, signal.SIGKILL)
    stack.wait_for_line("gateway exited with code -9; starting it again", 10)
    stack.wait_for_line("station-worker exited with code -9; starting it again", 10)
    stack.wait_for_part(GATEWAY, other_than=gateway, seconds=20)
    stack.wait_for_part(STATION_WORKER, other_than=station, seconds=20)
    killed_at = datetime.now(UTC)

    async def polled_since_the_kill() -> bool:
        client = await Client.connect(f"127.0.0.1:{stack.temporal_port}")
        return bool(await until_polled(client, "station-demo-1", 30, since=killed_at))

    assert asyncio.run(polled_since_the_kill()), stack.tail()
