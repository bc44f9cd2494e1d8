"""Service-history activities of the portal worker: store an entry exactly once, mark it
written to the vehicle, read the facts a deletion is decided on, delete with an audit record.

Writing into the vehicle runs on the station (station/service_booklet.py).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from contracts.errors import domain_errors_as_application_errors
from contracts.service_history import (
    DeletedServiceEntry,
    DeleteServiceEntryInput,
    LoadEntryFactsInput,
    MarkWrittenInput,
    RecordServiceEntryInput,
    ServiceEntryFacts,
    ServiceHistoryActivity,
    StoredServiceEntry,
)
from db.models.audit import AuditEvent
from db.models.service_history import ServiceEntry, Vehicle, VehicleCbsItem
from domain.service_history import (
    ServiceEntryNotFound,
    VehicleNotFound,
    check_mileage,
    reset_service_items,
)


class ServiceHistoryActivities:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    @activity.defn(name=ServiceHistoryActivity.RECORD_SERVICE_ENTRY)
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

    @activity.defn(name=ServiceHistoryActivity.MARK_WRITTEN_TO_VEHICLE)
    async def mark_written_to_vehicle(self, request: MarkWrittenInput) -> None:
        async with self._session_factory() as session, session.begin():
            entry = await session.get(ServiceEntry, request.entry_id)
            if entry is not None and entry.written_to_vehicle_at is None:
                entry.written_to_vehicle_at = request.at
                await _reset_vehicle_cbs(session, entry)

    @activity.defn(name=ServiceHistoryActivity.LOAD_SERVICE_ENTRY_FACTS)
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

    @activity.defn(name=ServiceHistoryActivity.DELETE_SERVICE_ENTRY)
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
