"""ECU programming sessions: start, watch, steer (resume, skip an ECU, abort), report, trace;
and the flash packages they use."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from api.station_ids import StationIdField
from api.uploads import bounded_chunks, upload_body
from application.programming_views import ProgressView
from application.workflow_calls import (
    STATION_NOT_KNOWN_YET_HEADER,
    StationNotKnownYet,
    describe_visible,
    ensure_station_online,
    execute_update,
)
from contracts import search_attributes
from contracts.programming import (
    PROGRAMMING_SESSION_WORKFLOW,
    PROGRESS_QUERY,
    AbortInput,
    ProgrammingProgress,
    ProgrammingSessionInput,
    ProgrammingUpdate,
    ResumeInput,
    SkipEcuInput,
    programming_workflow_id,
)
from db.models import User
from db.stations import StationRepository
from domain.errors import Conflict, NotFound
from domain.flash_package import PACKAGE_ID_PATTERN, FlashPackageManifest
from domain.programming import (
    NotAtSafePoint,
    PackageExists,
    PackageHasTooManyFiles,
    PackageInvalid,
    PackageNotFound,
    PackageTooLarge,
    PackageUnpacksTooLarge,
    ProgrammingSessionEnded,
)
from domain.service_history import StationNotFound, StationOffline
from domain.vin import VIN_PATTERN, InvalidVinGiven, parse_vin
from settings import Settings
from storage.frame_logs import FrameLogStore
from storage.packages import PackageStore
from web.deps import (
    AdminUser,
    CurrentUser,
    FrameLogsDep,
    PackagesDep,
    ProgrammingAccess,
    SettingsDep,
    StationsDep,
    TemporalDep,
)
from web.problems import problem_responses, with_retry_after

router = APIRouter(tags=["programming"])


class SessionRequest(BaseModel):
    station_id: StationIdField
    vin: str = Field(min_length=1, max_length=32, json_schema_extra={"pattern": VIN_PATTERN})
    package_id: str = Field(pattern=PACKAGE_ID_PATTERN)


class SessionStarted(BaseModel):
    session_id: str
    workflow_id: str
    state: str


class PackageSummary(BaseModel):
    package_id: str
    description: str
    ecus: list[str]
    total_bytes: int


async def session_handle(
    temporal: Client, user: User, session_id: str
) -> WorkflowHandle[Any, ProgrammingProgress]:
    """The caller's workshop's session (others: 404), ready for queries and updates."""
    workflow_id = programming_workflow_id(session_id)
    await describe_visible(temporal, user, workflow_id, "programming session", "session_id")
    return temporal.get_workflow_handle(workflow_id, result_type=ProgrammingProgress)


@router.post(
    "/programming-sessions",
    status_code=201,
    response_model=SessionStarted,
    responses=with_retry_after(
        problem_responses(
            InvalidVinGiven,
            StationNotFound,
            PackageNotFound,
            PackageInvalid,
            StationOffline,
            StationNotKnownYet,
        ),
        503,
        STATION_NOT_KNOWN_YET_HEADER,
    ),
)
async def start_session(
    body: SessionRequest,
    user: CurrentUser,
    coverage: ProgrammingAccess,
    temporal: TemporalDep,
    settings: SettingsDep,
    stations: StationsDep,
    packages: PackagesDep,
) -> SessionStarted:
    """Start programming the car at a station with a flash package, on purchased time.

    Refused before anything touches the car: an invalid VIN, an unknown or corrupt package
    (naming the ECU and the check), a station without a running worker (409
    `station-offline`; 503 `workflow-unavailable` with `Retry-After` while Temporal, just
    restarted, does not list a worker that polled through the gateway lately).
    """
    return await start_programming(user, body, temporal, settings, stations, packages)


async def start_programming(
    user: User,
    body: SessionRequest,
    temporal: Client,
    settings: Settings,
    stations: StationRepository,
    packages: PackageStore,
) -> SessionStarted:
    """The checks and the workflow start of `POST /programming-sessions` (and the console's
    form). The caller has checked the workshop's `ecu_programming` coverage (`ProgrammingAccess`)."""
    vin = parse_vin(body.vin)
    station = await stations.of_workshop(body.station_id, user.workshop_id)
    await asyncio.to_thread(packages.verified_manifest, body.package_id)
    await ensure_station_online(temporal, settings, station)
    assert user.workshop_id is not None  # require_entitlement refused callers without one
    session_id = str(uuid.uuid4())
    vin_search = settings.vin_search_value(vin)
    await temporal.start_workflow(
        PROGRAMMING_SESSION_WORKFLOW,
        ProgrammingSessionInput(
            session_id=session_id,
            workshop_id=user.workshop_id,
            station_id=body.station_id,
            station_task_queue=settings.station_task_queue(body.station_id),
            vin=vin,
            package_id=body.package_id,
            technician_id=user.id,
            hardware_retry=settings.hardware_retry(),
            vin_search=vin_search,
        ),
        id=programming_workflow_id(session_id),
        task_queue=settings.portal_task_queue,
        # The VIN for the flow lists, encrypted with the payloads; its search value for searches.
        memo={search_attributes.VIN_MEMO: vin},
        # Set at start, so the session is findable (and scoped) before its first task runs.
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(search_attributes.WORKSHOP_ID, user.workshop_id),
                SearchAttributePair(search_attributes.VIN, vin_search),
                SearchAttributePair(search_attributes.STATION_ID, station.id),
                SearchAttributePair(search_attributes.FLOW_STATE, "checking_access"),
            ]
        ),
    )
    return SessionStarted(
        session_id=session_id, workflow_id=programming_workflow_id(session_id), state="started"
    )


@router.get(
    "/programming-sessions/{session_id}",
    response_model=ProgressView,
    responses=problem_responses(NotFound),
)
async def session_progress(
    session_id: str, user: CurrentUser, temporal: TemporalDep
) -> ProgrammingProgress:
    """Where the session is: state, current ECU and step, bytes, throughput, ETA, time left."""
    handle = await session_handle(temporal, user, session_id)
    return await handle.query(PROGRESS_QUERY, result_type=ProgrammingProgress)


async def steer_session(
    temporal: Client, user: User, session_id: str, update: ProgrammingUpdate, step: BaseModel
) -> ProgrammingProgress:
    """Apply a technician's step (resume, skip an ECU, abort) to a session of the caller's
    workshop and answer with the progress after it took effect.

    A session that has ended takes no more steps: 409 `programming-session-ended` naming its
    final `state`, as service entries answer for an ended flow; also when it ends between the
    check and the update, where the server would answer "not found".
    """
    workflow_id = programming_workflow_id(session_id)
    description = await describe_visible(
        temporal, user, workflow_id, "programming session", "session_id"
    )
    handle = temporal.get_workflow_handle(workflow_id, result_type=ProgrammingProgress)
    if description.status != WorkflowExecutionStatus.RUNNING:
        raise await _session_ended(handle)
    try:
        return await execute_update(handle, update, step, ProgrammingProgress)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        raise await _session_ended(handle) from error


async def _session_ended(handle: WorkflowHandle[Any, ProgrammingProgress]) -> Conflict:
    final = await handle.query(PROGRESS_QUERY, result_type=ProgrammingProgress)
    return ProgrammingSessionEnded(
        f"the programming session is {final.state}; it takes no more steps",
        state=final.state,
        reason=final.reason,
    )


# 409: the session has ended (its final `state` is named), or cannot take the step now
STEERING_RESPONSES = problem_responses(ProgrammingSessionEnded, NotAtSafePoint)


@router.post(
    "/programming-sessions/{session_id}/resume",
    response_model=ProgressView,
    responses=STEERING_RESPONSES,
)
async def resume_session(
    session_id: str, body: ResumeInput, user: CurrentUser, temporal: TemporalDep
) -> ProgrammingProgress:
    """After a fault: the car is identified again (same VIN) and the flash continues.

    Answers with the progress once the session has left `needs_technician`."""
    return await steer_session(temporal, user, session_id, ProgrammingUpdate.RESUME, body)


@router.post(
    "/programming-sessions/{session_id}/skip-ecu",
    response_model=ProgressView,
    responses=STEERING_RESPONSES,
)
async def skip_ecu(
    session_id: str, body: SkipEcuInput, user: CurrentUser, temporal: TemporalDep
) -> ProgrammingProgress:
    """Leave out an ECU that has not started yet; the answer shows it `skipped`."""
    return await steer_session(temporal, user, session_id, ProgrammingUpdate.SKIP_ECU, body)


@router.post(
    "/programming-sessions/{session_id}/abort",
    response_model=ProgressView,
    responses=STEERING_RESPONSES,
)
async def abort_session(
    session_id: str, body: AbortInput, user: CurrentUser, temporal: TemporalDep
) -> ProgrammingProgress:
    """Stop the session at a safe point (never during a transfer); answers once it is
    `aborted`."""
    return await steer_session(temporal, user, session_id, ProgrammingUpdate.ABORT, body)


@router.get(
    "/programming-sessions/{session_id}/report",
    response_model=ProgressView,
    responses=problem_responses(NotFound, Conflict),
)
async def session_report(
    session_id: str, user: CurrentUser, temporal: TemporalDep
) -> ProgrammingProgress:
    """The final report once the session ended (409 while it runs)."""
    return await final_report(temporal, user, session_id)


async def final_report(temporal: Client, user: User, session_id: str) -> ProgrammingProgress:
    """The report of a session of the caller's workshop that ended (409 while it runs)."""
    workflow_id = programming_workflow_id(session_id)
    description = await describe_visible(
        temporal, user, workflow_id, "programming session", "session_id"
    )
    if description.status == WorkflowExecutionStatus.RUNNING:
        raise Conflict(
            "the session is still running; GET /programming-sessions/{id} shows its progress"
        )
    handle = temporal.get_workflow_handle(workflow_id)
    return await handle.query(PROGRESS_QUERY, result_type=ProgrammingProgress)


@router.get(
    "/programming-sessions/{session_id}/trace",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/plain": {}}, "description": "ASC frame log"},
        **problem_responses(NotFound),
    },
)
async def session_trace(
    session_id: str, user: CurrentUser, temporal: TemporalDep, frame_logs: FrameLogsDep
) -> StreamingResponse:
    """Every UDS frame of the session, as python-can ASC logs in the order they were written,
    each under a `// <file name>` line."""
    return await frame_log_response(temporal, user, frame_logs, session_id)


async def frame_log_response(
    temporal: Client,
    user: User,
    frame_logs: FrameLogStore,
    session_id: str,
    headers: dict[str, str] | None = None,
) -> StreamingResponse:
    """The session's ASC frame logs one after another, streamed from disk in chunks (a log
    may be as large as AOS_TRACE_MAX_SESSION_BYTES); 404 before any frame was logged."""
    await describe_visible(
        temporal, user, programming_workflow_id(session_id), "programming session", "session_id"
    )
    files = await asyncio.to_thread(frame_logs.files, session_id)
    if not files:
        raise NotFound("no frames were logged for this session (yet)")
    # A plain iterator: Starlette reads each chunk in a worker thread.
    return StreamingResponse(
        frame_logs.read_joined(files), media_type="text/plain", headers=headers
    )


@router.get("/packages", response_model=list[PackageSummary])
async def list_packages(user: CurrentUser, packages: PackagesDep) -> list[PackageSummary]:
    """The flash packages available to programming sessions."""
    return await package_summaries(packages)


async def package_summaries(packages: PackageStore) -> list[PackageSummary]:
    return [_summary(manifest) for manifest in await asyncio.to_thread(packages.manifests)]


def _summary(manifest: FlashPackageManifest) -> PackageSummary:
    return PackageSummary(
        package_id=manifest.package_id,
        description=manifest.description,
        ecus=manifest.ecu_names,
        total_bytes=sum(ecu.total_bytes for ecu in manifest.ecus),
    )


@router.post(
    "/packages",
    status_code=201,
    response_model=PackageSummary,
    responses=problem_responses(
        PackageInvalid,
        PackageExists,
        PackageTooLarge,
        PackageUnpacksTooLarge,
        PackageHasTooManyFiles,
    ),
    openapi_extra=upload_body(
        "application/gzip",
        "A gzipped tar of at most {package_max_upload_bytes} bytes (413 `package-too-large`) "
        "whose files hold at most {package_max_unpacked_bytes} bytes unpacked (413 "
        "`package-unpacks-too-large`) in at most {package_max_files} entries (413 "
        "`package-has-too-many-files`).",
        {
            "x-max-bytes": "package_max_upload_bytes",
            "x-max-unpacked-bytes": "package_max_unpacked_bytes",
            "x-max-entries": "package_max_files",
        },
    ),
)
async def upload_package(
    request: Request, admin: AdminUser, packages: PackagesDep, settings: SettingsDep
) -> PackageSummary:
    """Add a flash package: a gzipped tar of `manifest.json` and its segment files.

    The upload is written to disk as it comes and refused at the byte that passes its bound;
    unpacking stops at the bound of the files' bytes or of the entries. Every checksum, the
    structure and the dependencies are verified before it is stored; refusals name the ECU and
    the check. Uploading the identical package again is a no-op.
    """
    max_bytes = settings.package_max_upload_bytes
    archive = await asyncio.to_thread(packages.upload_file)
    try:
        with archive.open("wb") as out:
            async for chunk in bounded_chunks(
                request,
                max_bytes,
                lambda: PackageTooLarge(
                    f"the package upload may hold at most {max_bytes} bytes", max_bytes=max_bytes
                ),
            ):
                await asyncio.to_thread(out.write, chunk)  # disk writes off the event loop
        manifest = await asyncio.to_thread(
            packages.store_archive,
            archive,
            max_unpacked_bytes=settings.package_max_unpacked_bytes,
            max_files=settings.package_max_files,
        )
        return _summary(manifest)
    finally:
        archive.unlink(missing_ok=True)
