"""Workshop stations, key reads and the key table.

A station is a workshop PC wired to cars, whose worker serves `station-<id>`. Owners claim
their stations (`POST /workshops/{workshop_id}/stations`), rename them (`PATCH`) and release
them (`DELETE .../stations/{station_id}`); a station id is global and belongs to one workshop
at a time: another workshop's station answers 404. The embedded mode starts the station worker
`demo-1` but no workshop; the first owner who claims `demo-1` owns it.

A key read (`POST /stations/{station_id}/key-reads`) reads the key in the station's KeyReader
and stores it in the workshop's key table; it needs a `service_history` ticket.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field
from temporalio.client import Client

from api.station_ids import StationIdField, StationIdPath
from application import key_reads
from application.authorization import ensure_owner, ensure_workshop_access
from application.workflow_calls import (
    STATION_NOT_KNOWN_YET_HEADER,
    StationNotKnownYet,
    station_status,
)
from contracts.key_reads import (
    KeyRecordView,
)
from db.models import Station, User
from db.stations import StationRepository
from domain.accounts import Role
from domain.service_history import (
    KeyDataCorrupt,
    KeyReadFailedProblem,
    StationFailed,
    StationIdTaken,
    StationNeverSeen,
    StationNotFound,
    StationOffline,
    StationUnavailable,
)
from settings import Settings
from web.deps import (
    CurrentUser,
    ResourcesDep,
    ServiceHistoryAccess,
    SettingsDep,
    StationsDep,
    TemporalDep,
)
from web.problems import problem_responses, with_retry_after

router = APIRouter(tags=["service history"])


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


def _view(station: Station, settings: SettingsDep) -> StationView:
    return StationView(
        station_id=station.id,
        workshop_id=station.workshop_id,
        name=station.name,
        task_queue=settings.station_task_queue(station.id),
        created_at=station.created_at,
    )


@router.post(
    "/workshops/{workshop_id}/stations",
    status_code=201,
    response_model=StationView,
    responses=problem_responses(StationIdTaken, StationNeverSeen),
)
async def register_station(
    workshop_id: str,
    body: StationRegistration,
    user: CurrentUser,
    stations: StationsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> StationView:
    """Owners: claim a station for the workshop, a provisioned one whose worker already polls
    (`make dev`'s `demo-1`) or a new one.

    Refusals: 409 `station-never-seen` when no worker of the station has been seen polling,
    unless `confirm_never_seen` is true (a new station set up before its worker runs; a typo
    must not claim a station); 409 `station-id-taken` when a workshop holds the station, this
    one too: renaming is `PATCH /workshops/{workshop_id}/stations/{station_id}`.
    """
    return _view(
        await claim_station(user, workshop_id, body, stations, temporal, settings), settings
    )


async def claim_station(
    user: User,
    workshop_id: str,
    registration: StationRegistration,
    stations: StationRepository,
    temporal: Client,
    settings: Settings,
) -> Station:
    """The claim of `POST /workshops/{workshop_id}/stations` (and of the console's stations
    page): owners only, and a station never seen polling only when confirmed."""
    ensure_owner(user, workshop_id)
    status = await station_status(temporal, settings, registration.station_id)
    return await stations.claim(
        workshop_id,
        registration.station_id,
        registration.name,
        worker_seen=status.last_seen is not None,
        confirm_never_seen=registration.confirm_never_seen,
    )


@router.patch(
    "/workshops/{workshop_id}/stations/{station_id}",
    response_model=StationView,
    responses=problem_responses(StationNotFound),
)
async def rename_station(
    workshop_id: str,
    station_id: StationIdPath,
    body: StationRename,
    user: CurrentUser,
    stations: StationsDep,
    settings: SettingsDep,
) -> StationView:
    """Owners: rename one of the workshop's stations."""
    ensure_owner(user, workshop_id)
    return _view(await stations.rename(workshop_id, station_id, body.name), settings)


@router.delete(
    "/workshops/{workshop_id}/stations/{station_id}",
    status_code=204,
    responses=problem_responses(StationNotFound),
)
async def release_station(
    workshop_id: str, station_id: StationIdPath, user: CurrentUser, stations: StationsDep
) -> None:
    """Owners: release one of the workshop's stations. Its token stops working at once, so
    its worker serves nobody; another workshop (or this one again) may claim the station and
    issue a new token. The workshop's key table and service entries stay."""
    ensure_owner(user, workshop_id)
    await stations.release(workshop_id, station_id)


@router.get("/workshops/{workshop_id}/stations", response_model=list[StationView])
async def workshop_stations(
    workshop_id: str, user: CurrentUser, stations: StationsDep, settings: SettingsDep
) -> list[StationView]:
    ensure_workshop_access(user, workshop_id)
    return [_view(s, settings) for s in await stations.listed(workshop_id)]


class StationWithStatus(StationView):
    online: bool | None
    last_seen: datetime | None


@router.get("/stations", response_model=list[StationWithStatus])
async def my_stations(
    user: CurrentUser, stations: StationsDep, temporal: TemporalDep, settings: SettingsDep
) -> list[StationWithStatus]:
    """The caller's workshop stations (administrators: all), online when their worker polls."""
    return await stations_with_status(user, stations, temporal, settings)


async def stations_with_status(
    user: User, stations: StationRepository, temporal: Client, settings: Settings
) -> list[StationWithStatus]:
    """The stations `GET /stations` lists (and the console offers), each with its poller check."""
    found = await stations.listed(None if user.role == Role.ADMINISTRATOR else user.workshop_id)
    # One question to Temporal per station, asked together rather than one after another.
    statuses = await asyncio.gather(*(station_status(temporal, settings, s.id) for s in found))
    return [
        StationWithStatus(
            **_view(s, settings).model_dump(), online=st.online, last_seen=st.last_seen
        )
        for s, st in zip(found, statuses, strict=True)
    ]


@router.get("/stations/{station_id}", response_model=StationWithStatus)
async def one_station(
    station_id: StationIdPath,
    user: CurrentUser,
    stations: StationsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> StationWithStatus:
    """One of the caller's stations, with whether its worker is polling (online)."""
    station = await stations.of_workshop(station_id, user.workshop_id)
    status = await station_status(temporal, settings, station.id)
    return StationWithStatus(
        **_view(station, settings).model_dump(), online=status.online, last_seen=status.last_seen
    )


@router.post(
    "/stations/{station_id}/key-reads",
    status_code=201,
    response_model=KeyRecordView,
    responses=with_retry_after(
        problem_responses(
            StationNotFound,
            StationOffline,
            StationNotKnownYet,
            StationUnavailable,
            KeyReadFailedProblem,
            KeyDataCorrupt,
            StationFailed,
        ),
        503,
        STATION_NOT_KNOWN_YET_HEADER,
    ),
)
async def read_key(
    station_id: StationIdPath,
    user: CurrentUser,
    access: ServiceHistoryAccess,
    resources: ResourcesDep,
) -> KeyRecordView:
    """Read the key lying in the station's KeyReader into the key table.

    Refusals: 422 `key-data-corrupt` (with `reason`; nothing is stored), 409 `key-read-failed`
    (no key, no reader), 409 `station-offline` at once when no worker polls the station's
    queue (503 `workflow-unavailable` with `Retry-After` instead while Temporal, just restarted,
    does not list a worker that polled through the gateway lately), 409 `station-unavailable` (the station's worker does not answer), 502
    `station-failed` when the station's read failed on its own side (a fault its retries did
    not get past, or an answer the portal does not take; with `station_failure`, the kind of
    fault): the request was right and the portal did not fail, so trying again may help.
    """
    return await key_reads.read_key(resources, user, station_id)


@router.get("/workshops/{workshop_id}/keys", response_model=list[KeyRecordView])
async def key_table(
    workshop_id: str,
    user: CurrentUser,
    access: ServiceHistoryAccess,
    resources: ResourcesDep,
) -> list[KeyRecordView]:
    """The workshop's key table (KaSIO "Sleuteltabel"), last read first."""
    return await key_reads.key_table(resources, user, workshop_id)
