"""ECU programming: start a session, watch its progress, steer it (resume, skip an ECU,
abort), read its report and its frame log; the flash packages it uses. The one implementation
behind `/programming-sessions...` and `GET /packages`, the console's programming pages and
(over HTTP) `aos flash`.

A session of another workshop answers exactly as an unknown one (404 `not-found`): its
workflow's `WorkshopId` search attribute, set at the start, scopes it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.client import WorkflowHandle as Handle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from application.programming_views import ProgressView, progress_view
from application.resources import AppResources
from application.stations import StationIdField
from application.workflow_calls import describe_visible, ensure_station_online, execute_update
from contracts import search_attributes
from contracts.programming import (
    CURRENT_SESSION_REVISION,
    PROGRAMMING_SESSION_WORKFLOW,
    PROGRESS_QUERY,
    AbortInput,
    ProgrammingProgress,
    ProgrammingSessionInput,
    ProgrammingUpdate,
    ResumeInput,
    SkipEcuInput,
    program_ecu,
    program_segment,
    programming_workflow_id,
)
from contracts.stubs import activity_name
from db.models import User
from db.stations import StationRepository
from domain.errors import Conflict, NotFound
from domain.flash_package import PACKAGE_ID_PATTERN, FlashPackageManifest
from domain.programming import DownloadProgress, EcuProgress, ProgrammingSessionEnded
from domain.vin import VIN_PATTERN, parse_vin
from settings import Settings
from storage.frame_logs import FrameLogStore
from storage.packages import PackageStore


class SessionRequest(BaseModel):
    station_id: StationIdField
    vin: str = Field(min_length=1, max_length=32, json_schema_extra={"pattern": VIN_PATTERN})
    package_id: str = Field(pattern=PACKAGE_ID_PATTERN)
    parallel: bool = Field(
        default=True,
        description="Program the plan's lanes at the same time (ECUs reached over DoIP); off: "
        "one ECU after another",
    )
    max_parallel_ecus: int = Field(
        default=4, ge=1, le=16, description="At most this many lanes at the same time"
    )


class SessionStarted(BaseModel):
    session_id: str
    workflow_id: str
    state: str


class PackageSummary(BaseModel):
    package_id: str
    description: str
    ecus: list[str]
    total_bytes: int


# --- the flash packages -------------------------------------------------------------------------


def package_store(resources: AppResources) -> PackageStore:
    return PackageStore(resources.settings.packages_dir)


def package_summary(manifest: FlashPackageManifest) -> PackageSummary:
    return PackageSummary(
        package_id=manifest.package_id,
        description=manifest.description,
        ecus=manifest.ecu_names,
        total_bytes=sum(ecu.total_bytes for ecu in manifest.ecus),
    )


async def package_summaries(resources: AppResources) -> list[PackageSummary]:
    """The flash packages available to programming sessions."""
    manifests = await asyncio.to_thread(package_store(resources).manifests)
    return [package_summary(manifest) for manifest in manifests]


# --- a session ----------------------------------------------------------------------------------


async def start_programming(
    resources: AppResources, caller: User, request: SessionRequest
) -> SessionStarted:
    """Start programming the car at a station of the caller's workshop with a package.

    Refused before anything touches the car: an invalid VIN, another workshop's or an unknown
    station, an unknown or corrupt package (naming the ECU and the check), a station whose
    worker does not poll (`station-offline`, or `workflow-unavailable` while Temporal, just
    restarted, does not list it yet). The caller has checked the workshop's `ecu_programming`
    coverage (the session checks it again, first thing).
    """
    settings, temporal = resources.settings, resources.temporal
    vin = parse_vin(request.vin)
    stations = StationRepository(resources.session_factory)
    station = await stations.of_workshop(request.station_id, caller.workshop_id)
    await asyncio.to_thread(package_store(resources).verified_manifest, request.package_id)
    await ensure_station_online(temporal, settings, station)
    assert caller.workshop_id is not None  # of_workshop found no station without one
    session_id = str(uuid.uuid4())
    workflow_id = programming_workflow_id(session_id)
    await start_session_workflow(
        temporal,
        settings,
        ProgrammingSessionInput(
            session_id=session_id,
            workshop_id=caller.workshop_id,
            station_id=station.id,
            station_task_queue=settings.station_task_queue(station.id),
            vin=vin,
            package_id=request.package_id,
            technician_id=caller.id,
            hardware_retry=settings.hardware_retry(),
            vin_search=settings.vin_search_value(vin),
            parallel=request.parallel,
            max_parallel_ecus=request.max_parallel_ecus,
        ),
    )
    return SessionStarted(session_id=session_id, workflow_id=workflow_id, state="started")


async def start_session_workflow(
    temporal: Client, settings: Settings, session: ProgrammingSessionInput
) -> Handle[Any, ProgrammingProgress]:
    """Start a session's workflow as every session is started: under the current revision,
    with its search attributes (the workshop's, the one scoping rule) set from the start, so it
    is findable and scoped before its first task runs, and the VIN in the memo."""
    session = session.model_copy(update={"revision": CURRENT_SESSION_REVISION})
    attributes = [
        SearchAttributePair(search_attributes.WORKSHOP_ID, session.workshop_id),
        SearchAttributePair(search_attributes.STATION_ID, session.station_id),
        SearchAttributePair(search_attributes.FLOW_STATE, "checking_access"),
    ]
    if session.vin_search is not None:
        attributes.append(SearchAttributePair(search_attributes.VIN, session.vin_search))
    return await temporal.start_workflow(
        PROGRAMMING_SESSION_WORKFLOW,
        session,
        id=programming_workflow_id(session.session_id),
        task_queue=settings.portal_task_queue,
        # The VIN for the flow lists, encrypted with the payloads; its search value for searches.
        memo={search_attributes.VIN_MEMO: session.vin},
        search_attributes=TypedSearchAttributes(attributes),
        result_type=ProgrammingProgress,
    )


async def visible_session(
    temporal: Client, caller: User, session_id: str
) -> tuple[WorkflowExecutionDescription, Handle[Any, ProgrammingProgress]]:
    """The session's description and handle, if it is the caller's workshop's (others: 404)."""
    workflow_id = programming_workflow_id(session_id)
    description = await describe_visible(
        temporal, caller, workflow_id, "programming session", "session_id"
    )
    return description, temporal.get_workflow_handle(workflow_id, result_type=ProgrammingProgress)


class RecentProgress:
    """The last progress asked of each of the sessions watched lately, with the run and the
    length of its workflow's history it was asked at; the least recently watched go first.

    The progress query is a task for the portal worker, and its answer is a function of the
    workflow's state, which changes only with a workflow task, which always lengthens the
    history. So while the history has the length it had, the kept answer is the answer: a
    session waiting for the technician, or downloading a segment for minutes (only its
    heartbeat moves, and that comes with the description, read anyway), is not asked again
    however many pages, streams and terminals watch it. Kept per process: each replica keeps
    its own, and none depends on another's.
    """

    def __init__(self, max_sessions: int) -> None:
        self.max_sessions = max_sessions
        self._kept: OrderedDict[str, tuple[str, int, ProgrammingProgress]] = OrderedDict()

    def get(self, workflow_id: str, run_id: str, history_length: int) -> ProgrammingProgress | None:
        kept = self._kept.get(workflow_id)
        if kept is None or kept[:2] != (run_id, history_length):
            return None
        self._kept.move_to_end(workflow_id)
        return kept[2]

    def put(
        self, workflow_id: str, run_id: str, history_length: int, progress: ProgrammingProgress
    ) -> None:
        self._kept[workflow_id] = (run_id, history_length, progress)
        self._kept.move_to_end(workflow_id)
        while len(self._kept) > self.max_sessions:
            self._kept.popitem(last=False)


# Sessions flash for minutes to an hour: this many watched at once is more than one API
# process serves; a progress is a few hundred bytes.
RECENT_PROGRESS = RecentProgress(max_sessions=1024)


async def running_segment(
    temporal: Client, description: WorkflowExecutionDescription
) -> DownloadProgress | dict[str, int] | None:
    """How far the running transfer got, from the last heartbeat of its activity (between two
    attempts too: the next attempt continues from there). Sessions since one activity per ECU:
    per ECU being programmed, the bytes it has confirmed; before: the segment being
    downloaded. None when nothing runs."""
    ecus: dict[str, int] = {}
    for pending in description.raw_description.pending_activities:
        kind = pending.activity_type.name
        if kind not in (activity_name(program_segment), activity_name(program_ecu)):
            continue
        if not pending.heartbeat_details.payloads:
            continue
        # Decoded here (the payload codec is in this process): no call to Temporal.
        details = await temporal.data_converter.decode(pending.heartbeat_details.payloads)
        found = details[0] if details and isinstance(details[0], dict) else None
        if found is None:
            continue
        if kind == activity_name(program_segment) and "bytes_confirmed" in found:
            return DownloadProgress.model_validate(found)
        if "ecu" in found and "step" in found:
            progress = EcuProgress.model_validate(found)
            ecus[progress.ecu] = progress.bytes_confirmed
    return ecus or None


async def session_progress(resources: AppResources, caller: User, session_id: str) -> ProgressView:
    """Where the session is: state, current ECU and step, bytes (counting those the running
    segment has confirmed), throughput, ETA, time left; what `GET /programming-sessions/{id}`,
    the console's live page and `aos flash watch` show.

    At most two calls to Temporal: the description (the scope, the history's length, and the
    running segment's heartbeat among the pending activities) and the workflow's progress
    query, which is asked only when the history has grown since it was last asked
    (`RecentProgress`).
    """
    temporal = resources.temporal
    description, handle = await visible_session(temporal, caller, session_id)
    # Described before the query: a progress kept for this length is at least this new.
    run_id = description.run_id
    history_length = description.raw_description.workflow_execution_info.history_length
    progress = RECENT_PROGRESS.get(handle.id, run_id, history_length)
    if progress is None:
        progress = await handle.query(PROGRESS_QUERY, result_type=ProgrammingProgress)
        RECENT_PROGRESS.put(handle.id, run_id, history_length, progress)
    running = await running_segment(temporal, description) if progress.current_ecu else None
    return progress_view(progress, running)


async def _steer(
    resources: AppResources,
    caller: User,
    session_id: str,
    update: ProgrammingUpdate,
    step: BaseModel,
) -> ProgressView:
    """Apply a technician's step to a session of the caller's workshop and answer with the
    progress after it took effect.

    A session that has ended takes no more steps: `programming-session-ended` naming its
    final `state`; also when it ends between the check and the update, where the server would
    answer "not found". The workflow's validator refuses a step the state does not allow
    (`not-at-safe-point`) before it reaches the history.
    """
    description, handle = await visible_session(resources.temporal, caller, session_id)
    if description.status != WorkflowExecutionStatus.RUNNING:
        raise await _session_ended(handle)
    try:
        progress = await execute_update(handle, update, step, ProgrammingProgress)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        raise await _session_ended(handle) from error
    return progress_view(progress)


async def _session_ended(handle: Handle[Any, ProgrammingProgress]) -> Conflict:
    final = await handle.query(PROGRESS_QUERY, result_type=ProgrammingProgress)
    return ProgrammingSessionEnded(
        f"the programming session is {final.state}; it takes no more steps",
        state=final.state,
        reason=final.reason,
    )


async def resume_session(
    resources: AppResources, caller: User, session_id: str, step: ResumeInput
) -> ProgressView:
    """After a fault: the car is identified again (the same VIN) and the flash continues from
    the last confirmed block. Answers once the session has left `needs_technician`."""
    return await _steer(resources, caller, session_id, ProgrammingUpdate.RESUME, step)


async def skip_ecu(
    resources: AppResources, caller: User, session_id: str, step: SkipEcuInput
) -> ProgressView:
    """Leave out an ECU that has not started yet; the answer shows it `skipped`."""
    return await _steer(resources, caller, session_id, ProgrammingUpdate.SKIP_ECU, step)


async def abort_session(
    resources: AppResources, caller: User, session_id: str, step: AbortInput
) -> ProgressView:
    """Stop the session at a safe point (never during a transfer); answers once it is
    `aborted`."""
    return await _steer(resources, caller, session_id, ProgrammingUpdate.ABORT, step)


async def final_report(resources: AppResources, caller: User, session_id: str) -> ProgressView:
    """The report of a session of the caller's workshop that ended (`conflict` while it runs)."""
    description, handle = await visible_session(resources.temporal, caller, session_id)
    if description.status == WorkflowExecutionStatus.RUNNING:
        raise Conflict(
            "the session is still running; GET /programming-sessions/{id} shows its progress"
        )
    return progress_view(await handle.query(PROGRESS_QUERY, result_type=ProgrammingProgress))


def frame_log_store(resources: AppResources) -> FrameLogStore:
    """The sessions' frame logs on disk, within the configured bounds per session."""
    settings = resources.settings
    return FrameLogStore(
        settings.traces_dir,
        max_files=settings.trace_max_files_per_session,
        max_bytes=settings.trace_max_session_bytes,
    )


async def session_frame_log(
    resources: AppResources, caller: User, session_id: str
) -> Iterator[bytes]:
    """The session's ASC frame logs one after another, each under a `// <file name>` line, read
    from disk in chunks as they are iterated (a log may be as large as
    AOS_TRACE_MAX_SESSION_BYTES); `not-found` before any frame was logged."""
    await visible_session(resources.temporal, caller, session_id)
    frame_logs = frame_log_store(resources)
    files = await asyncio.to_thread(frame_logs.files, session_id)
    if not files:
        raise NotFound("no frames were logged for this session (yet)")
    return frame_logs.read_joined(files)
