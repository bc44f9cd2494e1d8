"""The Standard Webhooks headers of a signed message from another system, as one request
dependency for every route that takes one (the teleservice messages, the payment provider's
callbacks); each route verifies them with its own secret (`domain.signed_messages`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from domain.signed_messages import MAX_MESSAGE_ID_LENGTH, SignedHeaders


def signed_headers(
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
    return SignedHeaders(webhook_id, webhook_timestamp, webhook_signature)


SignedHeadersDep = Annotated[SignedHeaders, Depends(signed_headers)]
