"""The frame log of a whole-car flash, decoded without the station's code: per ECU, session
and security are established once, never per segment, and every download runs inside an
unlocked programming session.

The ASC file is read, ISO-TP (CAN FD and classic CAN) and the DoIP records of :mod:`hw.trace`
reassembled by the portal's own decoder (`domain.frame_log_decoder`, which imports nothing
from ``hw``), its frames checked against python-can's ``can.ASCReader``; the portal's protocol
audit (`domain.protocol_audit`) finds nothing to object to in these logs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import can
import pytest

from domain.frame_log_decoder import (
    DecodedLog,
    Exchange,
    Frame,
    exchanges_per_ecu,
    messages,
    parse_asc,
)
from domain.protocol_audit import audit_frame_logs
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


def read_frames(path: Path) -> list[Frame]:
    """The portal's own ASC reader (domain.frame_log_decoder), checked frame by frame against
    python-can's `can.ASCReader`."""
    frames = parse_asc(path.read_text())
    with can.ASCReader(str(path)) as reader:
        reference = list(reader)
    assert len(frames) == len(reference) > 0
    for ours, theirs in zip(frames, reference, strict=True):
        assert (ours.arbitration_id, ours.is_rx, ours.fd, ours.data) == (
            theirs.arbitration_id,
            theirs.is_rx,
            theirs.is_fd,
            bytes(theirs.data),
        )
        assert ours.bitrate_switch == theirs.bitrate_switch or not ours.fd
    return frames


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


def logs_per_ecu(path: Path) -> dict[str, EcuLog]:
    """Each flashable ECU's exchanges (request and final response) in the log."""
    log = DecodedLog()
    per_address = exchanges_per_ecu(messages(read_frames(path), log), log)
    assert log.problems == [], log.problems
    return {name: EcuLog(per_address.get(address, [])) for name, address in ECU_ADDRESSES.items()}


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

    frames = read_frames(trace)
    if transport != "doip":
        assert all(m.fd == (transport == "can-fd") for m in frames)
        assert all(len(m.data) <= 8 for m in frames) or transport == "can-fd"
    for name, log in logs_per_ecu(trace).items():
        check_ecu_log(name, log)
        keepalives = [e for e in log.exchanges if e.request == b"\x3e\x80"]
        assert keepalives, f"{name}: no TesterPresent between the segments"
    audit = audit_frame_logs([(trace.name, trace.read_text())])
    assert (audit.verdict, audit.violations) == ("conforms", [])
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
    for name, log in logs_per_ecu(trace).items():
        check_ecu_log(name, log)
        # per segment: erase, RequestDownload, TransferExit, check memory; nothing else
        # but TransferData
        requests = [e.request for e in log.exchanges if e.request[0] not in (0x22, 0x3E)]
        first_erase = next(i for i, r in enumerate(requests) if r[:4] == b"\x31\x01\xff\x00")
        per_segments = requests[first_erase:-2]  # up to dependencies and reset
        assert [r[0] for r in per_segments if r[0] != 0x36] == [0x31, 0x34, 0x37, 0x31] * 2
