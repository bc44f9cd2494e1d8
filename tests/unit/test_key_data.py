import struct
import zlib
from datetime import date

import pytest
from pydantic import ValidationError

from domain.key_data import CBS_TYPES, MAX_CBS_ITEMS, CbsItem, CbsStatus, KeyData, cbs_code_for
from domain.key_data_block import (
    CBS_ITEM_SIZE,
    FIXED_PART_SIZE,
    MAX_BLOCK_SIZE,
    CorruptKeyData,
    KeyDataErrorReason,
    block_length,
    build_key_data,
    crc32,
    parse_key_data,
)

VIN = "WBA8E5105FK731548"

SAMPLE = KeyData(
    vin=VIN,
    mileage_km=194_826,
    colour_code="A83",
    production_date=date(2015, 3, 12),
    written_on=date(2024, 9, 18),
    key_number=1,
    cbs=(
        CbsItem(code=1, status=CbsStatus.DUE_SOON, due_date=date(2024, 12, 1), remaining_km=1200),
        CbsItem(code=2, status=CbsStatus.OK, remaining_km=14_500),
        CbsItem(code=4, status=CbsStatus.OVERDUE, due_date=date(2024, 6, 1)),
        CbsItem(code=5, status=CbsStatus.OVERDUE, remaining_km=-850),
    ),
)

# Offsets from the format table in domain/key_data_block.py
OFF_VERSION = 2
OFF_LENGTH = 3
OFF_VIN = 5
OFF_MILEAGE = 22
OFF_COLOUR = 26
OFF_PRODUCTION = 30
OFF_WRITTEN = 34
OFF_KEY_NUMBER = 38
OFF_CBS_COUNT = 39
OFF_CBS = 40


def reseal(block: bytes | bytearray) -> bytes:
    """Recompute the CRC after editing a block, so a test reaches the later checks."""
    body = bytes(block[:-4])
    return body + struct.pack(">I", zlib.crc32(body))


def edited(offset: int, value: bytes, block: bytes | None = None) -> bytes:
    data = bytearray(block if block is not None else build_key_data(SAMPLE))
    data[offset : offset + len(value)] = value
    return reseal(data)


def parse_error(block: bytes) -> CorruptKeyData:
    with pytest.raises(CorruptKeyData) as info:
        parse_key_data(block)
    return info.value


# --------------------------------------------------------------------------- format


def test_golden_bytes_of_a_small_block() -> None:
    data = KeyData(
        vin="1M8GDM9AXKP042788",
        mileage_km=0x01020304,
        colour_code="475",
        production_date=date(2019, 2, 4),
        written_on=date(2024, 10, 15),
        key_number=2,
        cbs=(CbsItem(code=7, status=CbsStatus.OK, due_date=date(2025, 2, 1), remaining_km=-2),),
    )
    body = (
        b"KD"  # magic
        + b"\x01"  # version
        + b"\x00\x37"  # length 55 = 44 + 11
        + b"1M8GDM9AXKP042788"  # VIN
        + b"\x01\x02\x03\x04"  # mileage
        + b"475\x00"  # colour, NUL padded
        + b"\x07\xe3\x02\x04"  # 2019-02-04
        + b"\x07\xe8\x0a\x0f"  # 2024-10-15
        + b"\x02"  # key number
        + b"\x01"  # one CBS item
        + b"\x07\x00\x03"  # code 7, status ok, flags date+distance
        + b"\x07\xe9\x02\x01"  # 2025-02-01
        + b"\xff\xff\xff\xfe"  # -2 km
    )
    expected = body + zlib.crc32(body).to_bytes(4, "big")
    assert build_key_data(data) == expected
    assert parse_key_data(expected) == data


def test_layout_offsets() -> None:
    block = build_key_data(SAMPLE)
    assert block[:2] == b"KD"
    assert block[OFF_VERSION] == 1
    assert int.from_bytes(block[OFF_LENGTH : OFF_LENGTH + 2], "big") == len(block)
    assert len(block) == block_length(4) == FIXED_PART_SIZE + 4 * CBS_ITEM_SIZE + 4
    assert block[OFF_VIN : OFF_VIN + 17] == VIN.encode()
    assert int.from_bytes(block[OFF_MILEAGE : OFF_MILEAGE + 4], "big") == 194_826
    assert block[OFF_COLOUR : OFF_COLOUR + 4] == b"A83\x00"
    assert block[OFF_KEY_NUMBER] == 1
    assert block[OFF_CBS_COUNT] == 4
    assert int.from_bytes(block[-4:], "big") == zlib.crc32(block[:-4]) == crc32(block[:-4])


def test_round_trip_is_exact() -> None:
    block = build_key_data(SAMPLE)
    parsed = parse_key_data(block)
    assert parsed == SAMPLE
    assert build_key_data(parsed) == block


def test_round_trip_accepts_bytearray_and_memoryview() -> None:
    block = build_key_data(SAMPLE)
    assert parse_key_data(bytearray(block)) == SAMPLE
    assert parse_key_data(memoryview(block)) == SAMPLE


def test_round_trip_extremes() -> None:
    data = KeyData(
        vin="11111111111111111",
        mileage_km=0xFFFF_FFFF,
        colour_code="Z9Z9",
        production_date=date(1, 1, 1),
        written_on=date(9999, 12, 31),
        key_number=255,
        cbs=tuple(
            CbsItem(code=c, status=CbsStatus.OK, remaining_km=-(2**31) if c % 2 else 2**31 - 1)
            for c in range(1, MAX_CBS_ITEMS + 1)
        ),
    )
    block = build_key_data(data)
    assert len(block) == MAX_BLOCK_SIZE
    assert parse_key_data(block) == data
    assert build_key_data(parse_key_data(block)) == block


def test_no_cbs_items() -> None:
    data = SAMPLE.model_copy(update={"cbs": ()})
    block = build_key_data(data)
    assert len(block) == 44
    assert parse_key_data(block) == data


def test_cbs_helpers() -> None:
    assert cbs_code_for("engine_oil") == 1
    assert CBS_TYPES[cbs_code_for("brake_fluid")][0] == "brake_fluid"
    item = SAMPLE.cbs_item("engine_oil")
    assert item is not None
    assert item.label == "Engine oil"
    assert SAMPLE.cbs_item("spark_plugs") is None
    unknown = CbsItem(code=0xEE, status=CbsStatus.OK, remaining_km=1)
    assert unknown.cbs_id == "cbs_0xee"
    assert "0xee" in unknown.label


def test_unknown_cbs_code_survives_a_round_trip() -> None:
    data = SAMPLE.model_copy(
        update={"cbs": (CbsItem(code=0xEE, status=CbsStatus.OK, remaining_km=5),)}
    )
    assert parse_key_data(build_key_data(data)) == data


# --------------------------------------------------------------------------- model rules


def test_model_rejects_bad_values() -> None:
    with pytest.raises(ValidationError, match="due date, a remaining distance"):
        CbsItem(code=1, status=CbsStatus.OK)
    with pytest.raises(ValidationError, match="more than once"):
        KeyData.model_validate(
            {
                **SAMPLE.model_dump(),
                "cbs": [*SAMPLE.model_dump()["cbs"], SAMPLE.cbs[0].model_dump()],
            }
        )
    with pytest.raises(ValidationError, match="before the vehicle was produced"):
        KeyData.model_validate({**SAMPLE.model_dump(), "written_on": date(2015, 3, 11)})
    with pytest.raises(ValidationError):
        KeyData.model_validate({**SAMPLE.model_dump(), "colour_code": "A83XY"})
    with pytest.raises(ValidationError):
        KeyData.model_validate({**SAMPLE.model_dump(), "colour_code": "a83"})
    with pytest.raises(ValidationError):
        KeyData.model_validate({**SAMPLE.model_dump(), "vin": "WBA8E5105FK73154O"})
    with pytest.raises(ValidationError):
        KeyData.model_validate({**SAMPLE.model_dump(), "mileage_km": -1})


def test_model_rejects_too_many_cbs_items() -> None:
    items = [{"code": c, "status": 0, "remaining_km": 1} for c in range(1, MAX_CBS_ITEMS + 2)]
    with pytest.raises(ValidationError, match="at most"):
        KeyData.model_validate({**SAMPLE.model_dump(), "cbs": items})


# --------------------------------------------------------------------------- corruption


@pytest.mark.parametrize("size", [0, 1, 5, 8])
def test_too_short_for_a_frame(size: int) -> None:
    error = parse_error(build_key_data(SAMPLE)[:size])
    assert error.reason is KeyDataErrorReason.BAD_LENGTH
    assert f"{size} bytes" in str(error)


def test_truncated_block() -> None:
    block = build_key_data(SAMPLE)
    error = parse_error(block[:-1])
    assert error.reason is KeyDataErrorReason.BAD_LENGTH
    assert f"declares {len(block)} bytes but has {len(block) - 1}" in str(error)


def test_trailing_garbage() -> None:
    error = parse_error(build_key_data(SAMPLE) + b"\x00")
    assert error.reason is KeyDataErrorReason.BAD_LENGTH


def test_frame_too_small_for_version_1() -> None:
    body = b"KD\x01\x00\x09"
    error = parse_error(body + zlib.crc32(body).to_bytes(4, "big"))
    assert error.reason is KeyDataErrorReason.BAD_LENGTH
    assert "at least 44" in str(error)


def test_cbs_count_disagrees_with_length() -> None:
    error = parse_error(edited(OFF_CBS_COUNT, b"\x03"))
    assert error.reason is KeyDataErrorReason.BAD_LENGTH
    assert "3 CBS items" in str(error)
    assert error.offset == OFF_CBS_COUNT


def test_too_many_cbs_items() -> None:
    count = MAX_CBS_ITEMS + 1
    length = block_length(count)
    head = bytearray(build_key_data(SAMPLE.model_copy(update={"cbs": ()}))[:-4])
    head[OFF_LENGTH : OFF_LENGTH + 2] = length.to_bytes(2, "big")
    head[OFF_CBS_COUNT] = count
    items = b"".join(
        bytes((c, 0, 2)) + b"\x00" * 4 + (1).to_bytes(4, "big") for c in range(1, count + 1)
    )
    error = parse_error(reseal(bytes(head) + items + b"\x00" * 4))
    assert error.reason is KeyDataErrorReason.INVALID_FIELD
    assert f"at most {MAX_CBS_ITEMS}" in str(error)


def test_bad_magic() -> None:
    error = parse_error(edited(0, b"XX"))
    assert error.reason is KeyDataErrorReason.BAD_MAGIC
    assert error.offset == 0


@pytest.mark.parametrize("where", ["body", "crc"])
def test_bad_checksum(where: str) -> None:
    block = bytearray(build_key_data(SAMPLE))
    block[OFF_MILEAGE if where == "body" else -1] ^= 0x01
    error = parse_error(bytes(block))
    assert error.reason is KeyDataErrorReason.BAD_CHECKSUM
    assert "checksum" in str(error)
    assert error.offset == len(block) - 4


def test_checksum_is_checked_before_version() -> None:
    block = bytearray(build_key_data(SAMPLE))
    block[OFF_VERSION] = 2
    assert parse_error(bytes(block)).reason is KeyDataErrorReason.BAD_CHECKSUM


@pytest.mark.parametrize("version", [0, 2, 255])
def test_unknown_version(version: int) -> None:
    error = parse_error(edited(OFF_VERSION, bytes((version,))))
    assert error.reason is KeyDataErrorReason.UNKNOWN_VERSION
    assert f"version {version}" in str(error)


@pytest.mark.parametrize(
    ("vin", "fragment"),
    [
        (b"WBA8E5105FK73154O", "position 17"),  # forbidden letter
        (b"WBA8E5105FK7315-8", "invalid character"),
        (b"1M8GDM9A1KP042788", "check digit"),  # North American: check digit mandatory
        (b"wba8e5105fk731548", "non-canonical"),
        (b"WBA8E5105FK73154\xc3", "not ASCII"),
        (b"\x00" * 17, "invalid character"),
    ],
)
def test_invalid_vin_inside(vin: bytes, fragment: str) -> None:
    error = parse_error(edited(OFF_VIN, vin))
    assert error.reason is KeyDataErrorReason.INVALID_VIN
    assert fragment in str(error)
    assert error.offset is not None and OFF_VIN <= error.offset < OFF_VIN + 17


@pytest.mark.parametrize(
    ("offset", "raw"),
    [
        (OFF_PRODUCTION, b"\x07\xdf\x0d\x01"),  # month 13
        (OFF_PRODUCTION, b"\x07\xdf\x02\x1e"),  # 30 February
        (OFF_PRODUCTION, b"\x00\x00\x01\x01"),  # year 0
        (OFF_WRITTEN, b"\x07\xe8\x09\x00"),  # day 0
        (OFF_CBS + 3, b"\x07\xe8\x04\x1f"),  # due date 31 April
    ],
)
def test_impossible_dates(offset: int, raw: bytes) -> None:
    error = parse_error(edited(offset, raw))
    assert error.reason is KeyDataErrorReason.IMPOSSIBLE_DATE
    assert error.offset == offset
    assert "not a calendar date" in str(error)


def test_written_before_production_is_impossible() -> None:
    error = parse_error(edited(OFF_WRITTEN, b"\x07\xdf\x03\x0b"))  # 2015-03-11
    assert error.reason is KeyDataErrorReason.IMPOSSIBLE_DATE
    assert "before the vehicle was produced" in str(error)


@pytest.mark.parametrize(
    ("offset", "raw", "fragment"),
    [
        (OFF_COLOUR, b"\x00\x00\x00\x00", "colour code"),
        (OFF_COLOUR, b"a83\x00", "colour code"),
        (OFF_COLOUR, b"A\x003\x00", "colour code"),
        (OFF_CBS, b"\x00", "CBS code 0"),
        (OFF_CBS + 1, b"\x07", "unknown status 7"),
        (OFF_CBS + 2, b"\x00", "invalid flags 0x00"),
        (OFF_CBS + 2, b"\x07", "invalid flags 0x07"),
        # item 2 has a distance only: a stray due date must be zero
        (OFF_CBS + CBS_ITEM_SIZE + 3, b"\x07\xe8\x01\x01", "due date although"),
        # item 3 has a due date only: a stray distance must be zero
        (OFF_CBS + 2 * CBS_ITEM_SIZE + 7, b"\x00\x00\x00\x01", "remaining distance although"),
        # item 2 gets the code of item 1
        (OFF_CBS + CBS_ITEM_SIZE, b"\x01", "more than once"),
    ],
)
def test_invalid_fields(offset: int, raw: bytes, fragment: str) -> None:
    error = parse_error(edited(offset, raw))
    assert error.reason is KeyDataErrorReason.INVALID_FIELD
    assert fragment in str(error)


def test_corrupt_key_data_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="checksum"):
        parse_key_data(build_key_data(SAMPLE)[:-1] + b"\x00")


def test_every_single_byte_error_is_detected() -> None:
    block = build_key_data(SAMPLE)
    for index in range(len(block)):
        for mask in (0x01, 0x80, 0xFF):
            damaged = bytearray(block)
            damaged[index] ^= mask
            with pytest.raises(CorruptKeyData):
                parse_key_data(bytes(damaged))


def test_every_truncation_is_detected() -> None:
    block = build_key_data(SAMPLE)
    for size in range(len(block)):
        with pytest.raises(CorruptKeyData) as info:
            parse_key_data(block[:size])
        assert info.value.reason is KeyDataErrorReason.BAD_LENGTH
