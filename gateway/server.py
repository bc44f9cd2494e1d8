"""The gateway's gRPC server: authenticate, check, rewrite, forward, and answer faithfully.

One generic handler takes every method of every service, so nothing reaches the frontend that
is not on the allow-list (`calls.ALLOWED`) and passed the station's checks (`rules`). A call is
judged on its metadata before its message is read: a source that failed authentication too
often, a caller without a valid token, a method off the list, and a station over its limits
(`limits`: calls a second, calls and polls open at once) are refused without reading a byte of
the message, which grpc caps at the frontend's own 4 MiB anyway. Every refusal goes to the
`gateway.audit` log (`audit`), line by line up to a burst per source, then counted. Requests
and responses travel as bytes and are parsed here: a message that does not parse is refused
before any forwarding, and unknown fields are dropped rather than passed on.

Forwarded calls keep the station's deadline, are cancelled when the station cancels, and
answer with the frontend's status, message and trailing metadata (including
`grpc-status-details-bin`), so the SDK's typed errors and retries behave as against the
frontend itself. While a call is open (a long poll lasts up to ~70 s), the station's token is
checked again every `reauthenticate_every`; a replaced token cuts the call with
UNAUTHENTICATED. With `authentication_ttl`, lookups are remembered that long (`authcache`), the
re-checks included. Everything is asynchronous, so open polls do not hold up other calls.

A poll the gateway takes is noted (`note_poll`, at most every `POLL_NOTE_INTERVAL` per
station), before it is forwarded: so the portal knows the station's worker runs even while the
frontend, just restarted, does not list it among the queue's pollers, or cannot be reached.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any, NoReturn

import grpc
from google.protobuf.message import DecodeError, Message
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeNamespaceResponse,
    PollActivityTaskQueueRequest,
    PollActivityTaskQueueResponse,
    RecordActivityTaskHeartbeatRequest,
    RecordWorkerHeartbeatRequest,
    RespondActivityTaskCanceledRequest,
    RespondActivityTaskCompletedRequest,
    RespondActivityTaskFailedRequest,
    ShutdownWorkerRequest,
)
from temporalio.converter import PayloadCodec

from gateway.audit import Audit
from gateway.auth import Authenticate, NotePoll, bearer_token
from gateway.authcache import CachedAuthentication
from gateway.calls import ALLOWED, Kind, call_name, path, request_class
from gateway.config import FRONTEND_MAX_MESSAGE_BYTES, GatewayConfig
from gateway.limits import UNKNOWN_TOKEN, FailedAuthentications, StationLimits, source_of
from gateway.payloads import activity_context, decode_task, encode_answer, with_context
from gateway.rules import Refused, Rules, TaskAnswer
from gateway.tasks import BackgroundTasks, observe
from gateway.tokens import TaskTokens

log = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[bytes, bytes]
Metadata = Sequence[tuple[str, str | bytes]]
Requests = AsyncIterator[bytes]

# Headers of the station's call that the frontend uses (SDK version checks); everything else,
# the station's authorization above all, stays at the gateway.
FORWARDED_HEADERS = frozenset({"client-name", "client-version", "supported-server-versions"})
GATEWAY_IDENTITY = "station-gateway"
# A station's worker polls at least every ~70 s (a long poll's end), and every few seconds while
# the frontend is away; noting it this often keeps the note well within the API's
# `application.workflow_calls.POLLER_FRESHNESS` (2 minutes) at one write per station per interval.
POLL_NOTE_INTERVAL = 30.0
POLL_NOTE_TIMEOUT = 2.0


class Upstream(Exception):
    """The frontend's error, to be passed on to the station unchanged."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: Metadata) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.trailing = trailing


class AuthenticationUnavailable(Exception):
    """The token could not be looked up (database away), which is not the station's fault."""


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
        self._authenticate = (
            CachedAuthentication(authenticate, ttl, config.authentication_cache_entries)
            if ttl > 0
            else authenticate
        )
        self._codec = codec
        self._note_poll = note_poll
        self._polls_noted: dict[str, float] = {}  # station -> monotonic time of its last note
        self._rules = Rules(config)
        self._tokens = TaskTokens(
            grace=config.task_token_grace.total_seconds(), key=config.task_token_key
        )
        self._failed_authentications = FailedAuthentications(
            limit=config.failed_authentications_per_source,
            window=config.failed_authentications_window.total_seconds(),
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
        self._background = BackgroundTasks()
        self._server: grpc.aio.Server | None = None
        self._channel: grpc.aio.Channel | None = None
        self._open_calls = 0
        self.port = 0
        # Calls forwarded to the frontend, by method: what stations really use, and proof in
        # tests that nothing refused got through.
        self.forwarded: Counter[str] = Counter()

    @property
    def open_calls(self) -> int:
        """Calls forwarded to the frontend and not yet ended (long polls, mostly)."""
        return self._open_calls

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
        self._channel = self._frontend_channel()
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
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
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

    def _frontend_channel(self) -> grpc.aio.Channel:
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", FRONTEND_MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", FRONTEND_MAX_MESSAGE_BYTES),
        ]
        tls = self.config.frontend_tls
        if tls is None:
            return grpc.aio.insecure_channel(self.config.frontend, options=options)
        if tls.server_name:
            options.append(("grpc.ssl_target_name_override", tls.server_name))
        credentials = grpc.ssl_channel_credentials(
            root_certificates=tls.root_ca,
            private_key=tls.client_private_key,
            certificate_chain=tls.client_certificate,
        )
        return grpc.aio.secure_channel(self.config.frontend, credentials, options=options)

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
            token = self._failed_authentications.admit(
                source, bearer_token(context.invocation_metadata())
            )
            try:
                station = await self._authenticate(token)
            except Exception as err:
                raise AuthenticationUnavailable from err
            if station is None:
                self._failed_authentications.failed(source, token)
                raise Refused(grpc.StatusCode.UNAUTHENTICATED, UNKNOWN_TOKEN)
            self._failed_authentications.succeeded(token)
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
            return await self._forward(call, message, station, token, context)
        if kind is Kind.NAMESPACE:
            assert isinstance(message, DescribeNamespaceRequest)
            self._rules.describe_namespace(message)
            raw = await self._forward(call, message, station, token, context)
            described = DescribeNamespaceResponse.FromString(raw)
            self._rules.trim_namespace(described)
            return described.SerializeToString()
        if kind is Kind.POLL:
            assert isinstance(message, PollActivityTaskQueueRequest)
            return await self._poll(call, message, station, token, context)
        if kind is Kind.WORKER:
            assert isinstance(message, RecordWorkerHeartbeatRequest | ShutdownWorkerRequest)
            self._rules.worker(station, message)
            return await self._forward(call, message, station, token, context)
        assert isinstance(
            message,
            RecordActivityTaskHeartbeatRequest
            | RespondActivityTaskCompletedRequest
            | RespondActivityTaskFailedRequest
            | RespondActivityTaskCanceledRequest,
        )
        return await self._answer(kind, call, message, station, token, context)

    async def _poll(
        self,
        call: str,
        request: PollActivityTaskQueueRequest,
        station: str,
        token: str,
        context: Context,
    ) -> bytes:
        self._rules.poll(station, request)
        await self._noted(station)
        raw = await self._forward(call, request, station, token, context)
        task = PollActivityTaskQueueResponse.FromString(raw)
        if not task.task_token:
            return raw  # the poll ended without a task
        # Through the cache (`authentication_ttl`): a task arriving within a second of a
        # replacement may still go to the old token's holder, the same station, cut off soon.
        if not await self._still_authenticated(token, station):
            await self._give_back(task, "the station's token was replaced while it polled")
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, "the station token was replaced")
        serialization = activity_context(task, self.config.namespace, request.task_queue.name)
        if self._codec is not None:
            try:
                await decode_task(with_context(self._codec, serialization), task)
            except Exception as err:
                log.exception("cannot decode the payloads of a task for station %s", station)
                await self._give_back(task, f"the gateway could not decode the payloads: {err}")
                return PollActivityTaskQueueResponse().SerializeToString()
        task.task_token = self._tokens.grant(station, task, serialization)
        return task.SerializeToString()

    async def _noted(self, station: str) -> None:
        """Note the station's poll, unless noted within `POLL_NOTE_INTERVAL`. A note that
        fails (database away) is logged and the poll goes on: it is a hint, not a gate."""
        now = time.monotonic()
        last = self._polls_noted.get(station)
        if self._note_poll is None or (last is not None and now - last < POLL_NOTE_INTERVAL):
            return
        self._polls_noted[station] = now
        try:
            async with asyncio.timeout(POLL_NOTE_TIMEOUT):
                await self._note_poll(station)
        except Exception:
            log.warning("cannot note a poll of station %s", station, exc_info=True)

    async def _answer(
        self, kind: Kind, call: str, request: TaskAnswer, station: str, token: str, context: Context
    ) -> bytes:
        self._rules.task_answer(station, request)  # before the token: what it refuses, it names
        sealed = request.task_token
        final = kind is Kind.FINAL
        # A final answer spends its token as it is checked, before the first await: a second
        # answer with it, even one arriving while this one is on its way, is refused here.
        grant = (
            self._tokens.claim(station, sealed) if final else self._tokens.lookup(station, sealed)
        )
        if grant is None:
            raise Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                "the task token was not handed to this station, or its task has ended "
                "or is being answered",
            )
        try:
            request.task_token = grant.server_token
            if self._codec is not None:
                await encode_answer(with_context(self._codec, grant.context), request)
            raw = await self._forward(call, request, station, token, context)
        except Upstream as upstream:
            if upstream.code == grpc.StatusCode.NOT_FOUND:  # the attempt is gone server-side
                self._tokens.spend(sealed)
            elif final:
                self._tokens.release(sealed, grant)
            raise
        except BaseException:
            # Not answered (cut off, cancelled by the station, or the gateway failed): the
            # frontend, which refuses a second answer itself, decides a retry.
            if final:
                self._tokens.release(sealed, grant)
            raise
        if not final:
            self._tokens.heartbeat_recorded(sealed)
        return raw

    async def _forward(
        self, call: str, message: Message, station: str, token: str, context: Context
    ) -> bytes:
        """The call at the frontend, with the station's deadline, cut if the token goes."""
        assert self._channel is not None, "the gateway is not started"
        method: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = self._channel.unary_unary(
            path(call)
        )
        rpc = method(
            message.SerializeToString(),
            timeout=context.time_remaining(),
            metadata=self._forwarded_metadata(context),
        )
        waiter: asyncio.Future[bytes] = asyncio.ensure_future(rpc)
        interval = self.config.reauthenticate_every.total_seconds()
        self.forwarded[call] += 1
        self._open_calls += 1
        answered = False
        try:
            while not waiter.done():
                await asyncio.wait({waiter}, timeout=interval)
                if not waiter.done() and not await self._still_authenticated(token, station):
                    raise Refused(grpc.StatusCode.UNAUTHENTICATED, "the station token was replaced")
            answered = True
            return waiter.result()
        except grpc.aio.AioRpcError as err:
            trailing = tuple(err.trailing_metadata() or ())
            raise Upstream(err.code(), err.details() or "", trailing) from None
        finally:
            self._open_calls -= 1
            if not waiter.done():
                waiter.cancel()  # cancels the call at the frontend too
            if not answered:
                # The station left (its call cancelled) or was cut off: nobody reads the
                # frontend's answer, which may still fail, so it is retrieved here; else asyncio
                # reports it later as "Task exception was never retrieved".
                observe(waiter, f"{call} at the frontend")

    def _forwarded_metadata(self, context: Context) -> list[tuple[str, str | bytes]]:
        metadata: list[tuple[str, str | bytes]] = [
            (key, value)
            for key, value in context.invocation_metadata() or ()
            if key in FORWARDED_HEADERS
        ]
        metadata.append(("temporal-namespace", self.config.namespace))
        metadata.extend(self.config.frontend_metadata.items())
        return metadata

    async def _still_authenticated(self, token: str, station: str) -> bool:
        """False only when the token now answers to nobody (or somebody else).

        A failing lookup (database briefly away) keeps open calls open: cutting every station
        at once would be worse than a revocation taking one more interval.
        """
        try:
            return await self._authenticate(token) == station
        except Exception:
            log.warning("cannot re-check a station token; keeping the call open", exc_info=True)
            return True

    async def _give_back(self, task: PollActivityTaskQueueResponse, reason: str) -> None:
        """Fail an attempt the station will not get, so it retries now instead of timing out."""
        assert self._channel is not None
        request = RespondActivityTaskFailedRequest(
            namespace=self.config.namespace,
            task_token=task.task_token,
            identity=GATEWAY_IDENTITY,
            failure=Failure(
                message=reason,
                source=GATEWAY_IDENTITY,
                application_failure_info=ApplicationFailureInfo(type="StationGatewayRefused"),
            ),
        )
        method: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = self._channel.unary_unary(
            path("RespondActivityTaskFailed")
        )
        try:
            await method(
                request.SerializeToString(),
                timeout=10.0,
                metadata=[
                    ("temporal-namespace", self.config.namespace),
                    *self.config.frontend_metadata.items(),
                ],
            )
        except grpc.aio.AioRpcError as err:
            log.warning("could not hand back a task: %s %s", err.code(), err.details())


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
