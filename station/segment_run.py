"""One attempt of the station's per-segment activity `program_segment`, which the sessions
recorded before `one-activity-per-ecu` still call: where its download starts, the blocks the
ECU confirmed (heartbeated), and the transfer with its fallback to erasing again."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from temporalio import activity

from contracts.programming import SEGMENT_CHECKED, ProgramSegmentInput, SegmentResult
from domain.flash_package import SoftwareUnit
from domain.programming import DownloadProgress
from hw.errors import VehicleLinkError
from hw.flash_files import FlashPackage
from hw.flash_sequence import program_segment
from hw.station_link import StationLink
from station.heartbeats import HEARTBEAT_EVERY


class SegmentRun:
    """One attempt of `program_segment`: where it starts, what the ECU confirmed since, and
    whether the segment is checked (then a retry only finishes the ECU)."""

    def __init__(
        self,
        request: ProgramSegmentInput,
        package: FlashPackage,
        heartbeat_details: Sequence[Any],
    ) -> None:
        self.request = request
        self.segment = package.ecu(request.ecu).segments[request.segment_index]
        self.data = package.segment_data(request.ecu, request.segment_index)
        self.name = f"{request.ecu} segment {request.segment_index}"
        # Where to start: this download's own last heartbeat (a retry after a crash), else the
        # point a technician's resume continues from, else the beginning. The list is changed
        # in place only: the link's error typing reads it when a vehicle error ends the run.
        self.confirmed: list[DownloadProgress] = []
        checked = False  # the segment was downloaded and checked before a retry
        if heartbeat_details:
            self.confirmed.append(DownloadProgress.model_validate(heartbeat_details[0]))
            checked = len(heartbeat_details) > 1 and heartbeat_details[1] == SEGMENT_CHECKED
        elif request.start_block_index and request.block_size:
            self.confirmed.append(
                DownloadProgress(
                    next_block_index=request.start_block_index,
                    block_size=request.block_size,
                    bytes_confirmed=request.start_block_index * request.block_size,
                    total_bytes=len(self.data),
                )
            )
        self.checked = checked or request.segment_checked
        self.start = self.confirmed[-1].next_block_index if self.confirmed else 0
        self.block_size = self.confirmed[-1].block_size if self.confirmed else None
        self.marks: list[str] = []  # heartbeated after the progress: SEGMENT_CHECKED
        self.bytes_sent = 0
        self.began = time.monotonic()
        self._last_beat = 0.0

    def heartbeat_details(self) -> list[object]:
        """What a heartbeat carries: the last confirmed block and the marks, if any."""
        return [self.confirmed[-1].model_dump(), *self.marks] if self.confirmed else []

    def _block(self, progress: DownloadProgress) -> None:
        self.confirmed[:] = [progress]
        now = time.monotonic()
        if now - self._last_beat >= HEARTBEAT_EVERY:
            self._last_beat = now
            activity.heartbeat(progress.model_dump())

    def download_and_check(self, link: StationLink) -> None:
        """Erase (fresh start only), download and check the segment, unless it was checked
        before; a resume the ECU refuses erases and writes the segment whole."""
        if self.checked:
            return
        ecu = self.request.ecu
        try:
            result = program_segment(
                link,
                ecu,
                self.segment,
                self.data,
                start_block_index=self.start,
                block_size=self.block_size,
                on_progress=self._block,
            )
        except VehicleLinkError as error:
            if self.start == 0 or error.transient:
                raise
            # The ECU no longer holds the partial segment (reset, power loss): erase and write
            # the segment again rather than leave it half-programmed.
            activity.logger.warning("resume of %s refused (%s); re-erasing", self.name, error)
            self.start = 0
            self.confirmed.clear()
            result = program_segment(
                link, ecu, self.segment, self.data, start_block_index=0, on_progress=self._block
            )
        self.bytes_sent = result.bytes_sent

    def mark_checked(self) -> None:
        """The segment is in the ECU and checked: a retry from here on only finishes the ECU."""
        self.marks.append(SEGMENT_CHECKED)
        if self.confirmed:
            activity.heartbeat(self.confirmed[-1].model_dump(), *self.marks)

    def result(self, software_after: list[SoftwareUnit] | None) -> SegmentResult:
        """The activity's result; `software_after` when it finished the ECU."""
        return SegmentResult(
            ecu=self.request.ecu,
            segment_index=self.request.segment_index,
            total_bytes=len(self.data),
            bytes_sent=self.bytes_sent,
            resumed_from_block=self.start,
            seconds=time.monotonic() - self.began,
            software_after=software_after,
        )
