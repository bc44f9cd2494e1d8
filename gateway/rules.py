"""What a station may put in the calls it is allowed, and what the gateway writes over.

A station chooses every field of its requests, so each allowed call is checked against the
authenticated station: its namespace is the configured one, the queue it names is its own
(`<prefix><station id>`, kind NORMAL), and fields that would reach beyond its own queue are
refused. Versioning fields are refused too: a station's worker is unversioned, and a poll with
`deployment_options` would create worker deployments in the namespace. The identity it claims
is replaced by the station's, so every history event names the station that really ran the
attempt. Task tokens are checked by `tokens.TaskTokens`.
"""

from __future__ import annotations

import grpc
from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.api.worker.v1 import WorkerHeartbeat
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeNamespaceResponse,
    PollActivityTaskQueueRequest,
    RecordActivityTaskHeartbeatRequest,
    RecordWorkerHeartbeatRequest,
    RespondActivityTaskCanceledRequest,
    RespondActivityTaskCompletedRequest,
    RespondActivityTaskFailedRequest,
    ShutdownWorkerRequest,
)

from gateway.config import GatewayConfig

TaskAnswer = (
    RecordActivityTaskHeartbeatRequest
    | RespondActivityTaskCompletedRequest
    | RespondActivityTaskFailedRequest
    | RespondActivityTaskCanceledRequest
)


class Refused(Exception):
    """A call the gateway does not forward: the status the station gets, and why."""

    def __init__(self, code: grpc.StatusCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _unversioned(
    request: PollActivityTaskQueueRequest
    | RespondActivityTaskCompletedRequest
    | RespondActivityTaskFailedRequest
    | RespondActivityTaskCanceledRequest,
) -> None:
    """Station workers are not versioned, and the pinned SDK sends no deployment options
    unless told to. A poll with them registers a worker deployment (and version) in the
    namespace, one per name a station makes up; an answer with them names one."""
    if request.HasField("deployment_options"):
        raise Refused(
            grpc.StatusCode.PERMISSION_DENIED,
            "deployment_options are not allowed: a station's worker is not versioned",
        )


def identity_of(station_id: str) -> str:
    return f"station:{station_id}"


class Rules:
    def __init__(self, config: GatewayConfig) -> None:
        self._config = config

    def namespace(self, namespace: str) -> None:
        if namespace != self._config.namespace:
            raise Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                f"namespace {namespace!r} is not this gateway's namespace",
            )

    def queue(self, station_id: str, name: str) -> None:
        if name != self._config.task_queue_of(station_id):
            raise Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                f"task queue {name!r} is not this station's queue "
                f"{self._config.task_queue_of(station_id)!r}",
            )

    def describe_namespace(self, request: DescribeNamespaceRequest) -> None:
        if request.id:
            raise Refused(grpc.StatusCode.PERMISSION_DENIED, "describe the namespace by name")
        self.namespace(request.namespace)

    def poll(self, station_id: str, request: PollActivityTaskQueueRequest) -> None:
        self.namespace(request.namespace)
        self.queue(station_id, request.task_queue.name)
        if request.task_queue.kind != TaskQueueKind.TASK_QUEUE_KIND_NORMAL:
            raise Refused(grpc.StatusCode.PERMISSION_DENIED, "only a normal task queue")
        if request.task_queue.normal_name:
            raise Refused(grpc.StatusCode.PERMISSION_DENIED, "no normal_name on a normal queue")
        # Both would direct server traffic to queues of the station's choosing; the pinned SDK
        # sets neither.
        if request.worker_control_task_queue or request.poller_group_id:
            raise Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                "worker_control_task_queue and poller_group_id are not allowed",
            )
        _unversioned(request)
        capabilities = request.worker_version_capabilities
        if capabilities.use_versioning or capabilities.deployment_series_name:
            raise Refused(grpc.StatusCode.PERMISSION_DENIED, "a station's worker is not versioned")
        request.identity = identity_of(station_id)

    def task_answer(self, station_id: str, request: TaskAnswer) -> None:
        self.namespace(request.namespace)
        if not isinstance(request, RecordActivityTaskHeartbeatRequest):
            _unversioned(request)
            if request.HasField("deployment") or request.worker_version.use_versioning:
                raise Refused(
                    grpc.StatusCode.PERMISSION_DENIED, "a station's worker is not versioned"
                )
        request.identity = identity_of(station_id)
        # Routing hint for multi-cell clusters; the SDK does not set it, a station must not.
        request.resource_id = ""

    def worker(
        self, station_id: str, request: RecordWorkerHeartbeatRequest | ShutdownWorkerRequest
    ) -> None:
        self.namespace(request.namespace)
        request.identity = identity_of(station_id)
        if isinstance(request, ShutdownWorkerRequest):
            # An activity-only worker has no sticky queue; naming one would unload another
            # worker's workflow cache.
            if request.sticky_task_queue:
                raise Refused(grpc.StatusCode.PERMISSION_DENIED, "a station has no sticky queue")
            self.queue(station_id, request.task_queue)  # the SDK always names its queue
            heartbeats: list[WorkerHeartbeat] = (
                [request.worker_heartbeat] if request.HasField("worker_heartbeat") else []
            )
        else:
            heartbeats = list(request.worker_heartbeat)
        for heartbeat in heartbeats:
            self.queue(station_id, heartbeat.task_queue)
            if heartbeat.deployment_version.deployment_name:
                raise Refused(
                    grpc.StatusCode.PERMISSION_DENIED, "a station's worker is not versioned"
                )
            heartbeat.worker_identity = identity_of(station_id)

    @staticmethod
    def trim_namespace(response: DescribeNamespaceResponse) -> None:
        """Keep what a worker needs (name, id, state, capabilities), not the operator's setup."""
        response.ClearField("config")
        response.ClearField("replication_config")
        response.ClearField("failover_history")
        info = response.namespace_info
        info.description = ""
        info.owner_email = ""
        info.ClearField("data")
