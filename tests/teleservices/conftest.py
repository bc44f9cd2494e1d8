"""Fixtures of the teleservice tests: the demo cars, a service partner with a teleservice
ticket, an operator, and reading what the portal stored."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import InboundMessage
from db.seed import seed_demo_vehicles
from domain.accounts import Role
from domain.catalogue import Service
from testkit.factories import SignedIn, create_workshop, grant_ticket, sign_in

DEMO_VIN = "WBA8E5105FK731548"
OTHER_VIN = "WBAJA5105HG402917"

Result = TypeVar("Result")


@dataclass
class Partner:
    workshop_id: str
    owner: SignedIn
    technician: SignedIn


async def service_partner(
    session_factory: async_sessionmaker[AsyncSession],
    *,
    clock: datetime | None = None,
    services: tuple[Service, ...] = (Service.TELESERVICE, Service.SERVICE_HISTORY),
) -> Partner:
    """A workshop with a century of the given services from `clock` (the workflows' clock on
    a time-skipping server) and from now (the API's)."""
    workshop_id = await create_workshop(session_factory, "Teleservice Partner")
    starts = min(clock or datetime.now(UTC), datetime.now(UTC)) - timedelta(hours=1)
    for service in services:
        await grant_ticket(
            session_factory, workshop_id, starts, starts + timedelta(days=36_500), service
        )
    return Partner(
        workshop_id,
        await sign_in(session_factory, Role.WORKSHOP_OWNER, workshop_id),
        await sign_in(session_factory, Role.TECHNICIAN, workshop_id),
    )


async def seeded_cars(session_factory: async_sessionmaker[AsyncSession]) -> None:
    await seed_demo_vehicles(session_factory)


async def assign_partner(
    api: httpx.AsyncClient, operator: SignedIn, vin: str, workshop_id: str | None
) -> None:
    answer = await api.put(
        f"/admin/vehicles/{vin}/service-partner",
        json={"workshop_id": workshop_id},
        headers=operator.headers,
    )
    assert answer.status_code == 204, answer.text


async def stored_messages(session_factory: async_sessionmaker[AsyncSession]) -> int:
    async with session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(InboundMessage)) or 0)


async def eventually(
    probe: Callable[[], Awaitable[Result]],
    done: Callable[[Result], bool],
    within_seconds: float = 20.0,
) -> Result:
    """`probe()` once `done` holds for its answer; the last answer fails the test otherwise."""
    deadline = asyncio.get_running_loop().time() + within_seconds
    while True:
        answer = await probe()
        if done(answer):
            return answer
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached in {within_seconds} s: {answer!r}")
        await asyncio.sleep(0.1)
