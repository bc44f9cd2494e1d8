"""The service booklet (KaSIO): opening a maintenance or repair entry, its steps, its
maintenance log and its deletion (the key table and key reads: `application.key_reads`). The
API's routes and the console's pages call these.

One client per flow: every call into an entry's `ServiceEntryWorkflow` is a single Temporal
call. Opening is update-with-start (the start and the entry's first status in one round trip);
each step is one update whose validator checks the caller (`StepCaller`: the entry's own
workshop, or an administrator) before the entry's state, so another workshop's entry answers
exactly like an unknown one, and nothing is described first. Reads are one query, checked
against the same rule (`domain.service_history.ensure_entry_caller`).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from application.authorization import ensure_workshop_access
from application.maintenance_log import LogWording, MaintenanceLog, render_maintenance_log
from application.resources import AppResources
from application.workflow_calls import (
    RETRIED_UPDATE_STATUSES,
    UPDATE_ATTEMPTS,
    execute_update,
)
from contracts import search_attributes
from contracts.errors import domain_error_from
from contracts.service_history import (
    SERVICE_ENTRY_DELETION_WORKFLOW,
    SERVICE_ENTRY_WORKFLOW,
    STATUS_QUERY,
    CloseInput,
    ConsentInput,
    CreateInput,
    DeletedServiceEntry,
    DetailsInput,
    EntryDetails,
    OpenInput,
    ServiceEntryDeletionInput,
    ServiceEntryInput,
    ServiceEntryStatus,
    ServiceEntryUpdate,
    ServicesInput,
    StepCaller,
    WriteToVehicleInput,
    service_entry_deletion_workflow_id,
    service_entry_workflow_id,
)
from db.models import User
from db.service_history import ServiceHistoryRepository
from db.stations import StationRepository
from domain.accounts import Role
from domain.errors import Forbidden
from domain.service_history import (
    PRINT_RULE,
    PRINTABLE_STATES,
    EntryKind,
    EntrySource,
    MaintenanceLogNotPrintable,
    ServiceEntryClosed,
    ServiceEntryNotFound,
    WrongServiceEntryStep,
    ensure_entry_caller,
    no_such_entry,
)
from domain.vin import parse_vin
from settings import Settings


class KeyReadNotFound(ServiceEntryNotFound):
    code = "key-read-not-found"
    title = "No such key read"


ServiceEntryHandle = WorkflowHandle[Any, ServiceEntryStatus]

# The states in which the services are selected already (a create stores the entry once).
SELECTED_OR_CREATED = frozenset({"services_selected", *PRINTABLE_STATES})

# The state a new entry starts in (domain.service_history.ServiceEntryMachine), written as its
# FlowState at the start.
OPENED = "opened"


def step_caller(user: User) -> StepCaller:
    """Who takes a step, as the entry's update validators check it."""
    return StepCaller(workshop_id=user.workshop_id, administrator=user.role == Role.ADMINISTRATOR)


def _entry_uuid(entry_id: str) -> str:
    try:
        return str(uuid.UUID(entry_id))
    except ValueError:
        raise no_such_entry() from None


def _handle(temporal: Client, entry_id: str) -> ServiceEntryHandle:
    return temporal.get_workflow_handle(
        service_entry_workflow_id(_entry_uuid(entry_id)), result_type=ServiceEntryStatus
    )


# --- opening an entry ----------------------------------------------------------------------------


async def open_entry(
    resources: AppResources,
    caller: User,
    vin: str,
    kind: EntryKind = EntryKind.MAINTENANCE,
    station_id: str | None = None,
    key_read_id: int | None = None,
) -> ServiceEntryStatus:
    """Open a maintenance or repair entry for a vehicle (the flow is abandoned after 30 minutes
    without progress): the VIN, the key read and the station are checked, the vehicle's facts
    read, then the entry's ServiceEntryWorkflow starts and answers (`start_entry`)."""
    settings = resources.settings
    checked_vin = parse_vin(vin)
    workshop_id = caller.workshop_id
    if workshop_id is None:
        raise Forbidden("service entries are made on behalf of a workshop")
    history = ServiceHistoryRepository(resources.session_factory)
    facts = await history.vehicle_facts(checked_vin)
    if (
        key_read_id is not None
        and await history.key_read_of(key_read_id, workshop_id, checked_vin) is None
    ):
        raise KeyReadNotFound("no key read of this vehicle with this id", field="key_read_id")
    station_queue = None
    if station_id is not None:
        station = await StationRepository(resources.session_factory).of_workshop(
            station_id, workshop_id
        )
        station_queue = settings.station_task_queue(station.id)
    entry_id = str(uuid.uuid4())
    opening = ServiceEntryInput(
        entry_id=entry_id,
        workshop_id=workshop_id,
        kind=kind,
        source=EntrySource.KEY_READ if key_read_id else EntrySource.MANUAL,
        vehicle=facts,
        station_id=station_id,
        station_task_queue=station_queue,
        opened_by=caller.id,
        vin_search=settings.vin_search_value(facts.vin),
    )
    return await start_entry(resources.temporal, settings, opening, step_caller(caller))


async def start_entry(
    temporal: Client, settings: Settings, opening: ServiceEntryInput, caller: StepCaller
) -> ServiceEntryStatus:
    """What opening an entry asks of Temporal, once checked: one update-with-start. The flow
    starts with its search attributes (WorkshopId, FlowState, Vin, StationId), so the
    scoping rule holds from its first moment, and its first status comes back in the same
    call. (`open_entry` checks and reads first; the bench calls this alone.)"""
    attributes: list[SearchAttributePair[Any]] = [
        SearchAttributePair(search_attributes.WORKSHOP_ID, opening.workshop_id),
        SearchAttributePair(search_attributes.FLOW_STATE, OPENED),
    ]
    if opening.vin_search is not None:
        attributes.append(SearchAttributePair(search_attributes.VIN, opening.vin_search))
    if opening.station_id is not None:
        attributes.append(SearchAttributePair(search_attributes.STATION_ID, opening.station_id))
    update_id = str(uuid.uuid4())
    for attempt in range(UPDATE_ATTEMPTS):
        # One operation per attempt (an operation is sent once); the same workflow id and
        # update id, so a retry after an aborted attempt finds what that one did.
        start: WithStartWorkflowOperation[Any, ServiceEntryStatus] = WithStartWorkflowOperation(
            SERVICE_ENTRY_WORKFLOW,
            opening,
            id=service_entry_workflow_id(opening.entry_id),
            task_queue=settings.portal_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            memo={search_attributes.VIN_MEMO: opening.vehicle.vin},
            search_attributes=TypedSearchAttributes(attributes),
            result_type=ServiceEntryStatus,
        )
        try:
            status: ServiceEntryStatus = await temporal.execute_update_with_start_workflow(
                ServiceEntryUpdate.OPEN,
                OpenInput(caller=caller),
                start_workflow_operation=start,
                id=update_id,
                result_type=ServiceEntryStatus,
            )
        except WorkflowUpdateFailedError as failure:
            raise domain_error_from(failure) or failure from failure
        except RPCError as error:
            # Aborted or refused for now (application.workflow_calls): ask again.
            if error.status not in RETRIED_UPDATE_STATUSES or attempt == UPDATE_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.1 * 2**attempt)
            continue
        return status
    raise AssertionError("unreachable")


# --- reading an entry ----------------------------------------------------------------------------


async def entry_status(resources: AppResources, caller: User, entry_id: str) -> ServiceEntryStatus:
    """Where the entry stands: state, next steps, what was entered, the vehicle transfer. One
    query, open or ended; another workshop's entry is `service-entry-not-found`, exactly like
    an unknown id."""
    handle = _handle(resources.temporal, entry_id)
    try:
        status: ServiceEntryStatus = await handle.query(
            STATUS_QUERY, result_type=ServiceEntryStatus
        )
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        raise no_such_entry() from error
    ensure_entry_caller(status.workshop_id, caller.workshop_id, caller.role == Role.ADMINISTRATOR)
    return status


# --- the steps -----------------------------------------------------------------------------------


async def _step(
    resources: AppResources, caller: User, entry_id: str, update: ServiceEntryUpdate, step: Any
) -> ServiceEntryStatus:
    """One human step: one update, which its validator checks (caller first, then the state
    and the rules). Only when Temporal has no running entry of this id does a query tell an
    ended entry (409 `service-entry-closed`) from an unknown one."""
    handle = _handle(resources.temporal, entry_id)
    try:
        return await execute_update(handle, update, step, ServiceEntryStatus)
    except WorkflowUpdateFailedError as failure:
        raise domain_error_from(failure) or failure from failure
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        status = await entry_status(resources, caller, entry_id)
        raise ServiceEntryClosed(
            f"the service entry flow is {status.state}; it takes no more steps",
            state=status.state,
        ) from error


async def record_consent(
    resources: AppResources,
    caller: User,
    entry_id: str,
    confirmed: bool,
    consent_text_version: str,
) -> ServiceEntryStatus:
    """The owner agreed to the data being stored and passed on ("Akkoordverklaring"), for the
    consent text version shown."""
    return await _step(
        resources,
        caller,
        entry_id,
        ServiceEntryUpdate.RECORD_CONSENT,
        ConsentInput(
            confirmed=confirmed,
            consent_text_version=consent_text_version,
            confirmed_by=caller.id,
            caller=step_caller(caller),
        ),
    )


async def enter_details(
    resources: AppResources, caller: User, entry_id: str, details: EntryDetails
) -> ServiceEntryStatus:
    """Mileage (not below the last known one unless the odometer was exchanged), service date
    (not in the future, not before production) and a remark of at most 200 characters."""
    return await _step(
        resources,
        caller,
        entry_id,
        ServiceEntryUpdate.ENTER_DETAILS,
        DetailsInput(**details.model_dump(), caller=step_caller(caller)),
    )


async def select_services(
    resources: AppResources, caller: User, entry_id: str, cbs_items: list[str]
) -> ServiceEntryStatus:
    """The CBS items performed, from the vehicle's `supported_cbs`."""
    return await _step(
        resources,
        caller,
        entry_id,
        ServiceEntryUpdate.SELECT_SERVICES,
        ServicesInput(cbs_items=cbs_items, caller=step_caller(caller)),
    )


async def create_entry(resources: AppResources, caller: User, entry_id: str) -> ServiceEntryStatus:
    """Store the entry ("Invoer genereren"), once; opens the print window of the log."""
    return await _step(
        resources,
        caller,
        entry_id,
        ServiceEntryUpdate.CREATE,
        CreateInput(created_by=caller.id, caller=step_caller(caller)),
    )


async def write_to_vehicle(
    resources: AppResources, caller: User, entry_id: str
) -> ServiceEntryStatus:
    """Write the performed items into the car at the entry's station and read them back. A
    failed transfer is no error: the status says `failed` and how to transfer later."""
    return await _step(
        resources,
        caller,
        entry_id,
        ServiceEntryUpdate.WRITE_TO_VEHICLE,
        WriteToVehicleInput(requested_by=caller.id, caller=step_caller(caller)),
    )


async def close_entry(resources: AppResources, caller: User, entry_id: str) -> ServiceEntryStatus:
    """Close the window ("Ruit sluiten"): the maintenance log can no longer be printed."""
    return await _step(
        resources,
        caller,
        entry_id,
        ServiceEntryUpdate.CLOSE,
        CloseInput(closed_by=caller.id, caller=step_caller(caller)),
    )


async def finish_entry(
    resources: AppResources,
    caller: User,
    entry_id: str,
    cbs_items: list[str],
    write_into_vehicle: bool,
) -> ServiceEntryStatus:
    """The console's "create": the services performed (unless the entry has them already),
    the entry created, then written into the car when asked; one update each.

    A refused step stops here with its error, and the steps already taken stay taken.
    """
    try:
        await select_services(resources, caller, entry_id, cbs_items)
    except WrongServiceEntryStep as refused:
        # Selected before (a create that failed after it, or a second press): the create
        # answers with the entry, stored once.
        if refused.context.get("state") not in SELECTED_OR_CREATED:
            raise
    status = await create_entry(resources, caller, entry_id)
    if write_into_vehicle and "write-to-vehicle" in status.next_steps:
        status = await write_to_vehicle(resources, caller, entry_id)
    return status


# --- the maintenance log -------------------------------------------------------------------------


@dataclass(frozen=True)
class MaintenanceLogDocument:
    filename: str
    pdf: bytes


async def maintenance_log(
    resources: AppResources, caller: User, entry_id: str, wording: LogWording | None = None
) -> MaintenanceLogDocument:
    """The maintenance log as a PDF in `wording`'s language and formats (default: English,
    times in UTC), only from creation until the flow closes; afterwards 409
    `maintenance-log-not-printable`."""
    status = await entry_status(resources, caller, entry_id)
    if not status.printable:
        raise MaintenanceLogNotPrintable(
            f"the entry is {status.state}: {PRINT_RULE}", rule=PRINT_RULE, state=status.state
        )
    stored = await ServiceHistoryRepository(resources.session_factory).entry_for_log(
        status.entry_id
    )
    if stored is None:  # deleted meanwhile
        raise ServiceEntryNotFound("the service entry was deleted", field="entry_id")
    entry, vehicle = stored.entry, stored.vehicle
    log = MaintenanceLog(
        entry_id=entry.id,
        kind=entry.kind,
        vin=entry.vin,
        vehicle=f"{vehicle.brand} {vehicle.model}",
        workshop=stored.workshop_name,
        service_date=entry.service_date,
        mileage_km=entry.mileage_km,
        odometer_exchanged=entry.odometer_exchanged,
        cbs_items=list(entry.cbs_items),
        remark=entry.remark,
        created_at=entry.created_at,
        consent_text_version=entry.consent_text_version,
        written_to_vehicle_at=entry.written_to_vehicle_at,
    )
    return MaintenanceLogDocument(
        filename=f"maintenance-log-{entry.id}.pdf", pdf=render_maintenance_log(log, wording)
    )


# --- deleting a stored entry ---------------------------------------------------------------------


async def delete_entry(resources: AppResources, caller: User, entry_id: str) -> DeletedServiceEntry:
    """Delete a stored entry: only on the day it was created, when its service date is that
    day, by the workshop that created it (else 409 `service-entry-not-deletable` with `rule`;
    the deletion workflow decides on its clock). An audit record is kept."""
    settings = resources.settings
    wanted = _entry_uuid(entry_id)
    entry = await ServiceHistoryRepository(resources.session_factory).find_entry(wanted)
    absent = ServiceEntryNotFound("no stored service entry with this id", field="entry_id")
    if entry is None:
        raise absent
    owner = entry.workshop_id
    ensure_workshop_access(caller, owner, absent)
    try:
        deleted: DeletedServiceEntry = await resources.temporal.execute_workflow(
            SERVICE_ENTRY_DELETION_WORKFLOW,
            ServiceEntryDeletionInput(
                entry_id=wanted,
                workshop_id=caller.workshop_id or owner,
                deleted_by=caller.id,
                vin_search=settings.vin_search_value(entry.vin),
            ),
            id=service_entry_deletion_workflow_id(wanted),
            task_queue=settings.portal_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            memo={search_attributes.VIN_MEMO: entry.vin},
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(search_attributes.WORKSHOP_ID, caller.workshop_id or owner)]
            ),
            result_type=DeletedServiceEntry,
        )
    except WorkflowFailureError as failure:
        raise domain_error_from(failure) or failure from failure
    return deleted
