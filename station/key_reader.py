"""The station's KeyReader: reads the key lying in it (pyusb), for the KeyReadWorkflow.

A block that does not parse is refused with its reason (`key-data-corrupt`, non-retryable); a
reader that is busy, timed out or unplugged mid-read is retried; no key or no reader is a
refusal (`key-read-failed`) that a person has to fix.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.exceptions import ApplicationError

from contracts import key_reads as contract
from contracts.errors import refused_in_activity
from contracts.key_reads import ReadKeyInput, StationKeyRead
from contracts.stubs import implements
from domain.key_data_block import CorruptKeyData
from domain.service_history import KeyDataCorrupt, KeyReadFailedProblem
from hw.keyreader import KeyReaderError, read_key


class KeyReaderActivities:
    """The station's KeyReader; `backend` is the pyusb backend (None: libusb as found)."""

    def __init__(self, station_id: str, backend: Any = None) -> None:
        self.station_id = station_id
        self.backend = backend

    @implements(contract.read_key_at_station)
    async def read_key_at_station(self, request: ReadKeyInput) -> StationKeyRead:
        """Read the key in the station's KeyReader (blocking USB I/O in a thread)."""
        try:
            read = await asyncio.to_thread(read_key, self.backend, request.reader_serial)
        except CorruptKeyData as error:
            raise refused_in_activity(
                KeyDataCorrupt(
                    f"the key data was refused: {error.message}",
                    reason=str(error.reason),
                    offset=error.offset,
                )
            ) from None
        except KeyReaderError as error:
            if error.transient:
                raise ApplicationError(error.message, error.details(), type=error.code) from error
            raise refused_in_activity(
                KeyReadFailedProblem(error.message, reason=error.reason)
            ) from None
        return StationKeyRead(
            station_id=self.station_id, key=read.key, reader=read.reader.label, read_at=read.read_at
        )
