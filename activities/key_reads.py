"""The workshop's key table: a key read at a station, stored by the portal worker.

One row per workshop, vehicle and key, updated by later reads. A known vehicle's last known
mileage and CBS states follow the key when the key is newer.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from contracts.key_reads import KeyRecordView, KeyTableActivity, RecordKeyReadInput
from db.models.service_history import KeyRecord, Vehicle, VehicleCbsItem
from domain.key_data import CbsStatus, KeyData

_CBS_STATUS_NAMES = {
    CbsStatus.OK: "ok",
    CbsStatus.DUE_SOON: "due_soon",
    CbsStatus.OVERDUE: "overdue",
}


class KeyTableActivities:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    @activity.defn(name=KeyTableActivity.RECORD_KEY_READ)
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
            return KeyRecordView.model_validate(record)

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
