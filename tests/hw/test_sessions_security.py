"""Sessions, S3, TesterPresent, security access, negative responses -> typed errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hw import errors
from hw.protocol import DID_VIN, SecurityLevel, Session
from hw.security import compute_key, key_for_ecu, secret_for
from hw.sim.config import FLASH_LAYOUT, tune_ecu
from hw.sim.vehicle import SimVehicle
from hw.station_link import open_station_link
from hw.trace import read_trace
from hw.uds_client import LinkTimeouts
from tests.hw.simtools import FAST, FINGERPRINT, fast_config, ready_to_program

DME = FLASH_LAYOUT["DME"].program_address
P = int(SecurityLevel.PROGRAMMING)


def test_security_lockout_after_three_wrong_keys(
    make_vehicle: Callable[..., tuple[SimVehicle, str]],
) -> None:
    sim, url = make_vehicle(fast_config(lockout_time=0.5))
    with open_station_link(url, timeouts=FAST) as link:
        link.enter_programming_session("DME")
        uds = link.uds("DME")
        seed = uds.request_seed(P)
        wrong = bytes(b ^ 0xFF for b in key_for_ecu("DME", seed, P))
        with pytest.raises(errors.InvalidKey) as first:
            uds.send_key(P, wrong)
        assert first.value.nrc == 0x35
    # the attempt counter lives in the ECU, not in the connection
    with open_station_link(url, timeouts=FAST) as link:
        uds = link.uds("DME")
        uds.request_seed(P)
        with pytest.raises(errors.InvalidKey):
            uds.send_key(P, b"\x00\x00\x00\x01")
        uds.request_seed(P)
        with pytest.raises(errors.InvalidKeyAttemptsExceeded) as third:
            uds.send_key(P, b"\x00\x00\x00\x02")
        assert third.value.nrc == 0x36 and not third.value.transient
        assert third.value.code == "InvalidKeyAttemptsExceeded"
        with pytest.raises(errors.SecurityDelayNotExpired) as delayed:
            link.unlock("DME")
        assert delayed.value.nrc == 0x37 and delayed.value.transient
        with pytest.raises(errors.SecurityAccessDenied):  # still locked: no erase
            link.erase("DME", DME, 4096)
        time.sleep(0.55)
        link.unlock("DME")  # the delay has expired, the right key works
        link.write_fingerprint("DME", FINGERPRINT)
        link.erase("DME", DME, 4096)
    assert sim.ecu("DME").key_attempts == 0


def test_seed_key_algorithm_is_the_documented_one() -> None:
    seed = bytes.fromhex("12345678")
    secret = secret_for("DME")
    mixed = secret ^ (0x11 * 0x01010101)
    shift = 1 + mixed % 31
    x = (0x12345678 ^ mixed) & 0xFFFFFFFF
    expected = (((x << shift) | (x >> (32 - shift))) & 0xFFFFFFFF) ^ 0xA5C35A3C
    assert compute_key(seed, secret, 0x11) == expected.to_bytes(4, "big")
    assert compute_key(seed, secret, 0x11) != compute_key(seed, secret, 0x01)
    assert key_for_ecu("DME", seed, 0x11) != key_for_ecu("EGS", seed, 0x11)


def test_already_unlocked_ecu_sends_zero_seed(vehicle: tuple[SimVehicle, str]) -> None:
    _, url = vehicle
    with open_station_link(url, timeouts=FAST) as link:
        ready_to_program(link, "EGS")
        assert link.uds("EGS").request_seed(P) == b"\x00\x00\x00\x00"
        link.unlock("EGS")  # no key sent, no error


def test_s3_timeout_falls_back_to_default_session(
    make_vehicle: Callable[..., tuple[SimVehicle, str]],
) -> None:
    _, url = make_vehicle(fast_config(s3_timeout=0.3))
    with open_station_link(url, timeouts=FAST) as link:
        ready_to_program(link, "DME")
        assert link.read_active_session("DME") == Session.PROGRAMMING
        time.sleep(0.45)
        assert link.read_active_session("DME") == Session.DEFAULT
        with pytest.raises(errors.SessionLost) as info:
            link.erase("DME", DME, 4096)
        assert info.value.nrc == 0x7F and info.value.transient


def test_tester_present_keeps_session_without_positive_responses(
    make_vehicle: Callable[..., tuple[SimVehicle, str]], tmp_path: Path
) -> None:
    sim, url = make_vehicle(fast_config(s3_timeout=0.3))
    trace = tmp_path / "keepalive.asc"
    timeouts = LinkTimeouts(p2=0.3, keepalive=0.1)
    with open_station_link(url, trace, timeouts=timeouts) as link:
        ready_to_program(link, "DME")
        time.sleep(0.9)  # three S3 periods without any request of ours
        assert link.read_active_session("DME") == Session.PROGRAMMING
        link.erase("DME", DME, 4096)  # still unlocked
        # Checked while the link (and its keep-alive) is still open: once it closes, the car
        # falls back after 0.3 s, which a loaded machine could reach while reading the trace.
        assert sim.ecu("DME").current_session() == Session.PROGRAMMING
    frames = read_trace(trace)
    tester_present = [m for m in frames if not m.is_rx and bytes(m.data[:3]) == b"\x02\x3e\x80"]
    answers = [m for m in frames if m.is_rx and bytes(m.data[1:2]) == b"\x7e"]
    assert len(tester_present) >= 4
    assert answers == []  # suppressPosRspMsgIndicationBit honoured


def test_response_pending_is_waited_for_and_bounded(vehicle: tuple[SimVehicle, str]) -> None:
    sim, url = vehicle
    with open_station_link(url, timeouts=FAST) as link:
        sim.faults.response_pending("DME", 4, interval=0.1)  # 0.4 s > p2 of 0.3 s
        assert link.read_vin("DME") == sim.vin
    impatient = LinkTimeouts(p2=0.3, p2_star=2.0, pending_limit=0.25)
    with open_station_link(url, timeouts=impatient) as link:
        sim.faults.response_pending("DME", 10, interval=0.05)
        with pytest.raises(errors.ResponsePending) as info:
            link.read_vin("DME")
        assert info.value.transient and info.value.code == "ResponsePendingTooLong"


def test_low_battery_blocks_programming(vehicle: tuple[SimVehicle, str]) -> None:
    sim, url = vehicle
    with open_station_link(url, timeouts=FAST) as link:
        ready_to_program(link, "DME")
        sim.faults.sag_battery(11_200, duration=0.3)
        assert link.read_battery_voltage() == pytest.approx(11.2)
        with pytest.raises(errors.VoltageOutOfRange) as info:
            link.erase("DME", DME, 4096)
        assert info.value.nrc == 0x93 and info.value.transient
        time.sleep(0.35)
        assert link.read_battery_voltage() == pytest.approx(12.6)
        link.erase("DME", DME, 4096)


def test_negative_responses_become_typed_errors(vehicle: tuple[SimVehicle, str]) -> None:
    _, url = vehicle
    with open_station_link(url, timeouts=FAST) as link:
        with pytest.raises(errors.RequestOutOfRange) as unknown_did:
            link.read_did("DME", 0x1234)
        assert unknown_did.value.service == 0x22 and unknown_did.value.ecu == "DME"
        with pytest.raises(errors.ConditionsNotCorrect):  # programming straight from default
            link.change_session("DME", Session.PROGRAMMING)
        with pytest.raises(errors.SessionLost):  # security access in default session
            link.unlock("DME")
        link.change_session("DME", Session.EXTENDED)
        with pytest.raises(errors.SessionLost):  # programming level only in programming
            link.unlock("DME")
        link.change_session("DME", Session.PROGRAMMING)
        with pytest.raises(errors.SecurityAccessDenied):
            link.erase("DME", DME, 4096)
        link.unlock("DME")
        with pytest.raises(errors.ConditionsNotCorrect) as no_fingerprint:
            link.erase("DME", DME, 4096)
        assert no_fingerprint.value.nrc == 0x22 and not no_fingerprint.value.transient
        link.write_fingerprint("DME", FINGERPRINT)
        with pytest.raises(errors.RequestOutOfRange):  # outside the flash window
            link.erase("DME", 0x0000_1000, 4096)
        with pytest.raises(errors.UploadDownloadNotAccepted):  # not erased
            link.uds("DME").request_download(DME, 4096)
        with pytest.raises(errors.RequestSequenceError):  # no download active
            link.uds("DME").transfer_data(1, b"\x00")
        with pytest.raises(errors.ServiceNotSupported):  # gateway cannot be programmed
            link.change_session("ZGW", Session.PROGRAMMING)


def test_busy_ecu_answers_busy_repeat_request(
    make_vehicle: Callable[..., tuple[SimVehicle, str]],
) -> None:
    cfg = tune_ecu(fast_config(pending_interval=0.1), "DME", erase_time=0.6)
    sim, _ = make_vehicle(cfg)
    url = sim.serve_doip("127.0.0.1", 0).url
    with (
        open_station_link(url, timeouts=FAST) as first,
        open_station_link(url + "?tester=0x0E01", timeouts=FAST) as second,
    ):
        ready_to_program(first, "DME")
        eraser = threading.Thread(target=first.erase, args=("DME", DME, 4096))
        eraser.start()
        time.sleep(0.1)
        with pytest.raises(errors.EcuBusy) as info:
            second.read_did("DME", DID_VIN)
        assert info.value.nrc == 0x21 and info.value.transient
        eraser.join()
        assert second.read_vin("DME") == sim.vin


def test_nrc_mapping_table() -> None:
    assert errors.error_for_nrc(0x36) is errors.InvalidKeyAttemptsExceeded
    assert errors.error_for_nrc(0x31) is errors.RequestOutOfRange
    assert errors.error_for_nrc(0x21) is errors.EcuBusy
    assert errors.error_for_nrc(0x78) is errors.ResponsePending
    assert errors.error_for_nrc(0xEE) is errors.NegativeResponse
    err = errors.negative_response_error(0x73, ecu="EGS", service=0x36)
    assert isinstance(err, errors.WrongBlockSequenceCounter)
    assert str(err) == "ECU EGS, service 0x36, NRC 0x73: wrongBlockSequenceCounter"
    assert err.details()["code"] == "WrongBlockSequenceCounter"
    all_errors: list[type[errors.VehicleLinkError]] = []
    pending: list[type[errors.VehicleLinkError]] = [errors.VehicleLinkError]
    while pending:
        cls = pending.pop()
        all_errors.append(cls)
        pending.extend(cls.__subclasses__())
    transient_codes = {c.code for c in all_errors if c.transient}
    fatal_codes = {c.code for c in all_errors if not c.transient}
    codes = [cls.code for cls in all_errors]
    assert len(codes) == len(set(codes)), "codes must be unique"
    assert {"BusTimeout", "ResponsePendingTooLong", "EcuBusy", "LinkDisconnected"} <= (
        transient_codes
    )
    assert {
        "InvalidKeyAttemptsExceeded",
        "RequestOutOfRange",
        "WrongHardware",
        "SecurityAccessDenied",
        "ConditionsNotCorrect",
        "MemoryCheckFailed",
        "VinMismatch",
    } <= fatal_codes
    assert transient_codes.isdisjoint(fatal_codes)


def test_vin_and_hardware_guards(vehicle: tuple[SimVehicle, str]) -> None:
    sim, url = vehicle
    with open_station_link(url, timeouts=FAST) as link:
        assert link.verify_vin(sim.vin) == sim.vin
        with pytest.raises(errors.VinMismatch):
            link.verify_vin("WBA00000000000000")
        link.expect_hardware("DME", "HW-DME-B48-02")
        with pytest.raises(errors.WrongHardware) as info:
            link.expect_hardware("DME", "HW-DME-N20-01")
        assert not info.value.transient


@pytest.mark.parametrize("transport", ["sim", "doip"])
def test_keepalive_during_a_long_erase_of_another_ecu(
    make_vehicle: Callable[..., tuple[SimVehicle, str]], transport: str
) -> None:
    cfg = tune_ecu(fast_config(s3_timeout=0.4, pending_interval=0.2), "DME", erase_time=1.2)
    sim, url = make_vehicle(cfg)
    if transport == "doip":
        url = sim.serve_doip("127.0.0.1", 0).url
    timeouts = LinkTimeouts(p2=0.3, p2_star=1.0, keepalive=0.15)
    with open_station_link(url, timeouts=timeouts) as link:
        ready_to_program(link, "EGS")
        ready_to_program(link, "DME")
        started = time.monotonic()
        link.erase("DME", DME, 4096)  # 1.2 s of ResponsePending, 3 x S3
        assert time.monotonic() - started >= 1.2
        assert link.read_active_session("EGS") == Session.PROGRAMMING
        link.erase("EGS", FLASH_LAYOUT["EGS"].program_address, 4096)  # still unlocked
