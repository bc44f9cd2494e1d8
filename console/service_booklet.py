"""What the service booklet (KaSIO) pages show and do, gathered from the JSON API's own code.

The JSON routes of `api/routes/vehicles.py`, `stations.py` and `service_entries.py` are the one
implementation of every read, rule and workflow call of the booklet: the pages call those
route functions as plain functions (the same repositories, the same `ServiceEntryWorkflow`
updates, the same key-read workflow, the same maintenance-log PDF, the same not-found answer for
another workshop's entry). What is added here is only what a page needs around them: which of
the entry's steps to show, the histories' sort order, and the field a refusal belongs to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from fastapi import Request, Response

from api.routes import service_entries as entries_api
from api.routes import stations as stations_api
from api.routes import vehicles as vehicles_api
from application.resources import AppResources
from contracts.key_reads import KeyRecordView
from contracts.service_history import ServiceEntryStatus
from db.access_repository import AccessRepository
from db.models import User
from db.service_history import ServiceHistoryRepository
from db.stations import StationRepository
from db.technical_information import TechnicalInformationRepository
from domain.catalogue import Service
from domain.entitlement import Coverage
from domain.service_history import EntryKind
from domain.vin import SHORT_VIN_LENGTH
from web.deps import require_entitlement

SortColumn = Literal["date", "mileage", "type"]
SORT_COLUMNS: tuple[SortColumn, ...] = ("date", "mileage", "type")

_SORT_KEYS: dict[SortColumn, Callable[[vehicles_api.HistoryRow], Any]] = {
    "date": lambda row: (row.date, row.mileage_km),
    "mileage": lambda row: (row.mileage_km, row.date),
    "type": lambda row: (row.type, row.date),
}


@dataclass(frozen=True)
class Booklet:
    """A signed-in workshop user whose workshop has the service booklet covered now.

    Built by :func:`open_booklet`, which refuses exactly as the JSON API's
    `ServiceHistoryAccess` does (`no-access`, `access-expired` with `ended_at`).
    """

    user: User
    coverage: Coverage
    resources: AppResources

    @property
    def workshop_id(self) -> str:
        assert self.user.workshop_id is not None  # open_booklet refused users without one
        return self.user.workshop_id

    @property
    def service_history(self) -> ServiceHistoryRepository:
        return ServiceHistoryRepository(self.resources.session_factory)

    @property
    def stations(self) -> StationRepository:
        return StationRepository(self.resources.session_factory)


async def open_booklet(request: Request, user: User, resources: AppResources) -> Booklet:
    """The JSON API's entitlement guard for the service booklet, applied to a page request."""
    guard = require_entitlement(Service.SERVICE_HISTORY)
    coverage = await guard(request, user, AccessRepository(resources.session_factory))
    return Booklet(user, coverage, resources)


# --- finding a vehicle ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FindPage:
    """The key table of the workshop and its stations (with whether each worker is online)."""

    key_rows: list[KeyRecordView]
    stations: list[stations_api.StationWithStatus]


async def find_page(booklet: Booklet) -> FindPage:
    return FindPage(await key_table(booklet), await workshop_stations(booklet))


async def key_table(booklet: Booklet) -> list[KeyRecordView]:
    """The workshop's key table, last read first (`GET /workshops/{id}/keys`)."""
    return await stations_api.key_table(
        booklet.workshop_id, booklet.user, booklet.coverage, booklet.service_history
    )


async def workshop_stations(booklet: Booklet) -> list[stations_api.StationWithStatus]:
    """The workshop's stations, online when their worker polls (`GET /stations`)."""
    resources = booklet.resources
    return await stations_api.stations_with_status(
        booklet.user, booklet.stations, resources.temporal, resources.settings
    )


async def read_key(booklet: Booklet, station_id: str) -> KeyRecordView:
    """Read the key lying in the station's KeyReader into the key table
    (`POST /stations/{id}/key-reads`: the same KeyReadWorkflow, the same refusals)."""
    resources = booklet.resources
    return await stations_api.read_key(
        station_id,
        booklet.user,
        booklet.coverage,
        booklet.stations,
        resources.temporal,
        resources.settings,
    )


async def find_vehicles(booklet: Booklet, query: str) -> list[vehicles_api.VehicleSummary]:
    """The vehicles a typed VIN or short VIN names.

    Seven characters or fewer are read as a short VIN (`GET /vehicles?short_vin=`), anything
    longer as a full VIN (`GET /vehicles/{vin}`); refusals are the API's (`invalid-vin`,
    `vehicle-not-found`). A short VIN no vehicle ends in answers an empty list.
    """
    typed = query.strip()
    if len(typed) <= SHORT_VIN_LENGTH:
        return await vehicles_api.vehicles_by_short_vin(
            typed, booklet.user, booklet.coverage, booklet.service_history
        )
    view = await vehicles_api.vehicle(
        typed, booklet.user, booklet.coverage, booklet.service_history
    )
    return [vehicles_api.VehicleSummary.model_validate(view.model_dump())]


# --- the vehicle page ------------------------------------------------------------------------


@dataclass(frozen=True)
class HistorySort:
    """The histories table's order: a column and a direction (newest / highest first by
    default)."""

    column: SortColumn = "date"
    descending: bool = True

    @classmethod
    def parse(cls, column: str | None, order: str | None) -> HistorySort:
        """From the page's query parameters; anything unknown falls back to the default."""
        chosen: SortColumn = next((c for c in SORT_COLUMNS if c == column), "date")
        return cls(chosen, order != "asc")

    def toggled(self, column: SortColumn) -> HistorySort:
        """The order a click on `column`'s header asks for: the other direction of the same
        column, or a new column in its default direction."""
        if column == self.column:
            return HistorySort(column, not self.descending)
        return HistorySort(column, column != "type")

    def apply(self, rows: list[vehicles_api.HistoryRow]) -> list[vehicles_api.HistoryRow]:
        return sorted(rows, key=_SORT_KEYS[self.column], reverse=self.descending)


@dataclass(frozen=True)
class VehiclePage:
    """Every section of the vehicle page."""

    vehicle: vehicles_api.VehicleView
    histories: list[vehicles_api.HistoryRow]
    sort: HistorySort
    keys: list[KeyRecordView]
    """This workshop's key reads of the vehicle (its key data), last read first."""
    stations: list[stations_api.StationWithStatus]
    open_actions: list[vehicles_api.TechnicalActionView] = field(default_factory=list)
    action_documents: dict[str, str] = field(default_factory=dict)
    """The technical-information document of each technical action that has one."""


async def vehicle_page(booklet: Booklet, vin: str, sort: HistorySort) -> VehiclePage:
    """`GET /vehicles/{vin}`, its histories (with `deletable` answered for this workshop) and
    this workshop's key reads of it. An invalid or unknown VIN is the API's refusal."""
    user, coverage, history = booklet.user, booklet.coverage, booklet.service_history
    view = await vehicles_api.vehicle(vin, user, coverage, history)
    rows = await vehicles_api.histories(view.vin, user, coverage, history)
    keys = [row for row in await key_table(booklet) if row.vin == view.vin]
    return VehiclePage(
        vehicle=view,
        histories=sort.apply(rows),
        sort=sort,
        keys=keys,
        stations=await workshop_stations(booklet),
        open_actions=[a for a in view.technical_actions if a.status == "open"],
        action_documents=await TechnicalInformationRepository(
            booklet.resources.session_factory
        ).documents_for_action([a.action_id for a in view.technical_actions]),
    )


# --- a new maintenance or repair entry ------------------------------------------------------


async def open_entry(
    booklet: Booklet,
    vin: str,
    kind: EntryKind,
    station_id: str | None,
    key_read_id: int | None,
) -> ServiceEntryStatus:
    """`POST /service-entries`: starts the entry's ServiceEntryWorkflow."""
    resources = booklet.resources
    return await entries_api.open_entry(
        entries_api.OpenEntry(vin=vin, kind=kind, station_id=station_id, key_read_id=key_read_id),
        booklet.user,
        booklet.coverage,
        booklet.service_history,
        booklet.stations,
        resources.temporal,
        resources.settings,
    )


async def entry_status(booklet: Booklet, entry_id: str) -> ServiceEntryStatus:
    """Where the entry stands; another workshop's entry is `service-entry-not-found`, exactly
    like an unknown id."""
    return await entries_api.entry_status(
        entry_id, booklet.user, booklet.coverage, booklet.resources.temporal
    )


async def record_consent(
    booklet: Booklet, entry_id: str, confirmed: bool, consent_text_version: str
) -> ServiceEntryStatus:
    """Step 1: the owner's consent to the data being stored, for the consent text shown."""
    return await entries_api.consent(
        entry_id,
        entries_api.Consent(confirmed=confirmed, consent_text_version=consent_text_version),
        booklet.user,
        booklet.coverage,
        booklet.resources.temporal,
    )


async def enter_details(
    booklet: Booklet,
    entry_id: str,
    mileage_km: int,
    service_date: date,
    remark: str,
    odometer_exchanged: bool,
) -> ServiceEntryStatus:
    """Step 2: mileage, service date and remark, checked by the workflow's update validator."""
    return await entries_api.details(
        entry_id,
        entries_api.Details(
            mileage_km=mileage_km,
            service_date=service_date,
            remark=remark,
            odometer_exchanged=odometer_exchanged,
        ),
        booklet.user,
        booklet.coverage,
        booklet.resources.temporal,
    )


async def create_entry(
    booklet: Booklet, entry_id: str, cbs_items: list[str], write_into_vehicle: bool
) -> ServiceEntryStatus:
    """Steps 3 to 5 as one press of "create": the services ticked (unless the workflow has them
    already), the entry created, then written into the car when asked.

    Each is the JSON API's own step; a refused one stops here with its error, and the steps
    already taken stay taken (the page then shows the entry where it stands).
    """
    user, coverage, temporal = booklet.user, booklet.coverage, booklet.resources.temporal
    status = await entry_status(booklet, entry_id)
    if "services" in status.next_steps:
        status = await entries_api.services(
            entry_id, entries_api.Services(cbs_items=cbs_items), user, coverage, temporal
        )
    if "create" in status.next_steps:
        status = await entries_api.create(entry_id, user, coverage, temporal)
    if write_into_vehicle and "write-to-vehicle" in status.next_steps:
        status = await write_into_vehicle_now(booklet, entry_id)
    return status


async def write_into_vehicle_now(booklet: Booklet, entry_id: str) -> ServiceEntryStatus:
    """Write the performed items into the car at the entry's station (again, after a failed
    transfer). A failed transfer is not an error: the status says `failed` and why."""
    return await entries_api.write_to_vehicle(
        entry_id, booklet.user, booklet.coverage, booklet.resources.temporal
    )


async def close_entry(booklet: Booklet, entry_id: str) -> ServiceEntryStatus:
    """Close the entry's window: from now on its maintenance log cannot be printed."""
    return await entries_api.close(
        entry_id, booklet.user, booklet.coverage, booklet.resources.temporal
    )


async def maintenance_log(booklet: Booklet, entry_id: str) -> Response:
    """The maintenance log PDF, only while the entry's print window is open (the API's own)."""
    return await entries_api.maintenance_log(
        entry_id,
        booklet.user,
        booklet.coverage,
        booklet.service_history,
        booklet.resources.temporal,
    )


async def delete_entry(booklet: Booklet, entry_id: str) -> str:
    """Delete a stored entry under the same-day rule (the deletion workflow decides); answers
    the vehicle's VIN, to go back to its page."""
    resources = booklet.resources
    deleted = await entries_api.delete_entry(
        entry_id,
        booklet.user,
        booklet.coverage,
        booklet.service_history,
        resources.temporal,
        resources.settings,
    )
    return deleted.vin
