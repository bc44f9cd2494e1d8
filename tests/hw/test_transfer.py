"""TransferData details: counter wrap, repeated blocks, resume after a disconnect."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from domain.flash_package import crc32
from domain.programming import DownloadProgress
from hw.errors import (
    BusTimeout,
    LinkDisconnected,
    RequestSequenceError,
    SessionLost,
    WrongBlockSequenceCounter,
)
from hw.flash_sequence import program_segment
from hw.sim.config import FLASH_LAYOUT, tune_ecu
from hw.sim.vehicle import SimVehicle
from hw.station_link import open_station_link
from hw.trace import read_trace
from hw.uds_client import LinkTimeouts
from tests.hw.simtools import fast_config, ready_to_program, segment_valid

DME = FLASH_LAYOUT["DME"].program_address
KOMBI = FLASH_LAYOUT["KOMBI"].program_address


def test_block_counter_wraps_after_255(
    make_vehicle: Callable[..., tuple[SimVehicle, str]], timeouts: LinkTimeouts, tmp_path: Path
) -> None:
    # 128-byte blocks, 300 blocks: counters 1..255, 0, 1, ..., 44
    sim, url = make_vehicle(tune_ecu(fast_config(), "KOMBI", max_block_length=0x82))
    data = os.urandom(300 * 128)
    trace = tmp_path / "wrap.asc"
    with open_station_link(url, trace, timeouts=timeouts) as link:
        ready_to_program(link, "KOMBI")
        link.erase("KOMBI", KOMBI, len(data))
        result = link.download("KOMBI", KOMBI, data)
        assert link.check_memory("KOMBI", KOMBI, len(data), crc32(data)) == crc32(data)
    assert result.blocks_sent == 300 and result.block_size == 128
    assert sim.ecu("KOMBI").stats.blocks_programmed == 300
    # the counters on the wire: first frames of TransferData requests to KOMBI (0x660)
    counters = [
        m.data[3]
        for m in read_trace(trace)
        if not m.is_rx
        and m.arbitration_id == 0x660
        and m.data[0] & 0xF0 == 0x10
        and m.data[2] == 0x36
    ]
    assert counters == [(i + 1) & 0xFF for i in range(300)]
    assert counters[254:257] == [0xFF, 0x00, 0x01]


def test_repeated_block_is_acknowledged_not_written_twice(
    vehicle: tuple[SimVehicle, str], timeouts: LinkTimeouts
) -> None:
    sim, url = vehicle
    a, b = os.urandom(4093), os.urandom(100)
    with open_station_link(url, timeouts=timeouts) as link:
        ready_to_program(link, "DME")
        link.erase("DME", DME, len(a) + len(b))
        uds = link.uds("DME")
        assert uds.request_download(DME, len(a) + len(b)) == 0x0FFF
        uds.transfer_data(1, a)
        uds.transfer_data(1, a)  # repeated (e.g. response lost): positive, not written
        with pytest.raises(WrongBlockSequenceCounter) as info:
            uds.transfer_data(3, b)
        assert info.value.nrc == 0x73 and info.value.ecu == "DME" and not info.value.transient
        uds.transfer_data(2, b)
        uds.transfer_exit()
        assert link.check_memory("DME", DME, len(a) + len(b), crc32(a + b))
    stats = sim.ecu("DME").stats
    assert stats.blocks_programmed == 2
    assert stats.blocks_repeated == 1


@pytest.mark.parametrize(
    ("lost", "repeated"),
    [("response", 1), ("flow_control", 0), ("request_frame", 0)],
)
def test_lost_frame_resends_block_with_same_counter(
    vehicle: tuple[SimVehicle, str], timeouts: LinkTimeouts, lost: str, repeated: int
) -> None:
    sim, url = vehicle
    data = os.urandom(10 * 4093)

    def lose_response_of_block_5(progress: DownloadProgress) -> None:
        if progress.next_block_index == 4:  # block index 4 (counter 5) goes out next
            if lost == "response":  # the ECU's flow control passes, its answer is lost
                sim.faults.drop_frames(1, "from_vehicle", after=1)
            elif lost == "flow_control":
                sim.faults.drop_frames(1, "from_vehicle")
            else:  # a consecutive frame of the request
                sim.faults.drop_frames(1, "to_vehicle", after=5)

    with open_station_link(url, timeouts=timeouts) as link:
        ready_to_program(link, "DME")
        link.erase("DME", DME, len(data))
        result = link.download("DME", DME, data, on_progress=lose_response_of_block_5)
        link.check_memory("DME", DME, len(data), crc32(data))
    assert result.block_retries == 1 and result.blocks_sent == 10
    stats = sim.ecu("DME").stats
    assert stats.blocks_programmed == 10  # block 5 written once ...
    assert stats.blocks_repeated == repeated  # ... a re-send after a lost answer only acked
    assert sim.faults.frames_dropped == 1


def _interrupted_download(
    sim: SimVehicle, url: str, timeouts: LinkTimeouts, data: bytes, block: int
) -> list[DownloadProgress]:
    progress: list[DownloadProgress] = []
    sim.faults.disconnect_after_block("DME", block)
    with open_station_link(url, timeouts=timeouts) as link:
        ready_to_program(link, "DME")
        link.erase("DME", DME, len(data))
        with pytest.raises((BusTimeout, LinkDisconnected)) as info:
            link.download("DME", DME, data, on_progress=progress.append)
        assert info.value.transient
    return progress


@pytest.mark.parametrize("transport", ["sim", "doip"])
def test_resume_after_disconnect_mid_transfer(
    make_vehicle: Callable[..., tuple[SimVehicle, str]], timeouts: LinkTimeouts, transport: str
) -> None:
    sim, url = make_vehicle()
    if transport == "doip":
        url = sim.serve_doip("127.0.0.1", 0).url
    data = os.urandom(12 * 4093 + 1000)  # 13 blocks, last one short
    progress = _interrupted_download(sim, url, timeouts, data, block=6)
    last = progress[-1]
    # block 6 was written but its confirmation never arrived
    assert last.next_block_index == 5 and last.bytes_confirmed == 5 * 4093
    assert sim.ecu("DME").stats.blocks_programmed == 6

    if transport == "doip":  # cable still unplugged: the station cannot connect
        with pytest.raises(LinkDisconnected), open_station_link(url, timeouts=timeouts):
            pass
    sim.faults.restore_link()

    # a new station process resumes from the heartbeat details
    with open_station_link(url, timeouts=timeouts) as link:
        assert link.verify_vin(sim.vin)
        ready_to_program(link, "DME")
        result = link.download(
            "DME", DME, data, start_block_index=last.next_block_index, block_size=last.block_size
        )
        assert link.check_memory("DME", DME, len(data), crc32(data)) == crc32(data)
    assert result.start_block_index == 5 and result.blocks_sent == 8
    assert result.bytes_sent == len(data) - last.bytes_confirmed  # only the unconfirmed rest
    stats = sim.ecu("DME").stats
    assert stats.blocks_programmed == 13  # every block programmed exactly once
    assert stats.blocks_skipped_identical == 1  # block 6 re-sent, not programmed again


def test_resume_after_ecu_reset_reenters_session(
    vehicle: tuple[SimVehicle, str], timeouts: LinkTimeouts, demo_package: object
) -> None:
    sim, url = vehicle
    data = os.urandom(8 * 4093)
    progress = _interrupted_download(sim, url, timeouts, data, block=3)
    sim.faults.restore_link()
    sim.faults.reset_ecu("DME")  # watchdog reset: session and unlock are gone
    last = progress[-1]
    with open_station_link(url, timeouts=timeouts) as link:
        link.wait_ready("DME")
        with pytest.raises(SessionLost):  # programming services need the session again
            link.download(
                "DME",
                DME,
                data,
                start_block_index=last.next_block_index,
                block_size=last.block_size,
            )
        ready_to_program(link, "DME")
        link.download(
            "DME", DME, data, start_block_index=last.next_block_index, block_size=last.block_size
        )
        link.check_memory("DME", DME, len(data), crc32(data))
    assert sim.ecu("DME").stats.blocks_programmed == 8


def test_program_segment_resume_does_not_erase(
    vehicle: tuple[SimVehicle, str], timeouts: LinkTimeouts, demo_package: object
) -> None:
    from hw.flash_files import FlashPackage

    assert isinstance(demo_package, FlashPackage)
    sim, url = vehicle
    pkg = demo_package.ecu("DME")
    seg, data = pkg.segments[0], demo_package.segment_data("DME", 0)
    sim.faults.disconnect_after_block("DME", 2, down_for=0.05)
    seen: list[DownloadProgress] = []
    with open_station_link(url, timeouts=LinkTimeouts(p2=0.3, block_retries=0)) as link:
        ready_to_program(link, "DME")
        with pytest.raises(BusTimeout):
            program_segment(link, "DME", seg, data, on_progress=seen.append)
        erases = sim.ecu("DME").stats.erases
        program_segment(
            link,
            "DME",
            seg,
            data,
            start_block_index=seen[-1].next_block_index,
            block_size=seen[-1].block_size,
        )
        assert sim.ecu("DME").stats.erases == erases
    assert segment_valid(sim.ecu("DME"), seg.address)


def test_transfer_exit_before_all_data_is_a_sequence_error(
    vehicle: tuple[SimVehicle, str], timeouts: LinkTimeouts
) -> None:
    _, url = vehicle
    with open_station_link(url, timeouts=timeouts) as link:
        ready_to_program(link, "EGS")
        address = FLASH_LAYOUT["EGS"].program_address
        link.erase("EGS", address, 4096)
        uds = link.uds("EGS")
        uds.request_download(address, 4096)
        uds.transfer_data(1, b"\x00" * 2048)
        with pytest.raises(RequestSequenceError):
            uds.transfer_exit()
