"""An entry's one scoping rule, through the workflow client: it carries `WorkshopId` from its
start, and every step's update validator lets through only its own workshop or an
administrator; anybody else is told the entry does not exist, before its state is looked at,
and the refused update leaves nothing in the history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from application.service_history import start_entry
from contracts import search_attributes
from contracts.errors import domain_error_from
from contracts.service_history import (
    ConsentInput,
    ServiceEntryInput,
    ServiceEntryStatus,
    ServiceEntryUpdate,
    StepCaller,
    service_entry_workflow_id,
)
from db.service_history import ServiceHistoryRepository
from domain.service_history import CONSENT_TEXT_VERSION, EntryKind, ServiceEntryNotFound
from settings import Settings
from testkit.factories import create_workshop, long_ticket
from tests.service_history.conftest import DEMO_VIN, seed

pytestmark = pytest.mark.usefixtures("portal_on_dev_server")


async def test_only_the_entrys_workshop_or_an_administrator_takes_its_steps(
    settings: Settings,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await seed(session_factory)
    workshop_id = await create_workshop(session_factory, "Garage Edam")
    await long_ticket(session_factory, workshop_id, datetime.now(UTC))
    facts = await ServiceHistoryRepository(session_factory).vehicle_facts(DEMO_VIN)
    entry_id = str(uuid.uuid4())
    opened = await start_entry(
        dev_env.client,
        settings,
        ServiceEntryInput(
            entry_id=entry_id,
            workshop_id=workshop_id,
            kind=EntryKind.MAINTENANCE,
            vehicle=facts,
            opened_by="technician",
            vin_search=settings.vin_search_value(DEMO_VIN),
        ),
        StepCaller(workshop_id=workshop_id),
    )
    assert opened.state == "opened"
    handle = dev_env.client.get_workflow_handle(
        service_entry_workflow_id(entry_id), result_type=ServiceEntryStatus
    )
    described = await handle.describe()
    assert described.typed_search_attributes.get(search_attributes.WORKSHOP_ID) == workshop_id
    assert described.typed_search_attributes.get(search_attributes.FLOW_STATE) == "opened"

    def consent(caller: StepCaller) -> ConsentInput:
        return ConsentInput(
            confirmed=True, consent_text_version=CONSENT_TEXT_VERSION, caller=caller
        )

    for stranger in (StepCaller(), StepCaller(workshop_id="ws-another")):
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(ServiceEntryUpdate.RECORD_CONSENT, consent(stranger))
        assert isinstance(domain_error_from(refused.value), ServiceEntryNotFound)
    # The state says nothing to a stranger either: a step out of order is "not found" too.
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            ServiceEntryUpdate.CLOSE, {"caller": {"workshop_id": "ws-another"}}
        )
    assert isinstance(domain_error_from(refused.value), ServiceEntryNotFound)

    administrator = StepCaller(administrator=True)
    status = await handle.execute_update(
        ServiceEntryUpdate.RECORD_CONSENT, consent(administrator), result_type=ServiceEntryStatus
    )
    assert status.state == "consent_recorded"

    history = await handle.fetch_history()
    accepted = [
        event
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]
    assert [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in accepted
    ] == ["open", "record_consent"]
    await handle.terminate("test finished")
