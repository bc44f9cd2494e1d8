"""Writing software into an ECU over a station link: fingerprint, erase, the download of a
segment (RequestDownload, TransferData blocks, RequestTransferExit, resumable from a block), and
the memory and dependency checks. Each needs the unlocked programming session
(:mod:`hw.station_link.sessions`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from domain.programming import DownloadProgress
from hw import protocol as P
from hw.errors import (
    BusTimeout,
    DependencyCheckFailed,
    InvalidResponse,
    MemoryCheckFailed,
    ProgrammingFailure,
    RequestSequenceError,
    VehicleLinkError,
)
from hw.station_link.sessions import SESSION_NRCS, SessionControl

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DownloadResult:
    """What one :meth:`Programming.download` call sent."""

    bytes_sent: int  # bytes transferred by this call (resume: only the remainder)
    blocks_sent: int
    block_size: int
    block_retries: int  # blocks re-sent with the same counter after a timeout
    start_block_index: int


class Programming(SessionControl):
    """The programming requests of a station link."""

    def write_fingerprint(self, ecu: str, fingerprint: P.Fingerprint) -> None:
        """Write the tester's fingerprint (programming session + unlock required): the OEM
        fingerprint 0xF15A, then, where the ECU holds them, the tester serial 0xF198 (the
        fingerprint's station id) and the programming date 0xF199. An ECU refuses erase and
        RequestDownload in a programming session without it (NRC 0x22). The link remembers it
        and writes it again whenever it re-enters the programming session of ``ecu``."""
        with self._ecu_lock(ecu):
            client = self._client(ecu)
            payload = fingerprint.encode()
            self._programming_request(
                ecu, lambda: client.write_did(P.DID_FINGERPRINT, payload), repeat=True
            )
            self._fingerprints[ecu] = fingerprint
            self._write_tester_identity(ecu, fingerprint)

    def wrote_fingerprint(self, ecu: str) -> bool:
        """Whether this link wrote a fingerprint to ``ecu``: a new link (a retry after a
        crash) has not, and must before an erase or download."""
        return ecu in self._fingerprints

    def erase(self, ecu: str, address: int, length: int) -> None:
        client = self._client(ecu)
        option = P.memory_option(address, length)
        status = self._programming_request(
            ecu, lambda: client.start_routine(P.ROUTINE_ERASE_MEMORY, option), repeat=True
        )
        if not status or status[0] != 0:
            raise ProgrammingFailure(
                f"erase 0x{address:08X}+{length} failed (status {status.hex()})", ecu=ecu
            )

    def download(
        self,
        ecu: str,
        address: int,
        data: bytes,
        *,
        start_block_index: int = 0,
        block_size: int | None = None,
        on_progress: Callable[[DownloadProgress], None] | None = None,
    ) -> DownloadResult:
        """RequestDownload + TransferData blocks + RequestTransferExit for one segment.

        Resume: pass ``start_block_index`` (= last ``DownloadProgress.next_block_index``)
        and ``block_size`` (= ``DownloadProgress.block_size``; optional within the same
        link). Download is then re-requested for the remaining range only; the first
        block re-sent is the one whose confirmation was missing, and the ECU does not
        program bytes that are already programmed. A block that times out is re-sent with
        the same block sequence counter (the ECU acknowledges a repeat without writing).
        """
        if start_block_index < 0:
            raise ValueError("start_block_index must be >= 0")
        client = self._client(ecu)
        total = len(data)
        offset = 0
        if start_block_index:
            block_size = block_size or self._block_sizes.get(ecu)
            if not block_size:
                raise ValueError(
                    "resuming needs block_size (store DownloadProgress.block_size with the "
                    "heartbeat)"
                )
            offset = start_block_index * block_size
            if offset > total:
                raise ValueError(f"start block {start_block_index} is beyond the data")
            if offset == total:
                with contextlib.suppress(RequestSequenceError):
                    self._programming_request(ecu, client.transfer_exit, repeat=False)
                return DownloadResult(0, 0, block_size, 0, start_block_index)
        max_length = self._programming_request(
            ecu, lambda: client.request_download(address + offset, total - offset), repeat=True
        )
        ecu_block = max_length - 2
        if ecu_block <= 0:
            raise InvalidResponse(f"maxNumberOfBlockLength {max_length} too small", ecu=ecu)
        if block_size is None:
            block_size = ecu_block
        elif block_size > ecu_block:
            raise InvalidResponse(
                f"ECU now accepts {ecu_block}-byte blocks, resume state has {block_size}",
                ecu=ecu,
            )
        self._block_sizes[ecu] = block_size
        view = memoryview(data)
        pos = offset
        index = start_block_index
        counter = 1
        sent = retries = 0
        retry_budget = self.timeouts.block_retries
        try:
            while pos < total:
                chunk = bytes(view[pos : pos + block_size])
                attempt = 0
                while True:
                    try:
                        client.transfer_data(counter, chunk)
                        break
                    except BusTimeout:
                        if attempt >= retry_budget:
                            raise
                        attempt += 1
                        retries += 1
                        log.info(
                            "%s: block %d timed out, re-sending (counter %d)", ecu, index, counter
                        )
                pos += len(chunk)
                index += 1
                sent += 1
                counter = (counter + 1) & 0xFF
                if on_progress is not None:
                    on_progress(
                        DownloadProgress(
                            bytes_confirmed=pos,
                            total_bytes=total,
                            next_block_index=index,
                            block_size=block_size,
                        )
                    )
            client.transfer_exit()
        except VehicleLinkError as exc:
            if exc.nrc in SESSION_NRCS:  # the ECU lost session/security and the download:
                self._forget(ecu)  # no repeat here, the caller resumes with a new download
            raise
        return DownloadResult(total - offset, sent, block_size, retries, start_block_index)

    def check_memory(self, ecu: str, address: int, length: int, expected_crc: int) -> int:
        """Run check memory; returns the ECU's CRC32 or raises :class:`MemoryCheckFailed`."""
        client = self._client(ecu)
        option = P.memory_option(address, length, expected_crc)
        status = self._programming_request(
            ecu, lambda: client.start_routine(P.ROUTINE_CHECK_MEMORY, option), repeat=True
        )
        if len(status) < 5:
            raise InvalidResponse(f"check memory status {status.hex()}", ecu=ecu)
        crc = int.from_bytes(status[1:5], "big")
        if status[0] != 0:
            raise MemoryCheckFailed(
                f"segment 0x{address:08X}+{length}: expected CRC32 0x{expected_crc:08X}, "
                f"ECU computed 0x{crc:08X}",
                ecu=ecu,
            )
        return crc

    def check_dependencies(self, ecu: str) -> None:
        client = self._client(ecu)
        status = self._programming_request(
            ecu, lambda: client.start_routine(P.ROUTINE_CHECK_DEPENDENCIES), repeat=True
        )
        if not status or status[0] != 0:
            raise DependencyCheckFailed(
                f"programming dependencies not fulfilled (status {status.hex()})", ecu=ecu
            )
