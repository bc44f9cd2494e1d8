"""A worker started as operators start it (`python worker.py portal`) with
AOS_WORKER_METRICS_ADDRESS serves the Temporal SDK's Prometheus metrics there, labelled with its
task queue, the workflows and the activities it ran."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from settings import Settings
from testkit.serving import free_port
from tests.accounts_helpers import APPLICATION, last_mail_to

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[1]


async def _metrics(url: str, worker: asyncio.subprocess.Process, *wanted: str) -> str:
    """The metrics page once it holds every `wanted` line fragment (up to ~15 s)."""
    text = ""
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(150):
            if worker.returncode is not None:
                raise AssertionError(f"the worker exited with code {worker.returncode}")
            try:
                text = (await client.get(url)).text
            except httpx.HTTPError:
                text = ""
            if all(fragment in text for fragment in wanted):
                return text
            await asyncio.sleep(0.1)
    missing = [fragment for fragment in wanted if fragment not in text]
    raise AssertionError(f"{url} lacks {missing}:\n{text[-3000:]}")


def _samples(text: str, name: str, *labels: str) -> list[str]:
    """The sample lines of metric `name` carrying every one of `labels`."""
    return [
        line
        for line in text.splitlines()
        if line.startswith(name) and line[len(name)] in "{ " and all(la in line for la in labels)
    ]


@pytest.fixture
async def portal_worker_process(
    settings: Settings, tmp_path: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """`python worker.py portal` on this test's queue and database, serving metrics."""
    address = f"127.0.0.1:{free_port()}"
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "AOS_DATABASE_URL": settings.database_url,
        "AOS_DATA_DIR": str(settings.data_dir),
        "AOS_TEMPORAL_ADDRESS": settings.temporal_address,
        "AOS_PORTAL_TASK_QUEUE": settings.portal_task_queue,
        "AOS_WORKER_METRICS_ADDRESS": address,
    }
    with log.open("wb") as output:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "worker.py", "portal", cwd=ROOT, env=env, stdout=output, stderr=output
        )
    try:
        yield worker, address
    finally:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(worker.wait(), timeout=30)
            except TimeoutError:
                worker.kill()
                await worker.wait()
    assert worker.returncode == 0, log.read_text()[-4000:]


async def test_the_portal_worker_serves_temporal_sdk_metrics(
    portal_worker_process: tuple[asyncio.subprocess.Process, str],
    api_client: httpx.AsyncClient,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    dev_env: WorkflowEnvironment,
) -> None:
    worker, address = portal_worker_process
    url = f"http://{address}/metrics"
    queue = f'task_queue="{settings.portal_task_queue}"'

    # Polling alone: the worker's slots on its own queue.
    polling = await _metrics(url, worker, "temporal_worker_task_slots_available{", queue)
    assert "# TYPE temporal_worker_task_slots_available gauge" in polling
    for kind in ("WorkflowWorker", "ActivityWorker"):
        assert _samples(
            polling, "temporal_worker_task_slots_available", queue, f'worker_type="{kind}"'
        ), polling

    # One registration through the API: its workflow and its first activity (the code mail)
    # run in the worker process, which writes the mail to this test's database.
    applied = await api_client.post("/registrations", json=APPLICATION)
    assert applied.status_code == 201, applied.text
    await last_mail_to(session_factory, APPLICATION["contact_email"])
    text = await _metrics(
        url,
        worker,
        'activity_type="send_mail"',
        'workflow_type="RegistrationWorkflow"',
        'operation="RespondActivityTaskCompleted"',
    )
    assert _samples(
        text, "temporal_activity_execution_latency_count", 'activity_type="send_mail"', queue
    )
    assert _samples(
        text,
        "temporal_workflow_task_execution_latency_count",
        'workflow_type="RegistrationWorkflow"',
        queue,
    )
    completed = 'operation="RespondActivityTaskCompleted"'
    assert _samples(text, "temporal_request", completed), text[-3000:]
    assert _samples(text, "temporal_long_request", 'operation="PollWorkflowTaskQueue"', queue)

    handle = dev_env.client.get_workflow_handle(f"registration-{applied.json()['registration_id']}")
    await handle.terminate("test finished")
