"""How much a station, or a stranger, may ask of the gateway at once and over time.

A station is untrusted, and so is everyone who can reach the gateway's port. Before a call's
message is read:

- `FailedAuthentications`: a token that failed is refused without a lookup for a `window`
  (a stale worker repeating its replaced token costs one lookup, not one per call); a source
  address whose calls failed authentication `limit` times within the window, or that had
  `limit` unknown tokens looked up, is refused with RESOURCE_EXHAUSTED until the window is
  over, so strangers cannot turn the gateway into a load on the database. A token that
  authenticated before is looked up as ever, and a new token is too as long as its source has
  not been guessing, so the stations behind an address (a workshop's NAT) keep working beside
  one that fails, also after a gateway restart.
- `StationLimits`: per station, the calls per second (a token bucket), the calls open at once,
  and the long polls open at once; and the long polls of all stations together, which must
  stay below the frontend's per-namespace limit of concurrent polls (`frontend.namespaceCount`,
  1200 by default), or the portal's own workers could no longer poll.

Every refusal raises `Refused`, which the gateway audits. All state is per process and bounded:
per station (known, authenticated ids), per source or per token, with at most `max_entries` of each.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

import grpc

from gateway.rules import Refused

OVERFLOW = "*"


def source_of(peer: str) -> str:
    """The address a call comes from, without its port: `ipv4:10.0.0.7:51234` -> `10.0.0.7`.

    IPv6 sources are counted by their /64, which one machine usually holds whole.
    """
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0] or rest
    if kind == "ipv6":
        host = rest.rpartition(":")[0].strip("[]")
        try:
            return str(ipaddress.IPv6Network(f"{host}/64", strict=False))
        except ValueError:
            return host
    return peer or "unknown"  # unix sockets, or a call whose peer is already gone


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


NO_TOKEN = "send the station token as 'authorization: Bearer <token>'"
UNKNOWN_TOKEN = "the station token is unknown or was replaced"
# The portal issues 43 characters (secrets.token_urlsafe(32)); grpc itself takes headers of up
# to 16 KiB, which no lookup needs to hash.
MAX_TOKEN_CHARS = 256


@dataclass
class _Failures:
    started: float
    failures: int = 0  # calls refused for their token, of any kind
    lookups: int = 0  # of them, tokens looked up in vain


class FailedAuthentications:
    def __init__(
        self,
        limit: int,
        window: float,
        remember_good_for: float = 3600.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window
        self._remember = remember_good_for
        self._max = max_entries
        self._clock = clock
        self._sources: dict[str, _Failures] = {}
        # token digest -> until when: tokens that authenticated (looked up as ever) and tokens
        # that failed (refused without a lookup). Insertion-ordered: the oldest go first.
        self._good: dict[bytes, float] = {}
        self._bad: dict[bytes, float] = {}

    def admit(self, source: str, token: str | None) -> str:
        """The token, if it may be looked up; else Refused without a lookup: UNAUTHENTICATED,
        or RESOURCE_EXHAUSTED for a source over its limit."""
        now = self._clock()
        if token is None:
            self._refuse(self._entry(source, now), NO_TOKEN, now)
        if len(token) > MAX_TOKEN_CHARS:
            self._refuse(self._entry(source, now), UNKNOWN_TOKEN, now)
        digest = _digest(token)
        if self._good.get(digest, 0.0) > now:
            return token
        entry = self._entry(source, now)
        if self._bad.get(digest, 0.0) > now:
            self._refuse(entry, UNKNOWN_TOKEN, now)
        # A token not seen lately: looked up, unless this source has been guessing. Its other
        # failures (no token, a token that failed) cost no lookup and lock out nobody else.
        self._over(entry, entry.lookups, now)
        return token

    def _refuse(self, entry: _Failures, reason: str, now: float) -> NoReturn:
        self._over(entry, entry.failures, now)
        entry.failures += 1
        raise Refused(grpc.StatusCode.UNAUTHENTICATED, reason)

    def failed(self, source: str, token: str) -> None:
        """The token was looked up in vain."""
        now = self._clock()
        entry = self._entry(source, now)
        entry.failures += 1
        entry.lookups += 1
        digest = _digest(token)
        self._good.pop(digest, None)  # replaced: no longer good
        _remember(self._bad, digest, now + self._window, self._max)

    def succeeded(self, token: str) -> None:
        now = self._clock()
        digest = _digest(token)
        self._bad.pop(digest, None)
        _remember(self._good, digest, now + self._remember, self._max)

    def _over(self, entry: _Failures, count: int, now: float) -> None:
        if count >= self._limit:
            raise Refused(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"too many failed authentications from this address; wait "
                f"{entry.started + self._window - now:.0f} s",
            )

    def _entry(self, source: str, now: float) -> _Failures:
        """The source's count in the current window; while `max_entries` other sources are
        counted, new ones share one count (OVERFLOW)."""
        if source not in self._sources and len(self._sources) >= self._max:
            for gone in [s for s, e in self._sources.items() if now - e.started >= self._window]:
                del self._sources[gone]
            if len(self._sources) >= self._max:
                source = OVERFLOW
        entry = self._sources.get(source)
        if entry is None or now - entry.started >= self._window:
            entry = self._sources[source] = _Failures(started=now)
        return entry


def _remember(table: dict[bytes, float], digest: bytes, until: float, most: int) -> None:
    table.pop(digest, None)  # re-inserted last
    table[digest] = until
    if len(table) > most:
        del table[next(iter(table))]


@dataclass
class _Bucket:
    tokens: float
    at: float


class StationLimits:
    def __init__(
        self,
        calls_per_second: float,
        burst: int,
        open_calls: int,
        open_polls: int,
        open_polls_in_all: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = calls_per_second
        self._burst = float(burst)
        self._max_calls = open_calls
        self._max_polls = open_polls
        self._max_polls_in_all = open_polls_in_all
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._calls: dict[str, int] = {}
        self._polls: dict[str, int] = {}
        self.polls_in_all = 0
        self._swept_at = clock()

    def calls_of(self, station: str) -> int:
        return self._calls.get(station, 0)

    def polls_of(self, station: str) -> int:
        return self._polls.get(station, 0)

    def admit(self, station: str, poll: bool) -> Admitted:
        """A place for one call of the station, or Refused; release it with `Admitted.release`
        (or `with`). Checked and taken in one step, with no await in between."""
        now = self._clock()
        self._take_token(station, now)
        if self._calls.get(station, 0) >= self._max_calls:
            raise Refused(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"this station has {self._max_calls} calls open already",
            )
        if poll and self._polls.get(station, 0) >= self._max_polls:
            raise Refused(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"this station has {self._max_polls} polls open already",
            )
        if poll and self.polls_in_all >= self._max_polls_in_all:
            raise Refused(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the gateway holds {self._max_polls_in_all} polls already; try again later",
            )
        self._calls[station] = self._calls.get(station, 0) + 1
        if poll:
            self._polls[station] = self._polls.get(station, 0) + 1
            self.polls_in_all += 1
        return Admitted(self, station, poll)

    def _release(self, station: str, poll: bool) -> None:
        _decrement(self._calls, station)
        if poll:
            _decrement(self._polls, station)
            self.polls_in_all -= 1

    def _take_token(self, station: str, now: float) -> None:
        self._sweep(now)
        bucket = self._buckets.get(station)
        if bucket is None:
            bucket = self._buckets[station] = _Bucket(tokens=self._burst, at=now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens < 1.0:
            raise Refused(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"more than {self._rate:g} calls a second from this station",
            )
        bucket.tokens -= 1.0

    def _sweep(self, now: float) -> None:
        """Forget the buckets that have filled up again: a full bucket is a new one."""
        if now - self._swept_at < self._burst / self._rate:
            return
        self._swept_at = now
        full = [
            s
            for s, b in self._buckets.items()
            if b.tokens + (now - b.at) * self._rate >= self._burst
        ]
        for station in full:
            del self._buckets[station]


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]


class Admitted:
    """One admitted call; `release` gives its place back (once)."""

    def __init__(self, limits: StationLimits, station: str, poll: bool) -> None:
        self._limits = limits
        self._station = station
        self._poll = poll
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._limits._release(self._station, self._poll)

    def __enter__(self) -> Admitted:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()
