"""Counting the calls a client makes to the Temporal server, at the client's boundary.

`CountedCalls(client)` is a Temporal client on the same connection that records the name of
every RPC it sends (`describe_workflow_execution`, `query_workflow`, `start_workflow_execution`,
...). Hand `.client` to the app (`create_app(settings, temporal=counted.client)`) and read
`.calls` after a request: what the request cost in round trips to Temporal, whichever way the
code under test asked (the client's high-level calls or raw `workflow_service` calls).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import google.protobuf.message
from temporalio.client import Client
from temporalio.service import ServiceClient, ServiceResponse


class _CountingServiceClient(ServiceClient):
    """The connection of another service client, noting each RPC before it is sent."""

    def __init__(self, inner: ServiceClient, calls: list[str]) -> None:
        super().__init__(inner.config)
        self._inner, self._calls = inner, calls

    @property
    def worker_service_client(self):  # type: ignore[no-untyped-def]  # the SDK's private type
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
        timeout: timedelta | None,  # noqa: ASYNC109  # the SDK's signature, passed on
    ) -> ServiceResponse:
        self._calls.append(rpc)
        return await self._inner._rpc_call(
            rpc,
            req,
            resp_type,
            service=service,
            retry=retry,
            metadata=metadata,
            timeout=timeout,
        )


class CountedCalls:
    """A client like `client` (its connection, namespace and data converter) whose calls to
    the server are recorded in `calls`, in the order they were sent."""

    def __init__(self, client: Client) -> None:
        self.calls: list[str] = []
        self.client = Client(
            _CountingServiceClient(client.service_client, self.calls),
            namespace=client.namespace,
            data_converter=client.data_converter,
        )

    def clear(self) -> None:
        self.calls.clear()
