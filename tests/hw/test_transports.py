"""Transport details: plain can:// buses, classic CAN, DoIP entity behaviour."""

from __future__ import annotations

import os
import socket
import struct
import time
import uuid
from pathlib import Path

import pytest
from doipclient.client import Parser
from doipclient.messages import EntityStatusResponse, VehicleIdentificationResponse

from domain.flash_package import crc32
from hw.errors import BusTimeout, LateResponse, LinkDisconnected
from hw.protocol import Session
from hw.sim.config import FLASH_LAYOUT
from hw.sim.vehicle import SimVehicle
from hw.station_link import connect_station_link, open_station_link
from hw.uds_client import LinkTimeouts
from tests.hw.simtools import FAST, ready_to_program

DME = FLASH_LAYOUT["DME"].program_address


@pytest.mark.parametrize("fd", [False, True])
def test_can_url_on_a_virtual_bus(vehicle: tuple[SimVehicle, str], fd: bool) -> None:
    sim, _ = vehicle
    channel = f"vcan-{uuid.uuid4().hex[:8]}"
    server = sim.attach_can(channel, fd=fd)
    data = os.urandom(3 * 4093 + 7)
    try:
        url = f"can://virtual/{channel}" + ("?fd=1" if fd else "")
        with open_station_link(url, timeouts=FAST) as link:
            assert link.read_vin() == sim.vin
            ready_to_program(link, "DME")
            link.erase("DME", DME, len(data))
            link.download("DME", DME, data)
            assert link.check_memory("DME", DME, len(data), crc32(data)) == crc32(data)
    finally:
        sim.detach(server)


def test_delayed_frames(vehicle: tuple[SimVehicle, str]) -> None:
    sim, url = vehicle
    with open_station_link(url, timeouts=FAST) as link:
        sim.faults.delay_frames(0.1, count=1)  # slower than usual, within P2
        assert link.read_vin("EGS") == sim.vin
        sim.faults.delay_frames(0.5, count=1)  # beyond P2 (0.3 s)
        with pytest.raises(BusTimeout) as info:
            link.read_vin("EGS")
        assert info.value.transient and info.value.ecu == "EGS"
        time.sleep(0.3)  # the late answer arrives and is discarded by the next request
        assert link.read_vin("EGS") == sim.vin


def test_an_answer_arriving_during_the_next_request_is_a_late_response(
    vehicle: tuple[SimVehicle, str],
) -> None:
    """A loaded ECU (or tester) answers after P2: the answer reaches the next request. That is
    a link out of step, retried on a fresh link, not an ECU that answers wrongly."""
    sim, url = vehicle
    with open_station_link(url, timeouts=FAST) as link:
        sim.faults.delay_frames(0.5, count=1)  # beyond P2 (0.3 s)
        with pytest.raises(BusTimeout):
            link.read_vin("EGS")
        with pytest.raises(LateResponse) as info:
            link.read_active_session("EGS")  # the VIN's answer arrives in its place
        assert info.value.transient and info.value.ecu == "EGS"
    with open_station_link(url, timeouts=FAST) as link:  # a fresh link is in step
        assert link.read_vin("EGS") == sim.vin


def test_the_late_answer_of_a_timed_out_probe_does_not_take_the_next_requests_place(
    vehicle: tuple[SimVehicle, str],
) -> None:
    """A restarting ECU answers a TesterPresent probe after the probe gave up; that answer
    arrives while the next request (another service) waits for its own. The request gets its
    own answer, and the link stays in step (seen in CI as a retried ECU at its finish)."""
    sim, url = vehicle
    with open_station_link(url, timeouts=FAST) as link:
        sim.faults.delay_frames(0.2, count=1)  # the probe's answer, after the probe's 50 ms
        assert not link.uds("EGS").probe(0.05)
        assert link.read_vin("EGS") == sim.vin  # 7E 00 arrives first, then 62 F1 90 ...
        assert link.read_vin("EGS") == sim.vin


def _udp_request(port: int, payload_type: int, payload: bytes = b"") -> object:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(2)
        udp.sendto(
            struct.pack("!BBHI", 2, 0xFD, payload_type, len(payload)) + payload, ("127.0.0.1", port)
        )
        data, _ = udp.recvfrom(4096)
    return Parser().read_message(data)


def test_doip_entity_discovery_and_status(vehicle: tuple[SimVehicle, str]) -> None:
    sim, _ = vehicle
    server = sim.serve_doip("127.0.0.1", 0)
    announcement = _udp_request(server.port, 0x0001)
    assert isinstance(announcement, VehicleIdentificationResponse)
    assert announcement.vin == sim.vin and announcement.logical_address == 0x0010
    status = _udp_request(server.port, 0x4001)
    assert isinstance(status, EntityStatusResponse)
    assert status.max_concurrent_sockets == 8


def test_doip_same_tester_address_replaces_a_dead_socket(vehicle: tuple[SimVehicle, str]) -> None:
    sim, _ = vehicle
    server = sim.serve_doip("127.0.0.1", 0)
    # a station that activated routing as 0x0E00 and then hung: it reads nothing any more
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as hung:
        hung.sendall(struct.pack("!BBHI", 2, 0xFD, 0x0005, 7) + struct.pack("!HBI", 0x0E00, 0, 0))
        answer = hung.recv(8 + 9)
        assert answer[2:4] == b"\x00\x06" and answer[8 + 4] == 0x10  # routing activated
        # a new one with the same tester address: alive check on the old socket, no answer
        with open_station_link(server.url, timeouts=FAST) as fresh:
            assert fresh.read_vin() == sim.vin
            hung.settimeout(2)
            assert hung.recv(8)[2:4] == b"\x00\x07"  # it was asked whether it is alive
            assert hung.recv(64) == b""  # and closed


def test_doip_live_link_keeps_its_tester_address(vehicle: tuple[SimVehicle, str]) -> None:
    sim, _ = vehicle
    url = sim.serve_doip("127.0.0.1", 0).url
    with open_station_link(url, timeouts=FAST) as live:
        assert live.read_vin() == sim.vin
        # the link's reader answers the alive check: a second tester 0x0E00 is refused
        with pytest.raises(LinkDisconnected, match="code 3"):  # already active elsewhere
            connect_station_link(url, timeouts=FAST)
        assert live.read_vin() == sim.vin


def test_doip_rejects_unknown_target_and_is_robust(vehicle: tuple[SimVehicle, str]) -> None:
    sim, _ = vehicle
    server = sim.serve_doip("127.0.0.1", 0)
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:

        def send(ptype: int, payload: bytes) -> tuple[int, bytes]:
            sock.sendall(struct.pack("!BBHI", 2, 0xFD, ptype, len(payload)) + payload)
            header = sock.recv(8)
            _, _, rtype, length = struct.unpack("!BBHI", header)
            body = b""
            while len(body) < length:
                body += sock.recv(length - len(body))
            return rtype, body

        # diagnostic message before routing activation: NACK invalid source address
        assert send(0x8001, struct.pack("!HH", 0x0E00, 0x0012) + b"\x3e\x00") == (
            0x8003,
            struct.pack("!HHB", 0x0012, 0x0E00, 0x02),
        )
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:

        def send2(ptype: int, payload: bytes) -> tuple[int, bytes]:
            sock.sendall(struct.pack("!BBHI", 2, 0xFD, ptype, len(payload)) + payload)
            _, _, rtype, length = struct.unpack("!BBHI", sock.recv(8))
            return rtype, sock.recv(length) if length else b""

        assert send2(0x0005, struct.pack("!HBI", 0x0E00, 0, 0))[1][4] == 0x10
        assert send2(0x8001, struct.pack("!HH", 0x0E00, 0x0077) + b"\x3e\x00") == (
            0x8003,
            struct.pack("!HHB", 0x0077, 0x0E00, 0x03),
        )
        assert send2(0x1234, b"") == (0x0000, b"\x01")  # unknown payload type
        assert send2(0x0007, b"") == (0x0008, b"\x00\x10")  # alive check


def test_unwritable_trace_fails_the_open(vehicle: tuple[SimVehicle, str], tmp_path: Path) -> None:
    _, url = vehicle
    (tmp_path / "taken.blf").mkdir()
    with (
        pytest.raises(OSError, match="trace writer"),
        open_station_link(url, tmp_path / "taken.blf"),
    ):
        pass


def test_doip_lost_keepalive_does_not_break_the_next_request(
    vehicle: tuple[SimVehicle, str],
) -> None:
    sim, _ = vehicle
    url = sim.serve_doip("127.0.0.1", 0).url
    timeouts = LinkTimeouts(p2=0.3, p2_star=2.0, keepalive=0.1)
    with open_station_link(url, timeouts=timeouts) as link:
        link.ensure_programming("DME")
        # the next frame to the car is a keep-alive; it is lost, so its acknowledgement never
        # comes, while the later keep-alives' do
        sim.faults.drop_frames(1, "to_vehicle")
        time.sleep(0.5)
        assert sim.faults.frames_dropped == 1
        assert link.read_active_session("DME") == Session.PROGRAMMING
        assert link.read_vin("DME") == sim.vin  # and the link is in step again
