"""What the gateway tests share: stations with tokens, a tiny workflow and its activities.

The workflow runs on the portal side (a direct client's worker); its activity runs on the
station's queue, so every activity call crosses the gateway exactly as in production.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import grpc
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig
from temporalio.worker import Worker

from gateway import Gateway
from gateway.calls import SERVICE
from gateway.tokens import server_token_of
from temporal_client import CLEAR_CONVERTER


class Stations:
    """An in-memory `authenticate`: tokens issued and replaced like the portal does."""

    def __init__(self) -> None:
        self._by_token: dict[str, str] = {}

    def issue(self, station_id: str) -> str:
        """A new token for the station; its previous one stops working (like the API)."""
        self._by_token = {t: s for t, s in self._by_token.items() if s != station_id}
        token = secrets.token_urlsafe(32)
        self._by_token[token] = station_id
        return token

    async def __call__(self, token: str) -> str | None:
        return self._by_token.get(token)


@dataclass
class Captured:
    """What the test activities saw, keyed by workflow id."""

    task_tokens: dict[str, bytes] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    started: dict[str, asyncio.Event] = field(default_factory=dict)

    def started_event(self, workflow_id: str) -> asyncio.Event:
        return self.started.setdefault(workflow_id, asyncio.Event())


CAPTURED = Captured()


@activity.defn(name="gateway_test_job")
async def station_job(mode: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The station's work; `mode` chooses how it ends."""
    info = activity.info()
    CAPTURED.task_tokens[info.workflow_id or ""] = info.task_token
    CAPTURED.inputs[info.workflow_id or ""] = payload
    CAPTURED.started_event(info.workflow_id or "").set()
    if mode == "complete":
        return {"echo": payload, "attempt": info.attempt}
    if mode == "heartbeat-then-retry":
        if info.attempt == 1:
            for step in range(3):
                activity.heartbeat({"step": step, "secret": payload.get("secret")})
                await asyncio.sleep(0.05)
            raise ApplicationError("first attempt gives up after heartbeating")
        return {"previous": list(info.heartbeat_details), "attempt": info.attempt}
    if mode == "fail":
        inner = ApplicationError("negative response", {"raw": payload.get("secret")})
        raise ApplicationError(
            "the vehicle said no",
            {"nrc": "0x22", "secret": payload.get("secret")},
            type="VehicleRefused",
            non_retryable=True,
        ) from inner
    if mode == "fail-chained-then-retry":
        if info.attempt == 1:
            _fail_through_layers(12)
        return {"attempt": info.attempt}
    if mode in ("block", "until-cancelled"):
        while True:  # heartbeats deliver the cancellation
            activity.heartbeat()
            await asyncio.sleep(0.1)
    raise ValueError(f"unknown mode {mode}")


def _fail_through_layers(layers: int) -> None:
    """Fail as a driver stack does: each layer wraps the error below with its own words."""
    try:
        if layers == 0:
            raise OSError(f"socket closed by the vehicle interface {'.' * 300}")
        _fail_through_layers(layers - 1)
    except OSError as error:
        words = "the link lost the vehicle" if layers == 12 else f"layer {layers} {'.' * 300}"
        raise OSError(words) from error


@workflow.defn(name="GatewayTestWorkflow")
class StationJobWorkflow:
    """Runs one station job and reports how it ended, so tests can read every outcome."""

    @workflow.run
    async def run(self, queue: str, mode: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            result = await workflow.execute_activity(
                station_job,
                args=[mode, payload],
                task_queue=queue,
                # A test may give a long job a flash's timeouts (`start_to_close_seconds`,
                # `heartbeat_timeout_seconds`); the short defaults notice a lost station fast.
                start_to_close_timeout=timedelta(seconds=payload.get("start_to_close_seconds", 30)),
                heartbeat_timeout=timedelta(seconds=payload.get("heartbeat_timeout_seconds", 2)),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=50), maximum_attempts=2
                ),
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
            return {"outcome": "completed", "result": result}
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError):
                inner = cause.cause
                return {
                    "outcome": "failed",
                    "type": cause.type,
                    "message": cause.message,
                    "details": list(cause.details),
                    "inner_details": (
                        list(inner.details) if isinstance(inner, ApplicationError) else None
                    ),
                }
            if isinstance(cause, CancelledError):
                return {"outcome": "cancelled"}
            raise


async def station_client(
    port: int, token: str | None, ca: bytes, runtime: Runtime | None = None
) -> Client:
    """A station's client: TLS to the gateway, its token as the API key (`authorization:
    Bearer <token>`, what temporalio 1.35 sends for `api_key=`), the product's converter (a
    station's, `temporal_client.connect_through_gateway`: no codec)."""
    return await Client.connect(
        f"127.0.0.1:{port}",
        namespace="default",
        api_key=token,
        data_converter=CLEAR_CONVERTER,
        tls=TLSConfig(server_root_ca_cert=ca, domain="localhost"),
        runtime=runtime,
    )


async def eventually(condition: Callable[[], bool], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def station_worker(
    port: int, token: str, ca: bytes, station_id: str, runtime: Runtime | None = None
) -> AsyncIterator[Client]:
    """A station's activity worker on `station-<id>`, connected through the gateway."""
    client = await station_client(port, token, ca, runtime)
    async with Worker(client, task_queue=f"station-{station_id}", activities=[station_job]):
        yield client


def raw_channel(port: int, ca: bytes) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(
        f"127.0.0.1:{port}",
        grpc.ssl_channel_credentials(root_certificates=ca),
        options=[("grpc.ssl_target_name_override", "localhost")],
    )


def opened(gateway: Gateway, sealed: bytes, station_id: str) -> bytes:
    """The server's token inside a sealed one, opened with the gateway's key."""
    assert gateway.config.task_token_key is not None
    return server_token_of(sealed, gateway.config.task_token_key, station_id)


def method_path(method: str) -> str:
    return f"/{SERVICE}/{method}"


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


class FrontendTap(grpc.GenericRpcHandler):
    """A transparent hop between the gateway and the frontend that counts the calls open at
    the frontend's side, so tests see what the frontend sees (cancelled or still open).

    `calls` counts the calls that reached it, by method; `hold` delays a method's calls before
    they go on; `refuse_once` answers a method's next call with a status, not forwarding it.
    """

    def __init__(self, frontend: str) -> None:
        self._channel = grpc.aio.insecure_channel(frontend)
        self._server = grpc.aio.server()
        self._server.add_generic_rpc_handlers([self])
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.open_calls = 0
        self.cancelled_calls = 0
        self.calls: Counter[str] = Counter()
        self.hold: dict[str, float] = {}
        self.refuse_once: dict[str, grpc.StatusCode] = {}

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop(None)
        await self._channel.close()

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[bytes, bytes]:
        method: str = handler_call_details.method
        name = method.rpartition("/")[2]
        forward: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = self._channel.unary_unary(method)

        async def behaviour(
            request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
        ) -> bytes:
            self.calls[name] += 1
            refusal = self.refuse_once.pop(name, None)
            if refusal is not None:
                await context.abort(refusal, "refused by the test's tap")
            self.open_calls += 1
            try:
                await asyncio.sleep(self.hold.get(name, 0.0))
                return await forward(
                    request,
                    timeout=context.time_remaining(),
                    metadata=tuple(context.invocation_metadata() or ()),
                )
            except asyncio.CancelledError:
                self.cancelled_calls += 1
                raise
            except grpc.aio.AioRpcError as err:
                await context.abort(
                    err.code(), err.details() or "", tuple(err.trailing_metadata() or ())
                )
            finally:
                self.open_calls -= 1

        return grpc.unary_unary_rpc_method_handler(behaviour)
