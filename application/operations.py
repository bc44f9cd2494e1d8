"""Operations: what operators (and each workshop, for its own flows) inspect. The flow search
by vehicle, workshop, station, business state, type and status; a flow's history as a
timeline; a flow type's state machine as a Mermaid diagram, with a flow's current state marked.
The one implementation behind `GET /flows...` and the operators' console pages.

The search runs on Temporal's visibility store with the same search attributes the Temporal
Web UI and `temporal workflow list --query` use, so all three find the same flows. `Vin` holds
a VIN's keyed search value, never the VIN (contracts.search_attributes): a search by VIN asks
for the value computed here, and a flow's VIN comes from its memo, which is encrypted with the
payloads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from statemachine import StateMachine
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecution
from temporalio.exceptions import FailureError

from application.local_activities import decoded_failure, local_activity_run
from application.resources import AppResources
from application.workflow_calls import describe_visible
from contracts import search_attributes
from db.models import User
from domain.accounts import Role
from domain.errors import DomainError, NotFound
from domain.programming import ProgrammingMachine
from domain.registration import RegistrationMachine
from domain.remote_key_reads import RemoteKeyReadMachine
from domain.service_history import ServiceEntryMachine
from domain.technical_information import DocumentVersionMachine, SermiApprovalMachine
from domain.teleservices import TeleserviceTicketMachine

# The flows whose business states are a state machine, by workflow type.
MACHINES: dict[str, type[StateMachine]] = {
    "RegistrationWorkflow": RegistrationMachine,
    "ProgrammingSessionWorkflow": ProgrammingMachine,
    "ServiceEntryWorkflow": ServiceEntryMachine,
    "TeleserviceTicketWorkflow": TeleserviceTicketMachine,
    "RemoteKeyReadWorkflow": RemoteKeyReadMachine,
    "SermiApprovalWorkflow": SermiApprovalMachine,
    "DocumentPublishingWorkflow": DocumentVersionMachine,
}
# The `status` filter's values, and the `ExecutionStatus` each stands for.
STATUSES = {
    "running": "Running",
    "completed": "Completed",
    "failed": "Failed",
    "canceled": "Canceled",
    "terminated": "Terminated",
    "continued_as_new": "ContinuedAsNew",
    "timed_out": "TimedOut",
}
# What a search filter may hold: the characters of a flow key (ids, VINs, states, types).
SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:@-]{1,100}$")
PAGE_TOKEN_MAX_LENGTH = 4096


class InvalidFilter(DomainError):
    code = "invalid-filter"
    title = "A search filter has characters a flow key never has"


class InvalidPageToken(DomainError):
    code = "invalid-page-token"
    title = "The page token is not one this search handed out"


class FlowSummary(BaseModel):
    workflow_id: str
    run_id: str | None
    type: str
    status: str
    state: str | None
    vin: str | None = Field(
        description="The vehicle's VIN, from the flow's memo (encrypted with the payloads); the "
        "`Vin` search attribute holds only its keyed search value"
    )
    vin_search_value: str | None = Field(
        description="What the `Vin` search attribute holds: the VIN's keyed search value, to "
        "find the flow with `temporal workflow list --query \"Vin='...'\"` or the Web UI"
    )
    workshop_id: str | None
    station_id: str | None
    started_at: datetime | None
    closed_at: datetime | None


class FlowPage(BaseModel):
    flows: list[FlowSummary]
    next_page_token: str | None


class TimelineEntry(BaseModel):
    event_id: int
    time: datetime
    event: str
    name: str | None = None  # activity type, update name, signal name, timer id
    attempt: int | None = None
    failure: str | None = None
    detail: Any = None  # e.g. the last heartbeat progress of a timed-out activity


class Timeline(BaseModel):
    workflow_id: str
    type: str
    events: list[TimelineEntry]


def _checked(value: str | None, field: str) -> str | None:
    if value is not None and not SAFE_VALUE.match(value):
        raise InvalidFilter(f"{field} may hold letters, digits and _ . : @ - only", field=field)
    return value


def _term(name: str, value: str | None, field: str) -> str | None:
    value = _checked(value, field)
    return None if value is None else f"{name} = '{value}'"


async def _summary(execution: WorkflowExecution) -> FlowSummary:
    attributes = execution.typed_search_attributes
    vin = await execution.memo_value(search_attributes.VIN_MEMO, None, type_hint=str)
    return FlowSummary(
        workflow_id=execution.id,
        run_id=execution.run_id,
        type=execution.workflow_type,
        status=execution.status.name.lower() if execution.status else "unknown",
        state=attributes.get(search_attributes.FLOW_STATE),
        vin=vin,
        vin_search_value=attributes.get(search_attributes.VIN),
        workshop_id=attributes.get(search_attributes.WORKSHOP_ID),
        station_id=attributes.get(search_attributes.STATION_ID),
        started_at=execution.start_time,
        closed_at=execution.close_time,
    )


FlowStatus = Literal[
    "running", "completed", "failed", "canceled", "terminated", "continued_as_new", "timed_out"
]


async def search_flows(
    resources: AppResources,
    caller: User,
    *,
    vin: str | None = None,
    workshop: str | None = None,
    station: str | None = None,
    state: str | None = None,
    type: str | None = None,
    status: FlowStatus | None = None,
    page_size: int = 50,
    page_token: str | None = None,
) -> FlowPage:
    """Flows, newest first, by vehicle, workshop, station, business state, type or status:
    the caller's workshop's flows only (another workshop: 404), administrators' all. Filters
    with characters a flow key never has are `invalid-filter`; a page token this search did
    not hand out is `invalid-page-token`."""
    settings = resources.settings
    if caller.role != Role.ADMINISTRATOR:
        if workshop is not None and workshop != caller.workshop_id:
            raise NotFound("no workshop with this id", field="workshop")
        workshop = caller.workshop_id or "-"
    vin = _checked(vin, "vin")
    terms = [
        _term("Vin", None if vin is None else settings.vin_search_value(vin), "vin"),
        _term("WorkshopId", workshop, "workshop"),
        _term("StationId", station, "station"),
        _term("FlowState", state, "state"),
        _term("WorkflowType", type, "type"),
        f"ExecutionStatus = '{STATUSES[status]}'" if status else None,
    ]
    query = " AND ".join(term for term in terms if term) or None
    token = _page_token(page_token) if page_token else None
    iterator = resources.temporal.list_workflows(query, page_size=page_size, next_page_token=token)
    await iterator.fetch_next_page()
    next_token = iterator.next_page_token
    return FlowPage(
        flows=[await _summary(execution) for execution in iterator.current_page or []],
        next_page_token=_handed_out(next_token) if next_token else None,
    )


# A page token is Temporal's, behind a checksum of it: a token that was cut, mistyped or made up
# is refused here (422), where Temporal would fail the search as an error of its own (a 503
# after its retries). Not a signature: a token only pages through the caller's own search.
PAGE_TOKEN_CHECK_BYTES = 8


def _checksum(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()[:PAGE_TOKEN_CHECK_BYTES]


def _handed_out(raw: bytes) -> str:
    return base64.urlsafe_b64encode(_checksum(raw) + raw).decode()


def _page_token(text: str) -> bytes:
    try:
        data = base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError):
        data = b""
    check, raw = data[:PAGE_TOKEN_CHECK_BYTES], data[PAGE_TOKEN_CHECK_BYTES:]
    if not raw or _checksum(raw) != check:
        raise InvalidPageToken(
            "the page token is not one this search handed out", field="page_token"
        )
    return raw


async def _visible_flow(temporal: Client, user: User, workflow_id: str) -> tuple[str, str | None]:
    """The flow's type and business state, if the caller may see it (others: 404)."""
    description = await describe_visible(temporal, user, workflow_id, "flow", "workflow_id")
    state = description.typed_search_attributes.get(search_attributes.FLOW_STATE)
    return description.workflow_type, state


async def flow_timeline(resources: AppResources, caller: User, workflow_id: str) -> Timeline:
    """A flow's history as a timeline, if the caller may see the flow (others: 404)."""
    temporal = resources.temporal
    kind, _ = await _visible_flow(temporal, caller, workflow_id)
    history = await temporal.get_workflow_handle(workflow_id).fetch_history()
    names: dict[int, str] = {}
    entries = [await _entry(event, names, temporal) for event in history.events]
    return Timeline(workflow_id=workflow_id, type=kind, events=entries)


async def _entry(event: HistoryEvent, names: dict[int, str], temporal: Client) -> TimelineEntry:
    kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower()
    entry = TimelineEntry(
        event_id=event.event_id, time=event.event_time.ToDatetime(tzinfo=UTC), event=kind
    )
    attributes = event.WhichOneof("attributes")
    if not attributes:
        return entry
    data: Any = getattr(event, attributes)
    if kind == "marker_recorded":  # a local activity's one event, or a patch's marker
        run = await local_activity_run(event, temporal.data_converter)
        if run is not None:
            entry.name, entry.attempt = run.activity_type, run.attempt
            if run.failure is not None:
                entry.failure = _message(run.failure)
    elif kind == "activity_task_scheduled":
        names[event.event_id] = entry.name = data.activity_type.name
    elif kind.startswith("activity_task_"):
        entry.name = names.get(data.scheduled_event_id)
        if kind == "activity_task_started":
            entry.attempt = data.attempt
            if data.HasField("last_failure"):
                entry.failure = await _failure_message(data.last_failure, temporal)
        if "failure" in data.DESCRIPTOR.fields_by_name and data.HasField("failure"):
            entry.failure = await _failure_message(data.failure, temporal)
            timeout = data.failure.cause.timeout_failure_info
            if timeout.last_heartbeat_details.payloads:
                decoded = await temporal.data_converter.decode(
                    timeout.last_heartbeat_details.payloads
                )
                entry.detail = decoded[0] if decoded else None
    elif kind == "workflow_execution_update_accepted":
        entry.name = data.accepted_request.input.name
    elif kind == "workflow_execution_update_rejected":
        entry.name = data.rejected_request.input.name
        entry.failure = await _failure_message(data.failure, temporal)
    elif kind == "workflow_execution_signaled":
        entry.name = data.signal_name
    elif kind in ("timer_started", "timer_fired"):
        entry.name = data.timer_id
    elif kind in ("workflow_execution_failed", "workflow_task_failed"):
        entry.failure = await _failure_message(data.failure, temporal)
    return entry


async def _failure_message(failure: Failure, temporal: Client) -> str:
    """The failure's message as it was raised: Temporal stores it as an encoded attribute,
    encrypted with the payloads (temporal_client.py), and shows "Encoded failure" in its place."""
    return _message(await decoded_failure(temporal.data_converter, failure))


def _message(error: BaseException) -> str:
    return error.message if isinstance(error, FailureError) else str(error)


async def state_diagram(
    resources: AppResources, caller: User, flow_type: str, workflow_id: str | None = None
) -> str:
    """The Mermaid text of a flow type's states; with `workflow_id`, that flow's current state
    marked (`classDef active`)."""
    machine_class = MACHINES.get(flow_type)
    if machine_class is None:
        raise NotFound(
            f"no state machine for {flow_type}; known: {', '.join(sorted(MACHINES))}",
            field="flow_type",
        )
    machine: Any = machine_class
    if workflow_id is not None:
        kind, state = await _visible_flow(resources.temporal, caller, workflow_id)
        if kind != flow_type:
            raise NotFound(f"{workflow_id} is a {kind}", field="workflow_id")
        if state is not None:
            machine = machine_class(start_value=state)
    return format(machine, "mermaid")
