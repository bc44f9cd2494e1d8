"""Payload encryption at the gateway, so the payload keys never reach a workshop PC.

The portal's clients encode payloads with the project's codec; the server stores them
encoded. The gateway decodes what it hands to a station (activity input, last heartbeat
details) and encodes what a station sends back (result, heartbeat details, failure details,
nested causes included) exactly where the SDK's own activity worker would apply a codec
(`temporalio.worker._activity`), with the same activity serialization context.
"""

from __future__ import annotations

from temporalio.api.workflowservice.v1 import (
    PollActivityTaskQueueResponse,
    RespondActivityTaskCompletedRequest,
    RespondActivityTaskFailedRequest,
)
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    WithSerializationContext,
)

from gateway.rules import TaskAnswer


def activity_context(
    task: PollActivityTaskQueueResponse, namespace: str, task_queue: str
) -> ActivitySerializationContext:
    """The context the SDK's activity worker gives its codec for this task."""
    return ActivitySerializationContext(
        namespace=task.workflow_namespace or namespace,
        workflow_id=task.workflow_execution.workflow_id,
        workflow_type=task.workflow_type.name,
        activity_type=task.activity_type.name,
        activity_id=task.activity_id,
        activity_task_queue=task_queue,
        is_local=False,
    )


def with_context(codec: PayloadCodec, context: ActivitySerializationContext) -> PayloadCodec:
    if isinstance(codec, WithSerializationContext):
        contextual: PayloadCodec = codec.with_context(context)
        return contextual
    return codec


async def decode_task(codec: PayloadCodec, task: PollActivityTaskQueueResponse) -> None:
    if task.HasField("input"):
        await codec.decode_wrapper(task.input)
    if task.HasField("heartbeat_details"):
        await codec.decode_wrapper(task.heartbeat_details)


async def encode_answer(
    codec: PayloadCodec,
    message: TaskAnswer,
) -> None:
    if isinstance(message, RespondActivityTaskCompletedRequest):
        if message.HasField("result"):
            await codec.encode_wrapper(message.result)
    elif isinstance(message, RespondActivityTaskFailedRequest):
        if message.HasField("failure"):
            await codec.encode_failure(message.failure)
        if message.HasField("last_heartbeat_details"):
            await codec.encode_wrapper(message.last_heartbeat_details)
    elif message.HasField("details"):
        await codec.encode_wrapper(message.details)
