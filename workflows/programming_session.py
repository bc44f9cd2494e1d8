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
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes
    from contracts.access import COVERAGE_EXTENDED_SIGNAL, CoverageExtended
    from contracts.errors import domain_failure
    from contracts.programming import (
        PROGRAMMING_SESSION_WORKFLOW,
        PROGRESS_QUERY,
        AbortInput,
        EcuOutcome,
        ProgrammingProgress,
        ProgrammingSessionInput,
        ProgrammingUpdate,
        ResumeInput,
        SkipEcuInput,
    )
    from domain.programming import (
        EcuStatus,
        NotAtSafePoint,
        may_abort,
        may_resume,
        may_skip,
        plan_programming,
    )
    from workflows import step_failures
    from workflows.programming_by_segment import ProgrammingBySegment
    from workflows.programming_lanes import ProgrammingLanes
    from workflows.vin_search import vin_attributes

# Since this patch each ECU is one heartbeating activity (prepare, every segment, finish), and
# the ECUs run in the plan's lanes, in parallel where the car allows; histories recorded before
# still replay the old way (one activity per segment).
ONE_ACTIVITY_PER_ECU = "one-activity-per-ecu"
# Since this patch the access check and the package's manifest are read at the same time (one
# round trip through the server instead of two); neither touches the station.
PORTAL_CHECKS_TOGETHER = "portal-checks-together"


@workflow.defn(name=PROGRAMMING_SESSION_WORKFLOW)
class ProgrammingSessionWorkflow(ProgrammingLanes, ProgrammingBySegment):
    @workflow.init
    def __init__(self, request: ProgrammingSessionInput) -> None:
        super().__init__(request)

    # --- the process ------------------------------------------------------------------------

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
