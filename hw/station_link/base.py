"""What every part of a station link stands on: the transport, one UDS client per ECU, the
locks that order requests, what the link believes of each ECU's session and security, the
keep-alive thread, and closing.

Locks: over DoIP every ECU has its own lock, so requests to different ECUs are on the wire at
the same time (the transport hands each ECU only its own answers); over CAN one lock per bus
keeps a single request on the bus. A method of the link holds the lock of its ECU for the
whole exchange, and a multi-request step (``ensure_programming``, a programming request that
re-establishes the session) for all of its requests. ``_lock`` guards only the link's own
tables, briefly, and is never held while waiting for the car."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Self

from hw import protocol as P
from hw.errors import VehicleLinkError
from hw.protocol import EcuInfo, Session
from hw.station_link.transports import Transport
from hw.trace import FrameTrace
from hw.uds_client import LinkTimeouts, UdsClient
from hw.vehicle_url import VehicleUrl

log = logging.getLogger(__name__)


class LinkBase:
    """The plumbing of :class:`hw.station_link.StationLink` (see the package doc)."""

    def __init__(
        self,
        url: VehicleUrl,
        transport: Transport,
        *,
        timeouts: LinkTimeouts,
        trace: FrameTrace | None = None,
        ecus: Sequence[EcuInfo] = P.VEHICLE_ECUS,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.timeouts = timeouts
        self.trace = trace
        self._transport = transport
        self._ecus = tuple(ecus)
        self._lock = threading.Lock()  # the tables below; never held over a request
        self._parallel = transport.parallel_ecus
        self._bus_lock = threading.RLock()  # CAN: one request on the bus at a time
        self._ecu_locks: dict[str, threading.RLock] = {}
        self._clients: dict[str, UdsClient] = {}
        # what this link did and saw, per ECU (no entry: unknown)
        self._sessions: dict[str, Session] = {}
        self._unlocked: dict[str, int] = {}  # security level unlocked on this link
        self._block_sizes: dict[str, int] = {}  # of the last download, to resume on this link
        self._fingerprints: dict[str, P.Fingerprint] = {}  # written here; again per session
        self._tester_identity: dict[str, bool] = {}  # ECU holds 0xF198/0xF199 (no entry: ask)
        self._on_close = on_close
        self._closed = False
        self._stop = threading.Event()
        self._keepalive: threading.Thread | None = None
        if timeouts.keepalive > 0:
            self._keepalive = threading.Thread(
                target=self._keepalive_loop, name="tester-present", daemon=True
            )
            self._keepalive.start()

    def ecu(self, name: str) -> EcuInfo:
        return P.ecu_by_name(name, self._ecus)

    def uds(self, ecu: str) -> UdsClient:
        """The raw UDS client of ``ecu`` (same lock, same typed errors) for requests the
        link has no method for."""
        return self._client(ecu)

    def read_did(self, ecu: str, did: int) -> bytes:
        """Raw ReadDataByIdentifier."""
        return self._client(ecu).read_did(did)

    def _ecu_lock(self, ecu: str) -> threading.RLock:
        """The lock that orders requests to ``ecu``: its own over DoIP, the bus's over CAN."""
        if not self._parallel:
            return self._bus_lock
        with self._lock:
            lock = self._ecu_locks.get(ecu)
            if lock is None:
                lock = self._ecu_locks[ecu] = threading.RLock()
            return lock

    def _client(self, ecu: str) -> UdsClient:
        # created under the ECU's lock, not the link's: opening may wait for the bus
        with self._ecu_lock(ecu):
            if self._closed:
                raise RuntimeError("station link is closed")
            client = self._clients.get(ecu)
            if client is None:
                info = self.ecu(ecu)
                client = UdsClient(
                    self._transport.connection(info),
                    ecu=ecu,
                    timeouts=self.timeouts,
                    lock=self._ecu_lock(ecu),
                    # each exchange reaches the trace writer before the next one starts,
                    # so a killed station loses nothing of what the car saw
                    after_request=self.trace.flush if self.trace is not None else None,
                )
                client.open()
                with self._lock:
                    self._clients[ecu] = client
            return client

    def _keepalive_loop(self) -> None:
        period = self.timeouts.keepalive
        while not self._stop.wait(min(0.25, period / 4)):
            for name, session in list(self._sessions.items()):  # a copy: lanes change it
                if session == Session.DEFAULT:
                    continue
                client = self._clients.get(name)
                if client is None:
                    continue
                # under the client's send guard: no request of this ECU starts meanwhile, so
                # the TesterPresent is on the wire and in the trace before the next request
                with client.send_guard:
                    if client.in_flight or time.monotonic() - client.last_activity < period:
                        continue
                    try:
                        client.send_nowait(b"\x3e\x80")
                        client.last_activity = time.monotonic()
                    except VehicleLinkError as exc:
                        log.debug("keep-alive to %s failed: %s", name, exc)
                    except Exception:
                        log.exception("keep-alive to %s failed", name)

    def close(self) -> None:
        if self._closed:
            return
        self._stop.set()
        if self._keepalive is not None:
            self._keepalive.join(timeout=2)
        with self._lock:
            self._closed = True
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()
        try:
            self._transport.close()
        finally:
            if self.trace is not None:
                self.trace.close()
            if self._on_close is not None:
                self._on_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
