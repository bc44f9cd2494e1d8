"""What the service booklet (KaSIO) pages show and do, over the use cases of
`application.service_history`, `application.vehicles` and `application.stations`: the same
repositories, the same `ServiceEntryWorkflow` updates, the same key-read workflow, the same
maintenance-log PDF and the same not-found answer for another workshop's entry as the JSON
API. What is added here is only what a page needs around them: which of the entry's steps to
show, the histories' sort order, and the pages' entitlement guard.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from fastapi import Request

from application import key_reads, service_history, vehicles
from application.resources import AppResources
from application.service_history import MaintenanceLogDocument
from application.stations import StationWithStatus, stations_with_status
from application.vehicles import HistoryRow, TechnicalActionView, VehicleSummary, VehicleView
from console.i18n import Translator
from contracts.key_reads import KeyRecordView
from contracts.service_history import EntryDetails, ServiceEntryStatus
from db.access_repository import AccessRepository
from db.document_audience import DocumentAudienceRepository
from db.models import User
from db.service_history import ServiceHistoryRepository
from domain.catalogue import Service
from domain.entitlement import Coverage
from domain.service_history import EntryKind
from web.deps import require_entitlement

SortColumn = Literal["date", "mileage", "type"]
SORT_COLUMNS: tuple[SortColumn, ...] = ("date", "mileage", "type")

_SORT_KEYS: dict[SortColumn, Callable[[HistoryRow], Any]] = {
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
    stations: list[StationWithStatus]


async def find_page(booklet: Booklet) -> FindPage:
    return FindPage(await key_table(booklet), await workshop_stations(booklet))


async def key_table(booklet: Booklet) -> list[KeyRecordView]:
    """The workshop's key table, last read first (`GET /workshops/{id}/keys`)."""
    return await key_reads.key_table(booklet.resources, booklet.user, booklet.workshop_id)


async def workshop_stations(booklet: Booklet) -> list[StationWithStatus]:
    """The workshop's stations, online when their worker polls (`GET /stations`)."""
    return await stations_with_status(booklet.resources, booklet.user)


async def read_key(booklet: Booklet, station_id: str) -> KeyRecordView:
    """Read the key lying in the station's KeyReader into the key table
    (`POST /stations/{id}/key-reads`: the same KeyReadWorkflow, the same refusals)."""
    return await key_reads.read_key(booklet.resources, booklet.user, station_id)


async def find_vehicles(booklet: Booklet, query: str) -> list[VehicleSummary]:
    """The vehicles a typed VIN or short VIN names (`application.vehicles.find_vehicles`)."""
    return await vehicles.find_vehicles(booklet.resources, booklet.user, query)


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

    def apply(self, rows: list[HistoryRow]) -> list[HistoryRow]:
        return sorted(rows, key=_SORT_KEYS[self.column], reverse=self.descending)


@dataclass(frozen=True)
class VehiclePage:
    """Every section of the vehicle page."""

    vehicle: VehicleView
    histories: list[HistoryRow]
    sort: HistorySort
    keys: list[KeyRecordView]
    """This workshop's key reads of the vehicle (its key data), last read first."""
    stations: list[StationWithStatus]
    open_actions: list[TechnicalActionView] = field(default_factory=list)
    action_documents: dict[str, str] = field(default_factory=dict)
    """The technical-information document of each technical action that has one."""


async def vehicle(booklet: Booklet, vin: str) -> VehicleView:
    """The vehicle alone (`GET /vehicles/{vin}`), for a page about one of its entries."""
    return await vehicles.vehicle(booklet.resources, booklet.user, vin)


async def vehicle_page(booklet: Booklet, vin: str, sort: HistorySort) -> VehiclePage:
    """`GET /vehicles/{vin}`, its histories (with `deletable` answered for this workshop) and
    this workshop's key reads of it. An invalid or unknown VIN is the API's refusal."""
    resources, user = booklet.resources, booklet.user
    view = await vehicles.vehicle(resources, user, vin)
    rows = await vehicles.histories(resources, user, view.vin)
    keys = [row for row in await key_table(booklet) if row.vin == view.vin]
    return VehiclePage(
        vehicle=view,
        histories=sort.apply(rows),
        sort=sort,
        keys=keys,
        stations=await workshop_stations(booklet),
        open_actions=[a for a in view.technical_actions if a.status == "open"],
        action_documents=await DocumentAudienceRepository(
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
    return await service_history.open_entry(
        booklet.resources, booklet.user, vin, kind, station_id, key_read_id
    )


async def entry_status(booklet: Booklet, entry_id: str) -> ServiceEntryStatus:
    """Where the entry stands; another workshop's entry is `service-entry-not-found`, exactly
    like an unknown id."""
    return await service_history.entry_status(booklet.resources, booklet.user, entry_id)


async def record_consent(
    booklet: Booklet, entry_id: str, confirmed: bool, consent_text_version: str
) -> ServiceEntryStatus:
    """Step 1: the owner's consent to the data being stored, for the consent text shown."""
    return await service_history.record_consent(
        booklet.resources, booklet.user, entry_id, confirmed, consent_text_version
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
    details = EntryDetails(
        mileage_km=mileage_km,
        service_date=service_date,
        remark=remark,
        odometer_exchanged=odometer_exchanged,
    )
    return await service_history.enter_details(booklet.resources, booklet.user, entry_id, details)


async def create_entry(
    booklet: Booklet, entry_id: str, cbs_items: list[str], write_into_vehicle: bool
) -> ServiceEntryStatus:
    """Steps 3 to 5 as one press of "create" (`application.service_history.finish_entry`)."""
    return await service_history.finish_entry(
        booklet.resources, booklet.user, entry_id, cbs_items, write_into_vehicle
    )


async def write_into_vehicle_now(booklet: Booklet, entry_id: str) -> ServiceEntryStatus:
    """Write the performed items into the car at the entry's station (again, after a failed
    transfer). A failed transfer is not an error: the status says `failed` and why."""
    return await service_history.write_to_vehicle(booklet.resources, booklet.user, entry_id)


async def close_entry(booklet: Booklet, entry_id: str) -> ServiceEntryStatus:
    """Close the entry's window: from now on its maintenance log cannot be printed."""
    return await service_history.close_entry(booklet.resources, booklet.user, entry_id)


async def maintenance_log(
    booklet: Booklet, entry_id: str, translate: Translator
) -> MaintenanceLogDocument:
    """The maintenance log PDF in the page's language and time zone, only while the entry's
    print window is open."""
    return await service_history.maintenance_log(
        booklet.resources, booklet.user, entry_id, translate
    )


async def delete_entry(booklet: Booklet, entry_id: str) -> str:
    """Delete a stored entry under the same-day rule (the deletion workflow decides); answers
    the vehicle's VIN, to go back to its page."""
    deleted = await service_history.delete_entry(booklet.resources, booklet.user, entry_id)
    return deleted.vin
