"""The vehicle facts a service entry starts from, as `POST /service-entries` answers them: the
vehicle's CBS items in code order, none for a vehicle without any, and `vehicle-not-found` for
an unknown VIN (read in one statement, `ServiceHistoryRepository.vehicle_facts`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import ServiceEntry, VehicleCbsItem
from testkit.factories import grant_ticket
from tests.service_history.conftest import DEMO_VIN, OTHER_VIN, garage, seed

pytestmark = pytest.mark.usefixtures("portal_on_dev_server")


async def test_an_entry_starts_from_the_vehicles_cbs_items_in_code_order(
    api_client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await seed(session_factory)
    shop = await garage(session_factory)
    now = datetime.now(UTC)
    await grant_ticket(
        session_factory, shop.workshop_id, now - timedelta(hours=1), now + timedelta(days=1)
    )
    async with session_factory() as session:
        expected = list(
            (
                await session.scalars(
                    select(VehicleCbsItem.cbs_id)
                    .where(VehicleCbsItem.vin == DEMO_VIN)
                    .order_by(VehicleCbsItem.code)
                )
            ).all()
        )
        # A vehicle without CBS items: the outer join's empty row must not become an item.
        await session.execute(delete(VehicleCbsItem).where(VehicleCbsItem.vin == OTHER_VIN))
        await session.commit()
    assert len(expected) > 1, "the demo vehicle should support several CBS items"

    opened = await api_client.post(
        "/service-entries", json={"vin": DEMO_VIN}, headers=shop.technician.headers
    )
    assert opened.status_code == 201, opened.text
    assert (opened.json()["vin"], opened.json()["supported_cbs"]) == (DEMO_VIN, expected)

    bare = await api_client.post(
        "/service-entries", json={"vin": OTHER_VIN}, headers=shop.technician.headers
    )
    assert bare.status_code == 201, bare.text
    assert bare.json()["supported_cbs"] == []

    unknown = await api_client.post(
        "/service-entries", json={"vin": "WBA00000000000000"}, headers=shop.technician.headers
    )
    assert (unknown.status_code, unknown.json()["type"], unknown.json()["field"]) == (
        404,
        "/problems/vehicle-not-found",
        "vin",
    )
    async with session_factory() as session:
        # Entries are stored at `create`; opening one stores nothing, refused or not.
        assert await session.scalar(select(func.count()).select_from(ServiceEntry)) == 0
