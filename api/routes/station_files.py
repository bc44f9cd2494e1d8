"""What a station worker fetches from the portal and hands in to it, with its own token.

A station on another machine than the portal has neither the portal's package store nor its
folder of frame logs. Its worker, given `AOS_PORTAL_URL` and `AOS_STATION_TOKEN`, fetches a
package the first time a session needs it (and verifies it itself before the car sees a byte),
and hands in each session's frame log when the session ends, so that
`GET /programming-sessions/{id}/trace` serves it. The workshop's owner issues the token; a new
one replaces the old.
"""

from __future__ import annotations

import asyncio
import re
import uuid

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from api.station_ids import StationIdPath
from api.uploads import bounded_chunks, upload_body
from application.stations import new_station_token
from application.workflow_calls import describe_or_absent
from contracts import search_attributes
from contracts.programming import programming_workflow_id
from db.models import Station
from domain.errors import NotFound
from domain.programming import (
    PackageInvalid,
    PackageNotFound,
    TraceHasTooManyFiles,
    TraceTooLarge,
    TraceUploadInProgress,
)
from domain.service_history import StationNotFound
from web.deps import (
    CurrentStation,
    CurrentUser,
    FrameLogsDep,
    PackagesDep,
    ResourcesDep,
    TemporalDep,
)
from web.problems import problem_responses

router = APIRouter(tags=["stations"])

# One file of a session's frame log, as SessionLinks names them: <nanoseconds>.asc
TRACE_FILE_PATTERN = r"[0-9]{1,20}\.asc"


class StationToken(BaseModel):
    station_id: str
    station_token: str


@router.post(
    "/workshops/{workshop_id}/stations/{station_id}/token",
    status_code=201,
    response_model=StationToken,
    responses=problem_responses(StationNotFound),
)
async def issue_station_token(
    workshop_id: str, station_id: StationIdPath, user: CurrentUser, resources: ResourcesDep
) -> StationToken:
    """Owners: issue the station's own token (shown once; it replaces the previous one). The
    station's worker sends it as `AOS_STATION_TOKEN` to fetch packages and hand in frame logs."""
    token = await new_station_token(resources, user, workshop_id, station_id)
    return StationToken(station_id=station_id, station_token=token)


def _same_station(station: Station, station_id: str) -> None:
    """A token opens only its own station's routes; others look absent."""
    if station.id != station_id:
        raise StationNotFound("no station with this id", field="station_id")


@router.get(
    "/stations/{station_id}/packages/{package_id}/archive",
    response_class=Response,
    responses={
        200: {"content": {"application/gzip": {}}, "description": "The package"},
        **problem_responses(StationNotFound, PackageNotFound, PackageInvalid),
    },
)
async def package_for_station(
    station_id: StationIdPath, package_id: str, station: CurrentStation, packages: PackagesDep
) -> Response:
    """Stations: a flash package as a gzipped tar (manifest and segments), verified here first;
    the station verifies it again before it programs anything."""
    _same_station(station, station_id)
    archive = await asyncio.to_thread(packages.archive, package_id)
    return Response(archive, media_type="application/gzip")


@router.put(
    "/stations/{station_id}/traces/{session_id}/{file_name}",
    status_code=204,
    responses=problem_responses(
        StationNotFound, TraceTooLarge, TraceHasTooManyFiles, TraceUploadInProgress
    ),
    openapi_extra=upload_body(
        "text/plain",
        "One ASC file. A session's files may hold at most {trace_max_session_bytes} bytes "
        "together (413 `trace-too-large`), and a session may have at most "
        "{trace_max_files_per_session} files (409 `trace-has-too-many-files`); one file of a "
        "session is handed in at a time (409 `trace-upload-in-progress`).",
        {
            "x-max-session-bytes": "trace_max_session_bytes",
            "x-max-files-per-session": "trace_max_files_per_session",
        },
        binary=False,
    ),
)
async def hand_in_trace(
    station_id: StationIdPath,
    session_id: str,
    file_name: str,
    request: Request,
    station: CurrentStation,
    temporal: TemporalDep,
    frame_logs: FrameLogsDep,
) -> None:
    """Stations: hand in one file of a programming session's frame log (ASC), for a session
    that ran on this station. Handing in the same file again replaces it whole; the body is
    written to disk as it comes, and refused at the byte that passes the session's bound."""
    _same_station(station, station_id)
    if not re.fullmatch(TRACE_FILE_PATTERN, file_name):
        raise NotFound("no such frame log file name", field="file_name")
    absent = NotFound("no programming session of this station with this id", field="session_id")
    try:
        session_uuid = str(uuid.UUID(session_id))
    except ValueError:
        raise absent from None
    description = await describe_or_absent(temporal, programming_workflow_id(session_uuid), absent)
    if description.typed_search_attributes.get(search_attributes.STATION_ID) != station.id:
        raise absent
    async with frame_logs.receive(session_uuid, file_name) as upload:
        # Content-Length beyond the room is refused before a byte is read.
        async for chunk in bounded_chunks(request, upload.room, upload.too_large):
            await upload.write(chunk)
    return None
