"""Per-session frame trace (python-can ASC or BLF file, chosen by suffix).

Every CAN frame a station link sends or receives is recorded; on DoIP every diagnostic
message payload is recorded as CAN FD records:

* arbitration id = ``source << 16 | target`` logical addresses as a 29-bit id (e.g.
  0x0E000012 tester -> DME, 0x00120E00 DME -> tester; the source is masked to 13 bits,
  which every ECU/tester address 0x0001..0x0FFF fits); ``is_rx`` is True for what the
  tester received;
* payloads are split into consecutive records of valid CAN FD lengths (64 bytes while
  more than 64 remain, then the largest valid lengths); the first record of each payload
  has ``bitrate_switch=True`` so :func:`diagnostic_payloads` can reassemble them.

Cost on the hot path is one ``struct.pack`` and a ``bytearray`` append per frame. By
default the python-can writer runs in a child process (``mode="process"``) fed through a
pipe, so formatting does not compete for the link's GIL, and the trace is finished
properly even when the station process is killed (the child sees end-of-file).
``mode="inline"`` writes in-process instead (flushed from a background thread).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import os
import select
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Literal

import can
from can.util import len2dlc

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".asc", ".blf")

# record: timestamp f64, arbitration id u32, flags u8, length u32, then data
_HDR = struct.Struct("<dIBI")
_RX = 0x01
_FD = 0x02
_EXT = 0x04
_BRS = 0x08
_DIAG = 0x10
_ESI = 0x20

_FD_SIZES = (64, 48, 32, 24, 20, 16, 12, 8, 7, 6, 5, 4, 3, 2, 1)


def _split_fd(payload: bytes) -> Iterator[bytes]:
    if not payload:
        yield b""
        return
    pos = 0
    n = len(payload)
    while pos < n:
        rest = n - pos
        size = next(s for s in _FD_SIZES if s <= rest)
        yield payload[pos : pos + size]
        pos += size


def _decode_records(buf: bytearray) -> tuple[list[tuple[float, int, int, bytes]], int]:
    """The complete records in ``buf`` (timestamp, arbitration id, flags, data) and the
    number of bytes consumed."""
    out: list[tuple[float, int, int, bytes]] = []
    pos = 0
    size = len(buf)
    hdr = _HDR.size
    while size - pos >= hdr:
        ts, arb, flags, length = _HDR.unpack_from(buf, pos)
        if size - pos - hdr < length:
            break
        out.append((ts, arb, flags, bytes(buf[pos + hdr : pos + hdr + length])))
        pos += hdr + length
    return out, pos


def _messages(ts: float, arb: int, flags: int, data: bytes) -> Iterator[can.Message]:
    """A record as python-can messages: a DoIP diagnostic message as the CAN FD frames of up
    to 64 bytes it is logged as (the first with the bit rate switch), a CAN frame as itself."""
    is_rx = bool(flags & _RX)
    if flags & _DIAG:
        for i, chunk in enumerate(_split_fd(data)):
            yield can.Message(
                timestamp=ts,
                arbitration_id=arb,
                is_extended_id=True,
                is_fd=True,
                bitrate_switch=(i == 0),
                is_rx=is_rx,
                data=chunk,
                dlc=len(chunk),
                check=False,
            )
    else:
        yield can.Message(
            timestamp=ts,
            arbitration_id=arb,
            is_extended_id=bool(flags & _EXT),
            is_fd=bool(flags & _FD),
            bitrate_switch=bool(flags & _BRS),
            error_state_indicator=bool(flags & _ESI),
            is_rx=is_rx,
            data=data,
            dlc=len(data),
            check=False,
        )


class _DiagnosticAscWriter(can.ASCWriter):
    """python-can's ASC writer, with a DoIP diagnostic message written straight from its
    bytes: the lines `on_message_received` writes for each of its CAN FD frames, without a
    `can.Message` and a 17-field format per frame. The writer is what a frame log costs (a
    4 KiB TransferData block is 64 frames); this makes it about four times cheaper, so on a
    busy station it keeps up instead of filling the pipe the link waits on."""

    # FORMAT_MESSAGE_FD's fields after the data, all zero but the flags (CAN FD, bit rate
    # switch), as python-can writes them for the frames this log holds
    _TAIL = {
        brs: f"{0:>8} {0:>4} {(1 << 12) | (brs << 13):>8X} {0:>8} {0:>8} {0:>8} {0:>8} {0:>8}"
        for brs in (0, 1)
    }

    def write_diagnostic(self, ts: float, arb: int, is_rx: bool, data: bytes) -> None:
        arb_id = f"{arb:X}x"
        head = f"CANFD {self.channel:>3} {'Rx' if is_rx else 'Tx':<4} {arb_id:>8}  {'':>32}"
        frames = []
        for i, chunk in enumerate(_split_fd(data)):
            brs = 1 if i == 0 else 0  # the first frame of a message switches the bit rate
            frames.append(
                f"{head} {brs} 0 {len2dlc(len(chunk)):x} {len(chunk):>2} "
                f"{chunk.hex(' ').upper()} {self._TAIL[brs]}"
            )
        if not self.header_written:  # the first frame of the log writes its header too
            self.log_event(frames.pop(0), ts)
        # the frames share the message's time; `log_event`'s stamp, in one write
        stamp = f"{ts - self.started if ts >= self.started else ts: 9.6f} "
        self.file.write("".join(f"{stamp}{frame}\n" for frame in frames))


def _open_writer(path: Path) -> can.io.generic.MessageWriter:
    suffix = path.suffix.lower()
    if suffix == ".asc":
        return _DiagnosticAscWriter(path)
    if suffix == ".blf":
        return can.BLFWriter(path, compression_level=1)  # fastest zlib level
    raise ValueError(f"trace file {path}: suffix must be one of {', '.join(SUPPORTED_SUFFIXES)}")


class _InlineSink:
    def __init__(self, path: Path) -> None:
        self._writer = _open_writer(path)
        # an ASC log writes diagnostic messages itself; a BLF one gets python-can messages
        self._diagnostic = (
            self._writer.write_diagnostic
            if isinstance(self._writer, _DiagnosticAscWriter)
            else None
        )
        self._pending = bytearray()

    def write(self, data: bytes | bytearray) -> None:
        self._pending += data
        records, used = _decode_records(self._pending)
        del self._pending[:used]
        for ts, arb, flags, payload in records:
            if flags & _DIAG and self._diagnostic is not None:
                self._diagnostic(ts, arb, bool(flags & _RX), payload)
                continue
            for msg in _messages(ts, arb, flags, payload):
                self._writer.on_message_received(msg)

    def close(self) -> None:
        self._writer.stop()


class _ProcessSink:
    def __init__(self, path: Path, startup_timeout: float = 30.0) -> None:
        root = str(Path(__file__).resolve().parent.parent)
        code = (
            "import sys; sys.path.insert(0, sys.argv[1]); "
            "from hw.trace import _writer_main; _writer_main(sys.argv[2])"
        )
        # stderr goes to a file: a pipe nobody drains could block the writer
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in _errors)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", code, root, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            close_fds=True,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdin: IO[bytes] = self._proc.stdin
        with contextlib.suppress(OSError, AttributeError):  # Linux: room for bursts
            fcntl.fcntl(self._stdin.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
        # wait until the writer has imported python-can and created the file: a trace that
        # cannot be written fails the session at open, and the writer's start-up does not
        # compete with the first transfer
        ready, _, _ = select.select([self._proc.stdout], [], [], startup_timeout)
        line = self._proc.stdout.readline() if ready else b""
        if line != b"ready\n":
            self._proc.kill()
            self._proc.communicate()
            raise OSError(f"trace writer for {path} did not start: {self._errors() or 'timeout'}")

    def _errors(self) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace").strip()
        self._stderr.close()
        return text[-500:]

    def write(self, data: bytes | bytearray) -> None:
        self._stdin.write(data)
        self._stdin.flush()

    def close(self) -> None:
        # The writer formats in idle time only; what it has not written yet now delays the end
        # of the session, so it finishes at normal priority (on a busy station it could wait
        # behind every other session's work).
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setscheduler(self._proc.pid, os.SCHED_OTHER, os.sched_param(0))
        try:
            self._proc.communicate(timeout=60)  # closes stdin: the child sees EOF
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
        errors = self._errors()
        if self._proc.returncode != 0:
            raise RuntimeError(f"trace writer exited with {self._proc.returncode}: {errors}")


def _writer_main(path: str) -> None:
    """Child process: read records from stdin until EOF, write them with python-can."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # finish on EOF, not on Ctrl-C of the group
    # format in idle CPU time only; the pipe (1 MiB) buffers bursts
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.nice(19)
    sink = _InlineSink(Path(path))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    stream = sys.stdin.buffer
    assert isinstance(stream, io.BufferedReader)
    try:
        while True:
            chunk = stream.read1(1 << 16)
            if not chunk:
                break
            sink.write(chunk)
    finally:
        sink.close()


class FrameTrace:
    """Frame log of one station link session.

    Thread-safe. ``log_can`` / ``log_diagnostic`` are the hot path; ``close`` flushes and
    finishes the file (idempotent). Several threads may log at once (the lanes of a DoIP link,
    its reader, the keep-alive): each record is appended whole, and timestamps never go back
    (a record stamped before another thread's but appended after it gets that one's time). Failures of the trace writer never break the link:
    they are logged and reported by :attr:`error`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        mode: Literal["process", "inline"] = "process",
        flush_interval: float = 0.25,
        batch_bytes: int = 256 * 1024,
    ) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise ValueError(
                f"trace file {self.path}: suffix must be one of {', '.join(SUPPORTED_SUFFIXES)}"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records = 0
        self.error: str | None = None
        self._batch_bytes = batch_bytes
        self._lock = threading.Lock()  # guards _buf
        self._write_lock = threading.Lock()  # orders batches to the sink
        self._buf = bytearray()
        self._last_stamp = 0.0
        self._closed = False
        self._sink: _InlineSink | _ProcessSink = (
            _ProcessSink(self.path) if mode == "process" else _InlineSink(self.path)
        )
        self._stop = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_loop, args=(flush_interval,), name="trace-flush", daemon=True
        )
        self._flusher.start()

    # hot path -------------------------------------------------------------------------

    def log_can(self, msg: can.Message, *, is_rx: bool) -> None:
        """Record one CAN frame (``is_rx``: received by the tester side of this link)."""
        flags = (
            (_RX if is_rx else 0)
            | (_FD if msg.is_fd else 0)
            | (_EXT if msg.is_extended_id else 0)
            | (_BRS if msg.bitrate_switch else 0)
            | (_ESI if msg.error_state_indicator else 0)
        )
        data = msg.data
        with self._lock:
            rec = _HDR.pack(self._stamp(msg.timestamp), msg.arbitration_id, flags, len(data))
            buf = self._buf
            buf += rec
            buf += data
            self.records += 1
            full = len(buf) >= self._batch_bytes
        if full:
            self.flush()

    def log_diagnostic(
        self,
        source: int,
        target: int,
        payload: bytes,
        *,
        is_rx: bool,
        timestamp: float | None = None,
    ) -> None:
        """Record one DoIP diagnostic message (logical addresses ``source`` -> ``target``)."""
        arbitration_id = ((source & 0x1FFF) << 16) | (target & 0xFFFF)
        flags = _DIAG | (_RX if is_rx else 0)
        with self._lock:
            rec = _HDR.pack(self._stamp(timestamp), arbitration_id, flags, len(payload))
            buf = self._buf
            buf += rec
            buf += payload
            self.records += 1
            full = len(buf) >= self._batch_bytes
        if full:
            self.flush()

    def _stamp(self, timestamp: float | None) -> float:
        """The record's time (now if not given), never before the previous record's; call
        holding ``_lock``."""
        stamp = max(timestamp or time.time(), self._last_stamp)
        self._last_stamp = stamp
        return stamp

    # housekeeping ------------------------------------------------------------------------

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                if not self._buf:
                    return
                data, self._buf = self._buf, bytearray()
            if self.error is not None or self._closed:
                return
            try:
                self._sink.write(data)
            except Exception as exc:  # never break the flash because of the trace
                self.error = f"trace writer failed: {exc!r}"
                log.error("%s (%s)", self.error, self.path)

    def _flush_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._stop.set()
        self._flusher.join(timeout=5)
        self.flush()
        with self._write_lock:
            self._closed = True
            try:
                self._sink.close()
            except Exception as exc:
                self.error = self.error or f"trace writer failed: {exc!r}"
                log.error("%s (%s)", self.error, self.path)

    def __enter__(self) -> FrameTrace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_trace(path: str | os.PathLike[str]) -> list[can.Message]:
    """All messages of a trace file (via ``can.LogReader``)."""
    with can.LogReader(path) as reader:
        return list(reader)


def diagnostic_payloads(
    messages: Iterable[can.Message],
) -> list[tuple[int, int, bool, bytes]]:
    """Reassemble DoIP diagnostic messages from trace records:
    (source address, target address, is_rx, payload)."""
    out: list[tuple[int, int, bool, bytes]] = []
    current: tuple[int, bool] | None = None
    parts: list[bytes] = []

    def emit() -> None:
        if current is not None:
            arb, rx = current
            out.append((arb >> 16, arb & 0xFFFF, rx, b"".join(parts)))

    for msg in messages:
        key = (msg.arbitration_id, bool(msg.is_rx))
        if msg.bitrate_switch or key != current:
            emit()
            current, parts = key, []
        parts.append(bytes(msg.data))
    emit()
    return out
