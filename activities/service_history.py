"""Service-history activities.

- `ServiceHistoryActivities` (portal worker): store an entry exactly once, mark it written to
  the vehicle, read the facts a deletion is decided on, delete with an audit record.
- `VehicleServiceActivities` (station worker, queue `station-<id>`): write the performed CBS
  items into the instrument cluster over UDS (`hw.station_link`) and read them back.
- `service_booklet_station(station_id, vehicle_url)`: the station side of the service booklet
  as the station command builds it. With `sim://` the station gets a simulated KeyReader holding
  the key of `DEMO_KEY_VIN` and a named simulated car (`sim://?name=kasio-<station id>`) with
  that VIN and the demo vehicle's CBS items in its instrument cluster.

CBS items are identified by the codes of the key data (`domain.key_data.CBS_TYPES`) in the
instrument cluster too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.key_reads import DEMO_KEY_VIN, KeyReaderActivities, simulated_key_reader
from db.models.audit import AuditEvent
from db.models.service_history import ServiceEntry, Vehicle, VehicleCbsItem
from domain.service_history import (
    CBS_CODES,
    EntryKind,
    EntrySource,
    ServiceEntryNotFound,
    VehicleNotFound,
    VehicleServiceItem,
    check_mileage,
    reset_service_items,
)
from hw import protocol as P
from hw.errors import VehicleLinkError
from hw.station_link import open_station_link
from hw.vehicle_url import parse_vehicle_url
from workflows.errors import domain_errors_as_application_errors

# --- portal: the entries in the database -----------------------------------------------------


class ConsentRecord(BaseModel):
    confirmed_by: str
    confirmed_at: datetime
    consent_text_version: str


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


class DeletedServiceEntry(BaseModel):
    entry_id: str
    vin: str
    deleted_at: datetime
    last_known_mileage_km: int


class ServiceHistoryActivities:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    @activity.defn
    async def record_service_entry(self, request: RecordServiceEntryInput) -> StoredServiceEntry:
        """Store the entry once (a retry finds it) and move the vehicle's last known mileage.

        The mileage rule is checked again here, against the mileage stored now: another entry
        may have raised it since the technician entered the details.
        """
        with domain_errors_as_application_errors():
            async with self._session_factory() as session, session.begin():
                existing = await session.get(ServiceEntry, request.entry_id)
                if existing is not None:
                    return _stored(existing)
                vehicle = await session.get(Vehicle, request.vin, with_for_update=True)
                if vehicle is None:
                    raise VehicleNotFound(f"no vehicle {request.vin}", field="vin")
                check_mileage(
                    request.mileage_km, vehicle.last_known_mileage_km, request.odometer_exchanged
                )
                entry = ServiceEntry(
                    id=request.entry_id,
                    vin=request.vin,
                    workshop_id=request.workshop_id,
                    station_id=request.station_id,
                    kind=request.kind.value,
                    source=request.source.value,
                    service_date=request.service_date,
                    mileage_km=request.mileage_km,
                    previous_mileage_km=vehicle.last_known_mileage_km,
                    odometer_exchanged=request.odometer_exchanged,
                    remark=request.remark,
                    cbs_items=list(request.cbs_items),
                    consent_confirmed_by=request.consent.confirmed_by,
                    consent_confirmed_at=request.consent.confirmed_at,
                    consent_text_version=request.consent.consent_text_version,
                    created_by=request.created_by,
                    created_at=request.created_at,
                )
                session.add(entry)
                vehicle.last_known_mileage_km = request.mileage_km
                vehicle.updated_at = request.created_at
                return _stored(entry)

    @activity.defn
    async def mark_written_to_vehicle(self, request: MarkWrittenInput) -> None:
        async with self._session_factory() as session, session.begin():
            entry = await session.get(ServiceEntry, request.entry_id)
            if entry is not None and entry.written_to_vehicle_at is None:
                entry.written_to_vehicle_at = request.at
                await _reset_vehicle_cbs(session, entry)

    @activity.defn
    async def load_service_entry_facts(self, request: LoadEntryFactsInput) -> ServiceEntryFacts:
        with domain_errors_as_application_errors():
            async with self._session_factory() as session:
                entry = await session.get(ServiceEntry, request.entry_id)
                if entry is None:
                    raise ServiceEntryNotFound("no service entry with this id", field="entry_id")
                return ServiceEntryFacts(
                    entry_id=entry.id,
                    vin=entry.vin,
                    workshop_id=entry.workshop_id,
                    created_at=entry.created_at,
                    service_date=entry.service_date,
                )

    @activity.defn
    async def delete_service_entry(self, request: DeleteServiceEntryInput) -> DeletedServiceEntry:
        """Delete the entry, restore the mileage it set, and leave an audit record."""
        with domain_errors_as_application_errors():
            async with self._session_factory() as session, session.begin():
                entry = await session.get(ServiceEntry, request.entry_id, with_for_update=True)
                if entry is None:
                    raise ServiceEntryNotFound("no service entry with this id", field="entry_id")
                vehicle = await session.get(Vehicle, entry.vin, with_for_update=True)
                assert vehicle is not None  # the foreign key keeps it
                if vehicle.last_known_mileage_km == entry.mileage_km:
                    vehicle.last_known_mileage_km = entry.previous_mileage_km
                    vehicle.updated_at = request.at
                session.add(
                    AuditEvent(
                        at=request.at,
                        actor=request.deleted_by,
                        workshop_id=request.workshop_id,
                        action="service_entry.deleted",
                        subject=f"service-entry:{entry.id}",
                        detail={
                            "vin": entry.vin,
                            "kind": entry.kind,
                            "service_date": entry.service_date.isoformat(),
                            "mileage_km": entry.mileage_km,
                            "cbs_items": list(entry.cbs_items),
                            "created_at": entry.created_at.isoformat(),
                            "created_by": entry.created_by,
                        },
                    )
                )
                await session.delete(entry)
                return DeletedServiceEntry(
                    entry_id=request.entry_id,
                    vin=vehicle.vin,
                    deleted_at=request.at,
                    last_known_mileage_km=vehicle.last_known_mileage_km,
                )


def _stored(entry: ServiceEntry) -> StoredServiceEntry:
    return StoredServiceEntry(
        entry_id=entry.id,
        created_at=entry.created_at,
        mileage_km=entry.mileage_km,
        previous_mileage_km=entry.previous_mileage_km,
    )


async def _reset_vehicle_cbs(session: AsyncSession, entry: ServiceEntry) -> None:
    """The vehicle's stored CBS states follow what was written into it."""
    rows = (
        await session.scalars(select(VehicleCbsItem).where(VehicleCbsItem.vin == entry.vin))
    ).all()
    # Only the performed items change; reset_service_items gives their new due values.
    reset = {
        item.cbs_id: item for item in reset_service_items([], entry.cbs_items, entry.service_date)
    }
    for row in rows:
        if row.cbs_id in entry.cbs_items:
            item = reset[row.cbs_id]
            row.status, row.due_date, row.remaining_km = "ok", item.due_date, item.remaining_km


# --- station: writing into the vehicle -------------------------------------------------------

_STATUS_TO_WIRE = {
    "ok": P.ServiceStatus.OK,
    "due_soon": P.ServiceStatus.DUE_SOON,
    "overdue": P.ServiceStatus.OVERDUE,
    "not_applicable": P.ServiceStatus.NOT_APPLICABLE,
}
_STATUS_FROM_WIRE = {wire: name for name, wire in _STATUS_TO_WIRE.items()}


def _from_wire(item: P.ServiceItem) -> VehicleServiceItem:
    return VehicleServiceItem(
        code=item.item_id,
        status=_STATUS_FROM_WIRE[P.ServiceStatus(item.status)],
        due_date=item.due_date,
        remaining_km=item.remaining_km,
    )


def _to_wire(item: VehicleServiceItem) -> P.ServiceItem:
    return P.ServiceItem(
        item_id=item.code,
        status=_STATUS_TO_WIRE[item.status],
        due_date=item.due_date,
        remaining_km=item.remaining_km,
    )


class WriteServiceItemsInput(BaseModel):
    entry_id: str
    vin: str
    cbs_items: list[str]
    service_date: date


class VehicleWriteResult(BaseModel):
    vin: str
    items_before: list[VehicleServiceItem]
    items_after: list[VehicleServiceItem]


class VehicleServiceActivities:
    """The station's vehicle link for the service booklet."""

    def __init__(self, station_id: str, vehicle_url: str) -> None:
        self.station_id = station_id
        self.vehicle_url = vehicle_url

    @activity.defn
    async def write_service_items_to_vehicle(
        self, request: WriteServiceItemsInput
    ) -> VehicleWriteResult:
        """Check the VIN, reset the performed CBS items in the instrument cluster, read back.

        Link failures leave as ApplicationErrors typed by `hw.errors` codes, retryable only
        when the link says they are transient (a different car is never retried).
        """
        try:
            return await asyncio.to_thread(self._write, request)
        except VehicleLinkError as error:
            raise ApplicationError(
                str(error), error.details(), type=error.code, non_retryable=not error.transient
            ) from error

    def _write(self, request: WriteServiceItemsInput) -> VehicleWriteResult:
        with open_station_link(self.vehicle_url) as link:
            link.verify_vin(request.vin)
            before = [_from_wire(item) for item in link.read_service_items()]
            wanted = reset_service_items(before, request.cbs_items, request.service_date)
            link.write_service_items([_to_wire(item) for item in wanted])
            after = [_from_wire(item) for item in link.read_service_items()]
        if after != wanted:
            raise ApplicationError(
                "the instrument cluster holds other service items than were written",
                type="ServiceItemsReadBackMismatch",
            )
        return VehicleWriteResult(vin=request.vin, items_before=before, items_after=after)


# --- the station side as the station command builds it ---------------------------------------


@dataclass
class ServiceBookletStation:
    key_reader: KeyReaderActivities
    vehicle: VehicleServiceActivities

    def activities(self) -> list[Callable[..., Any]]:
        return [self.key_reader.read_key_at_station, self.vehicle.write_service_items_to_vehicle]


def prepare_simulated_car(name: str, vin: str = DEMO_KEY_VIN) -> None:
    """Create the named simulated car with a demo vehicle's VIN and CBS items, unless a car of
    that name exists already (then it is left as it is)."""
    from hw.sim import registry
    from hw.sim.config import default_vehicle_config
    from hw.sim.keyreader_backend import demo_vehicle

    try:
        registry.get(name)
        return
    except KeyError:
        pass
    car = registry.get_or_create(name, config=default_vehicle_config(vin=vin))
    items: Sequence[VehicleServiceItem] = [
        VehicleServiceItem(
            code=CBS_CODES[item.id],
            status=item.status,
            due_date=item.due_date,
            remaining_km=item.remaining_km,
        )
        for item in demo_vehicle(vin).cbs
    ]
    car.ecu(P.INSTRUMENT_CLUSTER).service_items = P.encode_service_items(
        [_to_wire(item) for item in items]
    )


def service_booklet_station(station_id: str, vehicle_url: str) -> ServiceBookletStation:
    """The KeyReader and vehicle activities of a station whose car is at `vehicle_url`.

    `sim://?name=<car>` (what the station command makes of `--vehicle sim://`): a simulated
    KeyReader holding the key of `DEMO_KEY_VIN`, and the named car is prepared with that VIN
    and its CBS items if nobody created it before. A bare `sim://` gets the car
    `kasio-<station id>`. Other URLs: the real KeyReader (libusb) and the car at the URL.
    """
    if not vehicle_url.startswith("sim:"):
        return ServiceBookletStation(
            KeyReaderActivities(station_id), VehicleServiceActivities(station_id, vehicle_url)
        )
    url = parse_vehicle_url(vehicle_url)
    if url.name is None:
        vehicle_url = f"sim://?name=kasio-{station_id}"
    prepare_simulated_car(url.name or f"kasio-{station_id}")
    return ServiceBookletStation(
        KeyReaderActivities(station_id, simulated_key_reader()),
        VehicleServiceActivities(station_id, vehicle_url),
    )
