"""A local activity as a workflow's history records it, read once for every reader of histories
(the operators' timeline, the programming report).

A local activity runs inside the workflow task of the worker that runs the workflow, so its
history holds no scheduled, started and ended events for it: one marker (`core_local_activity`)
with its type, attempt and times as JSON (`data`), and its result (`result`, encoded by the
payload codec like any other payload) or its failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.converter import DataConverter

LOCAL_ACTIVITY_MARKER = "core_local_activity"


@dataclass(frozen=True)
class LocalActivityRun:
    activity_type: str
    attempt: int
    scheduled_at: datetime | None
    ended_at: datetime | None
    # Still encoded: a reader that needs the result decodes it (`first_value`).
    result: Payloads | None
    failure: BaseException | None


async def local_activity_run(
    event: HistoryEvent, converter: DataConverter
) -> LocalActivityRun | None:
    """The local activity `event` records; None for any other event."""
    if event.WhichOneof("attributes") != "marker_recorded_event_attributes":
        return None
    marker = event.marker_recorded_event_attributes
    if marker.marker_name != LOCAL_ACTIVITY_MARKER:
        return None
    data = await first_value(converter, marker.details["data"])
    data = data if isinstance(data, dict) else {}
    failure = None
    if marker.HasField("failure"):
        failure = await decoded_failure(converter, marker.failure)
    return LocalActivityRun(
        activity_type=str(data.get("activity_type", "")),
        attempt=int(data.get("attempt") or 1),
        scheduled_at=_time(data.get("original_schedule_time")),
        ended_at=_time(data.get("complete_time")),
        result=marker.details.get("result"),
        failure=failure,
    )


async def first_value(converter: DataConverter, payloads: Payloads | None) -> Any:
    """The first value of a history's payloads (a start's input, an activity's result),
    decoded through `converter` (its payload codec included); None when there is none."""
    if payloads is None or not payloads.payloads:
        return None
    values = await converter.decode(payloads.payloads)
    return values[0] if values else None


async def decoded_failure(converter: DataConverter, failure: Failure) -> BaseException:
    """A history's failure as the exception it was raised as (its message and details are
    encoded with the payloads), decoded from a copy: the history stays as it was fetched."""
    copy = Failure()
    copy.CopyFrom(failure)
    return await converter.decode_failure(copy)


def _time(value: Any) -> datetime | None:
    """A protobuf Timestamp as the marker's JSON holds it: {"seconds": …, "nanos": …}."""
    if not isinstance(value, dict) or "seconds" not in value:
        return None
    return datetime.fromtimestamp(int(value["seconds"]) + int(value.get("nanos", 0)) / 1e9, UTC)
