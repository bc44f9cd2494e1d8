"""ProgrammingSessionWorkflow: flash a car's ECUs at a workshop station, on purchased time.

check access and read the package's manifest (together) → identify (VIN must match; software
of each ECU; how the station reaches the car) → plan (skip ECUs at target; lanes, like a TAL:
over DoIP each ECU a lane, in parallel up to `max_parallel_ecus`; on a CAN bus one lane; a
coding-only ECU alone) → per ECU one heartbeating activity (`program_ecu`: voltage, hardware,
session, security, fingerprint, per segment erase, download and check, then dependencies,
reset, read-back) → report. A failure names its ECU and step; what it left is read by
`workflows.step_failures`.

Sessions carry the revision of this code they were started under (`revision` in their input,
contracts.programming.CURRENT_SESSION_REVISION). Revision 1 runs every change below without a
patch marker, checks access and reads the manifest as local activities (two markers, no
activity events and no workflow task of their own), and leaves the search attributes to whoever
starts it (application.programming.start_session_workflow): 46 history events for 4 ECUs one
after another, where the patched layout took 63. Sessions started before (revision 0) replay as
they were recorded, each change decided by its `workflow.patched` marker: one activity per ECU,
one per segment, or prepare, segments and finish each its own.

Nothing starts unless the remaining `ecu_programming` coverage holds the plan's estimate with a
margin; otherwise the session waits in `waiting_for_time` for a `coverage_extended` signal from
the entitlement flow. The activity gets the end of the purchased window and never starts a
segment it cannot finish by then: it returns where it stopped, and the session waits for time
and continues from there. A segment is never cut off because the clock ran out. Faults that
retries cannot fix put the session in `needs_technician` (the other lanes finish their ECU and
wait); the technician resumes (re-identify, same car, every lane continues, the failed ECU from
its last confirmed block) or aborts.
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
    from contracts.access import COVERAGE_EXTENDED_SIGNAL, CoverageExtended
    from contracts.errors import domain_failure
    from contracts.programming import (
        PROGRAMMING_SESSION_WORKFLOW,
        PROGRESS_QUERY,
        AbortInput,
        EcuOutcome,
        EcuResult,
        EndSessionInput,
        FinishEcuInput,
        IdentifyVehicleInput,
        PrepareEcuInput,
        ProgramEcuInput,
        ProgrammingProgress,
        ProgrammingSessionInput,
        ProgrammingUpdate,
        ProgramSegmentInput,
        ReadPackageInput,
        ResumeInput,
        SkipEcuInput,
        StationFailure,
        VehicleIdentity,
        end_session_link,
        finish_ecu,
        identify_vehicle,
        prepare_ecu,
        program_ecu,
        program_segment,
        read_verified_manifest,
    )
    from domain.catalogue import Service
    from domain.flash_package import FlashPackageManifest
    from domain.programming import (
        WAIT_FOR_TIME_DEADLINE,
        DownloadProgress,
        EcuPlan,
        EcuProgress,
        EcuStatus,
        EcuStep,
        NotAtSafePoint,
        Plan,
        ProgrammingMachine,
        ProgrammingPlan,
        ProgrammingState,
        estimate_ecu_duration,
        may_abort,
        may_resume,
        may_skip,
        may_start_ecu,
        measured_throughput,
        plan_lanes,
        plan_programming,
    )
    from workflows import step_failures
    from workflows.access_check import check_access, remaining_coverage, subscribe_to_coverage
    from workflows.vin_search import vin_attributes

# Since this patch each ECU is one heartbeating activity (prepare, every segment, finish), and
# the ECUs run in the plan's lanes, in parallel where the car allows; histories recorded before
# still replay the old way (one activity per segment).
ONE_ACTIVITY_PER_ECU = "one-activity-per-ecu"
# Since this patch an ECU's first segment activity prepares it and its last one finishes it
# (fewer round trips per ECU); histories recorded before still replay the old way.
ONE_ACTIVITY_PER_SEGMENT = "one-activity-per-segment"
# Since this patch the access check and the package's manifest are read at the same time (one
# round trip through the server instead of two); neither touches the station.
PORTAL_CHECKS_TOGETHER = "portal-checks-together"

PORTAL_STEP = timedelta(seconds=30)
# A station that stops heartbeating (crash, power loss) is noticed after this long.
HEARTBEAT_TIMEOUT = timedelta(seconds=5)
MINIMUM_STEP_TIMEOUT = timedelta(minutes=2)


@workflow.defn(name=PROGRAMMING_SESSION_WORKFLOW)
class ProgrammingSessionWorkflow:
    @workflow.init
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

    # --- the process ------------------------------------------------------------------------

    def _since(self, patch: str) -> bool:
        """Whether this session runs with the change `patch`: every session started under a
        revision has it (no marker in its history); one started before decides by marker."""
        if self.request.revision >= 1:
            return True
        return workflow.patched(patch)

    @workflow.run
    async def run(self, request: ProgrammingSessionInput) -> ProgrammingProgress:
        if request.revision == 0:  # since revision 1, whoever starts the session sets them
            workflow.upsert_search_attributes(
                [
                    *vin_attributes(request.vin_search, request.vin),
                    search_attributes.WORKSHOP_ID.value_set(request.workshop_id),
                    search_attributes.STATION_ID.value_set(request.station_id),
                    search_attributes.FLOW_STATE.value_set(self.state),
                ]
            )
        try:
            if request.revision >= 1:  # on the portal worker, in the first workflow task
                _, manifest = await asyncio.gather(
                    self._check_access(local=True), self._read_manifest(local=True)
                )
            elif workflow.patched(PORTAL_CHECKS_TOGETHER):
                _, manifest = await asyncio.gather(self._check_access(), self._read_manifest())
            else:  # sessions recorded before: one after the other
                await self._check_access()
                manifest = await self._read_manifest()
        except ActivityError as error:
            self._enter("refuse", step_failures.reason(error))
            raise domain_failure(error) from error
        self._enter("access_granted")

        identity = await self._identify(manifest, resuming=False)
        if identity is None:
            await self._end_station_link()
            return self.progress()
        per_ecu = self._since(ONE_ACTIVITY_PER_ECU)
        self._enter("identified", shown=not per_ecu)
        plan = plan_programming(manifest, identity.software)
        for ecu in plan.already_at_target:
            self.ecus[ecu] = EcuOutcome(
                ecu=ecu, status=EcuStatus.ALREADY_AT_TARGET, software_after=identity.software[ecu]
            )
        for ecu_plan in plan.to_program:
            self.ecus[ecu_plan.ecu] = EcuOutcome(
                ecu=ecu_plan.ecu, status=EcuStatus.PENDING, bytes_total=ecu_plan.total_bytes
            )
        self._enter("planned")

        if per_ecu:
            await self._program_in_lanes(plan, manifest, identity)
        else:  # sessions recorded before: one ECU after another, one activity per segment
            await self._program_one_by_one(plan, manifest)
        self.current_ecu = self.current_step = None
        # The frame log is complete (and handed in) before the session says it has ended.
        await self._end_station_link()
        if self.abort_reason:
            if self.state != "aborted":
                self._enter("abort", self.abort_reason)
        else:
            self._enter("finish")
        # An abort's update answers once the session is aborted: let it answer before the end.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.progress()

    async def _program_one_by_one(self, plan: Plan, manifest: FlashPackageManifest) -> None:
        for ecu_plan in plan.to_program:
            if self.abort_reason:
                break
            if ecu_plan.ecu in self.skip_requested:
                self.ecus[ecu_plan.ecu].status = EcuStatus.SKIPPED
                continue
            estimate = estimate_ecu_duration(ecu_plan.total_bytes, self._throughput())
            if not await self._wait_for_time(estimate, ecu_plan.ecu):
                break
            if not await self._program_ecu(ecu_plan, manifest):
                break

    # --- one activity per ECU, ECUs in lanes ------------------------------------------------

    async def _program_in_lanes(
        self, plan: Plan, manifest: FlashPackageManifest, identity: VehicleIdentity
    ) -> None:
        """The plan's lanes: together at most `max_parallel` at once, then the ones that run
        alone. Nothing starts unless the purchased time holds the plan's estimate."""
        self.plan = plan_lanes(
            plan.to_program,
            identity.reach,
            parallel=self.request.parallel,
            max_parallel=self.request.max_parallel_ecus,
            throughput_bytes_per_second=self._throughput(),
            timing=identity.timing,
        )
        if not plan.to_program:
            return
        estimate = timedelta(seconds=self.plan.estimated_seconds)
        if not await self._wait_for_time(estimate, "the plan"):
            return
        by_ecu = {ecu_plan.ecu: ecu_plan for ecu_plan in plan.to_program}
        slots = asyncio.Semaphore(self.plan.max_parallel)

        async def in_a_slot(ecus: list[str]) -> None:
            async with slots:
                await self._lane([by_ecu[ecu] for ecu in ecus], manifest)

        await asyncio.gather(*(in_a_slot(lane.ecus) for lane in self.plan.lanes if not lane.alone))
        for lane in self.plan.lanes:
            if lane.alone:
                await self._lane([by_ecu[ecu] for ecu in lane.ecus], manifest)

    async def _lane(self, ecus: list[EcuPlan], manifest: FlashPackageManifest) -> None:
        """One ECU after another; before each, wait while the session waits for the
        technician or for time (other lanes finish their ECU meanwhile)."""
        for ecu_plan in ecus:
            await workflow.wait_condition(lambda: self.state == "programming" or self._ending())
            if self._ending():
                return
            if ecu_plan.ecu in self.skip_requested:
                self.ecus[ecu_plan.ecu].status = EcuStatus.SKIPPED
                continue
            if not await self._program_whole_ecu(ecu_plan, manifest):
                return

    def _ending(self) -> bool:
        return bool(self.abort_reason) or self.state in ("aborted", "refused", "completed")

    async def _program_whole_ecu(self, plan: EcuPlan, manifest: FlashPackageManifest) -> bool:
        """One activity for the ECU, again after a fault (from where it failed, once the
        technician resumed) or a stop for time (from the segment it stopped before, once time
        was bought). False when the session ends."""
        outcome = self.ecus[plan.ecu]
        outcome.status = EcuStatus.PROGRAMMING
        self.running.append(plan.ecu)
        self.current_ecu, self.current_step = self.running[0], "programming"
        began = workflow.now()
        deadline = self.coverage_ends or began
        try:
            while True:
                time_limit, seen = self.coverage_ends, self.coverage_extended_count
                try:
                    result = await self._run_ecu(plan, time_limit)
                except ActivityError as error:
                    left = step_failures.ecu_left_at(error)
                    if left is not None:
                        self.ecu_resume[plan.ecu] = left
                    if self._ending() or not await self._technician(
                        step_failures.reason(error), manifest
                    ):
                        return False
                    continue
                self.transferred_bytes += result.bytes_sent
                self.transfer_seconds += result.transfer_seconds
                if result.stopped_at is None:
                    break
                self.ecu_resume[plan.ecu] = result.stopped_at
                outcome.bytes_done = result.stopped_at.bytes_confirmed
                bought = self.coverage_extended_count > seen or (
                    self.coverage_ends is not None
                    and time_limit is not None
                    and self.coverage_ends > time_limit
                )
                if not bought:
                    left_bytes = outcome.bytes_total - outcome.bytes_done
                    estimate = estimate_ecu_duration(left_bytes, self._throughput())
                    reason = (
                        f"{plan.ecu} stopped before segment {result.stopped_at.segment_index + 1}"
                        f": it needs about {int(estimate.total_seconds())} s more"
                    )
                    if self._ending() or not await self._more_time(reason):
                        return False
        finally:
            self.running.remove(plan.ecu)
            self.current_ecu = self.running[0] if self.running else None
        self.ecu_resume.pop(plan.ecu, None)
        outcome.status = EcuStatus.DONE
        outcome.bytes_done = result.total_bytes
        outcome.software_after = result.software_after or []
        outcome.seconds = (workflow.now() - began).total_seconds()
        if workflow.now() > deadline:
            outcome.overrun = workflow.now() - deadline  # a segment is never cut off
        return True

    async def _run_ecu(self, plan: EcuPlan, time_limit: datetime | None) -> EcuResult:
        return await workflow.execute_activity(
            program_ecu,
            ProgramEcuInput(
                session_id=self.request.session_id,
                package_id=self.request.package_id,
                ecu=plan.ecu,
                expected_vin=self.request.vin,
                workshop_id=self.request.workshop_id,
                # Kept until the ECU is done: a fault that says nothing new resumes from it.
                resume_from=self.ecu_resume.get(plan.ecu),
                time_limit=time_limit,
                throughput_bytes_per_second=self._throughput(),
            ),
            task_queue=self.request.station_task_queue,
            # Named for its ECU, so the history and the Web UI say which ECU each one is.
            activity_id=f"{plan.ecu}-{workflow.info().get_current_history_length()}",
            start_to_close_timeout=self._step_timeout(plan),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=self.hardware_retry,
        )

    async def _technician(self, reason: str, manifest: FlashPackageManifest) -> bool:
        """The lanes' one wait for the technician: the first fault starts it, a fault in
        another lane meanwhile joins it. True once resumed (the same car identified again)."""
        if self.technician_round is None or self.technician_round.done():
            self.technician_round = asyncio.ensure_future(self._resume_after(reason, manifest))
        return await self.technician_round

    async def _resume_after(self, reason: str, manifest: FlashPackageManifest) -> bool:
        if not await self._needs_technician(reason):
            return False
        if await self._identify(manifest, resuming=True) is None:
            return False
        if self.state == "identifying":
            self._enter("identified", shown=False)
            self._enter("planned")
        return True

    async def _more_time(self, reason: str) -> bool:
        """The lanes' one wait for time after an ECU stopped for it: until time is bought (a
        `coverage_extended` signal). False when the session ends."""
        # Not while the technician's resume is under way: it ends in `programming`.
        await workflow.wait_condition(
            lambda: self.state in ("programming", "waiting_for_time") or self._ending()
        )
        if self._ending():
            return False
        if self.time_round is None or self.time_round.done():
            self.time_round = asyncio.ensure_future(self._wait_for_more_time(reason))
        return await self.time_round

    async def _wait_for_more_time(self, reason: str) -> bool:
        seen = self.coverage_extended_count
        if self.state == "programming":
            self._enter("out_of_time", reason)
            await subscribe_to_coverage(self.request.workshop_id, Service.ECU_PROGRAMMING)
        try:
            await workflow.wait_condition(
                lambda: self.coverage_extended_count > seen or bool(self.abort_reason),
                timeout=WAIT_FOR_TIME_DEADLINE,
            )
        except TimeoutError:
            self.abort_reason = "no programming time was bought within 24 hours"
        if self.abort_reason:
            if self.state in ("waiting_for_time", "programming", "needs_technician"):
                self._enter("abort", self.abort_reason)
            return False
        await self._remaining_coverage()
        if self.state == "waiting_for_time":
            self._enter("time_bought")
        return True

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

    async def _program_ecu(self, plan: EcuPlan, manifest: FlashPackageManifest) -> bool:
        outcome = self.ecus[plan.ecu]
        outcome.status = EcuStatus.PROGRAMMING
        self.current_ecu = plan.ecu
        began = workflow.now()
        deadline = self.coverage_ends or began
        segments: list[tuple[EcuStep, int | None]] = [
            (EcuStep.SEGMENT, index) for index in range(plan.segment_count)
        ]
        if self._since(ONE_ACTIVITY_PER_SEGMENT):
            steps = segments  # the first prepares the ECU, the last finishes it
        else:  # sessions recorded before: prepare and finish were activities of their own
            steps = [(EcuStep.PREPARE, None), *segments, (EcuStep.FINISH, None)]
        position = 0
        while position < len(steps):
            name, index = steps[position]
            self.current_step = (
                name if index is None else f"segment {index + 1}/{plan.segment_count}"
            )
            try:
                await self._run_step(plan, name, index)
                position += 1
            except ActivityError as error:
                self._remember_progress(plan.ecu, index, error)
                if not await self._needs_technician(step_failures.reason(error)):
                    return False
                if await self._identify(manifest, resuming=True) is None:
                    return False
                if self.state == "identifying":
                    self._enter("identified")
                    self._enter("planned")
        outcome.status = EcuStatus.DONE
        outcome.seconds = (workflow.now() - began).total_seconds()
        if workflow.now() > deadline:
            outcome.overrun = workflow.now() - deadline  # finished, never cut off
        return True

    async def _run_step(self, plan: EcuPlan, name: EcuStep, index: int | None) -> None:
        common = {"session_id": self.request.session_id, "ecu": plan.ecu}
        timeout = self._step_timeout(plan)
        if name is EcuStep.PREPARE:
            await workflow.execute_activity(
                prepare_ecu,
                PrepareEcuInput(
                    **common,
                    package_id=self.request.package_id,
                    expected_vin=self.request.vin,
                    workshop_id=self.request.workshop_id,
                ),
                task_queue=self.request.station_task_queue,
                start_to_close_timeout=MINIMUM_STEP_TIMEOUT,
                retry_policy=self.hardware_retry,
            )
        elif name is EcuStep.SEGMENT:
            assert index is not None
            resume = self.resume_points.pop((plan.ecu, index), None)
            folded = workflow.patched(ONE_ACTIVITY_PER_SEGMENT)
            result = await workflow.execute_activity(
                program_segment,
                ProgramSegmentInput(
                    **common,
                    package_id=self.request.package_id,
                    segment_index=index,
                    expected_vin=self.request.vin,
                    start_block_index=resume.next_block_index if resume else 0,
                    block_size=resume.block_size if resume else None,
                    prepare=folded and index == 0,
                    finish=folded and index == plan.segment_count - 1,
                    workshop_id=self.request.workshop_id,
                    segment_checked=(plan.ecu, index) in self.checked_segments,
                ),
                task_queue=self.request.station_task_queue,
                start_to_close_timeout=timeout,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=self.hardware_retry,
            )
            self.checked_segments.discard((plan.ecu, index))
            self.transferred_bytes += result.bytes_sent
            self.transfer_seconds += result.seconds
            self.ecus[plan.ecu].bytes_done += result.total_bytes
            if result.software_after is not None:
                self.ecus[plan.ecu].software_after = result.software_after
        else:
            finished = await workflow.execute_activity(
                finish_ecu,
                FinishEcuInput(**common, expected_vin=self.request.vin),
                task_queue=self.request.station_task_queue,
                start_to_close_timeout=MINIMUM_STEP_TIMEOUT,
                retry_policy=self.hardware_retry,
            )
            self.ecus[plan.ecu].software_after = finished.software

    def _step_timeout(self, plan: EcuPlan) -> timedelta:
        # The purchased time left plus room to finish an ECU started inside it: a transfer that
        # runs past the window is finished (and the overrun recorded), never cut off.
        estimate = estimate_ecu_duration(plan.total_bytes, self._throughput())
        return max(MINIMUM_STEP_TIMEOUT, (self.remaining or timedelta(0)) + estimate * 3)

    def _remember_progress(self, ecu: str, index: int | None, error: ActivityError) -> None:
        if index is None:
            return
        left = step_failures.segment_left_at(error)
        if left.checked:
            self.checked_segments.add((ecu, index))
        if left.progress is not None:
            self.resume_points[(ecu, index)] = left.progress

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

    # --- signals, updates, query ------------------------------------------------------------

    @workflow.signal(name=COVERAGE_EXTENDED_SIGNAL)
    def coverage_extended(self, extended: CoverageExtended) -> None:
        """From the entitlement flow: more programming time was bought."""
        self.coverage_extended_count += 1

    @workflow.update(name=ProgrammingUpdate.RESUME)
    async def resume(self, step: ResumeInput) -> ProgrammingProgress:
        """After a fault: re-identify the car (it must be the same) and continue.

        Answers once the session has left `needs_technician`, so the caller sees the state the
        resume led to, not the one it ended."""
        self.resume_requested = True
        await workflow.wait_condition(lambda: not may_resume(self.state))
        return self.progress()

    @resume.validator
    def _validate_resume(self, step: ResumeInput) -> None:
        if not may_resume(self.state):
            raise domain_failure(
                NotAtSafePoint(f"nothing to resume: the session is {self.state}", state=self.state)
            )

    @workflow.update(name=ProgrammingUpdate.SKIP_ECU)
    def skip_ecu(self, step: SkipEcuInput) -> ProgrammingProgress:
        """Leave an ECU out; only before it started (the validator made sure), so it is
        skipped at once and the answer shows it so."""
        self.skip_requested.add(step.ecu)
        self.ecus[step.ecu].status = EcuStatus.SKIPPED
        return self.progress()

    @skip_ecu.validator
    def _validate_skip(self, step: SkipEcuInput) -> None:
        outcome = self.ecus.get(step.ecu)
        if not may_skip(self.state, outcome.status if outcome else None):
            raise domain_failure(
                NotAtSafePoint(
                    f"{step.ecu} cannot be skipped: it is "
                    f"{outcome.status if outcome else 'not planned'}",
                    field="ecu",
                )
            )

    @workflow.update(name=ProgrammingUpdate.ABORT)
    async def abort(self, step: AbortInput) -> ProgrammingProgress:
        """Stop the session at a safe point (never in the middle of a transfer).

        Answers once the session is `aborted` (at a safe point that is at once), so the caller
        sees the state the abort led to."""
        self.abort_reason = step.reason
        await workflow.wait_condition(lambda: self.state == "aborted")
        return self.progress()

    @abort.validator
    def _validate_abort(self, step: AbortInput) -> None:
        if not may_abort(self.state):
            raise domain_failure(
                NotAtSafePoint(
                    f"abort only at a safe point (needs technician, waiting for time); "
                    f"the session is {self.state}",
                    state=self.state,
                )
            )

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> ProgrammingProgress:
        total = sum(outcome.bytes_total for outcome in self.ecus.values())
        done = sum(outcome.bytes_done for outcome in self.ecus.values())
        throughput = self._throughput() if self.transfer_seconds > 0 else None
        eta = timedelta(seconds=(total - done) / throughput) if throughput else None
        return ProgrammingProgress(
            session_id=self.request.session_id,
            state=self.state,
            vin=self.request.vin,
            station_id=self.request.station_id,
            current_ecu=self.current_ecu,
            current_step=self.current_step,
            bytes_done=done,
            bytes_total=total,
            throughput_bytes_per_second=throughput,
            eta=eta,
            remaining_coverage=self.remaining,
            reason=self.reason,
            ecus=list(self.ecus.values()),
            plan=self.plan,
        )
