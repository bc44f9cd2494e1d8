"""ECU programming sessions: business states, the plan, and the time budget (pure).

A session never starts an ECU it cannot finish inside the purchased window, and never stops a
transfer midway because the clock ran out: the ECU is finished and the overrun recorded.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict
from statemachine import State, StateMachine

from domain.errors import Conflict, DomainError, TooLarge
from domain.flash_package import EcuPackage, FlashPackageManifest, SoftwareUnit

MINIMUM_VOLTAGE = 12.0  # below it a flash may brown out the ECU: pause for a charger
# Before the first ECU there is no measured throughput on this link; assume a cautious one.
DEFAULT_THROUGHPUT_BYTES_PER_SECOND = 20_000.0
# Session change, unlock, fingerprint, erase, check memory, dependencies, reset, read-back.
FIXED_STEPS_PER_ECU = timedelta(seconds=20)
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
    fault = programming.to(needs_technician) | identifying.to(needs_technician)
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
    """The station steps of one ECU: prepare, then one download per segment, then finish."""

    PREPARE = "prepare"
    SEGMENT = "segment"
    FINISH = "finish"


class DownloadProgress(BaseModel):
    """How far a segment's download got: reported after every block the ECU confirmed, sent
    as the activity's heartbeat, and what a retry or a technician's resume continues from."""

    model_config = ConfigDict(frozen=True)

    next_block_index: int
    block_size: int
    bytes_confirmed: int
    total_bytes: int


class EcuPlan(BaseModel):
    ecu: str
    target_units: list[SoftwareUnit]
    total_bytes: int
    segment_count: int


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
