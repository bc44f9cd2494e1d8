"""One simulated ECU: a UDS server on raw request bytes (transport independent).

State that a real ECU keeps in non-volatile memory (flash segments, software list,
fingerprint, security attempt counter and lock-out, CBS items) lives here and is saved
with the vehicle; the session, security unlock and download state are volatile (lost on
reset, S3 timeout and vehicle restart).

Behaviour worth knowing when you test against it:

* Sessions follow ISO 14229-1 (9.2, DiagnosticSessionControl), see
  :data:`SESSION_TRANSITIONS` and :func:`session_transition`:

  ===========  ===========  ==========================================================
  from         to           outcome
  ===========  ===========  ==========================================================
  default      default      accepted (nothing to lock)
  default      extended     accepted, locked
  default      programming  refused, NRC 0x22 conditionsNotCorrect (extended first)
  extended     any          accepted; security locked again, download dropped
  programming  any          accepted; security locked again, download dropped (also
                            programming -> programming: re-entering the active
                            session is a session change)
  ===========  ===========  ==========================================================

  Events: ECUReset (0x11) and S3 expiry (no request for ``s3_timeout`` seconds in a
  non-default session) return the ECU to the default session, locked, no download.
  Programming additionally needs a flashable ECU (else 0x12) and battery voltage (0x93).
* Security access: the seed of a locked level is never ``00 00 00 00``; a seed request
  for the level that is already unlocked answers the zero seed (ISO "already unlocked").
* Flash services outside the programming session answer 0x7F, without unlock 0x33,
  with battery below ``min_programming_mv`` 0x93.
* Erase (0xFF00) removes every segment overlapping the range and creates an erased,
  *invalid* segment; RequestDownload must target such a segment. TransferData writes
  sequentially; a block with the same counter as the last accepted one is acknowledged
  without writing (ISO 14229 repeated block); bytes already programmed are never
  programmed again: identical data is acknowledged and skipped, different data is 0x72.
* Check memory (0x0202) on exactly one segment: the segment becomes valid only when the
  CRC32 matches. The software list (0xF101) is rebuilt at ECU reset from the image headers
  of valid segments.
* A new RequestDownload aborts an unfinished one (so a tester can resume at an offset).
* Fingerprint: with ``require_fingerprint`` (default) erase and RequestDownload answer 0x22
  conditionsNotCorrect until a fingerprint (0xF15A, or the tester serial 0xF198) has been
  written in the active programming session; a session change, reset or S3 expiry forgets
  it. ECUs with ``tester_identity`` hold 0xF198 (tester serial) and 0xF199 (programming
  date), written in the unlocked programming session.
* Timing model (``EcuConfig.timing`` x ``VehicleConfig.timing_scale``, see
  :mod:`hw.sim.config`): erase, each written TransferData block, check memory and the restart
  after reset take that long; work longer than P2server is answered with ResponsePending
  (0x78) every ``pending_interval``. DID 0xF1A0 reports the figures the ECU applies (none
  while the model is off).
"""

from __future__ import annotations

import base64
import os
import random
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from domain.flash_package import SoftwareUnit, crc32, encode_image_header, parse_image_header
from domain.programming_timing import KIB, ProgrammingTiming
from hw import protocol as P
from hw.security import compute_key

if TYPE_CHECKING:
    from hw.sim.config import EcuConfig
    from hw.sim.vehicle import SimVehicle

Send = Callable[[bytes], None]


class Nrc(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"NRC 0x{code:02X}")
        self.code = code


@dataclass
class Segment:
    address: int
    length: int
    data: bytearray
    programmed: bytearray  # 1 per byte programmed since erase
    valid: bool = False
    blocks_programmed: int = 0

    @property
    def end(self) -> int:
        return self.address + self.length

    def contains(self, address: int, length: int) -> bool:
        return self.address <= address and address + length <= self.end

    def to_state(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "length": self.length,
            "valid": self.valid,
            "data": base64.b64encode(zlib.compress(bytes(self.data), 1)).decode("ascii"),
            "programmed": base64.b64encode(zlib.compress(bytes(self.programmed), 1)).decode(
                "ascii"
            ),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Segment:
        return cls(
            address=int(state["address"]),
            length=int(state["length"]),
            valid=bool(state["valid"]),
            data=bytearray(zlib.decompress(base64.b64decode(state["data"]))),
            programmed=bytearray(zlib.decompress(base64.b64decode(state["programmed"]))),
        )


@dataclass
class Download:
    segment: Segment
    next_address: int
    end: int
    last_counter: int = 0
    blocks: int = 0


@dataclass
class EcuStats:
    requests: int = 0
    blocks_programmed: int = 0
    blocks_repeated: int = 0  # same counter as the previous block: acknowledged, not written
    blocks_skipped_identical: int = 0  # already programmed with identical data
    erases: int = 0
    resets: int = 0
    busy_rejections: int = 0


_SPR_SERVICES = frozenset({0x10, 0x11, 0x27, 0x31, 0x3E})


def _neg(sid: int, code: int) -> bytes:
    return bytes((0x7F, sid, code))


# DiagnosticSessionControl (ISO 14229-1 9.2): (active, requested) -> None = accepted, or the
# NRC of the refusal. Every accepted change locks security access again and drops a running
# download, also a change to the active non-default session (see the module doc).
SESSION_TRANSITIONS: dict[tuple[P.Session, P.Session], int | None] = {
    (P.Session.DEFAULT, P.Session.DEFAULT): None,
    (P.Session.DEFAULT, P.Session.EXTENDED): None,
    (P.Session.DEFAULT, P.Session.PROGRAMMING): 0x22,  # programming only via extended
    (P.Session.EXTENDED, P.Session.DEFAULT): None,
    (P.Session.EXTENDED, P.Session.EXTENDED): None,
    (P.Session.EXTENDED, P.Session.PROGRAMMING): None,
    (P.Session.PROGRAMMING, P.Session.DEFAULT): None,
    (P.Session.PROGRAMMING, P.Session.EXTENDED): None,
    (P.Session.PROGRAMMING, P.Session.PROGRAMMING): None,
}


def session_transition(active: P.Session, requested: P.Session) -> int | None:
    """None when ``active`` -> ``requested`` is accepted (security is then locked again and a
    download dropped), else the NRC of the refusal (:data:`SESSION_TRANSITIONS`)."""
    return SESSION_TRANSITIONS[(active, requested)]


class SimEcu:
    def __init__(self, vehicle: SimVehicle, config: EcuConfig) -> None:
        self.vehicle = vehicle
        self.config = config
        self.name = config.name
        self.info = config.info
        self._lock = threading.Lock()
        self._rng = (
            random.Random(vehicle.config.rng_seed ^ config.info.doip_address)
            if vehicle.config.rng_seed is not None
            else None
        )
        # non-volatile
        self.segments: list[Segment] = []
        self.software: list[SoftwareUnit] = []
        self.fingerprint: bytes = bytes(P.FINGERPRINT_SIZE)
        self.key_attempts = 0
        self.lockout_until = 0.0  # wall clock
        self.service_items: bytes = P.encode_service_items([])
        self.tester_serial = b""  # 0xF198, empty until written
        self.programming_date = bytes(4)  # 0xF199, BCD, zero until written
        # volatile
        self.fingerprint_in_session = False  # written since the programming session began
        self.session = P.Session.DEFAULT
        self.unlocked_level: int | None = None
        self._pending_seed: tuple[int, bytes] | None = None
        self.download: Download | None = None
        self.last_request_at = time.monotonic()
        self._offline_until = 0.0
        self.stats = EcuStats()
        self._factory_memory()

    # ------------------------------------------------------------------ state

    def _factory_memory(self) -> None:
        for address, unit, length in self.config.initial_software:
            rnd = random.Random(f"{self.name}-{address}-{unit}")
            body = rnd.randbytes(max(0, length - 16))
            data = bytearray(encode_image_header(unit) + body)
            self.segments.append(
                Segment(address, len(data), data, bytearray(b"\x01" * len(data)), valid=True)
            )
        self._rebuild_software_list()

    def _rebuild_software_list(self) -> None:
        units: list[SoftwareUnit] = []
        for seg in sorted(self.segments, key=lambda s: s.address):
            if not seg.valid:
                continue
            unit = parse_image_header(seg.data)
            if unit is not None and unit not in units:
                units.append(unit)
        self.software = units

    def to_state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "segments": [s.to_state() for s in self.segments],
                "software": [str(u) for u in self.software],
                "fingerprint": self.fingerprint.hex(),
                "key_attempts": self.key_attempts,
                "lockout_until": self.lockout_until,
                "service_items": self.service_items.hex(),
                "tester_serial": self.tester_serial.hex(),
                "programming_date": self.programming_date.hex(),
            }

    def load_state(self, state: dict[str, Any]) -> None:
        with self._lock:
            self.segments = [Segment.from_state(s) for s in state["segments"]]
            self.software = [SoftwareUnit.parse(s) for s in state["software"]]
            self.fingerprint = bytes.fromhex(state["fingerprint"])
            self.key_attempts = int(state["key_attempts"])
            self.lockout_until = float(state["lockout_until"])
            self.service_items = bytes.fromhex(state["service_items"])
            # absent in states saved before the tester identity DIDs
            self.tester_serial = bytes.fromhex(state.get("tester_serial", ""))
            self.programming_date = bytes.fromhex(state.get("programming_date", "00" * 4))

    def segment_at(self, address: int) -> Segment | None:
        for seg in self.segments:
            if seg.address == address:
                return seg
        return None

    def memory_crc(self, address: int, length: int) -> int:
        """CRC32 of memory as the ECU holds it (tests compare with the image)."""
        seg = next((s for s in self.segments if s.contains(address, length)), None)
        if seg is None:
            raise KeyError(f"{self.name}: no segment holds 0x{address:08X}+{length}")
        start = address - seg.address
        return crc32(seg.data[start : start + length])

    # ------------------------------------------------------------------ lifecycle

    def _enter_session(self, session: P.Session) -> None:
        """Every session change (and reset, S3 expiry): security locked, download dropped."""
        self.session = session
        self.unlocked_level = None
        self._pending_seed = None
        self.download = None
        self.fingerprint_in_session = False

    @property
    def timing(self) -> ProgrammingTiming | None:
        """The timing figures this ECU applies (scaled); None without a timing model."""
        if self.config.timing is None:
            return None
        return self.config.timing.scaled(self.vehicle.config.timing_scale)

    def _work(self, sid: int, seconds: float, send: Send, *, pending_first: bool = False) -> None:
        """Busy for ``seconds``: ResponsePending first and every ``pending_interval`` while the
        work outlasts P2server (or always, ``pending_first``), as a real ECU keeps the tester
        waiting within P2*server."""
        cfg = self.vehicle.config
        if not pending_first and seconds * 1000 <= cfg.p2_server_ms:
            if seconds > 0:
                time.sleep(seconds)
            return
        send(_neg(sid, 0x78))
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, cfg.pending_interval))
            if deadline - time.monotonic() > 0:
                send(_neg(sid, 0x78))

    def _drop_to_default(self) -> None:
        self._enter_session(P.Session.DEFAULT)

    def power_cycle(self, offline: float | None = None) -> None:
        """Reset: volatile state lost, software list rebuilt, silent for ``reset_time``."""
        with self._lock:
            self._reset_locked(offline)

    def _reset_locked(self, offline: float | None = None) -> None:
        self._drop_to_default()
        self._rebuild_software_list()
        self.stats.resets += 1
        delay = self.vehicle.config.reset_time if offline is None else offline
        timing = self.timing
        if timing is not None and offline is None:
            delay += timing.reset_ms / 1000
        self._offline_until = time.monotonic() + delay
        self.vehicle.mark_dirty()

    def _check_s3(self, now: float) -> None:
        if (
            self.session != P.Session.DEFAULT
            and now - self.last_request_at > self.vehicle.config.s3_timeout
        ):
            self._drop_to_default()

    def current_session(self) -> P.Session:
        """Session as the ECU would report it now (S3 evaluated)."""
        with self._lock:
            self._check_s3(time.monotonic())
            return self.session

    # ------------------------------------------------------------------ entry point

    def handle(self, request: bytes, send: Send) -> None:
        """Process one UDS request; responses (possibly several) go to ``send``."""
        if not request:
            return
        now = time.monotonic()
        if now < self._offline_until:
            return  # rebooting: silent
        sid = request[0]
        if not self._lock.acquire(timeout=0.2):  # another tester keeps it busy
            self.stats.busy_rejections += 1
            send(_neg(sid, 0x21))
            return
        try:
            self.stats.requests += 1
            self._check_s3(now)
            self.last_request_at = now
            pending = self.vehicle.faults.take_pending(self.name)
            if pending is not None:
                times, interval = pending
                for _ in range(times):
                    send(_neg(sid, 0x78))
                    time.sleep(interval)
            try:
                response = self._dispatch(request, send)
            except Nrc as nrc:
                response = _neg(sid, nrc.code)
            suppress = (
                sid in _SPR_SERVICES
                and len(request) > 1
                and request[1] & 0x80
                and response is not None
                and response[0] != 0x7F
            )
            if response is not None and not suppress:
                send(response)
            self.last_request_at = time.monotonic()
        finally:
            self._lock.release()

    def _dispatch(self, req: bytes, send: Send) -> bytes | None:
        handler = self._services.get(req[0])
        if handler is None:
            raise Nrc(0x11)
        return handler(self, req, send)

    # ------------------------------------------------------------------ helpers

    def _require_session(self, *sessions: P.Session) -> None:
        if self.session not in sessions:
            raise Nrc(0x7F)

    def _require_programming(self) -> None:
        if not self.config.flashable:
            raise Nrc(0x11)
        self._require_session(P.Session.PROGRAMMING)
        if self.unlocked_level != P.SecurityLevel.PROGRAMMING:
            raise Nrc(0x33)

    def _require_voltage(self) -> None:
        mv = self.vehicle.battery_mv
        if mv < self.vehicle.config.min_programming_mv:
            raise Nrc(0x93)
        if mv > 16_000:
            raise Nrc(0x92)

    def _new_seed(self) -> bytes:
        while True:
            seed = self._rng.randbytes(4) if self._rng is not None else os.urandom(4)
            if seed != b"\x00\x00\x00\x00":
                return seed

    # ------------------------------------------------------------------ services

    def _session_control(self, req: bytes, send: Send) -> bytes:
        if len(req) != 2:
            raise Nrc(0x13)
        sub = req[1] & 0x7F
        if sub not in (1, 2, 3):
            raise Nrc(0x12)
        target = P.Session(sub)
        if target == P.Session.PROGRAMMING and not self.config.flashable:
            raise Nrc(0x12)
        refusal = session_transition(self.session, target)
        if refusal is not None:
            raise Nrc(refusal)
        if target == P.Session.PROGRAMMING:
            self._require_voltage()
        self._enter_session(target)
        cfg = self.vehicle.config
        return bytes((0x50, sub)) + struct.pack(
            ">HH", cfg.p2_server_ms, cfg.p2_star_server_ms // 10
        )

    def _ecu_reset(self, req: bytes, send: Send) -> None:
        if len(req) != 2:
            raise Nrc(0x13)
        sub = req[1] & 0x7F
        if sub not in (P.ResetType.HARD, P.ResetType.SOFT):
            raise Nrc(0x12)
        if not req[1] & 0x80:
            send(bytes((0x51, sub)))
        self._reset_locked()
        return None

    def _tester_present(self, req: bytes, send: Send) -> bytes:
        if len(req) != 2:
            raise Nrc(0x13)
        if req[1] & 0x7F != 0:
            raise Nrc(0x12)
        return b"\x7e\x00"

    def _security_access(self, req: bytes, send: Send) -> bytes:
        if len(req) < 2:
            raise Nrc(0x13)
        sub = req[1] & 0x7F
        level = sub if sub % 2 else sub - 1
        if level not in (P.SecurityLevel.EXTENDED, P.SecurityLevel.PROGRAMMING):
            raise Nrc(0x12)
        if self.session == P.Session.DEFAULT:
            raise Nrc(0x7F)
        wanted = P.Session.PROGRAMMING if level == P.SecurityLevel.PROGRAMMING else None
        if wanted is not None and self.session != wanted:
            raise Nrc(0x7E)
        if sub % 2:  # request seed
            if len(req) != 2:
                raise Nrc(0x13)
            if time.time() < self.lockout_until:
                raise Nrc(0x37)
            if self.unlocked_level == level:
                return bytes((0x67, sub)) + b"\x00\x00\x00\x00"
            seed = self._new_seed()
            self._pending_seed = (level, seed)
            return bytes((0x67, sub)) + seed
        # send key
        if len(req) != 6:
            raise Nrc(0x13)
        pending, self._pending_seed = self._pending_seed, None
        if pending is None or pending[0] != level:
            raise Nrc(0x24)
        expected = compute_key(pending[1], self.config.secret, level)
        if req[2:] == expected:
            self.unlocked_level = level
            if self.key_attempts:
                self.key_attempts = 0
                self.vehicle.mark_dirty()
            return bytes((0x67, sub))
        self.key_attempts += 1
        self.vehicle.mark_dirty()
        if self.key_attempts >= self.vehicle.config.max_key_attempts:
            self.key_attempts = 0
            self.lockout_until = time.time() + self.vehicle.config.lockout_time
            raise Nrc(0x36)
        raise Nrc(0x35)

    def _read_did(self, did: int) -> bytes:
        if did == P.DID_VIN:
            return P.encode_vin(self.vehicle.vin)
        if did == P.DID_ACTIVE_SESSION:
            return bytes((int(self.session),))
        if did == P.DID_SERIAL_NUMBER:
            return P.encode_ascii(self.config.serial_number)
        if did == P.DID_HARDWARE_NUMBER:
            return P.encode_ascii(self.config.hardware_id)
        if did == P.DID_BATTERY_VOLTAGE:
            return P.encode_voltage_mv(self.vehicle.battery_mv)
        if did == P.DID_SOFTWARE_LIST and self.config.flashable:
            return P.encode_software_list(self.software)
        if did == P.DID_FINGERPRINT and self.config.flashable:
            return self.fingerprint
        if did == P.DID_SERVICE_ITEMS and self.config.service_items:
            return self.service_items
        if did == P.DID_TESTER_SERIAL and self._holds_tester_identity():
            return self.tester_serial
        if did == P.DID_PROGRAMMING_DATE and self._holds_tester_identity():
            return self.programming_date
        timing = self.timing
        # The model off (scale 0): no figures to report, as an ECU without them (NRC 0x31).
        if (
            did == P.DID_PROGRAMMING_TIMING
            and timing is not None
            and self.vehicle.config.timing_scale
        ):
            return P.encode_programming_timing(timing)
        raise Nrc(0x31)

    def _holds_tester_identity(self) -> bool:
        return self.config.flashable and self.config.tester_identity

    def _require_fingerprint(self) -> None:
        if self.config.require_fingerprint and not self.fingerprint_in_session:
            raise Nrc(0x22)

    def _write_programming_did(self, did: int, data: bytes) -> None:
        """Fingerprint, tester serial and programming date: unlocked programming session."""
        if self.session != P.Session.PROGRAMMING:
            raise Nrc(0x31)
        if self.unlocked_level != P.SecurityLevel.PROGRAMMING:
            raise Nrc(0x33)
        try:
            if did == P.DID_FINGERPRINT:
                if len(data) != P.FINGERPRINT_SIZE:
                    raise Nrc(0x13)
                P.Fingerprint.decode(data)
                self.fingerprint = bytes(data)
            elif did == P.DID_TESTER_SERIAL:
                P.decode_tester_serial(data)
                self.tester_serial = bytes(data)
            else:
                if len(data) != 4:
                    raise Nrc(0x13)
                P.decode_programming_date(data)
                self.programming_date = bytes(data)
        except P.ProtocolDecodeError as exc:
            raise Nrc(0x31) from exc
        if did in (P.DID_FINGERPRINT, P.DID_TESTER_SERIAL):
            self.fingerprint_in_session = True

    def _read_data(self, req: bytes, send: Send) -> bytes:
        if len(req) < 3 or (len(req) - 1) % 2:
            raise Nrc(0x13)
        out = bytearray(b"\x62")
        for i in range(1, len(req), 2):
            did = (req[i] << 8) | req[i + 1]
            out += req[i : i + 2] + self._read_did(did)
        return bytes(out)

    def _write_data(self, req: bytes, send: Send) -> bytes:
        if len(req) < 4:
            raise Nrc(0x13)
        did = (req[1] << 8) | req[2]
        data = req[3:]
        if (did == P.DID_FINGERPRINT and self.config.flashable) or (
            did in (P.DID_TESTER_SERIAL, P.DID_PROGRAMMING_DATE) and self._holds_tester_identity()
        ):
            self._write_programming_did(did, data)
        elif did == P.DID_SERVICE_ITEMS and self.config.service_items:
            if self.session not in (P.Session.EXTENDED, P.Session.PROGRAMMING):
                raise Nrc(0x31)
            count = data[0]
            if count > P.MAX_SERVICE_ITEMS or len(data) != 1 + count * 10:
                raise Nrc(0x13)
            try:
                P.decode_service_items(data)
            except P.ProtocolDecodeError as exc:
                raise Nrc(0x31) from exc
            self.service_items = bytes(data)
        else:
            raise Nrc(0x31)
        self.vehicle.mark_dirty()
        return bytes((0x6E,)) + req[1:3]

    @staticmethod
    def _memory_args(option: bytes, extra: int) -> tuple[int, ...]:
        if len(option) != 9 + 4 * extra:
            raise Nrc(0x13)
        if option[0] != P.ALFID_32_32:
            raise Nrc(0x31)
        return struct.unpack(f">II{extra}I", option[1:])

    def _in_window(self, address: int, length: int) -> bool:
        cfg = self.config
        return (
            length > 0
            and cfg.flash_start <= address
            and address + length <= cfg.flash_start + cfg.flash_size
        )

    def _routine_control(self, req: bytes, send: Send) -> bytes:
        if len(req) < 4:
            raise Nrc(0x13)
        sub = req[1] & 0x7F
        if sub != 0x01:
            raise Nrc(0x12)
        rid = (req[2] << 8) | req[3]
        option = req[4:]
        if not self.config.flashable or rid not in (
            P.ROUTINE_ERASE_MEMORY,
            P.ROUTINE_CHECK_MEMORY,
            P.ROUTINE_CHECK_DEPENDENCIES,
        ):
            raise Nrc(0x31)
        self._require_programming()
        head = bytes((0x71, sub)) + req[2:4]
        if rid == P.ROUTINE_ERASE_MEMORY:
            address, length = self._memory_args(option, 0)
            if not self._in_window(address, length):
                raise Nrc(0x31)
            self._require_voltage()
            self._require_fingerprint()
            self._erase(address, length, send)
            return head + b"\x00"
        if rid == P.ROUTINE_CHECK_MEMORY:
            address, length, expected = self._memory_args(option, 1)
            seg = self.segment_at(address)
            if seg is None or seg.length != length:
                raise Nrc(0x31)
            if self.download is not None and self.download.segment is seg:
                raise Nrc(0x24)
            timing = self.timing
            if timing is not None:
                self._work(0x31, timing.check_ms / 1000, send)
            actual = crc32(seg.data)
            seg.valid = actual == expected
            self.vehicle.mark_dirty()
            return head + bytes((0 if seg.valid else 1,)) + struct.pack(">I", actual)
        # dependency check
        ok = bool(self.segments) and all(
            s.valid and parse_image_header(s.data) is not None for s in self.segments
        )
        return head + bytes((0 if ok else 1,))

    def _erase(self, address: int, length: int, send: Send) -> None:
        duration = self.config.erase_time + self.config.erase_time_per_mib * length / 2**20
        timing = self.timing
        if timing is not None:
            duration += timing.erase_ms_per_kib * length / KIB / 1000
        self._work(0x31, duration, send, pending_first=True)  # an erase always takes a while
        end = address + length
        self.segments = [s for s in self.segments if s.end <= address or s.address >= end]
        self.segments.append(
            Segment(address, length, bytearray(b"\xff" * length), bytearray(length), valid=False)
        )
        self.download = None
        self.stats.erases += 1
        self.vehicle.mark_dirty()

    def _request_download(self, req: bytes, send: Send) -> bytes:
        self._require_programming()
        if len(req) != 11:
            raise Nrc(0x13)
        if req[1] != 0x00 or req[2] != P.ALFID_32_32:
            raise Nrc(0x31)
        address, length = struct.unpack(">II", req[3:11])
        if not self._in_window(address, length):
            raise Nrc(0x31)
        self._require_voltage()
        self._require_fingerprint()
        seg = next((s for s in self.segments if not s.valid and s.contains(address, length)), None)
        if seg is None:
            raise Nrc(0x70)
        self.download = Download(segment=seg, next_address=address, end=address + length)
        return b"\x74\x20" + struct.pack(">H", self.config.max_block_length)

    def _transfer_data(self, req: bytes, send: Send) -> bytes | None:
        self._require_session(P.Session.PROGRAMMING)
        dl = self.download
        if dl is None:
            raise Nrc(0x24)
        if len(req) < 2:
            raise Nrc(0x13)
        counter = req[1]
        if dl.blocks and counter == dl.last_counter:
            self.stats.blocks_repeated += 1
            return bytes((0x76, counter))
        if counter != (dl.last_counter + 1) & 0xFF:
            raise Nrc(0x73)
        data = req[2:]
        if not data or len(data) > self.config.max_block_length - 2:
            raise Nrc(0x13)
        if dl.next_address + len(data) > dl.end:
            raise Nrc(0x71)
        self._require_voltage()
        seg = dl.segment
        start = dl.next_address - seg.address
        stop = start + len(data)
        done = seg.programmed[start:stop]
        timing = self.timing
        if timing is not None and done.count(0):  # cells to program
            self._work(0x36, timing.write_ms_per_kib * len(data) / KIB / 1000, send)
        if done.count(1) == 0:
            seg.data[start:stop] = data
            seg.programmed[start:stop] = b"\x01" * len(data)
            seg.blocks_programmed += 1
            self.stats.blocks_programmed += 1
        else:
            # flash cells already programmed: only identical content is acceptable
            current = seg.data[start:stop]
            for i, flag in enumerate(done):
                if flag and current[i] != data[i]:
                    raise Nrc(0x72)
            if done.count(0):
                for i, flag in enumerate(done):
                    if not flag:
                        seg.data[start + i] = data[i]
                        seg.programmed[start + i] = 1
                seg.blocks_programmed += 1
                self.stats.blocks_programmed += 1
            else:
                self.stats.blocks_skipped_identical += 1
        dl.next_address += len(data)
        dl.last_counter = counter
        dl.blocks += 1
        self.vehicle.mark_dirty()
        if self.vehicle.faults.block_accepted(self.name, dl.blocks):
            return None  # link dropped before the response left the ECU
        return bytes((0x76, counter))

    def _transfer_exit(self, req: bytes, send: Send) -> bytes:
        self._require_session(P.Session.PROGRAMMING)
        dl = self.download
        if dl is None or dl.next_address != dl.end:
            raise Nrc(0x24)
        self.download = None
        return b"\x77"

    _services: dict[int, Callable[[SimEcu, bytes, Send], bytes | None]] = {
        0x10: _session_control,
        0x11: _ecu_reset,
        0x22: _read_data,
        0x27: _security_access,
        0x2E: _write_data,
        0x31: _routine_control,
        0x34: _request_download,
        0x36: _transfer_data,
        0x37: _transfer_exit,
        0x3E: _tester_present,
    }
