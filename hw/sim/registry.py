"""Named simulated vehicles shared inside one process (``sim://?name=...``).

A named vehicle outlives the station links that talk to it, so a test (or a demo) can
disconnect, reconnect and find the same memory. Unnamed ``sim://`` links get a private
vehicle that is closed with the link.
"""

from __future__ import annotations

import os
import threading

from hw.sim.config import VehicleConfig
from hw.sim.vehicle import SimVehicle

_lock = threading.Lock()
_vehicles: dict[str, SimVehicle] = {}


def get_or_create(
    name: str,
    *,
    config: VehicleConfig | None = None,
    state_file: str | os.PathLike[str] | None = None,
) -> SimVehicle:
    """The vehicle registered as ``name``, created (from ``config``/``state_file``) if new."""
    with _lock:
        vehicle = _vehicles.get(name)
        if vehicle is None:
            vehicle = SimVehicle(config, state_file=state_file)
            _vehicles[name] = vehicle
        return vehicle


def register(name: str, vehicle: SimVehicle) -> SimVehicle:
    """Make ``vehicle`` reachable as ``sim://?name=<name>`` (replaces nothing)."""
    with _lock:
        if name in _vehicles and _vehicles[name] is not vehicle:
            raise ValueError(f"a simulated vehicle named {name!r} already exists")
        _vehicles[name] = vehicle
        return vehicle


def get(name: str) -> SimVehicle:
    with _lock:
        try:
            return _vehicles[name]
        except KeyError:
            raise KeyError(f"no simulated vehicle named {name!r}") from None


def remove(name: str) -> None:
    """Forget and close the vehicle ``name`` (no error if unknown)."""
    with _lock:
        vehicle = _vehicles.pop(name, None)
    if vehicle is not None:
        vehicle.close()
