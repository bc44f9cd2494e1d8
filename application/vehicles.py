"""Vehicles of the digital service booklet: one by VIN or by short VIN, what it needs, and its
service histories.

The booklet belongs to the car: every workshop with the service booklet covered sees the
vehicle and all its entries (with the workshop that made each one); `deletable` is answered
for the caller.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from application.resources import AppResources
from db.models import User
from db.service_history import ServiceHistoryRepository
from domain.service_history import CBS_LABELS, is_deletable
from domain.vin import SHORT_VIN_LENGTH, InvalidVinGiven, is_short_vin, parse_vin


class Teleservices(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    teleservice_eligible: bool
    connected_drive_contract: bool
    own_dealer: bool = Field(
        description="The caller's workshop is the car's service partner (when the backend "
        "named one; otherwise as recorded)"
    )
    service_history_via_teleservices: bool
    remote_key_read_eligible: bool


class TechnicalActionView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action_id: str
    kind: str
    title: str
    status: str
    completed_on: date | None


class CbsItemView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    cbs_id: str
    label: str = Field(validation_alias=AliasChoices("label", "cbs_id"))
    status: str
    due_date: date | None
    remaining_km: int | None

    @field_validator("label")
    @classmethod
    def _label_of_id(cls, value: str) -> str:
        """Read from a stored item the label starts as its CBS id, and becomes the id's label
        (an id without one shows as itself)."""
        return CBS_LABELS.get(value, value)


class VehicleSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    vin: str
    short_vin: str
    brand: str
    model: str
    type_code: str
    last_known_mileage_km: int


class VehicleDetails(VehicleSummary):
    """Everything of the vehicle's own row the vehicle page shows."""

    series: str
    colour_code: str
    colour: str
    upholstery_code: str | None
    upholstery: str
    production_date: date


class VehicleView(VehicleDetails):
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


async def vehicle(resources: AppResources, caller: User, vin: str) -> VehicleView:
    """The vehicle page: data, teleservices, technical actions and its CBS items (what it
    needs). An invalid VIN is `invalid-vin` (field `vin`, `reason`); an unknown one
    `vehicle-not-found`."""
    history = ServiceHistoryRepository(resources.session_factory)
    page = await history.vehicle_page(parse_vin(vin))
    cbs = [CbsItemView.model_validate(item) for item in page.cbs_items]
    teleservices = Teleservices.model_validate(page.vehicle)
    if page.vehicle.service_partner_id is not None:
        teleservices.own_dealer = page.vehicle.service_partner_id == caller.workshop_id
    return VehicleView(
        **VehicleDetails.model_validate(page.vehicle).model_dump(),
        teleservices=teleservices,
        technical_actions=[TechnicalActionView.model_validate(a) for a in page.technical_actions],
        cbs=cbs,
        service_needs=[item for item in cbs if item.status != "ok"],
    )


async def vehicles_by_short_vin(
    resources: AppResources, caller: User, short_vin: str
) -> list[VehicleSummary]:
    """Vehicles whose VIN ends in `short_vin` (one, or several when short VINs collide)."""
    if not is_short_vin(short_vin):
        raise InvalidVinGiven(
            f"a short VIN has {SHORT_VIN_LENGTH} characters from the VIN alphabet "
            "(digits and A-Z without I, O and Q)",
            field="short_vin",
        )
    history = ServiceHistoryRepository(resources.session_factory)
    return [
        VehicleSummary.model_validate(v) for v in await history.vehicles_by_short_vin(short_vin)
    ]


async def find_vehicles(resources: AppResources, caller: User, typed: str) -> list[VehicleSummary]:
    """The vehicles a typed VIN or short VIN names: seven characters or fewer are a short VIN,
    anything longer a full VIN (`invalid-vin`, `vehicle-not-found` as for one vehicle). A short
    VIN no vehicle ends in answers an empty list."""
    query = typed.strip()
    if len(query) <= SHORT_VIN_LENGTH:
        return await vehicles_by_short_vin(resources, caller, query)
    found = await vehicle(resources, caller, query)
    return [VehicleSummary.model_validate(found.model_dump())]


async def histories(resources: AppResources, caller: User, vin: str) -> list[HistoryRow]:
    """The vehicle's maintenance and repair entries, newest first."""
    wanted = parse_vin(vin)
    today = datetime.now(UTC).date()
    history = ServiceHistoryRepository(resources.session_factory)
    # Built by hand: most of a row is renamed or derived (the workshop's name, for the caller).
    return [
        HistoryRow(
            entry_id=row.entry.id,
            date=row.entry.service_date,
            type=row.entry.kind,
            mileage_km=row.entry.mileage_km,
            workshop_id=row.entry.workshop_id,
            workshop=row.workshop_name,
            source=row.entry.source,
            written_to_vehicle=row.entry.written_to_vehicle_at is not None,
            deletable=is_deletable(
                row.entry.created_at.date(),
                row.entry.service_date,
                today,
                row.entry.workshop_id,
                caller.workshop_id or "",
            ),
        )
        for row in await history.histories(wanted)
    ]
