"""What the ECU programming pages show, gathered with the JSON API's own calls.

The start form offers the stations of `GET /stations` (with the same poller check) and the
packages of `GET /packages`, and starts a session with `POST /programming-sessions`'s
`start_programming`. A running session is watched through `live_session`: the workflow's
progress query (`GET /programming-sessions/{id}`) plus the bytes the running segment's activity
reported in its last heartbeat, which only the workflow's description carries (its pending
activities). Which steering actions the technician may take comes from the domain rules the
workflow's update validators apply (`domain.programming.may_resume` and friends), so a button
is enabled exactly when its update would be accepted.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionDescription

from api.routes.flows import search_flows
from api.routes.programming import PackageSummary, package_summaries
from api.routes.stations import StationWithStatus, stations_with_status
from application.workflow_calls import describe_visible
from console.data_texts import data_text
from console.i18n import N_, Translator
from contracts.programming import (
    PROGRAMMING_SESSION_WORKFLOW,
    PROGRESS_QUERY,
    ProgrammingProgress,
    program_segment,
    programming_workflow_id,
)
from contracts.stubs import activity_name
from db.models import User
from db.packages import PackageStore
from db.stations import StationRepository
from domain.programming import FINAL_STATES, DownloadProgress, may_abort, may_resume, may_skip
from settings import Settings

# How often the live page's event stream asks the workflow; an event goes out only on change.
POLL_INTERVAL = 0.5
# A comment line this often keeps proxies from closing a stream that has nothing new to say.
KEEP_ALIVE = timedelta(seconds=15)
# How often the event stream checks that its sign-in session still holds: a session signed
# out, expired or ended elsewhere stops getting progress within this (and one poll).
SESSION_CHECK_INTERVAL = timedelta(seconds=2)
UNKNOWN = "\N{EN DASH}"  # a figure not measured yet (no throughput before the first segment)

STATE_LABELS: dict[str, str] = {
    "checking_access": N_("Checking access"),
    "identifying": N_("Identifying the vehicle"),
    "planning": N_("Planning"),
    "programming": N_("Programming"),
    "waiting_for_time": N_("Waiting for programming time"),
    "needs_technician": N_("Needs the technician"),
    "completed": N_("Completed"),
    "aborted": N_("Aborted"),
    "refused": N_("Refused"),
}
ECU_STATUS_LABELS: dict[str, str] = {
    "pending": N_("Waiting"),
    "programming": N_("Programming"),
    "done": N_("Done"),
    "skipped": N_("Skipped"),
    "already_at_target": N_("Already up to date"),
}


class StartForm(BaseModel):
    """What the start form offers: the workshop's stations (each saying whether its worker
    polls) and the flash packages, as (value, label) options."""

    stations: list[tuple[str, str]]
    packages: list[tuple[str, str]]
    recent_vins: list[str]


def _station_option(translate: Translator, station: StationWithStatus) -> tuple[str, str]:
    if station.online is None:
        status = translate._("status unknown")
    else:
        status = translate._("online") if station.online else translate._("offline")
    return station.station_id, f"{station.name} ({station.station_id}, {status})"


def _package_option(translate: Translator, package: PackageSummary) -> tuple[str, str]:
    size = _bytes(translate, package.total_bytes)
    ecus = ", ".join(package.ecus)
    description = data_text(translate, package.description)
    return package.package_id, f"{package.package_id} · {description} · {ecus} · {size}"


class RecentSession(BaseModel):
    session_id: str
    vin: str | None
    station_id: str | None
    state: str | None
    started_at: str


async def start_form(
    user: User,
    temporal: Client,
    settings: Settings,
    stations: StationRepository,
    packages: PackageStore,
    translate: Translator,
) -> tuple[StartForm, list[RecentSession]]:
    """The start form's choices and the workshop's recent sessions (the flow search's)."""
    found = await search_flows(
        temporal, settings, user, type=PROGRAMMING_SESSION_WORKFLOW, page_size=20
    )
    recent = [
        RecentSession(
            session_id=flow.workflow_id.removeprefix(programming_workflow_id("")),
            vin=flow.vin,
            station_id=flow.station_id,
            state=translate._(STATE_LABELS[flow.state]) if flow.state in STATE_LABELS else None,
            started_at=translate.datetime(flow.started_at),
        )
        for flow in found.flows
    ]
    vins = list(dict.fromkeys(flow.vin for flow in found.flows if flow.vin))
    form = StartForm(
        stations=[
            _station_option(translate, station)
            for station in await stations_with_status(user, stations, temporal, settings)
        ],
        packages=[_package_option(translate, p) for p in await package_summaries(packages)],
        recent_vins=vins,
    )
    return form, recent


class SteeringActions(BaseModel):
    """The technician's actions the session accepts now."""

    resume: bool
    abort: bool
    skippable_ecus: list[str]


def steering_actions(progress: ProgrammingProgress) -> SteeringActions:
    return SteeringActions(
        resume=may_resume(progress.state),
        abort=may_abort(progress.state),
        skippable_ecus=[e.ecu for e in progress.ecus if may_skip(progress.state, e.status)],
    )


class LiveEcu(BaseModel):
    ecu: str
    status: str
    status_label: str
    bytes_done: int
    bytes_total: int
    percent: int
    done_text: str


class LiveSession(BaseModel):
    """One moment of a session as the live page shows it (the body of each SSE event)."""

    session_id: str
    state: str
    state_label: str
    final: bool
    vin: str
    station_id: str
    current_ecu: str | None
    current_step: str | None
    bytes_done: int
    bytes_total: int
    percent: int
    bytes_text: str
    throughput_text: str
    eta_text: str
    remaining_text: str
    reason: str | None
    ecus: list[LiveEcu]
    actions: SteeringActions


async def running_segment(
    temporal: Client, description: WorkflowExecutionDescription
) -> DownloadProgress | None:
    """How far the segment being downloaded got: its activity's last heartbeat (between two
    attempts too: the next attempt continues from there)."""
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name != activity_name(program_segment):
            continue
        if not pending.heartbeat_details.payloads:
            return None
        details = await temporal.data_converter.decode(pending.heartbeat_details.payloads)
        if details and isinstance(details[0], dict) and "bytes_confirmed" in details[0]:
            return DownloadProgress.model_validate(details[0])
    return None


def _percent(done: int, total: int) -> int:
    return min(100, done * 100 // total) if total else 0


def _bytes(translate: Translator, count: int) -> str:
    return translate._("%(kib)s KiB", kib=translate.number(round(count / 1024, 1)))


def _done_of(translate: Translator, done: int, total: int) -> str:
    return translate._(
        "%(done)s of %(total)s", done=_bytes(translate, done), total=_bytes(translate, total)
    )


@dataclass
class ProgressCache:
    """The last progress the live page's stream asked the workflow for, and the length of the
    workflow's history when it asked.

    The query is a task for the portal worker; the progress is a function of the workflow's
    state, which changes only with its history. While a segment downloads for minutes, only
    its heartbeat moves, and that comes with the description the stream reads anyway.
    """

    history_length: int = -1
    progress: ProgrammingProgress | None = None


async def live_session(
    temporal: Client,
    user: User,
    session_id: str,
    translate: Translator,
    cache: ProgressCache | None = None,
) -> LiveSession:
    """The session's progress now, with the running segment's confirmed bytes counted in; a
    session of another workshop is `not-found` like an unknown one. With a `cache`, the
    workflow is asked again only when its history has grown since."""
    workflow_id = programming_workflow_id(session_id)
    description = await describe_visible(
        temporal, user, workflow_id, "programming session", "session_id"
    )
    # Described before the query: a progress kept for this length is at least this new.
    history_length = description.raw_description.workflow_execution_info.history_length
    if cache is not None and cache.progress is not None and cache.history_length == history_length:
        progress = cache.progress
    else:
        handle = temporal.get_workflow_handle(workflow_id)
        progress = await handle.query(PROGRESS_QUERY, result_type=ProgrammingProgress)
        if cache is not None:
            cache.history_length, cache.progress = history_length, progress
    segment = await running_segment(temporal, description) if progress.current_ecu else None
    in_segment = segment.bytes_confirmed if segment else 0
    ecus = []
    for outcome in progress.ecus:
        done = outcome.bytes_done
        if outcome.ecu == progress.current_ecu and outcome.status == "programming":
            done = min(outcome.bytes_total, done + in_segment)
        ecus.append(
            LiveEcu(
                ecu=outcome.ecu,
                status=outcome.status,
                status_label=translate._(ECU_STATUS_LABELS.get(outcome.status, outcome.status)),
                bytes_done=done,
                bytes_total=outcome.bytes_total,
                percent=_percent(done, outcome.bytes_total),
                done_text=_done_of(translate, done, outcome.bytes_total),
            )
        )
    done = sum(ecu.bytes_done for ecu in ecus)
    throughput = progress.throughput_bytes_per_second
    return LiveSession(
        session_id=session_id,
        state=progress.state,
        state_label=translate._(STATE_LABELS.get(progress.state, progress.state)),
        final=progress.state in FINAL_STATES,
        vin=progress.vin,
        station_id=progress.station_id,
        current_ecu=progress.current_ecu,
        current_step=progress.current_step,
        bytes_done=done,
        bytes_total=progress.bytes_total,
        percent=_percent(done, progress.bytes_total),
        bytes_text=_done_of(translate, done, progress.bytes_total),
        throughput_text=(
            translate._("%(kib)s KiB/s", kib=translate.number(round(throughput / 1024, 1)))
            if throughput
            else UNKNOWN
        ),
        eta_text=translate.duration(progress.eta) if progress.eta is not None else UNKNOWN,
        remaining_text=(
            translate.duration(progress.remaining_coverage)
            if progress.remaining_coverage is not None
            else UNKNOWN
        ),
        reason=progress.reason,
        ecus=ecus,
        actions=steering_actions(progress),
    )


def server_sent_event(event: str, data: Any) -> str:
    """One event of a `text/event-stream`: its name and a single line of JSON."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def session_events(
    snapshot: Callable[[], Awaitable[LiveSession]],
    disconnected: Callable[[], Awaitable[bool]],
    signed_out: Callable[[], Awaitable[str | None]],
    *,
    interval: float = POLL_INTERVAL,
) -> AsyncIterator[str]:
    """The live page's event stream: a `progress` event whenever the session changed, until it
    ended (its last event has `final: true`) or the browser went away; or until the sign-in
    session no longer holds: `signed_out()` answers where to sign in again (None: it holds),
    and a `signed-out` event with that `location` ends the stream."""
    last: str | None = None
    clock = asyncio.get_running_loop().time
    quiet_since = checked_at = clock()
    while not await disconnected():
        # Checked when the stream opened, and again while it runs: it lives as long as the page.
        if clock() - checked_at >= SESSION_CHECK_INTERVAL.total_seconds():
            checked_at = clock()
            location = await signed_out()
            if location is not None:
                yield server_sent_event("signed-out", {"location": location})
                return
        moment = await snapshot()
        body = moment.model_dump(mode="json")
        encoded = json.dumps(body, sort_keys=True)
        now = clock()
        if encoded != last:
            last, quiet_since = encoded, now
            yield server_sent_event("progress", body)
            if moment.final:
                return
        elif now - quiet_since >= KEEP_ALIVE.total_seconds():
            quiet_since = now
            yield ": still here\n\n"
        await asyncio.sleep(interval)
