"""What every part of a station link stands on: the transport, one UDS client per ECU, the one
lock that keeps a single request on the wire, what the link believes of each ECU's session and
security, the keep-alive thread, and closing."""

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
        self._lock = threading.RLock()
        self._clients: dict[str, UdsClient] = {}
        # what this link did and saw, per ECU (no entry: unknown)
        self._sessions: dict[str, Session] = {}
        self._unlocked: dict[str, int] = {}  # security level unlocked on this link
        self._block_sizes: dict[str, int] = {}  # of the last download, to resume on this link
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

    def _client(self, ecu: str) -> UdsClient:
        with self._lock:
            if self._closed:
                raise RuntimeError("station link is closed")
            client = self._clients.get(ecu)
            if client is None:
                info = self.ecu(ecu)
                client = UdsClient(
                    self._transport.connection(info),
                    ecu=ecu,
                    timeouts=self.timeouts,
                    lock=self._lock,
                    # each exchange reaches the trace writer before the next one starts,
                    # so a killed station loses nothing of what the car saw
                    after_request=self.trace.flush if self.trace is not None else None,
                )
                client.open()
                self._clients[ecu] = client
            return client

    def _keepalive_loop(self) -> None:
        period = self.timeouts.keepalive
        while not self._stop.wait(min(0.25, period / 4)):
            for name, session in list(self._sessions.items()):
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
