"""The gateway's gRPC server: authenticate, check, rewrite, forward, and answer faithfully.

One generic handler takes every method of every service, so nothing reaches the frontend that
is not on the allow-list (`calls.ALLOWED`) and passed the station's checks (`rules`). A call is
judged on its metadata before its message is read: a source that failed authentication too
often, a caller without a valid token (`auth`), a method off the list, and a station over its
limits (`limits`: calls a second, calls and polls open at once) are refused without reading a
byte of the message, which grpc caps at the frontend's own 4 MiB anyway. Every refusal goes to
the `gateway.audit` log (`audit`), line by line up to a burst per source, then counted. Requests
and responses travel as bytes and are parsed here: a message that does not parse is refused
before any forwarding, and unknown fields are dropped rather than passed on.

Then the call goes its way: a long poll (`polls`), an answer to a task (`answers`), or a plain
call, forwarded to the frontend (`frontend`), which also cuts open calls whose token was
replaced. With `authentication_ttl`, lookups are remembered that long (`authcache`), the
re-checks included. Everything is asynchronous, so open polls do not hold up other calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from typing import NoReturn

import grpc
from google.protobuf.message import DecodeError, Message
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeNamespaceResponse,
    PollActivityTaskQueueRequest,
    RecordWorkerHeartbeatRequest,
    ShutdownWorkerRequest,
)
from temporalio.converter import PayloadCodec

from gateway.answers import Answers
from gateway.audit import Audit
from gateway.auth import Authenticate, AuthenticationUnavailable, NotePoll, StationAuthentication
from gateway.authcache import CachedAuthentication
from gateway.calls import ALLOWED, Kind, call_name, path, request_class
from gateway.config import FRONTEND_MAX_MESSAGE_BYTES, GatewayConfig
from gateway.frontend import Context, Frontend, Metadata, Upstream
from gateway.limits import FailedAuthentications, StationLimits, source_of
from gateway.polls import Polls
from gateway.rules import Refused, Rules, TaskAnswer
from gateway.tasks import BackgroundTasks
from gateway.tokens import TaskTokens

log = logging.getLogger(__name__)

Requests = AsyncIterator[bytes]


class Gateway:
    """A running (after `start`) gateway; `stop` ends it. Use `serve` to get a started one."""

    def __init__(
        self,
        config: GatewayConfig,
        authenticate: Authenticate,
        codec: PayloadCodec | None = None,
        note_poll: NotePoll | None = None,
    ) -> None:
        self.config = config
        ttl = config.authentication_ttl.total_seconds()
        self._authentication = StationAuthentication(
            CachedAuthentication(authenticate, ttl, config.authentication_cache_entries)
            if ttl > 0
            else authenticate,
            FailedAuthentications(
                limit=config.failed_authentications_per_source,
                window=config.failed_authentications_window.total_seconds(),
            ),
        )
        self._rules = Rules(config)
        self._tokens = TaskTokens(
            grace=config.task_token_grace.total_seconds(), key=config.task_token_key
        )
        self._limits = StationLimits(
            calls_per_second=config.calls_per_second_per_station,
            burst=config.calls_burst_per_station,
            open_calls=config.max_calls_per_station,
            open_polls=config.max_polls_per_station,
            open_polls_in_all=config.max_polls,
        )
        self._audit = Audit(
            burst=config.audit_lines_per_source, interval=config.audit_interval.total_seconds()
        )
        self._frontend = Frontend(config, self._authentication)
        self._polls = Polls(
            config,
            self._rules,
            self._tokens,
            self._frontend,
            self._authentication,
            codec,
            note_poll,
        )
        self._answers = Answers(self._rules, self._tokens, self._frontend, codec)
        self._background = BackgroundTasks()
        self._server: grpc.aio.Server | None = None
        self.port = 0

    @property
    def forwarded(self) -> Counter[str]:
        """Calls forwarded to the frontend, by method: what stations really use, and proof in
        tests that nothing refused got through."""
        return self._frontend.forwarded

    @property
    def open_calls(self) -> int:
        """Calls forwarded to the frontend and not yet ended (long polls, mostly)."""
        return self._frontend.open_calls

    @property
    def task_tokens(self) -> int:
        """Task tokens handed out and still answerable."""
        return len(self._tokens)

    @property
    def open_polls(self) -> int:
        """Long polls of all stations admitted and not yet ended."""
        return self._limits.polls_in_all

    async def start(self) -> None:
        config = self.config
        options = [
            # A station's message larger than this is refused by grpc before it is buffered
            # whole; an unauthenticated one is not read at all (see `handle`).
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", FRONTEND_MAX_MESSAGE_BYTES),
            ("grpc.max_concurrent_streams", config.max_streams_per_connection),
            ("grpc.keepalive_time_ms", int(config.keepalive.total_seconds() * 1000)),
            ("grpc.keepalive_timeout_ms", int(config.keepalive_timeout.total_seconds() * 1000)),
            # A second gateway on the same port must fail, not silently share it.
            ("grpc.so_reuseport", 0),
        ]
        self._frontend.open()
        server = grpc.aio.server(options=options)
        server.add_generic_rpc_handlers([_Handler(self)])
        if self.config.server_certificate is not None and self.config.server_private_key:
            credentials = grpc.ssl_server_credentials(
                [(self.config.server_private_key, self.config.server_certificate)]
            )
            self.port = server.add_secure_port(self.config.listen, credentials)
        else:
            self.port = server.add_insecure_port(self.config.listen)
        await server.start()
        self._server = server
        self._background.spawn(self._flush_audit(), name="gateway audit flush")
        log.info("station gateway on port %s -> %s", self.port, self.config.frontend)

    async def stop(self, grace: float | None = 5.0) -> None:
        """Refuse new calls, give open ones `grace` seconds, then cancel them."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        await self._frontend.close()
        await self._background.close()
        self._audit.flush(everything=True)

    async def _flush_audit(self) -> None:
        """The counted refusals of each source, one line per interval (see `audit`)."""
        while True:
            await asyncio.sleep(self._audit.interval / 4)
            self._audit.flush()

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    # -- one call ------------------------------------------------------------------------

    async def handle(self, full_path: str, requests: Requests, context: Context) -> bytes:
        """One call, from its metadata first: who, what and how many are settled before its
        message is read, so a stranger's or an over-eager station's bytes are never held."""
        call = call_name(full_path)
        peer = context.peer()
        source = source_of(peer)
        station: str | None = None
        log.debug("call %s from %s", call, peer)
        try:
            token, station = await self._authentication.caller(
                source, context.invocation_metadata()
            )
            kind = ALLOWED.get(call) if full_path == path(call) else None
            if kind is None:
                raise Refused(
                    grpc.StatusCode.PERMISSION_DENIED, "not allowed through the station gateway"
                )
            with self._limits.admit(station, poll=kind is Kind.POLL):
                message = await self._read(call, requests)
                return await self._dispatch(kind, call, station, token, message, context)
        except Refused as refused:
            self._audit.refused(source, station, call, refused.code, refused.reason, peer)
            await _abort(context, refused.code, f"{call}: {refused.reason}")
        except Upstream as upstream:
            await _abort(context, upstream.code, upstream.details, upstream.trailing)
        except AuthenticationUnavailable:
            log.exception("cannot authenticate a station for %s", call)
            # Retryable for the SDK: the station keeps polling once the lookup works again.
            await _abort(context, grpc.StatusCode.UNAVAILABLE, f"{call}: try again")
        except Exception:
            log.exception("station gateway failed on %s for station %s", call, station)
            await _abort(context, grpc.StatusCode.INTERNAL, f"{call}: the gateway failed")

    async def _read(self, call: str, requests: Requests) -> Message:
        """The call's one message, parsed; unknown fields dropped rather than passed on."""
        try:
            raw = await anext(requests)
        except StopAsyncIteration:
            # grpc has already refused an oversized message (RESOURCE_EXHAUSTED); or the
            # caller sent none.
            raise Refused(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"no request message, or one larger than {self.config.max_message_bytes} bytes",
            ) from None
        try:
            message = request_class(call).FromString(raw)
        except DecodeError:
            raise Refused(
                grpc.StatusCode.INVALID_ARGUMENT, "the request is not a valid message"
            ) from None
        message.DiscardUnknownFields()
        return message

    async def _dispatch(
        self, kind: Kind, call: str, station: str, token: str, message: Message, context: Context
    ) -> bytes:
        if kind is Kind.SYSTEM:
            return await self._frontend.forward(call, message, station, token, context)
        if kind is Kind.NAMESPACE:
            assert isinstance(message, DescribeNamespaceRequest)
            self._rules.describe_namespace(message)
            raw = await self._frontend.forward(call, message, station, token, context)
            described = DescribeNamespaceResponse.FromString(raw)
            self._rules.trim_namespace(described)
            return described.SerializeToString()
        if kind is Kind.POLL:
            assert isinstance(message, PollActivityTaskQueueRequest)
            return await self._polls.poll(call, message, station, token, context)
        if kind is Kind.WORKER:
            assert isinstance(message, RecordWorkerHeartbeatRequest | ShutdownWorkerRequest)
            self._rules.worker(station, message)
            return await self._frontend.forward(call, message, station, token, context)
        assert isinstance(message, TaskAnswer)
        return await self._answers.answer(kind, call, message, station, token, context)


async def _abort(
    context: Context, code: grpc.StatusCode, details: str, trailing: Metadata = ()
) -> NoReturn:
    """End the call with a status, or, if its station has already gone (deadline, cancel,
    connection), as cancelled: grpc cannot send a status then and raises ExecuteBatchError,
    which it would log as an error of the gateway when it is only a station that left."""
    try:
        await context.abort(code, details, tuple(trailing))
    except grpc.aio.InternalError:  # ExecuteBatchError's base; AbortError passes through
        log.debug("%s not sent: the caller has left", code.name)
        raise asyncio.CancelledError from None


class _Handler(grpc.GenericRpcHandler):
    """Every method path lands in `Gateway.handle`, raw bytes in and out.

    Every method is served as request-streaming, which on the wire is the same as unary: grpc
    then hands the handler the call before its message, which `handle` reads only once the
    caller is known and admitted. (A unary handler, or an interceptor in front of one, would
    get control only after grpc had received the whole message.)
    """

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[bytes, bytes]:
        full_path: str = handler_call_details.method
        gateway = self._gateway

        async def behaviour(requests: Requests, context: Context) -> bytes:
            return await gateway.handle(full_path, requests, context)

        return grpc.stream_unary_rpc_method_handler(behaviour)


async def serve(
    config: GatewayConfig,
    authenticate: Authenticate,
    codec: PayloadCodec | None = None,
    note_poll: NotePoll | None = None,
) -> Gateway:
    """Start a gateway; the caller stops it with `await gateway.stop()`."""
    gateway = Gateway(config, authenticate, codec, note_poll)
    await gateway.start()
    return gateway


async def run_gateway(
    config: GatewayConfig,
    authenticate: Authenticate,
    codec: PayloadCodec | None,
    stop: asyncio.Event,
    note_poll: NotePoll | None = None,
) -> None:
    """Serve until `stop` is set (the shape of a `worker.py gateway` command)."""
    gateway = await serve(config, authenticate, codec, note_poll)
    try:
        await stop.wait()
    finally:
        await gateway.stop()
