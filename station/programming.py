"""Hardware activities of a programming session, run by the station worker wired to the car.

They are blocking (UDS over CAN or DoIP) and run in the worker's thread pool. Segment downloads
heartbeat the last confirmed block several times a second; a retry after a crash or a dropped link
resumes from the last heartbeat instead of starting the segment again. Vehicle errors keep their type: transient
ones are retried by Temporal, fatal ones fail the activity without retries.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from contracts import programming as contract
from contracts.programming import (
    SEGMENT_CHECKED,
    EndSessionInput,
    FinishEcuInput,
    FinishedEcu,
    IdentifyVehicleInput,
    PrepareEcuInput,
    ProgramSegmentInput,
    SegmentResult,
    StationFailure,
    VehicleIdentity,
)
from contracts.stubs import implements
from domain.programming import MINIMUM_VOLTAGE, DownloadProgress, EcuStep, voltage_ok
from hw.errors import VehicleLinkError
from hw.flash_files import FlashPackage
from hw.flash_sequence import ensure_programming, finish_ecu, prepare_ecu, program_segment
from hw.protocol import Fingerprint
from hw.station_link import StationLink
from station.packages import VerifiedPackages
from station.portal_files import PortalFiles
from station.session_links import SessionLinks

log = logging.getLogger(__name__)


@contextlib.contextmanager
def vehicle_errors_typed(
    progress: list[DownloadProgress] | None = None,
    step: EcuStep | None = None,
    segment_checked: bool = False,
) -> Iterator[None]:
    """Vehicle errors become ApplicationErrors typed by their code (fatal ones non-retryable),
    naming the step that failed and carrying the last confirmed progress, so a technician's
    resume continues from there."""
    try:
        yield
    except VehicleLinkError as error:
        details: dict[str, object] = {"code": error.code}
        if step is not None:
            details["step"] = step
        if progress:
            details["progress"] = progress[-1].model_dump()
        if segment_checked:  # a resume only has to finish the ECU
            details["segment_checked"] = True
        message = f"{step}: {error}" if step is not None else str(error)
        raise ApplicationError(
            message, details, type=error.code, non_retryable=not error.transient
        ) from error


# How often a download reports its last confirmed block (the first one at once). Well inside
# the station worker's heartbeat throttle (1 s), so the server's copy is at most about a second
# behind, and far less often than blocks move: a heartbeat per block costs a hop to the
# worker's event loop each, which slowed ECUs with small blocks (KOMBI: 512-byte blocks).
HEARTBEAT_EVERY = 0.25


@contextlib.contextmanager
def _heartbeat_while_running(
    confirmed: list[DownloadProgress], marks: list[str], every: float = 1.0
) -> Iterator[None]:
    """Heartbeat the last confirmed progress every second, also while no block moves.

    An erase can take far longer than the heartbeat timeout (the ECU answers
    ResponsePending meanwhile); without this the activity would be declared dead mid-erase.
    """
    stop = threading.Event()
    context = contextvars.copy_context()  # activity.heartbeat needs the activity's context

    def pump() -> None:
        while not stop.wait(every):
            # Also with nothing confirmed yet: an erase must not look like a dead worker.
            activity.heartbeat(*([confirmed[-1].model_dump(), *marks] if confirmed else []))

    thread = threading.Thread(target=context.run, args=(pump,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# In a session's frame-log folder on a station: the portal has the log.
HANDED_IN = ".handed-in"


class ProgrammingStationActivities:
    """The hardware steps, with the station's vehicle link and package store injected."""

    def __init__(
        self,
        station_id: str,
        vehicle_url: str,
        packages_dir: Path,
        traces_dir: Path,
        portal: PortalFiles | None = None,
    ) -> None:
        self.station_id = station_id
        self.vehicle_url = vehicle_url
        self.traces_dir = traces_dir
        self.portal = portal  # None: packages and traces are on a disk shared with the portal
        self.packages = VerifiedPackages(packages_dir, portal)
        self.links = SessionLinks(vehicle_url, traces_dir)

    def _package(self, package_id: str) -> FlashPackage:
        return self.packages.get(package_id)

    @contextlib.contextmanager
    def _link(
        self,
        session_id: str,
        progress: list[DownloadProgress] | None = None,
        step: EcuStep | None = None,
    ) -> Iterator[StationLink]:
        with vehicle_errors_typed(progress, step), self.links.use(session_id) as link:
            yield link

    @implements(contract.identify_vehicle)
    def identify_vehicle(self, request: IdentifyVehicleInput) -> VehicleIdentity:
        """Read the VIN (it must be the session's car), the voltage and each ECU's software.

        A session starts (or resumes) here, so this is where frame logs left behind by earlier
        sessions are handed in first (see `hand_in_left_over_logs`)."""
        self.hand_in_left_over_logs()
        with self._link(request.session_id) as link:
            vin = link.verify_vin(request.expected_vin)  # another car: VinMismatch, fatal
            software = {ecu: link.read_software_list(ecu) for ecu in request.ecus}
            return VehicleIdentity(
                vin=vin, battery_voltage=link.read_battery_voltage(), software=software
            )

    @implements(contract.prepare_ecu)
    def prepare_ecu(self, request: PrepareEcuInput) -> float:
        """Voltage check, hardware check, programming session, security access, fingerprint.

        Sessions since `one-activity-per-segment` prepare in their first segment's activity;
        this one stays for the sessions recorded before."""
        with self._link(request.session_id) as link:
            link.verify_vin(request.expected_vin)
            return self._prepare(link, request.package_id, request.ecu, request.workshop_id)

    def _prepare(
        self,
        link: StationLink,
        package_id: str,
        ecu: str,
        workshop_id: str,
        progress: list[DownloadProgress] | None = None,
    ) -> float:
        package = self._package(package_id).ecu(ecu)
        volts = link.read_battery_voltage()
        if not voltage_ok(volts):
            details: dict[str, object] = {
                "code": StationFailure.BATTERY_LOW,
                "volts": volts,
                "step": EcuStep.PREPARE,
            }
            if progress:  # a resume after charging continues the segment from here
                details["progress"] = progress[-1].model_dump()
            raise ApplicationError(
                f"battery at {volts:.1f} V, below {MINIMUM_VOLTAGE} V: connect a charger",
                details,
                type=StationFailure.BATTERY_LOW,
            )
        fingerprint = Fingerprint(
            programming_date=datetime.now(UTC).date(),
            workshop_id=zlib.crc32(workshop_id.encode()),
            station_id=self.station_id[:9],
        )
        prepare_ecu(link, package, fingerprint)
        return volts

    @implements(contract.program_segment)
    def program_segment(self, request: ProgramSegmentInput) -> SegmentResult:
        """Erase (fresh start only), download and check one segment; resumable. The ECU's first
        segment prepares the ECU first, its last one finishes it afterwards (`prepare`,
        `finish`): a retry re-runs what the crash interrupted, and a failure names its step."""
        package = self._package(request.package_id)
        segment = package.ecu(request.ecu).segments[request.segment_index]
        data = package.segment_data(request.ecu, request.segment_index)
        # Where to start: this download's own last heartbeat (a retry after a crash), else the
        # point a technician's resume continues from, else the beginning.
        confirmed: list[DownloadProgress] = []
        details = activity.info().heartbeat_details
        checked = False  # the segment was downloaded and checked before a retry
        if details:
            confirmed.append(DownloadProgress.model_validate(details[0]))
            checked = len(details) > 1 and details[1] == SEGMENT_CHECKED
        elif request.start_block_index and request.block_size:
            confirmed.append(
                DownloadProgress(
                    next_block_index=request.start_block_index,
                    block_size=request.block_size,
                    bytes_confirmed=request.start_block_index * request.block_size,
                    total_bytes=len(data),
                )
            )
        checked = checked or request.segment_checked
        start = confirmed[-1].next_block_index if confirmed else 0
        block_size = confirmed[-1].block_size if confirmed else None

        last_heartbeat = [0.0]

        def heartbeat(progress: DownloadProgress) -> None:
            confirmed[:] = [progress]
            now = time.monotonic()
            if now - last_heartbeat[0] >= HEARTBEAT_EVERY:
                last_heartbeat[0] = now
                activity.heartbeat(progress.model_dump())

        began = time.monotonic()
        step = f"{request.ecu} segment {request.segment_index}"
        software_after = None
        marks: list[str] = []
        with (
            _heartbeat_while_running(confirmed, marks),
            self._link(request.session_id, confirmed, EcuStep.SEGMENT) as link,
        ):
            link.verify_vin(request.expected_vin)
            if request.prepare:
                with vehicle_errors_typed(confirmed, EcuStep.PREPARE):
                    self._prepare(
                        link, request.package_id, request.ecu, request.workshop_id, confirmed
                    )
            # Session and unlock first, outside the re-erase fallback below: a refused key must
            # fail here, not be tried once more (each try costs one of the ECU's attempts).
            ensure_programming(link, request.ecu)
            if not checked:
                try:
                    result = program_segment(
                        link,
                        request.ecu,
                        segment,
                        data,
                        start_block_index=start,
                        block_size=block_size,
                        on_progress=heartbeat,
                    )
                except VehicleLinkError as error:
                    if start == 0 or error.transient:
                        raise
                    # The ECU no longer holds the partial segment (reset, power loss): erase
                    # and write the segment again rather than leave it half-programmed.
                    activity.logger.warning("resume of %s refused (%s); re-erasing", step, error)
                    start = 0
                    confirmed.clear()
                    result = program_segment(
                        link, request.ecu, segment, data, start_block_index=0, on_progress=heartbeat
                    )
                sent = result.bytes_sent
            else:
                sent = 0
            if request.finish:
                marks.append(SEGMENT_CHECKED)  # a retry from here on only finishes the ECU
                if confirmed:
                    activity.heartbeat(confirmed[-1].model_dump(), *marks)
                with vehicle_errors_typed(confirmed, EcuStep.FINISH, segment_checked=True):
                    finish_ecu(link, request.ecu)
                    software_after = link.read_software_list(request.ecu)
        return SegmentResult(
            ecu=request.ecu,
            segment_index=request.segment_index,
            total_bytes=len(data),
            bytes_sent=sent,
            resumed_from_block=start,
            seconds=time.monotonic() - began,
            software_after=software_after,
        )

    @implements(contract.finish_ecu)
    def finish_ecu(self, request: FinishEcuInput) -> FinishedEcu:
        """Dependency check, reset, and the software list read back after the reset (for the
        sessions recorded before `one-activity-per-segment`; newer ones finish in their last
        segment's activity)."""
        with self._link(request.session_id) as link:
            link.verify_vin(request.expected_vin)
            finish_ecu(link, request.ecu)
            return FinishedEcu(ecu=request.ecu, software=link.read_software_list(request.ecu))

    @implements(contract.end_session_link)
    def end_session_link(self, request: EndSessionInput) -> None:
        """Close the session's link, which completes its frame log, and hand the log in to the
        portal when the station is on another machine."""
        self.links.close(request.session_id)
        if self.portal is not None:
            folder = self.traces_dir / request.session_id
            self.portal.hand_in_traces(request.session_id, folder)
            if folder.is_dir():
                (folder / HANDED_IN).touch()

    def hand_in_left_over_logs(self) -> None:
        """Hand in the frame logs of sessions that ended without this station: the link was
        closed by the idle timer or the worker stopped, and `end_session_link` never ran here.
        A refusal or an unreachable portal is logged and tried again at the next session."""
        if self.portal is None or not self.traces_dir.is_dir():
            return
        for folder in sorted(self.traces_dir.iterdir()):
            session_id = folder.name
            if (
                not folder.is_dir()
                or (folder / HANDED_IN).exists()
                or self.links.is_open(session_id)
            ):
                continue
            try:
                self.portal.hand_in_traces(session_id, folder)
            except ApplicationError as error:
                log.warning("frame log of %s not handed in: %s", session_id, error)
                continue
            (folder / HANDED_IN).touch()
