"""What the ECU programming pages show: the use cases of `application.programming` (the ones
the JSON API calls), with the page's labels and texts in the page's language.

The start form offers the stations of `GET /stations` (with the same poller check) and the
packages of `GET /packages`, and starts a session with `start_programming`. A running session
is watched through `live_session`: `session_progress`, the progress `GET
/programming-sessions/{id}` answers (the running segment's confirmed bytes counted in), plus
its texts. Which steering actions the technician may take comes from the domain rules the
workflow's update validators apply (`domain.programming.may_resume` and friends), so a button
is enabled exactly when its update would be accepted.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from application.operations import search_flows
from application.programming import PackageSummary, package_summaries, session_progress
from application.programming_views import EcuOutcomeView, ProgressView
from application.resources import AppResources
from application.stations import StationWithStatus, stations_with_status
from console.data_texts import data_text
from console.i18n import N_, Translator
from contracts.programming import (
    PROGRAMMING_SESSION_WORKFLOW,
    ProgrammingProgress,
    programming_workflow_id,
)
from db.models import User
from domain.programming import (
    FINAL_STATES,
    ProgrammingPlan,
    may_abort,
    may_resume,
    may_skip,
)

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
    resources: AppResources, user: User, translate: Translator
) -> tuple[StartForm, list[RecentSession]]:
    """The start form's choices and the workshop's recent sessions (the flow search's)."""
    found = await search_flows(resources, user, type=PROGRAMMING_SESSION_WORKFLOW, page_size=20)
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
            for station in await stations_with_status(resources, user)
        ],
        packages=[_package_option(translate, p) for p in await package_summaries(resources)],
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


class LiveEcu(EcuOutcomeView):
    """An ECU's progress (`bytes_confirmed`, `percent`) with its texts."""

    status_label: str
    done_text: str


class LaneView(BaseModel):
    """One lane of the plan: its ECUs in order, and whether it runs alone."""

    ecus: list[str]
    alone: bool
    label: str


class PlanView(BaseModel):
    """The session's plan as the page shows it, before (and while) the flash runs."""

    lanes: list[LaneView]
    parallel_text: str
    estimate_text: str


def plan_view(plan: ProgrammingPlan, translate: Translator) -> PlanView:
    """The plan's lanes, whether they run in parallel (and how many at once) and its
    estimate, in the page's language."""
    lanes = [
        LaneView(
            ecus=lane.ecus,
            alone=lane.alone,
            label=(
                translate._("Lane %(number)s, alone", number=number)
                if lane.alone
                else translate._("Lane %(number)s", number=number)
            ),
        )
        for number, lane in enumerate(plan.lanes, start=1)
    ]
    parallel_text = (
        translate._("Lanes in parallel, at most %(limit)s at once", limit=plan.max_parallel)
        if plan.parallel
        else translate._("One ECU after another")
    )
    return PlanView(
        lanes=lanes,
        parallel_text=parallel_text,
        estimate_text=_duration(translate, timedelta(seconds=round(plan.estimated_seconds))),
    )


class LiveSession(ProgressView):
    """One moment of a session as the live page shows it (the body of each SSE event): the
    progress the API serves, with its texts in the page's language and the actions it takes."""

    ecus: list[LiveEcu]  # type: ignore[assignment]
    state_label: str
    final: bool
    bytes_text: str
    throughput_text: str
    eta_text: str
    remaining_text: str
    actions: SteeringActions
    plan_view: PlanView | None = None


def _bytes(translate: Translator, count: int) -> str:
    return translate._("%(kib)s KiB", kib=translate.number(round(count / 1024, 1)))


def _done_of(translate: Translator, done: int, total: int) -> str:
    return translate._(
        "%(done)s of %(total)s", done=_bytes(translate, done), total=_bytes(translate, total)
    )


def _duration(translate: Translator, duration: timedelta | None) -> str:
    return translate.duration(duration) if duration is not None else UNKNOWN


def live_view(progress: ProgressView, translate: Translator) -> LiveSession:
    """The progress with the live page's texts."""
    throughput = progress.throughput_bytes_per_second
    ecus = [
        LiveEcu(
            **ecu.model_dump(exclude={"overrun_seconds", "percent"}),
            overrun=ecu.overrun,
            status_label=translate._(ECU_STATUS_LABELS.get(ecu.status, ecu.status)),
            done_text=_done_of(translate, ecu.bytes_confirmed, ecu.bytes_total),
        )
        for ecu in progress.ecus
    ]
    return LiveSession(
        **progress.model_dump(
            exclude={"ecus", "bytes_confirmed", "percent", "eta_seconds", "remaining_seconds"}
        ),
        eta=progress.eta,
        remaining_coverage=progress.remaining_coverage,
        ecus=ecus,
        state_label=translate._(STATE_LABELS.get(progress.state, progress.state)),
        final=progress.state in FINAL_STATES,
        bytes_text=_done_of(translate, progress.bytes_confirmed, progress.bytes_total),
        throughput_text=(
            translate._("%(kib)s KiB/s", kib=translate.number(round(throughput / 1024, 1)))
            if throughput
            else UNKNOWN
        ),
        eta_text=_duration(translate, progress.eta),
        remaining_text=_duration(translate, progress.remaining_coverage),
        actions=steering_actions(progress),
        plan_view=plan_view(progress.plan, translate) if progress.plan else None,
    )


async def live_session(
    resources: AppResources, user: User, session_id: str, translate: Translator
) -> LiveSession:
    """The session's progress now (`session_progress`: the running segment's confirmed bytes
    counted in, the workflow asked only when its history has grown) with its texts; a session
    of another workshop is `not-found` like an unknown one."""
    return live_view(await session_progress(resources, user, session_id), translate)


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
