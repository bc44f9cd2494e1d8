"""The service booklet (KaSIO): the entry and deletion flows and the activities they call."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field
from temporalio import activity

from domain.service_history import (
    CONSENT_TEXT,
    CONSENT_TEXT_VERSION,
    EntryKind,
    EntrySource,
    ServiceEntryState,
    Step,
    VehicleServiceItem,
)

# --- ServiceEntryWorkflow ---------------------------------------------------------------------

SERVICE_ENTRY_WORKFLOW = "ServiceEntryWorkflow"


def service_entry_workflow_id(entry_id: str) -> str:
    return f"service-entry-{entry_id}"


class ServiceEntryUpdate(StrEnum):
    OPEN = "open"
    RECORD_CONSENT = "record_consent"
    ENTER_DETAILS = "enter_details"
    SELECT_SERVICES = "select_services"
    CREATE = "create"
    WRITE_TO_VEHICLE = "write_to_vehicle"
    CLOSE = "close"


STATUS_QUERY = "status"

VehicleTransfer = Literal["not_requested", "written", "failed"]


class VehicleFacts(BaseModel):
    """What the steps are checked against, read from the vehicle record when the flow opens."""

    vin: str
    brand: str
    model: str
    production_date: date
    last_known_mileage_km: int
    supported_cbs: list[str]


class ServiceEntryInput(BaseModel):
    entry_id: str
    workshop_id: str
    kind: EntryKind
    source: EntrySource = EntrySource.MANUAL
    vehicle: VehicleFacts
    station_id: str | None = None
    station_task_queue: str | None = None
    opened_by: str
    # The Vin search attribute's value (contracts.search_attributes), computed by the API: the
    # workflow holds no key. Entries opened before this field existed replay without it.
    vin_search: str | None = None


class StepCaller(BaseModel):
    """Who sends a step, as the client vouches for it: every update's validator lets through
    only the entry's own workshop, or an administrator (the one scoping rule of the flow,
    the one `WorkshopId` holds). The default, nobody, is refused."""

    workshop_id: str | None = None
    administrator: bool = False


class OpenInput(BaseModel):
    """The update sent with the start (update-with-start): answers the new entry's status."""

    caller: StepCaller = StepCaller()


class ConsentInput(BaseModel):
    confirmed: bool = Field(description="The owner agreed to the data being stored and passed on")
    consent_text_version: str = Field(description="The version of the consent text shown")
    confirmed_by: str = ""
    caller: StepCaller = StepCaller()


class EntryDetails(BaseModel):
    mileage_km: int
    service_date: date
    remark: str = ""
    odometer_exchanged: bool = Field(
        default=False, description="A documented odometer (instrument cluster) exchange"
    )


class DetailsInput(EntryDetails):
    caller: StepCaller = StepCaller()


class ServicesInput(BaseModel):
    cbs_items: list[str] = Field(description="CBS item ids performed, e.g. engine_oil")
    caller: StepCaller = StepCaller()


class CreateInput(BaseModel):
    created_by: str = ""
    caller: StepCaller = StepCaller()


class WriteToVehicleInput(BaseModel):
    requested_by: str = ""
    caller: StepCaller = StepCaller()


class CloseInput(BaseModel):
    closed_by: str = ""
    caller: StepCaller = StepCaller()


class ConsentRecord(BaseModel):
    confirmed_by: str
    confirmed_at: datetime
    consent_text_version: str


class ServiceEntryStatus(BaseModel):
    entry_id: str
    kind: EntryKind
    source: EntrySource
    vin: str
    workshop_id: str
    station_id: str | None
    state: ServiceEntryState
    next_steps: list[Step]
    consent_text_version: str = CONSENT_TEXT_VERSION
    consent_text: str = CONSENT_TEXT
    consent: ConsentRecord | None = None
    details: EntryDetails | None = None
    cbs_items: list[str] = []
    supported_cbs: list[str] = []
    created_at: datetime | None = None
    print_window_closes_at: datetime | None = None
    printable: bool = False
    vehicle_transfer: VehicleTransfer = "not_requested"
    vehicle_transfer_detail: str | None = None
    vehicle_items: list[VehicleServiceItem] = []


# --- ServiceEntryDeletionWorkflow -------------------------------------------------------------

SERVICE_ENTRY_DELETION_WORKFLOW = "ServiceEntryDeletionWorkflow"


def service_entry_deletion_workflow_id(entry_id: str) -> str:
    return f"service-entry-deletion-{entry_id}"


class ServiceEntryDeletionInput(BaseModel):
    entry_id: str
    workshop_id: str
    deleted_by: str
    # As ServiceEntryInput's: the API computes it from the stored entry's VIN.
    vin_search: str | None = None


class DeletedServiceEntry(BaseModel):
    entry_id: str
    vin: str
    deleted_at: datetime
    last_known_mileage_km: int


# --- the service-history activities (portal worker) -------------------------------------------


class RecordServiceEntryInput(BaseModel):
    entry_id: str
    vin: str
    workshop_id: str
    station_id: str | None
    kind: EntryKind
    source: EntrySource
    service_date: date
    mileage_km: int
    odometer_exchanged: bool
    remark: str
    cbs_items: list[str]
    consent: ConsentRecord
    created_by: str
    created_at: datetime


class StoredServiceEntry(BaseModel):
    entry_id: str
    created_at: datetime
    mileage_km: int
    previous_mileage_km: int


class MarkWrittenInput(BaseModel):
    entry_id: str
    at: datetime


class LoadEntryFactsInput(BaseModel):
    entry_id: str


class ServiceEntryFacts(BaseModel):
    entry_id: str
    vin: str
    workshop_id: str
    created_at: datetime
    service_date: date


class DeleteServiceEntryInput(BaseModel):
    entry_id: str
    deleted_by: str
    workshop_id: str
    at: datetime


_PORTAL = "runs on the portal worker: activities.service_history"


@activity.defn(name="record_service_entry")
async def record_service_entry(request: RecordServiceEntryInput) -> StoredServiceEntry:
    """Store the entry once (a retry finds it); the mileage rule is checked again there."""
    raise NotImplementedError(_PORTAL)


@activity.defn(name="mark_written_to_vehicle")
async def mark_written_to_vehicle(request: MarkWrittenInput) -> None:
    raise NotImplementedError(_PORTAL)


@activity.defn(name="load_service_entry_facts")
async def load_service_entry_facts(request: LoadEntryFactsInput) -> ServiceEntryFacts:
    """What a deletion is decided on."""
    raise NotImplementedError(_PORTAL)


@activity.defn(name="delete_service_entry")
async def delete_service_entry(request: DeleteServiceEntryInput) -> DeletedServiceEntry:
    """Delete the entry, restore the mileage it set, leave an audit record."""
    raise NotImplementedError(_PORTAL)


# --- writing into the vehicle (station worker) ------------------------------------------------


class WriteServiceItemsInput(BaseModel):
    entry_id: str
    vin: str
    cbs_items: list[str]
    service_date: date


class VehicleWriteResult(BaseModel):
    vin: str
    items_before: list[VehicleServiceItem]
    items_after: list[VehicleServiceItem]


@activity.defn(name="write_service_items_to_vehicle")
async def write_service_items_to_vehicle(request: WriteServiceItemsInput) -> VehicleWriteResult:
    """Check the VIN, reset the performed CBS items in the instrument cluster, read them back."""
    raise NotImplementedError("runs on the station worker: station.service_booklet")
