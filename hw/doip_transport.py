"""DoIP transport for the tester: one ``doipclient.DoIPClient`` (one TCP connection, one
routing activation) and a udsoncan connector per ECU logical address behind the gateway.

Several ECUs at once: one reader thread per link reads every DoIP message off the socket and
puts it on the queue of the ECU whose logical address sent it (diagnostic messages and their
positive and negative acknowledgements alike), so a thread waiting for one ECU never reads
another ECU's answer. Sends go out whole under one lock (the reader's own alive-check answers
too). Answers are traced by the reader as they arrive, requests just before they are sent,
so the frame log keeps the order of the wire.

:class:`DoipEcuConnection` extends ``doipclient.connectors.DoIPClientUDSConnector``: it waits
for the DoIP acknowledgement of each request itself (to see NACK codes and keep a response
that overtakes it), skips the acknowledgements owed to keep-alives sent without waiting, and
reports a closed socket as :class:`hw.errors.LinkDisconnected`.
"""

from __future__ import annotations

import contextlib
import math
import queue
import socket
import threading
import time
from typing import Any

from doipclient import DoIPClient
from doipclient.connectors import DoIPClientUDSConnector
from doipclient.constants import A_PROCESSING_TIME
from doipclient.messages import (
    DiagnosticMessage,
    DiagnosticMessageNegativeAcknowledgement,
    DiagnosticMessagePositiveAcknowledgement,
    RoutingActivationRequest,
)
from udsoncan.exceptions import TimeoutException

from hw.errors import BusTimeout, LinkDisconnected, RequestOutOfRange
from hw.trace import FrameTrace

DOIP_NACK_NAMES = {
    0x02: "invalid source address",
    0x03: "unknown target address",
    0x04: "diagnostic message too large",
    0x05: "out of memory",
    0x06: "target unreachable",
    0x07: "unknown network",
    0x08: "transport protocol error",
}

_ANSWERS = (
    DiagnosticMessage,
    DiagnosticMessagePositiveAcknowledgement,
    DiagnosticMessageNegativeAcknowledgement,
)


class _SerialSendClient(DoIPClient):
    """DoIPClient whose sends go out whole under one lock: the link's lanes, the keep-alive
    and the reader (answering an alive check) send on the same socket."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.send_mutex = threading.RLock()  # before super(): it sends the routing activation
        super().__init__(*args, **kwargs)

    def send_doip(
        self,
        payload_type: int,
        payload_data: bytes | bytearray,
        transport: Any = DoIPClient.TransportType.TRANSPORT_TCP,
        disable_retry: bool = False,
    ) -> None:
        with self.send_mutex:
            if transport != DoIPClient.TransportType.TRANSPORT_TCP or self._auto_reconnect_tcp:
                super().send_doip(payload_type, payload_data, transport, disable_retry)
                return
            # doipclient's own send formats every payload byte as hex for a debug line before
            # it asks whether debug is on: about 1 ms of CPU per 4 KiB TransferData block, more
            # than the rest of the block's work. Same bytes on the wire, without that.
            self._tcp_sock.sendall(
                self._pack_doip(self._protocol_version, payload_type, payload_data)
            )


class DoipLink:
    """One DoIP connection to the vehicle's edge node (gateway), and its reader thread."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tester_address: int,
        gateway_address: int,
        trace: FrameTrace | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self.tester_address = tester_address
        self.trace = trace
        self._inboxes: dict[int, queue.SimpleQueue[Any]] = {}
        self._inboxes_lock = threading.Lock()
        self.failure: str | None = None  # why the connection is gone; set by the reader
        self._closing = threading.Event()
        # doipclient connects without a timeout; probe first so an unreachable interface
        # fails fast instead of hanging in connect()
        try:
            probe = socket.create_connection((host, port), timeout=connect_timeout)
            probe.close()
        except OSError as exc:
            raise LinkDisconnected(f"DoIP {host}:{port} not reachable: {exc}") from exc
        try:
            self.client = _SerialSendClient(
                host,
                gateway_address,
                tcp_port=port,
                client_logical_address=tester_address,
                activation_type=RoutingActivationRequest.ActivationType.Default,
            )
        except (OSError, TimeoutError) as exc:
            raise LinkDisconnected(f"DoIP {host}:{port}: routing activation failed: {exc}") from exc
        # trace, then send, as one step: the log keeps the order of the wire
        self.send_lock = self.client.send_mutex
        self._reader = threading.Thread(target=self._read_loop, name="doip-reader", daemon=True)
        self._reader.start()

    @property
    def closed_by_peer(self) -> bool:
        return bool(getattr(self.client, "_tcp_close_detected", False))

    def connection(self, ecu_name: str, ecu_address: int, ack_timeout: float) -> DoipEcuConnection:
        with self._inboxes_lock:
            inbox = self._inboxes.setdefault(ecu_address, queue.SimpleQueue())
        return DoipEcuConnection(self, ecu_name, ecu_address, ack_timeout, inbox)

    def _read_loop(self) -> None:
        """Read every message and hand it to the queue of the ECU that sent it."""
        why = "closed"
        try:
            while not self._closing.is_set():
                try:
                    # No deadline: doipclient's read_doip drops bytes it received in the
                    # same pass its deadline ran out. It returns a message, or raises once the
                    # socket is closed (close() shuts it down to end this loop).
                    msg = self.client.read_doip(timeout=math.inf)
                except TimeoutError:
                    if self.closed_by_peer and not self._closing.is_set():
                        why = "closed by the vehicle"
                    return
                if not isinstance(msg, _ANSWERS) or msg.target_address != self.tester_address:
                    continue
                if isinstance(msg, DiagnosticMessage) and self.trace is not None:
                    self.trace.log_diagnostic(
                        msg.source_address, self.tester_address, bytes(msg.user_data), is_rx=True
                    )
                with self._inboxes_lock:
                    inbox = self._inboxes.get(msg.source_address)
                if inbox is not None:
                    inbox.put(msg)
        except OSError as exc:  # includes "DoIP Negative Acknowledge" (generic NACK)
            why = str(exc)
        except Exception as exc:  # a malformed message must not leave the lanes waiting
            why = f"reader failed: {exc!r}"
        finally:
            self.failure = why
            with self._inboxes_lock:
                inboxes = list(self._inboxes.values())
            for inbox in inboxes:
                inbox.put(None)  # wakes a waiting lane; it then sees `failure`

    def close(self) -> None:
        self._closing.set()
        sock = getattr(self.client, "_tcp_sock", None)
        if sock is not None:  # wakes the reader out of recv() at once
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.client.close()
        if self._reader is not threading.current_thread():
            self._reader.join(timeout=A_PROCESSING_TIME + 1)


class DoipEcuConnection(DoIPClientUDSConnector):
    def __init__(
        self,
        link: DoipLink,
        ecu_name: str,
        ecu_address: int,
        ack_timeout: float,
        inbox: queue.SimpleQueue[Any],
    ) -> None:
        super().__init__(link.client, name=f"doip-{ecu_name}", close_connection=False)
        self._link = link
        self._ecu = ecu_name
        self._address = ecu_address
        self._ack_timeout = ack_timeout
        self._inbox = inbox
        self._early: list[bytes] = []
        # acknowledgements still to come for messages sent without waiting (keep-alive); they
        # arrive before the next request's own, in the order sent
        self._acks_owed = 0
        self._acks_lock = threading.Lock()

    def _disconnected(self, why: str) -> LinkDisconnected:
        return LinkDisconnected(f"DoIP connection lost ({why})", ecu=self._ecu)

    def _read(self, timeout: float) -> Any:
        """This ECU's next message, None after ``timeout``."""
        if self._link.failure is not None:
            raise self._disconnected(self._link.failure)
        try:
            msg = self._inbox.get(timeout=max(timeout, 0.001))
        except queue.Empty:
            return None
        if msg is None:
            self._inbox.put(None)  # for whoever reads next
            raise self._disconnected(self._link.failure or "closed")
        return msg

    def _owed_ack(self) -> bool:
        """Whether an acknowledgement just read belongs to a keep-alive (and settle it)."""
        with self._acks_lock:
            if self._acks_owed:
                self._acks_owed -= 1
                return True
            return False

    def send_nowait(self, payload: bytes) -> None:
        """Send without waiting for anything (TesterPresent with SPR bit); its DoIP
        acknowledgement is skipped by whoever reads next."""
        with self._acks_lock:
            self._acks_owed += 1
        try:
            self._send(payload)
        except LinkDisconnected:
            with self._acks_lock:
                self._acks_owed -= 1
            raise

    def _send(self, payload: bytes) -> None:
        trace = self._link.trace
        message = DiagnosticMessage(self._link.tester_address, self._address, bytearray(payload))
        try:
            with self._link.send_lock:  # the log keeps the order of the wire, keep-alives too
                if trace is not None:
                    trace.log_diagnostic(
                        self._link.tester_address, self._address, bytes(payload), is_rx=False
                    )
                self._link.client.send_doip_message(message)
        except OSError as exc:
            raise self._disconnected(str(exc)) from exc

    def specific_send(self, payload: bytes, timeout: float | None = None) -> None:
        self._early.clear()
        self._send(payload)
        deadline = time.monotonic() + self._ack_timeout
        skipped = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                if skipped:  # a keep-alive never got its acknowledgement (its frame was
                    # lost), so the one skipped as its was this request's
                    with self._acks_lock:
                        self._acks_owed = 0
                    return
                raise BusTimeout("no DoIP acknowledgement", ecu=self._ecu)
            msg = self._read(left)
            if msg is None:
                continue
            if isinstance(msg, DiagnosticMessagePositiveAcknowledgement):
                if self._owed_ack():
                    skipped += 1
                    continue
                return
            if isinstance(msg, DiagnosticMessageNegativeAcknowledgement):
                if self._owed_ack():
                    continue  # a keep-alive refused: the request's own verdict still comes
                code = int(msg.nack_code)
                text = f"DoIP NACK 0x{code:02X} {DOIP_NACK_NAMES.get(code, '')}".strip()
                if code == 0x03:
                    raise RequestOutOfRange(text, ecu=self._ecu)
                if code in (0x06, 0x08):
                    raise BusTimeout(text, ecu=self._ecu)
                raise LinkDisconnected(text, ecu=self._ecu)
            if isinstance(msg, DiagnosticMessage):
                self._early.append(bytes(msg.user_data))

    def specific_wait_frame(self, timeout: float | None = 2) -> bytes | None:
        if self._early:
            return self._early.pop(0)
        deadline = time.monotonic() + (timeout if timeout is not None else 2.0)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutException(f"no diagnostic response from {self._ecu} in time")
            msg = self._read(left)
            if isinstance(msg, DiagnosticMessage):
                return bytes(msg.user_data)
            if isinstance(msg, _ANSWERS[1:]):
                self._owed_ack()  # a keep-alive's, or a late one of an earlier request

    def empty_rxqueue(self) -> None:
        """Before a request (udsoncan calls it): nothing already here answers the request
        about to go out. Drop stale answers (of requests that timed out), as the ISO-TP
        connection does; acknowledgements owed to keep-alives are settled."""
        self._early.clear()
        while True:
            try:
                msg = self._inbox.get_nowait()
            except queue.Empty:
                return
            if msg is None:
                self._inbox.put(None)  # the link is gone: the send will say so
                return
            if not isinstance(msg, DiagnosticMessage):
                self._owed_ack()
