"""Key reads: the KeyReader on the station (hardware) and the workshop's key table (database).

- `KeyReaderActivities` runs on a station worker (queue `station-<id>`): it reads the key lying
  in the station's KeyReader with `hw.keyreader.read_key(backend)`. A block that does not
  parse is refused with its reason (`key-data-corrupt`, non-retryable); a reader that is
  busy, timed out or unplugged mid-read is retried; no key or no reader is a refusal
  (`key-read-failed`) that a person has to fix.
- `KeyTableActivities` runs on the portal worker and stores a read in the key table (one row
  per workshop, vehicle and key, updated by later reads). A known vehicle's last known mileage
  and CBS states follow the key when the key is newer.

With `--vehicle sim://` a station has a simulated pyusb KeyReader holding the key of
`DEMO_KEY_VIN` (the first demo vehicle, the BMW 320d of the KaSIO guide's screens).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from db.models.service_history import KeyRecord, Vehicle, VehicleCbsItem
from domain.key_data import CbsStatus, CorruptKeyData, KeyData
from domain.service_history import KeyDataCorrupt, KeyReadFailedProblem
from hw.keyreader import KeyReaderError, read_key
from hw.sim.keyreader_backend import SimulatedKeyReaderBackend, demo_key_blob
from workflows.errors import to_application_error

DEMO_KEY_VIN = "WBA8E5105FK731548"
"""The demo vehicle whose key lies in a `sim://` station's simulated KeyReader."""

_CBS_STATUS_NAMES = {
    CbsStatus.OK: "ok",
    CbsStatus.DUE_SOON: "due_soon",
    CbsStatus.OVERDUE: "overdue",
}


def simulated_key_reader(vin: str = DEMO_KEY_VIN) -> SimulatedKeyReaderBackend:
    """A simulated pyusb KeyReader with the key of demo vehicle `vin` inserted."""
    backend = SimulatedKeyReaderBackend()
    backend.insert_key(demo_key_blob(vin))
    return backend


class ReadKeyInput(BaseModel):
    """Empty for now: the station reads whatever key lies in its reader."""

    reader_serial: str | None = None


class StationKeyRead(BaseModel):
    station_id: str
    key: KeyData
    reader: str
    read_at: datetime


class KeyReaderActivities:
    """The station's KeyReader; `backend` is the pyusb backend (None: libusb as found)."""

    def __init__(self, station_id: str, backend: Any = None) -> None:
        self.station_id = station_id
        self.backend = backend

    @activity.defn
    async def read_key_at_station(self, request: ReadKeyInput) -> StationKeyRead:
        """Read the key in the station's KeyReader (blocking USB I/O in a thread)."""
        try:
            read = await asyncio.to_thread(read_key, self.backend, request.reader_serial)
        except CorruptKeyData as error:
            raise to_application_error(
                KeyDataCorrupt(
                    f"the key data was refused: {error.message}",
                    reason=str(error.reason),
                    offset=error.offset,
                )
            ) from error
        except KeyReaderError as error:
            if error.transient:
                raise ApplicationError(error.message, error.details(), type=error.code) from error
            raise to_application_error(
                KeyReadFailedProblem(error.message, reason=error.reason)
            ) from error
        return StationKeyRead(
            station_id=self.station_id, key=read.key, reader=read.reader.label, read_at=read.read_at
        )


class RecordKeyReadInput(BaseModel):
    workshop_id: str
    read: StationKeyRead


class KeyRecordView(BaseModel):
    """One row of the key table (KaSIO "Sleuteltabel")."""

    key_record_id: int
    vin: str
    key_number: int
    brand: str | None
    colour_code: str
    total_distance_km: int
    production_date: date
    last_read_at: datetime
    last_written_on: date
    reader: str
    station_id: str | None
    workshop_id: str

    @classmethod
    def of(cls, record: KeyRecord) -> KeyRecordView:
        return cls(
            key_record_id=record.id,
            vin=record.vin,
            key_number=record.key_number,
            brand=record.brand,
            colour_code=record.colour_code,
            total_distance_km=record.total_distance_km,
            production_date=record.production_date,
            last_read_at=record.last_read_at,
            last_written_on=record.last_written_on,
            reader=record.reader,
            station_id=record.station_id,
            workshop_id=record.workshop_id,
        )


class KeyTableActivities:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    @activity.defn
    async def record_key_read(self, request: RecordKeyReadInput) -> KeyRecordView:
        """Store the read in the workshop's key table (idempotent: a retry updates the row)."""
        try:
            return await self._record(request)
        except IntegrityError:  # a concurrent first read of the same key: update its row
            return await self._record(request)

    async def _record(self, request: RecordKeyReadInput) -> KeyRecordView:
        key, read = request.read.key, request.read
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
        async with self._session_factory() as session, session.begin():
            vehicle = await session.get(Vehicle, key.vin)
            record = await session.scalar(
                select(KeyRecord).where(
                    KeyRecord.workshop_id == request.workshop_id,
                    KeyRecord.vin == key.vin,
                    KeyRecord.key_number == key.key_number,
                )
            )
            if record is None:
                record = KeyRecord(workshop_id=request.workshop_id, vin=key.vin)
                session.add(record)
            record.key_number = key.key_number
            record.brand = vehicle.brand if vehicle else None
            record.colour_code = key.colour_code
            record.total_distance_km = key.mileage_km
            record.production_date = key.production_date
            record.last_written_on = key.written_on
            record.last_read_at = read.read_at
            record.reader = read.reader
            record.station_id = read.station_id
            record.cbs = cbs
            if vehicle is not None and key.mileage_km > vehicle.last_known_mileage_km:
                vehicle.last_known_mileage_km = key.mileage_km
                vehicle.updated_at = datetime.now(UTC)
                await self._follow_key_cbs(session, key)
            await session.flush()
            return KeyRecordView.of(record)

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
