"""Fixtures of the service-history tests: demo vehicles, tickets, people, a station worker."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from db.models import Station
from db.seed import seed_demo_vehicles
from domain.accounts import Role
from hw.sim import station as simulated
from settings import Settings
from station.key_reader import KeyReaderActivities
from station.service_booklet import ServiceBookletStation, VehicleServiceActivities
from testkit.factories import SignedIn, create_workshop, grant_ticket, sign_in
from testkit.station_gateway import through_gateway
from tests.helpers import until_polling

DEMO_VIN = "WBA8E5105FK731548"  # the demo key's vehicle: BMW 320d, 194 826 km
OTHER_VIN = "WBAJA5105HG402917"  # BMW 530i


@dataclass
class Garage:
    workshop_id: str
    owner: SignedIn
    technician: SignedIn


async def garage(
    session_factory: async_sessionmaker[AsyncSession], name: str = "Garage Test"
) -> Garage:
    workshop_id = await create_workshop(session_factory, name)
    return Garage(
        workshop_id,
        await sign_in(session_factory, Role.WORKSHOP_OWNER, workshop_id),
        await sign_in(session_factory, Role.TECHNICIAN, workshop_id),
    )


async def add_station(
    session_factory: async_sessionmaker[AsyncSession], workshop_id: str, station_id: str
) -> None:
    async with session_factory() as session, session.begin():
        session.add(
            Station(
                id=station_id,
                workshop_id=workshop_id,
                name=station_id,
                created_at=datetime.now(UTC),
            )
        )


async def garage_with_station(
    session_factory: async_sessionmaker[AsyncSession],
) -> tuple[Garage, str]:
    """A workshop with a day of service-history access and a station of its own (its id)."""
    shop = await garage(session_factory)
    now = datetime.now(UTC)
    await grant_ticket(
        session_factory, shop.workshop_id, now - timedelta(hours=1), now + timedelta(days=1)
    )
    station_id = f"st-{uuid.uuid4().hex[:10]}"
    await add_station(session_factory, shop.workshop_id, station_id)
    return shop, station_id


async def seed(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await seed_demo_vehicles(session_factory)


@contextlib.asynccontextmanager
async def station_worker(
    client: Client,
    settings: Settings,
    station_id: str,
    booklet: ServiceBookletStation | None = None,
) -> AsyncIterator[ServiceBookletStation]:
    """The station's worker as the station command builds it for `--vehicle sim://`, with its
    own named simulated car (`sim://?name=<station id>`), through a station gateway."""
    if booklet is None:
        vehicle_url = f"sim://?name={station_id}"
        simulated.prepare_car(vehicle_url)
        booklet = ServiceBookletStation(
            KeyReaderActivities(station_id, simulated.key_reader()),
            VehicleServiceActivities(station_id, vehicle_url),
        )
    activities: list[Any] = booklet.activities()
    async with (
        through_gateway(client, settings, station_id) as connection,
        Worker(
            connection.client,
            task_queue=settings.station_task_queue(station_id),
            activities=activities,
        ),
    ):
        await until_polling(client, settings, station_id)
        yield booklet


def booklet_with_reader(station_id: str, backend: Any) -> ServiceBookletStation:
    return ServiceBookletStation(
        KeyReaderActivities(station_id, backend),
        VehicleServiceActivities(station_id, f"sim://?name={station_id}"),
    )
