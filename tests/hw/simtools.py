"""Helpers shared by the hw tests (imported as ``tests.hw.simtools``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from hw.flash_sequence import ensure_programming
from hw.protocol import Fingerprint
from hw.sim.config import VehicleConfig, default_vehicle_config
from hw.station_link import StationLink
from hw.uds_client import LinkTimeouts

FINGERPRINT = Fingerprint(date(2026, 12, 4), workshop_id=4711, station_id="ST-TEST")

FAST = LinkTimeouts(
    p2=0.3, p2_star=2.0, request=20.0, pending_limit=10.0, keepalive=0.0, reset_ready=3.0
)


def fast_config(**overrides: Any) -> VehicleConfig:
    """The default car with timings suitable for tests (the timing model off)."""
    cfg = default_vehicle_config(reset_time=0.02, lockout_time=0.5, rng_seed=7)
    for ecu in cfg.ecus:
        ecu.erase_time = 0.01
    return cfg.replace(**overrides) if overrides else cfg


def ready_to_program(link: StationLink, ecu: str) -> None:
    """Programming session, unlocked, fingerprint written: what an erase or download needs
    (the simulated ECUs refuse both without a fingerprint in the session, NRC 0x22)."""
    ensure_programming(link, ecu)
    link.write_fingerprint(ecu, FINGERPRINT)


def segment_valid(ecu: Any, address: int) -> bool:
    """Whether the simulated ECU holds a valid (check-memory passed) segment at `address`."""
    segment = ecu.segment_at(address)
    assert segment is not None, f"no segment at 0x{address:08X}"
    return bool(segment.valid)
