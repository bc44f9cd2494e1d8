"""Workshop stations: claim, rename, release, list with their status, and issue a station's
token. The one implementation behind `/workshops/{id}/stations...`, `GET /stations` and the
console's stations page.

A station is a workshop PC wired to cars, whose worker serves `station-<id>`. A station id is
global and belongs to one workshop at a time: another workshop's station answers 404 like an
unknown one.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from application.authorization import ensure_owner, ensure_workshop_access
from application.resources import AppResources
from application.workflow_calls import station_status
from db.models import Station, User
from db.stations import StationRepository
from domain.accounts import Role
from domain.service_history import STATION_ID_PATTERN, STATION_ID_RULE
from settings import Settings

STATION_ID_DESCRIPTION = f"The station's id (its worker's --station-id): {STATION_ID_RULE}"

StationIdField = Annotated[
    str,
    Field(
        pattern=STATION_ID_PATTERN,
        min_length=3,
        max_length=32,
        description=STATION_ID_DESCRIPTION,
    ),
]
"""A `station_id` field of an input model: the rule, declared in every schema that takes one."""


class StationRegistration(BaseModel):
    station_id: StationIdField
    name: str = Field(min_length=1, max_length=200)
    confirm_never_seen: bool = Field(
        default=False,
        description="Claim a station whose worker has not been seen polling (a new station, "
        "set up before its worker runs); without it such a claim is 409 `station-never-seen`",
    )


class StationRename(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class StationView(BaseModel):
    station_id: str
    workshop_id: str | None = Field(
        description="None: provisioned (its worker may already run), not yet claimed"
    )
    name: str
    task_queue: str
    created_at: datetime


class StationWithStatus(StationView):
    online: bool | None
    last_seen: datetime | None


def station_view(station: Station, settings: Settings) -> StationView:
    return StationView(
        station_id=station.id,
        workshop_id=station.workshop_id,
        name=station.name,
        task_queue=settings.station_task_queue(station.id),
        created_at=station.created_at,
    )


def _repository(resources: AppResources) -> StationRepository:
    return StationRepository(resources.session_factory)


async def claim_station(
    resources: AppResources, caller: User, workshop_id: str, registration: StationRegistration
) -> StationView:
    """Owners: claim a station for the workshop. A station never seen polling only when
    confirmed (409 `station-never-seen`), one a workshop holds never (409 `station-id-taken`)."""
    ensure_owner(caller, workshop_id)
    status = await station_status(resources.temporal, resources.settings, registration.station_id)
    station = await _repository(resources).claim(
        workshop_id,
        registration.station_id,
        registration.name,
        worker_seen=status.last_seen is not None,
        confirm_never_seen=registration.confirm_never_seen,
    )
    return station_view(station, resources.settings)


async def rename_station(
    resources: AppResources, caller: User, workshop_id: str, station_id: str, rename: StationRename
) -> StationView:
    """Owners: rename one of the workshop's stations."""
    ensure_owner(caller, workshop_id)
    station = await _repository(resources).rename(workshop_id, station_id, rename.name)
    return station_view(station, resources.settings)


async def release_station(
    resources: AppResources, caller: User, workshop_id: str, station_id: str
) -> None:
    """Owners: release one of the workshop's stations; its token stops working at once."""
    ensure_owner(caller, workshop_id)
    await _repository(resources).release(workshop_id, station_id)


async def workshop_stations(
    resources: AppResources, caller: User, workshop_id: str
) -> list[StationView]:
    """The stations a workshop holds (its own members and administrators only)."""
    ensure_workshop_access(caller, workshop_id)
    listed = await _repository(resources).listed(workshop_id)
    return [station_view(station, resources.settings) for station in listed]


async def stations_with_status(resources: AppResources, caller: User) -> list[StationWithStatus]:
    """The caller's workshop's stations (administrators: all), each online when its worker
    polls its queue."""
    temporal, settings = resources.temporal, resources.settings
    found = await _repository(resources).listed(
        None if caller.role == Role.ADMINISTRATOR else caller.workshop_id
    )
    # One question to Temporal per station, asked together rather than one after another.
    statuses = await asyncio.gather(*(station_status(temporal, settings, s.id) for s in found))
    return [
        StationWithStatus(
            **station_view(station, settings).model_dump(),
            online=status.online,
            last_seen=status.last_seen,
        )
        for station, status in zip(found, statuses, strict=True)
    ]


async def station_with_status(
    resources: AppResources, caller: User, station_id: str
) -> StationWithStatus:
    """One of the caller's stations, online when its worker polls (others: 404)."""
    station = await _repository(resources).of_workshop(station_id, caller.workshop_id)
    status = await station_status(resources.temporal, resources.settings, station.id)
    return StationWithStatus(
        **station_view(station, resources.settings).model_dump(),
        online=status.online,
        last_seen=status.last_seen,
    )


async def owned_station(
    resources: AppResources, caller: User, workshop_id: str, station_id: str
) -> StationView:
    """Owners: one of the workshop's own stations (another's answers 404 like an unknown one),
    e.g. to ask before a step that cannot be undone."""
    ensure_owner(caller, workshop_id)
    station = await _repository(resources).of_workshop(station_id, workshop_id)
    return station_view(station, resources.settings)


async def new_station_token(
    resources: AppResources, caller: User, workshop_id: str, station_id: str
) -> str:
    """Owners: a new token for one of the workshop's own stations (shown once); the previous
    one stops working."""
    ensure_owner(caller, workshop_id)
    stations = _repository(resources)
    await stations.of_workshop(station_id, workshop_id)
    return await stations.replace_token(station_id)
