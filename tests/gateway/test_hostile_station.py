"""A station with a valid token tries everything an activity worker does not need.

The attacker is station A; the victim is station B, whose activity is running (blocked) in
its own worker through the same gateway. Every attempt, through temporalio's `Client` and
through raw gRPC, must be refused with the right status, logged on `gateway.audit`, never
reach the frontend, and leave B's workflow history as it was.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from temporalio.api.common.v1 import (
    Payloads,
    WorkerVersionCapabilities,
    WorkerVersionStamp,
    WorkflowExecution,
    WorkflowType,
)
from temporalio.api.deployment.v1 import (
    Deployment,
    WorkerDeploymentOptions,
    WorkerDeploymentVersion,
)
from temporalio.api.enums.v1 import EventType, TaskQueueKind, WorkerVersioningMode
from temporalio.api.failure.v1 import Failure
from temporalio.api.query.v1 import WorkflowQuery
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.worker.v1 import WorkerHeartbeat
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    GetWorkflowExecutionHistoryRequest,
    ListWorkerDeploymentsRequest,
    ListWorkflowExecutionsRequest,
    PollActivityTaskQueueRequest,
    PollWorkflowTaskQueueRequest,
    QueryWorkflowRequest,
    RecordActivityTaskHeartbeatByIdRequest,
    RecordActivityTaskHeartbeatRequest,
    RecordWorkerHeartbeatRequest,
    RespondActivityTaskCanceledRequest,
    RespondActivityTaskCompletedByIdRequest,
    RespondActivityTaskCompletedRequest,
    RespondActivityTaskFailedRequest,
    ShutdownWorkerRequest,
    SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
    TerminateWorkflowExecutionRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from gateway import Gateway
from gateway.certificates import GatewayCertificates
from tests.gateway.support import (
    CAPTURED,
    FrontendTap,
    StationJobWorkflow,
    Stations,
    bearer,
    method_path,
    opened,
    raw_channel,
    station_client,
    station_worker,
)

NAMESPACE = "default"


def _server_task_token_class() -> type[Message]:
    """The server's task token (temporal.server.api.token.v1.Task), which the SDK does not
    ship: the fields an attacker needs, declared here. The clock and time fields are kept as
    opaque bytes; a token without them is still accepted by the server (checked below)."""
    file = descriptor_pb2.FileDescriptorProto(
        name="gateway_tests/server_token.proto",
        package="temporal.server.api.token.v1",
        syntax="proto3",
    )
    task = file.message_type.add(name="Task")
    string, int64, int32, raw = (
        descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
        descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
        descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
    )
    for number, name, kind in [
        (1, "namespace_id", string),
        (2, "workflow_id", string),
        (3, "run_id", string),
        (4, "scheduled_event_id", int64),
        (5, "attempt", int32),
        (6, "activity_id", string),
        (7, "workflow_type", string),
        (8, "activity_type", string),
        (9, "clock", raw),
        (10, "started_event_id", int64),
        (11, "version", int64),
        (12, "started_time", raw),
    ]:
        task.field.add(
            name=name,
            number=number,
            type=kind,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("temporal.server.api.token.v1.Task")
    )


ServerTaskToken = _server_task_token_class()


@dataclass
class Victim:
    station_id: str
    handle: WorkflowHandle[Any, Any]
    run_id: str
    stolen_token: bytes
    history_before: list[EventType.ValueType]

    async def history(self) -> list[EventType.ValueType]:
        return [event.event_type for event in (await self.handle.fetch_history()).events]

    async def assert_unchanged(self) -> None:
        assert await self.history() == self.history_before


@dataclass
class Attacker:
    station_id: str
    token: str
    client: Client
    channel: grpc.aio.Channel


@pytest.fixture
async def victim(
    dev_env: WorkflowEnvironment,
    gateway: Gateway,
    stations: Stations,
    gateway_certificates: GatewayCertificates,
    portal_queue: str,
) -> AsyncIterator[Victim]:
    """Station B, its activity running in its own worker through the gateway."""
    station_id = f"victim-{uuid.uuid4().hex[:8]}"
    token = stations.issue(station_id)
    workflow_id = f"victim-{uuid.uuid4()}"
    async with station_worker(gateway.port, token, gateway_certificates.ca_certificate, station_id):
        handle = await dev_env.client.start_workflow(
            StationJobWorkflow.run,
            args=[f"station-{station_id}", "block", {"secret": "victim"}],
            id=workflow_id,
            task_queue=portal_queue,
        )
        await CAPTURED.started_event(workflow_id).wait()
        history = [event.event_type for event in (await handle.fetch_history()).events]
        assert history[-1] == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        yield Victim(
            station_id=station_id,
            handle=handle,
            run_id=handle.result_run_id or "",
            stolen_token=CAPTURED.task_tokens[workflow_id],
            history_before=history,
        )
        await handle.terminate("test over")


@pytest.fixture
async def attacker(
    gateway: Gateway, stations: Stations, gateway_certificates: GatewayCertificates
) -> AsyncIterator[Attacker]:
    station_id = f"attacker-{uuid.uuid4().hex[:8]}"
    token = stations.issue(station_id)
    ca = gateway_certificates.ca_certificate
    client = await station_client(gateway.port, token, ca)
    channel = raw_channel(gateway.port, ca)
    yield Attacker(station_id=station_id, token=token, client=client, channel=channel)
    await channel.close()


async def refused(
    attempt: Awaitable[object],
    code: RPCStatusCode,
    call: str,
    gateway: Gateway,
    audit: pytest.LogCaptureFixture,
    station: str | None,
) -> None:
    """The attempt fails with `code`, naming the call; one audit line; nothing forwarded."""
    audit.clear()
    forwarded_before = sum(gateway.forwarded.values())
    with pytest.raises((RPCError, grpc.aio.AioRpcError)) as caught:
        await attempt
    error = caught.value
    if isinstance(error, RPCError):
        assert error.status == code, error
        assert call in error.message
    else:
        assert isinstance(error, grpc.aio.AioRpcError)
        assert error.code().value[0] == code.value, error
        assert call in (error.details() or "")
    lines = [r for r in audit.records if r.name == "gateway.audit"]
    assert [(r.__dict__["station"], r.__dict__["call"]) for r in lines] == [(station, call)]
    assert sum(gateway.forwarded.values()) == forwarded_before


async def raw_call(
    attacker: Attacker, method: str, request: Message | bytes, token: str | None = None
) -> bytes:
    """A call as raw gRPC with the attacker's (or the given) token, started when awaited."""
    multi: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = attacker.channel.unary_unary(
        method_path(method)
    )
    data = request if isinstance(request, bytes) else request.SerializeToString()
    return await multi(data, metadata=bearer(token or attacker.token), timeout=10)


async def test_polls_of_other_queues_and_workflow_tasks_are_refused(
    gateway: Gateway, victim: Victim, attacker: Attacker, audit: pytest.LogCaptureFixture
) -> None:
    denied = RPCStatusCode.PERMISSION_DENIED
    service = attacker.client.workflow_service
    own = f"station-{attacker.station_id}"

    def poll(
        queue: str,
        kind: TaskQueueKind.ValueType = TaskQueueKind.TASK_QUEUE_KIND_NORMAL,
        namespace: str = NAMESPACE,
        control_queue: str = "",
    ) -> PollActivityTaskQueueRequest:
        return PollActivityTaskQueueRequest(
            namespace=namespace,
            task_queue=TaskQueue(name=queue, kind=kind),
            worker_control_task_queue=control_queue,
        )

    cases: list[tuple[str, Message]] = [
        ("PollActivityTaskQueue", poll(f"station-{victim.station_id}")),
        ("PollActivityTaskQueue", poll(own, TaskQueueKind.TASK_QUEUE_KIND_STICKY)),
        ("PollActivityTaskQueue", poll(own, namespace="other")),
        ("PollActivityTaskQueue", poll(own, control_queue="portal")),
        (
            "PollWorkflowTaskQueue",
            PollWorkflowTaskQueueRequest(namespace=NAMESPACE, task_queue=TaskQueue(name=own)),
        ),
    ]
    for call, request in cases:
        await refused(
            raw_call(attacker, call, request), denied, call, gateway, audit, attacker.station_id
        )
    sdk_attempts: list[tuple[str, Awaitable[object]]] = [
        ("PollActivityTaskQueue", service.poll_activity_task_queue(cases[0][1])),  # type: ignore[arg-type]
        ("PollWorkflowTaskQueue", service.poll_workflow_task_queue(cases[-1][1])),  # type: ignore[arg-type]
    ]
    for call, attempt in sdk_attempts:
        await refused(attempt, denied, call, gateway, audit, attacker.station_id)
    await victim.assert_unchanged()


async def test_workflow_calls_are_refused(
    gateway: Gateway, victim: Victim, attacker: Attacker, audit: pytest.LogCaptureFixture
) -> None:
    denied = RPCStatusCode.PERMISSION_DENIED
    handle = attacker.client.get_workflow_handle(victim.handle.id)
    sdk_attempts: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        (
            "StartWorkflowExecution",
            lambda: attacker.client.start_workflow(
                "GatewayTestWorkflow", id=f"evil-{uuid.uuid4()}", task_queue="portal"
            ),
        ),
        ("SignalWorkflowExecution", lambda: handle.signal("anything")),
        ("TerminateWorkflowExecution", lambda: handle.terminate("evil")),
        ("RequestCancelWorkflowExecution", lambda: handle.cancel()),
        ("QueryWorkflow", lambda: handle.query("anything")),
        ("DescribeWorkflowExecution", lambda: handle.describe()),
        ("GetWorkflowExecutionHistory", lambda: handle.fetch_history()),
        ("ListWorkflowExecutions", lambda: _first(attacker.client.list_workflows())),
    ]
    for call, attempt in sdk_attempts:
        await refused(attempt(), denied, call, gateway, audit, attacker.station_id)

    execution = WorkflowExecution(workflow_id=victim.handle.id, run_id=victim.run_id)
    raw_attempts: list[tuple[str, Message]] = [
        (
            "StartWorkflowExecution",
            StartWorkflowExecutionRequest(
                namespace=NAMESPACE,
                workflow_id=f"evil-{uuid.uuid4()}",
                workflow_type=WorkflowType(name="GatewayTestWorkflow"),
                task_queue=TaskQueue(name="portal"),
            ),
        ),
        (
            "SignalWorkflowExecution",
            SignalWorkflowExecutionRequest(
                namespace=NAMESPACE, workflow_execution=execution, signal_name="x"
            ),
        ),
        (
            "TerminateWorkflowExecution",
            TerminateWorkflowExecutionRequest(namespace=NAMESPACE, workflow_execution=execution),
        ),
        (
            "QueryWorkflow",
            QueryWorkflowRequest(
                namespace=NAMESPACE, execution=execution, query=WorkflowQuery(query_type="x")
            ),
        ),
        ("ListWorkflowExecutions", ListWorkflowExecutionsRequest(namespace=NAMESPACE)),
        (
            "GetWorkflowExecutionHistory",
            GetWorkflowExecutionHistoryRequest(namespace=NAMESPACE, execution=execution),
        ),
    ]
    for call, request in raw_attempts:
        await refused(
            raw_call(attacker, call, request), denied, call, gateway, audit, attacker.station_id
        )
    # Other services are refused the same way, by their full path.
    operator = "/temporal.api.operatorservice.v1.OperatorService/ListSearchAttributes"
    multi: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = attacker.channel.unary_unary(operator)
    await refused(
        multi(b"", metadata=bearer(attacker.token)),
        denied,
        operator,
        gateway,
        audit,
        attacker.station_id,
    )
    await victim.assert_unchanged()


async def _first(iterator: Any) -> object:
    async for item in iterator:
        return item
    return None


async def test_by_id_calls_are_refused(
    gateway: Gateway, victim: Victim, attacker: Attacker, audit: pytest.LogCaptureFixture
) -> None:
    denied = RPCStatusCode.PERMISSION_DENIED
    handle = attacker.client.get_async_activity_handle(
        workflow_id=victim.handle.id, run_id=victim.run_id, activity_id="1"
    )
    sdk_attempts: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("RespondActivityTaskCompletedById", lambda: handle.complete({"forged": True})),
        ("RespondActivityTaskFailedById", lambda: handle.fail(RuntimeError("forged"))),
        ("RespondActivityTaskCanceledById", lambda: handle.report_cancellation()),
        ("RecordActivityTaskHeartbeatById", lambda: handle.heartbeat()),
    ]
    for call, attempt in sdk_attempts:
        await refused(attempt(), denied, call, gateway, audit, attacker.station_id)
    raw_attempts: list[tuple[str, Message]] = [
        (
            "RespondActivityTaskCompletedById",
            RespondActivityTaskCompletedByIdRequest(
                namespace=NAMESPACE, workflow_id=victim.handle.id, activity_id="1"
            ),
        ),
        (
            "RecordActivityTaskHeartbeatById",
            RecordActivityTaskHeartbeatByIdRequest(
                namespace=NAMESPACE, workflow_id=victim.handle.id, activity_id="1"
            ),
        ),
    ]
    for call, request in raw_attempts:
        await refused(
            raw_call(attacker, call, request), denied, call, gateway, audit, attacker.station_id
        )
    await victim.assert_unchanged()


async def test_forged_and_stolen_task_tokens_are_refused(
    dev_env: WorkflowEnvironment,
    gateway: Gateway,
    victim: Victim,
    attacker: Attacker,
    audit: pytest.LogCaptureFixture,
) -> None:
    direct = dev_env.client.workflow_service
    described = await direct.describe_namespace(DescribeNamespaceRequest(namespace=NAMESPACE))
    history = await victim.handle.fetch_history()
    scheduled = next(
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    )
    # Filled by field name: the class is built at run time, so no type stub knows its fields.
    forged = json_format.ParseDict(
        {
            "namespace_id": described.namespace_info.id,
            "workflow_id": victim.handle.id,
            "run_id": victim.run_id,
            "scheduled_event_id": scheduled.event_id,
            "attempt": 1,
            "activity_id": scheduled.activity_task_scheduled_event_attributes.activity_id,
            "activity_type": scheduled.activity_task_scheduled_event_attributes.activity_type.name,
        },
        ServerTaskToken(),
    ).SerializeToString()

    # The forgery is what the server issues, less its clock (the victim never saw it: it is
    # encrypted in the gateway's seal)...
    server_token = opened(gateway, victim.stolen_token, victim.station_id)
    stolen = ServerTaskToken.FromString(server_token)
    stolen.ClearField("clock")
    assert stolen.SerializeToString() == forged
    # ...and the frontend itself accepts it: a heartbeat adds no event to the history.
    await direct.record_activity_task_heartbeat(
        RecordActivityTaskHeartbeatRequest(namespace=NAMESPACE, task_token=forged, identity="t")
    )

    denied = RPCStatusCode.PERMISSION_DENIED
    service = attacker.client.workflow_service
    for token in (forged, victim.stolen_token, server_token):
        completed = RespondActivityTaskCompletedRequest(
            namespace=NAMESPACE, task_token=token, result=Payloads()
        )
        failed = RespondActivityTaskFailedRequest(
            namespace=NAMESPACE, task_token=token, failure=Failure(message="forged")
        )
        canceled = RespondActivityTaskCanceledRequest(namespace=NAMESPACE, task_token=token)
        heartbeat = RecordActivityTaskHeartbeatRequest(namespace=NAMESPACE, task_token=token)
        attempts: list[tuple[str, Awaitable[object]]] = [
            ("RespondActivityTaskCompleted", service.respond_activity_task_completed(completed)),
            ("RespondActivityTaskFailed", service.respond_activity_task_failed(failed)),
            ("RespondActivityTaskCanceled", service.respond_activity_task_canceled(canceled)),
            ("RecordActivityTaskHeartbeat", service.record_activity_task_heartbeat(heartbeat)),
            (
                "RespondActivityTaskCompleted",
                raw_call(attacker, "RespondActivityTaskCompleted", completed),
            ),
            (
                "RecordActivityTaskHeartbeat",
                raw_call(attacker, "RecordActivityTaskHeartbeat", heartbeat),
            ),
        ]
        for call, attempt in attempts:
            await refused(attempt, denied, call, gateway, audit, attacker.station_id)
    await victim.assert_unchanged()


async def test_a_task_token_is_refused_after_its_task_completed(
    dev_env: WorkflowEnvironment,
    gateway: Gateway,
    attacker: Attacker,
    gateway_certificates: GatewayCertificates,
    stations: Stations,
    portal_queue: str,
    audit: pytest.LogCaptureFixture,
) -> None:
    workflow_id = f"replay-{uuid.uuid4()}"
    ca = gateway_certificates.ca_certificate
    async with station_worker(gateway.port, attacker.token, ca, attacker.station_id):
        handle = await dev_env.client.start_workflow(
            StationJobWorkflow.run,
            args=[f"station-{attacker.station_id}", "complete", {}],
            id=workflow_id,
            task_queue=portal_queue,
        )
        await handle.result()
    events = [e.event_type for e in (await handle.fetch_history()).events]
    token = CAPTURED.task_tokens[workflow_id]
    request = RespondActivityTaskCompletedRequest(namespace=NAMESPACE, task_token=token)
    denied = RPCStatusCode.PERMISSION_DENIED
    call = "RespondActivityTaskCompleted"
    await refused(
        attacker.client.workflow_service.respond_activity_task_completed(request),
        denied,
        call,
        gateway,
        audit,
        attacker.station_id,
    )
    await refused(
        raw_call(attacker, call, request), denied, call, gateway, audit, attacker.station_id
    )
    assert [e.event_type for e in (await handle.fetch_history()).events] == events


async def test_calls_without_a_valid_token_are_refused(
    gateway: Gateway,
    victim: Victim,
    attacker: Attacker,
    stations: Stations,
    gateway_certificates: GatewayCertificates,
    audit: pytest.LogCaptureFixture,
) -> None:
    unauthenticated = RPCStatusCode.UNAUTHENTICATED
    call = "GetSystemInfo"
    multi: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = attacker.channel.unary_unary(
        method_path(call)
    )
    await refused(multi(b"", timeout=10), unauthenticated, call, gateway, audit, None)
    for header in ("Bearer not-a-token", f"Basic {attacker.token}", "Bearer "):
        attempt = multi(b"", metadata=(("authorization", header),), timeout=10)
        await refused(attempt, unauthenticated, call, gateway, audit, None)

    # The attacker's token replaced: the old one is refused, even to a connected client.
    old = attacker.token
    stations.issue(attacker.station_id)
    await refused(
        raw_call(attacker, call, b"", token=old), unauthenticated, call, gateway, audit, None
    )
    poll = PollActivityTaskQueueRequest(
        namespace=NAMESPACE,
        task_queue=TaskQueue(
            name=f"station-{attacker.station_id}", kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
        ),
    )
    await refused(
        attacker.client.workflow_service.poll_activity_task_queue(poll),
        unauthenticated,
        "PollActivityTaskQueue",
        gateway,
        audit,
        None,
    )
    with pytest.raises(RuntimeError, match=r"(?i)unauthenticated|token"):
        await station_client(gateway.port, old, gateway_certificates.ca_certificate)
    with pytest.raises(RuntimeError):
        await station_client(gateway.port, None, gateway_certificates.ca_certificate)
    await victim.assert_unchanged()


async def test_worker_bookkeeping_is_limited_to_the_own_queue(
    gateway: Gateway, victim: Victim, attacker: Attacker, audit: pytest.LogCaptureFixture
) -> None:
    denied = RPCStatusCode.PERMISSION_DENIED
    other = f"station-{victim.station_id}"
    attempts: list[tuple[str, Message]] = [
        (
            "RecordWorkerHeartbeat",
            RecordWorkerHeartbeatRequest(
                namespace=NAMESPACE, worker_heartbeat=[WorkerHeartbeat(task_queue=other)]
            ),
        ),
        ("ShutdownWorker", ShutdownWorkerRequest(namespace=NAMESPACE, task_queue=other)),
        ("ShutdownWorker", ShutdownWorkerRequest(namespace=NAMESPACE, worker_instance_key="k")),
        (
            "ShutdownWorker",
            ShutdownWorkerRequest(
                namespace=NAMESPACE,
                task_queue=f"station-{attacker.station_id}",
                sticky_task_queue="portal-sticky",
            ),
        ),
        ("DescribeNamespace", DescribeNamespaceRequest(namespace="temporal-system")),
    ]
    for call, request in attempts:
        await refused(
            raw_call(attacker, call, request), denied, call, gateway, audit, attacker.station_id
        )
    await victim.assert_unchanged()


async def test_a_malformed_message_is_refused(
    gateway: Gateway, victim: Victim, attacker: Attacker, audit: pytest.LogCaptureFixture
) -> None:
    invalid = RPCStatusCode.INVALID_ARGUMENT
    garbage = b"\xff\xff\xff\xff\x0f"
    for call in ("PollActivityTaskQueue", "RespondActivityTaskCompleted", "DescribeNamespace"):
        attempt = raw_call(attacker, call, garbage)
        await refused(attempt, invalid, call, gateway, audit, attacker.station_id)
    await victim.assert_unchanged()


async def test_versioning_fields_are_refused(
    dev_env: WorkflowEnvironment,
    gateway: Gateway,
    attacker: Attacker,
    audit: pytest.LogCaptureFixture,
) -> None:
    """A poll with deployment_options creates a worker deployment in the namespace (the
    control below, straight at the frontend): one per name a station makes up. Through the
    gateway it, and every other field that would make a station's worker a versioned one, is
    refused. (What the SDK does send, a build id alone, passes: test_gateway_worker.)"""
    denied = RPCStatusCode.PERMISSION_DENIED
    own = TaskQueue(
        name=f"station-{attacker.station_id}", kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
    )
    name = f"evil-{uuid.uuid4().hex[:8]}"
    options = WorkerDeploymentOptions(
        deployment_name=name,
        build_id="b1",
        worker_versioning_mode=WorkerVersioningMode.WORKER_VERSIONING_MODE_VERSIONED,
    )
    attempts: list[tuple[str, Message]] = [
        (
            "PollActivityTaskQueue",
            PollActivityTaskQueueRequest(
                namespace=NAMESPACE, task_queue=own, deployment_options=options
            ),
        ),
        (
            "PollActivityTaskQueue",
            PollActivityTaskQueueRequest(
                namespace=NAMESPACE,
                task_queue=own,
                worker_version_capabilities=WorkerVersionCapabilities(
                    build_id="b1", use_versioning=True
                ),
            ),
        ),
        (
            "PollActivityTaskQueue",
            PollActivityTaskQueueRequest(
                namespace=NAMESPACE,
                task_queue=own,
                worker_version_capabilities=WorkerVersionCapabilities(
                    build_id="b1", deployment_series_name=name
                ),
            ),
        ),
        (
            "RespondActivityTaskCompleted",
            RespondActivityTaskCompletedRequest(
                namespace=NAMESPACE, task_token=b"any", deployment_options=options
            ),
        ),
        (
            "RespondActivityTaskFailed",
            RespondActivityTaskFailedRequest(
                namespace=NAMESPACE,
                task_token=b"any",
                deployment=Deployment(series_name=name, build_id="b1"),
            ),
        ),
        (
            "RespondActivityTaskCanceled",
            RespondActivityTaskCanceledRequest(
                namespace=NAMESPACE,
                task_token=b"any",
                worker_version=WorkerVersionStamp(build_id="b1", use_versioning=True),
            ),
        ),
        (
            "RecordWorkerHeartbeat",
            RecordWorkerHeartbeatRequest(
                namespace=NAMESPACE,
                worker_heartbeat=[
                    WorkerHeartbeat(
                        task_queue=own.name,
                        deployment_version=WorkerDeploymentVersion(
                            deployment_name=name, build_id="b1"
                        ),
                    )
                ],
            ),
        ),
    ]
    for call, request in attempts:
        await refused(
            raw_call(attacker, call, request), denied, call, gateway, audit, attacker.station_id
        )
        [line] = [r for r in audit.records if r.name == "gateway.audit"]
        assert "versioned" in line.__dict__["reason"]

    direct = dev_env.client.workflow_service

    async def deployments() -> list[str]:
        listed = await direct.list_worker_deployments(
            ListWorkerDeploymentsRequest(namespace=NAMESPACE)
        )
        return [d.name for d in listed.worker_deployments]

    control = f"control-{uuid.uuid4().hex[:8]}"
    control_options = WorkerDeploymentOptions()
    control_options.CopyFrom(options)
    control_options.deployment_name = control
    poll = asyncio.ensure_future(
        direct.poll_activity_task_queue(
            PollActivityTaskQueueRequest(
                namespace=NAMESPACE,
                task_queue=TaskQueue(name=f"control-{uuid.uuid4().hex[:8]}"),
                deployment_options=control_options,
            ),
            timeout=timedelta(seconds=10),
        )
    )
    try:
        for _ in range(50):
            if control in await deployments():
                break
            await asyncio.sleep(0.2)
        listed = await deployments()
        assert control in listed and name not in listed
    finally:
        poll.cancel()
        await asyncio.gather(poll, return_exceptions=True)


def _poll_of(station_id: str) -> PollActivityTaskQueueRequest:
    return PollActivityTaskQueueRequest(
        namespace=NAMESPACE,
        task_queue=TaskQueue(
            name=f"station-{station_id}", kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
        ),
    )


async def _handed_task(
    dev_env: WorkflowEnvironment,
    gateway: Gateway,
    station_id: str,
    token: str,
    ca: bytes,
    portal_queue: str,
) -> tuple[WorkflowHandle[Any, Any], bytes]:
    """A running workflow, and the sealed token of its activity as the station got it."""
    client = await station_client(gateway.port, token, ca)
    handle = await dev_env.client.start_workflow(
        StationJobWorkflow.run,
        args=[f"station-{station_id}", "complete", {}],
        id=f"answer-{uuid.uuid4()}",
        task_queue=portal_queue,
    )
    task = await client.workflow_service.poll_activity_task_queue(
        _poll_of(station_id), timeout=timedelta(seconds=10)
    )
    assert task.task_token
    return handle, task.task_token


async def _code(attempt: Awaitable[object]) -> grpc.StatusCode:
    try:
        await attempt
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def test_two_final_answers_at_once_reach_the_frontend_once(
    dev_env: WorkflowEnvironment,
    tapped_gateway: tuple[Gateway, FrontendTap],
    stations: Stations,
    station_id: str,
    gateway_certificates: GatewayCertificates,
    portal_queue: str,
    audit: pytest.LogCaptureFixture,
) -> None:
    gateway, frontend = tapped_gateway
    token = stations.issue(station_id)
    ca = gateway_certificates.ca_certificate
    handle, sealed = await _handed_task(dev_env, gateway, station_id, token, ca, portal_queue)
    result = await dev_env.client.data_converter.encode([{"answer": 1}])
    answer = RespondActivityTaskCompletedRequest(
        namespace=NAMESPACE, task_token=sealed, result=Payloads(payloads=result)
    ).SerializeToString()
    # The first answer is held on its way, so the second surely arrives before it is through.
    frontend.hold["RespondActivityTaskCompleted"] = 0.5
    channel = raw_channel(gateway.port, ca)
    complete: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
        method_path("RespondActivityTaskCompleted")
    )
    audit.clear()
    codes = await asyncio.gather(
        *(_code(complete(answer, metadata=bearer(token), timeout=10)) for _ in range(2))
    )
    assert sorted(code.value[0] for code in codes) == [
        grpc.StatusCode.OK.value[0],
        grpc.StatusCode.PERMISSION_DENIED.value[0],
    ]
    assert frontend.calls["RespondActivityTaskCompleted"] == 1
    lines = [r for r in audit.records if r.name == "gateway.audit"]
    assert [(r.__dict__["station"], r.__dict__["call"]) for r in lines] == [
        (station_id, "RespondActivityTaskCompleted")
    ]
    assert await handle.result() == {"outcome": "completed", "result": {"answer": 1}}
    events = [e.event_type for e in (await handle.fetch_history()).events]
    assert events.count(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == 1
    await channel.close()


async def test_a_final_answer_that_did_not_get_through_may_be_sent_again(
    dev_env: WorkflowEnvironment,
    tapped_gateway: tuple[Gateway, FrontendTap],
    stations: Stations,
    station_id: str,
    gateway_certificates: GatewayCertificates,
    portal_queue: str,
) -> None:
    """Spent before it is forwarded, a token is given back when the frontend did not take the
    answer: the SDK retries an UNAVAILABLE, or fails the task after a refused result."""
    gateway, frontend = tapped_gateway
    token = stations.issue(station_id)
    ca = gateway_certificates.ca_certificate
    handle, sealed = await _handed_task(dev_env, gateway, station_id, token, ca, portal_queue)
    result = await dev_env.client.data_converter.encode([{"answer": 2}])
    answer = RespondActivityTaskCompletedRequest(
        namespace=NAMESPACE, task_token=sealed, result=Payloads(payloads=result)
    ).SerializeToString()
    frontend.refuse_once["RespondActivityTaskCompleted"] = grpc.StatusCode.UNAVAILABLE
    channel = raw_channel(gateway.port, ca)
    complete: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
        method_path("RespondActivityTaskCompleted")
    )
    first = await _code(complete(answer, metadata=bearer(token), timeout=10))
    assert first == grpc.StatusCode.UNAVAILABLE
    assert await _code(complete(answer, metadata=bearer(token), timeout=10)) == grpc.StatusCode.OK
    assert frontend.calls["RespondActivityTaskCompleted"] == 2
    assert await handle.result() == {"outcome": "completed", "result": {"answer": 2}}
    # And once through, it is spent: a third is refused at the gateway.
    third = await _code(complete(answer, metadata=bearer(token), timeout=10))
    assert third == grpc.StatusCode.PERMISSION_DENIED
    assert frontend.calls["RespondActivityTaskCompleted"] == 2
    await channel.close()
