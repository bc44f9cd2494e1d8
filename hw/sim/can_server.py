"""The simulated vehicle on a CAN bus: one ISO-TP stack and worker thread per ECU."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import can

from hw.can_transport import IsoTpBus

if TYPE_CHECKING:
    import isotp

    from hw.sim.ecu import SimEcu
    from hw.sim.vehicle import SimVehicle

log = logging.getLogger(__name__)


class CanVehicleServer:
    def __init__(
        self, vehicle: SimVehicle, bus: can.BusABC, *, fd: bool, owns_bus: bool = True
    ) -> None:
        self.vehicle = vehicle
        self.fd = fd
        self._tp = IsoTpBus(
            bus,
            fd=fd,
            rx_filter=lambda _msg: vehicle.pass_frame("to_vehicle"),
            tx_filter=lambda _msg: vehicle.pass_frame("from_vehicle"),
            owns_bus=owns_bus,
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def channel(self) -> object:
        return self._tp.bus.channel_info

    def start(self) -> None:
        for ecu in self.vehicle.ecus.values():
            stack = self._tp.open_stack(txid=ecu.info.can_response_id, rxid=ecu.info.can_request_id)
            thread = threading.Thread(
                target=self._serve, args=(ecu, stack), name=f"sim-can-{ecu.name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _serve(self, ecu: SimEcu, stack: isotp.TransportLayer) -> None:
        def send(payload: bytes) -> None:
            stack.send(payload)

        while not self._stop.is_set():
            request = stack.recv(block=True, timeout=0.05)
            if request is None:
                continue
            try:
                ecu.handle(bytes(request), send)
            except Exception:
                log.exception("simulated %s failed on request %s", ecu.name, request[:8].hex())

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self._tp.close()
