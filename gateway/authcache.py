"""A short memory of token lookups, so a busy station does not cost the database a query a call.

Without it, every call of a station (each of its 5 long polls, every heartbeat), every re-check
of an open poll (`GatewayConfig.reauthenticate_every`) and every task handed out looks the
token up again: 2-3 queries a second per working station, to learn that nothing changed.
`CachedAuthentication` answers from memory for `ttl` seconds after a lookup, for a token that
names a station and for one that names nobody, and looks a token up once however many calls
ask for it at the same moment. So a replaced or released token still works for at most `ttl`
more: new calls are refused within `ttl`, and open calls, re-checked through this cache, are
cut within `ttl + reauthenticate_every`.

Tokens come from anyone who reaches the gateway, so the memory is bounded: tokens are kept by
their SHA-256 digest (32 bytes, whatever was sent), at most `max_entries` that name a station
and, apart, at most `max_entries` that name nobody, so strangers' guesses cannot push the
stations' own tokens out; the oldest go first. A failed lookup (database away) is not kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from typing import TypeVar

from gateway.auth import Authenticate

V = TypeVar("V")


class CachedAuthentication:
    """An `Authenticate` that remembers the answers of another for `ttl` seconds."""

    def __init__(
        self,
        authenticate: Authenticate,
        ttl: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or max_entries < 1:
            raise ValueError("a cache needs a positive ttl and room for one entry")
        self._authenticate = authenticate
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        # token digest -> (until when, station id); insertion-ordered, oldest first.
        self._stations: dict[bytes, tuple[float, str]] = {}
        self._nobody: dict[bytes, float] = {}
        # Lookups under way, shared by the calls that ask for the same token meanwhile.
        self._pending: dict[bytes, asyncio.Future[str | None]] = {}
        self.lookups = 0  # lookups made (for tests and measurements)

    def __len__(self) -> int:
        return len(self._stations) + len(self._nobody)

    async def __call__(self, token: str) -> str | None:
        digest = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        known = self._stations.get(digest)
        if known is not None and known[0] > now:
            return known[1]
        if self._nobody.get(digest, 0.0) > now:
            return None
        pending = self._pending.get(digest)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup(token, digest))
            self._pending[digest] = pending
            pending.add_done_callback(lambda done: self._settled(digest, done))
        # Shielded: one caller leaving (its call cancelled) does not cancel the others' lookup.
        return await asyncio.shield(pending)

    async def _lookup(self, token: str, digest: bytes) -> str | None:
        self.lookups += 1
        station = await self._authenticate(token)
        until = self._clock() + self._ttl
        self._stations.pop(digest, None)
        self._nobody.pop(digest, None)
        if station is None:
            _keep(self._nobody, digest, until, self._max)
        else:
            _keep(self._stations, digest, (until, station), self._max)
        return station

    def _settled(self, digest: bytes, done: asyncio.Future[str | None]) -> None:
        if self._pending.get(digest) is done:
            del self._pending[digest]
        if not done.cancelled():
            done.exception()  # retrieved, also when every caller has left


def _keep(table: dict[bytes, V], digest: bytes, value: V, most: int) -> None:
    table[digest] = value  # popped before: inserted last, the newest
    while len(table) > most:
        del table[next(iter(table))]
