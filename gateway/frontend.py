"""The gateway's side of the Temporal frontend: one channel, calls forwarded with the station's
deadline and cut when its token goes, the frontend's errors passed on unchanged, and tasks
handed back that a station will not get.

Forwarded calls keep the station's deadline, are cancelled when the station cancels, and
answer with the frontend's status, message and trailing metadata (including
`grpc-status-details-bin`), so the SDK's typed errors and retries behave as against the
frontend itself. While a call is open (a long poll lasts up to ~70 s), the station's token is
checked again every `reauthenticate_every`; a replaced token cuts the call with
UNAUTHENTICATED.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf.message import Message
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.workflowservice.v1 import (
    PollActivityTaskQueueResponse,
    RespondActivityTaskFailedRequest,
)

from gateway.auth import StationAuthentication
from gateway.calls import path
from gateway.config import FRONTEND_MAX_MESSAGE_BYTES, GatewayConfig
from gateway.rules import Refused
from gateway.tasks import observe

log = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[bytes, bytes]
Metadata = Sequence[tuple[str, str | bytes]]

# Headers of the station's call that the frontend uses (SDK version checks); everything else,
# the station's authorization above all, stays at the gateway.
FORWARDED_HEADERS = frozenset({"client-name", "client-version", "supported-server-versions"})
GATEWAY_IDENTITY = "station-gateway"


class Upstream(Exception):
    """The frontend's error, to be passed on to the station unchanged."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: Metadata) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.trailing = trailing


class Frontend:
    """The channel to the frontend (after `open`, until `close`) and the calls on it."""

    def __init__(self, config: GatewayConfig, authentication: StationAuthentication) -> None:
        self.config = config
        self._authentication = authentication
        self._channel: grpc.aio.Channel | None = None
        self.open_calls = 0  # forwarded and not yet ended (long polls, mostly)
        # Calls forwarded, by method: what stations really use, and proof in tests that
        # nothing refused got through.
        self.forwarded: Counter[str] = Counter()

    def open(self) -> None:
        """Open the channel (plain, or TLS with `frontend_tls`)."""
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", FRONTEND_MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", FRONTEND_MAX_MESSAGE_BYTES),
        ]
        tls = self.config.frontend_tls
        if tls is None:
            self._channel = grpc.aio.insecure_channel(self.config.frontend, options=options)
            return
        if tls.server_name:
            options.append(("grpc.ssl_target_name_override", tls.server_name))
        credentials = grpc.ssl_channel_credentials(
            root_certificates=tls.root_ca,
            private_key=tls.client_private_key,
            certificate_chain=tls.client_certificate,
        )
        self._channel = grpc.aio.secure_channel(self.config.frontend, credentials, options=options)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def forward(
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
        self.open_calls += 1
        answered = False
        try:
            while not waiter.done():
                await asyncio.wait({waiter}, timeout=interval)
                if not waiter.done() and not await self._authentication.still_authenticated(
                    token, station
                ):
                    raise Refused(grpc.StatusCode.UNAUTHENTICATED, "the station token was replaced")
            answered = True
            return waiter.result()
        except grpc.aio.AioRpcError as err:
            trailing = tuple(err.trailing_metadata() or ())
            raise Upstream(err.code(), err.details() or "", trailing) from None
        finally:
            self.open_calls -= 1
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

    async def give_back(self, task: PollActivityTaskQueueResponse, reason: str) -> None:
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
