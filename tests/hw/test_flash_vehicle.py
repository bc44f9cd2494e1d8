"""Whole-car flash of the simulated vehicle over sim:// (CAN FD, can-isotp) and DoIP."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from domain.flash_package import crc32
from domain.programming import DownloadProgress
from hw.flash_files import FlashPackage
from hw.flash_sequence import flash_ecu
from hw.protocol import Fingerprint, Session
from hw.sim.vehicle import SimVehicle
from hw.station_link import StationLink, open_station_link
from hw.trace import read_trace
from hw.uds_client import LinkTimeouts
from tests.hw.simtools import segment_valid

FINGERPRINT = Fingerprint(date(2025, 3, 14), workshop_id=4711, station_id="ST-01")


def _record(
    progress: list[tuple[str, int, DownloadProgress]],
    ecu: str,
    index: int,
    step: DownloadProgress,
) -> None:
    progress.append((ecu, index, step))


def _flash_whole_car(link: StationLink, package: FlashPackage, vehicle: SimVehicle) -> None:
    manifest = package.manifest
    # safety checks before touching the car
    assert link.read_vin() == vehicle.vin
    assert link.read_battery_voltage() == pytest.approx(12.6)
    installed = {p.ecu: link.read_software_list(p.ecu) for p in manifest.ecus}
    hardware = {p.ecu: link.read_hardware_id(p.ecu) for p in manifest.ecus}
    assert hardware == {p.ecu: p.target_hardware_id for p in manifest.ecus}
    assert all(str(u.version) == "1.0.0" for units in installed.values() for u in units)

    progress: list[tuple[str, int, DownloadProgress]] = []
    for pkg in manifest.ecus:
        flash_ecu(
            link,
            pkg,
            package.images[pkg.ecu],
            fingerprint=FINGERPRINT,
            on_progress=functools.partial(_record, progress, pkg.ecu),
        )

    for pkg in manifest.ecus:
        # what the car reports now is exactly the package
        assert link.read_software_list(pkg.ecu) == pkg.software_units
        assert link.read_fingerprint(pkg.ecu) == FINGERPRINT
        assert link.read_active_session(pkg.ecu) == Session.DEFAULT  # after reset
        sim_ecu = vehicle.ecu(pkg.ecu)
        for seg, data in zip(pkg.segments, package.images[pkg.ecu], strict=True):
            assert sim_ecu.memory_crc(seg.address, seg.length) == crc32(data) == seg.crc32
            assert segment_valid(sim_ecu, seg.address)
        # every block programmed exactly once, no re-sends needed
        assert sim_ecu.stats.blocks_repeated == 0
        assert sim_ecu.stats.blocks_skipped_identical == 0
        # progress went up to the full length of each segment
        for index, seg in enumerate(pkg.segments):
            reports = [p for e, i, p in progress if e == pkg.ecu and i == index]
            assert [r.bytes_confirmed for r in reports] == sorted(
                r.bytes_confirmed for r in reports
            )
            assert reports[-1].bytes_confirmed == seg.length == reports[-1].total_bytes
            assert reports[-1].next_block_index == len(reports)
            expected_block = sim_ecu.config.max_block_length - 2
            assert reports[-1].block_size == expected_block


def test_flash_four_ecus_over_sim(
    vehicle: tuple[SimVehicle, str],
    demo_package: FlashPackage,
    timeouts: LinkTimeouts,
    tmp_path: Path,
) -> None:
    sim, url = vehicle
    trace_file = tmp_path / "session.blf"
    with open_station_link(url, trace_file, timeouts=timeouts) as link:
        _flash_whole_car(link, demo_package, sim)
    frames = read_trace(trace_file)
    # every frame of the session is in the trace: both directions, CAN FD
    assert any(m.is_rx for m in frames) and any(not m.is_rx for m in frames)
    assert all(m.is_fd for m in frames)
    payload_bytes = sum(len(d) for d in demo_package.images["DME"])
    tx_bytes = sum(len(m.data) for m in frames if not m.is_rx and m.arbitration_id == 0x612)
    assert tx_bytes > payload_bytes


def test_flash_four_ecus_over_doip(
    vehicle: tuple[SimVehicle, str], demo_package: FlashPackage, timeouts: LinkTimeouts
) -> None:
    sim, _ = vehicle
    server = sim.serve_doip("127.0.0.1", 0)
    with open_station_link(server.url, timeouts=timeouts) as link:
        _flash_whole_car(link, demo_package, sim)


def test_memory_survives_disconnect_and_is_invalid_until_checked(
    vehicle: tuple[SimVehicle, str], demo_package: FlashPackage, timeouts: LinkTimeouts
) -> None:
    sim, url = vehicle
    pkg = demo_package.ecu("EGS")
    seg = pkg.segments[0]
    data = demo_package.segment_data("EGS", 0)
    with open_station_link(url, timeouts=timeouts) as link:
        link.enter_programming_session("EGS")
        link.unlock("EGS")
        link.write_fingerprint("EGS", FINGERPRINT)
        link.erase("EGS", seg.address, seg.length)
        link.download("EGS", seg.address, data)
    # the link is gone; the car still holds the data, not yet valid
    assert segment_valid(sim.ecu("EGS"), seg.address) is False
    assert sim.ecu("EGS").memory_crc(seg.address, seg.length) == seg.crc32
    with open_station_link(url, timeouts=timeouts) as link:
        # still in the programming session; re-entering it locks security (ISO 14229-1),
        # so a new seed and key follow
        link.enter_programming_session("EGS")
        link.unlock("EGS")
        link.write_fingerprint("EGS", FINGERPRINT)
        with pytest.raises(Exception) as info:
            link.check_memory("EGS", seg.address, seg.length, seg.crc32 ^ 1)
        assert getattr(info.value, "code", None) == "MemoryCheckFailed"
        assert segment_valid(sim.ecu("EGS"), seg.address) is False
        assert link.check_memory("EGS", seg.address, seg.length, seg.crc32) == seg.crc32
    assert segment_valid(sim.ecu("EGS"), seg.address) is True


def test_partially_flashed_ecu_reports_only_valid_units(
    make_vehicle: Callable[..., tuple[SimVehicle, str]],
    demo_package: FlashPackage,
    timeouts: LinkTimeouts,
) -> None:
    _, url = make_vehicle()
    pkg = demo_package.ecu("BDC")
    seg = pkg.segments[0]
    with open_station_link(url, timeouts=timeouts) as link:
        link.enter_programming_session("BDC")
        link.unlock("BDC")
        link.write_fingerprint("BDC", FINGERPRINT)
        link.erase("BDC", seg.address, seg.length)
        with pytest.raises(Exception) as info:
            link.check_dependencies("BDC")
        assert getattr(info.value, "code", None) == "DependencyCheckFailed"
        link.reset("BDC")
        units = link.read_software_list("BDC")
    # the program unit is gone (erased, never validated); the coding unit is still 1.0.0
    assert [str(u) for u in units] == ["CAFD_0000C3D2_001_000_000"]
