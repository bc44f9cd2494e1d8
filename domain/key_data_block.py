"""The binary data block stored in a vehicle key: its layout, and how it is built and parsed.

The car writes its current state into the key's transponder memory; a KeyReader
returns that memory as one binary block, which :func:`parse_key_data` turns into
:class:`domain.key_data.KeyData` and :func:`build_key_data` produces again, byte for byte.

Block format, version 1
=======================

Multi-byte integers are big-endian (the car's byte order). Dates are 4 bytes:
year (u16), month (u8), day (u8). ``n`` is the number of CBS items.

======  ======  ===========================================================
offset  size    field
======  ======  ===========================================================
0       2       magic ``b"KD"`` (0x4B 0x44)
2       1       format version, ``0x01``
3       2       block length in bytes, CRC included (u16) = 44 + 11 * n
5       17      VIN, ASCII
22      4       total distance in km (u32)
26      4       paint (colour) code, ASCII letters/digits, right-padded with NUL
30      4       production date
34      4       date the car last wrote the key
38      1       key number (which of the vehicle's keys, 0-255)
39      1       number of CBS items ``n`` (at most :data:`domain.key_data.MAX_CBS_ITEMS`)
40      11 * n  CBS items, see below
40+11n  4       CRC-32 (IEEE 802.3, as :func:`zlib.crc32`) of bytes ``[0, 40+11n)`` (u32)
======  ======  ===========================================================

The first five bytes (magic, version, length) keep this layout in every future
version so that a reader can always tell the version and the size of a block.

CBS (condition based service) item, 11 bytes:

======  ====  ==============================================================
offset  size  field
======  ====  ==============================================================
0       1     CBS code (1-255, see :data:`domain.key_data.CBS_TYPES`)
1       1     status: 0 ok, 1 due soon, 2 overdue (:class:`domain.key_data.CbsStatus`)
2       1     flags: bit 0 due date present, bit 1 remaining distance present;
              at least one is set, other bits are 0
3       4     due date, all zero when absent
7       4     remaining distance in km (i32, negative when overdue), 0 when absent
======  ====  ==============================================================

Parsing is strict (absent fields must be zero, padding must be NUL, unused
flag bits must be clear), which makes ``build_key_data(parse_key_data(b)) == b``
hold for every block that parses.

This module is pure: no I/O; its only project imports are :mod:`domain.key_data` and
:mod:`domain.vin`.
"""

from __future__ import annotations

import struct
import zlib
from datetime import date
from enum import StrEnum

from pydantic import ValidationError

from domain.key_data import COLOUR_CODE_SIZE, MAX_CBS_ITEMS, CbsItem, CbsStatus, KeyData
from domain.vin import InvalidVin, validate_vin

__all__ = [
    "CBS_ITEM_SIZE",
    "CRC_SIZE",
    "FIXED_PART_SIZE",
    "HEADER_SIZE",
    "KEY_DATA_MAGIC",
    "KEY_DATA_VERSION",
    "MAX_BLOCK_SIZE",
    "CorruptKeyData",
    "KeyDataErrorReason",
    "block_length",
    "build_key_data",
    "crc32",
    "parse_key_data",
]

KEY_DATA_MAGIC = b"KD"
KEY_DATA_VERSION = 1
HEADER_SIZE = 5  # magic, version, block length: the same in every version
FIXED_PART_SIZE = 40  # header and vehicle fields, up to and including the CBS count
CBS_ITEM_SIZE = 11
CRC_SIZE = 4
MAX_BLOCK_SIZE = FIXED_PART_SIZE + MAX_CBS_ITEMS * CBS_ITEM_SIZE + CRC_SIZE

_HEADER = struct.Struct(">2sBH")
_FIXED = struct.Struct(">2sBH17sI4sHBBHBBBB")
_CBS = struct.Struct(">BBBHBBi")
_CRC = struct.Struct(">I")

_FLAG_DUE_DATE = 0x01
_FLAG_REMAINING = 0x02
_KNOWN_FLAGS = _FLAG_DUE_DATE | _FLAG_REMAINING

_U32_MASK = 0xFFFF_FFFF

assert _HEADER.size == HEADER_SIZE
assert _FIXED.size == FIXED_PART_SIZE
assert _CBS.size == CBS_ITEM_SIZE

_CBS_STATUS_VALUES = frozenset(int(s) for s in CbsStatus)


def crc32(data: bytes) -> int:
    """CRC-32 (IEEE 802.3, reflected, polynomial 0x04C11DB7) as used by the block."""
    return zlib.crc32(data) & _U32_MASK


def block_length(cbs_count: int) -> int:
    """Size in bytes of a version-1 block with ``cbs_count`` CBS items."""
    return FIXED_PART_SIZE + cbs_count * CBS_ITEM_SIZE + CRC_SIZE


class KeyDataErrorReason(StrEnum):
    """Stable machine-readable codes for :class:`CorruptKeyData`."""

    BAD_LENGTH = "bad_length"
    BAD_MAGIC = "bad_magic"
    BAD_CHECKSUM = "bad_checksum"
    UNKNOWN_VERSION = "unknown_version"
    INVALID_VIN = "invalid_vin"
    IMPOSSIBLE_DATE = "impossible_date"
    INVALID_FIELD = "invalid_field"


class CorruptKeyData(ValueError):
    """A key data block cannot be interpreted.

    ``reason`` is a stable code (:class:`KeyDataErrorReason`), ``offset`` the byte
    offset of the offending field when there is one, ``str(exc)`` says what is wrong.
    """

    def __init__(self, reason: KeyDataErrorReason, message: str, *, offset: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.offset = offset


# --------------------------------------------------------------------------- build


def _pack_date(value: date | None) -> tuple[int, int, int]:
    if value is None:
        return (0, 0, 0)
    return (value.year, value.month, value.day)


def build_key_data(data: KeyData) -> bytes:
    """Serialise :class:`KeyData` into a version-1 block (see the module docstring)."""
    length = block_length(len(data.cbs))
    colour = data.colour_code.encode("ascii").ljust(COLOUR_CODE_SIZE, b"\x00")
    body = bytearray(
        _FIXED.pack(
            KEY_DATA_MAGIC,
            KEY_DATA_VERSION,
            length,
            data.vin.encode("ascii"),
            data.mileage_km,
            colour,
            *_pack_date(data.production_date),
            *_pack_date(data.written_on),
            data.key_number,
            len(data.cbs),
        )
    )
    for item in data.cbs:
        flags = (_FLAG_DUE_DATE if item.due_date is not None else 0) | (
            _FLAG_REMAINING if item.remaining_km is not None else 0
        )
        body += _CBS.pack(
            item.code,
            int(item.status),
            flags,
            *_pack_date(item.due_date),
            item.remaining_km if item.remaining_km is not None else 0,
        )
    body += _CRC.pack(crc32(bytes(body)))
    assert len(body) == length
    return bytes(body)


# --------------------------------------------------------------------------- parse


def _unpack_date(year: int, month: int, day: int, *, field: str, offset: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise CorruptKeyData(
            KeyDataErrorReason.IMPOSSIBLE_DATE,
            f"{field} at offset {offset} is not a calendar date: "
            f"year {year}, month {month}, day {day}",
            offset=offset,
        ) from None


def _check_frame(blob: bytes) -> None:
    """Length, magic, declared length, checksum and version, in that order."""
    if len(blob) < HEADER_SIZE + CRC_SIZE:
        raise CorruptKeyData(
            KeyDataErrorReason.BAD_LENGTH,
            f"key data block has {len(blob)} bytes, fewer than the "
            f"{HEADER_SIZE + CRC_SIZE} of an empty frame",
        )
    magic, version, declared = _HEADER.unpack_from(blob, 0)
    if magic != KEY_DATA_MAGIC:
        raise CorruptKeyData(
            KeyDataErrorReason.BAD_MAGIC,
            f"key data block starts with {magic!r}, expected {KEY_DATA_MAGIC!r}",
            offset=0,
        )
    if declared != len(blob):
        raise CorruptKeyData(
            KeyDataErrorReason.BAD_LENGTH,
            f"key data block declares {declared} bytes but has {len(blob)}",
            offset=3,
        )
    (stored_crc,) = _CRC.unpack_from(blob, len(blob) - CRC_SIZE)
    actual_crc = crc32(blob[:-CRC_SIZE])
    if stored_crc != actual_crc:
        raise CorruptKeyData(
            KeyDataErrorReason.BAD_CHECKSUM,
            f"key data checksum mismatch: block says 0x{stored_crc:08x}, "
            f"content gives 0x{actual_crc:08x}",
            offset=len(blob) - CRC_SIZE,
        )
    if version != KEY_DATA_VERSION:
        raise CorruptKeyData(
            KeyDataErrorReason.UNKNOWN_VERSION,
            f"key data format version {version} is not supported "
            f"(this software reads version {KEY_DATA_VERSION})",
            offset=2,
        )


def _parse_cbs(blob: bytes, index: int) -> CbsItem:
    offset = FIXED_PART_SIZE + index * CBS_ITEM_SIZE
    code, status, flags, year, month, day, remaining = _CBS.unpack_from(blob, offset)
    where = f"CBS item {index + 1} (offset {offset})"
    if code == 0:
        raise CorruptKeyData(
            KeyDataErrorReason.INVALID_FIELD, f"{where} has CBS code 0", offset=offset
        )
    if status not in _CBS_STATUS_VALUES:
        raise CorruptKeyData(
            KeyDataErrorReason.INVALID_FIELD,
            f"{where} has unknown status {status}",
            offset=offset + 1,
        )
    if flags & ~_KNOWN_FLAGS or not flags:
        raise CorruptKeyData(
            KeyDataErrorReason.INVALID_FIELD,
            f"{where} has invalid flags 0x{flags:02x} (needs a due date and/or a distance)",
            offset=offset + 2,
        )
    due: date | None = None
    if flags & _FLAG_DUE_DATE:
        due = _unpack_date(year, month, day, field=f"{where} due date", offset=offset + 3)
    elif (year, month, day) != (0, 0, 0):
        raise CorruptKeyData(
            KeyDataErrorReason.INVALID_FIELD,
            f"{where} has a due date although its flags say it has none",
            offset=offset + 3,
        )
    distance: int | None = None
    if flags & _FLAG_REMAINING:
        distance = remaining
    elif remaining != 0:
        raise CorruptKeyData(
            KeyDataErrorReason.INVALID_FIELD,
            f"{where} has a remaining distance although its flags say it has none",
            offset=offset + 7,
        )
    return CbsItem(code=code, status=CbsStatus(status), due_date=due, remaining_km=distance)


def parse_key_data(blob: bytes | bytearray | memoryview) -> KeyData:
    """Parse a key data block; raises :class:`CorruptKeyData` with a precise reason.

    Checks, in order: minimum size (``bad_length``), magic (``bad_magic``),
    declared size (``bad_length``), CRC (``bad_checksum``), version
    (``unknown_version``), CBS count against the size (``bad_length``), VIN
    (``invalid_vin``), dates (``impossible_date``), other fields (``invalid_field``).
    """
    block = bytes(blob)
    _check_frame(block)
    if len(block) < FIXED_PART_SIZE + CRC_SIZE:
        raise CorruptKeyData(
            KeyDataErrorReason.BAD_LENGTH,
            f"version {KEY_DATA_VERSION} key data block has {len(block)} bytes, "
            f"needs at least {FIXED_PART_SIZE + CRC_SIZE}",
        )
    (
        _magic,
        _version,
        _declared,
        raw_vin,
        mileage,
        raw_colour,
        p_year,
        p_month,
        p_day,
        w_year,
        w_month,
        w_day,
        key_number,
        cbs_count,
    ) = _FIXED.unpack_from(block, 0)

    if len(block) != block_length(cbs_count):
        raise CorruptKeyData(
            KeyDataErrorReason.BAD_LENGTH,
            f"key data block with {cbs_count} CBS items must have "
            f"{block_length(cbs_count)} bytes, has {len(block)}",
            offset=39,
        )
    if cbs_count > MAX_CBS_ITEMS:
        raise CorruptKeyData(
            KeyDataErrorReason.INVALID_FIELD,
            f"key data block has {cbs_count} CBS items, at most {MAX_CBS_ITEMS} are allowed",
            offset=39,
        )

    try:
        vin_text = raw_vin.decode("ascii")
    except UnicodeDecodeError:
        raise CorruptKeyData(
            KeyDataErrorReason.INVALID_VIN,
            f"key data holds a VIN that is not ASCII text: {raw_vin!r}",
            offset=5,
        ) from None
    try:
        vin = validate_vin(vin_text)
    except InvalidVin as exc:
        raise CorruptKeyData(
            KeyDataErrorReason.INVALID_VIN,
            f"key data holds an invalid VIN {vin_text!r}: {exc}",
            offset=5 + (exc.position - 1 if exc.position else 0),
        ) from None
    if vin != vin_text:  # lower case or padding: never written by a car
        raise CorruptKeyData(
            KeyDataErrorReason.INVALID_VIN,
            f"key data holds the VIN {vin_text!r} in a non-canonical form",
            offset=5,
        )

    colour_code = raw_colour.rstrip(b"\x00")
    if (
        not colour_code
        or b"\x00" in colour_code
        or not all(c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" for c in colour_code)
    ):
        raise CorruptKeyData(
            KeyDataErrorReason.INVALID_FIELD,
            f"key data holds an invalid colour code {raw_colour!r}",
            offset=26,
        )

    production = _unpack_date(p_year, p_month, p_day, field="production date", offset=30)
    written = _unpack_date(w_year, w_month, w_day, field="key write date", offset=34)
    if written < production:
        raise CorruptKeyData(
            KeyDataErrorReason.IMPOSSIBLE_DATE,
            f"key data was written on {written}, before the vehicle was produced on {production}",
            offset=34,
        )

    items = [_parse_cbs(block, i) for i in range(cbs_count)]
    seen: set[int] = set()
    for index, item in enumerate(items):
        if item.code in seen:
            raise CorruptKeyData(
                KeyDataErrorReason.INVALID_FIELD,
                f"CBS code 0x{item.code:02x} appears more than once",
                offset=FIXED_PART_SIZE + index * CBS_ITEM_SIZE,
            )
        seen.add(item.code)

    try:
        return KeyData(
            vin=vin,
            mileage_km=mileage,
            colour_code=colour_code.decode("ascii"),
            production_date=production,
            written_on=written,
            key_number=key_number,
            cbs=tuple(items),
        )
    except ValidationError as exc:  # every rule is checked above; this is a safety net
        raise CorruptKeyData(KeyDataErrorReason.INVALID_FIELD, str(exc)) from None
