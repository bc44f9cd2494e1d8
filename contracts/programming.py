"""ECU programming: the ProgrammingSessionWorkflow, its steps on the station and the package check.

The session runs on the portal worker; its hardware steps run on the station worker of the
station the session started at (queue `station-<id>`), the package check on the portal worker.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.flash_package import SoftwareUnit
from domain.programming import EcuStatus, ProgrammingState

PROGRAMMING_SESSION_WORKFLOW = "ProgrammingSessionWorkflow"


def programming_workflow_id(session_id: str) -> str:
    return f"programming-{session_id}"


class ProgrammingUpdate(StrEnum):
    RESUME = "resume"
    SKIP_ECU = "skip_ecu"
    ABORT = "abort"


PROGRESS_QUERY = "progress"


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


# --- the package check (portal worker) --------------------------------------------------------


class PackageActivity(StrEnum):
    READ_VERIFIED_MANIFEST = "read_verified_manifest"


class ReadPackageInput(BaseModel):
    package_id: str


# --- the hardware steps (station worker) ------------------------------------------------------


class StationFailure(StrEnum):
    """Failure types of the station's steps that the session decides on (the `type` of their
    ApplicationError; the vehicle errors' codes are `hw.errors` class codes)."""

    VIN_MISMATCH = "VinMismatch"  # another car is connected
    BATTERY_LOW = "battery-low"  # a charger must be connected before the ECU


class ProgrammingStationActivity(StrEnum):
    IDENTIFY_VEHICLE = "identify_vehicle"
    PREPARE_ECU = "prepare_ecu"
    PROGRAM_SEGMENT = "program_segment"
    FINISH_ECU = "finish_ecu"
    END_SESSION_LINK = "end_session_link"


class IdentifyVehicleInput(BaseModel):
    session_id: str
    expected_vin: str
    ecus: list[str]


class VehicleIdentity(BaseModel):
    vin: str
    battery_voltage: float
    software: dict[str, list[SoftwareUnit]]


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


class FinishEcuInput(BaseModel):
    session_id: str
    ecu: str
    expected_vin: str


class FinishedEcu(BaseModel):
    ecu: str
    software: list[SoftwareUnit]


class EndSessionInput(BaseModel):
    session_id: str
