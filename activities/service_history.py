"""Service-history activities of the portal worker: store an entry exactly once, mark it
written to the vehicle, read the facts a deletion is decided on, delete with an audit record.

`ServiceHistoryActivities(repository)` is registered on the portal worker; the reads and writes
are in db/service_history.py. Writing into the vehicle runs on the station
(station/service_booklet.py).
"""

from __future__ import annotations

from contracts import service_history as contract
from contracts.errors import domain_errors_as_application_errors
from contracts.service_history import (
    DeletedServiceEntry,
    DeleteServiceEntryInput,
    LoadEntryFactsInput,
    MarkWrittenInput,
    RecordServiceEntryInput,
    ServiceEntryFacts,
    StoredServiceEntry,
)
from contracts.stubs import implements
from db.models.service_history import ServiceEntry
from db.service_history import ServiceHistoryRepository


class ServiceHistoryActivities:
    def __init__(self, repository: ServiceHistoryRepository) -> None:
        self._repository = repository

    @implements(contract.record_service_entry)
    async def record_service_entry(self, request: RecordServiceEntryInput) -> StoredServiceEntry:
        """Store the entry once (a retry finds it) and move the vehicle's last known mileage.

        The mileage rule is checked again there, against the mileage stored now: another entry
        may have raised it since the technician entered the details.
        """
        with domain_errors_as_application_errors():
            entry = await self._repository.record_entry(request)
        return _stored(entry)

    @implements(contract.mark_written_to_vehicle)
    async def mark_written_to_vehicle(self, request: MarkWrittenInput) -> None:
        await self._repository.mark_written_to_vehicle(request.entry_id, request.at)

    @implements(contract.load_service_entry_facts)
    async def load_service_entry_facts(self, request: LoadEntryFactsInput) -> ServiceEntryFacts:
        with domain_errors_as_application_errors():
            entry = await self._repository.entry(request.entry_id)
        return ServiceEntryFacts(
            entry_id=entry.id,
            vin=entry.vin,
            workshop_id=entry.workshop_id,
            created_at=entry.created_at,
            service_date=entry.service_date,
        )

    @implements(contract.delete_service_entry)
    async def delete_service_entry(self, request: DeleteServiceEntryInput) -> DeletedServiceEntry:
        """Delete the entry, restore the mileage it set, and leave an audit record."""
        with domain_errors_as_application_errors():
            vehicle = await self._repository.delete_entry(
                request.entry_id, request.deleted_by, request.workshop_id, request.at
            )
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
