"""One way to connect to Temporal, shared by the API, the workers and the tests."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from settings import Settings


def data_converter() -> DataConverter:
    """Pydantic models in, pydantic models out, for every workflow and activity payload."""
    return pydantic_data_converter


async def connect_temporal(settings: Settings, *, lazy: bool = False) -> Client:
    """Connect to the configured Temporal server.

    `lazy=True` lets the API start while Temporal is down; readiness then reports it.
    """
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(),
        lazy=lazy,
    )
