"""Fixtures of the gateway tests: a real gateway (TLS) in front of the real dev server.

- `gateway_certificates`: a local CA and server certificate for localhost/127.0.0.1.
- `stations`: the in-memory `authenticate` most tests use (tokens issued and replaced).
- `station_id`: a fresh station per test, so its queue `station-<id>` is fresh too.
- `gateway`: the gateway in front of `dev_env`, authenticating with `stations`, no codec.
- `portal_queue`: a portal-side worker running the test workflow on a fresh queue.
- `audit`: the `gateway.audit` log lines, captured.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from gateway import Gateway, GatewayConfig, serve
from gateway.certificates import GatewayCertificates, ensure_certificates
from tests.gateway.support import FrontendTap, StationJobWorkflow, Stations


@pytest.fixture(scope="session")
def gateway_certificates(tmp_path_factory: pytest.TempPathFactory) -> GatewayCertificates:
    folder: Path = tmp_path_factory.mktemp("gateway")
    return ensure_certificates(folder, ["localhost", "127.0.0.1"])


@pytest.fixture
def stations() -> Stations:
    return Stations()


@pytest.fixture
def station_id() -> str:
    return f"st-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def gateway_config(
    dev_env: WorkflowEnvironment, gateway_certificates: GatewayCertificates
) -> GatewayConfig:
    return GatewayConfig(
        listen="127.0.0.1:0",
        frontend=dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        server_certificate=gateway_certificates.server_certificate,
        server_private_key=gateway_certificates.server_private_key,
        # Known to the tests, which open a seal to look at the server's token inside.
        task_token_key=os.urandom(32),
    )


@pytest.fixture
async def gateway(gateway_config: GatewayConfig, stations: Stations) -> AsyncIterator[Gateway]:
    running = await serve(gateway_config, stations)
    yield running
    await running.stop(grace=0.5)


@pytest.fixture
def audit(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level("WARNING", logger="gateway.audit")
    return caplog


@pytest.fixture
async def portal_queue(dev_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[str]:
    """The workflow side, straight on the frontend (the portal's zone). The workflow is
    defined in a test module, which the sandbox would re-import; it is deterministic as is."""
    async with Worker(
        dev_env.client,
        task_queue=task_queue,
        workflows=[StationJobWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield task_queue


@pytest.fixture
async def tapped_gateway(
    dev_env: WorkflowEnvironment, gateway_config: GatewayConfig, stations: Stations
) -> AsyncIterator[tuple[Gateway, FrontendTap]]:
    """The gateway with a tap in front of the frontend that counts calls open there."""
    tap = FrontendTap(dev_env.client.service_client.config.target_host)
    await tap.start()
    running = await serve(
        dataclasses.replace(gateway_config, frontend=f"127.0.0.1:{tap.port}"), stations
    )
    yield running, tap
    await running.stop(grace=0.5)
    await tap.stop()
