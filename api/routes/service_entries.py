"""Service entries: the steps of ServiceEntryWorkflow, the maintenance log and deletion.

An entry belongs to the workshop that opened it: other workshops get 404 on every route.
Every route needs a `service_history` ticket (403 `no-access` / `access-expired`).

Steps in order: consent → details → services → create → (write-to-vehicle) → close. A step
out of order is 409 `service-entry-wrong-step` naming `expected_step`; after the flow ended,
409 `service-entry-closed`. A repeated create answers with the same entry.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from api.station_ids import StationIdField
from application.authorization import ensure_workshop_access
from application.maintenance_log import (
    EnglishInUtc,
    LogWording,
    MaintenanceLog,
    render_maintenance_log,
)
from application.workflow_calls import describe_or_absent, execute_update
from contracts.search_attributes import VIN_MEMO
from contracts.service_history import (
    SERVICE_ENTRY_DELETION_WORKFLOW,
    SERVICE_ENTRY_WORKFLOW,
    STATUS_QUERY,
    CloseInput,
    ConsentInput,
    CreateInput,
    DeletedServiceEntry,
    DetailsInput,
    ServiceEntryDeletionInput,
    ServiceEntryInput,
    ServiceEntryStatus,
    ServiceEntryUpdate,
    ServicesInput,
    WriteToVehicleInput,
    service_entry_deletion_workflow_id,
    service_entry_workflow_id,
)
from db.base import INTEGER_MAX
from domain.errors import Forbidden
from domain.service_history import (
    MAX_PLAUSIBLE_MILEAGE_KM,
    MAX_REMARK_LENGTH,
    PRINT_RULE,
    ConsentRequired,
    ConsentTextOutdated,
    EntryKind,
    EntrySource,
    MaintenanceLogNotPrintable,
    MileageBelowLastKnown,
    MileageImplausible,
    NoStationForEntry,
    NotDeletable,
    RemarkTooLong,
    ServiceDateInvalid,
    ServiceEntryClosed,
    ServiceEntryNotFound,
    ServiceItemsInvalid,
    StationNotFound,
    VehicleNotFound,
    WrongServiceEntryStep,
)
from domain.vin import VIN_PATTERN, InvalidVinGiven, parse_vin
from web.deps import (
    CurrentUser,
    ServiceHistoryAccess,
    ServiceHistoryDep,
    SettingsDep,
    StationsDep,
    TemporalDep,
)
from web.problems import problem_responses

router = APIRouter(tags=["service history"])

WORKSHOP_MEMO = "workshop_id"


class OpenEntry(BaseModel):
    vin: str = Field(
        description="17 characters; refused with the reason when invalid (`invalid-vin`)",
        json_schema_extra={"pattern": VIN_PATTERN},
    )
    kind: EntryKind = EntryKind.MAINTENANCE
    station_id: StationIdField | None = Field(
        default=None, description="The station wired to the car; needed to write into it"
    )
    key_read_id: int | None = Field(
        default=None,
        ge=1,
        le=INTEGER_MAX,
        description="The key table row the vehicle was chosen from, if any",
    )


class Consent(BaseModel):
    confirmed: bool = Field(
        description="Must be true: no consent, no entry (`consent-required`)",
        json_schema_extra={"const": True},
    )
    consent_text_version: str


class Details(BaseModel):
    mileage_km: int = Field(
        description="Refused when not plausible (`mileage-implausible`)",
        json_schema_extra={"minimum": 0, "maximum": MAX_PLAUSIBLE_MILEAGE_KM},
    )
    service_date: date
    remark: str = Field(default="", json_schema_extra={"maxLength": MAX_REMARK_LENGTH})
    odometer_exchanged: bool = False


class Services(BaseModel):
    cbs_items: list[str]


class NotFoundKeyRead(ServiceEntryNotFound):
    code = "key-read-not-found"
    title = "No such key read"


# What each step may answer besides its own rules: the entry is unknown (or another
# workshop's), the step comes out of order, or the flow has ended.
STEP_PROBLEMS = (ServiceEntryNotFound, WrongServiceEntryStep, ServiceEntryClosed)


ServiceEntryHandle = WorkflowHandle[Any, ServiceEntryStatus]


def _no_entry() -> ServiceEntryNotFound:
    """An unknown entry and another workshop's entry answer exactly alike."""
    return ServiceEntryNotFound("no service entry with this id", field="entry_id")


def _entry_uuid(entry_id: str) -> str:
    try:
        return str(uuid.UUID(entry_id))
    except ValueError:
        raise _no_entry() from None


async def _flow(
    entry_id: str, user: CurrentUser, temporal: TemporalDep
) -> tuple[ServiceEntryHandle, bool]:
    """The entry's workflow, scoped to the caller's workshop, and whether it is still open."""
    workflow_id = service_entry_workflow_id(_entry_uuid(entry_id))
    description = await describe_or_absent(temporal, workflow_id, _no_entry())
    owner = await description.memo_value(WORKSHOP_MEMO, None)
    ensure_workshop_access(user, owner, _no_entry())
    handle: ServiceEntryHandle = temporal.get_workflow_handle(
        workflow_id, result_type=ServiceEntryStatus
    )
    return handle, description.status == WorkflowExecutionStatus.RUNNING


async def _step(
    handle: ServiceEntryHandle, update: ServiceEntryUpdate, step: Any
) -> ServiceEntryStatus:
    """Apply one human step (an update with a validator) and answer with the entry's status."""
    return await execute_update(handle, update, step, ServiceEntryStatus)


async def _open_flow(entry_id: str, user: CurrentUser, temporal: TemporalDep) -> ServiceEntryHandle:
    handle, running = await _flow(entry_id, user, temporal)
    if not running:
        final: ServiceEntryStatus = await handle.result()
        raise ServiceEntryClosed(
            f"the service entry flow is {final.state}; it takes no more steps", state=final.state
        )
    return handle


@router.post(
    "/service-entries",
    status_code=201,
    response_model=ServiceEntryStatus,
    responses=problem_responses(InvalidVinGiven, VehicleNotFound, NotFoundKeyRead, StationNotFound),
)
async def open_entry(
    body: OpenEntry,
    user: CurrentUser,
    access: ServiceHistoryAccess,
    service_history: ServiceHistoryDep,
    stations: StationsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> ServiceEntryStatus:
    """Open a maintenance or repair entry for a vehicle (the flow is abandoned after 30 minutes
    without progress). The answer carries the consent text to show and its version."""
    vin = parse_vin(body.vin)
    workshop_id = user.workshop_id
    if workshop_id is None:
        raise Forbidden("service entries are made on behalf of a workshop")
    facts = await service_history.vehicle_facts(vin)
    if (
        body.key_read_id is not None
        and await service_history.key_read_of(body.key_read_id, workshop_id, vin) is None
    ):
        raise NotFoundKeyRead("no key read of this vehicle with this id", field="key_read_id")
    station_queue = None
    if body.station_id is not None:
        station = await stations.of_workshop(body.station_id, workshop_id)
        station_queue = settings.station_task_queue(station.id)
    entry_id = str(uuid.uuid4())
    handle = await temporal.start_workflow(
        SERVICE_ENTRY_WORKFLOW,
        ServiceEntryInput(
            entry_id=entry_id,
            workshop_id=workshop_id,
            kind=body.kind,
            source=EntrySource.KEY_READ if body.key_read_id else EntrySource.MANUAL,
            vehicle=facts,
            station_id=body.station_id,
            station_task_queue=station_queue,
            opened_by=user.id,
            vin_search=settings.vin_search_value(facts.vin),
        ),
        id=service_entry_workflow_id(entry_id),
        task_queue=settings.portal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        memo={WORKSHOP_MEMO: workshop_id, VIN_MEMO: facts.vin},
        result_type=ServiceEntryStatus,
    )
    return await handle.query(STATUS_QUERY, result_type=ServiceEntryStatus)


@router.get(
    "/service-entries/{entry_id}",
    response_model=ServiceEntryStatus,
    responses=problem_responses(ServiceEntryNotFound),
)
async def entry_status(
    entry_id: str, user: CurrentUser, access: ServiceHistoryAccess, temporal: TemporalDep
) -> ServiceEntryStatus:
    """Where the entry stands: state, next steps, what was entered, the vehicle transfer."""
    handle, running = await _flow(entry_id, user, temporal)
    if running:
        return await handle.query(STATUS_QUERY, result_type=ServiceEntryStatus)
    final: ServiceEntryStatus = await handle.result()
    return final


@router.post(
    "/service-entries/{entry_id}/consent",
    response_model=ServiceEntryStatus,
    responses=problem_responses(*STEP_PROBLEMS, ConsentRequired, ConsentTextOutdated),
)
async def consent(
    entry_id: str,
    body: Consent,
    user: CurrentUser,
    access: ServiceHistoryAccess,
    temporal: TemporalDep,
) -> ServiceEntryStatus:
    """The owner agreed to the data being stored and passed on ("Akkoordverklaring")."""
    handle = await _open_flow(entry_id, user, temporal)
    return await _step(
        handle,
        ServiceEntryUpdate.RECORD_CONSENT,
        ConsentInput(
            confirmed=body.confirmed,
            consent_text_version=body.consent_text_version,
            confirmed_by=user.id,
        ),
    )


@router.post(
    "/service-entries/{entry_id}/details",
    response_model=ServiceEntryStatus,
    responses=problem_responses(
        *STEP_PROBLEMS, MileageImplausible, MileageBelowLastKnown, ServiceDateInvalid, RemarkTooLong
    ),
)
async def details(
    entry_id: str,
    body: Details,
    user: CurrentUser,
    access: ServiceHistoryAccess,
    temporal: TemporalDep,
) -> ServiceEntryStatus:
    """Mileage (not below the last known one unless the odometer was exchanged), service date
    (not in the future, not before production) and a remark of at most 200 characters."""
    handle = await _open_flow(entry_id, user, temporal)
    return await _step(handle, ServiceEntryUpdate.ENTER_DETAILS, DetailsInput(**body.model_dump()))


@router.post(
    "/service-entries/{entry_id}/services",
    response_model=ServiceEntryStatus,
    responses=problem_responses(*STEP_PROBLEMS, ServiceItemsInvalid),
)
async def services(
    entry_id: str,
    body: Services,
    user: CurrentUser,
    access: ServiceHistoryAccess,
    temporal: TemporalDep,
) -> ServiceEntryStatus:
    """The CBS items performed, from `supported_cbs`."""
    handle = await _open_flow(entry_id, user, temporal)
    return await _step(
        handle, ServiceEntryUpdate.SELECT_SERVICES, ServicesInput(cbs_items=body.cbs_items)
    )


@router.post(
    "/service-entries/{entry_id}/create",
    response_model=ServiceEntryStatus,
    responses=problem_responses(*STEP_PROBLEMS),
)
async def create(
    entry_id: str, user: CurrentUser, access: ServiceHistoryAccess, temporal: TemporalDep
) -> ServiceEntryStatus:
    """Store the entry ("Invoer genereren"), once; opens the print window of the log."""
    handle = await _open_flow(entry_id, user, temporal)
    return await _step(handle, ServiceEntryUpdate.CREATE, CreateInput(created_by=user.id))


@router.post(
    "/service-entries/{entry_id}/write-to-vehicle",
    response_model=ServiceEntryStatus,
    responses=problem_responses(*STEP_PROBLEMS, NoStationForEntry),
)
async def write_to_vehicle(
    entry_id: str, user: CurrentUser, access: ServiceHistoryAccess, temporal: TemporalDep
) -> ServiceEntryStatus:
    """Write the performed items into the car at the entry's station and read them back.

    A failed transfer answers 200 with `vehicle_transfer: failed` and how to transfer later.
    """
    handle = await _open_flow(entry_id, user, temporal)
    return await _step(
        handle, ServiceEntryUpdate.WRITE_TO_VEHICLE, WriteToVehicleInput(requested_by=user.id)
    )


@router.post(
    "/service-entries/{entry_id}/close",
    response_model=ServiceEntryStatus,
    responses=problem_responses(*STEP_PROBLEMS),
)
async def close(
    entry_id: str, user: CurrentUser, access: ServiceHistoryAccess, temporal: TemporalDep
) -> ServiceEntryStatus:
    """Close the window ("Ruit sluiten"): the maintenance log can no longer be printed."""
    handle = await _open_flow(entry_id, user, temporal)
    return await _step(handle, ServiceEntryUpdate.CLOSE, CloseInput(closed_by=user.id))


@router.get(
    "/service-entries/{entry_id}/maintenance-log.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}},
        **problem_responses(ServiceEntryNotFound, MaintenanceLogNotPrintable),
    },
)
async def maintenance_log(
    entry_id: str,
    user: CurrentUser,
    access: ServiceHistoryAccess,
    service_history: ServiceHistoryDep,
    temporal: TemporalDep,
    wording: Annotated[LogWording, Depends(EnglishInUtc)],
) -> Response:
    """The maintenance log as a PDF (English, times in UTC; the console's is in the page's
    language), only from creation until the flow closes; afterwards 409
    `maintenance-log-not-printable`."""
    handle, running = await _flow(entry_id, user, temporal)
    if not running:
        raise MaintenanceLogNotPrintable(f"the flow has closed: {PRINT_RULE}", rule=PRINT_RULE)
    status = await handle.query(STATUS_QUERY, result_type=ServiceEntryStatus)
    if not status.printable:
        raise MaintenanceLogNotPrintable(
            f"the entry is {status.state}: {PRINT_RULE}", rule=PRINT_RULE, state=status.state
        )
    stored = await service_history.entry_for_log(status.entry_id)
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
    return Response(
        render_maintenance_log(log, wording),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="maintenance-log-{entry.id}.pdf"'},
    )


@router.delete(
    "/service-entries/{entry_id}",
    response_model=DeletedServiceEntry,
    responses=problem_responses(ServiceEntryNotFound, NotDeletable),
)
async def delete_entry(
    entry_id: str,
    user: CurrentUser,
    access: ServiceHistoryAccess,
    service_history: ServiceHistoryDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> DeletedServiceEntry:
    """Delete a stored entry: only on the day it was created, when its service date is that
    day, by the workshop that created it (else 409 `service-entry-not-deletable` with `rule`).
    An audit record is kept."""
    wanted = _entry_uuid(entry_id)
    entry = await service_history.find_entry(wanted)
    absent = ServiceEntryNotFound("no stored service entry with this id", field="entry_id")
    if entry is None:
        raise absent
    owner = entry.workshop_id
    ensure_workshop_access(user, owner, absent)
    return await temporal.execute_workflow(
        SERVICE_ENTRY_DELETION_WORKFLOW,
        ServiceEntryDeletionInput(
            entry_id=wanted,
            workshop_id=user.workshop_id or owner,
            deleted_by=user.id,
            vin_search=settings.vin_search_value(entry.vin),
        ),
        id=service_entry_deletion_workflow_id(wanted),
        task_queue=settings.portal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        memo={VIN_MEMO: entry.vin},
        result_type=DeletedServiceEntry,
    )
