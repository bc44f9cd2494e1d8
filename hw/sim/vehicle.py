"""The simulated vehicle: gateway + ECUs, battery, link state, transports, persistence.

Memory and counters live here, not in a connection: a tester may disconnect and come
back (or another process may) and finds the car as it left it. With ``state_file`` the
non-volatile state is loaded at start and saved (atomically) shortly after every change
and on :meth:`SimVehicle.close`, so a vehicle served by its own process survives restarts.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hw.sim.config import VehicleConfig, default_vehicle_config
from hw.sim.ecu import SimEcu
from hw.sim.faults import Direction, Faults

if TYPE_CHECKING:
    import can

    from hw.sim.can_server import CanVehicleServer
    from hw.sim.doip_server import DoipVehicleServer

log = logging.getLogger(__name__)

STATE_FORMAT = 1


class SimVehicle:
    def __init__(
        self,
        config: VehicleConfig | None = None,
        *,
        state_file: str | os.PathLike[str] | None = None,
        autosave_interval: float = 0.5,
    ) -> None:
        self.config = config or default_vehicle_config()
        self.vin = self.config.vin
        self.battery_mv = self.config.battery_mv
        self.faults = Faults(self)
        self.ecus: dict[str, SimEcu] = {c.name: SimEcu(self, c) for c in self.config.ecus}
        self._by_doip = {e.info.doip_address: e for e in self.ecus.values()}
        self._link_up = True
        self._link_listeners: list[Callable[[bool], None]] = []
        self._servers: list[CanVehicleServer | DoipVehicleServer] = []
        self._lock = threading.Lock()
        self.state_file = Path(state_file) if state_file else None
        self._dirty = threading.Event()
        self._closed = threading.Event()
        self._saver: threading.Thread | None = None
        if self.state_file is not None:
            if self.state_file.exists():
                self.load(self.state_file)
            else:
                self.save()
            self._saver = threading.Thread(
                target=self._autosave,
                args=(autosave_interval,),
                name="sim-autosave",
                daemon=True,
            )
            self._saver.start()

    # ------------------------------------------------------------------ ECUs

    def ecu(self, name: str) -> SimEcu:
        try:
            return self.ecus[name]
        except KeyError:
            raise KeyError(f"simulated vehicle has no ECU {name!r}") from None

    def ecu_by_doip(self, address: int) -> SimEcu | None:
        return self._by_doip.get(address)

    # ------------------------------------------------------------------ link

    @property
    def link_up(self) -> bool:
        return self._link_up

    def set_link_up(self, up: bool) -> None:
        with self._lock:
            changed = up != self._link_up
            self._link_up = up
            listeners = list(self._link_listeners)
        if changed:
            log.info("simulated vehicle link %s", "restored" if up else "down")
            for listener in listeners:
                listener(up)

    def add_link_listener(self, listener: Callable[[bool], None]) -> None:
        with self._lock:
            self._link_listeners.append(listener)

    def remove_link_listener(self, listener: Callable[[bool], None]) -> None:
        with self._lock:
            if listener in self._link_listeners:
                self._link_listeners.remove(listener)

    def pass_frame(self, direction: Direction) -> bool:
        """Transport hook: False drops the frame (link down or injected fault)."""
        if not self._link_up:
            return False
        return self.faults.pass_frame(direction)

    # ------------------------------------------------------------------ transports

    def attach_can(
        self,
        channel: str,
        *,
        interface: str = "virtual",
        fd: bool = True,
        bus: can.BusABC | None = None,
    ) -> CanVehicleServer:
        """Answer on a python-can bus (by default the in-process virtual ``channel``)."""
        from hw.can_transport import open_can_bus
        from hw.sim.can_server import CanVehicleServer

        owns = bus is None
        the_bus = bus if bus is not None else open_can_bus(interface, channel, fd=fd)
        server = CanVehicleServer(self, the_bus, fd=fd, owns_bus=owns)
        server.start()
        with self._lock:
            self._servers.append(server)
        return server

    def serve_doip(self, host: str = "127.0.0.1", port: int = 0) -> DoipVehicleServer:
        """Start a DoIP server (port 0: pick a free port, see ``server.port``)."""
        from hw.sim.doip_server import DoipVehicleServer

        server = DoipVehicleServer(self, host, port)
        server.start()
        with self._lock:
            self._servers.append(server)
        return server

    def detach(self, server: CanVehicleServer | DoipVehicleServer) -> None:
        with self._lock:
            if server in self._servers:
                self._servers.remove(server)
        server.stop()

    # ------------------------------------------------------------------ persistence

    def mark_dirty(self) -> None:
        self._dirty.set()

    def to_state(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "vin": self.vin,
            "battery_mv": self.battery_mv,
            "ecus": {name: ecu.to_state() for name, ecu in self.ecus.items()},
        }

    def load_state(self, state: dict[str, Any]) -> None:
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"unsupported vehicle state format {state.get('format')!r}")
        self.vin = str(state["vin"])
        self.battery_mv = int(state["battery_mv"])
        for name, ecu_state in state["ecus"].items():
            if name in self.ecus:
                self.ecus[name].load_state(ecu_state)

    def save(self, path: str | os.PathLike[str] | None = None) -> None:
        target = Path(path) if path is not None else self.state_file
        if target is None:
            raise ValueError("no state file configured")
        self._dirty.clear()
        text = json.dumps(self.to_state())
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, path: str | os.PathLike[str]) -> None:
        self.load_state(json.loads(Path(path).read_text()))

    def _autosave(self, interval: float) -> None:
        while not self._closed.is_set():
            if self._dirty.wait(0.5) and not self._closed.wait(interval):
                try:
                    self.save()
                except Exception:
                    log.exception("saving simulated vehicle state failed")

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        with self._lock:
            servers, self._servers = list(self._servers), []
        for server in servers:
            server.stop()
        self.faults.clear()
        self._closed.set()
        if self._saver is not None:
            self._saver.join(timeout=5)
        if self.state_file is not None:
            self.save()

    def __enter__(self) -> SimVehicle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
