"""Vehicles of the digital service booklet: look one up by VIN or short VIN, see what it needs,
and its service histories. Every route needs a `service_history` ticket.

The booklet belongs to the car: every workshop with a ticket sees the vehicle and all its
entries (with the workshop that made each one); `deletable` is answered for the caller. The
use cases are `application.vehicles`'.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from application import vehicles as use_cases
from application.vehicles import HistoryRow, VehicleSummary, VehicleView
from domain.service_history import VehicleNotFound
from domain.vin import SHORT_VIN_PATTERN, VIN_PATTERN, InvalidVinGiven
from web.deps import CurrentUser, ResourcesDep, ServiceHistoryAccess
from web.problems import problem_responses

router = APIRouter(tags=["service history"])

# Declared for clients; `parse_vin` enforces it (and the check digit) as `invalid-vin`, naming
# the reason and the position, which a pydantic pattern would not.
VinPath = Annotated[str, Path(json_schema_extra={"pattern": VIN_PATTERN})]


@router.get(
    "/vehicles/{vin}",
    response_model=VehicleView,
    responses=problem_responses(InvalidVinGiven, VehicleNotFound),
)
async def vehicle(
    vin: VinPath, user: CurrentUser, access: ServiceHistoryAccess, resources: ResourcesDep
) -> VehicleView:
    """The vehicle page: data, teleservices, technical actions and its CBS items (what it needs).

    An invalid VIN is 422 `invalid-vin` (field `vin`, `reason`); an unknown one 404.
    """
    return await use_cases.vehicle(resources, user, vin)


@router.get(
    "/vehicles",
    response_model=list[VehicleSummary],
    responses=problem_responses(InvalidVinGiven),
)
async def vehicles_by_short_vin(
    short_vin: Annotated[
        str,
        Query(
            description="The last 7 characters of the VIN",
            json_schema_extra={"pattern": SHORT_VIN_PATTERN},
        ),
    ],
    user: CurrentUser,
    access: ServiceHistoryAccess,
    resources: ResourcesDep,
) -> list[VehicleSummary]:
    """Vehicles whose VIN ends in `short_vin` (one, or several when short VINs collide)."""
    return await use_cases.vehicles_by_short_vin(resources, user, short_vin)


@router.get(
    "/vehicles/{vin}/histories",
    response_model=list[HistoryRow],
    responses=problem_responses(InvalidVinGiven),
)
async def histories(
    vin: VinPath, user: CurrentUser, access: ServiceHistoryAccess, resources: ResourcesDep
) -> list[HistoryRow]:
    """The vehicle's maintenance and repair entries, newest first."""
    return await use_cases.histories(resources, user, vin)
