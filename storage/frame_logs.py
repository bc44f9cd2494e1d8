"""The portal's frame logs: the ASC files of each programming session, one folder per session
under AOS_DATA_DIR/traces.

A station worker on the portal's machine writes them there itself; one on another machine hands
them in over the API, one file at a time (`receive`). What a station hands in is bounded: the
number of files of a session and the bytes they hold together. A file arrives in a hidden
partial file and is renamed into place when it is whole, so a reader sees the old file or the
new one, never a part. Reading (`read_joined`) streams the files one after another in chunks,
so a log of any size costs the reader a chunk of memory, not the log.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

from domain.programming import TraceHasTooManyFiles, TraceTooLarge, TraceUploadInProgress

FRAME_LOG_SUFFIX = ".asc"
PARTIAL_SUFFIX = ".part"
LOCK_NAME = ".receiving"  # held while one file of the session is handed in
READ_CHUNK_BYTES = 256 * 1024
WRITE_CHUNK_BYTES = 1024 * 1024  # gathered before a write: fewer hops to a worker thread


class FrameLogUpload:
    """One file being handed in: written to a hidden partial file, counted against the room
    the session's bound leaves. `write` its chunks, then `commit`; on any failure `discard`."""

    def __init__(self, folder: Path, name: str, room: int, lock: IO[str]) -> None:
        self.target = folder / name
        self.partial = folder / f".{name}{PARTIAL_SUFFIX}"
        self.room = room  # bytes this file may hold: the session's bound less its other files
        self.size = 0
        self._lock = lock
        self._pending = bytearray()
        self._out = self.partial.open("wb")

    async def write(self, chunk: bytes) -> None:
        """Add `chunk`, or refuse (413 `trace-too-large`) once the file would pass its room."""
        self.size += len(chunk)
        if self.size > self.room:
            raise self.too_large()
        self._pending += chunk
        if len(self._pending) >= WRITE_CHUNK_BYTES:
            await asyncio.to_thread(self._out.write, self._pending)  # off the event loop
            self._pending = bytearray()

    def too_large(self) -> TraceTooLarge:
        return TraceTooLarge(
            f"this file may hold at most {self.room} bytes: the session's frame log files "
            "hold at most AOS_TRACE_MAX_SESSION_BYTES together",
            field="file_name",
            max_bytes=self.room,
        )

    def commit(self) -> None:
        """The file, whole, in place of any earlier one of its name (blocking: run it in a
        thread)."""
        try:
            self._out.write(self._pending)
            self._out.flush()
            os.fsync(self._out.fileno())  # on disk before it takes the old file's place
            self._out.close()
            self.partial.replace(self.target)
        except BaseException:
            self.discard()
            raise
        self._release()

    def discard(self) -> None:
        """Nothing of this file stays; an earlier one of its name is kept."""
        self._out.close()
        self.partial.unlink(missing_ok=True)
        self._release()

    def _release(self) -> None:
        self._lock.close()  # closing the file drops its flock


class FrameLogStore:
    def __init__(self, root: Path, *, max_files: int, max_bytes: int) -> None:
        self.root = root
        self.max_files = max_files
        self.max_bytes = max_bytes

    def files(self, session_id: str) -> list[Path]:
        """The session's log files in the order they were written (their names are times)."""
        folder = self.root / session_id
        if not folder.is_dir():
            return []
        return sorted(path for path in folder.glob(f"*{FRAME_LOG_SUFFIX}") if path.is_file())

    @contextlib.asynccontextmanager
    async def receive(self, session_id: str, name: str) -> AsyncIterator[FrameLogUpload]:
        """Take in the file `name` of a session: yields the upload to write its chunks to. On a
        clean exit the file replaces any earlier one of that name whole; otherwise nothing of
        it stays. One file of a session at a time (else 409 `trace-upload-in-progress`), so
        two uploads cannot each fill the room that is left."""
        upload = await asyncio.to_thread(self._begin, session_id, name)
        try:
            yield upload
        except BaseException:  # refused, or the station went away mid-upload
            upload.discard()
            raise
        await asyncio.to_thread(upload.commit)

    def _begin(self, session_id: str, name: str) -> FrameLogUpload:
        folder = self.root / session_id
        folder.mkdir(parents=True, exist_ok=True)
        # flock belongs to an open file: it keeps apart two requests of one process too, and
        # the API's replicas on one machine (or on a shared disk that supports it).
        lock = (folder / LOCK_NAME).open("a")
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise TraceUploadInProgress(
                    "another file of this session's frame log is being handed in; "
                    "hand this one in after it",
                    field="session_id",
                ) from None
            for stale in folder.glob(f".*{PARTIAL_SUFFIX}"):  # left by a crashed process
                stale.unlink(missing_ok=True)
            others = [path for path in self.files(session_id) if path.name != name]
            if len(others) >= self.max_files:
                raise TraceHasTooManyFiles(
                    f"the session already has {len(others)} frame log files, as many as "
                    "the portal accepts (AOS_TRACE_MAX_FILES_PER_SESSION)",
                    field="file_name",
                    max_files=self.max_files,
                )
            room = self.max_bytes - sum(path.stat().st_size for path in others)
            return FrameLogUpload(folder, name, max(room, 0), lock)
        except BaseException:
            lock.close()
            raise

    def read_joined(self, files: list[Path]) -> Iterator[bytes]:
        """The files one after another, each under a `// <name>` line, in chunks of UTF-8
        (bytes that are not are replaced, as a text reader would)."""
        for path in files:
            yield f"// {path.name}\n".encode()
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            with path.open("rb") as log:
                while chunk := log.read(READ_CHUNK_BYTES):
                    yield decoder.decode(chunk).encode()
            yield decoder.decode(b"", final=True).encode()
