"""One heartbeating activity per ECU (`program_ecu`), the ECUs in the plan's lanes: each ECU
reached over DoIP a lane of its own, up to `max_parallel_ecus` at once; the ECUs on one CAN bus
one after another; a coding-only ECU alone. A fault in one lane or a stop for time is one wait
for the whole session (the other lanes finish their ECU and wait); the failed or stopped ECU
continues from where its activity left it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from contracts.programming import (
        EcuResult,
        ProgramEcuInput,
        VehicleIdentity,
        program_ecu,
    )
    from domain.catalogue import Service
    from domain.flash_package import FlashPackageManifest
    from domain.programming import (
        WAIT_FOR_TIME_DEADLINE,
        EcuPlan,
        EcuStatus,
        Plan,
        estimate_ecu_duration,
        plan_lanes,
    )
    from workflows import step_failures
    from workflows.access_check import subscribe_to_coverage
    from workflows.programming_steps import HEARTBEAT_TIMEOUT, ProgrammingSessionSteps


class ProgrammingLanes(ProgrammingSessionSteps):
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
        self.ecu_timing = identity.timing
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
                timing=self.ecu_timing.get(plan.ecu),
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
