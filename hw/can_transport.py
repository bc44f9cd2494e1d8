"""ISO-TP over python-can, shared by the tester link and the simulated vehicle.

One :class:`IsoTpBus` owns one python-can bus and one ``can.Notifier``; it routes each
received frame by arbitration id straight to the one ISO-TP stack that listens on it
(``isotp.TransportLayer`` with a blocking ``rxfn``), instead of fanning every frame out
to every stack as ``isotp.NotifierBasedCanStack`` does. Frames sent and received can be
traced (:class:`hw.trace.FrameTrace`) and filtered (fault injection in the simulator).

ISO-TP parameters are tuned for throughput: block size 0 (one flow control per message),
STmin 0, CAN FD with 64-byte frames when ``fd`` is set, ISO 15765-2:2016 long first frames
so a TransferData block may exceed 4095 bytes.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import can
import isotp
from udsoncan.connections import BaseConnection
from udsoncan.exceptions import TimeoutException

from hw.trace import FrameTrace

MAX_ISOTP_FRAME = 0x10_0000  # 1 MiB, well above any maxNumberOfBlockLength we accept

FrameFilter = Callable[[can.Message], bool]
"""Return False to drop the frame (simulator fault injection)."""


def isotp_params(fd: bool) -> dict[str, Any]:
    return {
        "stmin": 0,
        "blocksize": 0,
        "tx_data_length": 64 if fd else 8,
        "tx_data_min_length": None,
        "tx_padding": 0xCC,
        "can_fd": fd,
        "bitrate_switch": False,
        "max_frame_size": MAX_ISOTP_FRAME,
        "rx_flowcontrol_timeout": 1000,
        "rx_consecutive_frame_timeout": 1000,
        "wftmax": 0,
        "blocking_send": False,
    }


def open_can_bus(interface: str, channel: str, *, fd: bool) -> can.BusABC:
    """Open a python-can bus; CAN FD is requested when ``fd`` (virtual buses carry both)."""
    kwargs: dict[str, Any] = {"interface": interface, "channel": channel}
    if interface == "virtual":
        kwargs["receive_own_messages"] = False
        kwargs["protocol"] = can.CanProtocol.CAN_FD if fd else can.CanProtocol.CAN_20
    elif fd:
        kwargs["fd"] = True
    return can.Bus(**kwargs)


class IsoTpBus:
    """A python-can bus with per-address ISO-TP stacks, optional trace and filters."""

    def __init__(
        self,
        bus: can.BusABC,
        *,
        fd: bool,
        trace: FrameTrace | None = None,
        rx_filter: FrameFilter | None = None,
        tx_filter: FrameFilter | None = None,
        owns_bus: bool = True,
        read_timeout: float = 0.2,
    ) -> None:
        self.bus = bus
        self.fd = fd
        self.trace = trace
        self.rx_filter = rx_filter
        self.tx_filter = tx_filter
        self._owns_bus = owns_bus
        self._read_timeout = read_timeout
        self._routes: dict[int, queue.SimpleQueue[isotp.CanMessage | None]] = {}
        self._stacks: dict[int, isotp.TransportLayer] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._notifier = can.Notifier(bus, [self._on_message], timeout=0.05)

    # frames ------------------------------------------------------------------------------

    def _on_message(self, msg: can.Message) -> None:
        if msg.is_error_frame or msg.is_remote_frame:
            return
        if self.trace is not None:
            self.trace.log_can(msg, is_rx=True)
        if self.rx_filter is not None and not self.rx_filter(msg):
            return
        route = self._routes.get(msg.arbitration_id)
        if route is not None:
            route.put(
                isotp.CanMessage(
                    arbitration_id=msg.arbitration_id,
                    data=bytes(msg.data),
                    extended_id=msg.is_extended_id,
                    is_fd=msg.is_fd,
                    bitrate_switch=msg.bitrate_switch,
                )
            )

    def _send(self, frame: isotp.CanMessage) -> None:
        msg = can.Message(
            timestamp=time.time(),
            arbitration_id=frame.arbitration_id,
            data=frame.data,
            is_extended_id=frame.is_extended_id,
            is_fd=frame.is_fd,
            bitrate_switch=frame.bitrate_switch,
            is_rx=False,
            check=False,
        )
        if self.tx_filter is not None and not self.tx_filter(msg):
            return
        try:
            self.bus.send(msg)
        except can.CanError:
            if self._closed:
                return
            raise
        if self.trace is not None:
            self.trace.log_can(msg, is_rx=False)

    # stacks ------------------------------------------------------------------------------

    def open_stack(self, txid: int, rxid: int, *, extended: bool = False) -> isotp.TransportLayer:
        """A started ISO-TP stack sending on ``txid`` and receiving frames with ``rxid``."""
        with self._lock:
            if self._closed:
                raise RuntimeError("bus is closed")
            if rxid in self._stacks:
                return self._stacks[rxid]
            inbox: queue.SimpleQueue[isotp.CanMessage | None] = queue.SimpleQueue()

            def rxfn(timeout: float) -> isotp.CanMessage | None:
                try:
                    return inbox.get(timeout=timeout)
                except queue.Empty:
                    return None

            mode = (
                isotp.AddressingMode.Normal_29bits
                if extended
                else isotp.AddressingMode.Normal_11bits
            )
            stack = isotp.TransportLayer(
                rxfn=rxfn,
                txfn=self._send,
                address=isotp.Address(mode, txid=txid, rxid=rxid),
                params=isotp_params(self.fd),
                read_timeout=self._read_timeout,
            )
            self._routes[rxid] = inbox
            self._stacks[rxid] = stack
        stack.start()
        return stack

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            stacks = list(self._stacks.values())
            inboxes = list(self._routes.values())
            self._stacks.clear()
            self._routes.clear()
        # Each relay thread waits in rxfn at most the read timeout, so stopping the stacks one
        # after another is quick; no helper threads (starting threads while a worker shuts
        # down was seen to hang). The None wakes a relay thread at once.
        for stack, inbox in zip(stacks, inboxes, strict=True):
            inbox.put(None)
            stack.stop()
        self._notifier.stop(timeout=1.0)
        if self._owns_bus:
            self.bus.shutdown()


class IsoTpConnection(BaseConnection):
    """udsoncan connection over a started stack of an :class:`IsoTpBus`.

    Unlike ``PythonIsoTpV2Connection`` it does not start/stop the stack (the bus owns it)
    and it only interrupts the receiver before a request when a reception is in progress
    (saves a thread round trip per request).
    """

    def __init__(self, stack: isotp.TransportLayer, name: str | None = None) -> None:
        super().__init__(name)
        self._stack = stack
        self._opened = False

    def open(self) -> IsoTpConnection:
        self._opened = True
        return self

    def close(self) -> None:
        self._opened = False

    def is_open(self) -> bool:
        return self._opened

    def specific_send(self, payload: bytes, timeout: float | None = None) -> None:
        if self._stack.transmitting():
            # a previous request is still stuck (e.g. its flow control was lost): drop it,
            # the new request supersedes it
            self._stack.stop_sending()
            self._stack.clear_tx_queue()
        self._stack.send(payload)

    def send_nowait(self, payload: bytes) -> None:
        """Queue a request nobody waits an answer for (TesterPresent with SPR bit)."""
        self._stack.send(payload)

    def specific_wait_frame(self, timeout: float | None = None) -> bytes | None:
        frame = self._stack.recv(block=True, timeout=timeout)
        if frame is None:
            raise TimeoutException(f"no ISO-TP frame within {timeout} s")
        return bytes(frame)

    def empty_rxqueue(self) -> None:
        if self._stack.is_rx_active():
            self._stack.stop_receiving()
        self._stack.clear_rx_queue()

    def empty_txqueue(self) -> None:
        if self._stack.transmitting():
            self._stack.stop_sending()
        self._stack.clear_tx_queue()
