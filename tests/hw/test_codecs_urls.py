"""Vehicle URLs, DID encodings, service items in the instrument cluster."""

from __future__ import annotations

from datetime import date

import pytest

from domain.flash_package import SoftwareUnit
from hw import protocol as P
from hw.sim.vehicle import SimVehicle
from hw.station_link import open_station_link
from hw.vehicle_url import parse_vehicle_url
from tests.hw.simtools import FAST


def test_parse_vehicle_urls() -> None:
    sim = parse_vehicle_url("sim://")
    assert (sim.scheme, sim.name, sim.fd, sim.interface) == ("sim", None, True, "virtual")
    named = parse_vehicle_url("sim://?name=bench1&state=/tmp/car.json&fd=0")
    assert (named.name, named.state_file, named.fd) == ("bench1", "/tmp/car.json", False)
    can = parse_vehicle_url("can://virtual/vcan0")
    assert (can.scheme, can.interface, can.channel, can.fd) == ("can", "virtual", "vcan0", False)
    assert parse_vehicle_url("can://socketcan/can0?fd=1").fd is True
    assert parse_vehicle_url("can://slcan//dev/ttyACM0").channel == "/dev/ttyACM0"
    doip = parse_vehicle_url("doip://127.0.0.1:13401")
    assert (doip.host, doip.port, doip.tester_address) == ("127.0.0.1", 13401, 0x0E00)
    assert parse_vehicle_url("doip://icom.local").port == 13400
    v6 = parse_vehicle_url("doip://[::1]:13400?tester=0x0E01")
    assert (v6.host, v6.tester_address) == ("::1", 0x0E01)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("vcan0", "missing scheme"),
        ("http://x", "unsupported scheme"),
        ("sim://host", "sim:// takes no host"),
        ("sim://?nmae=x", "unknown parameter 'nmae'"),
        ("sim://?state=/x", "state= needs a name="),
        ("can://virtual", "missing channel"),
        ("can:///vcan0", "missing python-can interface"),
        ("can://nosuchbus/can0", "unknown python-can interface 'nosuchbus'"),
        ("can://virtual/vcan0?fd=maybe", "fd: expected 0/1"),
        ("doip://:13400", "missing host"),
        ("doip://10.0.0.1:99999", "invalid port"),
        ("doip://10.0.0.1:13400/path", "takes no path"),
        ("doip://10.0.0.1?tester=0x10", "tester address must be in 0x0E00..0x0FFF"),
        ("doip://user:pw@10.0.0.1", "credentials"),
    ],
)
def test_bad_vehicle_urls_are_explained(url: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_vehicle_url(url)
    assert message in str(info.value)


def test_software_list_encoding() -> None:
    units = [
        SoftwareUnit.parse("SWFL_0000A1B2_002_001_003"),
        SoftwareUnit.parse("CAFD_0000C1D0_002_000_000"),
    ]
    raw = P.encode_software_list(units)
    assert raw == bytes.fromhex("0208 0000A1B2 0201030D 0000C1D0 020000".replace(" ", ""))
    assert P.decode_software_list(raw) == units
    with pytest.raises(P.ProtocolDecodeError):
        P.decode_software_list(raw[:-1])


def test_fingerprint_and_service_item_encoding() -> None:
    fp = P.Fingerprint(date(2024, 12, 31), workshop_id=0x01020304, station_id="ST-9")
    raw = fp.encode()
    assert raw == bytes.fromhex("180C1F01020304") + b"ST-9" + bytes(5)
    assert P.Fingerprint.decode(raw) == fp
    items = [
        P.ServiceItem(P.ServiceItemId.ENGINE_OIL, P.ServiceStatus.DUE_SOON, date(2025, 6, 1), 1500),
        P.ServiceItem(P.ServiceItemId.BRAKE_FLUID, P.ServiceStatus.OVERDUE, None, -200),
        P.ServiceItem(P.ServiceItemId.VEHICLE_CHECK, P.ServiceStatus.OK),
    ]
    raw_items = P.encode_service_items(items)
    assert raw_items[:11] == bytes.fromhex("0301 01 07E9 06 01 000005DC".replace(" ", ""))
    assert P.decode_service_items(raw_items) == items
    with pytest.raises(ValueError, match="unique"):
        P.encode_service_items([items[0], items[0]])


def test_service_items_written_into_the_car_and_read_back(
    vehicle: tuple[SimVehicle, str],
) -> None:
    sim, url = vehicle
    items = [
        P.ServiceItem(P.ServiceItemId.ENGINE_OIL, P.ServiceStatus.OK, date(2026, 5, 1), 30000),
        P.ServiceItem(P.ServiceItemId.MICROFILTER, P.ServiceStatus.DUE_SOON, None, 900),
    ]
    with open_station_link(url, timeouts=FAST) as link:
        assert link.read_service_items() == []
        link.write_service_items(items)
    sim_bytes = sim.ecu("KOMBI").service_items
    with open_station_link(url, timeouts=FAST) as link:
        assert link.read_service_items() == items
        assert link.read_active_session("KOMBI") == P.Session.EXTENDED
    assert sim_bytes == P.encode_service_items(items)
    with open_station_link(url, timeouts=FAST) as link:
        link.enter_default_session("KOMBI")
        from hw.errors import RequestOutOfRange

        with pytest.raises(RequestOutOfRange):  # writing needs the extended session
            link.uds("KOMBI").write_did(P.DID_SERVICE_ITEMS, P.encode_service_items([]))
