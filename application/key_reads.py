"""The service booklet's key table (KaSIO "Sleuteltabel") and key reads: the key lying in a
station's KeyReader read into the table (KeyReadWorkflow). The API's routes and the console's
pages call these."""

from __future__ import annotations

import uuid

from temporalio.client import WorkflowFailureError

from application.authorization import ensure_workshop_access
from application.resources import AppResources
from application.workflow_calls import ensure_station_online
from contracts.errors import domain_error_from
from contracts.key_reads import KEY_READ_WORKFLOW, KeyReadInput, KeyRecordView, key_read_workflow_id
from contracts.search_attributes import workshop_scope
from db.models import User
from db.service_history import ServiceHistoryRepository
from db.stations import StationRepository


async def key_table(resources: AppResources, caller: User, workshop_id: str) -> list[KeyRecordView]:
    """The workshop's key table (KaSIO "Sleuteltabel"), last read first."""
    ensure_workshop_access(caller, workshop_id)
    rows = await ServiceHistoryRepository(resources.session_factory).key_table(workshop_id)
    return [KeyRecordView.model_validate(row) for row in rows]


async def read_key(resources: AppResources, caller: User, station_id: str) -> KeyRecordView:
    """Read the key lying in the station's KeyReader into the key table (KeyReadWorkflow).

    Refused at once (409 `station-offline`, or 503 while Temporal does not know the station's
    worker yet) when no worker polls the station's queue.
    """
    settings, temporal = resources.settings, resources.temporal
    station = await StationRepository(resources.session_factory).of_workshop(
        station_id, caller.workshop_id
    )
    await ensure_station_online(temporal, settings, station)
    workshop_id = station.workshop_id
    assert workshop_id is not None  # found among the caller's workshop's stations
    try:
        row: KeyRecordView = await temporal.execute_workflow(
            KEY_READ_WORKFLOW,
            KeyReadInput(
                workshop_id=station.workshop_id,
                station_id=station.id,
                station_task_queue=settings.station_task_queue(station.id),
                requested_by=caller.id,
            ),
            id=key_read_workflow_id(str(uuid.uuid4())),
            task_queue=settings.portal_task_queue,
            search_attributes=workshop_scope(workshop_id, station.id),
            result_type=KeyRecordView,
        )
    except WorkflowFailureError as failure:
        raise domain_error_from(failure) or failure from failure
    return row
