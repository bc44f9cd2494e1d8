"""Workshop stations, key reads and the key table.

A station is a workshop PC wired to cars, whose worker serves `station-<id>`. Owners claim
their stations (`POST /workshops/{workshop_id}/stations`), rename them (`PATCH`) and release
them (`DELETE .../stations/{station_id}`); a station id is global and belongs to one workshop
at a time: another workshop's station answers 404. The embedded mode starts the station worker
`demo-1` but no workshop; the first owner who claims `demo-1` owns it. The station routes
parse and answer; the rules are the use cases of `application.stations`, which the console's
stations page calls too.

A key read (`POST /stations/{station_id}/key-reads`) reads the key in the station's KeyReader
and stores it in the workshop's key table; it needs a `service_history` ticket.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.station_ids import StationIdPath
from application import key_reads
from application import stations as use_cases
from application.stations import (
    StationRegistration,
    StationRename,
    StationView,
    StationWithStatus,
)
from application.workflow_calls import (
    STATION_NOT_KNOWN_YET_HEADER,
    StationNotKnownYet,
)
from contracts.key_reads import (
    KeyRecordView,
)
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
from web.deps import (
    CurrentUser,
    ResourcesDep,
    ServiceHistoryAccess,
)
from web.problems import WORKFLOW_UNAVAILABLE, problem_responses, with_retry_after

router = APIRouter(tags=["service history"])


@router.post(
    "/workshops/{workshop_id}/stations",
    status_code=201,
    response_model=StationView,
    responses=problem_responses(StationIdTaken, StationNeverSeen, WORKFLOW_UNAVAILABLE),
)
async def register_station(
    workshop_id: str, body: StationRegistration, user: CurrentUser, resources: ResourcesDep
) -> StationView:
    """Owners: claim a station for the workshop, a provisioned one whose worker already polls
    (`make dev`'s `demo-1`) or a new one.

    Refusals: 409 `station-never-seen` when no worker of the station has been seen polling,
    unless `confirm_never_seen` is true (a new station set up before its worker runs; a typo
    must not claim a station); 409 `station-id-taken` when a workshop holds the station, this
    one too: renaming is `PATCH /workshops/{workshop_id}/stations/{station_id}`.
    """
    return await use_cases.claim_station(resources, user, workshop_id, body)


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
    resources: ResourcesDep,
) -> StationView:
    """Owners: rename one of the workshop's stations."""
    return await use_cases.rename_station(resources, user, workshop_id, station_id, body)


@router.delete(
    "/workshops/{workshop_id}/stations/{station_id}",
    status_code=204,
    responses=problem_responses(StationNotFound),
)
async def release_station(
    workshop_id: str, station_id: StationIdPath, user: CurrentUser, resources: ResourcesDep
) -> None:
    """Owners: release one of the workshop's stations. Its token stops working at once, so
    its worker serves nobody; another workshop (or this one again) may claim the station and
    issue a new token. The workshop's key table and service entries stay."""
    await use_cases.release_station(resources, user, workshop_id, station_id)


@router.get("/workshops/{workshop_id}/stations", response_model=list[StationView])
async def workshop_stations(
    workshop_id: str, user: CurrentUser, resources: ResourcesDep
) -> list[StationView]:
    return await use_cases.workshop_stations(resources, user, workshop_id)


@router.get(
    "/stations",
    response_model=list[StationWithStatus],
    responses=problem_responses(WORKFLOW_UNAVAILABLE),
)
async def my_stations(user: CurrentUser, resources: ResourcesDep) -> list[StationWithStatus]:
    """The caller's workshop stations (administrators: all), online when their worker polls."""
    return await use_cases.stations_with_status(resources, user)


@router.get(
    "/stations/{station_id}",
    response_model=StationWithStatus,
    responses=problem_responses(WORKFLOW_UNAVAILABLE),
)
async def one_station(
    station_id: StationIdPath, user: CurrentUser, resources: ResourcesDep
) -> StationWithStatus:
    """One of the caller's stations, with whether its worker is polling (online)."""
    return await use_cases.station_with_status(resources, user, station_id)


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
