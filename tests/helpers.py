"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import PollerInfo
from temporalio.client import Client

from application.workflow_calls import station_status, task_queue_pollers
from settings import Settings


async def until_polling(client: Client, settings: Settings, station_id: str) -> None:
    """Until the server has seen the station's worker poll its queue: the API refuses work for
    a station without a worker (`station-offline`), and a worker that has just started may not
    have polled yet."""
    for _ in range(200):
        # None: the time-skipping server cannot tell, and the API then does not refuse either
        if (await station_status(client, settings, station_id)).online is not False:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no worker polls the queue of station {station_id}")


async def until_polled(
    client: Client,
    task_queue: str,
    seconds: float,
    since: datetime | None = None,
    kind: TaskQueueType.ValueType = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
) -> list[PollerInfo]:
    """The pollers of `task_queue` once one has polled (after `since`, if given); none when
    `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while True:
        found = [
            poller
            for poller in await task_queue_pollers(client, task_queue, kind)
            if since is None or poller.last_access_time.ToDatetime(UTC) > since
        ]
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)
