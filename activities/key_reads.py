"""The workshop's key table: a key read at a station, stored by the portal worker.

One row per workshop, vehicle and key, updated by later reads. A known vehicle's last known
mileage and CBS states follow the key when the key is newer (db/service_history.py).
"""

from __future__ import annotations

from contracts import key_reads as contract
from contracts.key_reads import KeyRecordView, RecordKeyReadInput
from contracts.stubs import implements
from db.service_history import ServiceHistoryRepository


class KeyTableActivities:
    def __init__(self, repository: ServiceHistoryRepository) -> None:
        self._repository = repository

    @implements(contract.record_key_read)
    async def record_key_read(self, request: RecordKeyReadInput) -> KeyRecordView:
        """Store the read in the workshop's key table (idempotent: a retry updates the row)."""
        record = await self._repository.record_key_read(request.workshop_id, request.read)
        return KeyRecordView.model_validate(record)
