"""Counting the calls an app makes into Temporal, at the client boundary.

`counting_client(client)` is the same Temporal client (the same connection, namespace and data
converter) whose every remote call goes through a `CallCounter` first. Served apps label each
HTTP request (`RequestLabels`, an ASGI middleware), so every call is noted with the request
that made it: "POST /service-entries" made these calls, in this order.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import google.protobuf.message
from temporalio.client import Client
from temporalio.service import ServiceClient, ServiceResponse

_REQUEST: ContextVar[str | None] = ContextVar("temporal_calls_request", default=None)


@dataclass
class CallCounter:
    """Every remote call made through the counting client: (request label, rpc name)."""

    calls: list[tuple[str | None, str]] = field(default_factory=list)

    def of(self, request: str) -> list[str]:
        """The rpc names of the calls the requests labelled `request` made, in order."""
        return [rpc for label, rpc in self.calls if label == request]

    def clear(self) -> None:
        self.calls.clear()


class _CountingServiceClient(ServiceClient):
    def __init__(self, inner: ServiceClient, counter: CallCounter) -> None:
        super().__init__(inner.config)
        self._inner = inner
        self._counter = counter

    @property
    def worker_service_client(self) -> Any:
        return self._inner.worker_service_client

    def update_rpc_metadata(self, metadata: Mapping[str, str | bytes]) -> None:
        self._inner.update_rpc_metadata(metadata)

    def update_api_key(self, api_key: str | None) -> None:
        self._inner.update_api_key(api_key)

    async def _rpc_call(
        self,
        rpc: str,
        req: google.protobuf.message.Message,
        resp_type: type[ServiceResponse],
        *,
        service: str,
        retry: bool,
        metadata: Mapping[str, str | bytes],
        timeout: timedelta | None,  # noqa: ASYNC109 (the signature of ServiceClient._rpc_call)
    ) -> ServiceResponse:
        self._counter.calls.append((_REQUEST.get(), rpc))
        return await self._inner._rpc_call(
            rpc,
            req,
            resp_type,
            service=service,
            retry=retry,
            metadata=metadata,
            timeout=timeout,
        )


def counting_client(client: Client) -> tuple[Client, CallCounter]:
    """`client` with every remote call noted in the returned counter."""
    counter = CallCounter()
    config = client.config(active_config=True)
    config["service_client"] = _CountingServiceClient(client.service_client, counter)
    return Client(**config), counter


class RequestLabels:
    """ASGI middleware: the Temporal calls made while serving a request are noted with
    "METHOD /path" (`app.add_middleware(RequestLabels)`)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _REQUEST.set(f"{scope['method']} {scope['path']}")
        try:
            await self.app(scope, receive, send)
        finally:
            _REQUEST.reset(token)


class CountedCalls:
    """A counting client and the rpc names of all its calls, whichever request made them
    (for code that calls use cases directly as well as through the app)."""

    def __init__(self, client: Client) -> None:
        self.client, self._counter = counting_client(client)

    @property
    def calls(self) -> list[str]:
        return [rpc for _, rpc in self._counter.calls]

    def clear(self) -> None:
        self._counter.clear()
