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

from activities.key_reads import KeyReaderActivities
from activities.service_history import (
    ServiceBookletStation,
    VehicleServiceActivities,
    service_booklet_station,
)
from db.models import Station, Ticket, TicketPurchase
from db.seed import seed_demo_vehicles
from domain.accounts import Role
from domain.catalogue import Service
from settings import Settings
from tests.factories import SignedIn, create_workshop, sign_in

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


async def grant_ticket(
    session_factory: async_sessionmaker[AsyncSession],
    workshop_id: str,
    starts_at: datetime,
    ends_at: datetime,
    service: Service = Service.SERVICE_HISTORY,
) -> None:
    """A confirmed ticket written straight to the database (for tests that are not about buying)."""
    purchase_id, ticket_id = f"tp-{uuid.uuid4().hex[:12]}", f"tk-{uuid.uuid4().hex[:12]}"
    async with session_factory() as session, session.begin():
        session.add(
            TicketPurchase(
                id=purchase_id,
                workshop_id=workshop_id,
                idempotency_key=purchase_id,
                service=service.value,
                period="year",
                price_cents=1,
                state="confirmed",
                ticket_id=ticket_id,
                created_at=starts_at,
                updated_at=starts_at,
            )
        )
        await session.flush()
        session.add(
            Ticket(
                id=ticket_id,
                workshop_id=workshop_id,
                service=service.value,
                period="year",
                price_cents=1,
                starts_at=starts_at,
                ends_at=ends_at,
                purchase_id=purchase_id,
                created_at=starts_at,
            )
        )


async def long_ticket(
    session_factory: async_sessionmaker[AsyncSession], workshop_id: str, clock: datetime
) -> None:
    """Coverage of both the real clock (the API's check) and `clock`, a time-skipping server's
    (the workflows' check), which other tests may have moved years ahead, for a century."""
    now = datetime.now(UTC)
    starts, ends = min(now, clock), max(now, clock)
    await grant_ticket(
        session_factory, workshop_id, starts - timedelta(days=1), ends + timedelta(days=36500)
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


async def seed(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await seed_demo_vehicles(session_factory)


def new_station_id() -> str:
    return f"st-{uuid.uuid4().hex[:10]}"


@contextlib.asynccontextmanager
async def station_worker(
    client: Client,
    settings: Settings,
    station_id: str,
    booklet: ServiceBookletStation | None = None,
) -> AsyncIterator[ServiceBookletStation]:
    """The station's worker as the station command builds it for `--vehicle sim://`, with its
    own named simulated car (`sim://?name=<station id>`)."""
    booklet = booklet or service_booklet_station(station_id, f"sim://?name={station_id}")
    activities: list[Any] = booklet.activities()
    async with Worker(
        client, task_queue=settings.station_task_queue(station_id), activities=activities
    ):
        yield booklet


def booklet_with_reader(station_id: str, backend: Any) -> ServiceBookletStation:
    return ServiceBookletStation(
        KeyReaderActivities(station_id, backend),
        VehicleServiceActivities(station_id, f"sim://?name={station_id}"),
    )
