"""The `gateway.audit` log: every refusal is counted, but a flood cannot flood the log.

Per source address and interval, the first `burst` refusals are logged one line each (station,
call, reason, source). The rest are only counted, and one line per source says how many there
were, and which calls and reasons, when the interval is over (`flush`, which the gateway runs
periodically, and once more when it stops). Memory is bounded too: at most `max_sources`
sources are tracked; past that, new sources share one entry, "*".
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

audit = logging.getLogger("gateway.audit")

OVERFLOW = "*"
SUMMARY_DETAIL = 3  # the most frequent (station, call, reason) named in a summary line


@dataclass
class _Window:
    started: float
    logged: int = 0
    suppressed: Counter[tuple[str, str, str]] = field(default_factory=Counter)


class Audit:
    def __init__(
        self,
        burst: int,
        interval: float,
        max_sources: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1 or interval <= 0:
            raise ValueError("the audit log needs a burst of at least 1 and a positive interval")
        self.interval = interval
        self._burst = burst
        self._max_sources = max_sources
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def refused(
        self,
        source: str,
        station: str | None,
        call: str,
        code: grpc.StatusCode,
        reason: str,
        peer: str,
    ) -> None:
        now = self._clock()
        window = self._window(source, now)
        if window.logged < self._burst:
            window.logged += 1
            audit.warning(
                "refused station=%s call=%s code=%s reason=%s peer=%s",
                station or "-",
                call,
                code.name,
                reason,
                peer,
                extra={
                    "station": station,
                    "call": call,
                    "code": code.name,
                    "reason": reason,
                    "source": source,
                },
            )
        else:
            window.suppressed[(station or "-", call, reason)] += 1

    def flush(self, everything: bool = False) -> None:
        """One line per source whose interval is over (or every source: at stop) with the
        refusals that were not logged one by one; sources gone quiet are forgotten."""
        now = self._clock()
        for source, window in list(self._windows.items()):
            if everything or now - window.started >= self.interval:
                self._summarize(source, window, now)
                del self._windows[source]

    def _window(self, source: str, now: float) -> _Window:
        window = self._windows.get(source)
        if window is not None and now - window.started >= self.interval:
            self._summarize(source, window, now)
            window = None
        if window is None:
            if len(self._windows) >= self._max_sources:
                self.flush()
            if len(self._windows) >= self._max_sources:
                source = OVERFLOW
                window = self._windows.get(source)
            if window is None:
                window = self._windows[source] = _Window(started=now)
        return window

    def _summarize(self, source: str, window: _Window, now: float) -> None:
        count = sum(window.suppressed.values())
        if not count:
            return
        most = "; ".join(
            f"{n}x station={station} call={call} reason={reason}"
            for (station, call, reason), n in window.suppressed.most_common(SUMMARY_DETAIL)
        )
        audit.warning(
            "refused %d more calls from %s in %.0f s, not logged one by one: %s",
            count,
            source,
            now - window.started,
            most,
            extra={
                "station": None,
                "call": None,
                "reason": "repeated refusals",
                "source": source,
                "suppressed": count,
            },
        )
        window.suppressed.clear()
