"""ECU programming sessions: business states, the plan, and the time budget (pure).

A session never starts an ECU it cannot finish inside the purchased window, and never stops a
transfer midway because the clock ran out: the ECU is finished and the overrun recorded.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from statemachine import State, StateMachine

from domain.errors import Conflict, DomainError, TooLarge
from domain.flash_package import EcuPackage, FlashPackageManifest, ProcessClass, SoftwareUnit
from domain.programming_timing import KIB, ProgrammingTiming, estimate_programming_seconds

MINIMUM_VOLTAGE = 12.0  # below it a flash may brown out the ECU: pause for a charger
# Before the first ECU there is no measured throughput on this link; assume a cautious one.
DEFAULT_THROUGHPUT_BYTES_PER_SECOND = 20_000.0
# Session change, unlock, fingerprint, erase, check memory, dependencies, reset, read-back.
FIXED_STEPS_PER_ECU = timedelta(seconds=20)
# Erase and check memory of one segment, before one was measured on this ECU.
FIXED_STEPS_PER_SEGMENT = timedelta(seconds=2)
SAFETY_MARGIN = 1.2  # an ECU starts only if the remaining window holds 120 % of its estimate
WAIT_FOR_TIME_DEADLINE = timedelta(hours=24)


class ProgrammingMachine(StateMachine):
    """The business states of one programming session."""

    checking_access = State(initial=True)
    identifying = State()
    planning = State()
    programming = State()
    waiting_for_time = State()
    needs_technician = State()
    completed = State(final=True)
    aborted = State(final=True)
    refused = State(final=True)

    access_granted = checking_access.to(identifying)
    identified = identifying.to(planning)
    planned = planning.to(programming)
    out_of_time = programming.to(waiting_for_time)
    time_bought = waiting_for_time.to(programming)
    # From waiting_for_time too: with ECUs in parallel lanes one lane may fail while another
    # waits for time.
    fault = (
        programming.to(needs_technician)
        | identifying.to(needs_technician)
        | waiting_for_time.to(needs_technician)
    )
    resumed = needs_technician.to(identifying)
    finish = programming.to(completed) | planning.to(completed)
    abort = (
        needs_technician.to(aborted)
        | waiting_for_time.to(aborted)
        | programming.to(aborted)
        | planning.to(aborted)
    )
    refuse = checking_access.to(refused) | identifying.to(refused) | planning.to(refused)


ProgrammingState = Literal[
    "checking_access",
    "identifying",
    "planning",
    "programming",
    "waiting_for_time",
    "needs_technician",
    "completed",
    "aborted",
    "refused",
]


class EcuStatus(StrEnum):
    """Where one ECU of a session stands."""

    PENDING = "pending"
    PROGRAMMING = "programming"
    DONE = "done"
    SKIPPED = "skipped"
    ALREADY_AT_TARGET = "already_at_target"


class EcuStep(StrEnum):
    """The station steps of one ECU: prepare, then per segment erase, download and check
    memory, then finish (dependencies, reset, read-back). A failure names its step."""

    PREPARE = "prepare"
    SEGMENT = "segment"  # a segment's activity (sessions before `one-activity-per-ecu`)
    ERASE = "erase"
    DOWNLOAD = "download"
    CHECK = "check"
    FINISH = "finish"


class DownloadProgress(BaseModel):
    """How far a segment's download got: reported after every block the ECU confirmed, sent
    as the activity's heartbeat, and what a retry or a technician's resume continues from."""

    model_config = ConfigDict(frozen=True)

    next_block_index: int
    block_size: int
    bytes_confirmed: int
    total_bytes: int


class EcuProgress(BaseModel):
    """How far one ECU's activity got: its heartbeat, and what a retry (or a technician's
    resume) continues from. Segments before `segment_index` are in the ECU and checked;
    segment `segment_index` is `erased` (this activity erased it) and `download` says up to
    which block the ECU confirmed it. `segment_index` equal to the segment count: only the
    finish (dependencies, reset, read-back) is left."""

    model_config = ConfigDict(frozen=True)

    ecu: str
    step: EcuStep
    segment_index: int = 0
    prepared: bool = False
    erased: bool = False
    download: DownloadProgress | None = None
    # Bytes of this ECU the ECU has confirmed: checked segments plus the running download.
    bytes_confirmed: int = 0
    # Where the activity stopped for time, itself: exact, nothing past it was done.
    stopped_for_time: bool = False


class EcuPlan(BaseModel):
    ecu: str
    target_units: list[SoftwareUnit]
    total_bytes: int
    segment_count: int
    segment_lengths: list[int] = []  # bytes per segment, in order (for the ECU's own figures)


class Plan(BaseModel):
    to_program: list[EcuPlan]
    already_at_target: list[str]


class PackageNotForThisCar(DomainError):
    code = "package-not-for-this-car"
    title = "The package does not fit this car"


class NotAtSafePoint(Conflict):
    code = "not-at-safe-point"
    title = "The session cannot do that now"


class ProgrammingSessionEnded(Conflict):
    """Resume, skip or abort after the session ended; the problem names its final `state`."""

    code = "programming-session-ended"
    title = "The programming session has ended"


# --- what a technician may do with a session now (the workflow's update validators and every
# screen that offers the actions ask these, so a button is enabled exactly when it would work)

# The machine's final states: a session in one of them has ended and takes no more steps.
FINAL_STATES: frozenset[str] = frozenset(
    str(state.value) for state in ProgrammingMachine.states if state.final
)
# Safe points: no transfer runs, so stopping leaves no ECU half-programmed.
ABORTABLE_STATES: frozenset[str] = frozenset({"needs_technician", "waiting_for_time", "planning"})


def may_resume(state: str) -> bool:
    """A session continues only from where it waits for the technician."""
    return state == "needs_technician"


def may_abort(state: str) -> bool:
    return state in ABORTABLE_STATES


def may_skip(state: str, ecu_status: str | None) -> bool:
    """An ECU can be left out while the session runs and the ECU has not started."""
    return state not in FINAL_STATES and ecu_status == EcuStatus.PENDING


class Reach(StrEnum):
    """How the station reaches the car's ECUs (from the vehicle URL it is wired to)."""

    DOIP = "doip"  # each ECU its own lane: DoIP ECUs are programmed in parallel
    CAN = "can"  # ECUs on one CAN bus share a lane: one after another


class Lane(BaseModel):
    """ECUs programmed one after another; `alone`: nothing else runs meanwhile."""

    ecus: list[str]
    alone: bool = False


class ProgrammingPlan(BaseModel):
    """The session's plan, like a TAL: per ECU its ordered actions, the lanes the ECUs run
    in, whether lanes run in parallel and how many at once, and how long it should take."""

    parallel: bool
    max_parallel: int
    lanes: list[Lane]
    actions: dict[str, list[str]]
    estimated_seconds: float
    estimated_ecu_seconds: dict[str, float] = Field(
        default={}, description="Each ECU's estimate (seconds) the plan's estimate adds up."
    )
    timing_from_ecu: list[str] = Field(
        default=[],
        description="ECUs whose estimate comes from the timing figures they report "
        "(erase, write, check, reset); the others' from the throughput measured so far.",
    )


def ecu_actions(plan: EcuPlan) -> list[str]:
    """What the station does to one ECU, in order (one heartbeating activity for all)."""
    actions = [str(EcuStep.PREPARE)]
    for index in range(plan.segment_count):
        actions += [f"{EcuStep.ERASE} {index}", f"{EcuStep.DOWNLOAD} {index}"]
        actions.append(f"{EcuStep.CHECK} {index}")
    return [*actions, str(EcuStep.FINISH)]


def coding_only(plan: EcuPlan) -> bool:
    """An ECU that only gets coding data: like a backup, that step runs alone."""
    return bool(plan.target_units) and all(
        unit.process_class == ProcessClass.CAFD for unit in plan.target_units
    )


def plan_lanes(
    ecus: list[EcuPlan],
    reach: Reach,
    *,
    parallel: bool,
    max_parallel: int,
    throughput_bytes_per_second: float,
    timing: Mapping[str, ProgrammingTiming | None] | None = None,
) -> ProgrammingPlan:
    """Lanes for the ECUs to program: over DoIP each ECU is a lane (up to `max_parallel` at
    once), on a CAN bus all share one lane; a coding-only ECU runs alone, after the others;
    without `parallel` every ECU runs in one lane. Estimated: lanes scheduled greedily on
    `max_parallel` slots, in order, each ECU as `estimate_ecu_seconds` says (from the timing
    figures it reported in `timing`, where it did)."""
    timing = timing or {}
    shared = [plan for plan in ecus if not coding_only(plan)]
    alone = [plan for plan in ecus if coding_only(plan)]
    if not parallel:
        lanes = [Lane(ecus=[plan.ecu for plan in ecus])] if ecus else []
    else:
        if reach is Reach.DOIP:
            lanes = [Lane(ecus=[plan.ecu]) for plan in shared]
        else:
            lanes = [Lane(ecus=[plan.ecu for plan in shared])] if shared else []
        lanes += [Lane(ecus=[plan.ecu], alone=True) for plan in alone]
    slots = max(1, max_parallel if parallel else 1)
    seconds = {
        plan.ecu: estimate_ecu_seconds(plan, timing.get(plan.ecu), throughput_bytes_per_second)
        for plan in ecus
    }
    together = [sum(seconds[ecu] for ecu in lane.ecus) for lane in lanes if not lane.alone]
    ends = [0.0] * min(slots, len(together))
    for duration in together:  # each lane starts when the first slot frees up
        heapq.heapreplace(ends, ends[0] + duration)
    estimated = max(ends, default=0.0)
    estimated += sum(seconds[lane.ecus[0]] for lane in lanes if lane.alone)
    return ProgrammingPlan(
        parallel=parallel,
        max_parallel=slots,
        lanes=lanes,
        actions={plan.ecu: ecu_actions(plan) for plan in ecus},
        estimated_seconds=estimated,
        estimated_ecu_seconds=seconds,
        timing_from_ecu=[plan.ecu for plan in ecus if _uses_figures(plan, timing.get(plan.ecu))],
    )


def estimate_ecu_seconds(
    plan: EcuPlan, timing: ProgrammingTiming | None, throughput_bytes_per_second: float
) -> float:
    """Seconds to program one ECU. With the ECU's own figures: every segment erased, written
    and checked, one reset (`estimate_programming_seconds`), plus the transfer at the
    throughput measured so far (before any: `DEFAULT_THROUGHPUT_BYTES_PER_SECOND`). Without
    them (or a plan without segment sizes): `estimate_ecu_duration`."""
    if not _uses_figures(plan, timing):
        return estimate_ecu_duration(plan.total_bytes, throughput_bytes_per_second).total_seconds()
    assert timing is not None
    return estimate_programming_seconds(
        timing,
        plan.segment_lengths,
        transfer_bytes_per_second=max(throughput_bytes_per_second, 1.0),
    )


def _uses_figures(plan: EcuPlan, timing: ProgrammingTiming | None) -> bool:
    return timing is not None and bool(plan.segment_lengths)


def plan_programming(
    manifest: FlashPackageManifest, installed: dict[str, list[SoftwareUnit]]
) -> Plan:
    """Which ECUs need which units; an ECU whose units all match the package is skipped."""
    to_program: list[EcuPlan] = []
    already: list[str] = []
    for package in manifest.ecus:
        if package.ecu not in installed:
            raise PackageNotForThisCar(
                f"the car has no ECU {package.ecu}", field="package_id", ecu=package.ecu
            )
        if _at_target(package, installed[package.ecu]):
            already.append(package.ecu)
            continue
        to_program.append(
            EcuPlan(
                ecu=package.ecu,
                target_units=list(package.software_units),
                total_bytes=package.total_bytes,
                segment_count=len(package.segments),
                segment_lengths=[segment.length for segment in package.segments],
            )
        )
    return Plan(to_program=to_program, already_at_target=already)


def _at_target(package: EcuPackage, installed: list[SoftwareUnit]) -> bool:
    return {str(u) for u in package.software_units} <= {str(u) for u in installed}


def measured_throughput(transferred_bytes: int, transfer_seconds: float) -> float:
    """Bytes per second the link has carried so far; before any transfer, a cautious guess."""
    if transfer_seconds <= 0:
        return DEFAULT_THROUGHPUT_BYTES_PER_SECOND
    return transferred_bytes / transfer_seconds


def estimate_ecu_duration(total_bytes: int, throughput_bytes_per_second: float) -> timedelta:
    """Transfer time at the throughput measured so far on this link, plus the fixed steps."""
    rate = max(throughput_bytes_per_second, 1.0)
    return timedelta(seconds=total_bytes / rate) + FIXED_STEPS_PER_ECU


def may_start_ecu(estimate: timedelta, remaining: timedelta) -> bool:
    return remaining >= estimate * SAFETY_MARGIN


def estimate_segment_duration(
    segment_bytes: int,
    transfer_bytes_per_second: float,
    steps_per_segment: timedelta,
    timing: ProgrammingTiming | None = None,
) -> timedelta:
    """A segment's transfer at the throughput measured so far, plus its erase and check: as
    long as they took on this ECU so far (before any: `FIXED_STEPS_PER_SEGMENT`), or, when the
    ECU reports its timing figures, its erase for this segment's size and its check, whichever
    is longer. An erase grows with the segment, so a small segment's erase says little about a
    large one's, and the figures hold before the first segment too."""
    rate = max(transfer_bytes_per_second, 1.0)
    steps = steps_per_segment
    if timing is not None:
        erase_and_check_ms = segment_bytes / KIB * timing.erase_ms_per_kib + timing.check_ms
        steps = max(steps, timedelta(milliseconds=erase_and_check_ms))
    return timedelta(seconds=segment_bytes / rate) + steps


def may_start_segment(estimate: timedelta, left: timedelta) -> bool:
    """Never start what cannot finish, per segment: the time left before the purchased window
    ends holds the segment's estimate with the margin. A segment started is finished."""
    return left >= estimate * SAFETY_MARGIN


def voltage_ok(volts: float) -> bool:
    return volts >= MINIMUM_VOLTAGE


class PackageNotFound(DomainError):
    code = "package-not-found"
    title = "Unknown flash package"
    kind = "not_found"


class PackageInvalid(DomainError):
    code = "package-invalid"
    title = "The flash package failed verification"


class PackageExists(DomainError):
    code = "package-exists"
    title = "A different package with this id exists"
    kind = "conflict"


class PackageTooLarge(TooLarge):
    code = "package-too-large"
    title = "The package upload is larger than the portal accepts"


class PackageUnpacksTooLarge(TooLarge):
    code = "package-unpacks-too-large"
    title = "The package's files hold more bytes than the portal accepts"


class PackageHasTooManyFiles(TooLarge):
    code = "package-has-too-many-files"
    title = "The package archive holds more entries than the portal accepts"


class TraceTooLarge(TooLarge):
    code = "trace-too-large"
    title = "The session's frame log would be larger than the portal accepts"


class TraceHasTooManyFiles(Conflict):
    code = "trace-has-too-many-files"
    title = "The session already has as many frame log files as the portal accepts"


class TraceUploadInProgress(Conflict):
    code = "trace-upload-in-progress"
    title = "Another frame log file of this session is being handed in"
