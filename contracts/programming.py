"""ECU programming: the ProgrammingSessionWorkflow, its steps on the station and the package check.

The session runs on the portal worker; its hardware steps run on the station worker of the
station the session started at (queue `station-<id>`), the package check on the portal worker.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field
from temporalio import activity

from domain.flash_package import FlashPackageManifest, SoftwareUnit
from domain.programming import (
    EcuProgress,
    EcuStatus,
    ProgrammingPlan,
    ProgrammingState,
    Reach,
)
from domain.programming_timing import ProgrammingTiming

PROGRAMMING_SESSION_WORKFLOW = "ProgrammingSessionWorkflow"


def programming_workflow_id(session_id: str) -> str:
    return f"programming-{session_id}"


class ProgrammingUpdate(StrEnum):
    RESUME = "resume"
    SKIP_ECU = "skip_ecu"
    ABORT = "abort"


PROGRESS_QUERY = "progress"

# The revision of the session's workflow code a session is started under (in its input, so its
# history holds it). Revision 1: one activity per ECU in the plan's lanes, the portal's checks
# as local activities, the search attributes set by whoever starts it, and no patch markers in
# the history. Sessions started before the field existed (revision 0) decide each change by the
# `workflow.patched` marker their history holds or lacks, as they were recorded.
CURRENT_SESSION_REVISION = 1


class HardwareRetry(BaseModel):
    """How often a transient vehicle fault (a timeout, a disconnect, a busy ECU) is retried on
    the station before the technician is asked: `attempts` tries, waiting `initial_seconds`
    and then twice as long each time, at most `maximum_seconds`. Set from the API's settings
    (`AOS_HARDWARE_RETRY_*`) when a session starts, so the session's history holds it."""

    initial_seconds: float = Field(default=1.0, gt=0)
    maximum_seconds: float = Field(default=10.0, gt=0)
    attempts: int = Field(default=8, ge=1)


class ProgrammingSessionInput(BaseModel):
    session_id: str
    workshop_id: str
    station_id: str
    station_task_queue: str
    vin: str
    package_id: str
    technician_id: str
    # Sessions started before this field existed replay with the default (the same policy).
    hardware_retry: HardwareRetry = HardwareRetry()
    # The Vin search attribute's value (contracts.search_attributes), computed by the API: the
    # workflow holds no key. Sessions started before this field existed replay without it.
    vin_search: str | None = None
    # The plan's lanes run at the same time, at most `max_parallel_ecus` of them (sessions
    # started before these fields existed replay with the defaults; they had no lanes).
    parallel: bool = True
    max_parallel_ecus: int = Field(default=4, ge=1, le=16)
    # See CURRENT_SESSION_REVISION; 0 for sessions started before this field existed.
    revision: int = Field(default=0, ge=0, le=CURRENT_SESSION_REVISION)


class ResumeInput(BaseModel):
    note: str = Field(default="", max_length=500)


class SkipEcuInput(BaseModel):
    ecu: str


class AbortInput(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class EcuOutcome(BaseModel):
    ecu: str
    status: EcuStatus
    software_after: list[SoftwareUnit] = []
    bytes_total: int = 0
    bytes_done: int = 0
    seconds: float = 0.0
    overrun: timedelta | None = None


class ProgrammingProgress(BaseModel):
    session_id: str
    state: ProgrammingState
    vin: str
    station_id: str
    current_ecu: str | None
    current_step: str | None
    bytes_done: int
    bytes_total: int
    throughput_bytes_per_second: float | None
    eta: timedelta | None
    remaining_coverage: timedelta | None
    reason: str | None
    ecus: list[EcuOutcome]
    # The lanes, the ECUs' actions and the estimate (sessions since `one-activity-per-ecu`,
    # once the car is identified).
    plan: ProgrammingPlan | None = None


# --- the package check (portal worker) --------------------------------------------------------


class ReadPackageInput(BaseModel):
    package_id: str


@activity.defn(name="read_verified_manifest")
def read_verified_manifest(request: ReadPackageInput) -> FlashPackageManifest:
    """The package's manifest, verified (checksums, targets); a refusal ends the session.
    Reads and hashes files: runs in the portal worker's threads."""
    raise NotImplementedError("runs on the portal worker: activities.packages")


# --- the hardware steps (station worker) ------------------------------------------------------


class StationFailure(StrEnum):
    """Failure types of the station's steps that the session decides on (the `type` of their
    ApplicationError; the vehicle errors' codes are `hw.errors` class codes)."""

    VIN_MISMATCH = "VinMismatch"  # another car is connected
    BATTERY_LOW = "battery-low"  # a charger must be connected before the ECU


class IdentifyVehicleInput(BaseModel):
    session_id: str
    expected_vin: str
    ecus: list[str]


class VehicleIdentity(BaseModel):
    vin: str
    battery_voltage: float
    software: dict[str, list[SoftwareUnit]]
    # How the station reaches the ECUs (its vehicle URL); stations before this field: CAN.
    reach: Reach = Reach.CAN
    # Per ECU the timing figures it reports (None: it reports none); stations and sessions
    # before this field: none, so the plan estimates from the throughput as before.
    timing: dict[str, ProgrammingTiming | None] = {}


class PrepareEcuInput(BaseModel):
    session_id: str
    package_id: str
    ecu: str
    expected_vin: str
    workshop_id: str


class ProgramSegmentInput(BaseModel):
    session_id: str
    package_id: str
    ecu: str
    segment_index: int
    expected_vin: str
    # Where a session resumed by a technician continues (the activity's own retries use the
    # heartbeat instead).
    start_block_index: int = 0
    block_size: int | None = None
    # The ECU's first segment prepares it (voltage, hardware, session, security, fingerprint)
    # and its last one finishes it (dependencies, reset, read-back): one activity per segment,
    # no round trips of their own. Each step names itself when it fails.
    prepare: bool = False
    finish: bool = False
    workshop_id: str = ""
    # A technician's resume after `finish` failed: the segment is in the ECU, checked.
    segment_checked: bool = False


# The second heartbeat detail of a segment that was downloaded and checked: a retry of the
# activity (which also finishes the ECU) finishes without downloading again.
SEGMENT_CHECKED = "segment-checked"


class SegmentResult(BaseModel):
    ecu: str
    segment_index: int
    total_bytes: int
    bytes_sent: int
    resumed_from_block: int
    seconds: float
    software_after: list[SoftwareUnit] | None = None  # read back after `finish`


class ProgramEcuInput(BaseModel):
    """One ECU, whole: prepare, every segment, finish. `resume_from` is where a technician's
    resume or the rest after a wait for time continues (the activity's own retries use its
    heartbeat instead)."""

    session_id: str
    package_id: str
    ecu: str
    expected_vin: str
    workshop_id: str
    resume_from: EcuProgress | None = None
    # End of the purchased window (the server's clock): a segment that cannot finish before
    # it is not started, and the activity returns where it stopped. None: no limit.
    time_limit: datetime | None = None
    # Bytes per second measured on this link so far, for the first segment's estimate.
    throughput_bytes_per_second: float | None = None
    # The ECU's own timing figures, read when the car was identified (None: it reports none):
    # a segment's erase and check are estimated from them (domain.estimate_segment_duration).
    timing: ProgrammingTiming | None = None


class ProgrammingPhase(StrEnum):
    """The timed phases of one `program_ecu` attempt, in their order: prepare (voltage,
    hardware, session, unlock, fingerprint), per segment erase, download and check memory,
    then dependencies, reset and the software read back."""

    PREPARE = "prepare"
    ERASE = "erase"
    DOWNLOAD = "download"
    CHECK = "check"
    DEPENDENCIES = "dependencies"
    RESET = "reset"
    READ_BACK = "read-back"


# A failed attempt of `program_ecu` carries its last phases in its failure's details
# (`phases`, and `phases_left_out` before them), for the report's retries: no more, so that
# the failure stays within the 4 KB the Temporal server keeps as an activity's last failure
# (it replaces a larger one, cause and all); the report reads no more from a station either.
FAILED_ATTEMPT_PHASES_KEPT = 12


class EcuPhase(BaseModel):
    """One phase of a `program_ecu` attempt as the station timed it (its wall clock):
    `segment` is the segment's index for erase, download and check, None for the others."""

    phase: str  # a ProgrammingPhase
    segment: int | None = None
    started_at: datetime
    seconds: float


class EcuResult(BaseModel):
    """What one ECU's activity did: `stopped_at` is set when it stopped for time at a segment
    boundary (not an error): the session waits for time and continues from there."""

    ecu: str
    total_bytes: int
    bytes_sent: int
    seconds: float
    transfer_seconds: float
    software_after: list[SoftwareUnit] | None = None
    stopped_at: EcuProgress | None = None
    # The attempt's phases in order, for the programming report. Results recorded before this
    # field existed replay with none.
    phases: list[EcuPhase] = []


class FinishEcuInput(BaseModel):
    session_id: str
    ecu: str
    expected_vin: str


class FinishedEcu(BaseModel):
    ecu: str
    software: list[SoftwareUnit]


class EndSessionInput(BaseModel):
    session_id: str


# Vehicle I/O blocks: the station's steps are plain functions, run in the station worker's threads.
_STATION = "runs on the station worker: station.programming"


@activity.defn(name="identify_vehicle")
def identify_vehicle(request: IdentifyVehicleInput) -> VehicleIdentity:
    """The VIN (another car: `VinMismatch`), the battery voltage and each ECU's software."""
    raise NotImplementedError(_STATION)


@activity.defn(name="prepare_ecu")
def prepare_ecu(request: PrepareEcuInput) -> float:
    """Voltage, hardware, session, security access, fingerprint; the battery voltage. Only
    sessions recorded before `one-activity-per-segment` call it."""
    raise NotImplementedError(_STATION)


@activity.defn(name="program_segment")
def program_segment(request: ProgramSegmentInput) -> SegmentResult:
    """One segment into the ECU (preparing it first, finishing it last when asked),
    heartbeating the last confirmed block; a retry resumes from there."""
    raise NotImplementedError(_STATION)


@activity.defn(name="program_ecu")
def program_ecu(request: ProgramEcuInput) -> EcuResult:
    """One ECU, whole (prepare, every segment, finish), heartbeating its `EcuProgress`; a
    retry resumes block-exact from there. A failure names its step; out of purchased time
    it returns at a segment boundary."""
    raise NotImplementedError(_STATION)


@activity.defn(name="finish_ecu")
def finish_ecu(request: FinishEcuInput) -> FinishedEcu:
    """Dependencies, reset, software read back. Only sessions recorded before
    `one-activity-per-segment` call it."""
    raise NotImplementedError(_STATION)


@activity.defn(name="end_session_link")
def end_session_link(request: EndSessionInput) -> None:
    """Close the session's link (its frame log is complete) and hand the log in."""
    raise NotImplementedError(_STATION)
