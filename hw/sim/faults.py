"""Fault injection for the simulated vehicle (tests and demos).

Frame-level faults apply to whatever the vehicle's transports carry: CAN frames on a CAN
server, diagnostic messages on the DoIP server. Directions: ``"to_vehicle"`` (tester
requests) and ``"from_vehicle"`` (ECU responses).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from hw.sim.vehicle import SimVehicle

Direction = Literal["to_vehicle", "from_vehicle"]


@dataclass
class _Disconnect:
    ecu: str
    after_block: int
    down_for: float | None


class Faults:
    def __init__(self, vehicle: SimVehicle) -> None:
        self._lock = threading.Lock()
        self._vehicle = vehicle
        self._drop: dict[str, tuple[int, int]] = {"to_vehicle": (0, 0), "from_vehicle": (0, 0)}
        self._delay: dict[str, tuple[float, int | None]] = {}
        self._pending: dict[str, tuple[int, float]] = {}
        self._disconnect: _Disconnect | None = None
        self._timers: list[threading.Timer] = []
        self.frames_dropped = 0

    # ------------------------------------------------------------------ API for tests

    def drop_frames(
        self, count: int, direction: Direction = "from_vehicle", *, after: int = 0
    ) -> None:
        """Let ``after`` frames in ``direction`` pass, then silently drop ``count``."""
        with self._lock:
            self._drop[direction] = (after, count)

    def delay_frames(
        self, seconds: float, count: int | None = None, direction: Direction = "from_vehicle"
    ) -> None:
        """Delay the next ``count`` frames (None: all, until ``clear``) by ``seconds``."""
        with self._lock:
            self._delay[direction] = (seconds, count)

    def response_pending(self, ecu: str, times: int, interval: float = 0.02) -> None:
        """Answer the next request to ``ecu`` with ``times`` ResponsePending (0x78) first."""
        with self._lock:
            self._pending[ecu] = (times, interval)

    def disconnect_after_block(
        self, ecu: str, block: int, *, down_for: float | None = None
    ) -> None:
        """Pull the cable right after ``ecu`` accepted TransferData block number ``block``
        (1-based count within the current download): the block is written, its response is
        lost. The link stays down ``down_for`` seconds (None: until :meth:`restore_link`)."""
        with self._lock:
            self._disconnect = _Disconnect(ecu, block, down_for)

    def disconnect(self, down_for: float | None = None) -> None:
        """Pull the cable now."""
        self._link_down(down_for)

    def restore_link(self) -> None:
        self._vehicle.set_link_up(True)

    def reset_ecu(self, ecu: str) -> None:
        """Spontaneous ECU reset (watchdog): session, unlock and download state are lost."""
        self._vehicle.ecu(ecu).power_cycle()

    def sag_battery(self, millivolts: int, duration: float | None = None) -> None:
        """Set the supply voltage; restore the previous value after ``duration`` seconds."""
        previous = self._vehicle.battery_mv
        self._vehicle.battery_mv = millivolts
        if duration is not None:
            timer = threading.Timer(duration, setattr, args=(self._vehicle, "battery_mv", previous))
            timer.daemon = True
            self._remember(timer)
            timer.start()

    def clear(self) -> None:
        with self._lock:
            self._drop = {"to_vehicle": (0, 0), "from_vehicle": (0, 0)}
            self._delay.clear()
            self._pending.clear()
            self._disconnect = None
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()

    # ------------------------------------------------------------------ hooks

    def pass_frame(self, direction: Direction) -> bool:
        """Called by transports for each frame: False = drop. May sleep (delay)."""
        delay = 0.0
        with self._lock:
            skip, drop = self._drop[direction]
            if skip > 0:
                self._drop[direction] = (skip - 1, drop)
            elif drop > 0:
                self._drop[direction] = (0, drop - 1)
                self.frames_dropped += 1
                return False
            spec = self._delay.get(direction)
            if spec is not None:
                delay, count = spec
                if count is not None:
                    if count <= 1:
                        del self._delay[direction]
                    else:
                        self._delay[direction] = (delay, count - 1)
        if delay > 0:
            time.sleep(delay)
        return True

    def take_pending(self, ecu: str) -> tuple[int, float] | None:
        with self._lock:
            return self._pending.pop(ecu, None)

    def block_accepted(self, ecu: str, block: int) -> bool:
        """Called by an ECU after writing a block; True = drop the response (link down)."""
        with self._lock:
            d = self._disconnect
            if d is None or d.ecu != ecu or d.after_block != block:
                return False
            self._disconnect = None
        self._link_down(d.down_for)
        return True

    # ------------------------------------------------------------------ internals

    def _remember(self, timer: threading.Timer) -> None:
        with self._lock:
            self._timers.append(timer)

    def _link_down(self, down_for: float | None) -> None:
        self._vehicle.set_link_up(False)
        if down_for is not None:
            timer = threading.Timer(down_for, self._vehicle.set_link_up, args=(True,))
            timer.daemon = True
            self._remember(timer)
            timer.start()
