"""The frame log of a whole-car flash, decoded without the station's code: per ECU, session
and security are established once, never per segment, and every download runs inside an
unlocked programming session.

The ASC file is read with python-can's ``can.ASCReader``; ISO-TP (CAN FD and classic CAN)
and the DoIP records of :mod:`hw.trace` are reassembled by the small decoders below (they
import nothing from ``hw``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import can
import pytest

from hw.flash_files import FlashPackage
from hw.flash_sequence import (
    ensure_programming,
    finish_ecu,
    flash_ecu,
    prepare_ecu,
    program_segment,
)
from hw.protocol import Fingerprint
from hw.sim.vehicle import SimVehicle
from hw.station_link import StationLink, open_station_link
from hw.uds_client import LinkTimeouts
from tests.hw.simtools import fast_config

FINGERPRINT = Fingerprint(date(2025, 3, 14), workshop_id=4711, station_id="ST-01")
ECU_ADDRESSES = {"DME": 0x12, "EGS": 0x18, "BDC": 0x40, "KOMBI": 0x60}  # from the spec sheet
TESTER = 0x0E00

# what each flashable ECU must see, 22 (reads) and 3E (TesterPresent) left out, a run of
# TransferData as one "36"
EXPECTED = [
    "10 03",  # extended session
    "10 02",  # programming session
    "27 11",  # seed (programming level)
    "27 12",  # key
    "2e f1 5a",  # fingerprint
    "2e f1 98",  # tester serial
    "2e f1 99",  # programming date
    *["31 01 ff 00", "34", "36", "37", "31 01 02 02"] * 2,  # two segments, nothing between
    "31 01 ff 01",  # dependencies
    "11 01",  # hard reset
]


# --------------------------------------------------------------------------- decoders


def read_asc(path: Path) -> list[can.Message]:
    with can.ASCReader(str(path)) as reader:
        return list(reader)


def isotp_messages(frames: Iterable[can.Message]) -> list[tuple[int, bool, bytes]]:
    """(arbitration id, is_rx, payload) per ISO-TP message, in the order they completed.

    Single frame (PCI 0x0, CAN FD escape: length in the 2nd byte), first frame (0x1, 12-bit
    length or 32-bit escape), consecutive frames (0x2); flow control (0x3) is skipped.
    """
    out: list[tuple[int, bool, bytes]] = []
    partial: dict[tuple[int, bool], tuple[int, bytearray]] = {}
    for frame in frames:
        data = bytes(frame.data)
        key = (frame.arbitration_id, bool(frame.is_rx))
        kind = data[0] >> 4
        if kind == 0:
            length = data[0] & 0x0F
            body = data[1:]
            if length == 0:
                length, body = data[1], data[2:]
            out.append((*key, body[:length]))
        elif kind == 1:
            length = ((data[0] & 0x0F) << 8) | data[1]
            body = data[2:]
            if length == 0:
                length, body = int.from_bytes(data[2:6], "big"), data[6:]
            partial[key] = (length, bytearray(body))
        elif kind == 2:
            length, buf = partial[key]
            buf += data[1:]
            if len(buf) >= length:
                out.append((*key, bytes(buf[:length])))
                del partial[key]
    assert not partial, f"unfinished ISO-TP messages: {list(partial)}"
    return out


def doip_messages(frames: Iterable[can.Message]) -> list[tuple[int, bool, bytes]]:
    """DoIP diagnostic messages as the trace records them: 29-bit id ``source << 16 |
    target``, payload split over CAN FD records, the first one with bitrate switch."""
    out: list[tuple[int, bool, bytes]] = []
    for frame in frames:
        assert frame.is_extended_id and frame.is_fd
        key = (frame.arbitration_id, bool(frame.is_rx))
        if frame.bitrate_switch or not out or out[-1][:2] != key:
            out.append((*key, bytes(frame.data)))
        else:
            out[-1] = (*key, out[-1][2] + bytes(frame.data))
    return out


@dataclass
class Exchange:
    request: bytes
    response: bytes | None = None  # final response (ResponsePending skipped)
    pending: int = 0


@dataclass
class EcuLog:
    exchanges: list[Exchange] = field(default_factory=list)

    def tokens(self) -> list[str]:
        out: list[str] = []
        for ex in self.exchanges:
            sid = ex.request[0]
            if sid in (0x22, 0x3E):
                continue
            size = {0x31: 4, 0x2E: 3, 0x34: 1, 0x36: 1, 0x37: 1}.get(sid, 2)
            token = ex.request[:size].hex(" ")
            if token == "36" and out and out[-1] == "36":
                continue
            out.append(token)
        return out


def exchanges_per_ecu(
    messages: list[tuple[int, bool, bytes]], request_id: Callable[[int], int]
) -> dict[str, EcuLog]:
    """Pair each request with its final response, per ECU."""
    ids = {request_id(address): name for name, address in ECU_ADDRESSES.items()}
    logs = {name: EcuLog() for name in ECU_ADDRESSES}
    for arbitration_id, is_rx, payload in messages:
        if not is_rx:
            if arbitration_id in ids:
                logs[ids[arbitration_id]].exchanges.append(Exchange(payload))
            continue
        name = next((n for a, n in ids.items() if response_of(a, arbitration_id)), None)
        if name is None:
            continue
        open_ = [e for e in logs[name].exchanges if e.response is None]
        assert open_, f"{name}: response {payload.hex()} without request"
        exchange = open_[-1]
        sid = exchange.request[0]
        if payload[0] == 0x7F and payload[2] == 0x78:
            assert payload[1] == sid
            exchange.pending += 1
            continue
        assert payload[0] in (sid + 0x40, 0x7F), (
            f"{name}: {exchange.request.hex()} -> {payload.hex()}"
        )
        exchange.response = payload
    return logs


def response_of(request_id: int, arbitration_id: int) -> bool:
    if request_id < 0x800:  # CAN: response id = request id | 0x80
        return arbitration_id == request_id | 0x80
    source, target = request_id >> 16, request_id & 0xFFFF  # DoIP: swapped addresses
    return arbitration_id == (target << 16 | source)


def check_ecu_log(name: str, log: EcuLog) -> None:
    assert log.tokens() == EXPECTED, name
    session, unlocked, fingerprinted = 0x01, False, False
    for ex in log.exchanges:
        request, response = ex.request, ex.response
        if request[0] == 0x3E:
            if request[1] & 0x80:
                assert response is None, f"{name}: answer to TesterPresent 3E 80"
            continue  # 3E 00 probes while the ECU restarts go unanswered until it is back
        assert response is not None, f"{name}: no answer to {request.hex()}"
        assert response[0] != 0x7F, f"{name}: {request.hex()} -> {response.hex()}"
        if request[0] == 0x10:
            session, unlocked, fingerprinted = request[1], False, False
        elif request[:2] == b"\x27\x11":
            assert session == 0x02
            assert response[2:] != bytes(len(response) - 2), f"{name}: zero seed"
        elif request[:2] == b"\x27\x12":
            unlocked = True
        elif request[0] == 0x11:
            session, unlocked, fingerprinted = 0x01, False, False
        elif request[0] in (0x31, 0x34, 0x36, 0x37, 0x2E):
            assert (session, unlocked) == (0x02, True), f"{name}: {request[:4].hex()} locked"
            if request[:3] in (b"\x2e\xf1\x5a", b"\x2e\xf1\x98"):
                fingerprinted = True
            if request[:4] == b"\x31\x01\xff\x00" or request[0] == 0x34:
                assert fingerprinted, f"{name}: {request[:4].hex()} before the fingerprint"


# --------------------------------------------------------------------------- flashing


def flash_like_the_station(
    link: StationLink, package: FlashPackage, vin: str, *, gap: float
) -> None:
    """The station activities' sequence (station/programming.py), one link for the session;
    ``gap`` stands for the time between two activities."""
    for pkg in package.manifest.ecus:
        link.verify_vin(vin)
        link.read_battery_voltage()
        prepare_ecu(link, pkg, FINGERPRINT)
        for index, segment in enumerate(pkg.segments):
            time.sleep(gap)
            link.verify_vin(vin)
            ensure_programming(link, pkg.ecu)
            program_segment(link, pkg.ecu, segment, package.segment_data(pkg.ecu, index))
        time.sleep(gap)
        link.verify_vin(vin)
        finish_ecu(link, pkg.ecu)
        link.read_software_list(pkg.ecu)


@pytest.mark.parametrize("transport", ["can-fd", "can-classic", "doip"])
def test_session_and_security_once_per_ecu(
    make_vehicle: Callable[..., tuple[SimVehicle, str]],
    demo_package: FlashPackage,
    tmp_path: Path,
    transport: str,
) -> None:
    # S3 shorter than the pause between two segments: only TesterPresent keeps the session
    sim, url = make_vehicle(fast_config(s3_timeout=0.4))
    assert all(len(p.segments) >= 2 for p in demo_package.manifest.ecus)
    if transport == "doip":
        url = sim.serve_doip("127.0.0.1", 0).url
    else:
        url += "&fd=1" if transport == "can-fd" else "&fd=0"
    timeouts = LinkTimeouts(
        p2=0.5, p2_star=2.0, request=20.0, pending_limit=10.0, keepalive=0.05, s3=0.4
    )
    trace = tmp_path / "session.asc"
    with open_station_link(url, trace, timeouts=timeouts) as link:
        flash_like_the_station(link, demo_package, sim.vin, gap=0.5)

    frames = read_asc(trace)
    if transport == "doip":
        messages = doip_messages(frames)
        logs = exchanges_per_ecu(messages, lambda address: TESTER << 16 | address)
    else:
        assert all(m.is_fd == (transport == "can-fd") for m in frames)
        assert all(len(m.data) <= 8 for m in frames) or transport == "can-fd"
        messages = isotp_messages(frames)
        logs = exchanges_per_ecu(messages, lambda address: 0x600 | address)
    for name, log in logs.items():
        check_ecu_log(name, log)
        keepalives = [e for e in log.exchanges if e.request == b"\x3e\x80"]
        assert keepalives, f"{name}: no TesterPresent between the segments"
    # the flash worked
    for pkg in demo_package.manifest.ecus:
        assert sim.ecu(pkg.ecu).software == pkg.software_units


def test_flash_ecu_sequence_over_can_fd(
    make_vehicle: Callable[..., tuple[SimVehicle, str]],
    demo_package: FlashPackage,
    tmp_path: Path,
) -> None:
    _, url = make_vehicle()
    trace = tmp_path / "flash_ecu.asc"
    timeouts = LinkTimeouts(p2=0.5, p2_star=2.0, request=20.0, keepalive=0.0)
    with open_station_link(url, trace, timeouts=timeouts) as link:
        for pkg in demo_package.manifest.ecus:
            flash_ecu(link, pkg, demo_package.images[pkg.ecu], fingerprint=FINGERPRINT)
    logs = exchanges_per_ecu(isotp_messages(read_asc(trace)), lambda address: 0x600 | address)
    for name, log in logs.items():
        check_ecu_log(name, log)
        # per segment: erase, RequestDownload, TransferExit, check memory; nothing else
        # but TransferData
        requests = [e.request for e in log.exchanges if e.request[0] not in (0x22, 0x3E)]
        first_erase = next(i for i, r in enumerate(requests) if r[:4] == b"\x31\x01\xff\x00")
        per_segments = requests[first_erase:-2]  # up to dependencies and reset
        assert [r[0] for r in per_segments if r[0] != 0x36] == [0x31, 0x34, 0x37, 0x31] * 2
