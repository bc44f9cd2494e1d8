"""One attempt of the station's `program_ecu` activity: where the ECU stands (heartbeated), what
the attempt measured (for the purchased-time check), and the steps that move it on, segment by
segment, with the resume that looks before it erases.

A retry after a crash or a dropped link continues from the last heartbeat that reached the
server, which may be up to a heartbeat interval behind what the lost attempt did: a segment
this attempt did not see start is continued, not erased, unless the ECU refuses it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from temporalio import activity

from contracts.programming import (
    FAILED_ATTEMPT_PHASES_KEPT,
    EcuPhase,
    EcuResult,
    ProgramEcuInput,
    ProgrammingPhase,
)
from domain.flash_package import SegmentSpec, SoftwareUnit
from domain.programming import (
    DEFAULT_THROUGHPUT_BYTES_PER_SECOND,
    FIXED_STEPS_PER_SEGMENT,
    DownloadProgress,
    EcuProgress,
    EcuStep,
    estimate_segment_duration,
    may_start_segment,
)
from hw.errors import VehicleLinkError
from hw.flash_files import FlashPackage
from hw.station_link import StationLink
from station.heartbeats import HEARTBEAT_EVERY
from station.vehicle_errors import vehicle_failure


class EcuRun:
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
        # The phases this attempt ran, for the report: prepare, per segment erase, download and
        # check (a refused resume adds a download and a check before its erase), dependencies,
        # reset, read-back: at most 1 + 5 x segments + 3 entries. A package's segments are
        # its image files, one each, at most `package_max_files` (settings) in its archive.
        self.phases: list[EcuPhase] = []
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

    @contextlib.contextmanager
    def phase(self, phase: ProgrammingPhase, segment: int | None = None) -> Iterator[None]:
        """Time one phase of this attempt: when it started (the station's wall clock) and how
        long it took. Kept even when it fails: a refused resume's download is time spent."""
        started_at, began = datetime.now(UTC), time.monotonic()
        try:
            yield
        finally:
            seconds = time.monotonic() - began
            self.phases.append(
                EcuPhase(phase=phase, segment=segment, started_at=started_at, seconds=seconds)
            )

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
        estimate = estimate_segment_duration(
            self.segments[index].length, throughput, steps, self.request.timing
        )
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
                self._check_memory(link, index, segment)
                return self._checked(index, began, transfer_before)
            except VehicleLinkError as error:
                if error.transient:
                    raise
                if self._in_ecu(link, index, segment):  # the lost attempt got it in
                    return self._checked(index, began, transfer_before)
                # The ECU refused to continue (the memory was not erased, or holds something
                # else): erase and write the segment whole rather than leave it half-written.
                activity.logger.warning("%s segment %d: no resume (%s); erasing", ecu, index, error)
        self._erase(link, index, segment)
        self._download(link, index, segment, data, None)
        self._check_memory(link, index, segment)
        self._checked(index, began, transfer_before)

    def _check_memory(self, link: StationLink, index: int, segment: SegmentSpec) -> None:
        self.step(EcuStep.CHECK)
        with self.phase(ProgrammingPhase.CHECK, index):
            link.check_memory(self.request.ecu, segment.address, segment.length, segment.crc32)

    def _erase(self, link: StationLink, index: int, segment: SegmentSpec) -> None:
        self.step(EcuStep.ERASE, segment_index=index, erased=False, download=None)
        with self.phase(ProgrammingPhase.ERASE, index):
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
        with self.phase(ProgrammingPhase.DOWNLOAD, index):
            result = link.download(
                self.request.ecu,
                segment.address,
                data,
                start_block_index=resume.next_block_index if resume else 0,
                block_size=resume.block_size if resume else None,
                on_progress=self._block,
            )
        self.transfer_seconds += self.phases[-1].seconds  # the download, as its phase timed it
        self.bytes_sent += result.bytes_sent

    def _in_ecu(self, link: StationLink, index: int, segment: SegmentSpec) -> bool:
        """Whether check memory finds the segment in the ECU, whole and right."""
        try:
            with self.phase(ProgrammingPhase.CHECK, index):
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
        a technician's resume continues from there, and the attempt's last phases."""
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
                "phases": [
                    phase.model_dump(mode="json")
                    for phase in self.phases[-FAILED_ATTEMPT_PHASES_KEPT:]
                ],
                "phases_left_out": max(0, len(self.phases) - FAILED_ATTEMPT_PHASES_KEPT),
            }
            raise vehicle_failure(error, f"{self.request.ecu} {step}: {error}", details) from None

    def result(
        self, *, stopped: bool = False, software_after: list[SoftwareUnit] | None = None
    ) -> EcuResult:
        """The attempt's result: the ECU finished (`software_after`, read back), or `stopped`
        at a segment boundary for want of purchased time (`stopped_at`)."""
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
            phases=self.phases,
        )
