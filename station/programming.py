"""Hardware activities of a programming session, run by the station worker wired to the car.

They are blocking (UDS over CAN or DoIP) and run in the worker's thread pool. An ECU is one
activity (`program_ecu`; sessions recorded before: one per segment) that heartbeats its step,
segment and last confirmed block; a retry after a crash or a dropped link resumes from the last
heartbeat instead of starting over, and looks before it erases (the heartbeat may be up to an
interval behind). Vehicle errors keep their type: transient ones are retried by Temporal,
fatal ones fail the activity without retries; either names the ECU and the step.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from contracts import programming as contract
from contracts.programming import (
    SEGMENT_CHECKED,
    EcuResult,
    EndSessionInput,
    FinishEcuInput,
    FinishedEcu,
    IdentifyVehicleInput,
    PrepareEcuInput,
    ProgramEcuInput,
    ProgramSegmentInput,
    SegmentResult,
    StationFailure,
    VehicleIdentity,
)
from contracts.stubs import implements
from domain.flash_package import SegmentSpec, SoftwareUnit
from domain.programming import (
    DEFAULT_THROUGHPUT_BYTES_PER_SECOND,
    FIXED_STEPS_PER_SEGMENT,
    MINIMUM_VOLTAGE,
    DownloadProgress,
    EcuProgress,
    EcuStep,
    Reach,
    estimate_segment_duration,
    may_start_segment,
    voltage_ok,
)
from hw.errors import VehicleLinkError
from hw.flash_files import FlashPackage
from hw.flash_sequence import ensure_programming, finish_ecu, prepare_ecu, program_segment
from hw.protocol import Fingerprint
from hw.station_link import StationLink
from hw.vehicle_url import parse_vehicle_url
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
    details: Callable[[], list[object]], every: float = 1.0
) -> Iterator[None]:
    """Heartbeat `details()` (the last confirmed progress) every second, also while no block
    moves.

    An erase can take far longer than the heartbeat timeout (the ECU answers
    ResponsePending meanwhile); without this the activity would be declared dead mid-erase.
    """
    stop = threading.Event()
    context = contextvars.copy_context()  # activity.heartbeat needs the activity's context

    def pump() -> None:
        while not stop.wait(every):
            # Also with nothing confirmed yet: an erase must not look like a dead worker.
            activity.heartbeat(*details())

    thread = threading.Thread(target=context.run, args=(pump,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class _EcuRun:
    """One attempt of `program_ecu`: where it stands (`progress`, heartbeated), what it
    measured (for the time check), and the steps that move it on."""

    def __init__(
        self,
        request: ProgramEcuInput,
        package: FlashPackage,
        start: EcuProgress,
        left: timedelta | None,
        resuming: bool,
    ) -> None:
        self.request = request
        self.package = package
        self.segments: list[SegmentSpec] = package.ecu(request.ecu).segments
        self.progress = start
        self.resuming = resuming
        self.began = time.monotonic()
        self.deadline = None if left is None else self.began + left.total_seconds()
        self.bytes_sent = 0
        self.transfer_seconds = 0.0
        self.step_seconds: list[float] = []  # erase and check of each segment done here
        self._last_beat = 0.0

    # --- heartbeats -----------------------------------------------------------------------

    def step(self, step: EcuStep, **changes: object) -> None:
        """A step starts or ends: heartbeat it at once."""
        self.progress = self.progress.model_copy(update={"step": step, **changes})
        self._beat()

    def _block(self, download: DownloadProgress) -> None:
        self.progress = self.progress.model_copy(
            update={
                "download": download,
                "bytes_confirmed": self._checked_bytes() + download.bytes_confirmed,
            }
        )
        if time.monotonic() - self._last_beat >= HEARTBEAT_EVERY:
            self._beat()

    def _beat(self) -> None:
        self._last_beat = time.monotonic()
        activity.heartbeat(self.progress.model_dump(mode="json"))

    def _checked_bytes(self) -> int:
        return sum(s.length for s in self.segments[: self.progress.segment_index])

    # --- time -----------------------------------------------------------------------------

    def segment_fits(self, index: int) -> bool:
        """Whether segment `index` can finish before the purchased window ends."""
        if self.deadline is None or index >= len(self.segments):
            return True
        throughput = (
            self.bytes_sent / self.transfer_seconds
            if self.transfer_seconds > 0
            else self.request.throughput_bytes_per_second or DEFAULT_THROUGHPUT_BYTES_PER_SECOND
        )
        steps = (
            timedelta(seconds=sum(self.step_seconds) / len(self.step_seconds))
            if self.step_seconds
            else FIXED_STEPS_PER_SEGMENT
        )
        estimate = estimate_segment_duration(self.segments[index].length, throughput, steps)
        return may_start_segment(estimate, timedelta(seconds=self.deadline - time.monotonic()))

    # --- the segment ----------------------------------------------------------------------

    def segment(self, link: StationLink, index: int) -> None:
        """Erase, download and check segment `index`, or continue it where it stopped.

        A retry's segment that this attempt did not see start is erased only when the ECU
        refuses the download into it (or its check fails after): a resume may be behind what
        the lost attempt did by up to a heartbeat interval, in which it may have erased the
        segment (the ECU takes the download, acknowledging the blocks it has) or even checked
        it (the ECU refuses; check memory says it is in, and nothing is sent).
        """
        ecu, segment = self.request.ecu, self.segments[index]
        data = self.package.segment_data(ecu, index)
        here = self.progress.segment_index == index
        resume = self.progress.download if here else None
        continuing = here and (self.progress.erased or resume is not None)
        began, transfer_before = time.monotonic(), self.transfer_seconds
        if continuing or self.resuming:
            try:
                self._download(link, index, segment, data, resume)
                self._check_memory(link, segment)
                return self._checked(index, began, transfer_before)
            except VehicleLinkError as error:
                if error.transient:
                    raise
                if self._in_ecu(link, segment):  # the lost attempt got it in
                    return self._checked(index, began, transfer_before)
                # The ECU refused to continue (the memory was not erased, or holds something
                # else): erase and write the segment whole rather than leave it half-written.
                activity.logger.warning("%s segment %d: no resume (%s); erasing", ecu, index, error)
        self._erase(link, index, segment)
        self._download(link, index, segment, data, None)
        self._check_memory(link, segment)
        self._checked(index, began, transfer_before)

    def _check_memory(self, link: StationLink, segment: SegmentSpec) -> None:
        self.step(EcuStep.CHECK)
        link.check_memory(self.request.ecu, segment.address, segment.length, segment.crc32)

    def _erase(self, link: StationLink, index: int, segment: SegmentSpec) -> None:
        self.step(EcuStep.ERASE, segment_index=index, erased=False, download=None)
        link.erase(self.request.ecu, segment.address, segment.length)
        self.resuming = False  # the segments after this one are untouched
        self.step(EcuStep.DOWNLOAD, erased=True)

    def _download(
        self,
        link: StationLink,
        index: int,
        segment: SegmentSpec,
        data: bytes,
        resume: DownloadProgress | None,
    ) -> None:
        self.step(EcuStep.DOWNLOAD, segment_index=index, download=resume)
        began = time.monotonic()
        result = link.download(
            self.request.ecu,
            segment.address,
            data,
            start_block_index=resume.next_block_index if resume else 0,
            block_size=resume.block_size if resume else None,
            on_progress=self._block,
        )
        self.transfer_seconds += time.monotonic() - began
        self.bytes_sent += result.bytes_sent

    def _in_ecu(self, link: StationLink, segment: SegmentSpec) -> bool:
        """Whether check memory finds the segment in the ECU, whole and right."""
        try:
            link.check_memory(self.request.ecu, segment.address, segment.length, segment.crc32)
        except VehicleLinkError as error:
            if error.transient:
                raise
            return False
        return True

    def _checked(self, index: int, began: float, transfer_before: float) -> None:
        transfer = self.transfer_seconds - transfer_before
        self.step_seconds.append(max(0.0, time.monotonic() - began - transfer))
        self.progress = self.progress.model_copy(
            update={"segment_index": index + 1, "erased": False, "download": None}
        )
        self.step(EcuStep.CHECK, bytes_confirmed=self._checked_bytes())

    # --- the outcome ----------------------------------------------------------------------

    @contextlib.contextmanager
    def errors_typed(self) -> Iterator[None]:
        """Vehicle errors become ApplicationErrors typed by their code (fatal ones
        non-retryable) that name the ECU and the step that failed and carry the progress, so
        a technician's resume continues from there."""
        try:
            yield
        except VehicleLinkError as error:
            step = self.progress.step
            details = {
                "code": error.code,
                "ecu": self.request.ecu,
                "step": step,
                "segment": self.progress.segment_index,
                "ecu_progress": self.progress.model_dump(mode="json"),
            }
            raise ApplicationError(
                f"{self.request.ecu} {step}: {error}",
                details,
                type=error.code,
                non_retryable=not error.transient,
            ) from error

    def result(
        self, *, stopped: bool = False, software_after: list[SoftwareUnit] | None = None
    ) -> EcuResult:
        return EcuResult(
            ecu=self.request.ecu,
            total_bytes=sum(s.length for s in self.segments),
            bytes_sent=self.bytes_sent,
            seconds=time.monotonic() - self.began,
            transfer_seconds=self.transfer_seconds,
            software_after=software_after,
            stopped_at=self.progress.model_copy(update={"stopped_for_time": True})
            if stopped
            else None,
        )


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
            _heartbeat_while_running(
                lambda: [confirmed[-1].model_dump(), *marks] if confirmed else []
            ),
            self._link(request.session_id, confirmed, EcuStep.SEGMENT) as link,
        ):
            link.verify_vin(request.expected_vin)
            # A retry on a new link (the station was killed) writes the fingerprint again: the
            # car asks for one in each programming session before it erases or downloads.
            if request.prepare or not link.wrote_fingerprint(request.ecu):
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
        # erasing (see `_EcuRun.segment`). A stop for time is exact.
        resuming = info.attempt > 1 or (start is not None and not start.stopped_for_time)
        run = _EcuRun(
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
            _heartbeat_while_running(lambda: [run.progress.model_dump(mode="json")]),
            run.errors_typed(),
            self.links.use(request.session_id, request.ecu) as link,
        ):
            link.verify_vin(request.expected_vin)
            if not run.progress.prepared:
                if not run.segment_fits(0):  # nothing touched: wait for time first
                    return run.result(stopped=True)
                run.step(EcuStep.PREPARE)
                self._prepare(link, request.package_id, request.ecu, request.workshop_id)
                run.step(EcuStep.PREPARE, prepared=True)
            elif not link.wrote_fingerprint(request.ecu):
                # A retry on a new link (the station was killed, or the technician resumed):
                # the car asks for the fingerprint again in each programming session before it
                # erases or downloads. A refusal here fails with the ECU's progress (the
                # errors are typed by `run`), so the next attempt still continues at its block.
                ensure_programming(link, request.ecu)
                link.write_fingerprint(request.ecu, self._fingerprint(request.workshop_id))
            ensure_programming(link, request.ecu)
            for index in range(run.progress.segment_index, len(run.segments)):
                started = run.progress.erased or run.progress.download is not None
                if not started and not run.segment_fits(index):
                    return run.result(stopped=True)
                run.segment(link, index)
            run.step(EcuStep.FINISH)
            finish_ecu(link, request.ecu)
            return run.result(software_after=link.read_software_list(request.ecu))

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
