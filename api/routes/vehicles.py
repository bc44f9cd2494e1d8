"""Vehicles of the digital service booklet: look one up by VIN or short VIN, see what it needs,
and its service histories. Every route needs a `service_history` ticket.

The booklet belongs to the car: every workshop with a ticket sees the vehicle and all its
entries (with the workshop that made each one); `deletable` is answered for the caller.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import CurrentUser, ResourcesDep, ServiceHistoryAccess
from db.models import ServiceEntry, Vehicle, VehicleCbsItem, VehicleTechnicalAction, Workshop
from domain.service_history import CBS_LABELS, VehicleNotFound, is_deletable
from domain.vin import (
    SHORT_VIN_LENGTH,
    InvalidVinGiven,
    is_short_vin,
    parse_vin,
)

router = APIRouter(tags=["service history"])


class Teleservices(BaseModel):
    teleservice_eligible: bool
    connected_drive_contract: bool
    own_dealer: bool
    service_history_via_teleservices: bool
    remote_key_read_eligible: bool


class TechnicalActionView(BaseModel):
    action_id: str
    kind: str
    title: str
    status: str
    completed_on: date | None


class CbsItemView(BaseModel):
    cbs_id: str
    label: str
    status: str
    due_date: date | None
    remaining_km: int | None


class VehicleSummary(BaseModel):
    vin: str
    short_vin: str
    brand: str
    model: str
    type_code: str
    last_known_mileage_km: int


class VehicleView(VehicleSummary):
    series: str
    colour_code: str
    colour: str
    upholstery_code: str | None
    upholstery: str
    production_date: date
    teleservices: Teleservices
    technical_actions: list[TechnicalActionView]
    cbs: list[CbsItemView]
    service_needs: list[CbsItemView]


class HistoryRow(BaseModel):
    entry_id: str
    date: date
    type: str
    mileage_km: int
    workshop_id: str
    workshop: str
    source: str
    written_to_vehicle: bool
    deletable: bool


def _summary(vehicle: Vehicle) -> VehicleSummary:
    return VehicleSummary(
        vin=vehicle.vin,
        short_vin=vehicle.short_vin,
        brand=vehicle.brand,
        model=vehicle.model,
        type_code=vehicle.type_code,
        last_known_mileage_km=vehicle.last_known_mileage_km,
    )


@router.get("/vehicles/{vin}", response_model=VehicleView)
async def vehicle(
    vin: str, user: CurrentUser, access: ServiceHistoryAccess, resources: ResourcesDep
) -> VehicleView:
    """The vehicle page: data, teleservices, technical actions and its CBS items (what it needs).

    An invalid VIN is 422 `invalid-vin` (field `vin`, `reason`); an unknown one 404.
    """
    wanted = parse_vin(vin)
    async with resources.session_factory() as session:
        found = await session.get(Vehicle, wanted)
        if found is None:
            raise VehicleNotFound(f"no vehicle with VIN {wanted}", field="vin")
        actions = (
            await session.scalars(
                select(VehicleTechnicalAction)
                .where(VehicleTechnicalAction.vin == wanted)
                .order_by(VehicleTechnicalAction.action_id)
            )
        ).all()
        items = (
            await session.scalars(
                select(VehicleCbsItem)
                .where(VehicleCbsItem.vin == wanted)
                .order_by(VehicleCbsItem.code)
            )
        ).all()
    cbs = [
        CbsItemView(
            cbs_id=item.cbs_id,
            label=CBS_LABELS.get(item.cbs_id, item.cbs_id),
            status=item.status,
            due_date=item.due_date,
            remaining_km=item.remaining_km,
        )
        for item in items
    ]
    return VehicleView(
        **_summary(found).model_dump(),
        series=found.series,
        colour_code=found.colour_code,
        colour=found.colour,
        upholstery_code=found.upholstery_code,
        upholstery=found.upholstery,
        production_date=found.production_date,
        teleservices=Teleservices(
            teleservice_eligible=found.teleservice_eligible,
            connected_drive_contract=found.connected_drive_contract,
            own_dealer=found.own_dealer,
            service_history_via_teleservices=found.service_history_via_teleservices,
            remote_key_read_eligible=found.remote_key_read_eligible,
        ),
        technical_actions=[
            TechnicalActionView(
                action_id=a.action_id,
                kind=a.kind,
                title=a.title,
                status=a.status,
                completed_on=a.completed_on,
            )
            for a in actions
        ],
        cbs=cbs,
        service_needs=[item for item in cbs if item.status != "ok"],
    )


@router.get("/vehicles", response_model=list[VehicleSummary])
async def vehicles_by_short_vin(
    short_vin: Annotated[str, Query(description="The last 7 characters of the VIN")],
    user: CurrentUser,
    access: ServiceHistoryAccess,
    resources: ResourcesDep,
) -> list[VehicleSummary]:
    """Vehicles whose VIN ends in `short_vin` (one, or several when short VINs collide)."""
    if not is_short_vin(short_vin):
        raise InvalidVinGiven(
            f"a short VIN has {SHORT_VIN_LENGTH} characters from the VIN alphabet "
            "(digits and A-Z without I, O and Q)",
            field="short_vin",
        )
    async with resources.session_factory() as session:
        found = (
            await session.scalars(
                select(Vehicle)
                .where(Vehicle.short_vin == short_vin.strip().upper())
                .order_by(Vehicle.vin)
            )
        ).all()
    return [_summary(v) for v in found]


@router.get("/vehicles/{vin}/histories", response_model=list[HistoryRow])
async def histories(
    vin: str, user: CurrentUser, access: ServiceHistoryAccess, resources: ResourcesDep
) -> list[HistoryRow]:
    """The vehicle's maintenance and repair entries, newest first."""
    wanted = parse_vin(vin)
    today = datetime.now(UTC).date()
    async with resources.session_factory() as session:
        if await session.get(Vehicle, wanted) is None:
            raise VehicleNotFound(f"no vehicle with VIN {wanted}", field="vin")
        rows = (
            await session.execute(
                select(ServiceEntry, Workshop.name)
                .join(Workshop, Workshop.id == ServiceEntry.workshop_id)
                .where(ServiceEntry.vin == wanted)
                .order_by(ServiceEntry.service_date.desc(), ServiceEntry.created_at.desc())
            )
        ).all()
    return [
        HistoryRow(
            entry_id=entry.id,
            date=entry.service_date,
            type=entry.kind,
            mileage_km=entry.mileage_km,
            workshop_id=entry.workshop_id,
            workshop=name,
            source=entry.source,
            written_to_vehicle=entry.written_to_vehicle_at is not None,
            deletable=is_deletable(
                entry.created_at.date(),
                entry.service_date,
                today,
                entry.workshop_id,
                user.workshop_id or "",
            ),
        )
        for entry, name in rows
    ]
