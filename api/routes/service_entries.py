"""Service entries: the steps of ServiceEntryWorkflow, the maintenance log and deletion.

An entry belongs to the workshop that opened it: other workshops get 404 on every route.
Every route needs a `service_history` ticket (403 `no-access` / `access-expired`).

Steps in order: consent → details → services → create → (write-to-vehicle) → close. A step
out of order is 409 `service-entry-wrong-step` naming `expected_step`; after the flow ended,
409 `service-entry-closed`. A repeated create answers with the same entry.

Each route parses the request and calls its use case in `application.service_history`, the
same the console's pages call.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from fastapi import APIRouter, Response
from fastapi.types import DecoratedCallable
from pydantic import BaseModel, Field

from api.station_ids import StationIdField
from application import service_history as use_cases
from application.service_history import KeyReadNotFound
from contracts.service_history import DeletedServiceEntry, EntryDetails, ServiceEntryStatus
from db.base import INTEGER_MAX
from domain.errors import Forbidden
from domain.service_history import (
    MAX_PLAUSIBLE_MILEAGE_KM,
    MAX_REMARK_LENGTH,
    ConsentRequired,
    ConsentTextOutdated,
    EntryKind,
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
from domain.vin import VIN_PATTERN, InvalidVinGiven
from web.deps import CurrentUser, ResourcesDep, ServiceHistoryAccess
from web.problems import WORKFLOW_UNAVAILABLE, ProblemSource, problem_responses

router = APIRouter(tags=["service history"])


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


# What each step may answer besides its own rules: the entry is unknown (or another
# workshop's), the step comes out of order, or the flow has ended; and Temporal not answering.
STEP_PROBLEMS = (
    ServiceEntryNotFound,
    WrongServiceEntryStep,
    ServiceEntryClosed,
    WORKFLOW_UNAVAILABLE,
)


def entry_step(
    path: str, *own_problems: ProblemSource
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """The route of a step of the entry's flow (`POST path`): it answers the entry's status, and
    may meet the `STEP_PROBLEMS` besides its own."""
    return router.post(
        path,
        response_model=ServiceEntryStatus,
        responses=problem_responses(*STEP_PROBLEMS, *own_problems),
    )


@router.post(
    "/service-entries",
    status_code=201,
    response_model=ServiceEntryStatus,
    responses=problem_responses(
        InvalidVinGiven,
        VehicleNotFound,
        KeyReadNotFound,
        StationNotFound,
        Forbidden,
        WORKFLOW_UNAVAILABLE,
    ),
)
async def open_entry(
    body: OpenEntry, user: CurrentUser, access: ServiceHistoryAccess, resources: ResourcesDep
) -> ServiceEntryStatus:
    """Open a maintenance or repair entry for a vehicle (the flow is abandoned after 30 minutes
    without progress). The answer carries the consent text to show and its version."""
    return await use_cases.open_entry(
        resources, user, body.vin, body.kind, body.station_id, body.key_read_id
    )


@router.get(
    "/service-entries/{entry_id}",
    response_model=ServiceEntryStatus,
    responses=problem_responses(ServiceEntryNotFound, WORKFLOW_UNAVAILABLE),
)
async def entry_status(
    entry_id: str, user: CurrentUser, access: ServiceHistoryAccess, resources: ResourcesDep
) -> ServiceEntryStatus:
    """Where the entry stands: state, next steps, what was entered, the vehicle transfer."""
    return await use_cases.entry_status(resources, user, entry_id)


@entry_step("/service-entries/{entry_id}/consent", ConsentRequired, ConsentTextOutdated)
async def consent(
    entry_id: str,
    body: Consent,
    user: CurrentUser,
    access: ServiceHistoryAccess,
    resources: ResourcesDep,
) -> ServiceEntryStatus:
    """The owner agreed to the data being stored and passed on ("Akkoordverklaring")."""
    return await use_cases.record_consent(
        resources, user, entry_id, body.confirmed, body.consent_text_version
    )


@entry_step(
    "/service-entries/{entry_id}/details",
    MileageImplausible,
    MileageBelowLastKnown,
    ServiceDateInvalid,
    RemarkTooLong,
)
async def details(
    entry_id: str,
    body: Details,
    user: CurrentUser,
    access: ServiceHistoryAccess,
    resources: ResourcesDep,
) -> ServiceEntryStatus:
    """Mileage (not below the last known one unless the odometer was exchanged), service date
    (not in the future, not before production) and a remark of at most 200 characters."""
    return await use_cases.enter_details(
        resources, user, entry_id, EntryDetails(**body.model_dump())
    )


@entry_step("/service-entries/{entry_id}/services", ServiceItemsInvalid)
async def services(
    entry_id: str,
    body: Services,
    user: CurrentUser,
    access: ServiceHistoryAccess,
    resources: ResourcesDep,
) -> ServiceEntryStatus:
    """The CBS items performed, from `supported_cbs`."""
    return await use_cases.select_services(resources, user, entry_id, body.cbs_items)


@entry_step("/service-entries/{entry_id}/create")
async def create(
    entry_id: str, user: CurrentUser, access: ServiceHistoryAccess, resources: ResourcesDep
) -> ServiceEntryStatus:
    """Store the entry ("Invoer genereren"), once; opens the print window of the log."""
    return await use_cases.create_entry(resources, user, entry_id)


@entry_step("/service-entries/{entry_id}/write-to-vehicle", NoStationForEntry)
async def write_to_vehicle(
    entry_id: str, user: CurrentUser, access: ServiceHistoryAccess, resources: ResourcesDep
) -> ServiceEntryStatus:
    """Write the performed items into the car at the entry's station and read them back.

    A failed transfer answers 200 with `vehicle_transfer: failed` and how to transfer later.
    """
    return await use_cases.write_to_vehicle(resources, user, entry_id)


@entry_step("/service-entries/{entry_id}/close")
async def close(
    entry_id: str, user: CurrentUser, access: ServiceHistoryAccess, resources: ResourcesDep
) -> ServiceEntryStatus:
    """Close the window ("Ruit sluiten"): the maintenance log can no longer be printed."""
    return await use_cases.close_entry(resources, user, entry_id)


@router.get(
    "/service-entries/{entry_id}/maintenance-log.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}},
        **problem_responses(ServiceEntryNotFound, MaintenanceLogNotPrintable, WORKFLOW_UNAVAILABLE),
    },
)
async def maintenance_log(
    entry_id: str, user: CurrentUser, access: ServiceHistoryAccess, resources: ResourcesDep
) -> Response:
    """The maintenance log as a PDF (English, times in UTC; the console's is in the page's
    language), only from creation until the flow closes; afterwards 409
    `maintenance-log-not-printable`."""
    document = await use_cases.maintenance_log(resources, user, entry_id)
    return Response(
        document.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{document.filename}"'},
    )


@router.delete(
    "/service-entries/{entry_id}",
    response_model=DeletedServiceEntry,
    responses=problem_responses(ServiceEntryNotFound, NotDeletable, WORKFLOW_UNAVAILABLE),
)
async def delete_entry(
    entry_id: str, user: CurrentUser, access: ServiceHistoryAccess, resources: ResourcesDep
) -> DeletedServiceEntry:
    """Delete a stored entry: only on the day it was created, when its service date is that
    day, by the workshop that created it (else 409 `service-entry-not-deletable` with `rule`).
    An audit record is kept."""
    return await use_cases.delete_entry(resources, user, entry_id)
