"""What every endpoint that takes a signed message from another system shares: the body read
within a bound before anything else is done with it, and read into its model with the first
field it fails on named (the teleservice messages, the payment provider's callbacks)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from pydantic import ValidationError

from domain.errors import DomainError, TooLarge

Message = TypeVar("Message")


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


def validated_body(
    validate: Callable[[bytes], Message], body: bytes, invalid: type[DomainError]
) -> Message:
    """The body as `validate` reads it; a body it refuses is `invalid`, whose detail and `field`
    name the first field that failed."""
    try:
        return validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise invalid(f"{field}: {first['msg']}", field=field or None) from error
