"""The Standard Webhooks headers of a signed message from another system, as one request
dependency for every route that takes one (the teleservice messages, the payment provider's
callbacks); each route verifies them with its own secret (`domain.signed_messages`)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Header, Request

from domain.message_rate import MessageRate, TooManyMessages
from domain.signed_messages import MAX_MESSAGE_ID_LENGTH, SignedHeaders
from web.auth import client_ip
from web.problems import Responses, problem_responses, with_retry_after


def signed_headers(
    request: Request,
    webhook_id: Annotated[
        str | None, Header(max_length=MAX_MESSAGE_ID_LENGTH, description="Unique per message")
    ] = None,
    webhook_timestamp: Annotated[
        str | None, Header(max_length=20, description="Seconds since the epoch")
    ] = None,
    webhook_signature: Annotated[
        str | None, Header(max_length=1000, description="`v1,<base64>`, space-separated")
    ] = None,
) -> SignedHeaders:
    # Counted before the body is read: a flood costs the portal a counter, not a read. The
    # count is the served app's (`api.app.install_api`).
    rate: MessageRate = request.app.state.message_rate
    rate.admit(client_ip(request), time.monotonic())
    return SignedHeaders(webhook_id, webhook_timestamp, webhook_signature)


SignedHeadersDep = Annotated[SignedHeaders, Depends(signed_headers)]


def with_message_rate(responses: Responses) -> Responses:
    """A signed-message route's `responses`, with the 429 of the per-address count."""
    responses.update(problem_responses(TooManyMessages))
    return with_retry_after(responses, 429, "Seconds until this address may send again")
