"""Session traces: python-can ASC/BLF files readable with can.LogReader."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import can
import pytest

from domain.flash_package import crc32
from hw.sim.config import FLASH_LAYOUT
from hw.sim.vehicle import SimVehicle
from hw.station_link import open_station_link
from hw.trace import FrameTrace, diagnostic_payloads, read_trace
from tests.hw.simtools import FAST, ready_to_program

EGS = FLASH_LAYOUT["EGS"].program_address


@pytest.mark.parametrize("suffix", [".asc", ".blf"])
@pytest.mark.parametrize("mode", ["process", "inline"])
def test_can_session_trace(
    vehicle: tuple[SimVehicle, str], tmp_path: Path, suffix: str, mode: str
) -> None:
    sim, url = vehicle
    path = tmp_path / f"session{suffix}"
    with open_station_link(url, path, timeouts=FAST, trace_mode=mode) as link:  # type: ignore[arg-type]
        assert link.read_vin("DME") == sim.vin
        records = link.trace.records if link.trace else 0
    frames = read_trace(path)
    assert len(frames) == records
    request = frames[0]
    assert (request.arbitration_id, request.is_rx, request.is_fd) == (0x612, False, True)
    assert bytes(request.data[:4]) == b"\x03\x22\xf1\x90"
    first = frames[1]  # first frame of the 20-byte response: FD first frame
    assert (first.arbitration_id, first.is_rx) == (0x692, True)
    assert bytes(first.data[:5]) == b"\x00\x14\x62\xf1\x90"  # FD single frame, length 20
    assert bytes(first.data[5:22]).decode() == sim.vin
    assert frames[0].timestamp <= frames[1].timestamp


def test_doip_session_trace_reassembles_payloads(
    vehicle: tuple[SimVehicle, str], tmp_path: Path
) -> None:
    sim, _ = vehicle
    url = sim.serve_doip("127.0.0.1", 0).url
    path = tmp_path / "doip.blf"
    block = os.urandom(2046)
    with open_station_link(url, path, timeouts=FAST) as link:
        link.read_vin()
        ready_to_program(link, "EGS")
        link.erase("EGS", EGS, len(block))
        link.download("EGS", EGS, block)
        link.check_memory("EGS", EGS, len(block), crc32(block))
    frames = read_trace(path)
    assert all(m.is_fd and m.is_extended_id and len(m.data) <= 64 for m in frames)
    assert all(len(m.data) in {*range(9), 12, 16, 20, 24, 32, 48, 64} for m in frames)
    payloads = diagnostic_payloads(frames)
    assert payloads[0] == (0x0E00, 0x0010, False, b"\x22\xf1\x90")
    assert payloads[1] == (0x0010, 0x0E00, True, b"\x62\xf1\x90" + sim.vin.encode())
    assert frames[0].arbitration_id == 0x0E000010 and frames[1].arbitration_id == 0x00100E00
    transfer = [p for p in payloads if p[1] == 0x0018 and p[3][:1] == b"\x36"]
    assert transfer == [(0x0E00, 0x0018, False, b"\x36\x01" + block)]
    # the 2048-byte request became 32 records of 64 bytes
    to_egs = [m for m in frames if m.arbitration_id == 0x0E000018 and not m.is_rx]
    assert sum(1 for m in to_egs if len(m.data) == 64) >= 32
    assert (0x0018, 0x0E00, True, b"\x76\x01") in payloads


def test_trace_rejects_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="suffix"):
        FrameTrace(tmp_path / "x.txt")


def test_trace_is_complete_when_many_frames_are_logged(tmp_path: Path) -> None:
    path = tmp_path / "many.blf"
    with FrameTrace(path, batch_bytes=4096) as trace:
        for i in range(20_000):
            trace.log_can(
                can.Message(arbitration_id=i & 0x7FF, data=i.to_bytes(4, "big"), timestamp=i),
                is_rx=bool(i & 1),
            )
    frames = read_trace(path)
    assert len(frames) == 20_000
    assert [int.from_bytes(m.data, "big") for m in frames[:3]] == [0, 1, 2]
    assert frames[-1].is_rx and not frames[-2].is_rx


def test_trace_from_several_threads_keeps_records_whole_and_in_time_order(
    tmp_path: Path,
) -> None:
    # four lanes log 130-byte payloads (three CAN FD records each) at once, with timestamps
    # taken before they reach the trace, as a lane does
    path = tmp_path / "lanes.blf"
    per_lane = 2_000

    def lane(trace: FrameTrace, address: int) -> None:
        for i in range(per_lane):
            payload = bytes([address]) + i.to_bytes(4, "big") + bytes([address]) * 125
            trace.log_diagnostic(0x0E00, address, payload, is_rx=False, timestamp=time.time())

    with FrameTrace(path, batch_bytes=8192) as trace:
        lanes = [threading.Thread(target=lane, args=(trace, a)) for a in (0x12, 0x18, 0x40, 0x60)]
        for thread in lanes:
            thread.start()
        for thread in lanes:
            thread.join()
    messages = read_trace(path)
    stamps = [m.timestamp for m in messages]
    assert stamps == sorted(stamps)
    payloads = diagnostic_payloads(messages)
    assert len(payloads) == 4 * per_lane
    for address in (0x12, 0x18, 0x40, 0x60):
        mine = [p for _, target, _, p in payloads if target == address]
        assert [int.from_bytes(p[1:5], "big") for p in mine] == list(range(per_lane))
        assert all(p[0] == address and p[5:] == bytes([address]) * 125 for p in mine)


def test_an_asc_log_holds_each_diagnostic_message_as_python_can_writes_its_frames(
    tmp_path: Path,
) -> None:
    # The ASC frame log writes a DoIP diagnostic message's CAN FD frames straight from its
    # bytes, not through python-can's writer; what it writes must read back as the messages
    # logged, in lines python-can's own writer writes for those frames (the portal's audit and
    # every ASC tool read it).
    rng = random.Random(7)
    logged = []
    path = tmp_path / "session.asc"
    with FrameTrace(path, mode="inline", batch_bytes=1000) as trace:
        stamp = 1_764_900_000.0
        for _ in range(400):
            stamp += rng.random() / 1000
            source, target = rng.choice([(0x0E00, 0x0010), (0x0060, 0x0E00), (0x1FFF, 0xFFFF)])
            is_rx = rng.random() < 0.5
            payload = rng.randbytes(rng.choice([0, 1, 7, 8, 63, 64, 65, 130, 2046, 4094]))
            trace.log_diagnostic(source, target, payload, is_rx=is_rx, timestamp=stamp)
            logged.append((source, target, is_rx, payload))
    frames = read_trace(path)

    assert diagnostic_payloads(frames) == logged
    assert sum(1 for frame in frames if frame.bitrate_switch) == len(logged)  # first frames
    reference = tmp_path / "reference.asc"
    writer = can.ASCWriter(reference)
    for frame in frames:
        writer.on_message_received(frame)
    writer.stop()
    ours, theirs = path.read_text().splitlines(), reference.read_text().splitlines()
    assert len(ours) == len(frames) + 6  # 4 header lines, "Start of measurement", the end
    # all but the lines with the time each file was written
    assert ours[1:3] + ours[4:] == theirs[1:3] + theirs[4:]
