"""An independent audit of a programming session's frame logs against ISO 14229's order, per
ECU, and what the logs show was done: identification before and after, the fingerprint
written, the SHA-256 of the bytes sent per segment, the check-memory results.

The rules (each violation names its ECU, the frame's time, the rule and what was seen):

* `security-outside-programming-session`: the programming level's seed (27 11) is asked only
  in the programming session (10 02);
* `locked`: erase, RequestDownload, TransferData, RequestTransferExit, check memory and the
  fingerprint write only in the programming session with security unlocked (27 12 answered);
* `fingerprint-missing`: the fingerprint (2E F15A, or F198/F199) written before the first
  erase or RequestDownload;
* `transfer-outside-download`, `block-sequence`, `block-repeat`: TransferData only between
  RequestDownload and RequestTransferExit, its block counters 01, 02, ... FF, 00, 01 in
  sequence, a counter repeated only as a retry (the earlier one unanswered, or the same data);
* `transfer-exit-missing`: a RequestDownload closed by RequestTransferExit before the next;
* `check-memory-missing`: every download's segment checked (31 01 02 02) before the next
  erase, download or reset, and before the log ends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from domain.flash_package import PROCESS_CLASS_BY_CODE
from domain.frame_log_decoder import (
    DecodedLog,
    Exchange,
    ecu_name,
    exchanges_per_ecu,
    frames_of_asc,
    messages,
)

IDENTIFICATION_DIDS = range(0xF180, 0xF19E)  # ISO 14229-1 C.1: F180..F19D as present
SOFTWARE_LIST_DID = 0xF101  # the software units the station reads (protocol sheet)
FINGERPRINT_DIDS = (0xF15A, 0xF198, 0xF199)  # OEM fingerprint, repair shop code, date
ERASE = b"\x31\x01\xff\x00"
CHECK_MEMORY = b"\x31\x01\x02\x02"
PROGRAMMING_SESSION = 0x02
PROGRAMMING_SEED = 0x11
# per session; more violations are counted (`violation_count`), not listed; as many decoding
# problems are listed at most
MAX_VIOLATIONS = 200


@dataclass(frozen=True)
class Violation:
    ecu: str
    micros: int  # the frame's time, from the start of its log file
    log: str  # the frame log's name
    rule: str
    seen: str


@dataclass
class Segment:
    address: int
    length: int  # as RequestDownload announced it
    data: bytearray = field(default_factory=bytearray)
    blocks: int = 0
    repeated_blocks: int = 0

    def summary(self) -> dict[str, object]:
        return {
            "address": f"0x{self.address:08X}",
            "length": self.length,
            "bytes_accepted": len(self.data),
            "blocks": self.blocks,
            "repeated_blocks": self.repeated_blocks,
            "sha256": hashlib.sha256(self.data).hexdigest(),
        }


@dataclass
class EcuFindings:
    name: str
    identification_before: dict[str, str] = field(default_factory=dict)
    identification_after: dict[str, str] = field(default_factory=dict)
    fingerprints: list[dict[str, object]] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    check_memory: list[dict[str, object]] = field(default_factory=list)
    # the protocol state, carried from one log file to the next (the ECU keeps it)
    session: int = 0x01
    unlocked: bool = False
    downloading: Segment | None = None
    last_counter: int = 0
    last_block: Exchange | None = None
    unchecked: Segment | None = None
    programmed: bool = False  # an erase or a download was seen
    erased_since_segment: bool = True  # an erase since the last RequestDownload


@dataclass
class Audit:
    ecus: dict[str, EcuFindings] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    violation_count: int = 0
    decode_problems: list[str] = field(default_factory=list)
    frames: int = 0

    @property
    def verdict(self) -> str:
        if self.frames == 0:
            return "no-frames"
        return "violations" if self.violation_count else "conforms"

    def flag(self, ecu: EcuFindings, exchange: Exchange, log: str, rule: str, seen: str) -> None:
        self.add(Violation(ecu.name, exchange.micros, log, rule, seen))

    def add(self, violation: Violation) -> None:
        self.violation_count += 1
        if len(self.violations) < MAX_VIOLATIONS:
            self.violations.append(violation)


def audit_frame_logs(logs: Iterable[tuple[str, str | Iterable[str]]]) -> Audit:
    """Audit the session's ASC logs (name, and text or lines), in the order they were
    written."""
    audit = Audit()
    for name, content in logs:
        decoded = DecodedLog()
        lines = content.splitlines() if isinstance(content, str) else content
        per_ecu = exchanges_per_ecu(messages(frames_of_asc(lines, decoded), decoded), decoded)
        audit.frames += decoded.frames
        room = MAX_VIOLATIONS - len(audit.decode_problems)  # over all the session's logs
        audit.decode_problems += [f"{name}: {p}" for p in decoded.problems][: max(room, 0)]
        for address, exchanges in per_ecu.items():
            findings = audit.ecus.setdefault(ecu_name(address), EcuFindings(ecu_name(address)))
            for exchange in exchanges:
                _judge(audit, findings, exchange, name)
    for findings in audit.ecus.values():
        if findings.downloading is not None:
            audit.add(Violation(findings.name, 0, "", "transfer-exit-missing", "the log ended"))
        if findings.unchecked is not None:
            audit.add(Violation(findings.name, 0, "", "check-memory-missing", "the log ended"))
    return audit


def _judge(audit: Audit, ecu: EcuFindings, exchange: Exchange, log: str) -> None:
    request, positive = exchange.request, exchange.positive
    sid = request[0]
    shown = request[:4].hex(" ")

    def flag(rule: str, seen: str) -> None:
        audit.flag(ecu, exchange, log, rule, seen)

    def needs_unlocked() -> None:
        if (ecu.session, ecu.unlocked) != (PROGRAMMING_SESSION, True):
            flag("locked", f"{shown} in session 0x{ecu.session:02X}, security locked")

    if sid == 0x10 and len(request) > 1:
        if positive:  # a session change ends an open download (ISO 14229-1 10.2)
            ecu.session, ecu.unlocked, ecu.downloading = request[1] & 0x7F, False, None
    elif sid == 0x27 and len(request) > 1:
        if request[1] == PROGRAMMING_SEED and ecu.session != PROGRAMMING_SESSION:
            flag("security-outside-programming-session", f"{shown} in session {ecu.session:#04x}")
        if request[1] == PROGRAMMING_SEED + 1 and positive:
            ecu.unlocked = True
    elif sid == 0x11:
        if positive:
            ecu.session, ecu.unlocked = 0x01, False
            _end_of_segment(audit, ecu, exchange, log)
    elif sid == 0x22 and positive and exchange.response is not None:
        _read(ecu, request, exchange.response)
    elif sid == 0x2E and len(request) >= 3:
        did = int.from_bytes(request[1:3], "big")
        if did in FINGERPRINT_DIDS:
            needs_unlocked()
            if positive:
                ecu.fingerprints.append(_fingerprint(did, request[3:]))
    elif request[:4] == ERASE or sid == 0x34:
        if not (sid == 0x34 and _resumes(ecu, request)):
            _end_of_segment(audit, ecu, exchange, log)
        elif ecu.downloading is not None:
            flag("transfer-exit-missing", shown)
        needs_unlocked()
        if not ecu.fingerprints and not ecu.programmed:
            flag("fingerprint-missing", f"{shown} before any fingerprint was written")
        ecu.programmed = True
        if sid != 0x34:
            ecu.erased_since_segment = True
        else:
            _request_download(audit, ecu, exchange, log)
    elif sid == 0x36:
        _transfer_data(audit, ecu, exchange, log)
    elif sid == 0x37:
        needs_unlocked()
        if ecu.downloading is None:
            flag("transfer-outside-download", "37 without a RequestDownload")
        ecu.downloading = None
    elif request[:4] == CHECK_MEMORY:
        needs_unlocked()
        ecu.unchecked = None
        ecu.check_memory.append(_check_memory(request, exchange.response))


def _end_of_segment(audit: Audit, ecu: EcuFindings, exchange: Exchange, log: str) -> None:
    if ecu.downloading is not None:
        audit.flag(ecu, exchange, log, "transfer-exit-missing", exchange.request[:4].hex(" "))
        ecu.downloading = None
    if ecu.unchecked is not None:
        seen = f"{exchange.request[:4].hex(' ')} before 31 01 02 02"
        audit.flag(ecu, exchange, log, "check-memory-missing", seen)
        ecu.unchecked = None


def _download_range(request: bytes) -> tuple[int, int] | None:
    """RequestDownload's memory address and size (34, data format, address and length format
    identifier, then the two)."""
    if len(request) < 3:
        return None
    address_bytes, length_bytes = request[2] & 0x0F, request[2] >> 4
    address = int.from_bytes(request[3 : 3 + address_bytes], "big")
    length = int.from_bytes(request[3 + address_bytes : 3 + address_bytes + length_bytes], "big")
    return address, length


def _resumes(ecu: EcuFindings, request: bytes) -> bool:
    """A RequestDownload that continues the last segment where its data ended (a flash resumed
    at a block after a fault: no erase between the two)."""
    found, previous = _download_range(request), ecu.segments[-1] if ecu.segments else None
    if found is None or previous is None or ecu.erased_since_segment:
        return False
    return previous.address + len(previous.data) == found[0]


def _request_download(audit: Audit, ecu: EcuFindings, exchange: Exchange, log: str) -> None:
    request = exchange.request
    found = _download_range(request)
    if found is None:
        audit.flag(ecu, exchange, log, "malformed", request.hex(" "))
        return
    address, length = found
    if not exchange.positive:  # refused (a resume's probe into checked memory): nothing sent
        return
    if _resumes(ecu, request):
        segment = ecu.segments[-1]
    else:
        segment = Segment(address, length)
        ecu.segments.append(segment)
    ecu.erased_since_segment = False
    ecu.downloading, ecu.last_counter, ecu.last_block = segment, 0, None
    ecu.unchecked = segment


def _transfer_data(audit: Audit, ecu: EcuFindings, exchange: Exchange, log: str) -> None:
    request, segment = exchange.request, ecu.downloading
    if segment is None or len(request) < 2:
        audit.flag(ecu, exchange, log, "transfer-outside-download", request[:2].hex(" "))
        return
    counter = request[1]
    # A segment's data is what the ECU accepted (answered positively), once per block: a
    # resumed download starts where that ends.
    if counter == ecu.last_counter and ecu.last_block is not None:
        earlier = ecu.last_block
        if earlier.positive and earlier.request != request:
            seen = f"block {counter:02x} sent again with other data after it was accepted"
            audit.flag(ecu, exchange, log, "block-repeat", seen)
        segment.repeated_blocks += 1
        if not earlier.positive:
            if exchange.positive:
                segment.data += request[2:]
            ecu.last_block = exchange
        return
    expected = (ecu.last_counter + 1) & 0xFF
    if counter != expected:
        seen = f"block {counter:02x} after {ecu.last_counter:02x} (expected {expected:02x})"
        audit.flag(ecu, exchange, log, "block-sequence", seen)
    if exchange.positive:
        segment.data += request[2:]
    segment.blocks += 1
    ecu.last_counter, ecu.last_block = counter, exchange


def _read(ecu: EcuFindings, request: bytes, response: bytes) -> None:
    if len(request) < 3 or response[1:3] != request[1:3]:
        return
    did = int.from_bytes(request[1:3], "big")
    if did not in IDENTIFICATION_DIDS and did != SOFTWARE_LIST_DID:
        return
    phase = ecu.identification_after if ecu.programmed else ecu.identification_before
    phase[f"{did:04X}"] = response[3:].hex()


def _fingerprint(did: int, data: bytes) -> dict[str, object]:
    written: dict[str, object] = {"did": f"{did:04X}", "data": data.hex()}
    if did == 0xF15A and len(data) == 16:
        try:
            written["date"] = date(2000 + data[0], data[1], data[2]).isoformat()
        except ValueError:
            written["date"] = None
        written["workshop_id"] = int.from_bytes(data[3:7], "big")
        written["station_id"] = data[7:16].rstrip(b"\x00").decode("ascii", "replace")
    return written


def _check_memory(request: bytes, response: bytes | None) -> dict[str, object]:
    record = request[4:]  # 0x44, address u32, length u32, expected CRC-32 u32
    result: dict[str, object] = {
        "address": f"0x{int.from_bytes(record[1:5], 'big'):08X}",
        "length": int.from_bytes(record[5:9], "big"),
        "expected_crc32": record[9:13].hex(),
    }
    if response is None or response[0] != 0x71:
        result["result"] = "no answer" if response is None else f"refused {response.hex(' ')}"
    else:
        status = response[4:]
        result["result"] = "correct" if status[:1] == b"\x00" else "wrong"
        result["crc32"] = status[1:5].hex()
    return result


def software_units(hex_data: str) -> list[str]:
    """The software list DID (F101) as unit names (`SWFL_0000A1B2_002_000_001`): u8 count,
    then per unit the process class code u8, SGBM id u32 and the version's three u8."""
    data = bytes.fromhex(hex_data)
    units = []
    for start in range(1, 1 + 8 * data[0] if data else 1, 8):
        unit = data[start : start + 8]
        if len(unit) < 8:
            break
        known = PROCESS_CLASS_BY_CODE.get(unit[0])
        process_class = known.value if known is not None else f"0x{unit[0]:02X}"
        sgbm = int.from_bytes(unit[1:5], "big")
        units.append(f"{process_class}_{sgbm:08X}_{unit[5]:03d}_{unit[6]:03d}_{unit[7]:03d}")
    return units
