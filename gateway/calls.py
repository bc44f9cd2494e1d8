"""The calls a station may make: exactly those an activity-only worker of the pinned SDK makes.

Recorded through the gateway with temporalio 1.35.0 against the dev server (Temporal 1.32):
a `temporalio.worker.Worker(client, task_queue=..., activities=[...])` running an activity
that completes, heartbeats and retries, fails with details, is cancelled, and shutting down:

    GetSystemInfo                  Client.connect
    DescribeNamespace              worker validation at start (its own namespace)
    PollActivityTaskQueue          long polls of the worker's queue
    RecordActivityTaskHeartbeat    activity.heartbeat()
    RespondActivityTaskCompleted   an activity's result
    RespondActivityTaskFailed      an exception (also the answer after a cancel was lost)
    RespondActivityTaskCanceled    an activity that ended on cancellation
    RecordWorkerHeartbeat          worker heartbeats (every 60 s by default)
    ShutdownWorker                 graceful shutdown

Every other method of the service, and every method of every other service, is refused. The
handlers are built from this table (request/response classes by the service's naming rule),
not from the service descriptor: `service_pb2` needs googleapis-common-protos, which the SDK
does not install, and a catch-all refusal needs no list of what it refuses.
"""

from __future__ import annotations

from enum import Enum

from google.protobuf.message import Message
from temporalio.api.workflowservice import v1 as workflowservice

SERVICE = "temporal.api.workflowservice.v1.WorkflowService"


class Kind(Enum):
    """What the gateway has to check and rewrite for a call."""

    SYSTEM = "system"  # no station data in it
    NAMESPACE = "namespace"  # names a namespace: must be the configured one
    POLL = "poll"  # a poll of the station's queue; its answer hands out a task token
    TASK = "task"  # carries a task token the gateway handed to this station
    FINAL = "final"  # like TASK, and the token is spent once the call succeeds
    WORKER = "worker"  # worker bookkeeping naming the station's queue


ALLOWED: dict[str, Kind] = {
    "GetSystemInfo": Kind.SYSTEM,
    "DescribeNamespace": Kind.NAMESPACE,
    "PollActivityTaskQueue": Kind.POLL,
    "RecordActivityTaskHeartbeat": Kind.TASK,
    "RespondActivityTaskCompleted": Kind.FINAL,
    "RespondActivityTaskFailed": Kind.FINAL,
    "RespondActivityTaskCanceled": Kind.FINAL,
    "RecordWorkerHeartbeat": Kind.WORKER,
    "ShutdownWorker": Kind.WORKER,
}


def request_class(method: str) -> type[Message]:
    cls: type[Message] = getattr(workflowservice, f"{method}Request")
    return cls


def response_class(method: str) -> type[Message]:
    cls: type[Message] = getattr(workflowservice, f"{method}Response")
    return cls


def path(method: str) -> str:
    return f"/{SERVICE}/{method}"


def call_name(full_path: str) -> str:
    """The method's name for WorkflowService calls, the whole path for anything else."""
    prefix = f"/{SERVICE}/"
    return full_path[len(prefix) :] if full_path.startswith(prefix) else full_path


# Fail at import, not at the first station's call, if the SDK's protos lost a message.
for _method in ALLOWED:
    request_class(_method)
    response_class(_method)
