"""The portal's own reading of a session's frame logs: ASC text to frames, frames to UDS
messages (ISO-TP over CAN FD and classic CAN, the DoIP records of the station's trace), and
messages to request/response exchanges per ECU.

It shares no code with the station (`domain` may not import `hw` or python-can, and the portal
does not load python-can at all): the formats are re-implemented from their documentation, so
that the protocol audit (`domain.protocol_audit`) judges what really went over the wire, not
what the station's code believes it sent. A log is untrusted input: nothing here raises on a
malformed line or frame; what cannot be decoded is counted in `DecodedLog.problems`.

The trace's conventions (documented in the station's trace module and the protocol sheet):

* CAN (11-bit, ISO 15765-2 normal addressing): request id ``0x600 | address``, response id
  ``0x680 | address``;
* DoIP: each diagnostic message is logged as CAN FD records with the 29-bit id
  ``source << 16 | target``, split in consecutive records, the first one with bitrate switch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# The vehicle's ECUs by their diagnostic address (the protocol's spec sheet).
ECU_NAMES = {0x10: "ZGW", 0x12: "DME", 0x18: "EGS", 0x40: "BDC", 0x60: "KOMBI"}
SUPPRESSED_TESTER_PRESENT = b"\x3e\x80"  # asks for no answer: never waits for one
MAX_PROBLEMS = 100  # the problems of a log kept by their text; the rest only counted


@dataclass(frozen=True)
class Frame:
    """One logged frame: microseconds since the log's start, id, direction, payload."""

    micros: int
    arbitration_id: int
    extended: bool
    fd: bool
    bitrate_switch: bool
    is_rx: bool
    data: bytes


@dataclass(frozen=True)
class Message:
    """One reassembled UDS message: when it completed, its ECU's address, its direction."""

    micros: int
    address: int
    is_rx: bool
    payload: bytes


@dataclass
class Exchange:
    """A request and its final response (ResponsePending answers counted, not kept)."""

    micros: int
    request: bytes
    response: bytes | None = None
    pending: int = 0

    @property
    def positive(self) -> bool:
        return self.response is not None and self.response[:1] == bytes([self.request[0] + 0x40])


@dataclass
class DecodedLog:
    frames: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0

    def problem(self, text: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)


def ecu_name(address: int) -> str:
    return ECU_NAMES.get(address, f"0x{address:04X}")


# --------------------------------------------------------------------------- ASC text


def parse_asc(text: str, log: DecodedLog | None = None) -> list[Frame]:
    """The CAN and CAN FD frames of an ASC file's text (`frames_of_asc`)."""
    return list(frames_of_asc(text.splitlines(), log))


def frames_of_asc(lines: Iterable[str], log: DecodedLog | None = None) -> Iterator[Frame]:
    """The CAN and CAN FD frames of an ASC file (hex base, as python-can writes it), read line
    by line (a log may be large: it is never held whole); lines that are no frame (header,
    events, comments) are skipped."""
    log = log if log is not None else DecodedLog()
    for number, line in enumerate(lines, 1):
        parts = line.split()
        if len(parts) < 5 or not _is_number(parts[0]):
            continue
        micros = round(float(parts[0]) * 1_000_000)
        try:
            frame = _fd_frame(micros, parts) if parts[1] == "CANFD" else _classic(micros, parts)
        except (ValueError, IndexError):
            log.problem(f"line {number}: not a frame the decoder reads")
            continue
        if frame is not None:
            log.frames += 1
            yield frame


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _arbitration(text: str) -> tuple[int, bool]:
    extended = text.endswith("x")
    return int(text.rstrip("x"), 16), extended


def _classic(micros: int, parts: list[str]) -> Frame | None:
    # <time> <channel> <id>[x] <Rx|Tx> d <dlc> <data bytes...>
    if parts[3] not in ("Rx", "Tx") or parts[4] != "d":
        return None
    arbitration_id, extended = _arbitration(parts[2])
    length = int(parts[5], 16)
    data = bytes(int(b, 16) for b in parts[6 : 6 + length])
    if len(data) != length:
        raise ValueError("short frame")
    return Frame(micros, arbitration_id, extended, False, False, parts[3] == "Rx", data)


def _fd_frame(micros: int, parts: list[str]) -> Frame | None:
    # <time> CANFD <channel> <Rx|Tx> <id>[x] [symbolic name] <brs> <esi> <dlc> <length> <data...>
    if parts[3] not in ("Rx", "Tx"):
        return None
    arbitration_id, extended = _arbitration(parts[4])
    rest = parts[5:]
    if not (rest[0] in ("0", "1") and rest[1] in ("0", "1")):
        rest = rest[1:]  # a symbolic name
    brs, length = rest[0] == "1", int(rest[3])
    data = bytes(int(b, 16) for b in rest[4 : 4 + length])
    if len(data) != length:
        raise ValueError("short frame")
    return Frame(micros, arbitration_id, extended, True, brs, parts[3] == "Rx", data)


# --------------------------------------------------------------------------- messages


def messages(frames: Iterable[Frame], log: DecodedLog | None = None) -> list[Message]:
    """UDS messages in the order they completed: DoIP records (29-bit ids) joined, ISO-TP
    (11-bit ids 0x600..0x6FF) reassembled; other frames are skipped."""
    log = log if log is not None else DecodedLog()
    out: list[Message] = []
    isotp: dict[tuple[int, bool], tuple[int, int, bytearray]] = {}
    doip_open: tuple[int, bool] | None = None  # the DoIP message the last record belonged to
    for frame in frames:
        if frame.extended:
            key = (frame.arbitration_id, frame.is_rx)
            source, target = frame.arbitration_id >> 16, frame.arbitration_id & 0xFFFF
            address = source if frame.is_rx else target
            if frame.bitrate_switch or doip_open != key or not out:
                out.append(Message(frame.micros, address, frame.is_rx, frame.data))
            else:
                last = out[-1]
                out[-1] = Message(last.micros, address, frame.is_rx, last.payload + frame.data)
            doip_open = key
            continue
        doip_open = None
        if not 0x600 <= frame.arbitration_id <= 0x6FF or not frame.data:
            continue
        _isotp_frame(frame, isotp, out, log)
    for (arbitration_id, _), _partial in isotp.items():
        log.problem(f"unfinished ISO-TP message on id 0x{arbitration_id:03X}")
    return out


def _isotp_frame(
    frame: Frame,
    partial: dict[tuple[int, bool], tuple[int, int, bytearray]],
    out: list[Message],
    log: DecodedLog,
) -> None:
    """Single frame (PCI 0x0, CAN FD escape: length in the 2nd byte), first frame (0x1, 12-bit
    length or 32-bit escape), consecutive frame (0x2); flow control (0x3) carries no data."""
    data, key = frame.data, (frame.arbitration_id, frame.is_rx)
    address = frame.arbitration_id & 0x7F
    kind = data[0] >> 4
    if kind == 0:
        length, body = data[0] & 0x0F, data[1:]
        if length == 0 and len(data) > 1:
            length, body = data[1], data[2:]
        if len(body) < length:
            log.problem(f"{frame.micros} µs: single frame shorter than its length")
            return
        out.append(Message(frame.micros, address, frame.is_rx, bytes(body[:length])))
    elif kind == 1 and len(data) >= 2:
        length, body = ((data[0] & 0x0F) << 8) | data[1], data[2:]
        if length == 0 and len(data) >= 6:
            length, body = int.from_bytes(data[2:6], "big"), data[6:]
        if key in partial:
            log.problem(f"{frame.micros} µs: first frame before the last message ended")
        partial[key] = (frame.micros, length, bytearray(body))
    elif kind == 2:
        if key not in partial:
            log.problem(f"{frame.micros} µs: consecutive frame without a first frame")
            return
        _, length, buffer = partial[key]
        buffer += data[1:]
        if len(buffer) >= length:
            out.append(Message(frame.micros, address, frame.is_rx, bytes(buffer[:length])))
            del partial[key]


def exchanges_per_ecu(
    decoded: Iterable[Message], log: DecodedLog | None = None
) -> dict[int, list[Exchange]]:
    """Each request paired with its final response, per ECU address, in order. A response
    pending (7F xx 78) is counted; a response without an open request is a problem."""
    log = log if log is not None else DecodedLog()
    per_ecu: dict[int, list[Exchange]] = {}
    for message in decoded:
        exchanges = per_ecu.setdefault(message.address, [])
        if not message.payload:
            continue
        if not message.is_rx:
            exchanges.append(Exchange(message.micros, message.payload))
            continue
        payload = message.payload
        sid = payload[1] if payload[:1] == b"\x7f" and len(payload) > 1 else payload[0] - 0x40
        waiting = next(
            (
                e
                for e in reversed(exchanges)
                if e.response is None
                and e.request[0] == sid
                and e.request != SUPPRESSED_TESTER_PRESENT
            ),
            None,
        )
        if waiting is None:
            log.problem(f"{message.micros} µs: {ecu_name(message.address)} answered unasked")
            continue
        if payload[0] == 0x7F and payload[2:3] == b"\x78":
            waiting.pending += 1
            continue
        waiting.response = payload
    return per_ecu
