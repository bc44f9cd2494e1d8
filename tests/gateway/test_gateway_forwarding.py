"""The gateway forwards faithfully: deadlines, cancellation, errors with their details,
many long polls at once, and it cuts a poll whose token was replaced. (Message sizes:
test_gateway_limits.)"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import grpc
import pytest
from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    GetSystemInfoRequest,
    PollActivityTaskQueueRequest,
    PollActivityTaskQueueResponse,
    RecordActivityTaskHeartbeatRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from gateway import Gateway, GatewayConfig, serve
from gateway.certificates import GatewayCertificates
from tests.gateway.support import (
    FrontendTap,
    StationJobWorkflow,
    Stations,
    bearer,
    eventually,
    method_path,
    opened,
    raw_channel,
    station_client,
)

NAMESPACE = "default"


def poll_request(station_id: str) -> PollActivityTaskQueueRequest:
    return PollActivityTaskQueueRequest(
        namespace=NAMESPACE,
        task_queue=TaskQueue(
            name=f"station-{station_id}", kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
        ),
    )


def poller(channel: grpc.aio.Channel) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
    return channel.unary_unary(method_path("PollActivityTaskQueue"))


async def test_a_replaced_token_cuts_an_open_long_poll_within_seconds(
    tapped_gateway: tuple[Gateway, FrontendTap],
    stations: Stations,
    station_id: str,
    gateway_certificates: GatewayCertificates,
) -> None:
    gateway, frontend = tapped_gateway
    token = stations.issue(station_id)
    client = await station_client(gateway.port, token, gateway_certificates.ca_certificate)
    polling = asyncio.create_task(
        client.workflow_service.poll_activity_task_queue(
            poll_request(station_id), timeout=timedelta(seconds=60)
        )
    )
    await eventually(lambda: frontend.open_calls == 1)
    stations.issue(station_id)  # the owner issues a new token: the old one is gone
    replaced_at = time.monotonic()
    with pytest.raises(RPCError) as caught:
        await polling
    assert caught.value.status == RPCStatusCode.UNAUTHENTICATED
    assert time.monotonic() - replaced_at < 4.0  # re-checked every 2 s
    await eventually(lambda: frontend.open_calls == 0, within=1.0)
    assert frontend.cancelled_calls == 1


async def test_the_station_deadline_is_the_forwarded_deadline(
    tapped_gateway: tuple[Gateway, FrontendTap],
    stations: Stations,
    station_id: str,
    gateway_certificates: GatewayCertificates,
) -> None:
    gateway, frontend = tapped_gateway
    token = stations.issue(station_id)
    channel = raw_channel(gateway.port, gateway_certificates.ca_certificate)
    request = poll_request(station_id).SerializeToString()
    # The frontend refuses long polls with less than 2 s to go: it saw the station's 1 s.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await poller(channel)(request, metadata=bearer(token), timeout=1.0)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "timeout is too short" in (caught.value.details() or "")
    # With 3 s, the poll ends (empty, or at the deadline) in 3 s, not the server's 60-70 s.
    started = time.monotonic()
    try:
        answer = await poller(channel)(request, metadata=bearer(token), timeout=3.0)
        assert not PollActivityTaskQueueResponse.FromString(answer).task_token
    except grpc.aio.AioRpcError as err:
        assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 3.5
    await eventually(lambda: frontend.open_calls == 0 and gateway.open_calls == 0, within=1.0)
    await channel.close()


async def test_a_cancelled_poll_is_cancelled_at_the_frontend(
    tapped_gateway: tuple[Gateway, FrontendTap],
    stations: Stations,
    station_id: str,
    gateway_certificates: GatewayCertificates,
) -> None:
    """Were the forwarded poll left open, it could take the next task and lose it."""
    gateway, frontend = tapped_gateway
    token = stations.issue(station_id)
    channel = raw_channel(gateway.port, gateway_certificates.ca_certificate)
    request = poll_request(station_id).SerializeToString()
    abandoned = poller(channel)(request, metadata=bearer(token), timeout=60)
    await eventually(lambda: frontend.open_calls == 1)
    abandoned.cancel()
    await eventually(lambda: frontend.open_calls == 0 and gateway.open_calls == 0, within=1.0)
    assert frontend.cancelled_calls == 1
    await channel.close()


async def test_many_open_polls_do_not_hold_up_other_calls(
    gateway: Gateway, stations: Stations, gateway_certificates: GatewayCertificates
) -> None:
    """40 polls: 8 stations at their limit of 5, each on its own connection."""
    ca = gateway_certificates.ca_certificate
    polls, channels = [], []
    for n in range(8):
        station_id = f"many-{n}-{uuid.uuid4().hex[:6]}"
        token = stations.issue(station_id)
        channel = raw_channel(gateway.port, ca)
        channels.append(channel)
        request = poll_request(station_id).SerializeToString()
        polls += [poller(channel)(request, metadata=bearer(token), timeout=60) for _ in range(5)]
    await eventually(lambda: gateway.open_calls == 40)
    token = stations.issue(f"other-{uuid.uuid4().hex[:6]}")
    channel = raw_channel(gateway.port, ca)
    channels.append(channel)
    started = time.monotonic()
    info: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
        method_path("GetSystemInfo")
    )
    await info(GetSystemInfoRequest().SerializeToString(), metadata=bearer(token), timeout=5)
    assert time.monotonic() - started < 1.0
    for poll in polls:
        poll.cancel()
    await eventually(lambda: gateway.open_calls == 0)
    for channel in channels:
        await channel.close()


async def test_frontend_errors_arrive_with_their_status_details(
    dev_env: WorkflowEnvironment,
    gateway: Gateway,
    stations: Stations,
    station_id: str,
    gateway_certificates: GatewayCertificates,
    portal_queue: str,
) -> None:
    """The SDK reads typed errors from grpc-status-details-bin; they must survive the hop."""
    token = stations.issue(station_id)
    client = await station_client(gateway.port, token, gateway_certificates.ca_certificate)
    handle = await dev_env.client.start_workflow(
        StationJobWorkflow.run,
        args=[f"station-{station_id}", "complete", {}],
        id=f"errors-{uuid.uuid4()}",
        task_queue=portal_queue,
    )
    task = await client.workflow_service.poll_activity_task_queue(
        poll_request(station_id), timeout=timedelta(seconds=10)
    )
    assert task.task_token and gateway.task_tokens == 1
    await handle.terminate("gone before the station answers")

    # The station holds the gateway's sealed token; the frontend knows the server's inside it.
    sealed = RecordActivityTaskHeartbeatRequest(namespace=NAMESPACE, task_token=task.task_token)
    server = RecordActivityTaskHeartbeatRequest(
        namespace=NAMESPACE, task_token=opened(gateway, task.task_token, station_id)
    )
    errors: list[RPCError] = []
    for via, heartbeat in ((client, sealed), (dev_env.client, server)):
        with pytest.raises(RPCError) as caught:
            await via.workflow_service.record_activity_task_heartbeat(heartbeat)
        errors.append(caught.value)
    through_gateway, direct = errors
    assert through_gateway.status == direct.status == RPCStatusCode.NOT_FOUND
    assert through_gateway.message == direct.message
    assert through_gateway.grpc_status == direct.grpc_status
    assert through_gateway.grpc_status.details[0].type_url.endswith("NotFoundFailure")
    assert gateway.task_tokens == 0  # the attempt is gone: so is its token


async def test_plaintext_is_refused_by_a_tls_gateway(
    gateway: Gateway, stations: Stations, station_id: str
) -> None:
    token = stations.issue(station_id)
    with pytest.raises(RuntimeError):
        await Client.connect(f"127.0.0.1:{gateway.port}", api_key=token, tls=False)


async def test_a_failing_token_lookup_is_retryable_not_a_refusal(
    gateway_config: GatewayConfig, gateway_certificates: GatewayCertificates
) -> None:
    async def database_away(token: str) -> str | None:
        raise ConnectionError("database unreachable")

    gateway = await serve(gateway_config, database_away)
    channel = raw_channel(gateway.port, gateway_certificates.ca_certificate)
    info: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
        method_path("GetSystemInfo")
    )
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await info(b"", metadata=bearer("any"), timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert sum(gateway.forwarded.values()) == 0
    finally:
        await channel.close()
        await gateway.stop(grace=0.5)
