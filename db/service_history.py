"""Reading and writing the digital service booklet: vehicles, their technical actions and CBS
items, service entries (with the audit record of a deletion) and the workshops' key tables.

The API routes and the portal activities share this one implementation. Vehicles and their
entries are shared by every workshop (the booklet belongs to the car); a key read belongs to
one workshop, and another workshop's looks exactly like an unknown one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.key_reads import StationKeyRead
from contracts.service_history import RecordServiceEntryInput, VehicleFacts
from db.engine import reading
from db.models import (
    AuditEvent,
    KeyRecord,
    ServiceEntry,
    Vehicle,
    VehicleCbsItem,
    VehicleTechnicalAction,
    Workshop,
)
from db.rows import get_or_raise
from domain.key_data import CbsStatus, KeyData
from domain.service_history import (
    ServiceEntryNotFound,
    VehicleNotFound,
    check_mileage,
    reset_service_items,
)

REMOTE_READER = "ConnectedDrive (remote)"

_CBS_STATUS_NAMES = {
    CbsStatus.OK: "ok",
    CbsStatus.DUE_SOON: "due_soon",
    CbsStatus.OVERDUE: "overdue",
}


@dataclass(frozen=True)
class VehiclePage:
    """A vehicle with its technical actions (by action id) and CBS items (by code)."""

    vehicle: Vehicle
    technical_actions: Sequence[VehicleTechnicalAction]
    cbs_items: Sequence[VehicleCbsItem]


@dataclass(frozen=True)
class HistoryEntry:
    """One entry of a vehicle's service history and the name of the workshop that made it."""

    entry: ServiceEntry
    workshop_name: str


@dataclass(frozen=True)
class EntryForLog:
    """What the maintenance log of one stored entry shows."""

    entry: ServiceEntry
    vehicle: Vehicle
    workshop_name: str


def _no_vehicle(vin: str) -> VehicleNotFound:
    return VehicleNotFound(f"no vehicle with VIN {vin}", field="vin")


# Every `POST /service-entries` reads the facts: one SELECT of the columns they need, the
# vehicle outer-joined to its CBS items (a row per item, one with a NULL item when it has
# none). Built once, like the other reads every request makes (`db.accounts.SIGNED_IN`,
# `db.coverage.COVERAGE_WINDOWS`): SQLAlchemy computes a statement's cache key once
# per statement object, ~0.2 ms that a statement built per call pays each time.
VEHICLE_FACTS = (
    select(
        Vehicle.brand,
        Vehicle.model,
        Vehicle.production_date,
        Vehicle.last_known_mileage_km,
        VehicleCbsItem.cbs_id,
    )
    .outerjoin(VehicleCbsItem, VehicleCbsItem.vin == Vehicle.vin)
    .where(Vehicle.vin == bindparam("vin"))
    .order_by(VehicleCbsItem.code)
)


class ServiceHistoryRepository:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    # --- vehicles ---------------------------------------------------------------------------

    @staticmethod
    async def _vehicle(session: AsyncSession, vin: str) -> Vehicle:
        return await get_or_raise(session, Vehicle, vin, _no_vehicle(vin))

    async def vehicle_page(self, vin: str) -> VehiclePage:
        """The vehicle (a parsed VIN) and what it needs; `vehicle-not-found` if unknown."""
        async with reading(self._session_factory) as session:
            vehicle = await self._vehicle(session, vin)
            actions = (
                await session.scalars(
                    select(VehicleTechnicalAction)
                    .where(VehicleTechnicalAction.vin == vin)
                    .order_by(VehicleTechnicalAction.action_id)
                )
            ).all()
            items = (
                await session.scalars(
                    select(VehicleCbsItem)
                    .where(VehicleCbsItem.vin == vin)
                    .order_by(VehicleCbsItem.code)
                )
            ).all()
        return VehiclePage(vehicle, actions, items)

    async def vehicles_by_short_vin(self, short_vin: str) -> Sequence[Vehicle]:
        """Vehicles whose VIN ends in `short_vin` (a valid short VIN), by VIN."""
        async with reading(self._session_factory) as session:
            return (
                await session.scalars(
                    select(Vehicle)
                    .where(Vehicle.short_vin == short_vin.strip().upper())
                    .order_by(Vehicle.vin)
                )
            ).all()

    async def histories(self, vin: str) -> list[HistoryEntry]:
        """Every workshop's entries of the vehicle, newest first; `vehicle-not-found` if unknown."""
        async with reading(self._session_factory) as session:
            await self._vehicle(session, vin)
            rows = (
                await session.execute(
                    select(ServiceEntry, Workshop.name)
                    .join(Workshop, Workshop.id == ServiceEntry.workshop_id)
                    .where(ServiceEntry.vin == vin)
                    .order_by(ServiceEntry.service_date.desc(), ServiceEntry.created_at.desc())
                )
            ).all()
        return [HistoryEntry(entry, name) for entry, name in rows]

    async def vehicle_facts(self, vin: str) -> VehicleFacts:
        """What a service entry flow starts from; `vehicle-not-found` if unknown."""
        async with reading(self._session_factory) as session:
            rows = (await session.execute(VEHICLE_FACTS, {"vin": vin})).all()
        if not rows:
            raise _no_vehicle(vin)
        brand, model, production_date, mileage_km, _ = rows[0]
        return VehicleFacts(
            vin=vin,
            brand=brand,
            model=model,
            production_date=production_date,
            last_known_mileage_km=mileage_km,
            supported_cbs=[row.cbs_id for row in rows if row.cbs_id is not None],
        )

    # --- the key table ----------------------------------------------------------------------

    async def key_table(self, workshop_id: str) -> Sequence[KeyRecord]:
        """The workshop's key table, last read first."""
        async with reading(self._session_factory) as session:
            return (
                await session.scalars(
                    select(KeyRecord)
                    .where(KeyRecord.workshop_id == workshop_id)
                    .order_by(KeyRecord.last_read_at.desc())
                )
            ).all()

    async def newest_key_read_per_station(
        self, workshop_id: str, since: datetime
    ) -> list[KeyRecord]:
        """The workshop's newest key read at each of its stations since `since`, newest
        first (reads without a station, e.g. imported ones, are left out)."""
        async with reading(self._session_factory) as session:
            rows = (
                await session.scalars(
                    select(KeyRecord)
                    .where(
                        KeyRecord.workshop_id == workshop_id,
                        KeyRecord.station_id.is_not(None),
                        KeyRecord.last_read_at >= since,
                    )
                    .order_by(KeyRecord.last_read_at.desc())
                )
            ).all()
        newest: dict[str, KeyRecord] = {}
        for row in rows:
            newest.setdefault(str(row.station_id), row)
        return list(newest.values())

    async def key_read_of(self, key_read_id: int, workshop_id: str, vin: str) -> KeyRecord | None:
        """The workshop's key table row of this vehicle; None when the id is unknown, another
        workshop's or another vehicle's, so all three look alike."""
        async with reading(self._session_factory) as session:
            record = await session.get(KeyRecord, key_read_id)
        if record is None or record.workshop_id != workshop_id or record.vin != vin:
            return None
        return record

    async def record_key_read(self, workshop_id: str, read: StationKeyRead) -> KeyRecord:
        """Store the read in the workshop's key table (idempotent: a retry updates the row).

        One row per workshop, vehicle and key, updated by later reads. A known vehicle's last
        known mileage and CBS states follow the key when the key is newer.
        """
        return await self._record_key(
            workshop_id, read.key, read.read_at, read.reader, read.station_id, remote=False
        )

    async def record_remote_key_read(
        self, workshop_id: str, key: KeyData, read_at: datetime
    ) -> KeyRecord:
        """A key read over the connected-car backend: stored like a station's, marked remote."""
        return await self._record_key(
            workshop_id, key, read_at, REMOTE_READER, station_id=None, remote=True
        )

    async def _record_key(
        self,
        workshop_id: str,
        key: KeyData,
        read_at: datetime,
        reader: str,
        station_id: str | None,
        *,
        remote: bool,
    ) -> KeyRecord:
        cbs = [
            {
                "cbs_id": item.cbs_id,
                "code": item.code,
                "status": _CBS_STATUS_NAMES[item.status],
                "due_date": item.due_date.isoformat() if item.due_date else None,
                "remaining_km": item.remaining_km,
            }
            for item in key.cbs
        ]

        async def write() -> KeyRecord:
            async with self._session_factory() as session, session.begin():
                vehicle = await session.get(Vehicle, key.vin)
                record = await session.scalar(
                    select(KeyRecord).where(
                        KeyRecord.workshop_id == workshop_id,
                        KeyRecord.vin == key.vin,
                        KeyRecord.key_number == key.key_number,
                    )
                )
                if record is None:
                    record = KeyRecord(workshop_id=workshop_id, vin=key.vin)
                    session.add(record)
                record.key_number = key.key_number
                record.brand = vehicle.brand if vehicle else None
                record.colour_code = key.colour_code
                record.total_distance_km = key.mileage_km
                record.production_date = key.production_date
                record.last_written_on = key.written_on
                record.last_read_at = read_at
                record.reader = reader
                record.station_id = station_id
                record.remote = remote
                record.cbs = cbs
                if vehicle is not None and key.mileage_km > vehicle.last_known_mileage_km:
                    vehicle.last_known_mileage_km = key.mileage_km
                    vehicle.updated_at = datetime.now(UTC)
                    await self._follow_key_cbs(session, key)
                await session.flush()
            return record

        try:
            return await write()
        except IntegrityError:  # a concurrent first read of the same key: update its row
            return await write()

    @staticmethod
    async def _follow_key_cbs(session: AsyncSession, key: KeyData) -> None:
        items = {
            item.cbs_id: item
            for item in (
                await session.scalars(select(VehicleCbsItem).where(VehicleCbsItem.vin == key.vin))
            ).all()
        }
        for cbs in key.cbs:
            stored = items.get(cbs.cbs_id)
            if stored is not None:
                stored.status = _CBS_STATUS_NAMES[cbs.status]
                stored.due_date = cbs.due_date
                stored.remaining_km = cbs.remaining_km

    # --- service entries --------------------------------------------------------------------

    async def find_entry(self, entry_id: str) -> ServiceEntry | None:
        """The stored entry, whichever workshop made it; None if there is none (any more)."""
        async with reading(self._session_factory) as session:
            return await session.get(ServiceEntry, entry_id)

    async def entry(self, entry_id: str) -> ServiceEntry:
        """The stored entry, or `service-entry-not-found`."""
        entry = await self.find_entry(entry_id)
        if entry is None:
            raise ServiceEntryNotFound("no service entry with this id", field="entry_id")
        return entry

    async def entry_for_log(self, entry_id: str) -> EntryForLog | None:
        """The stored entry with its vehicle and workshop; None if it was deleted."""
        async with reading(self._session_factory) as session:
            entry = await session.get(ServiceEntry, entry_id)
            if entry is None:
                return None
            vehicle = await session.get(Vehicle, entry.vin)
            workshop = await session.get(Workshop, entry.workshop_id)
        assert vehicle is not None and workshop is not None  # the foreign keys keep them
        return EntryForLog(entry, vehicle, workshop.name)

    async def record_entry(self, request: RecordServiceEntryInput) -> ServiceEntry:
        """Store the entry once (a retry finds it) and move the vehicle's last known mileage.

        The mileage rule is checked again here, against the mileage stored now under the
        vehicle's row lock: another entry may have raised it since the technician entered the
        details.
        """
        async with self._session_factory() as session, session.begin():
            existing = await session.get(ServiceEntry, request.entry_id)
            if existing is not None:
                return existing
            missing = VehicleNotFound(f"no vehicle {request.vin}", field="vin")
            vehicle = await get_or_raise(
                session, Vehicle, request.vin, missing, with_for_update=True
            )
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
        return entry

    async def mark_written_to_vehicle(self, entry_id: str, at: datetime) -> None:
        """Note when the entry's items were written into the car (once; a deleted entry is
        skipped), and let the vehicle's stored CBS states follow what was written."""
        async with self._session_factory() as session, session.begin():
            entry = await session.get(ServiceEntry, entry_id)
            if entry is not None and entry.written_to_vehicle_at is None:
                entry.written_to_vehicle_at = at
                await self._reset_vehicle_cbs(session, entry)

    @staticmethod
    async def _reset_vehicle_cbs(session: AsyncSession, entry: ServiceEntry) -> None:
        """The vehicle's stored CBS states follow what was written into it."""
        rows = (
            await session.scalars(select(VehicleCbsItem).where(VehicleCbsItem.vin == entry.vin))
        ).all()
        # Only the performed items change; reset_service_items gives their new due values.
        reset = {
            item.cbs_id: item
            for item in reset_service_items([], entry.cbs_items, entry.service_date)
        }
        for row in rows:
            if row.cbs_id in entry.cbs_items:
                item = reset[row.cbs_id]
                row.status, row.due_date, row.remaining_km = "ok", item.due_date, item.remaining_km

    async def delete_entry(
        self, entry_id: str, deleted_by: str, workshop_id: str, at: datetime
    ) -> Vehicle:
        """Delete the entry, restore the mileage it set, and leave an audit record.

        Whether it may be deleted (the same-day rule) the deletion workflow decided before, on
        the facts from `entry`. Answers the vehicle as it is afterwards;
        `service-entry-not-found` if the entry is gone.
        """
        async with self._session_factory() as session, session.begin():
            missing = ServiceEntryNotFound("no service entry with this id", field="entry_id")
            entry = await get_or_raise(
                session, ServiceEntry, entry_id, missing, with_for_update=True
            )
            vehicle = await session.get(Vehicle, entry.vin, with_for_update=True)
            assert vehicle is not None  # the foreign key keeps it
            if vehicle.last_known_mileage_km == entry.mileage_km:
                vehicle.last_known_mileage_km = entry.previous_mileage_km
                vehicle.updated_at = at
            session.add(
                AuditEvent(
                    at=at,
                    actor=deleted_by,
                    workshop_id=workshop_id,
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
        return vehicle
