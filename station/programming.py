"""Hardware activities of a programming session, run by the station worker wired to the car.

They are blocking (UDS over CAN or DoIP) and run in the worker's thread pool. An ECU is one
activity (`program_ecu`; sessions recorded before: one per segment) that heartbeats its step,
segment and last confirmed block; a retry after a crash or a dropped link resumes from the last
heartbeat instead of starting over, and looks before it erases (the heartbeat may be up to an
interval behind). Vehicle errors keep their type: transient ones are retried by Temporal,
fatal ones fail the activity without retries; either names the ECU and the step.

This module holds the activities the station worker registers; one attempt of `program_ecu`
is an `EcuRun` (station.ecu_run), one of the per-segment activity a `SegmentRun`
(station.segment_run).
"""

from __future__ import annotations

import contextlib
import logging
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from contracts import programming as contract
from contracts.programming import (
    EcuResult,
    EndSessionInput,
    FinishEcuInput,
    FinishedEcu,
    IdentifyVehicleInput,
    PrepareEcuInput,
    ProgramEcuInput,
    ProgrammingPhase,
    ProgramSegmentInput,
    SegmentResult,
    StationFailure,
    VehicleIdentity,
)
from contracts.stubs import implements
from domain.programming import (
    MINIMUM_VOLTAGE,
    DownloadProgress,
    EcuProgress,
    EcuStep,
    Reach,
    voltage_ok,
)
from hw.flash_files import FlashPackage
from hw.flash_sequence import ensure_programming, finish_ecu, prepare_ecu
from hw.protocol import Fingerprint
from hw.station_link import StationLink
from hw.vehicle_url import parse_vehicle_url
from station.ecu_run import EcuRun
from station.heartbeats import heartbeat_while_running
from station.packages import VerifiedPackages
from station.portal_files import PortalFiles
from station.segment_run import SegmentRun
from station.session_links import SessionLinks
from station.vehicle_errors import vehicle_errors_typed

log = logging.getLogger(__name__)


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
        # The simulated car (sim://) runs over a virtual CAN bus.
        doip = parse_vehicle_url(vehicle_url).scheme == "doip"
        self.reach = Reach.DOIP if doip else Reach.CAN

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
                vin=vin,
                battery_voltage=link.read_battery_voltage(),
                software=software,
                reach=self.reach,
                timing={ecu: link.read_programming_timing(ecu) for ecu in request.ecus},
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
        prepare_ecu(link, package, self._fingerprint(workshop_id))
        return volts

    def _fingerprint(self, workshop_id: str) -> Fingerprint:
        return Fingerprint(
            programming_date=datetime.now(UTC).date(),
            workshop_id=zlib.crc32(workshop_id.encode()),
            station_id=self.station_id[:9],
        )

    @implements(contract.program_segment)
    def program_segment(self, request: ProgramSegmentInput) -> SegmentResult:
        """Erase (fresh start only), download and check one segment; resumable. The ECU's first
        segment prepares the ECU first, its last one finishes it afterwards (`prepare`,
        `finish`): a retry re-runs what the crash interrupted, and a failure names its step."""
        run = SegmentRun(
            request, self._package(request.package_id), activity.info().heartbeat_details
        )
        software_after = None
        with (
            heartbeat_while_running(run.heartbeat_details),
            self._link(request.session_id, run.confirmed, EcuStep.SEGMENT) as link,
        ):
            link.verify_vin(request.expected_vin)
            # A retry on a new link (the station was killed) writes the fingerprint again: the
            # car asks for one in each programming session before it erases or downloads.
            if request.prepare or not link.wrote_fingerprint(request.ecu):
                with vehicle_errors_typed(run.confirmed, EcuStep.PREPARE):
                    self._prepare(
                        link, request.package_id, request.ecu, request.workshop_id, run.confirmed
                    )
            # Session and unlock first, outside the re-erase fallback of the download: a refused
            # key must fail here, not be tried once more (each try costs one of the ECU's
            # attempts).
            ensure_programming(link, request.ecu)
            run.download_and_check(link)
            if request.finish:
                run.mark_checked()
                with vehicle_errors_typed(run.confirmed, EcuStep.FINISH, segment_checked=True):
                    finish_ecu(link, request.ecu)
                    software_after = link.read_software_list(request.ecu)
        return run.result(software_after)

    @implements(contract.program_ecu)
    def program_ecu(self, request: ProgramEcuInput) -> EcuResult:
        """One ECU, whole: prepare (voltage, hardware, session, unlock, fingerprint), per
        segment erase, download and check memory, then dependencies, reset and read-back.

        Heartbeats its `EcuProgress`: at once when a step starts or ends (the erase, a checked
        segment), every `HEARTBEAT_EVERY` while blocks move. A retry continues from the last
        heartbeat that reached the server, a technician's resume from `resume_from`: a checked
        segment is not sent again, a segment in progress continues at its next block without
        a new erase. Out of purchased time, it returns at a segment boundary (`stopped_at`)."""
        info = activity.info()
        details = info.heartbeat_details
        start = EcuProgress.model_validate(details[0]) if details else request.resume_from
        # What an earlier attempt did may be ahead of its last heartbeat (a kill within a
        # heartbeat interval), or of the failure a technician resumes from: look before
        # erasing (see `EcuRun.segment`). A stop for time is exact.
        resuming = info.attempt > 1 or (start is not None and not start.stopped_for_time)
        run = EcuRun(
            request,
            self._package(request.package_id),
            EcuProgress(ecu=request.ecu, step=EcuStep.PREPARE)
            if start is None
            else start.model_copy(update={"stopped_for_time": False}),
            # The server's clock says how long is left; this worker's clock counts it down.
            left=None if request.time_limit is None else request.time_limit - info.started_time,
            resuming=resuming,
        )
        with (
            heartbeat_while_running(lambda: [run.progress.model_dump(mode="json")]),
            run.errors_typed(),
            self.links.use(request.session_id, request.ecu) as link,
        ):
            link.verify_vin(request.expected_vin)
            if not run.progress.prepared and not run.segment_fits(0):
                return run.result(stopped=True)  # nothing touched: wait for time first
            with run.phase(ProgrammingPhase.PREPARE):
                if not run.progress.prepared:
                    run.step(EcuStep.PREPARE)
                    self._prepare(link, request.package_id, request.ecu, request.workshop_id)
                    run.step(EcuStep.PREPARE, prepared=True)
                elif not link.wrote_fingerprint(request.ecu):
                    # A retry on a new link (the station was killed, or the technician
                    # resumed): the car asks for the fingerprint again in each programming
                    # session before it erases or downloads. A refusal here fails with the
                    # ECU's progress (the errors are typed by `run`), so the next attempt still
                    # continues at its block.
                    ensure_programming(link, request.ecu)
                    link.write_fingerprint(request.ecu, self._fingerprint(request.workshop_id))
                ensure_programming(link, request.ecu)
            for index in range(run.progress.segment_index, len(run.segments)):
                started = run.progress.erased or run.progress.download is not None
                if not started and not run.segment_fits(index):
                    return run.result(stopped=True)
                run.segment(link, index)
            run.step(EcuStep.FINISH)
            finish_ecu(link, request.ecu, timed=lambda step: run.phase(ProgrammingPhase(step)))
            with run.phase(ProgrammingPhase.READ_BACK):
                software_after = link.read_software_list(request.ecu)
            return run.result(software_after=software_after)

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
