"""ServiceEntryWorkflow: one maintenance or repair entry of a vehicle's digital service booklet.

opened → consent_recorded → details_entered → services_selected → created
→ (written_to_vehicle) → closed; or abandoned after 30 minutes without progress before the
entry was created (nothing is stored then). Every step is an update with a validator, so a
step out of order or a broken rule is refused before it reaches history. After creation the
flow stays open for the print window (15 minutes) or until the technician closes it; the
maintenance log can be printed only meanwhile.

ServiceEntryDeletionWorkflow deletes a stored entry when the rules allow it, on the workflow's
clock (domain.service_history.check_deletable).

Workflow ids: `service-entry-<uuid>`, `service-entry-deletion-<uuid>`.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes
    from contracts.errors import as_domain_failure, domain_failure
    from contracts.service_history import (
        SERVICE_ENTRY_DELETION_WORKFLOW,
        SERVICE_ENTRY_WORKFLOW,
        STATUS_QUERY,
        CloseInput,
        ConsentInput,
        ConsentRecord,
        CreateInput,
        DeletedServiceEntry,
        DeleteServiceEntryInput,
        DetailsInput,
        EntryDetails,
        LoadEntryFactsInput,
        MarkWrittenInput,
        OpenInput,
        RecordServiceEntryInput,
        ServiceEntryDeletionInput,
        ServiceEntryInput,
        ServiceEntryStatus,
        ServiceEntryUpdate,
        ServicesInput,
        StepCaller,
        VehicleTransfer,
        WriteServiceItemsInput,
        WriteToVehicleInput,
        delete_service_entry,
        load_service_entry_facts,
        mark_written_to_vehicle,
        record_service_entry,
        write_service_items_to_vehicle,
    )
    from contracts.teleservices import (
        EntryCoversItem,
        FindOpenTicketsInput,
        TicketSignal,
        find_open_teleservice_tickets,
    )
    from domain.catalogue import Service
    from domain.service_history import (
        ABANDON_AFTER,
        NEXT_STEPS,
        OPEN_STATES,
        PRINT_WINDOW,
        PRINTABLE_STATES,
        NoStationForEntry,
        ServiceEntryMachine,
        ServiceEntryState,
        VehicleServiceItem,
        check_consent,
        check_deletable,
        check_mileage,
        check_remark,
        check_service_date,
        check_service_items,
        ensure_entry_caller,
        ensure_step,
    )
    from domain.teleservices import covered_by_entry
    from workflows.access_check import check_access
    from workflows.vin_search import vin_attributes

DATABASE_STEP = timedelta(seconds=30)
STATION_PICKUP = timedelta(seconds=20)  # a station that does not take the task by then is off
VEHICLE_WRITE = timedelta(seconds=60)
VEHICLE_WRITE_RETRY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1))
# Entries created since tell the car's open teleservice tickets they cover (issue #24); the
# flows recorded before made no such calls.
TELL_TELESERVICE_TICKETS = "tell-teleservice-tickets"


@workflow.defn(name=SERVICE_ENTRY_WORKFLOW)
class ServiceEntryWorkflow:
    @workflow.init
    def __init__(self, request: ServiceEntryInput) -> None:
        self.request = request
        self.machine = ServiceEntryMachine()
        self.progress = 0
        self.busy = 0
        self.creating = False
        self.close_requested = False
        self.consent: ConsentRecord | None = None
        self.details: EntryDetails | None = None
        self.cbs_items: list[str] = []
        self.created_at: datetime | None = None
        self.vehicle_transfer: VehicleTransfer = "not_requested"
        self.vehicle_transfer_detail: str | None = None
        self.vehicle_items: list[VehicleServiceItem] = []

    @property
    def state(self) -> ServiceEntryState:
        return cast(ServiceEntryState, self.machine.current_state_value)

    # --- the process ------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: ServiceEntryInput) -> ServiceEntryStatus:
        attributes = [
            *vin_attributes(request.vin_search, request.vehicle.vin),
            search_attributes.WORKSHOP_ID.value_set(request.workshop_id),
            search_attributes.FLOW_STATE.value_set(self.state),
        ]
        if request.station_id:
            attributes.append(search_attributes.STATION_ID.value_set(request.station_id))
        # The API starts an entry with these (application.service_history.open_entry), so the
        # scoping rule holds from the first moment; write only what the start did not carry.
        # No patch is needed: the choice follows from the start event, so an entry started
        # before without them (tests/histories/*-before-search-attributes-at-start.json)
        # replays its one upsert.
        given = workflow.info().typed_search_attributes
        missing = [a for a in attributes if given.get(a.key) != a.value]
        if missing:
            workflow.upsert_search_attributes(missing)

        while self.state in OPEN_STATES:
            seen = self.progress
            try:
                await workflow.wait_condition(
                    lambda seen=seen: self.progress != seen or self.state not in OPEN_STATES,  # type: ignore[misc]
                    timeout=ABANDON_AFTER,
                )
            except TimeoutError:
                if self.busy:  # a create is being stored: that is progress
                    continue
                self._enter("abandon")
                return self.status()

        assert self.created_at is not None
        if workflow.patched(TELL_TELESERVICE_TICKETS):
            await self._tell_teleservice_tickets()
        left = self.created_at + PRINT_WINDOW - workflow.now()
        if left > timedelta(0):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self.close_requested, timeout=left)
        await workflow.wait_condition(lambda: not self.busy)
        self._enter("close_flow")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    def _enter(self, event: str) -> None:
        self.machine.send(event)
        self.progress += 1
        workflow.upsert_search_attributes([search_attributes.FLOW_STATE.value_set(self.state)])

    async def _tell_teleservice_tickets(self) -> None:
        """Signal each open teleservice ticket of the car that this entry covers: the ticket
        closes itself (workflows.teleservice_ticket)."""
        request = self.request
        found = await workflow.execute_activity(
            find_open_teleservice_tickets,
            FindOpenTicketsInput(vin=request.vehicle.vin),
            start_to_close_timeout=DATABASE_STEP,
        )
        covers = EntryCoversItem(
            entry_id=request.entry_id, workshop_id=request.workshop_id, cbs_items=self.cbs_items
        )
        for ticket in found.tickets:
            if not covered_by_entry(ticket.item, self.cbs_items):
                continue
            handle = workflow.get_external_workflow_handle(ticket.workflow_id)
            try:
                await handle.signal(TicketSignal.SERVICE_ENTRY_CREATED, covers)
            except Exception:  # closed meanwhile (the list lags the flow): nothing to tell
                workflow.logger.info("teleservice ticket %s no longer open", ticket.ticket_id)

    async def _check_entitlement(self) -> None:
        with as_domain_failure():
            await check_access(self.request.workshop_id, Service.SERVICE_HISTORY)

    def _ensure_caller(self, caller: StepCaller) -> None:
        """Every validator's first check, before the entry's state says anything."""
        ensure_entry_caller(self.request.workshop_id, caller.workshop_id, caller.administrator)

    # --- human steps ------------------------------------------------------------------------

    @workflow.update(name=ServiceEntryUpdate.OPEN)
    async def open_entry(self, step: OpenInput) -> ServiceEntryStatus:
        """Sent with the start (update-with-start): the new entry's status in the same call."""
        return self.status()

    @open_entry.validator
    def _validate_open(self, step: OpenInput) -> None:
        with as_domain_failure():
            self._ensure_caller(step.caller)

    @workflow.update(name=ServiceEntryUpdate.RECORD_CONSENT)
    async def record_consent(self, step: ConsentInput) -> ServiceEntryStatus:
        """The technician confirms the owner's consent to storing and passing on the data."""
        self.consent = ConsentRecord(
            confirmed_by=step.confirmed_by,
            confirmed_at=workflow.now(),
            consent_text_version=step.consent_text_version,
        )
        self._enter("record_consent")
        return self.status()

    @record_consent.validator
    def _validate_consent(self, step: ConsentInput) -> None:
        with as_domain_failure():
            self._ensure_caller(step.caller)
            ensure_step(self.state, "consent")
            check_consent(step.confirmed, step.consent_text_version)

    @workflow.update(name=ServiceEntryUpdate.ENTER_DETAILS)
    async def enter_details(self, step: DetailsInput) -> ServiceEntryStatus:
        """Mileage, service date and remark."""
        self.details = EntryDetails.model_validate(step.model_dump(exclude={"caller"}))
        self._enter("enter_details")
        return self.status()

    @enter_details.validator
    def _validate_details(self, step: DetailsInput) -> None:
        vehicle = self.request.vehicle
        with as_domain_failure():
            self._ensure_caller(step.caller)
            ensure_step(self.state, "details")
            check_mileage(step.mileage_km, vehicle.last_known_mileage_km, step.odometer_exchanged)
            check_service_date(step.service_date, workflow.now().date(), vehicle.production_date)
            check_remark(step.remark)

    @workflow.update(name=ServiceEntryUpdate.SELECT_SERVICES)
    async def select_services(self, step: ServicesInput) -> ServiceEntryStatus:
        """The CBS items performed, from those the vehicle supports."""
        self.cbs_items = list(step.cbs_items)
        self._enter("select_services")
        return self.status()

    @select_services.validator
    def _validate_services(self, step: ServicesInput) -> None:
        with as_domain_failure():
            self._ensure_caller(step.caller)
            ensure_step(self.state, "services")
            assert self.details is not None
            check_service_items(
                step.cbs_items,
                self.request.vehicle.supported_cbs,
                self.request.kind,
                self.details.remark,
            )

    @workflow.update(name=ServiceEntryUpdate.CREATE)
    async def create(self, step: CreateInput) -> ServiceEntryStatus:
        """Store the entry, exactly once: a repeated create answers with the same entry."""
        while True:
            if self.state != "services_selected":
                return self.status()
            if not self.creating:
                break
            await workflow.wait_condition(lambda: not self.creating)
        self.creating = True
        self.busy += 1
        try:
            await self._check_entitlement()
            assert self.consent is not None and self.details is not None
            request, details = self.request, self.details
            with as_domain_failure():
                stored = await workflow.execute_activity(
                    record_service_entry,
                    RecordServiceEntryInput(
                        entry_id=request.entry_id,
                        vin=request.vehicle.vin,
                        workshop_id=request.workshop_id,
                        station_id=request.station_id,
                        kind=request.kind,
                        source=request.source,
                        service_date=details.service_date,
                        mileage_km=details.mileage_km,
                        odometer_exchanged=details.odometer_exchanged,
                        remark=details.remark,
                        cbs_items=self.cbs_items,
                        consent=self.consent,
                        created_by=step.created_by,
                        created_at=workflow.now(),
                    ),
                    start_to_close_timeout=DATABASE_STEP,
                )
            self.created_at = stored.created_at
            self._enter("create_entry")
        finally:
            self.creating = False
            self.busy -= 1
        return self.status()

    @create.validator
    def _validate_create(self, step: CreateInput) -> None:
        with as_domain_failure():
            self._ensure_caller(step.caller)
            if self.state in PRINTABLE_STATES:
                return  # idempotent: answered with the entry already created
            ensure_step(self.state, "create")

    @workflow.update(name=ServiceEntryUpdate.WRITE_TO_VEHICLE)
    async def write_to_vehicle(self, step: WriteToVehicleInput) -> ServiceEntryStatus:
        """Reset the performed items in the car over the station and read them back.

        A failure leaves the entry stored and says how to transfer it later.
        """
        request = self.request
        assert self.details is not None
        self.busy += 1
        try:
            await self._check_entitlement()
            try:
                result = await workflow.execute_activity(
                    write_service_items_to_vehicle,
                    WriteServiceItemsInput(
                        entry_id=request.entry_id,
                        vin=request.vehicle.vin,
                        cbs_items=self.cbs_items,
                        service_date=self.details.service_date,
                    ),
                    task_queue=request.station_task_queue,
                    schedule_to_start_timeout=STATION_PICKUP,
                    start_to_close_timeout=VEHICLE_WRITE,
                    retry_policy=VEHICLE_WRITE_RETRY,
                )
            except ActivityError as error:
                self.vehicle_transfer = "failed"
                self.vehicle_transfer_detail = _transfer_failure(error, request)
                return self.status()
            await workflow.execute_activity(
                mark_written_to_vehicle,
                MarkWrittenInput(entry_id=request.entry_id, at=workflow.now()),
                start_to_close_timeout=DATABASE_STEP,
            )
            self.vehicle_items = result.items_after
            self.vehicle_transfer = "written"
            self.vehicle_transfer_detail = None
            self._enter("write_to_vehicle")
        finally:
            self.busy -= 1
        return self.status()

    @write_to_vehicle.validator
    def _validate_write(self, step: WriteToVehicleInput) -> None:
        with as_domain_failure():
            self._ensure_caller(step.caller)
            ensure_step(self.state, "write-to-vehicle")
            if not self.request.station_id or not self.request.station_task_queue:
                raise NoStationForEntry(
                    "the entry was opened without station_id; transfer it with a station",
                    field="station_id",
                )
            if self.busy:
                raise NoStationForEntry(
                    "the station is already writing this entry", field="station_id"
                )

    @workflow.update(name=ServiceEntryUpdate.CLOSE)
    async def close(self, step: CloseInput) -> ServiceEntryStatus:
        """The technician closes the window ("Ruit sluiten"): the log can no longer be printed."""
        self.close_requested = True
        await workflow.wait_condition(lambda: self.state == "closed")
        return self.status()

    @close.validator
    def _validate_close(self, step: CloseInput) -> None:
        with as_domain_failure():
            self._ensure_caller(step.caller)
            ensure_step(self.state, "close")

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> ServiceEntryStatus:
        request = self.request
        return ServiceEntryStatus(
            entry_id=request.entry_id,
            kind=request.kind,
            source=request.source,
            vin=request.vehicle.vin,
            workshop_id=request.workshop_id,
            station_id=request.station_id,
            state=self.state,
            next_steps=list(NEXT_STEPS.get(self.state, ())),
            consent=self.consent,
            details=self.details,
            cbs_items=self.cbs_items,
            supported_cbs=request.vehicle.supported_cbs,
            created_at=self.created_at,
            print_window_closes_at=self.created_at + PRINT_WINDOW if self.created_at else None,
            printable=self.state in PRINTABLE_STATES,
            vehicle_transfer=self.vehicle_transfer,
            vehicle_transfer_detail=self.vehicle_transfer_detail,
            vehicle_items=self.vehicle_items,
        )


def _transfer_failure(error: ActivityError, request: ServiceEntryInput) -> str:
    cause = error.cause
    if isinstance(cause, ActivityTimeoutError):
        reason = f"station {request.station_id} did not answer"
    else:
        reason = str(cause or error)
    return (
        f"The entry is stored but was not written into the vehicle ({reason}). Transfer it "
        f"later: POST /service-entries/{request.entry_id}/write-to-vehicle again while this "
        "window is open, or transfer the service history into the vehicle with ISTA."
    )


# --- deletion --------------------------------------------------------------------------------


@workflow.defn(name=SERVICE_ENTRY_DELETION_WORKFLOW)
class ServiceEntryDeletionWorkflow:
    """Delete a stored entry on the day of its creation (the workflow's clock decides)."""

    @workflow.run
    async def run(self, request: ServiceEntryDeletionInput) -> DeletedServiceEntry:
        workflow.upsert_search_attributes(
            [
                search_attributes.WORKSHOP_ID.value_set(request.workshop_id),
                search_attributes.FLOW_STATE.value_set("deleting"),
            ]
        )
        with as_domain_failure():
            await check_access(request.workshop_id, Service.SERVICE_HISTORY)
            facts = await workflow.execute_activity(
                load_service_entry_facts,
                LoadEntryFactsInput(entry_id=request.entry_id),
                start_to_close_timeout=DATABASE_STEP,
            )
        vin = vin_attributes(request.vin_search, facts.vin)
        if vin:
            workflow.upsert_search_attributes(vin)
        try:
            check_deletable(
                facts.created_at.date(),
                facts.service_date,
                workflow.now().date(),
                facts.workshop_id,
                request.workshop_id,
            )
        except Exception as error:
            workflow.upsert_search_attributes([search_attributes.FLOW_STATE.value_set("refused")])
            raise domain_failure(error) from error
        with as_domain_failure():
            deleted = await workflow.execute_activity(
                delete_service_entry,
                DeleteServiceEntryInput(
                    entry_id=request.entry_id,
                    deleted_by=request.deleted_by,
                    workshop_id=request.workshop_id,
                    at=workflow.now(),
                ),
                start_to_close_timeout=DATABASE_STEP,
            )
        workflow.upsert_search_attributes([search_attributes.FLOW_STATE.value_set("deleted")])
        return deleted
