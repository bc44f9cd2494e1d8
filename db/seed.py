"""Seed data of the embedded mode: the demo vehicles (`domain/data/demo_vehicles.json`).

`worker.py dev` runs `seed_demo_data(database_url)` after the migrations; tests call
`seed_demo_vehicles(session_factory)`. Both are idempotent: a vehicle already present is left
as it is (its mileage and history may have moved on since).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.engine import create_engine, create_session_factory
from db.models.service_history import Vehicle, VehicleCbsItem, VehicleTechnicalAction
from db.technical_information_seed import seed_technical_information
from domain.demo_vehicles import DemoVehicle, load_demo_vehicles
from domain.vin import short_vin


def _vehicle_rows(demo: DemoVehicle, now: datetime) -> list[object]:
    teleservices = demo.teleservices
    rows: list[object] = [
        Vehicle(
            vin=demo.vin,
            short_vin=short_vin(demo.vin),
            brand=demo.brand,
            model=demo.model,
            series=demo.series,
            type_code=demo.type_code,
            colour_code=demo.colour_code,
            colour=demo.colour,
            upholstery_code=demo.upholstery_code,
            upholstery=demo.upholstery,
            production_date=demo.production_date,
            last_known_mileage_km=demo.mileage_km,
            teleservice_eligible=teleservices.teleservice_eligible,
            connected_drive_contract=teleservices.connected_drive_contract,
            own_dealer=teleservices.own_dealer,
            service_history_via_teleservices=teleservices.service_history_via_teleservices,
            remote_key_read_eligible=teleservices.remote_key_read_eligible,
            updated_at=now,
        )
    ]
    rows += [
        VehicleTechnicalAction(
            vin=demo.vin,
            action_id=action.id,
            kind=action.kind,
            title=action.title,
            status=action.status,
            completed_on=action.completed_on,
        )
        for action in demo.technical_actions
    ]
    rows += [
        VehicleCbsItem(
            vin=demo.vin,
            cbs_id=item.id,
            code=item.code,
            status=item.status,
            due_date=item.due_date,
            remaining_km=item.remaining_km,
        )
        for item in demo.cbs
    ]
    return rows


async def seed_demo_vehicles(session_factory: async_sessionmaker[AsyncSession]) -> int:
    """Add the demo vehicles that are not in the database yet; returns how many were added."""
    demos = load_demo_vehicles()
    now = datetime.now(UTC)
    async with session_factory() as session, session.begin():
        present = set(
            (
                await session.scalars(
                    select(Vehicle.vin).where(Vehicle.vin.in_([d.vin for d in demos]))
                )
            ).all()
        )
        missing = [demo for demo in demos if demo.vin not in present]
        for demo in missing:
            rows = _vehicle_rows(demo, now)
            session.add(rows[0])
            await session.flush()
            session.add_all(rows[1:])
    return len(missing)


def seed_demo_data(database_url: str) -> int:
    """The embedded mode's seed, for a blocking caller (`worker.py dev`): the demo vehicles and
    the technical-information demo corpus (each left alone when there already)."""

    async def run() -> int:
        engine = create_engine(database_url)
        try:
            session_factory = create_session_factory(engine)
            vehicles = await seed_demo_vehicles(session_factory)
            await seed_technical_information(session_factory)
            return vehicles
        finally:
            await engine.dispose()

    return asyncio.run(run())
