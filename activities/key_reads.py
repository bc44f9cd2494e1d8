"""The workshop's key table: a key read at a station, stored by the portal worker.

One row per workshop, vehicle and key, updated by later reads. A known vehicle's last known
mileage and CBS states follow the key when the key is newer (db/service_history.py).
"""

from __future__ import annotations

from collections.abc import Callable

from contracts import key_reads as contract
from contracts.key_reads import KeyRecordView, RecordedKeyRead, RecordKeyReadInput
from contracts.stubs import implements
from db.service_history import ServiceHistoryRepository


class KeyTableActivities:
    def __init__(
        self, repository: ServiceHistoryRepository, vin_search_value: Callable[[str], str]
    ) -> None:
        self._repository = repository
        self._vin_search_value = vin_search_value

    @implements(contract.record_key_read)
    async def record_key_read(self, request: RecordKeyReadInput) -> RecordedKeyRead:
        """Store the read in the workshop's key table (idempotent: a retry updates the row),
        and give the flow the search value of the VIN it read (the workflow holds no key)."""
        record = await self._repository.record_key_read(request.workshop_id, request.read)
        view = KeyRecordView.model_validate(record)
        return RecordedKeyRead(**view.model_dump(), vin_search=self._vin_search_value(view.vin))
