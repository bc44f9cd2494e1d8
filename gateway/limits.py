"""How much a station, or a stranger, may ask of the gateway at once and over time.

A station is untrusted, and so is everyone who can reach the gateway's port. Before a call's
message is read:

- `FailedAuthentications`: a source address that failed authentication `limit` times within
  `window` seconds is refused (RESOURCE_EXHAUSTED) without a token lookup until the window is
  over, so strangers cannot turn the gateway into a load on the database. A token that
  authenticated recently is still looked up from there, so a station behind the same address
  (a workshop's NAT) keeps working while a neighbour guesses.
- `StationLimits`: per station, the calls per second (a token bucket), the calls open at once,
  and the long polls open at once; and the long polls of all stations together, which must
  stay below the frontend's per-namespace limit of concurrent polls (`frontend.namespaceCount`,
  1200 by default), or the portal's own workers could no longer poll.

Every refusal raises `Refused`, which the gateway audits. All state is per process and bounded:
per station (known, authenticated ids) or per source, with at most `max_sources` sources.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass
class _Failures:
    started: float
    count: int = 0


class FailedAuthentications:
    def __init__(
        self,
        limit: int,
        window: float,
        remember_good_for: float = 3600.0,
        max_sources: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window
        self._remember = remember_good_for
        self._max = max_sources
        self._clock = clock
        self._failures: dict[str, _Failures] = {}
        self._good: dict[bytes, float] = {}  # token digest -> until when it skips the throttle

    def check(self, source: str, token: str | None) -> None:
        """Refuse a source over its limit, unless the token authenticated lately."""
        now = self._clock()
        entry = self._live(self._key(source, now), now)
        if entry is None or entry.count < self._limit:
            return
        if token is not None and self._good.get(_digest(token), 0.0) > now:
            return
        raise Refused(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"too many failed authentications from this address; wait "
            f"{entry.started + self._window - now:.0f} s",
        )

    def failed(self, source: str, token: str | None) -> None:
        now = self._clock()
        key = self._key(source, now)
        entry = self._live(key, now)
        if entry is None:
            entry = self._failures[key] = _Failures(started=now)
        entry.count += 1
        if token is not None:
            self._good.pop(_digest(token), None)  # replaced: no longer a way past the throttle

    def succeeded(self, token: str) -> None:
        now = self._clock()
        digest = _digest(token)
        self._good.pop(digest, None)  # re-inserted last: the dict's order is by last success
        self._good[digest] = now + self._remember
        if len(self._good) > self._max:
            del self._good[next(iter(self._good))]

    def _key(self, source: str, now: float) -> str:
        """The source's own entry, or, while `max_sources` others are counted, the shared one."""
        if source in self._failures or len(self._failures) < self._max:
            return source
        for gone in [s for s, e in self._failures.items() if now - e.started >= self._window]:
            del self._failures[gone]
        return source if len(self._failures) < self._max else OVERFLOW

    def _live(self, key: str, now: float) -> _Failures | None:
        entry = self._failures.get(key)
        if entry is not None and now - entry.started >= self._window:
            del self._failures[key]
            return None
        return entry


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
