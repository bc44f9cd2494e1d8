"""Which car is at which station: the VINs the workshop's stations read lately, so that a
technician starting a flash at the car picks the VIN instead of typing its 17 characters.

A station reads a car's VIN when its KeyReader reads one of the car's keys (the key read of the
service booklet, stored in the workshop's key table with the station's id). Only the caller's
workshop's reads are looked at; another workshop's stations and reads never show.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from application.resources import AppResources
from db.models import User
from db.service_history import ServiceHistoryRepository

RECENT = timedelta(hours=12)
"""A read older than this is no longer taken to be the car at the station (about a shift)."""


class IdentifiedVehicle(BaseModel):
    station_id: str
    vin: str
    read_at: datetime


async def vehicles_at_stations(
    resources: AppResources, caller: User, now: datetime | None = None
) -> list[IdentifiedVehicle]:
    """The VIN each of the caller's workshop's stations read last, within `RECENT`, newest
    first; empty for someone without a workshop."""
    if caller.workshop_id is None:
        return []
    since = (now or datetime.now(UTC)) - RECENT
    reads = await ServiceHistoryRepository(resources.session_factory).newest_key_read_per_station(
        caller.workshop_id, since
    )
    return [
        IdentifiedVehicle(station_id=str(read.station_id), vin=read.vin, read_at=read.last_read_at)
        for read in reads
    ]
