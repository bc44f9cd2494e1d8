"""Operators inspect what every flow did: search by vehicle, workshop, station, state, type and
status; read a flow's history as a timeline; see its state machine with the current state.

The routes parse the query and shape the answer; the search, the timeline and the diagram are
the use cases of `application.operations` (which the operators' console pages call too).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from application.operations import (
    PAGE_TOKEN_MAX_LENGTH,
    SAFE_VALUE,
    FlowPage,
    FlowStatus,
    InvalidFilter,
    InvalidPageToken,
    Timeline,
    flow_timeline,
    search_flows,
    state_diagram,
)
from web.deps import CurrentUser, ResourcesDep
from web.problems import WORKFLOW_UNAVAILABLE, problem_responses

router = APIRouter(tags=["flows"])


def _filter(description: str) -> Any:
    """A search filter: declared with the characters it may hold, refused as `invalid-filter`
    (by the search, which builds the query) when it holds others."""
    return Query(
        default=None, description=description, json_schema_extra={"pattern": SAFE_VALUE.pattern}
    )


@router.get(
    "/flows",
    response_model=FlowPage,
    responses=problem_responses(InvalidFilter, InvalidPageToken, WORKFLOW_UNAVAILABLE),
)
async def list_flows(
    user: CurrentUser,
    resources: ResourcesDep,
    vin: str | None = _filter("The vehicle's VIN"),
    workshop: str | None = _filter("The workshop's id (others than one's own: 404)"),
    station: str | None = _filter("The station's id"),
    state: str | None = _filter("The business state, e.g. needs_technician"),
    type: str | None = _filter("Workflow type, e.g. ProgrammingSessionWorkflow"),
    status: FlowStatus | None = None,
    page_size: int = Query(default=50, ge=1, le=500),
    page_token: str | None = Query(
        default=None,
        max_length=PAGE_TOKEN_MAX_LENGTH,
        description="`next_page_token` of the previous page (`invalid-page-token` otherwise)",
    ),
) -> FlowPage:
    """Flows, newest first, by vehicle, workshop, station, business state, type or status.

    Workshops see their own flows only; administrators see all.
    """
    return await search_flows(
        resources,
        user,
        vin=vin,
        workshop=workshop,
        station=station,
        state=state,
        type=type,
        status=status,
        page_size=page_size,
        page_token=page_token,
    )


@router.get(
    "/flows/{workflow_id}/history",
    response_model=Timeline,
    responses=problem_responses(WORKFLOW_UNAVAILABLE),
)
async def flow_history(workflow_id: str, user: CurrentUser, resources: ResourcesDep) -> Timeline:
    """The flow's event history as a readable timeline."""
    return await flow_timeline(resources, user, workflow_id)


@router.get(
    "/flows/types/{flow_type}/diagram",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Mermaid stateDiagram-v2"},
        **problem_responses(WORKFLOW_UNAVAILABLE),
    },
)
async def flow_diagram(
    flow_type: str,
    user: CurrentUser,
    resources: ResourcesDep,
    workflow_id: str | None = Query(default=None, description="Mark this flow's current state"),
) -> PlainTextResponse:
    """The flow's business states as a Mermaid diagram (`stateDiagram-v2`)."""
    diagram = await state_diagram(resources, user, flow_type, workflow_id)
    return PlainTextResponse(diagram, media_type="text/plain")
