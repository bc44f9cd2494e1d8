"""KeyReadWorkflow: read the key in a station's KeyReader and store it in the key table.

The read runs on the station's queue (`station-<id>`), the storing on the portal queue. A
corrupt block is refused with its reason and nothing is stored; a station that does not take
the task within 20 seconds is reported as unavailable. Workflow id `key-read-<uuid>`.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes
    from contracts.errors import domain_failure
    from contracts.key_reads import (
        KEY_READ_WORKFLOW,
        KeyReaderActivity,
        KeyReadInput,
        KeyRecordView,
        KeyTableActivity,
        ReadKeyInput,
        RecordedKeyRead,
        RecordKeyReadInput,
        StationKeyRead,
    )
    from domain.catalogue import Service
    from domain.service_history import StationUnavailable
    from workflows.access_check import check_access
    from workflows.vin_search import KEYED_VIN_SEARCH

DATABASE_STEP = timedelta(seconds=30)
STATION_PICKUP = timedelta(seconds=20)
KEY_READ = timedelta(seconds=15)
KEY_READ_RETRY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(milliseconds=500))


@workflow.defn(name=KEY_READ_WORKFLOW)
class KeyReadWorkflow:
    @workflow.run
    async def run(self, request: KeyReadInput) -> KeyRecordView:
        workflow.upsert_search_attributes(
            [
                search_attributes.WORKSHOP_ID.value_set(request.workshop_id),
                search_attributes.STATION_ID.value_set(request.station_id),
                search_attributes.FLOW_STATE.value_set("reading"),
            ]
        )
        try:
            await check_access(request.workshop_id, Service.SERVICE_HISTORY)
            read = await workflow.execute_activity(
                KeyReaderActivity.READ_KEY_AT_STATION,
                ReadKeyInput(),
                task_queue=request.station_task_queue,
                result_type=StationKeyRead,
                schedule_to_start_timeout=STATION_PICKUP,
                start_to_close_timeout=KEY_READ,
                retry_policy=KEY_READ_RETRY,
            )
        except ActivityError as error:
            workflow.upsert_search_attributes([search_attributes.FLOW_STATE.value_set("refused")])
            if isinstance(error.cause, ActivityTimeoutError):
                raise domain_failure(
                    StationUnavailable(
                        f"station {request.station_id} did not answer; is its worker running?",
                        field="station_id",
                    )
                ) from error
            raise domain_failure(error) from error
        # The VIN is known from here, its search value once the portal has stored the key (the
        # workflow holds no key). Reads recorded before wrote the clear VIN at once.
        if not workflow.patched(KEYED_VIN_SEARCH):
            workflow.upsert_search_attributes([search_attributes.VIN.value_set(read.key.vin)])
        record = await workflow.execute_activity(
            KeyTableActivity.RECORD_KEY_READ,
            RecordKeyReadInput(workshop_id=request.workshop_id, read=read),
            result_type=RecordedKeyRead,
            start_to_close_timeout=DATABASE_STEP,
        )
        stored = [search_attributes.FLOW_STATE.value_set("stored")]
        if record.vin_search is not None:
            workflow.upsert_memo({search_attributes.VIN_MEMO: record.vin})
            stored.insert(0, search_attributes.VIN.value_set(record.vin_search))
        workflow.upsert_search_attributes(stored)
        return record.view()
