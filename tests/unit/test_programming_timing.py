"""The estimate of an ECU's programming time from its own figures (domain.programming_timing)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.programming_timing import ProgrammingTiming, estimate_programming_seconds
from hw.protocol import decode_programming_timing, encode_programming_timing

TIMING = ProgrammingTiming(erase_ms_per_kib=10, write_ms_per_kib=12, check_ms=2500, reset_ms=1500)
MIB = 1024 * 1024


def test_one_mib_in_two_segments() -> None:
    # 1024 KiB x 22 ms + 2 checks + 1 reset
    seconds = estimate_programming_seconds(TIMING, [MIB - 64 * 1024, 64 * 1024])
    assert seconds == pytest.approx((1024 * 22 + 2 * 2500 + 1500) / 1000)


def test_transfer_time_adds_to_the_write_time() -> None:
    alone = estimate_programming_seconds(TIMING, [MIB])
    wired = estimate_programming_seconds(TIMING, [MIB], transfer_bytes_per_second=100_000)
    assert wired - alone == pytest.approx(MIB / 100_000)


def test_a_large_image_takes_minutes() -> None:
    assert 300 < estimate_programming_seconds(TIMING, [16 * MIB]) < 420


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="lengths"):
        estimate_programming_seconds(TIMING, [-1])
    with pytest.raises(ValueError, match="transfer"):
        estimate_programming_seconds(TIMING, [1], transfer_bytes_per_second=0)
    with pytest.raises(ValidationError):
        ProgrammingTiming(erase_ms_per_kib=-1, write_ms_per_kib=0, check_ms=0, reset_ms=0)
    with pytest.raises(ValueError, match="scale"):
        TIMING.scaled(-0.5)


def test_wire_encoding_keeps_microseconds() -> None:
    scaled = TIMING.scaled(0.001)
    raw = encode_programming_timing(scaled)
    assert len(raw) == 16 and raw[:4] == (10).to_bytes(4, "big")  # 0.01 ms = 10 us
    decoded = decode_programming_timing(raw)
    assert decoded.model_dump() == pytest.approx(scaled.model_dump(), abs=1e-9)
