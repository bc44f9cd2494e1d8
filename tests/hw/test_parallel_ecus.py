"""Several ECUs programmed at once through one station link: over DoIP in parallel (one
connection, one reader handing each ECU its own answers), over CAN one request on the bus at a
time. The frame log stays decodable per ECU by the independent decoder of
``test_frame_log_order``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from domain.flash_package import crc32
from domain.frame_log_decoder import DecodedLog, messages
from domain.programming_timing import ProgrammingTiming
from hw.flash_files import FlashPackage
from hw.flash_sequence import flash_ecu
from hw.sim.config import FLASH_LAYOUT, tune_ecu
from hw.sim.vehicle import SimVehicle
from hw.station_link import StationLink, open_station_link
from hw.uds_client import LinkTimeouts
from tests.hw.simtools import FINGERPRINT, fast_config, ready_to_program
from tests.hw.test_frame_log_order import (
    ECU_ADDRESSES,
    check_ecu_log,
    logs_per_ecu,
    read_frames,
)

LANES = ("DME", "EGS")
TIMEOUTS = LinkTimeouts(p2=0.5, p2_star=2.0, request=20.0, keepalive=0.1)


def _flash_in_lanes(link: StationLink, package: FlashPackage, ecus: Sequence[str]) -> float:
    """Each ECU's whole sequence in its own thread on the one link; wall seconds."""
    failures: list[BaseException] = []

    def lane(ecu: str) -> None:
        try:
            flash_ecu(link, package.ecu(ecu), package.images[ecu], fingerprint=FINGERPRINT)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=lane, args=(ecu,), name=f"lane-{ecu}") for ecu in ecus]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    took = time.monotonic() - started
    assert not failures, failures
    return took


def _flash_one_after_another(link: StationLink, package: FlashPackage) -> float:
    started = time.monotonic()
    for ecu in LANES:
        flash_ecu(link, package.ecu(ecu), package.images[ecu], fingerprint=FINGERPRINT)
    return time.monotonic() - started


def _assert_flashed(sim: SimVehicle, package: FlashPackage) -> None:
    for ecu in LANES:
        pkg = package.ecu(ecu)
        assert sim.ecu(ecu).software == pkg.software_units
        for index, segment in enumerate(pkg.segments):
            data = package.segment_data(ecu, index)
            assert sim.ecu(ecu).memory_crc(segment.address, len(data)) == crc32(data)


def test_two_doip_ecus_in_parallel_take_clearly_less_than_one_after_another(
    make_vehicle: Callable[..., tuple[SimVehicle, str]],
    demo_package: FlashPackage,
    tmp_path: Path,
) -> None:
    # timing model at a fifth of real time: per ECU about 1.4 s of erase, writes, two checks
    # and a reset, so the ECUs' own time outweighs the link's, also on a loaded machine
    config = fast_config(timing_scale=0.2)
    sequential_car, _ = make_vehicle(config)
    parallel_car, _ = make_vehicle(config)
    with open_station_link(
        sequential_car.serve_doip("127.0.0.1", 0).url, timeouts=TIMEOUTS
    ) as link:
        sequential = _flash_one_after_another(link, demo_package)
    trace = tmp_path / "parallel.asc"
    with open_station_link(
        parallel_car.serve_doip("127.0.0.1", 0).url, trace, timeouts=TIMEOUTS
    ) as link:
        parallel = _flash_in_lanes(link, demo_package, LANES)
    _assert_flashed(sequential_car, demo_package)
    _assert_flashed(parallel_car, demo_package)
    assert parallel < 0.8 * sequential, (parallel, sequential)
    # the log of both lanes, decoded independently: each ECU's exchanges whole and in order
    logs = logs_per_ecu(trace)
    for ecu in LANES:
        check_ecu_log(ecu, logs[ecu])
    assert all(not logs[ecu].exchanges for ecu in ECU_ADDRESSES if ecu not in LANES)


def test_a_long_erase_does_not_stall_another_ecus_transfer(
    make_vehicle: Callable[..., tuple[SimVehicle, str]],
) -> None:
    slow = ProgrammingTiming(erase_ms_per_kib=250.0, write_ms_per_kib=0, check_ms=0, reset_ms=0)
    config = tune_ecu(fast_config(timing_scale=1.0, pending_interval=0.2), "DME", timing=slow)
    config = tune_ecu(config, "EGS", timing=None)
    sim, _ = make_vehicle(config)
    egs = FLASH_LAYOUT["EGS"].program_address
    data = bytes(range(256)) * 256  # 64 KiB, 32 blocks
    with open_station_link(sim.serve_doip("127.0.0.1", 0).url, timeouts=TIMEOUTS) as link:
        ready_to_program(link, "DME")
        ready_to_program(link, "EGS")
        erase_done: list[float] = []

        def erase_dme() -> None:
            link.erase("DME", FLASH_LAYOUT["DME"].program_address, 4096)  # 1 s
            erase_done.append(time.monotonic())

        eraser = threading.Thread(target=erase_dme)
        eraser.start()
        time.sleep(0.1)  # the erase is running
        link.erase("EGS", egs, len(data))
        link.download("EGS", egs, data)
        assert link.check_memory("EGS", egs, len(data), crc32(data)) == crc32(data)
        transferred = time.monotonic()
        eraser.join()
    assert erase_done and transferred < erase_done[0]
    assert sim.ecu("EGS").stats.blocks_programmed == 32
    assert sim.ecu("DME").stats.erases == 1


def test_lanes_over_can_keep_one_request_on_the_bus(
    make_vehicle: Callable[..., tuple[SimVehicle, str]],
    demo_package: FlashPackage,
    tmp_path: Path,
) -> None:
    sim, url = make_vehicle(fast_config(timing_scale=0.02))
    trace = tmp_path / "can.asc"
    with open_station_link(url, trace, timeouts=TIMEOUTS) as link:
        _flash_in_lanes(link, demo_package, LANES)
    _assert_flashed(sim, demo_package)
    logs = logs_per_ecu(trace)
    for ecu in LANES:
        check_ecu_log(ecu, logs[ecu])
    # serial: no request goes out while another ECU's request waits for its final answer
    # (TesterPresent aside: the keep-alive is sent beside requests, and the probes after a
    # reset go unanswered until the ECU is back)
    decoded = DecodedLog()
    waiting: int | None = None
    for message in messages(read_frames(trace), decoded):
        payload = message.payload
        if payload[0] in (0x3E, 0x7E):
            continue
        if not message.is_rx:
            assert waiting is None, f"0x{message.address:X} sent while 0x{waiting:X} waits"
            waiting = message.address
        elif not (payload[0] == 0x7F and payload[2] == 0x78):
            assert waiting is not None and message.address == waiting
            waiting = None
    assert decoded.problems == [], decoded.problems
