"""The layout before one activity per ECU, which histories recorded before it replay: one ECU
after another, one activity per segment (the first preparing the ECU and the last finishing
it, or, before that, prepare and finish each an activity of its own).
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts.programming import (
        FinishEcuInput,
        PrepareEcuInput,
        ProgramSegmentInput,
        finish_ecu,
        prepare_ecu,
        program_segment,
    )
    from domain.flash_package import FlashPackageManifest
    from domain.programming import (
        EcuPlan,
        EcuStatus,
        EcuStep,
        Plan,
        estimate_ecu_duration,
    )
    from workflows import step_failures
    from workflows.programming_steps import (
        HEARTBEAT_TIMEOUT,
        MINIMUM_STEP_TIMEOUT,
        ProgrammingSessionSteps,
    )

# Since this patch an ECU's first segment activity prepares it and its last one finishes it
# (fewer round trips per ECU); histories recorded before still replay the old way.
ONE_ACTIVITY_PER_SEGMENT = "one-activity-per-segment"


class ProgrammingBySegment(ProgrammingSessionSteps):
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

    def _remember_progress(self, ecu: str, index: int | None, error: ActivityError) -> None:
        if index is None:
            return
        left = step_failures.segment_left_at(error)
        if left.checked:
            self.checked_segments.add((ecu, index))
        if left.progress is not None:
            self.resume_points[(ecu, index)] = left.progress
