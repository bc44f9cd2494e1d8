"""KeyReadWorkflow: read the key in a station's KeyReader and store it in the key table.

The read runs on the station's queue (`station-<id>`), the storing on the portal queue. A
corrupt block is refused with its reason and nothing is stored; a station that does not take
the task within 20 seconds is reported as unavailable; any other failure of the station's read
(its retries used up, or a refusal that is not one of a key read's) is `station-failed`.
Workflow id `key-read-<uuid>`.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes
    from contracts.errors import domain_error_from_failure, domain_failure
    from contracts.key_reads import (
        KEY_READ_WORKFLOW,
        KeyReadInput,
        KeyRecordView,
        ReadKeyInput,
        RecordKeyReadInput,
        read_key_at_station,
        record_key_read,
    )
    from domain.catalogue import Service
    from domain.errors import DomainError
    from domain.service_history import (
        KeyDataCorrupt,
        KeyReadFailedProblem,
        StationFailed,
        StationUnavailable,
    )
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
        except ActivityError as error:
            workflow.upsert_search_attributes([search_attributes.FLOW_STATE.value_set("refused")])
            raise domain_failure(error) from error
        try:
            read = await workflow.execute_activity(
                read_key_at_station,
                ReadKeyInput(),
                task_queue=request.station_task_queue,
                schedule_to_start_timeout=STATION_PICKUP,
                start_to_close_timeout=KEY_READ,
                retry_policy=KEY_READ_RETRY,
            )
        except ActivityError as error:
            workflow.upsert_search_attributes([search_attributes.FLOW_STATE.value_set("refused")])
            raise domain_failure(station_failure(request.station_id, error)) from error
        # The VIN is known from here, its search value once the portal has stored the key (the
        # workflow holds no key). Reads recorded before wrote the clear VIN at once.
        if not workflow.patched(KEYED_VIN_SEARCH):
            workflow.upsert_search_attributes([search_attributes.VIN.value_set(read.key.vin)])
        record = await workflow.execute_activity(
            record_key_read,
            RecordKeyReadInput(workshop_id=request.workshop_id, read=read),
            start_to_close_timeout=DATABASE_STEP,
        )
        stored = [search_attributes.FLOW_STATE.value_set("stored")]
        if record.vin_search is not None:
            workflow.upsert_memo({search_attributes.VIN_MEMO: record.vin})
            stored.insert(0, search_attributes.VIN.value_set(record.vin_search))
        workflow.upsert_search_attributes(stored)
        return record.view()


# The refusals a station's key read may answer with. A station is untrusted: any other refusal
# it claims (another code, or these codes with another kind) is its own failure.
STATION_REFUSALS = (KeyDataCorrupt, KeyReadFailedProblem)


def station_failure(station_id: str, error: ActivityError) -> DomainError:
    """What the caller hears when the station's read failed: the station did not take the task
    (`station-unavailable`), refused for a reason a person can fix (`key-read-failed`,
    `key-data-corrupt`), or failed on its own side (`station-failed`: a fault its retries did
    not get past, or anything else it answered)."""
    if isinstance(error.cause, ActivityTimeoutError):
        return StationUnavailable(
            f"station {station_id} did not answer; is its worker running?", field="station_id"
        )
    carried = domain_error_from_failure(error)
    if isinstance(carried, STATION_REFUSALS):
        return carried  # rebuilt from its class here: its status and title are the portal's
    cause = error.cause
    failure = getattr(cause, "type", None) or type(cause).__name__
    message = str(getattr(cause, "message", "") or cause or "")[:200]
    return StationFailed(
        f"station {station_id} failed to read the key ({failure}): {message}; try again, and "
        "if it fails again, check the station",
        field="station_id",
        station_failure=failure[:100],
    )
