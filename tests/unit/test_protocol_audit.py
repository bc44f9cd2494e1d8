"""The protocol audit on crafted frame logs: ASC files written by python-can holding what a
tester and an ECU (DME, DoIP address 0x12) said, in orders a real station would not use."""

from __future__ import annotations

import hashlib
from pathlib import Path

import can
import pytest

from domain.frame_log_decoder import MAX_PROBLEMS, DecodedLog, messages, parse_asc
from domain.protocol_audit import MAX_VIOLATIONS, audit_frame_logs

TESTER, DME = 0x0E00, 0x12
DATA = bytes(range(16))
FINGERPRINT = "2e f1 5a 19 03 0e 00 00 12 67 53 54 2d 30 31 00 00 00 00"
SESSION = [("10 02", "50 02"), ("27 11", "67 11 01 02 03 04"), ("27 12 0a 0b 0c 0d", "67 12")]
ERASE = ("31 01 ff 00 44 00 80 00 00 00 00 00 10", "71 01 ff 00 00")
DOWNLOAD = ("34 00 44 00 80 00 00 00 00 00 10", "74 20 00 0a")
CHECK = ("31 01 02 02 44 00 80 00 00 00 00 00 10 12 34 56 78", "71 01 02 02 00 12 34 56 78")
EXIT = ("37", "77")
RESET = ("11 01", "51 01")


def block(counter: int, data: bytes, answered: bool = True) -> tuple[str, str | None]:
    return f"36 {counter:02x} {data.hex(' ')}", f"76 {counter:02x}" if answered else None


def good_flash() -> list[tuple[str, str | None]]:
    return [
        *SESSION,
        (FINGERPRINT, "6e f1 5a"),
        ERASE,
        DOWNLOAD,
        block(1, DATA[:8]),
        block(2, DATA[8:]),
        EXIT,
        CHECK,
        RESET,
    ]


def asc_log(tmp_path: Path, exchanges: list[tuple[str, str | None]]) -> str:
    """The exchanges as the station's trace logs DoIP: one CAN FD record per message."""
    path = tmp_path / "crafted.asc"
    writer = can.ASCWriter(str(path))
    at = 1_700_000_000.0
    for request, response in exchanges:
        for source, target, text, rx in (
            (TESTER, DME, request, False),
            (DME, TESTER, response, True),
        ):
            if text is None:
                continue
            at += 0.001
            payload = bytes.fromhex(text)
            writer.on_message_received(
                can.Message(
                    timestamp=at,
                    arbitration_id=source << 16 | target,
                    is_extended_id=True,
                    is_fd=True,
                    bitrate_switch=True,
                    is_rx=rx,
                    data=payload,
                    check=False,
                )
            )
    writer.stop()
    return path.read_text()


def rules(tmp_path: Path, exchanges: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
    audit = audit_frame_logs([("crafted.asc", asc_log(tmp_path, exchanges))])
    return [(v.ecu, v.rule) for v in audit.violations]


def test_a_flash_in_iso_14229_order_conforms_and_is_described(tmp_path: Path) -> None:
    audit = audit_frame_logs([("crafted.asc", asc_log(tmp_path, good_flash()))])
    assert (audit.verdict, audit.violations, audit.decode_problems) == ("conforms", [], [])
    dme = audit.ecus["DME"]
    assert [s.summary()["sha256"] for s in dme.segments] == [hashlib.sha256(DATA).hexdigest()]
    assert dme.check_memory == [
        {
            "address": "0x00800000",
            "length": 16,
            "expected_crc32": "12345678",
            "result": "correct",
            "crc32": "12345678",
        }
    ]
    assert dme.fingerprints[0]["date"] == "2025-03-14"
    assert dme.fingerprints[0]["station_id"] == "ST-01"


def test_download_before_unlock_and_security_outside_programming_session(tmp_path: Path) -> None:
    flash: list[tuple[str, str | None]] = [("27 11", "67 11 01 02 03 04"), ("10 02", "50 02")]
    flash.append((FINGERPRINT, "6e f1 5a"))
    flash += [ERASE, DOWNLOAD, block(1, DATA), EXIT, CHECK]
    assert rules(tmp_path, flash) == [
        ("DME", "security-outside-programming-session"),
        ("DME", "locked"),  # the fingerprint
        ("DME", "locked"),  # the erase
        ("DME", "locked"),  # RequestDownload
        ("DME", "locked"),  # RequestTransferExit
        ("DME", "locked"),  # check memory
    ]


def test_a_download_without_fingerprint(tmp_path: Path) -> None:
    flash = [step for step in good_flash() if step[0] != FINGERPRINT]
    audit = audit_frame_logs([("crafted.asc", asc_log(tmp_path, flash))])
    assert [(v.rule, v.seen) for v in audit.violations] == [
        ("fingerprint-missing", "31 01 ff 00 before any fingerprint was written")
    ]
    assert audit.violations[0].micros == 6000  # the erase: the 7th message, 1 ms apart


def test_a_block_counter_gap_and_a_repeat_that_is_no_retry(tmp_path: Path) -> None:
    gap = [*good_flash()[:6], block(1, DATA[:8]), block(3, DATA[8:]), EXIT, CHECK]
    assert rules(tmp_path, gap) == [("DME", "block-sequence")]
    changed = [*good_flash()[:6], block(1, DATA[:8]), block(1, DATA[8:]), EXIT, CHECK]
    assert rules(tmp_path, changed) == [("DME", "block-repeat")]


def test_a_repeated_block_after_no_answer_is_a_retry_and_counters_wrap(tmp_path: Path) -> None:
    retry = [*good_flash()[:6], block(1, DATA[:8], answered=False), block(1, DATA[:8])]
    retry += [block(2, DATA[8:]), EXIT, CHECK]
    audit = audit_frame_logs([("crafted.asc", asc_log(tmp_path, retry))])
    assert audit.violations == []
    assert audit.ecus["DME"].segments[0].repeated_blocks == 1
    assert audit.ecus["DME"].segments[0].summary()["sha256"] == hashlib.sha256(DATA).hexdigest()
    # 257 blocks: 01 .. ff, then 00, 01
    blocks = [block((n + 1) & 0xFF, bytes([n & 0xFF])) for n in range(257)]
    assert rules(tmp_path, [*good_flash()[:6], *blocks, EXIT, CHECK]) == []


def test_transfer_without_exit_or_check_memory(tmp_path: Path) -> None:
    no_exit = [*good_flash()[:6], block(1, DATA), ERASE]
    assert ("DME", "transfer-exit-missing") in rules(tmp_path, no_exit)
    no_check = [*good_flash()[:6], block(1, DATA), EXIT, RESET]
    assert rules(tmp_path, no_check) == [("DME", "check-memory-missing")]


def test_violations_and_decoding_problems_are_bounded(tmp_path: Path) -> None:
    # every second block skips a counter: one violation per block, listed up to the bound
    blocks = [block((2 * n + 1) & 0xFF, b"\x00") for n in range(MAX_VIOLATIONS + 50)]
    text = asc_log(tmp_path, [*good_flash()[:6], *blocks, EXIT, CHECK])
    audit = audit_frame_logs([("crafted.asc", text)])
    assert len(audit.violations) == MAX_VIOLATIONS
    assert audit.violation_count == MAX_VIOLATIONS + 50 - 1  # the first block is in order
    # consecutive frames without a first frame, on classic CAN
    lines = [
        f" {n / 1000:.6f} 1  612             Tx   d 8 21 00 00 00 00 00 00 00" for n in range(150)
    ]
    log = DecodedLog()
    assert messages(parse_asc("\n".join(lines), log), log) == []
    assert (len(log.problems), log.problem_count) == (MAX_PROBLEMS, 150)
    # over a session's many logs, as many problems as violations are listed at the most
    many = audit_frame_logs([(f"{n}.asc", lines) for n in range(3)])
    assert len(many.decode_problems) == MAX_VIOLATIONS < 3 * MAX_PROBLEMS


@pytest.mark.parametrize(
    "line",
    [
        " 0.1 CANFD 1 Tx 612 1 0 8 8 00",  # shorter than its length
        " 0.1 1 6zz Tx d 2 01 02",  # not hex
        " 0.1 CANFD 1 Rx",  # cut off
    ],
)
def test_a_malformed_line_is_a_problem_not_an_error(line: str) -> None:
    log = DecodedLog()
    assert parse_asc(line, log) == []
    assert log.problem_count <= 1


def test_a_download_resumed_at_its_block_after_a_lost_link_continues_its_segment(
    tmp_path: Path,
) -> None:
    # the link is lost in the middle of the segment (no TransferExit), the tester comes back:
    # session, unlock, and a RequestDownload at the address where the data ended
    resumed = [*good_flash()[:6], block(1, DATA[:8]), block(2, DATA[8:12], answered=False)]
    resumed += [*SESSION, ("34 00 44 00 80 00 08 00 00 00 08", "74 20 00 0a"), block(1, DATA[8:])]
    audit = audit_frame_logs([("crafted.asc", asc_log(tmp_path, [*resumed, EXIT, CHECK]))])
    assert audit.violations == []
    segments = audit.ecus["DME"].segments
    assert [s.summary()["sha256"] for s in segments] == [hashlib.sha256(DATA).hexdigest()]
    # without the session change the open download was never ended
    still_open = [*good_flash()[:6], block(1, DATA[:8]), DOWNLOAD]
    assert ("DME", "transfer-exit-missing") in rules(tmp_path, still_open)
