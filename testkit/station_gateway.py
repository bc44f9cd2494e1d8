"""Stations in the tests reach Temporal as in production: only through a station gateway.

`through_gateway(frontend, settings, station_id)` starts a gateway in front of `frontend`
(TLS with the embedded local CA, stations authenticated against the test's database, the
payload codec of `settings`) and yields the station's client: TLS, its own token, no codec.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from temporalio.client import Client

from db.engine import create_engine, create_session_factory
from db.stations import StationRepository
from gateway import Gateway, serve, station_by_token, station_polls
from gateway.config import gateway_config
from settings import Settings
from temporal_client import connect_through_gateway, payload_codec


async def station_token(settings: Settings, station_id: str) -> str:
    """A new token for the station (provisioned, unless a workshop registered it already)."""
    engine = create_engine(settings.database_url)
    try:
        return await StationRepository(create_session_factory(engine)).provision(
            station_id, station_id
        )
    finally:
        await engine.dispose()


@asynccontextmanager
async def station_gateway(
    frontend: Client, settings: Settings, listen: str = "127.0.0.1:0"
) -> AsyncIterator[Gateway]:
    """The gateway as `worker.py gateway` runs it, in this process, in front of `frontend`."""
    config = gateway_config(
        settings, listen=listen, frontend=frontend.service_client.config.target_host
    )
    engine = create_engine(settings.database_url)
    session_factory = create_session_factory(engine)
    running = await serve(
        config,
        station_by_token(session_factory),
        payload_codec(settings),
        station_polls(session_factory),
    )
    try:
        yield running
    finally:
        await running.stop(grace=0.5)
        await engine.dispose()


@dataclass
class StationConnection:
    client: Client
    token: str
    gateway: Gateway


async def connect_station(settings: Settings, gateway: Gateway, token: str) -> Client:
    return await connect_through_gateway(
        settings,
        token,
        address=f"127.0.0.1:{gateway.port}",
        ca_certificate=settings.gateway_ca.read_bytes(),
    )


@asynccontextmanager
async def through_gateway(
    frontend: Client, settings: Settings, station_id: str, token: str | None = None
) -> AsyncIterator[StationConnection]:
    """The station's only connection: a gateway in front of `frontend`, its own token."""
    token = token or await station_token(settings, station_id)
    async with station_gateway(frontend, settings) as gateway:
        client = await connect_station(settings, gateway, token)
        yield StationConnection(client, token, gateway)
