"""The sealed task token over the wire: the station cannot read the server's token in it, and a
gateway restarted with the same key takes the answer of a task handed out before."""

from __future__ import annotations

import base64
import dataclasses
import os
import uuid
from datetime import timedelta

import grpc
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    PollActivityTaskQueueRequest,
    RecordActivityTaskHeartbeatRequest,
    RespondActivityTaskCompletedRequest,
)
from temporalio.testing import WorkflowEnvironment

from gateway import Gateway, GatewayConfig, serve
from gateway.certificates import GatewayCertificates
from tests.gateway.support import (
    StationJobWorkflow,
    Stations,
    bearer,
    method_path,
    opened,
    raw_channel,
    station_client,
)

NAMESPACE = "default"


async def _complete(gateway: Gateway, ca: bytes, token: str, answer: bytes) -> grpc.StatusCode:
    channel = raw_channel(gateway.port, ca)
    complete: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
        method_path("RespondActivityTaskCompleted")
    )
    try:
        await complete(answer, metadata=bearer(token), timeout=10)
        return grpc.StatusCode.OK
    except grpc.aio.AioRpcError as err:
        return err.code()
    finally:
        await channel.close()


async def test_the_station_cannot_read_the_seal_and_a_restarted_gateway_opens_it(
    dev_env: WorkflowEnvironment,
    gateway: Gateway,
    gateway_config: GatewayConfig,
    stations: Stations,
    station_id: str,
    gateway_certificates: GatewayCertificates,
    portal_queue: str,
) -> None:
    ca = gateway_certificates.ca_certificate
    token = stations.issue(station_id)
    client = await station_client(gateway.port, token, ca)
    handle = await dev_env.client.start_workflow(
        StationJobWorkflow.run,
        args=[f"station-{station_id}", "complete", {}],
        id=f"seal-{uuid.uuid4()}",
        task_queue=portal_queue,
    )
    task = await client.workflow_service.poll_activity_task_queue(
        PollActivityTaskQueueRequest(
            namespace=NAMESPACE,
            task_queue=TaskQueue(
                name=f"station-{station_id}", kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
            ),
        ),
        timeout=timedelta(seconds=10),
    )
    sealed = task.task_token

    # Inside is the server's real token (the frontend takes it)...
    server = opened(gateway, sealed, station_id)
    await dev_env.client.workflow_service.record_activity_task_heartbeat(
        RecordActivityTaskHeartbeatRequest(namespace=NAMESPACE, task_token=server)
    )
    # ...and nothing of it shows: not as bytes, not base64, not its workflow id.
    for inside in (server, base64.b64encode(server), handle.id.encode()):
        assert inside not in sealed

    result = await dev_env.client.data_converter.encode([{"after": "restart"}])
    answer = RespondActivityTaskCompletedRequest(
        namespace=NAMESPACE, task_token=sealed, result=Payloads(payloads=result)
    ).SerializeToString()
    await gateway.stop(grace=0.5)
    other_key = dataclasses.replace(gateway_config, task_token_key=os.urandom(32))
    stranger = await serve(other_key, stations)
    try:
        assert await _complete(stranger, ca, token, answer) == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await stranger.stop(grace=0.5)
    restarted = await serve(gateway_config, stations)  # the same key, as from AOS_SECRET_KEY
    try:
        assert await _complete(restarted, ca, token, answer) == grpc.StatusCode.OK
        assert await handle.result() == {"outcome": "completed", "result": {"after": "restart"}}
        # Spent, also in the restarted gateway.
        assert await _complete(restarted, ca, token, answer) == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await restarted.stop(grace=0.5)
