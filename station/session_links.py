"""One open vehicle link, with one frame log, per programming session in this worker."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from hw.errors import LinkInUse
from hw.station_link import StationLink, connect_station_link


class SessionLinks:
    """One open vehicle link, with one frame log, per programming session in this worker.

    Opening a link is not free (DoIP routing activation, the trace writer), and a session runs
    dozens of steps. A step borrows the session's link and gives it back; a step that fails
    closes it once no other step of the session uses it, so the retry starts on a fresh
    connection. The session's last step closes it; links of sessions that went quiet are
    closed after `idle_seconds`.

    Steps of different ECUs of a session (parallel lanes) share the link at the same time (it
    keeps one request per ECU on the wire). One step per ECU at a time: a retry that reaches
    this worker while the attempt it replaces still runs here (the server timed that one out,
    e.g. while the gateway was down, and it has not yet learnt it is cancelled) waits for it,
    up to `wait_seconds`, instead of writing the same ECU from two places at once.
    """

    def __init__(
        self,
        vehicle_url: str,
        traces_dir: Path,
        idle_seconds: float = 300,
        wait_seconds: float = 30,
    ) -> None:
        self.vehicle_url = vehicle_url
        self.traces_dir = traces_dir
        self.idle_seconds = idle_seconds
        self.wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._released = threading.Condition(self._lock)
        self._idle: dict[str, tuple[StationLink, float]] = {}
        self._open: dict[str, _SharedLink] = {}  # links borrowed by at least one step
        self._in_use: set[tuple[str, str | None]] = set()

    @contextlib.contextmanager
    def use(self, session_id: str, ecu: str | None = None) -> Iterator[StationLink]:
        """Borrow the session's link for a step of `ecu` (None: a step of the whole car)."""
        self._close_idle()
        key = (session_id, ecu)
        with self._released:
            if not self._released.wait_for(
                lambda: key not in self._in_use, timeout=self.wait_seconds
            ):
                raise LinkInUse(f"session {session_id}: an earlier attempt still runs here")
            self._in_use.add(key)
            shared = self._open.get(session_id)
            if shared is None:
                entry = self._idle.pop(session_id, None)
                shared = self._open[session_id] = _SharedLink(entry[0] if entry else None)
            shared.users += 1
        try:
            link = shared.connected(lambda: self._connect(session_id))
            try:
                yield link
            except BaseException:
                shared.broken = True
                raise
        finally:
            with self._released:
                shared.users -= 1
                closing = None
                if shared.users == 0:
                    del self._open[session_id]
                    if shared.broken:
                        closing = shared.link
                    elif shared.link is not None:
                        self._idle[session_id] = (shared.link, time.monotonic())
                self._in_use.discard(key)
                self._released.notify_all()
            if closing is not None:
                closing.close()

    def _connect(self, session_id: str) -> StationLink:
        folder = self.traces_dir / session_id
        folder.mkdir(parents=True, exist_ok=True)
        # One ASC file per connection; in name order they are the session's frame log.
        return connect_station_link(self.vehicle_url, folder / f"{time.time_ns()}.asc")

    def is_open(self, session_id: str) -> bool:
        """Whether the session's link is open here (in a step, or kept between steps)."""
        with self._lock:
            return session_id in self._open or session_id in self._idle

    def close(self, session_id: str) -> None:
        with self._lock:
            entry = self._idle.pop(session_id, None)
        if entry:
            entry[0].close()

    def _close_idle(self) -> None:
        now = time.monotonic()
        with self._lock:
            stale = [k for k, (_, used) in self._idle.items() if now - used > self.idle_seconds]
            links = [self._idle.pop(k)[0] for k in stale]
        for link in links:
            link.close()


class _SharedLink:
    """A session's link while steps borrow it: opened by the first, closed after the last
    when one of them failed (`broken`)."""

    def __init__(self, link: StationLink | None) -> None:
        self.link = link
        self.users = 0
        self.broken = False
        self._opening = threading.Lock()

    def connected(self, connect: Callable[[], StationLink]) -> StationLink:
        with self._opening:  # steps that start together open one connection, not several
            if self.link is None:
                self.link = connect()
            return self.link
