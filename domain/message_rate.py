"""How many signed messages one address may send a minute (the teleservice backend's messages,
the payment provider's callbacks), counted before anything of a message is read.

A fixed window per address: each minute starts a new count. Memory is bounded: at most
`MAX_TRACKED_ADDRESSES` addresses are counted in a window; beyond them every further address
shares one count, so a flood from many addresses cannot grow the table, and slows only itself
and the addresses that arrive after the table is full.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from domain.errors import DomainError

WINDOW_SECONDS = 60.0
MAX_TRACKED_ADDRESSES = 10_000
OTHER_ADDRESSES = "*"


class TooManyMessages(DomainError):
    """An address sent more signed messages this minute than the portal accepts; it waits
    `retry_after` seconds. Nothing of the message was read."""

    code = "too-many-messages"
    title = "Too many messages from this address this minute; wait before sending again"
    kind = "too_many_requests"


@dataclass
class MessageRate:
    """`per_minute` messages per address and window; `admit` says yes or raises."""

    per_minute: int
    _window: int = -1
    _counts: dict[str, int] = field(default_factory=dict)

    def admit(self, address: str, now: float) -> None:
        """Count one message from `address` at `now` (seconds, monotonic); raise
        `TooManyMessages` when the address is over its limit for this window."""
        window = math.floor(now / WINDOW_SECONDS)
        if window != self._window:
            self._window, self._counts = window, {}
        if address not in self._counts and len(self._counts) >= MAX_TRACKED_ADDRESSES:
            address = OTHER_ADDRESSES
        count = self._counts.get(address, 0) + 1
        self._counts[address] = count
        if count > self.per_minute:
            retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
            raise TooManyMessages(
                f"this address sent more than {self.per_minute} messages this minute",
                retry_after=retry_after,
            )
