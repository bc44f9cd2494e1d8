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

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

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
