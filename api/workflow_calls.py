"""Calling workflows from request handlers.

The server may abort an update it could not deliver in time (busy worker, workflow task
retried): it answers UNAVAILABLE, "workflow update was aborted". Such an update was not applied,
and retrying it is safe because every attempt carries the same update id, which the server
deduplicates: a step is never applied twice, however often it is sent.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from api.auth import ensure_workshop_access
from db.models import User
from domain.errors import NotFound
from workflows import search_attributes

UPDATE_ATTEMPTS = 6


async def execute_update(handle: WorkflowHandle[Any, Any], update: Any, argument: Any) -> Any:
    """`handle.execute_update(update, argument)`, retried while the server aborts it."""
    update_id = str(uuid.uuid4())
    for attempt in range(UPDATE_ATTEMPTS):
        try:
            return await handle.execute_update(update, argument, id=update_id)
        except RPCError as error:
            if error.status != RPCStatusCode.UNAVAILABLE or attempt == UPDATE_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.1 * 2**attempt)
    raise AssertionError("unreachable")


async def describe_or_absent(
    temporal: Client, workflow_id: str, absent: NotFound
) -> WorkflowExecutionDescription:
    """The workflow's description; `absent` (the caller's own not-found error) when the server
    does not know it. Other server errors stay what they are (a 503, not "no such thing")."""
    try:
        return await temporal.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        raise absent from error


async def describe_visible(
    temporal: Client, user: User, workflow_id: str, what: str, field: str
) -> WorkflowExecutionDescription:
    """The workflow, if the caller's workshop is the one in its `WorkshopId` (administrators:
    any). Unknown and foreign workflows answer the same 404, so existence does not leak."""
    absent = NotFound(f"no {what} with this id", field=field)
    description = await describe_or_absent(temporal, workflow_id, absent)
    workshop_id = description.typed_search_attributes.get(search_attributes.WORKSHOP_ID)
    ensure_workshop_access(user, workshop_id, absent)
    return description
