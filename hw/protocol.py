"""What tester and simulated vehicle agree on: ECU addresses, DIDs, routines, encodings.

ECUs of the vehicle (:data:`VEHICLE_ECUS`)::

    name   role                 DoIP addr  CAN request  CAN response  flashable
    ZGW    central gateway      0x0010     0x610        0x690         no
    DME    engine control       0x0012     0x612        0x692         yes
    EGS    gearbox control      0x0018     0x618        0x698         yes
    BDC    body domain ctrl     0x0040     0x640        0x6C0         yes
    KOMBI  instrument cluster   0x0060     0x660        0x6E0         yes

CAN uses 11-bit normal addressing (ISO 15765-2), request id ``0x600 | addr``, response id
``0x680 | addr``. DoIP uses the logical addresses; the tester is 0x0E00 by default.

Data identifiers (all big endian):

=======  ============================  =================================================
DID      content                       encoding
=======  ============================  =================================================
0xF190   VIN                           17 ASCII bytes
0xF186   active diagnostic session     u8 (0x01 default, 0x02 programming, 0x03 extended)
0xF18C   ECU serial number             ASCII, variable length
0xF191   hardware number               ASCII, variable length (compared with the package's
                                       ``target_hardware_id``)
0xF101   software list                 u8 count, then per unit 8 bytes:
                                       process class code u8 (see
                                       ``domain.flash_package.PROCESS_CLASS_CODES``),
                                       SGBM id u32, version major u8, minor u8, patch u8
0xF15A   fingerprint                   16 bytes: year-2000 u8, month u8, day u8,
                                       workshop id u32, station id 9 ASCII bytes (NUL
                                       padded). Written in programming session (unlocked).
0xF198   repair shop code / tester     the tester's serial (the fingerprint's station id),
         serial number                 1..16 ASCII bytes. Written in programming session
                                       (unlocked) where the ECU holds it.
0xF199   programming date              4 bytes BCD ``YYYYMMDD`` (ISO 14229-1 Annex C leaves
                                       the format open; BCD as most OEMs use). Written
                                       with 0xF198.
0xF1A0   programming timing            vendor DID (0xF1A0..0xF1EF: vehicle manufacturer
                                       specific): 4 x u32 microseconds: erase per KiB,
                                       write per KiB, one check-memory routine, restart
                                       after reset (``domain.programming_timing``). ECUs
                                       without it answer NRC 0x31.
0xDAD0   supply voltage                u16, millivolts
0x4100   CBS service items (KOMBI)     u8 count (<= 16), then per item 10 bytes:
                                       item id u8, status u8 (ServiceStatus), due date
                                       year u16 / month u8 / day u8 (all zero = none),
                                       remaining km i32 (0x7FFFFFFF = none).
                                       Read in any session, written in extended session.
=======  ============================  =================================================

Fingerprint: an ECU with ``require_fingerprint`` refuses eraseMemory and RequestDownload with
NRC 0x22 (conditionsNotCorrect) in a programming session in which no fingerprint (0xF15A or
0xF198) was written yet; every session change, reset or S3 expiry starts a new session.

Routines (RoutineControl 0x31, sub-function startRoutine 0x01):

* 0xFF00 eraseMemory: option record ``0x44 address u32 length u32``; status ``u8`` 0 = ok.
  The ECU answers ResponsePending (0x78) while erasing.
* 0x0202 checkMemory: option record ``0x44 address u32 length u32 expected_crc32 u32``;
  status ``u8 result (0 correct, 1 wrong) + u32 CRC32 computed by the ECU``. The segment
  becomes valid only when the result is 0.
* 0xFF01 checkProgrammingDependencies: no option record; status ``u8`` 0 = consistent
  (every segment valid and carrying a software unit header), 1 = not.

Security access (0x27): level 0x01 (extended session) and 0x11 (programming session);
4-byte seed, 4-byte key, see :mod:`hw.security`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import IntEnum

from domain.flash_package import (
    PROCESS_CLASS_BY_CODE,
    PROCESS_CLASS_CODES,
    SoftwareUnit,
    SoftwareVersion,
)
from domain.programming_timing import ProgrammingTiming
from domain.service_history import CbsState, VehicleServiceItem

# --------------------------------------------------------------------------- sessions


class Session(IntEnum):
    DEFAULT = 0x01
    PROGRAMMING = 0x02
    EXTENDED = 0x03


class SecurityLevel(IntEnum):
    """Request-seed sub-functions; send-key is level + 1."""

    EXTENDED = 0x01
    PROGRAMMING = 0x11


class ResetType(IntEnum):
    HARD = 0x01
    SOFT = 0x03


# --------------------------------------------------------------------------- DIDs / routines

DID_VIN = 0xF190
DID_ACTIVE_SESSION = 0xF186
DID_SERIAL_NUMBER = 0xF18C
DID_HARDWARE_NUMBER = 0xF191
DID_SOFTWARE_LIST = 0xF101
DID_FINGERPRINT = 0xF15A
DID_TESTER_SERIAL = 0xF198  # repairShopCodeOrTesterSerialNumber
DID_PROGRAMMING_DATE = 0xF199  # programmingDate
DID_PROGRAMMING_TIMING = 0xF1A0  # vendor: the ECU's erase/write/check/reset figures
DID_BATTERY_VOLTAGE = 0xDAD0
DID_SERVICE_ITEMS = 0x4100

ROUTINE_ERASE_MEMORY = 0xFF00
ROUTINE_CHECK_MEMORY = 0x0202
ROUTINE_CHECK_DEPENDENCIES = 0xFF01

ALFID_32_32 = 0x44  # addressAndLengthFormatIdentifier: 4-byte address, 4-byte size

# --------------------------------------------------------------------------- ECUs


@dataclass(frozen=True)
class EcuInfo:
    """Addressing of one ECU."""

    name: str
    description: str
    doip_address: int
    can_request_id: int
    can_response_id: int
    flashable: bool


def _ecu(name: str, description: str, addr: int, flashable: bool) -> EcuInfo:
    return EcuInfo(name, description, addr, 0x600 | addr, 0x680 | addr, flashable)


GATEWAY = "ZGW"
INSTRUMENT_CLUSTER = "KOMBI"

VEHICLE_ECUS: tuple[EcuInfo, ...] = (
    _ecu("ZGW", "central gateway", 0x10, False),
    _ecu("DME", "digital motor electronics (engine)", 0x12, True),
    _ecu("EGS", "electronic gearbox control", 0x18, True),
    _ecu("BDC", "body domain controller", 0x40, True),
    _ecu("KOMBI", "instrument cluster", 0x60, True),
)


def ecu_by_name(name: str, ecus: Iterable[EcuInfo] = VEHICLE_ECUS) -> EcuInfo:
    for info in ecus:
        if info.name == name:
            return info
    known = ", ".join(e.name for e in ecus)
    raise KeyError(f"unknown ECU {name!r} (known: {known})")


# --------------------------------------------------------------------------- codecs


class ProtocolDecodeError(ValueError):
    """A DID payload does not follow the documented encoding."""


_UNIT = struct.Struct(">BI3B")


def encode_software_list(units: Sequence[SoftwareUnit]) -> bytes:
    if len(units) > 255:
        raise ValueError("at most 255 software units")
    out = bytearray([len(units)])
    for u in units:
        v = u.version
        out += _UNIT.pack(
            PROCESS_CLASS_CODES[u.process_class], u.sgbm_id, v.major, v.minor, v.patch
        )
    return bytes(out)


def decode_software_list(data: bytes) -> list[SoftwareUnit]:
    if not data:
        raise ProtocolDecodeError("software list: empty payload")
    count = data[0]
    if len(data) != 1 + count * _UNIT.size:
        raise ProtocolDecodeError(
            f"software list: {count} units need {1 + count * _UNIT.size} bytes, got {len(data)}"
        )
    units = []
    for i in range(count):
        code, sgbm, major, minor, patch = _UNIT.unpack_from(data, 1 + i * _UNIT.size)
        if code not in PROCESS_CLASS_BY_CODE:
            raise ProtocolDecodeError(f"software list: unknown process class 0x{code:02X}")
        units.append(
            SoftwareUnit(
                process_class=PROCESS_CLASS_BY_CODE[code],
                sgbm_id=sgbm,
                version=SoftwareVersion(major=major, minor=minor, patch=patch),
            )
        )
    return units


def encode_ascii(text: str) -> bytes:
    return text.encode("ascii")


def decode_ascii(data: bytes) -> str:
    try:
        return data.rstrip(b"\x00").decode("ascii")
    except UnicodeDecodeError as exc:
        raise ProtocolDecodeError("expected ASCII") from exc


def encode_vin(vin: str) -> bytes:
    raw = vin.encode("ascii")
    if len(raw) != 17:
        raise ValueError("VIN must have 17 characters")
    return raw


def decode_vin(data: bytes) -> str:
    if len(data) != 17:
        raise ProtocolDecodeError(f"VIN: expected 17 bytes, got {len(data)}")
    return decode_ascii(data)


def encode_voltage_mv(millivolts: int) -> bytes:
    return struct.pack(">H", max(0, min(0xFFFF, millivolts)))


def decode_voltage_mv(data: bytes) -> int:
    if len(data) != 2:
        raise ProtocolDecodeError(f"voltage: expected 2 bytes, got {len(data)}")
    return int(struct.unpack(">H", data)[0])


@dataclass(frozen=True)
class Fingerprint:
    """Who programmed the ECU, and when (DID 0xF15A)."""

    programming_date: date
    workshop_id: int
    station_id: str

    _STRUCT = struct.Struct(">3BI9s")

    def encode(self) -> bytes:
        if not 2000 <= self.programming_date.year <= 2255:
            raise ValueError("fingerprint year must be 2000..2255")
        if not 0 <= self.workshop_id <= 0xFFFFFFFF:
            raise ValueError("workshop id must fit 32 bits")
        station = self.station_id.encode("ascii")
        if len(station) > 9:
            raise ValueError("station id: at most 9 ASCII characters")
        d = self.programming_date
        return self._STRUCT.pack(d.year - 2000, d.month, d.day, self.workshop_id, station)

    @classmethod
    def decode(cls, data: bytes) -> Fingerprint:
        if len(data) != cls._STRUCT.size:
            raise ProtocolDecodeError(f"fingerprint: expected 16 bytes, got {len(data)}")
        yy, mm, dd, workshop, station = cls._STRUCT.unpack(data)
        try:
            when = date(2000 + yy, mm, dd)
        except ValueError as exc:
            raise ProtocolDecodeError(f"fingerprint: invalid date ({exc})") from exc
        return cls(when, workshop, decode_ascii(station))


FINGERPRINT_SIZE = 16
MAX_TESTER_SERIAL = 16


def encode_tester_serial(serial: str) -> bytes:
    """DID 0xF198: printable ASCII, 1..16 bytes."""
    raw = serial.encode("ascii")
    if not 1 <= len(raw) <= MAX_TESTER_SERIAL or not raw.isascii() or not serial.isprintable():
        raise ValueError(f"tester serial: 1..{MAX_TESTER_SERIAL} printable ASCII characters")
    return raw


def decode_tester_serial(data: bytes) -> str:
    if not 1 <= len(data) <= MAX_TESTER_SERIAL:
        raise ProtocolDecodeError(f"tester serial: 1..{MAX_TESTER_SERIAL} bytes, got {len(data)}")
    text = decode_ascii(data)
    if not text.isprintable():
        raise ProtocolDecodeError("tester serial: not printable")
    return text


def encode_programming_date(day: date) -> bytes:
    """DID 0xF199: BCD ``YYYYMMDD`` (4 bytes)."""
    return bytes.fromhex(f"{day.year:04d}{day.month:02d}{day.day:02d}")


def decode_programming_date(data: bytes) -> date:
    text = data.hex()
    if len(data) != 4 or not text.isdigit():
        raise ProtocolDecodeError(f"programming date: expected 4 BCD bytes, got {text}")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as exc:
        raise ProtocolDecodeError(f"programming date: {exc}") from exc


_TIMING = struct.Struct(">4I")


def encode_programming_timing(timing: ProgrammingTiming) -> bytes:
    """DID 0xF1A0: erase per KiB, write per KiB, check, reset; u32 microseconds each."""
    figures = (timing.erase_ms_per_kib, timing.write_ms_per_kib, timing.check_ms, timing.reset_ms)
    return _TIMING.pack(*(min(0xFFFFFFFF, round(ms * 1000)) for ms in figures))


def decode_programming_timing(data: bytes) -> ProgrammingTiming:
    if len(data) != _TIMING.size:
        raise ProtocolDecodeError(f"programming timing: expected 16 bytes, got {len(data)}")
    erase, write, check, reset = (us / 1000 for us in _TIMING.unpack(data))
    return ProgrammingTiming(
        erase_ms_per_kib=erase, write_ms_per_kib=write, check_ms=check, reset_ms=reset
    )


class ServiceStatus(IntEnum):
    OK = 0
    DUE_SOON = 1
    OVERDUE = 2
    NOT_APPLICABLE = 3


class ServiceItemId(IntEnum):
    """Well-known condition-based-service items (any u8 is accepted)."""

    ENGINE_OIL = 1
    FRONT_BRAKES = 2
    REAR_BRAKES = 3
    BRAKE_FLUID = 4
    MICROFILTER = 5
    SPARK_PLUGS = 6
    VEHICLE_CHECK = 7
    STATUTORY_INSPECTION = 8


MAX_SERVICE_ITEMS = 16
_NO_KM = 0x7FFFFFFF
_ITEM = struct.Struct(">BBHBBi")


@dataclass(frozen=True)
class ServiceItem:
    """One condition-based-service item stored in the instrument cluster (DID 0x4100)."""

    item_id: int
    status: ServiceStatus
    due_date: date | None = None
    remaining_km: int | None = None

    def encode(self) -> bytes:
        if not 0 <= self.item_id <= 255:
            raise ValueError("item id must fit 8 bits")
        if self.remaining_km is not None and not -(2**31) <= self.remaining_km < _NO_KM:
            raise ValueError("remaining km out of range")
        d = self.due_date
        return _ITEM.pack(
            self.item_id,
            int(self.status),
            d.year if d else 0,
            d.month if d else 0,
            d.day if d else 0,
            _NO_KM if self.remaining_km is None else self.remaining_km,
        )


_STATUS_BY_NAME: dict[CbsState, ServiceStatus] = {
    "ok": ServiceStatus.OK,
    "due_soon": ServiceStatus.DUE_SOON,
    "overdue": ServiceStatus.OVERDUE,
    "not_applicable": ServiceStatus.NOT_APPLICABLE,
}
_NAME_BY_STATUS = {wire: name for name, wire in _STATUS_BY_NAME.items()}


def service_item_to_wire(item: VehicleServiceItem) -> ServiceItem:
    """A CBS item as the instrument cluster stores it (codes as in the key data)."""
    return ServiceItem(
        item_id=item.code,
        status=_STATUS_BY_NAME[item.status],
        due_date=item.due_date,
        remaining_km=item.remaining_km,
    )


def service_item_from_wire(item: ServiceItem) -> VehicleServiceItem:
    return VehicleServiceItem(
        code=item.item_id,
        status=_NAME_BY_STATUS[ServiceStatus(item.status)],
        due_date=item.due_date,
        remaining_km=item.remaining_km,
    )


def encode_service_items(items: Sequence[ServiceItem]) -> bytes:
    if len(items) > MAX_SERVICE_ITEMS:
        raise ValueError(f"at most {MAX_SERVICE_ITEMS} service items")
    ids = [i.item_id for i in items]
    if len(set(ids)) != len(ids):
        raise ValueError("service item ids must be unique")
    return bytes([len(items)]) + b"".join(i.encode() for i in items)


def decode_service_items(data: bytes) -> list[ServiceItem]:
    if not data:
        raise ProtocolDecodeError("service items: empty payload")
    count = data[0]
    if count > MAX_SERVICE_ITEMS or len(data) != 1 + count * _ITEM.size:
        raise ProtocolDecodeError(f"service items: count {count} does not match {len(data)} bytes")
    items = []
    ids: set[int] = set()
    for i in range(count):
        item_id, status, year, month, day, km = _ITEM.unpack_from(data, 1 + i * _ITEM.size)
        try:
            st = ServiceStatus(status)
        except ValueError as exc:
            raise ProtocolDecodeError(f"service items: unknown status {status}") from exc
        if (year, month, day) == (0, 0, 0):
            due = None
        else:
            try:
                due = date(year, month, day)
            except ValueError as exc:
                raise ProtocolDecodeError(f"service items: invalid due date ({exc})") from exc
        if item_id in ids:
            raise ProtocolDecodeError(f"service items: item {item_id} listed twice")
        ids.add(item_id)
        items.append(ServiceItem(item_id, st, due, None if km == _NO_KM else km))
    return items


def memory_option(address: int, length: int, *extra: int) -> bytes:
    """Option record ``0x44 address length [u32 ...]`` for erase / check memory."""
    return struct.pack(f">BII{len(extra)}I", ALFID_32_32, address, length, *extra)
