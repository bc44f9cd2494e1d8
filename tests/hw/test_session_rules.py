"""ISO 14229-1 session transitions of the simulated ECU (raw UDS bytes), and the station
link's rule: enter the programming session and unlock once per ECU and link."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hw.errors import ConditionsNotCorrect
from hw.flash_sequence import ensure_programming
from hw.protocol import SecurityLevel, Session
from hw.security import key_for_ecu
from hw.sim.config import FLASH_LAYOUT, tune_ecu
from hw.sim.ecu import SESSION_TRANSITIONS, SimEcu, session_transition
from hw.sim.vehicle import SimVehicle
from hw.station_link import open_station_link
from hw.trace import read_trace
from hw.uds_client import LinkTimeouts
from tests.hw.simtools import FAST, FINGERPRINT, fast_config, ready_to_program

DME = FLASH_LAYOUT["DME"].program_address
ADDRESS = DME.to_bytes(4, "big")
LENGTH = (4096).to_bytes(4, "big")
ERASE = b"\x31\x01\xff\x00\x44" + ADDRESS + LENGTH
REQUEST_DOWNLOAD = b"\x34\x00\x44" + ADDRESS + LENGTH
WRITE_FINGERPRINT = b"\x2e\xf1\x5a" + FINGERPRINT.encode()
WRITE_TESTER_SERIAL = b"\x2e\xf1\x98" + b"ST-TEST"
WRITE_PROGRAMMING_DATE = b"\x2e\xf1\x99" + bytes.fromhex("20261204")
LEVEL_OF = {
    Session.EXTENDED: SecurityLevel.EXTENDED,
    Session.PROGRAMMING: SecurityLevel.PROGRAMMING,
}


class RawUds:
    """Raw UDS against one SimEcu: ``ecu.handle(request, send)``, final response returned
    (ResponsePending answers skipped), None when the ECU sent nothing."""

    def __init__(self, ecu: SimEcu) -> None:
        self.ecu = ecu

    def __call__(self, request: bytes) -> bytes | None:
        responses: list[bytes] = []
        self.ecu.handle(request, responses.append)
        final = [r for r in responses if not (r[0] == 0x7F and r[2] == 0x78)]
        assert len(final) <= 1, final
        return final[0] if final else None

    def ok(self, request: bytes) -> bytes:
        response = self(request)
        assert response is not None and response[0] == request[0] + 0x40, (
            f"{request.hex()} -> {response.hex() if response else None}"
        )
        return response

    def session(self) -> int:
        return self.ok(b"\x22\xf1\x86")[3]

    def seed(self, level: int) -> bytes:
        return self.ok(bytes((0x27, level)))[2:]

    def unlock(self, level: int) -> None:
        seed = self.seed(level)
        assert seed != b"\x00\x00\x00\x00"  # a locked level never answers the zero seed
        key = key_for_ecu(self.ecu.name, seed, level)
        assert self.ok(bytes((0x27, level + 1)) + key) == bytes((0x67, level + 1))

    def enter(self, session: Session) -> None:
        """From default, the way a tester gets there (programming via extended)."""
        if session != Session.DEFAULT:
            self.ok(b"\x10\x03")
        if session == Session.PROGRAMMING:
            self.ok(b"\x10\x02")
        assert self.session() == session


@pytest.fixture
def sim() -> Iterator[SimVehicle]:
    vehicle = SimVehicle(fast_config(s3_timeout=0.3))
    yield vehicle
    vehicle.close()


@pytest.fixture
def dme(sim: SimVehicle) -> RawUds:
    return RawUds(sim.ecu("DME"))


def test_reentering_programming_session_locks_security(dme: RawUds) -> None:
    dme.enter(Session.PROGRAMMING)
    dme.unlock(0x11)
    dme.ok(WRITE_FINGERPRINT)
    assert dme.ok(ERASE)[:5] == b"\x71\x01\xff\x00\x00"
    # programming -> programming is a session change: security locked again
    assert dme.ok(b"\x10\x02")[:2] == b"\x50\x02"
    assert dme.session() == Session.PROGRAMMING
    assert dme(REQUEST_DOWNLOAD) == b"\x7f\x34\x33"  # securityAccessDenied, no implicit unlock
    assert dme(ERASE) == b"\x7f\x31\x33"
    dme.unlock(0x11)  # a fresh (non-zero) seed and the key again
    assert dme(REQUEST_DOWNLOAD) == b"\x7f\x34\x22"  # a new session wants its fingerprint
    dme.ok(WRITE_FINGERPRINT)
    assert dme.ok(REQUEST_DOWNLOAD)[:1] == b"\x74"


def test_erase_and_download_need_a_fingerprint_of_this_session(sim: SimVehicle) -> None:
    dme = RawUds(sim.ecu("DME"))
    dme.enter(Session.PROGRAMMING)
    dme.unlock(0x11)
    assert dme(ERASE) == b"\x7f\x31\x22"  # conditionsNotCorrect
    assert dme(REQUEST_DOWNLOAD) == b"\x7f\x34\x22"
    assert dme(WRITE_PROGRAMMING_DATE) == b"\x6e\xf1\x99"  # the date alone is no fingerprint
    assert dme(ERASE) == b"\x7f\x31\x22"
    dme.ok(WRITE_TESTER_SERIAL)  # the tester's serial (0xF198) is one, as is 0xF15A
    dme.ok(ERASE)
    dme.ok(REQUEST_DOWNLOAD)
    assert dme.ok(b"\x22\xf1\x98\xf1\x99")[3:] == b"ST-TEST\xf1\x99" + bytes.fromhex("20261204")
    # non-volatile, but the next session (here after S3) wants a fingerprint again
    time.sleep(0.35)
    dme.enter(Session.PROGRAMMING)
    dme.unlock(0x11)
    assert dme(ERASE) == b"\x7f\x31\x22"
    assert dme.ok(b"\x22\xf1\x98")[3:] == b"ST-TEST"
    # malformed identities are refused, and only in the unlocked programming session
    assert dme(b"\x2e\xf1\x99" + bytes.fromhex("20261304")) == b"\x7f\x2e\x31"  # month 13
    assert dme(b"\x2e\xf1\x98" + b"A" * 17) == b"\x7f\x2e\x31"
    dme.ok(b"\x10\x02")
    assert dme(WRITE_TESTER_SERIAL) == b"\x7f\x2e\x33"
    # a car whose ECU does not check (the report's audit must catch what it lets through)
    lax = SimVehicle(tune_ecu(fast_config(), "DME", require_fingerprint=False))
    try:
        raw = RawUds(lax.ecu("DME"))
        raw.enter(Session.PROGRAMMING)
        raw.unlock(0x11)
        raw.ok(ERASE)
        raw.ok(REQUEST_DOWNLOAD)
    finally:
        lax.close()


def test_session_change_drops_a_running_download(dme: RawUds) -> None:
    dme.enter(Session.PROGRAMMING)
    dme.unlock(0x11)
    dme.ok(WRITE_FINGERPRINT)
    dme.ok(ERASE)
    dme.ok(REQUEST_DOWNLOAD)
    dme.ok(b"\x36\x01" + bytes(16))
    dme.ok(b"\x10\x02")
    assert dme(b"\x36\x02" + bytes(16)) == b"\x7f\x36\x24"  # no download any more
    assert dme(b"\x37") == b"\x7f\x37\x24"


def test_zero_seed_only_while_unlocked(dme: RawUds) -> None:
    dme.enter(Session.PROGRAMMING)
    first = dme.seed(0x11)
    assert first != b"\x00\x00\x00\x00"
    dme.ok(b"\x27\x12" + key_for_ecu("DME", first, 0x11))
    assert dme.seed(0x11) == b"\x00\x00\x00\x00"  # ISO: already unlocked
    dme.ok(b"\x10\x02")
    assert dme.seed(0x11) != b"\x00\x00\x00\x00"  # locked again


def test_seed_of_a_locked_level_is_never_zero(sim: SimVehicle, dme: RawUds) -> None:
    class ZeroFirst:
        """A random source whose next draw is the zero seed."""

        def __init__(self) -> None:
            self.draws = [b"\x00\x00\x00\x00", b"\x00\x00\x00\x00", b"\x12\x34\x56\x78"]

        def randbytes(self, n: int) -> bytes:
            return self.draws.pop(0)

    dme.enter(Session.PROGRAMMING)
    ecu = sim.ecu("DME")
    own, ecu._rng = ecu._rng, ZeroFirst()  # type: ignore[assignment]
    assert dme.seed(0x11) == b"\x12\x34\x56\x78"
    ecu._rng = own
    for _ in range(50):  # and with the ECU's own random source
        dme.ok(b"\x10\x02")
        assert dme.seed(0x11) != b"\x00\x00\x00\x00"


def test_transition_table_is_complete_and_iso() -> None:
    sessions = list(Session)
    assert set(SESSION_TRANSITIONS) == set(itertools.product(sessions, sessions))
    refused = {k: v for k, v in SESSION_TRANSITIONS.items() if v is not None}
    assert refused == {(Session.DEFAULT, Session.PROGRAMMING): 0x22}
    assert session_transition(Session.PROGRAMMING, Session.PROGRAMMING) is None


@pytest.mark.parametrize(
    ("active", "requested"), list(itertools.product(list(Session), list(Session)))
)
def test_every_session_change_locks(dme: RawUds, active: Session, requested: Session) -> None:
    dme.enter(active)
    if active != Session.DEFAULT:
        dme.unlock(LEVEL_OF[active])
    response = dme(bytes((0x10, requested)))
    if (active, requested) == (Session.DEFAULT, Session.PROGRAMMING):
        assert response == b"\x7f\x10\x22"
        assert dme.session() == Session.DEFAULT
        return
    assert response is not None and response[:2] == bytes((0x50, requested))
    assert dme.session() == requested
    assert dme.ecu.unlocked_level is None
    if requested != Session.DEFAULT:
        assert dme.seed(LEVEL_OF[requested]) != b"\x00\x00\x00\x00"  # locked
    if requested != Session.PROGRAMMING:
        assert dme(ERASE) == b"\x7f\x31\x7f"
    else:
        assert dme(ERASE) == b"\x7f\x31\x33"


def test_programming_to_extended_locks(dme: RawUds) -> None:
    dme.enter(Session.PROGRAMMING)
    dme.unlock(0x11)
    dme.ok(b"\x10\x03")
    assert dme(bytes((0x27, 0x11))) == b"\x7f\x27\x7e"  # programming level not here
    assert dme.seed(0x01) != b"\x00\x00\x00\x00"  # extended level locked
    dme.ok(b"\x10\x02")
    assert dme(REQUEST_DOWNLOAD) == b"\x7f\x34\x33"


def test_ecu_reset_returns_to_default_locked(sim: SimVehicle, dme: RawUds) -> None:
    dme.enter(Session.PROGRAMMING)
    dme.unlock(0x11)
    assert dme(b"\x11\x01") == b"\x51\x01"
    time.sleep(sim.config.reset_time + 0.02)
    assert dme.session() == Session.DEFAULT
    assert dme(REQUEST_DOWNLOAD) == b"\x7f\x34\x7f"
    dme.enter(Session.PROGRAMMING)
    assert dme(REQUEST_DOWNLOAD) == b"\x7f\x34\x33"
    assert dme.seed(0x11) != b"\x00\x00\x00\x00"


def test_s3_expiry_returns_to_default_locked(sim: SimVehicle, dme: RawUds) -> None:
    assert sim.config.s3_timeout == 0.3
    dme.enter(Session.PROGRAMMING)
    dme.unlock(0x11)
    time.sleep(0.2)
    assert dme(b"\x3e\x80") is None  # TesterPresent keeps it (no positive response)
    time.sleep(0.2)
    assert dme.session() == Session.PROGRAMMING
    time.sleep(0.4)  # S3 without any request
    assert dme(REQUEST_DOWNLOAD) == b"\x7f\x34\x7f"
    assert dme.session() == Session.DEFAULT
    dme.enter(Session.PROGRAMMING)
    assert dme(REQUEST_DOWNLOAD) == b"\x7f\x34\x33"


# --------------------------------------------------------------------------- station link


def _requests(sim: SimVehicle, ecu: str) -> int:
    return sim.ecu(ecu).stats.requests


def test_link_enters_and_unlocks_once_per_ecu(vehicle: tuple[SimVehicle, str]) -> None:
    sim, url = vehicle
    with open_station_link(url, timeouts=FAST) as link:
        assert not link.holds_programming("DME")
        ensure_programming(link, "DME")  # 22 F186, 10 03, 10 02, 27 11, 27 12
        assert link.holds_programming("DME")
        assert _requests(sim, "DME") == 5
        link.write_fingerprint("DME", FINGERPRINT)  # 2E F15A, 2E F198, 2E F199
        ensure_programming(link, "DME")
        link.erase("DME", DME, 4096)
        ensure_programming(link, "DME")
        assert _requests(sim, "DME") == 9  # only the fingerprint and the erase
        # a reset the link sent: the ECU is in default, locked -> enter and unlock again
        link.reset("DME")
        assert not link.holds_programming("DME")
        before = _requests(sim, "DME")
        ensure_programming(link, "DME")  # the link knows it is in default: no session read
        # 10 03, 10 02, 27 11, 27 12, and the fingerprint the new session needs (3 writes)
        assert _requests(sim, "DME") - before == 7
        link.erase("DME", DME, 4096)
    # a new link (reconnect, resume after a crash) starts from scratch although the ECU is
    # still in the programming session
    assert sim.ecu("DME").current_session() == Session.PROGRAMMING
    with open_station_link(url, timeouts=FAST) as link:
        before = _requests(sim, "DME")
        ensure_programming(link, "DME")  # 22 F186 (programming), 10 02, 27 11, 27 12
        assert _requests(sim, "DME") - before == 4
        with pytest.raises(ConditionsNotCorrect):  # this link wrote no fingerprint yet
            link.erase("DME", DME, 4096)
        link.write_fingerprint("DME", FINGERPRINT)
        link.erase("DME", DME, 4096)


@pytest.mark.parametrize("how", ["session change", "ecu reset"])
def test_link_recovers_once_when_the_ecu_lost_session_or_security(
    vehicle: tuple[SimVehicle, str], how: str
) -> None:
    sim, url = vehicle
    ecu = sim.ecu("DME")
    with open_station_link(url, timeouts=FAST) as link:
        ready_to_program(link, "DME")
        assert link.holds_programming("DME")
        if how == "session change":  # another tester re-enters the session: 0x33
            ecu.handle(b"\x10\x02", lambda _: None)
        else:  # watchdog reset: default session, 0x7F
            sim.faults.reset_ecu("DME")
            link.wait_ready("DME")
        link.erase("DME", DME, 4096)  # NRC -> enter, unlock, fingerprint, erase once more
        assert link.holds_programming("DME")
        assert ecu.current_session() == Session.PROGRAMMING
        assert ecu.unlocked_level == SecurityLevel.PROGRAMMING
        assert ecu.stats.erases == 1


def test_link_does_not_unlock_what_it_never_held(vehicle: tuple[SimVehicle, str]) -> None:
    sim, url = vehicle
    with open_station_link(url, timeouts=FAST) as link:
        link.change_session("DME", Session.EXTENDED)
        link.change_session("DME", Session.PROGRAMMING)
        with pytest.raises(Exception) as info:
            link.erase("DME", DME, 4096)
        assert getattr(info.value, "nrc", None) == 0x33
        assert sim.ecu("DME").stats.erases == 0


def test_link_reenters_after_s3_risk_without_keepalive(
    make_vehicle: Callable[..., tuple[SimVehicle, str]],
) -> None:
    sim, url = make_vehicle(fast_config(s3_timeout=0.3))
    timeouts = LinkTimeouts(p2=0.3, p2_star=2.0, keepalive=0.0, s3=0.3, reset_ready=3.0)
    with open_station_link(url, timeouts=timeouts) as link:
        ready_to_program(link, "DME")
        time.sleep(0.4)  # idle longer than S3, no TesterPresent
        assert not link.holds_programming("DME")
        assert sim.ecu("DME").current_session() == Session.DEFAULT
        before = _requests(sim, "DME")
        ensure_programming(link, "DME")  # asks the session first: 22, 10 03, 10 02, 27, 27
        assert _requests(sim, "DME") - before == 5 + 3  # and writes the fingerprint again
        link.erase("DME", DME, 4096)


def test_keepalive_holds_programming_between_segments(
    make_vehicle: Callable[..., tuple[SimVehicle, str]], tmp_path: Path
) -> None:
    sim, url = make_vehicle(fast_config(s3_timeout=0.3))
    timeouts = LinkTimeouts(p2=0.3, p2_star=2.0, keepalive=0.1, s3=0.3, reset_ready=3.0)
    trace = tmp_path / "keepalive.asc"
    with open_station_link(url, trace, timeouts=timeouts) as link:
        ready_to_program(link, "DME")
        time.sleep(0.9)  # three S3 periods between two segments
        assert link.holds_programming("DME")
        ensure_programming(link, "DME")
        link.erase("DME", DME, 4096)
    assert sim.ecu("DME").stats.erases == 1
    # single frames the tester sent to the DME (0x612), CAN FD single frame: length byte
    sent = [
        bytes(m.data[1 : 1 + m.data[0]])
        for m in read_trace(trace)
        if not m.is_rx and m.arbitration_id == 0x612 and 0 < m.data[0] < 8
    ]
    assert sent.count(b"\x10\x02") == 1 and sent.count(b"\x27\x11") == 1  # entered once
    assert sent.count(b"\x3e\x80") >= 4  # kept alive meanwhile
