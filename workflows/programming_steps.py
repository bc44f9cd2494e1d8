"""The steps every programming session takes, whatever its layout: its state and what it
shows, the portal's checks, identifying the car, waiting for purchased time and for the
technician, and closing the station's link. The layouts build on it: `programming_lanes` (one
activity per ECU, in the plan's lanes) and `programming_by_segment` (the layout before, which
older histories replay); `programming_session` composes them into the workflow.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes
    from contracts.programming import (
        EcuOutcome,
        EndSessionInput,
        IdentifyVehicleInput,
        ProgrammingSessionInput,
        ReadPackageInput,
        StationFailure,
        VehicleIdentity,
        end_session_link,
        identify_vehicle,
        read_verified_manifest,
    )
    from domain.catalogue import Service
    from domain.flash_package import FlashPackageManifest
    from domain.programming import (
        WAIT_FOR_TIME_DEADLINE,
        DownloadProgress,
        EcuPlan,
        EcuProgress,
        ProgrammingMachine,
        ProgrammingPlan,
        ProgrammingState,
        estimate_ecu_duration,
        may_start_ecu,
        measured_throughput,
    )
    from domain.programming_timing import ProgrammingTiming
    from workflows import step_failures
    from workflows.access_check import check_access, remaining_coverage, subscribe_to_coverage


PORTAL_STEP = timedelta(seconds=30)
# A station that stops heartbeating (crash, power loss) is noticed after this long.
HEARTBEAT_TIMEOUT = timedelta(seconds=5)
MINIMUM_STEP_TIMEOUT = timedelta(minutes=2)


class ProgrammingSessionSteps:
    def __init__(self, request: ProgrammingSessionInput) -> None:
        self.request = request
        # Transient vehicle faults (timeouts, disconnects, busy ECU) are retried this often
        # before a technician is asked; fatal ones (wrong hardware, invalid key) never are.
        self.hardware_retry = RetryPolicy(
            initial_interval=timedelta(seconds=request.hardware_retry.initial_seconds),
            maximum_interval=timedelta(seconds=request.hardware_retry.maximum_seconds),
            maximum_attempts=request.hardware_retry.attempts,
        )
        self.machine = ProgrammingMachine()
        self.ecus: dict[str, EcuOutcome] = {}
        self.current_ecu: str | None = None
        self.current_step: str | None = None
        self.reason: str | None = None
        self.remaining: timedelta | None = None
        # End of the purchased window as last read from the portal. Coverage only grows (a
        # purchase extends it), so this is a safe lower bound between reads.
        self.coverage_ends: datetime | None = None
        self.transferred_bytes = 0
        self.transfer_seconds = 0.0
        self.skip_requested: set[str] = set()
        self.abort_reason: str | None = None
        self.resume_requested = False
        self.coverage_extended_count = 0
        self.resume_points: dict[tuple[str, int], DownloadProgress] = {}
        # Segments in the ECU and checked, whose activity failed finishing the ECU.
        self.checked_segments: set[tuple[str, int]] = set()
        # Sessions since `one-activity-per-ecu`: the lanes, where each ECU continues (a fault
        # or a stop for time), the ECUs being programmed, and the technician's or the time's
        # wait that lanes share (one fault or stop at a time puts the whole session there).
        self.plan: ProgrammingPlan | None = None
        self.ecu_timing: dict[str, ProgrammingTiming | None] = {}
        self.ecu_resume: dict[str, EcuProgress] = {}
        self.running: list[str] = []
        self.technician_round: asyncio.Task[bool] | None = None
        self.time_round: asyncio.Task[bool] | None = None

    @property
    def state(self) -> ProgrammingState:
        return cast(ProgrammingState, self.machine.current_state_value)

    def _enter(self, event: str, reason: str | None = None, *, shown: bool = True) -> None:
        """Move the state machine; `shown=False` for a state left in the same workflow task
        (operators could never find a session in it: no search attribute update for it)."""
        self.machine.send(event)
        self.reason = reason
        if shown:
            workflow.upsert_search_attributes([search_attributes.FLOW_STATE.value_set(self.state)])

    def _since(self, patch: str) -> bool:
        """Whether this session runs with the change `patch`: every session started under a
        revision has it (no marker in its history); one started before decides by marker."""
        if self.request.revision >= 1:
            return True
        return workflow.patched(patch)

    def _ending(self) -> bool:
        return bool(self.abort_reason) or self.state in ("aborted", "refused", "completed")

    async def _end_station_link(self) -> None:
        """Close the station's link for this session, which completes its frame log."""
        try:
            await workflow.execute_activity(
                end_session_link,
                EndSessionInput(session_id=self.request.session_id),
                task_queue=self.request.station_task_queue,
                schedule_to_close_timeout=PORTAL_STEP,
            )
        except ActivityError as error:  # the station went away: its idle timer closes it
            workflow.logger.info("station link not closed: %s", error)

    async def _check_access(self, *, local: bool = False) -> None:
        grant = await check_access(self.request.workshop_id, Service.ECU_PROGRAMMING, local=local)
        self.coverage_ends = grant.ends_at
        self.remaining = grant.remaining

    async def _read_manifest(self, *, local: bool = False) -> FlashPackageManifest:
        """The package's manifest, verified on the portal; a refusal ends the session."""
        request = ReadPackageInput(package_id=self.request.package_id)
        if local:
            return await workflow.execute_local_activity(
                read_verified_manifest, request, start_to_close_timeout=PORTAL_STEP
            )
        return await workflow.execute_activity(
            read_verified_manifest, request, start_to_close_timeout=PORTAL_STEP
        )

    async def _identify(
        self, manifest: FlashPackageManifest, *, resuming: bool
    ) -> VehicleIdentity | None:
        """Identify the car; on a fault, wait for the technician. None when the session ends.

        Another car at the start stops the session; another car at a resume is refused and the
        session waits for the technician to connect the right one.
        """
        while True:
            self.current_step = "identify"
            try:
                return await workflow.execute_activity(
                    identify_vehicle,
                    IdentifyVehicleInput(
                        session_id=self.request.session_id,
                        expected_vin=self.request.vin,
                        ecus=manifest.ecu_names,
                    ),
                    task_queue=self.request.station_task_queue,
                    start_to_close_timeout=MINIMUM_STEP_TIMEOUT,
                    retry_policy=self.hardware_retry,
                )
            except ActivityError as error:
                if step_failures.error_type(error) == StationFailure.VIN_MISMATCH and not resuming:
                    self._enter("refuse", step_failures.reason(error))
                    return None
                if not await self._needs_technician(step_failures.reason(error)):
                    return None

    async def _wait_for_time(self, estimate: timedelta, what: str) -> bool:
        """True when the remaining coverage holds `estimate` (of an ECU, or of the plan);
        False when the session ends."""
        while True:
            remaining = self._known_remaining()
            if not may_start_ecu(estimate, remaining):  # time may have been bought since
                remaining = await self._remaining_coverage()
            if may_start_ecu(estimate, remaining):
                if self.state == "waiting_for_time":
                    self._enter("time_bought")
                return True
            if self.state != "waiting_for_time":
                self._enter(
                    "out_of_time",
                    f"{what} needs about {int(estimate.total_seconds())} s, "
                    f"{int(remaining.total_seconds())} s of purchased time remain",
                )
                await subscribe_to_coverage(self.request.workshop_id, Service.ECU_PROGRAMMING)
            seen = self.coverage_extended_count
            try:
                await workflow.wait_condition(
                    lambda seen=seen: (
                        self.coverage_extended_count > seen  # type: ignore[misc]
                        or bool(self.abort_reason)
                    ),
                    timeout=WAIT_FOR_TIME_DEADLINE,
                )
            except TimeoutError:
                self.abort_reason = "no programming time was bought within 24 hours"
            if self.abort_reason:
                self._enter("abort", self.abort_reason)
                return False

    def _step_timeout(self, plan: EcuPlan) -> timedelta:
        # The purchased time left plus room to finish an ECU started inside it: a transfer that
        # runs past the window is finished (and the overrun recorded), never cut off.
        estimate = estimate_ecu_duration(plan.total_bytes, self._throughput())
        return max(MINIMUM_STEP_TIMEOUT, (self.remaining or timedelta(0)) + estimate * 3)

    async def _needs_technician(self, reason: str) -> bool:
        """Wait for the technician; True when they resume, False when they abort."""
        self._enter("fault", reason)
        self.resume_requested = False
        await workflow.wait_condition(lambda: self.resume_requested or bool(self.abort_reason))
        if self.abort_reason:
            self._enter("abort", self.abort_reason)
            return False
        self._enter("resumed")
        return True

    def _known_remaining(self) -> timedelta:
        ends = self.coverage_ends or workflow.now()
        self.remaining = max(timedelta(0), ends - workflow.now())
        return self.remaining

    async def _remaining_coverage(self) -> timedelta:
        asked_at = workflow.now()
        remaining = await remaining_coverage(self.request.workshop_id, Service.ECU_PROGRAMMING)
        self.coverage_ends = asked_at + remaining
        return self._known_remaining()

    def _throughput(self) -> float:
        return measured_throughput(self.transferred_bytes, self.transfer_seconds)
