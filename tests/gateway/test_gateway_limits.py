"""Whatever reaches the gateway is bounded before it is read: size, count and rate.

Each limit is shown through the real gateway over gRPC (TLS, in front of the dev server), with
a control that the same call passes where the limit does not apply, so no test passes because
a call failed for another reason. Limits are set small here so the tests stay short; the
defaults are in `GatewayConfig`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    GetSystemInfoRequest,
    PollActivityTaskQueueRequest,
)
from temporalio.testing import WorkflowEnvironment

from gateway import Gateway, GatewayConfig, serve
from gateway.audit import Audit
from gateway.certificates import GatewayCertificates
from gateway.config import DEFAULT_MAX_MESSAGE_BYTES
from gateway.limits import FailedAuthentications, StationLimits, source_of
from gateway.rules import Refused
from tests.gateway.support import (
    FrontendTap,
    Stations,
    bearer,
    eventually,
    method_path,
    raw_channel,
)

NAMESPACE = "default"
OK = grpc.StatusCode.OK
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


@asynccontextmanager
async def running(
    config: GatewayConfig, stations: Stations, **limits: Any
) -> AsyncIterator[Gateway]:
    gateway = await serve(dataclasses.replace(config, **limits), stations)
    try:
        yield gateway
    finally:
        await gateway.stop(grace=0.5)


class Station:
    """A station's raw gRPC: its own connection (channel) and token."""

    def __init__(self, gateway: Gateway, stations: Stations, ca: bytes, name: str = "st") -> None:
        self.id = f"{name}-{uuid.uuid4().hex[:8]}"
        self.token = stations.issue(self.id)
        self._gateway = gateway
        self._ca = ca
        self.channels: list[grpc.aio.Channel] = []
        self.channel = self.connect()

    def connect(self) -> grpc.aio.Channel:
        channel = raw_channel(self._gateway.port, self._ca)
        self.channels.append(channel)
        return channel

    def call(
        self,
        method: str,
        request: Message | bytes = b"",
        token: str | None = "own",
        channel: grpc.aio.Channel | None = None,
        timeout: float = 10,
    ) -> grpc.aio.UnaryUnaryCall[bytes, bytes]:
        multi: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = (
            channel or self.channel
        ).unary_unary(method_path(method))
        data = request if isinstance(request, bytes) else request.SerializeToString()
        token = self.token if token == "own" else token
        return multi(data, metadata=bearer(token) if token else None, timeout=timeout)

    def poll(
        self, channel: grpc.aio.Channel | None = None
    ) -> grpc.aio.UnaryUnaryCall[bytes, bytes]:
        request = PollActivityTaskQueueRequest(
            namespace=NAMESPACE,
            task_queue=TaskQueue(
                name=f"station-{self.id}", kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
            ),
        )
        return self.call("PollActivityTaskQueue", request, channel=channel, timeout=60)

    def info(self, token: str | None = "own") -> grpc.aio.UnaryUnaryCall[bytes, bytes]:
        return self.call("GetSystemInfo", GetSystemInfoRequest(), token=token)

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()


async def status(call: Awaitable[object]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code()
    return OK


def audited(audit: pytest.LogCaptureFixture) -> list[tuple[str | None, str | None, str]]:
    """(station, call, reason) of each audit line."""
    return [
        (r.__dict__["station"], r.__dict__["call"], r.__dict__["reason"])
        for r in audit.records
        if r.name == "gateway.audit"
    ]


async def cancel(calls: list[grpc.aio.UnaryUnaryCall[bytes, bytes]]) -> None:
    for call in calls:
        call.cancel()
    await asyncio.gather(*calls, return_exceptions=True)


# -- memory: nothing is read before the caller is known ----------------------------------


async def test_a_stranger_is_refused_from_the_metadata_before_any_message(
    gateway: Gateway,
    stations: Stations,
    gateway_certificates: GatewayCertificates,
    audit: pytest.LogCaptureFixture,
) -> None:
    """A call that never sends its message: a stranger's is refused at once, so the gateway
    decided on the headers alone; a station's waits for its message (the control)."""
    station = Station(gateway, stations, gateway_certificates.ca_certificate)
    multi: grpc.aio.StreamUnaryMultiCallable[bytes, bytes] = station.channel.stream_unary(
        method_path("DescribeNamespace")
    )

    async def no_message() -> AsyncIterator[bytes]:
        await asyncio.Event().wait()
        yield b""  # never reached

    for token in (None, "not-a-token"):
        audit.clear()
        started = time.monotonic()
        metadata = bearer(token) if token else None
        assert await status(multi(no_message(), metadata=metadata, timeout=5)) == UNAUTHENTICATED
        assert time.monotonic() - started < 2.0
        assert [(s, c) for s, c, _ in audited(audit)] == [(None, "DescribeNamespace")]
    waiting = multi(no_message(), metadata=bearer(station.token), timeout=1.5)
    assert await status(waiting) == grpc.StatusCode.DEADLINE_EXCEEDED
    assert sum(gateway.forwarded.values()) == 0
    await station.close()


async def test_a_message_is_bounded_by_the_frontends_own_limit(
    dev_env: WorkflowEnvironment,
    gateway: Gateway,
    stations: Stations,
    gateway_certificates: GatewayCertificates,
    audit: pytest.LogCaptureFixture,
) -> None:
    station = Station(gateway, stations, gateway_certificates.ca_certificate)
    describe = DescribeNamespaceRequest(namespace=NAMESPACE).SerializeToString()

    def padded(total: int) -> bytes:
        """A DescribeNamespace of `total` bytes: the rest in an unknown field (1000)."""
        size = total - len(describe) - 2 - len(_varint(total))
        filler = b"\xc2\x3e" + _varint(size) + b"x" * size
        assert len(describe + filler) == total
        return describe + filler

    limit = DEFAULT_MAX_MESSAGE_BYTES
    assert await status(station.call("DescribeNamespace", padded(limit - 64))) == OK
    audit.clear()
    assert await status(station.call("DescribeNamespace", padded(limit + 1))) == EXHAUSTED
    [(who, call, reason)] = audited(audit)
    assert (who, call) == (station.id, "DescribeNamespace") and "larger than" in reason
    assert gateway.forwarded["DescribeNamespace"] == 1  # only the first

    # The frontend refuses the same message itself: the gateway takes nothing it would take.
    frontend = grpc.aio.insecure_channel(dev_env.client.service_client.config.target_host)
    direct: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = frontend.unary_unary(
        method_path("DescribeNamespace")
    )
    assert await status(direct(padded(limit - 64), timeout=10)) == OK
    assert await status(direct(padded(limit + 1), timeout=10)) == EXHAUSTED
    await frontend.close()
    await station.close()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


async def test_headers_are_bounded_and_an_oversized_token_is_not_looked_up(
    gateway_config: GatewayConfig, gateway_certificates: GatewayCertificates
) -> None:
    stations = CountingStations()
    async with running(gateway_config, stations) as gateway:
        station = Station(gateway, stations, gateway_certificates.ca_certificate)
        assert await status(station.info()) == OK
        assert stations.lookups == 1
        # A token of 257 characters: refused without a lookup (the portal's have 43).
        long = station.token + "x" * (257 - len(station.token))
        assert await status(station.info(token=long)) == UNAUTHENTICATED
        # Past 16 KiB of header, grpc refuses the call itself.
        assert await status(station.info(token="x" * 20_000)) == EXHAUSTED
        assert stations.lookups == 1
        await station.close()


# -- calls open at once: per connection, per station, polls ------------------------------


async def test_a_connection_has_at_most_max_streams_calls_open(
    gateway_config: GatewayConfig, stations: Stations, gateway_certificates: GatewayCertificates
) -> None:
    limits = dict(max_streams_per_connection=4, max_polls_per_station=8, max_calls_per_station=8)
    async with running(gateway_config, stations, **limits) as gateway:
        station = Station(gateway, stations, gateway_certificates.ca_certificate)
        polls = [station.poll() for _ in range(6)]
        await eventually(lambda: gateway.open_calls == 4)
        await asyncio.sleep(0.5)
        # The other two wait at the station's side of the connection, not at the gateway.
        assert gateway.open_calls == 4 and not any(poll.done() for poll in polls)
        second = station.connect()  # the same station on a second connection: its own streams
        polls += [station.poll(second) for _ in range(2)]
        await eventually(lambda: gateway.open_calls == 6)
        await cancel(polls)
        await station.close()


async def test_a_station_has_at_most_max_calls_open_over_all_its_connections(
    gateway_config: GatewayConfig,
    stations: Stations,
    gateway_certificates: GatewayCertificates,
    audit: pytest.LogCaptureFixture,
) -> None:
    async with running(
        gateway_config, stations, max_calls_per_station=6, max_polls_per_station=6
    ) as gateway:
        ca = gateway_certificates.ca_certificate
        greedy, other = Station(gateway, stations, ca), Station(gateway, stations, ca)
        second = greedy.connect()
        polls = [greedy.poll() for _ in range(3)] + [greedy.poll(second) for _ in range(3)]
        await eventually(lambda: gateway.open_calls == 6)
        audit.clear()
        assert await status(greedy.call("GetSystemInfo", channel=greedy.connect())) == EXHAUSTED
        assert audited(audit) == [
            (greedy.id, "GetSystemInfo", "this station has 6 calls open already")
        ]
        assert await status(other.info()) == OK
        await cancel(polls[:1])
        await eventually(lambda: gateway.open_calls == 5)
        assert await status(greedy.info()) == OK  # a place given back is a place again
        await cancel(polls)
        await greedy.close()
        await other.close()


async def test_a_station_holds_at_most_five_polls_and_the_others_still_poll(
    tapped_gateway: tuple[Gateway, FrontendTap],
    stations: Stations,
    gateway_certificates: GatewayCertificates,
    audit: pytest.LogCaptureFixture,
) -> None:
    """The default limit: the SDK's worker opens 5 activity polls (PollerBehaviorSimpleMaximum
    (5)); more from one station are refused, and never reach the frontend."""
    gateway, frontend = tapped_gateway
    ca = gateway_certificates.ca_certificate
    flooder, other = Station(gateway, stations, ca), Station(gateway, stations, ca)
    polls = [flooder.poll() for _ in range(5)]
    await eventually(lambda: frontend.open_calls == 5 and gateway.open_polls == 5)
    audit.clear()
    extra = [flooder.poll(flooder.connect()) for _ in range(3)]
    assert [await status(poll) for poll in extra] == [EXHAUSTED] * 3
    assert (
        audited(audit)
        == [(flooder.id, "PollActivityTaskQueue", "this station has 5 polls open already")] * 3
    )
    assert frontend.calls["PollActivityTaskQueue"] == 5
    polls.append(other.poll())
    await eventually(lambda: frontend.open_calls == 6)
    await cancel(polls[:1])
    await eventually(lambda: gateway.open_polls == 5)
    polls.append(flooder.poll())  # a poll that ended gives its place back
    await eventually(lambda: frontend.open_calls == 6 and gateway.open_polls == 6)
    await cancel(polls)
    await flooder.close()
    await other.close()


async def test_the_gateway_holds_at_most_max_polls_of_all_stations(
    gateway_config: GatewayConfig,
    stations: Stations,
    gateway_certificates: GatewayCertificates,
    audit: pytest.LogCaptureFixture,
) -> None:
    async with running(gateway_config, stations, max_polls=3) as gateway:
        ca = gateway_certificates.ca_certificate
        first, second = Station(gateway, stations, ca), Station(gateway, stations, ca)
        polls = [first.poll(), first.poll(), second.poll()]
        await eventually(lambda: gateway.open_polls == 3)
        audit.clear()
        assert await status(second.poll()) == EXHAUSTED
        assert audited(audit) == [
            (
                second.id,
                "PollActivityTaskQueue",
                "the gateway holds 3 polls already; try again later",
            )
        ]
        assert await status(second.info()) == OK  # other calls are not polls
        await cancel(polls)
        await first.close()
        await second.close()


# -- rate -----------------------------------------------------------------------------


async def test_a_station_makes_at_most_its_calls_a_second(
    gateway_config: GatewayConfig,
    stations: Stations,
    gateway_certificates: GatewayCertificates,
    audit: pytest.LogCaptureFixture,
) -> None:
    async with running(
        gateway_config, stations, calls_per_second_per_station=1.0, calls_burst_per_station=5
    ) as gateway:
        ca = gateway_certificates.ca_certificate
        eager, other = Station(gateway, stations, ca), Station(gateway, stations, ca)
        assert [await status(eager.info()) for _ in range(5)] == [OK] * 5
        audit.clear()
        assert await status(eager.info()) == EXHAUSTED
        assert audited(audit) == [
            (eager.id, "GetSystemInfo", "more than 1 calls a second from this station")
        ]
        assert await status(other.info()) == OK
        await asyncio.sleep(1.0)  # refilled: one call's worth
        assert await status(eager.info()) == OK
        assert gateway.forwarded["GetSystemInfo"] == 7
        await eager.close()
        await other.close()


# -- failed authentication ----------------------------------------------------------------


class CountingStations(Stations):
    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    async def __call__(self, token: str) -> str | None:
        self.lookups += 1
        return await super().__call__(token)


async def test_a_guessing_source_is_throttled_without_lookups(
    gateway_config: GatewayConfig,
    gateway_certificates: GatewayCertificates,
    audit: pytest.LogCaptureFixture,
) -> None:
    stations = CountingStations()
    window = 1.5
    async with running(
        gateway_config,
        stations,
        failed_authentications_per_source=5,
        failed_authentications_window=timedelta(seconds=window),
    ) as gateway:
        ca = gateway_certificates.ca_certificate
        known = Station(gateway, stations, ca)
        assert await status(known.info()) == OK
        started = time.monotonic()
        guesses = [f"guess-{n}" for n in range(7)]
        assert [await status(known.info(token=g)) for g in guesses[:5]] == [UNAUTHENTICATED] * 5
        assert stations.lookups == 6
        audit.clear()
        # Five failed: until the window ends, refused without a lookup, any token or none.
        assert await status(known.info(token=guesses[5])) == EXHAUSTED
        assert await status(known.info(token=guesses[0])) == EXHAUSTED
        assert await status(known.info(token=None)) == EXHAUSTED
        newcomer = Station(gateway, stations, ca)
        assert await status(newcomer.info()) == EXHAUSTED  # the price of sharing an address
        assert stations.lookups == 6
        lines = audited(audit)
        assert len(lines) == 4
        assert all(s is None and "too many failed authentications" in r for s, _, r in lines)
        # A station whose token authenticated before is still looked up, and let in.
        assert await status(known.info()) == OK
        assert stations.lookups == 7
        await asyncio.sleep(max(0.0, started + window - time.monotonic()) + 0.3)
        assert await status(known.info(token=guesses[6])) == UNAUTHENTICATED  # looked up again
        assert stations.lookups == 8
        assert await status(newcomer.info()) == OK
        await known.close()
        await newcomer.close()


async def test_a_repeated_failure_costs_one_lookup_and_locks_out_no_neighbour(
    gateway_config: GatewayConfig,
    gateway_certificates: GatewayCertificates,
) -> None:
    """A worker still running with its replaced token, or with none, beside stations behind
    the same address (a workshop's NAT), also right after a gateway restart."""
    stations = CountingStations()
    async with running(gateway_config, stations, failed_authentications_per_source=5) as gateway:
        ca = gateway_certificates.ca_certificate
        stale = Station(gateway, stations, ca)
        replaced = stale.token
        stations.issue(stale.id)
        statuses = [await status(stale.info(token=replaced)) for _ in range(8)]
        assert statuses == [UNAUTHENTICATED] * 5 + [EXHAUSTED] * 3
        statuses = [await status(stale.info(token=None)) for _ in range(3)]
        assert statuses == [EXHAUSTED] * 3
        assert stations.lookups == 1  # the replaced token, once
        neighbour = Station(gateway, stations, ca)  # never seen by this gateway
        assert await status(neighbour.info()) == OK
        assert stations.lookups == 2
        await stale.close()
        await neighbour.close()


async def test_repeated_refusals_are_audited_as_one_line_per_source_and_interval(
    gateway_config: GatewayConfig,
    stations: Stations,
    gateway_certificates: GatewayCertificates,
    audit: pytest.LogCaptureFixture,
) -> None:
    async with running(
        gateway_config,
        stations,
        audit_lines_per_source=3,
        audit_interval=timedelta(seconds=1),
        failed_authentications_per_source=1000,
    ) as gateway:
        station = Station(gateway, stations, gateway_certificates.ca_certificate)
        await station.channel.channel_ready()
        audit.clear()
        # 30 at once: within the 32 streams of one connection.
        codes = await asyncio.gather(*(status(station.info(token="guess")) for _ in range(30)))
        assert codes == [UNAUTHENTICATED] * 30
        lines = audit_lines(audit)
        assert len(lines) == 3 and all(r.__dict__["call"] == "GetSystemInfo" for r in lines)
        await eventually(lambda: len(audit_lines(audit)) == 4, within=3.0)  # the summary
        summary = audit_lines(audit)[3]
        assert summary.__dict__["suppressed"] == 27 and summary.__dict__["source"] == "127.0.0.1"
        assert "27x station=- call=GetSystemInfo" in summary.getMessage()
        # A new interval: again line by line.
        assert await status(station.info(token="guess")) == UNAUTHENTICATED
        lines = audit_lines(audit)
        assert len(lines) == 5 and lines[4].__dict__["call"] == "GetSystemInfo"
        await station.close()


def audit_lines(audit: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in audit.records if r.name == "gateway.audit"]


# -- the bookkeeping itself: bounded, and exact at its edges ---------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_source_is_an_address_without_its_port_and_an_ipv6_64() -> None:
    assert source_of("ipv4:10.1.2.3:51234") == "10.1.2.3"
    assert source_of("ipv6:[2001:db8:1:2:3:4:5:6]:443") == "2001:db8:1:2::/64"
    assert source_of("ipv6:[2001:db8:1:2:ffff::1]:1") == "2001:db8:1:2::/64"
    assert source_of("unix:/run/gw.sock") == "unix:/run/gw.sock"
    assert source_of("") == "unknown"


def test_failed_authentications_track_a_bounded_number_of_sources() -> None:
    clock = Clock()
    failures = FailedAuthentications(limit=2, window=10, max_entries=3, clock=clock)
    for source in ("a", "b", "c"):
        failures.failed(source, f"token-{source}")
    # A fourth source shares the overflow entry with every further one: still throttled.
    failures.failed("d", "token-d")
    failures.failed("e", "token-e")
    with pytest.raises(Refused) as refused:
        failures.admit("f", "token-f")
    assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert failures.admit("a", "token-new") == "token-new"  # a's own count: 1 of 2
    assert len(failures._sources) == 4 and len(failures._bad) == 3  # the oldest bad ones go
    clock.now += 10
    assert failures.admit("f", "token-f") == "token-f"  # the window is over for everyone
    failures.failed("g", "token-g")
    assert len(failures._sources) <= 4


def test_the_audit_tracks_a_bounded_number_of_sources(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="gateway.audit")
    clock = Clock()
    log = Audit(burst=1, interval=10, max_sources=2, clock=clock)
    for source in ("a", "b", "c", "d", "c"):
        log.refused(source, None, "X", grpc.StatusCode.UNAUTHENTICATED, "r", source)
    # a and b have windows of their own; c and d share "*": c's line, then two counted.
    assert [r.__dict__["source"] for r in caplog.records] == ["a", "b", "c"]
    clock.now += 10
    log.flush()
    assert caplog.records[-1].__dict__["source"] == "*"
    assert caplog.records[-1].__dict__["suppressed"] == 2
    assert log._windows == {}


def test_a_stations_places_are_given_back_once() -> None:
    limits = StationLimits(
        calls_per_second=100, burst=100, open_calls=2, open_polls=1, open_polls_in_all=10
    )
    first = limits.admit("a", poll=True)
    with pytest.raises(Refused):
        limits.admit("a", poll=True)
    second = limits.admit("a", poll=False)
    with pytest.raises(Refused):
        limits.admit("a", poll=False)
    first.release()
    first.release()  # twice is once
    assert (limits.calls_of("a"), limits.polls_of("a"), limits.polls_in_all) == (1, 0, 0)
    second.release()
    assert limits._calls == {} and limits._polls == {}
