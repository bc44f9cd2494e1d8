"""The signed programming report of an ended session (`domain.programming_report`): built once,
when it is first asked for after the session ended, from what the session left behind — its
final progress, its Temporal history (steps, retries and their causes, the ticket it checked),
its frame logs (audited independently, `domain.protocol_audit`) and who started it — signed
with the portal's current report key and kept as signed; later requests get the same bytes.

Behind `GET /programming-sessions/{id}/report` (and `.pdf`), the console's report links and
`aos report get`; `GET /programming-report-keys` publishes the public keys to verify with.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ValidationError
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowExecutionStatus
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError

from application.local_activities import (
    LocalActivityRun,
    decoded_failure,
    first_value,
    local_activity_run,
)
from application.programming import frame_log_store, package_store, visible_session
from application.resources import AppResources
from contracts.access import check_entitlement
from contracts.programming import (
    FAILED_ATTEMPT_PHASES_KEPT,
    PROGRESS_QUERY,
    EcuPhase,
    EcuResult,
    ProgrammingProgress,
    program_ecu,
)
from contracts.stubs import activity_name
from db.access_repository import AccessRepository
from db.accounts import AccountRepository
from db.models import User
from db.programming_reports import ProgrammingReportRepository
from domain.catalogue import Service
from domain.errors import DomainError
from domain.programming_report import (
    EcuOutcome,
    FailedAttempt,
    FrameLogFile,
    Phase,
    ProgrammingSessionRunning,
    ReportFacts,
    Retry,
    Step,
    build_report,
    timestamp,
)
from domain.protocol_audit import Audit, audit_frame_logs
from domain.report_verification import PublicKey
from security.report_keys import public_keys, sign_report
from storage.frame_logs import READ_CHUNK_BYTES

ENDED_OUTCOMES = {
    "activity_task_completed_event_attributes": "completed",
    "activity_task_failed_event_attributes": "failed",
    "activity_task_timed_out_event_attributes": "timed-out",
    "activity_task_canceled_event_attributes": "canceled",
}

WORKFLOW_ENDS = {
    f"workflow_execution_{end}_event_attributes"
    for end in ("completed", "failed", "timed_out", "terminated", "canceled", "continued_as_new")
}


class ReportKey(BaseModel):
    key_id: str
    algorithm: str
    public_key: str  # base64 of the 32 raw bytes
    valid_from: str
    valid_until: str | None  # None: the key that signs now


class ReportKeys(BaseModel):
    keys: list[ReportKey]


# The reports being built in this process, by session; a lock goes when its last holder does.
_BUILDING: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


async def programming_report(resources: AppResources, caller: User, session_id: str) -> bytes:
    """The signed report (JSON bytes) of a session of the caller's workshop that has ended:
    another workshop's or an unknown session is `not-found`, a running one
    `programming-session-running` (409)."""
    description, handle = await visible_session(resources.temporal, caller, session_id)
    if description.status == WorkflowExecutionStatus.RUNNING:
        raise ProgrammingSessionRunning(
            "the session has not ended yet; its report is signed once it has",
            field="session_id",
        )
    reports = ProgrammingReportRepository(resources.session_factory)
    stored = await reports.document(session_id)
    if stored is not None:
        return stored
    # Built once per process however many ask at the same moment: reading the frame logs costs
    # up to AOS_TRACE_MAX_SESSION_BYTES. (Across replicas, the first one stored is kept.)
    building = _BUILDING.setdefault(session_id, asyncio.Lock())
    async with building:
        stored = await reports.document(session_id)
        if stored is not None:
            return stored
        progress = await handle.query(PROGRESS_QUERY, result_type=ProgrammingProgress)
        facts = await _facts(resources, handle.id, session_id, progress)
        key = resources.settings.report_key_ring()[0]
        document = sign_report(build_report(facts), key)
        workshop = facts.workshop_id
        return await reports.keep(session_id, workshop, key.key_id, facts.built_at, document)


def report_public_keys(resources: AppResources) -> list[PublicKey]:
    """The portal's report keys, the signing one first; older ones stay listed."""
    return public_keys(resources.settings.report_key_ring())


async def _facts(
    resources: AppResources, workflow_id: str, session_id: str, progress: ProgrammingProgress
) -> ReportFacts:
    history = await _History.read(resources, workflow_id)
    started = history.input
    technician = await AccountRepository(resources.session_factory).user(
        str(started.get("technician_id", ""))
    )
    files = await asyncio.to_thread(frame_log_store(resources).files, session_id)
    logs, audit = await asyncio.to_thread(_audited_logs, files)
    package_id = str(started.get("package_id", ""))
    workshop_id = str(started.get("workshop_id", ""))
    ticket = await _ticket(resources, workshop_id, history)
    package_segments = await asyncio.to_thread(_package_segments, resources, package_id)
    return ReportFacts(
        session_id=session_id,
        workflow_id=workflow_id,
        state=str(progress.state),
        reason=progress.reason,
        vin=progress.vin,
        package_id=package_id,
        workshop_id=workshop_id,
        station_id=progress.station_id,
        technician_id=str(started.get("technician_id", "")),
        technician_email=technician.email if technician else None,
        started_at=history.started_at,
        ended_at=history.ended_at,
        ticket=ticket,
        outcomes=[
            EcuOutcome(
                ecu=ecu.ecu,
                status=str(ecu.status),
                bytes_total=ecu.bytes_total,
                bytes_done=ecu.bytes_done,
                software_after=[str(unit) for unit in ecu.software_after],
            )
            for ecu in progress.ecus
        ],
        steps=history.steps,
        retries=history.retries,
        frame_logs=logs,
        audit=audit,
        built_at=datetime.now(UTC),
        package_segments=package_segments,
        phases=history.phases,
    )


async def _ticket(
    resources: AppResources, workshop_id: str, history: _History
) -> dict[str, Any] | None:
    """The coverage the session's access check granted, with the purchased tickets of the
    service that overlap the session (their ids, periods and windows)."""
    if history.ticket is None:
        return None
    service = Service(history.ticket["service"])
    started, ended = history.started_at, history.ended_at or history.started_at
    tickets = await AccessRepository(resources.session_factory).tickets(workshop_id, service)
    overlapping = [t for t in tickets if t.starts_at <= ended and t.ends_at > started]
    return {
        **history.ticket,
        "tickets": [
            {
                "id": t.id,
                "period": t.period,
                "starts_at": timestamp(t.starts_at),
                "ends_at": timestamp(t.ends_at),
            }
            for t in sorted(overlapping, key=lambda t: t.starts_at)
        ],
    }


def _package_segments(resources: AppResources, package_id: str) -> dict[str, dict[int, str]]:
    """The package's SHA-256 of each segment by ECU and address; empty when the package is no
    longer there (or no longer verifies): the report then says nothing about it."""
    try:
        manifest = package_store(resources).verified_manifest(package_id)
    except DomainError:
        return {}
    return {ecu.ecu: {s.address: s.sha256 for s in ecu.segments} for ecu in manifest.ecus}


def _audited_logs(files: list[Path]) -> tuple[list[FrameLogFile], Audit]:
    """Each frame log's size and SHA-256, and the audit of them all; read in chunks and lines,
    never whole (a session's logs may hold AOS_TRACE_MAX_SESSION_BYTES). Blocking: run it in a
    thread."""
    logs = []
    for path in files:
        digest = hashlib.sha256()
        with path.open("rb") as log:
            while chunk := log.read(READ_CHUNK_BYTES):
                digest.update(chunk)
        logs.append(FrameLogFile(path.name, path.stat().st_size, digest.hexdigest()))
    return logs, audit_frame_logs(_lines_of(files))


def _lines_of(files: list[Path]) -> Iterator[tuple[str, IO[str]]]:
    """Each file's name and lines, opened one at a time as the audit reaches it."""
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as lines:
            yield path.name, lines


# The activities whose results the report reads (the ticket granted, the phases an ECU timed);
# the others' results (the car's identification, older segment results) are not decoded.
RESULTS_READ = {activity_name(check_entitlement), activity_name(program_ecu)}


class _History:
    """What the session's Temporal history tells, decoded through the client's data converter
    (its payload codec included): the start's input, each activity's step, attempts and end,
    the retries and their causes, the ticket the access check granted, the phases each ECU's
    completed activities timed on the station."""

    def __init__(self, converter: DataConverter) -> None:
        self.converter = converter
        self.input: dict[str, Any] = {}
        self.started_at = datetime.now(UTC)
        self.ended_at: datetime | None = None
        self.ticket: dict[str, Any] | None = None
        self.retries: list[Retry] = []
        self.phases: list[Phase] = []
        self._scheduled: dict[int, dict[str, Any]] = {}

    @classmethod
    async def read(cls, resources: AppResources, workflow_id: str) -> _History:
        temporal = resources.temporal
        history = cls(temporal.data_converter)
        async for event in temporal.get_workflow_handle(workflow_id).fetch_history_events():
            await history.add(event)
        return history

    @property
    def steps(self) -> list[Step]:
        return [
            Step(
                step=s["step"],
                ecu=s["ecu"],
                segment=s["segment"],
                scheduled_at=s["at"],
                ended_at=s.get("ended_at"),
                attempts=s.get("attempts", 1),
                outcome=s.get("outcome", "running"),
                failure=s.get("failure"),
                failed_attempt=s.get("failed_attempt", FailedAttempt()),
            )
            for s in self._scheduled.values()
        ]

    async def add(self, event: HistoryEvent) -> None:
        at = event.event_time.ToDatetime(tzinfo=UTC)
        kind = event.WhichOneof("attributes")
        if kind == "workflow_execution_started_event_attributes":
            self.started_at = at
            values = await first_value(
                self.converter, event.workflow_execution_started_event_attributes.input
            )
            self.input = values if isinstance(values, dict) else {}
        elif kind == "activity_task_scheduled_event_attributes":
            scheduled = event.activity_task_scheduled_event_attributes
            values = await first_value(self.converter, scheduled.input)
            values = values if isinstance(values, dict) else {}
            # A segment's activity names its segment; an ECU's activity (`program_ecu`) the
            # segment it resumes at, or, when it fails, the one it failed in (below).
            resume_from = values.get("resume_from")
            self._scheduled[event.event_id] = {
                "step": scheduled.activity_type.name,
                "ecu": values.get("ecu"),
                "segment": values.get("segment_index")
                if "segment_index" in values
                else (resume_from or {}).get("segment_index"),
                "at": at,
            }
        elif kind == "activity_task_started_event_attributes":
            started = event.activity_task_started_event_attributes
            step = self._scheduled.get(started.scheduled_event_id)
            if step is not None:
                step["attempts"] = started.attempt
                if started.attempt > 1 and started.HasField("last_failure"):
                    error = await decoded_failure(self.converter, started.last_failure)
                    cause_type, cause = _cause(error)
                    self.retries.append(
                        Retry(
                            step["step"],
                            step["ecu"],
                            step["segment"],
                            started.attempt,
                            at,
                            cause_type,
                            cause,
                            _failed_attempt(error, step["ecu"]),
                        )
                    )
        elif kind in ENDED_OUTCOMES:
            await self._activity_ended(event, kind, at)
        elif (run := await local_activity_run(event, self.converter)) is not None:
            await self._local_activity(event.event_id, run, at)
        elif kind in WORKFLOW_ENDS:
            self.ended_at = at

    async def _activity_ended(self, event: HistoryEvent, kind: str, at: datetime) -> None:
        attributes = getattr(event, kind)
        step = self._scheduled.get(attributes.scheduled_event_id)
        if step is None:
            return
        step["ended_at"], step["outcome"] = at, ENDED_OUTCOMES[kind]
        if kind == "activity_task_failed_event_attributes":
            error = await decoded_failure(self.converter, attributes.failure)
            cause_type, cause = _cause(error)
            step["failure"] = f"{cause_type}: {cause}"
            step["failed_attempt"] = _failed_attempt(error, step["ecu"])
            if step["segment"] is None:
                step["segment"] = _failed_segment(error)
        if kind == "activity_task_completed_event_attributes" and step["step"] in RESULTS_READ:
            result = await first_value(self.converter, attributes.result)
            self._granted(step["step"], result)
            self._timed(step["step"], result)

    async def _local_activity(self, event_id: int, run: LocalActivityRun, at: datetime) -> None:
        """A portal step run as a local activity (sessions since revision 1): its one marker
        holds its attempts, times and result or failure."""
        self._scheduled[event_id] = {
            "step": run.activity_type,
            "ecu": None,
            "segment": None,
            "at": run.scheduled_at or at,
            "ended_at": run.ended_at or at,
            "attempts": run.attempt,
            "outcome": "failed" if run.failure is not None else "completed",
        }
        if run.failure is not None:
            cause_type, cause = _cause(run.failure)
            self._scheduled[event_id]["failure"] = f"{cause_type}: {cause}"
        elif run.activity_type in RESULTS_READ:
            self._granted(run.activity_type, await first_value(self.converter, run.result))

    def _granted(self, step: str, result: Any) -> None:
        """The ticket the session ran on: what the access check granted."""
        if step == activity_name(check_entitlement) and isinstance(result, dict):
            self.ticket = {
                "service": result.get("service"),
                "starts_at": result.get("starts_at"),
                "ends_at": result.get("ends_at"),
            }

    def _timed(self, step: str, result: Any) -> None:
        """The phases an ECU's completed activity timed, after those of its earlier ones (an
        ECU stopped for time or resumed by a technician has several)."""
        if step != activity_name(program_ecu) or not isinstance(result, dict):
            return
        ecu = EcuResult.model_validate(result)
        self.phases += _phases(ecu.ecu, ecu.phases)


def _cause(error: BaseException) -> tuple[str | None, str]:
    """A decoded failure's type (an application error's own) and message."""
    cause_type = error.type if isinstance(error, ApplicationError) else type(error).__name__
    return cause_type, str(error)


def _phases(ecu: str, phases: list[EcuPhase]) -> list[Phase]:
    """The station's timed phases of one of `ecu`'s attempts, as the report holds them."""
    return [
        Phase(ecu, p.phase, p.segment, p.started_at, timedelta(seconds=p.seconds)) for p in phases
    ]


def _station_detail(error: BaseException) -> dict[str, Any]:
    """What a station's failure carries besides its message (`station.ecu_run`): the ECU's
    progress, the attempt's last phases; empty for any other failure."""
    detail = error.details[0] if isinstance(error, ApplicationError) and error.details else None
    return detail if isinstance(detail, dict) else {}


def _failed_attempt(error: BaseException, ecu: str | None) -> FailedAttempt:
    """The phases an ECU's failed attempt ran, as its failure carries them (the station's
    vehicle errors; none from other steps and older stations). A station is not trusted: no
    more than it may send is read, and details that are not phases give none."""
    detail = _station_detail(error)
    sent = detail.get("phases")
    if ecu is None or not isinstance(sent, list):
        return FailedAttempt()
    left_out = detail.get("phases_left_out")
    try:
        phases = [EcuPhase.model_validate(p) for p in sent[-FAILED_ATTEMPT_PHASES_KEPT:]]
    except ValidationError:
        return FailedAttempt()
    return FailedAttempt(
        _phases(ecu, phases),
        (left_out if isinstance(left_out, int) and left_out > 0 else 0)
        + max(0, len(sent) - FAILED_ATTEMPT_PHASES_KEPT),
    )


def _failed_segment(error: BaseException) -> int | None:
    """The segment an ECU's activity failed in, from the progress its failure carries."""
    progress = _station_detail(error).get("ecu_progress")
    if isinstance(progress, dict) and isinstance(progress.get("segment_index"), int):
        return int(progress["segment_index"])
    return None
