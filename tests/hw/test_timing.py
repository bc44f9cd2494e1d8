"""The simulated car's timing model: ResponsePending within P2*, the station's P2* honoured,
the figures the ECU reports (DID 0xF1A0) and the estimate made from them."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from domain.flash_package import crc32
from domain.programming_timing import ProgrammingTiming, estimate_programming_seconds
from hw.errors import ResponsePending
from hw.flash_files import FlashPackage
from hw.flash_sequence import flash_ecu
from hw.sim.config import DEFAULT_ECU_TIMING, FLASH_LAYOUT, tune_ecu
from hw.sim.vehicle import SimVehicle
from hw.station_link import open_station_link
from hw.trace import diagnostic_payloads, read_trace
from hw.uds_client import LinkTimeouts
from tests.hw.simtools import FINGERPRINT, fast_config, ready_to_program

DME = FLASH_LAYOUT["DME"].program_address
SLOW_ERASE = ProgrammingTiming(erase_ms_per_kib=150.0, write_ms_per_kib=0, check_ms=400, reset_ms=0)


def _pending_answers(trace: Path, service: int) -> int:
    """ResponsePending (7F sid 78) answers the tester received, read from the DoIP trace."""
    return sum(
        1
        for _, _, is_rx, payload in diagnostic_payloads(read_trace(trace))
        if is_rx and payload == bytes((0x7F, service, 0x78))
    )


def test_long_erase_and_check_answer_response_pending_within_p2_star(
    make_vehicle: Callable[..., tuple[SimVehicle, str]], tmp_path: Path
) -> None:
    # 4 KiB at 150 ms/KiB: a 0.6 s erase, ResponsePending every 0.1 s; the station waits P2*
    # (0.5 s) after each, far longer than P2 (0.2 s)
    cfg = tune_ecu(fast_config(timing_scale=1.0, pending_interval=0.1), "DME", timing=SLOW_ERASE)
    sim, _ = make_vehicle(cfg)
    url = sim.serve_doip("127.0.0.1", 0).url
    data = bytes(range(256)) * 16
    trace = tmp_path / "erase.asc"
    timeouts = LinkTimeouts(p2=0.2, p2_star=0.5, keepalive=0.0)
    with open_station_link(url, trace, timeouts=timeouts) as link:
        ready_to_program(link, "DME")
        started = time.monotonic()
        link.erase("DME", DME, len(data))
        erased = time.monotonic() - started
        link.download("DME", DME, data)
        started = time.monotonic()
        assert link.check_memory("DME", DME, len(data), crc32(data)) == crc32(data)
        checked = time.monotonic() - started
    assert erased >= 0.6 and checked >= 0.4
    assert _pending_answers(trace, 0x31) >= 5 + 3  # erase ~6, check ~4
    assert sim.ecu("DME").memory_crc(DME, len(data)) == crc32(data)


def test_an_ecu_silent_past_p2_star_fails_the_request(
    make_vehicle: Callable[..., tuple[SimVehicle, str]],
) -> None:
    # the ECU says "pending" once, then is silent for 1 s: longer than the station's P2*
    cfg = tune_ecu(fast_config(timing_scale=1.0, pending_interval=1.0), "DME", timing=SLOW_ERASE)
    sim, _ = make_vehicle(cfg)
    url = sim.serve_doip("127.0.0.1", 0).url
    timeouts = LinkTimeouts(p2=0.2, p2_star=0.3, keepalive=0.0)
    with open_station_link(url, timeouts=timeouts) as link:
        ready_to_program(link, "DME")
        started = time.monotonic()
        with pytest.raises(ResponsePending) as info:
            link.erase("DME", DME, 4096)
        assert time.monotonic() - started < 0.9  # gave up after P2*, not after the erase
        assert info.value.transient and info.value.ecu == "DME"
        assert "silent after ResponsePending" in str(info.value)


def test_timing_model_is_off_by_default_and_scales(
    make_vehicle: Callable[..., tuple[SimVehicle, str]],
) -> None:
    assert fast_config().timing_scale == 0.0
    _, url = make_vehicle(fast_config())
    with open_station_link(url) as link:
        off = link.read_programming_timing("DME")
    assert off is None  # the model off: the ECU reports no figures (NRC 0x31)
    _, url = make_vehicle(fast_config(timing_scale=0.01))
    with open_station_link(url) as link:
        scaled = link.read_programming_timing("DME")
    assert scaled is not None
    expected = DEFAULT_ECU_TIMING.scaled(0.01)
    for field in ("erase_ms_per_kib", "write_ms_per_kib", "check_ms", "reset_ms"):
        assert getattr(scaled, field) == pytest.approx(getattr(expected, field), abs=0.001)


def test_ecu_without_timing_figures_reports_none(
    make_vehicle: Callable[..., tuple[SimVehicle, str]],
) -> None:
    _, url = make_vehicle(tune_ecu(fast_config(timing_scale=0.01), "EGS", timing=None))
    with open_station_link(url) as link:
        assert link.read_programming_timing("EGS") is None  # NRC 0x31
        assert link.read_programming_timing("ZGW") is None  # the gateway is not flashed
        assert link.read_programming_timing("DME") is not None


def test_estimate_from_the_reported_figures_bounds_the_flash(
    make_vehicle: Callable[..., tuple[SimVehicle, str]], demo_package: FlashPackage
) -> None:
    sim, _ = make_vehicle(fast_config(timing_scale=0.05))
    url = sim.serve_doip("127.0.0.1", 0).url
    pkg = demo_package.ecu("DME")
    timeouts = LinkTimeouts(p2=0.5, p2_star=2.0, keepalive=0.0)
    with open_station_link(url, timeouts=timeouts) as link:
        timing = link.read_programming_timing("DME")
        assert timing is not None
        estimate = estimate_programming_seconds(timing, [s.length for s in pkg.segments])
        started = time.monotonic()
        flash_ecu(link, pkg, demo_package.images["DME"], fingerprint=FINGERPRINT)
        took = time.monotonic() - started
    # the ECU spends at least what it reports (2 checks and a reset dominate: ~0.35 s), and
    # the link adds little on top
    assert estimate > 0.3
    assert estimate <= took < estimate + 1.5
    assert sim.ecu("DME").software == pkg.software_units
