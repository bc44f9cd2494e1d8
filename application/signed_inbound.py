"""What every endpoint that takes a signed message from another system shares: the body read
within a bound before anything else is done with it (the teleservice messages, the payment
provider's callbacks)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from domain.errors import TooLarge


async def read_bounded(
    chunks: AsyncIterator[bytes], declared_length: int | None, limit: int, too_large: TooLarge
) -> bytes:
    """The body, at most `limit` bytes; `too_large` as soon as the declared length or the
    bytes read so far pass it (the rest is never read)."""
    if declared_length is not None and declared_length > limit:
        raise too_large
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)
