"""DoIP transport for the tester: one ``doipclient.DoIPClient`` (one TCP connection, one
routing activation) and a udsoncan connector per ECU logical address behind the gateway.

:class:`DoipEcuConnection` extends ``doipclient.connectors.DoIPClientUDSConnector`` so it
can address any ECU over the shared client: it waits for the DoIP acknowledgement itself
(to see NACK codes and keep early responses), filters responses by source address, traces
payloads and reports a closed socket as :class:`hw.errors.LinkDisconnected`.
"""

from __future__ import annotations

import contextlib
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


class DoipLink:
    """One DoIP connection to the vehicle's edge node (gateway)."""

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
        self.send_lock = threading.Lock()  # keep-alive sends from another thread
        # doipclient connects without a timeout; probe first so an unreachable interface
        # fails fast instead of hanging in connect()
        try:
            probe = socket.create_connection((host, port), timeout=connect_timeout)
            probe.close()
        except OSError as exc:
            raise LinkDisconnected(f"DoIP {host}:{port} not reachable: {exc}") from exc
        try:
            self.client = DoIPClient(
                host,
                gateway_address,
                tcp_port=port,
                client_logical_address=tester_address,
                activation_type=RoutingActivationRequest.ActivationType.Default,
            )
        except (OSError, TimeoutError) as exc:
            raise LinkDisconnected(f"DoIP {host}:{port}: routing activation failed: {exc}") from exc

    @property
    def closed_by_peer(self) -> bool:
        return bool(getattr(self.client, "_tcp_close_detected", False))

    def connection(self, ecu_name: str, ecu_address: int, ack_timeout: float) -> DoipEcuConnection:
        return DoipEcuConnection(self, ecu_name, ecu_address, ack_timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.client.close()


class DoipEcuConnection(DoIPClientUDSConnector):
    def __init__(self, link: DoipLink, ecu_name: str, ecu_address: int, ack_timeout: float) -> None:
        super().__init__(link.client, name=f"doip-{ecu_name}", close_connection=False)
        self._link = link
        self._ecu = ecu_name
        self._address = ecu_address
        self._ack_timeout = ack_timeout
        self._early: list[bytes] = []

    def _disconnected(self, why: str) -> LinkDisconnected:
        return LinkDisconnected(f"DoIP connection lost ({why})", ecu=self._ecu)

    def _read(self, timeout: float) -> Any:
        timeout = max(timeout, 0.001)
        # doipclient 1.2.2 reads with the socket timeout (2 s) whatever ``timeout`` says;
        # bound the socket timeout so short waits (ECU reset polling) stay short
        sock = getattr(self._link.client, "_tcp_sock", None)
        if sock is not None:
            sock.settimeout(min(timeout, A_PROCESSING_TIME))
        try:
            return self._link.client.read_doip(timeout=timeout)
        except TimeoutError:
            if self._link.closed_by_peer:
                raise self._disconnected("closed by the vehicle") from None
            return None
        except OSError as exc:  # includes "DoIP Negative Acknowledge" (generic NACK)
            raise self._disconnected(str(exc)) from exc
        finally:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.settimeout(A_PROCESSING_TIME)

    def _is_for_us(self, msg: Any) -> bool:
        return bool(
            msg.source_address == self._address and msg.target_address == self._link.tester_address
        )

    def send_nowait(self, payload: bytes) -> None:
        """Send without waiting for anything (TesterPresent with SPR bit); the DoIP
        acknowledgement is skipped by whoever reads next."""
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
        self.send_nowait(payload)
        deadline = time.monotonic() + self._ack_timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BusTimeout("no DoIP acknowledgement", ecu=self._ecu)
            msg = self._read(left)
            if msg is None:
                continue
            if isinstance(msg, DiagnosticMessagePositiveAcknowledgement) and self._is_for_us(msg):
                return
            if isinstance(msg, DiagnosticMessageNegativeAcknowledgement) and self._is_for_us(msg):
                code = int(msg.nack_code)
                text = f"DoIP NACK 0x{code:02X} {DOIP_NACK_NAMES.get(code, '')}".strip()
                if code == 0x03:
                    raise RequestOutOfRange(text, ecu=self._ecu)
                if code in (0x06, 0x08):
                    raise BusTimeout(text, ecu=self._ecu)
                raise LinkDisconnected(text, ecu=self._ecu)
            if isinstance(msg, DiagnosticMessage) and self._is_for_us(msg):
                self._early.append(bytes(msg.user_data))

    def specific_wait_frame(self, timeout: float | None = 2) -> bytes | None:
        if self._early:
            data = self._early.pop(0)
        else:
            deadline = time.monotonic() + (timeout if timeout is not None else 2.0)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutException(f"no diagnostic response from {self._ecu} in time")
                msg = self._read(left)
                if isinstance(msg, DiagnosticMessage) and self._is_for_us(msg):
                    data = bytes(msg.user_data)
                    break
        trace = self._link.trace
        if trace is not None:
            trace.log_diagnostic(self._address, self._link.tester_address, data, is_rx=True)
        return data

    def empty_rxqueue(self) -> None:
        self._early.clear()
