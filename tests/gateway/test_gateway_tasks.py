"""No task of the gateway fails unobserved: a failure is logged when it happens, by name, and
asyncio never has to report "Task exception was never retrieved"."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import pytest

from gateway import GatewayConfig, serve
from gateway.certificates import GatewayCertificates
from gateway.server import _abort
from gateway.tasks import BackgroundTasks
from tests.gateway.support import Stations, bearer, method_path, raw_channel


@contextmanager
def unhandled_by_asyncio() -> Iterator[list[dict[str, Any]]]:
    """What reaches the loop's exception handler (where unretrieved task errors end up)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: seen.append(context))
    try:
        yield seen
    finally:
        loop.set_exception_handler(previous)


async def collected() -> None:
    """Unretrieved task errors are reported when their task is garbage collected."""
    await asyncio.sleep(0.2)
    gc.collect()
    await asyncio.sleep(0.1)


async def test_a_failing_background_task_is_logged_at_once_by_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("ERROR", logger="gateway")

    async def fails() -> None:
        await asyncio.sleep(0)
        raise ConnectionError("database away")

    tasks = BackgroundTasks()
    with unhandled_by_asyncio() as unhandled:
        task = tasks.spawn(fails(), name="audit flush")
        del task  # nobody keeps or awaits it
        await collected()
    [record] = [r for r in caplog.records if r.name == "gateway"]
    assert record.getMessage() == "background task audit flush failed"
    assert record.exc_info is not None and isinstance(record.exc_info[1], ConnectionError)
    assert unhandled == [] and len(tasks) == 0


async def test_close_cancels_the_tasks_still_running() -> None:
    tasks = BackgroundTasks()
    forever = tasks.spawn(asyncio.Event().wait(), name="forever")
    await tasks.close()
    assert forever.cancelled() and len(tasks) == 0


class BlackHole(grpc.GenericRpcHandler):
    """A frontend that never answers: the station's deadline and the forwarded call's end at
    the same moment, so the station leaves just as the frontend's call fails."""

    def __init__(self) -> None:
        self.server = grpc.aio.server()
        self.server.add_generic_rpc_handlers([self])
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[bytes, bytes]:
        async def never(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            await asyncio.Event().wait()
            return b""

        return grpc.unary_unary_rpc_method_handler(never)


@pytest.fixture
async def black_hole() -> AsyncIterator[BlackHole]:
    hole = BlackHole()
    await hole.server.start()
    yield hole
    await hole.server.stop(None)


async def test_calls_a_station_leaves_leave_no_error_unretrieved(
    gateway_config: GatewayConfig,
    gateway_certificates: GatewayCertificates,
    stations: Stations,
    black_hole: BlackHole,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The flood's "Task exception was never retrieved": a forwarded call failed (deadline)
    while the station's own call was being cancelled, and nobody read the failure."""
    config = dataclasses.replace(
        gateway_config,
        frontend=f"127.0.0.1:{black_hole.port}",
        # Only the black hole's deadline may end these calls, not a limit of the gateway.
        calls_per_second_per_station=10_000,
        calls_burst_per_station=10_000,
        max_calls_per_station=1_000,
        max_streams_per_connection=1_000,
    )
    gateway = await serve(config, stations)
    token = stations.issue("flooder")
    channel = raw_channel(gateway.port, gateway_certificates.ca_certificate)
    info: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
        method_path("GetSystemInfo")
    )
    try:
        await channel.channel_ready()
        with unhandled_by_asyncio() as unhandled:
            for _ in range(30):
                calls = [info(b"", metadata=bearer(token), timeout=0.05) for _ in range(30)]
                outcomes = await asyncio.gather(*calls, return_exceptions=True)
                assert {getattr(o, "code", lambda: None)() for o in outcomes} == {
                    grpc.StatusCode.DEADLINE_EXCEEDED
                }
            await collected()
        assert gateway.forwarded["GetSystemInfo"] > 0  # they did reach the frontend's side
        assert [c.get("message") for c in unhandled] == []
        # Nor grpc's "ExecuteBatchError raised in core": an abort for a station gone already
        # (seen in about every second run before `_abort`; the next test is exact).
        assert not [r for r in caplog.records if r.levelname == "ERROR"]
    finally:
        await channel.close()
        await gateway.stop(grace=0.5)


async def test_a_status_for_a_station_that_has_left_ends_the_call_as_cancelled() -> None:
    """grpc raises ExecuteBatchError (an InternalError) when the status cannot be sent; the
    call then ends as cancelled, which grpc logs at debug level, not as the gateway's error."""

    class Gone:
        async def abort(self, *_: object) -> None:
            raise grpc.aio.InternalError('Failed "execute_batch"')

    class Here:
        async def abort(self, *_: object) -> None:
            raise grpc.aio.AbortError("Locally aborted.")

    with pytest.raises(asyncio.CancelledError):
        await _abort(Gone(), grpc.StatusCode.DEADLINE_EXCEEDED, "x")  # type: ignore[arg-type]
    with pytest.raises(grpc.aio.AbortError):
        await _abort(Here(), grpc.StatusCode.DEADLINE_EXCEEDED, "x")  # type: ignore[arg-type]
