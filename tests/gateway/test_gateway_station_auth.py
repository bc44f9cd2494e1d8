"""`station_by_token`: the gateway knows a station by the token the portal issued it."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    PollActivityTaskQueueRequest,
)
from temporalio.service import RPCError, RPCStatusCode

from db.stations import StationRepository
from gateway import GatewayConfig, serve, station_by_token
from gateway.certificates import GatewayCertificates
from testkit.factories import create_workshop
from tests.gateway.support import eventually, station_client


async def registered_station(
    session_factory: async_sessionmaker[AsyncSession],
) -> tuple[StationRepository, str]:
    stations = StationRepository(session_factory)
    workshop_id = await create_workshop(session_factory)
    station_id = f"bay-{uuid.uuid4().hex[:8]}"
    await stations.claim(
        workshop_id, station_id, "Bay 1", worker_seen=False, confirm_never_seen=True
    )
    return stations, station_id


async def test_a_current_token_names_its_station_and_a_replaced_one_nobody(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    stations, station_id = await registered_station(session_factory)
    authenticate = station_by_token(session_factory)
    assert await authenticate("") is None  # never issued: no digest to match

    first = await stations.replace_token(station_id)  # what POST .../token does
    assert await authenticate(first) == station_id
    assert await authenticate(first + "x") is None

    second = await stations.replace_token(station_id)
    assert await authenticate(first) is None
    assert await authenticate(second) == station_id


async def test_the_gateway_admits_a_database_station_until_its_token_is_replaced(
    session_factory: async_sessionmaker[AsyncSession],
    gateway_config: GatewayConfig,
    gateway_certificates: GatewayCertificates,
) -> None:
    stations, station_id = await registered_station(session_factory)
    token = await stations.replace_token(station_id)
    config = dataclasses.replace(gateway_config, reauthenticate_every=timedelta(seconds=0.5))
    gateway = await serve(config, station_by_token(session_factory))
    try:
        client = await station_client(gateway.port, token, gateway_certificates.ca_certificate)
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=config.namespace)
        )
        polling = asyncio.create_task(
            client.workflow_service.poll_activity_task_queue(
                PollActivityTaskQueueRequest(
                    namespace=config.namespace,
                    task_queue=TaskQueue(
                        name=f"station-{station_id}", kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
                    ),
                ),
                timeout=timedelta(seconds=30),
            )
        )
        await eventually(lambda: gateway.open_calls == 1)
        await stations.replace_token(station_id)
        with pytest.raises(RPCError) as caught:
            await asyncio.wait_for(polling, timeout=3)
        assert caught.value.status == RPCStatusCode.UNAUTHENTICATED
    finally:
        await gateway.stop(grace=0.5)
