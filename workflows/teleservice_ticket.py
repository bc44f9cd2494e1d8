"""TeleserviceTicketWorkflow: one ticket per due item of a car, for the car's service partner.

new → acknowledged → appointment_planned → closed. A Teleservice Call, Battery Guard message or
service request opens it (signal-with-start `add_call`, so a repeated call of the same item is
added to the open ticket; a message delivered twice is counted once by its id). It closes when
a ServiceEntryWorkflow tells it that an entry covers its item (signal `service_entry_created`),
when the car reports the item resolved (signal `item_resolved`), or by hand with a reason
(update `close`). The workshop acknowledges it and plans an appointment (updates).

Service levels on working days (domain.teleservices): not acknowledged within 2 working days,
the workshop is reminded; within 4, the operators are told (escalation); a planned
appointment that passes without an entry reminds the workshop again. Each notice is mail, sent
once. Every change is written to the ticket list (`record_teleservice_ticket`) before an
update answers, so the list a client reads next shows it.

A ticket that takes many calls continues as a new run with its state (after
`domain.teleservices.CALLS_PER_RUN` calls, or when Temporal suggests it).

Workflow id: `teleservice-ticket-<vin search value>-<item>` (contracts.teleservices).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes
    from contracts.errors import domain_failure
    from contracts.teleservices import (
        TELESERVICE_TICKET_WORKFLOW,
        TICKET_STATUS_QUERY,
        AcknowledgeInput,
        CloseTicketInput,
        EntryCoversItem,
        ItemResolvedByCar,
        PlanAppointmentInput,
        TeleserviceTicketInput,
        TeleserviceTicketStatus,
        TicketCall,
        TicketCarry,
        TicketNoticeInput,
        TicketSignal,
        TicketUpdate,
        record_teleservice_ticket,
        send_teleservice_ticket_notice,
    )
    from domain import teleservices as rules
    from domain.teleservices import (
        CloseReason,
        TeleserviceTicketMachine,
        TicketState,
        check_appointment,
        check_close_reason,
        covered_by_entry,
        ensure_ticket_step,
        next_service_level_deadline,
        notice_key,
        service_level,
    )

DATABASE_STEP = timedelta(seconds=30)
MAIL_STEP = timedelta(seconds=30)
MAX_CALLS_KEPT = 200  # a car that calls every few minutes must not grow the history forever


@workflow.defn(name=TELESERVICE_TICKET_WORKFLOW)
class TeleserviceTicketWorkflow:
    @workflow.init
    def __init__(self, request: TeleserviceTicketInput) -> None:
        self.request = request
        carried = request.carried
        self.machine = TeleserviceTicketMachine(start_value=carried.state if carried else None)
        self.opened_at = carried.opened_at if carried else workflow.now()
        self.calls: list[TicketCall] = list(carried.calls) if carried else []
        self.seen_messages: list[str] = list(carried.seen_messages) if carried else []
        self.notices_sent: list[str] = list(carried.notices_sent) if carried else []
        self.acknowledged_at: datetime | None = carried.acknowledged_at if carried else None
        self.appointment_at: datetime | None = carried.appointment_at if carried else None
        self.calls_this_run = 0
        self.closed_at: datetime | None = None
        self.close_reason: CloseReason | None = None
        self.close_detail: str | None = None
        self.version = 0  # every change counts one; the loop records each in the ticket list
        self.recorded = -1

    @property
    def state(self) -> TicketState:
        return cast(TicketState, self.machine.current_state_value)

    @workflow.run
    async def run(self, request: TeleserviceTicketInput) -> TeleserviceTicketStatus:
        workflow.upsert_search_attributes(
            [
                search_attributes.VIN.value_set(request.vin_search),
                search_attributes.WORKSHOP_ID.value_set(request.workshop_id),
                search_attributes.FLOW_STATE.value_set(self.state),
            ]
        )
        while True:
            if self.recorded != self.version:
                seen = self.version
                await self._record()
                self.recorded = seen
                continue
            if self.state == "closed":
                break
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self.recorded == self.version:  # a handler changed nothing meanwhile
                    workflow.continue_as_new(self._carried())
                continue
            due = next_service_level_deadline(
                self.state, self.opened_at, self.appointment_at, self.notices_sent
            )
            timeout = None if due is None else max(due[0] - workflow.now(), timedelta(seconds=1))
            seen = self.version
            try:
                await workflow.wait_condition(
                    lambda seen=seen: self.version != seen,  # type: ignore[misc]
                    timeout=timeout,
                )
            except TimeoutError:
                assert due is not None
                at, kind = due
                await workflow.execute_activity(
                    send_teleservice_ticket_notice,
                    TicketNoticeInput(
                        ticket_id=request.ticket_id,
                        workshop_id=request.workshop_id,
                        item=request.item,
                        kind=kind,
                        due_at=at,
                    ),
                    start_to_close_timeout=MAIL_STEP,
                )
                self.notices_sent.append(notice_key(kind, self.appointment_at))
                self.version += 1
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    def _should_continue_as_new(self) -> bool:
        return (
            self.calls_this_run >= rules.CALLS_PER_RUN
            or workflow.info().is_continue_as_new_suggested()
        )

    def _carried(self) -> TeleserviceTicketInput:
        """This run's input with the ticket's state, for the next run."""
        return self.request.model_copy(
            update={
                "carried": TicketCarry(
                    state=self.state,
                    opened_at=self.opened_at,
                    calls=self.calls,
                    seen_messages=self.seen_messages,
                    notices_sent=self.notices_sent,
                    acknowledged_at=self.acknowledged_at,
                    appointment_at=self.appointment_at,
                )
            }
        )

    async def _record(self) -> None:
        await workflow.execute_activity(
            record_teleservice_ticket, self.status(), start_to_close_timeout=DATABASE_STEP
        )

    async def _recorded(self) -> TeleserviceTicketStatus:
        """Wait until the loop has written this change to the ticket list; the status then."""
        version = self.version
        await workflow.wait_condition(lambda: self.recorded >= version)
        return self.status()

    def _enter(self, event: str) -> None:
        self.machine.send(event)
        self.version += 1
        workflow.upsert_search_attributes([search_attributes.FLOW_STATE.value_set(self.state)])

    def _close(self, reason: CloseReason, detail: str) -> None:
        self.closed_at = workflow.now()
        self.close_reason = reason
        self.close_detail = detail
        self._enter("close")

    # --- what the car and the other flows say -----------------------------------------------

    @workflow.signal(name=TicketSignal.ADD_CALL)
    def add_call(self, call: TicketCall) -> None:
        """A call about this item (the opening one included); a message counts once."""
        if call.message_id in self.seen_messages or self.state == "closed":
            return
        self.seen_messages = [*self.seen_messages, call.message_id][-rules.MESSAGE_IDS_KEPT :]
        self.calls = [*self.calls, call][-MAX_CALLS_KEPT:]
        self.calls_this_run += 1
        self.version += 1

    @workflow.signal(name=TicketSignal.SERVICE_ENTRY_CREATED)
    def service_entry_created(self, entry: EntryCoversItem) -> None:
        if self.state == "closed" or not covered_by_entry(self.request.item, entry.cbs_items):
            return
        self._close(CloseReason.SERVICE_ENTRY, f"service entry {entry.entry_id}")

    @workflow.signal(name=TicketSignal.ITEM_RESOLVED)
    def item_resolved(self, resolved: ItemResolvedByCar) -> None:
        if self.state == "closed":
            return
        self._close(CloseReason.RESOLVED_BY_CAR, f"reported by the car ({resolved.message_id})")

    # --- the workshop's steps ---------------------------------------------------------------

    @workflow.update(name=TicketUpdate.ACKNOWLEDGE)
    async def acknowledge(self, step: AcknowledgeInput) -> TeleserviceTicketStatus:
        """The workshop has seen the ticket: the reminders stop."""
        self.acknowledged_at = workflow.now()
        self._enter("acknowledge")
        return await self._recorded()

    @acknowledge.validator
    def _validate_acknowledge(self, step: AcknowledgeInput) -> None:
        try:
            ensure_ticket_step(self.state, "acknowledge")
        except Exception as error:
            raise domain_failure(error) from error

    @workflow.update(name=TicketUpdate.PLAN_APPOINTMENT)
    async def plan_appointment(self, step: PlanAppointmentInput) -> TeleserviceTicketStatus:
        """The appointment agreed with the driver (again: moved)."""
        self.appointment_at = step.appointment_at
        self._enter("plan_appointment")
        return await self._recorded()

    @plan_appointment.validator
    def _validate_plan(self, step: PlanAppointmentInput) -> None:
        try:
            ensure_ticket_step(self.state, "plan_appointment")
            check_appointment(step.appointment_at, workflow.now())
        except Exception as error:
            raise domain_failure(error) from error

    @workflow.update(name=TicketUpdate.CLOSE)
    async def close(self, step: CloseTicketInput) -> TeleserviceTicketStatus:
        """Closed by hand, with the reason."""
        self._close(CloseReason.BY_HAND, step.reason.strip())
        return await self._recorded()

    @close.validator
    def _validate_close(self, step: CloseTicketInput) -> None:
        try:
            ensure_ticket_step(self.state, "close")
            check_close_reason(step.reason)
        except Exception as error:
            raise domain_failure(error) from error

    @workflow.query(name=TICKET_STATUS_QUERY)
    def status(self) -> TeleserviceTicketStatus:
        request = self.request
        return TeleserviceTicketStatus(
            ticket_id=request.ticket_id,
            workflow_id=workflow.info().workflow_id,
            vin=request.vin,
            item=request.item,
            workshop_id=request.workshop_id,
            state=self.state,
            service_level=service_level(self.notices_sent),
            opened_at=self.opened_at,
            acknowledged_at=self.acknowledged_at,
            appointment_at=self.appointment_at,
            closed_at=self.closed_at,
            close_reason=self.close_reason,
            close_detail=self.close_detail,
            calls=self.calls,
            notices_sent=self.notices_sent,
        )
