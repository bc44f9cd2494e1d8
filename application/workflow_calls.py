"""Calling workflows from request handlers.

The server may abort an update it could not deliver in time (busy worker, workflow task
retried): it answers UNAVAILABLE, "workflow update was aborted"; with too many updates of one
workflow in flight it answers RESOURCE_EXHAUSTED. Such an update was not applied, and retrying
it is safe because every attempt carries the same update id, which the server
deduplicates: a step is never applied twice, however often it is sent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, Field
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import PollerInfo, TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from application.authorization import ensure_workshop_access
from contracts import search_attributes
from db.models import Station, User
from domain.errors import DomainError, NotFound
from domain.service_history import StationOffline
from settings import Settings

UPDATE_ATTEMPTS = 6
# Aborted (UNAVAILABLE), or refused while the workflow has its limit of updates in flight
# (RESOURCE_EXHAUSTED, 10 on the dev server: many clients stepping one flow at once).
RETRIED_UPDATE_STATUSES = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.RESOURCE_EXHAUSTED)

Result = TypeVar("Result")


async def execute_update(
    handle: WorkflowHandle[Any, Any], update: str, argument: Any, result_type: type[Result]
) -> Result:
    """`handle.execute_update(update, argument)` by the update's name in `contracts`, retried
    while the server aborts it."""
    update_id = str(uuid.uuid4())
    for attempt in range(UPDATE_ATTEMPTS):
        try:
            return await handle.execute_update(
                update, argument, id=update_id, result_type=result_type
            )
        except RPCError as error:
            if error.status not in RETRIED_UPDATE_STATUSES or attempt == UPDATE_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.1 * 2**attempt)
    raise AssertionError("unreachable")


async def describe_or_absent(
    temporal: Client, workflow_id: str, absent: NotFound
) -> WorkflowExecutionDescription:
    """The workflow's description; `absent` (the caller's own not-found error) when the server
    does not know it. Other server errors stay what they are (a 503, not "no such thing")."""
    try:
        return await temporal.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        raise absent from error


async def describe_visible(
    temporal: Client, user: User, workflow_id: str, what: str, field: str
) -> WorkflowExecutionDescription:
    """The workflow, if the caller's workshop is the one in its `WorkshopId` (administrators:
    any). Unknown and foreign workflows answer the same 404, so existence does not leak."""
    absent = NotFound(f"no {what} with this id", field=field)
    description = await describe_or_absent(temporal, workflow_id, absent)
    workshop_id = description.typed_search_attributes.get(search_attributes.WORKSHOP_ID)
    ensure_workshop_access(user, workshop_id, absent)
    return description


class StationStatus(BaseModel):
    station_id: str
    online: bool | None = Field(description="None when the Temporal server cannot tell")
    last_seen: datetime | None


# A worker that polled within this window counts as online.
POLLER_FRESHNESS = timedelta(minutes=2)


async def task_queue_pollers(
    temporal: Client,
    task_queue: str,
    kind: TaskQueueType.ValueType = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
) -> Sequence[PollerInfo]:
    """The workers the server has seen poll `task_queue` lately (activity tasks unless `kind`).

    Raises UNIMPLEMENTED on Temporal's time-skipping test server, which cannot tell.
    """
    response = await temporal.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=temporal.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=kind,
        ),
        # Raw service calls are not retried unless asked; the client's own calls are.
        # Unretried, a connection the server recycles (GOAWAY) under the call came back as
        # CANCELLED "operation was canceled" and a 503 in a CI run.
        retry=True,
    )
    return response.pollers


async def station_status(temporal: Client, settings: Settings, station_id: str) -> StationStatus:
    """Online when the station's worker polled its activity queue recently (Temporal knows)."""
    try:
        pollers = await task_queue_pollers(temporal, settings.station_task_queue(station_id))
    except RPCError as error:
        if error.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        # Temporal's time-skipping test server cannot tell; real servers always can.
        return StationStatus(station_id=station_id, online=None, last_seen=None)
    seen = [poller.last_access_time.ToDatetime(tzinfo=UTC) for poller in pollers]
    last_seen = max(seen) if seen else None
    online = last_seen is not None and datetime.now(UTC) - last_seen < POLLER_FRESHNESS
    return StationStatus(station_id=station_id, online=online, last_seen=last_seen)


class StationNotKnownYet(DomainError):
    """Temporal lists no worker of the station, yet one polled through the gateway lately.

    Its problem type is the one of any moment Temporal cannot answer (`web.problems`)."""

    code = "workflow-unavailable"
    title = "The workflow could not answer"
    kind = "unavailable"


# After a Temporal restart the station's worker polls again within seconds, unless the
# gateway's connection to the frontend is still backing off (measured: up to ~25 s after an
# outage of 25 s). Clients ask again after this long.
STATION_NOT_KNOWN_YET_RETRY_AFTER = 5
STATION_NOT_KNOWN_YET_HEADER = (
    "Seconds after which to ask again, on a 503 while Temporal does not know the station's "
    "worker yet"
)


async def ensure_station_online(temporal: Client, settings: Settings, station: Station) -> None:
    """Refuse at once (409 `station-offline`) work for a station whose worker does not poll,
    instead of starting a flow that would wait for the station until its timeout.

    Temporal keeps its list of a queue's pollers in memory: for a while after it restarted it
    lists none, although the station's worker runs and polls again soon. Clients take a 409
    as final, so that moment must not be one. Temporal cannot say how long it has been up, but
    the station gateway, which every station polls through, notes the polls it takes
    (`stations.last_polled_at`, also while the frontend is away). So when Temporal lists no
    poller at all but the gateway took one within `POLLER_FRESHNESS` (Temporal's own window
    for "online"), the answer is 503 `workflow-unavailable` with `Retry-After`: not known yet.
    With neither, the station is offline.
    """
    status = await station_status(temporal, settings, station.id)
    if status.online is not False:
        return
    polled_at = station.last_polled_at
    if (
        status.last_seen is None
        and polled_at is not None
        and datetime.now(UTC) - polled_at < POLLER_FRESHNESS
    ):
        raise StationNotKnownYet(
            f"Temporal does not list the worker of station {station.id} among its pollers yet, "
            f"though it polled through the station gateway at {polled_at.isoformat()}: Temporal "
            "has just restarted or the gateway cannot reach it. Try again shortly.",
            field="station_id",
            retry_after=STATION_NOT_KNOWN_YET_RETRY_AFTER,
        )
    raise StationOffline(
        f"station {station.id} has no worker running: start "
        f"`worker.py station --station-id {station.id}` on the PC wired to the car",
        field="station_id",
    )
