"""How long an ECU takes to program, from the timing figures the ECU reports (pure).

* :class:`ProgrammingTiming` is an ECU's own figures: erase milliseconds per KiB, write
  milliseconds per KiB, milliseconds per check-memory routine, milliseconds to restart after
  a reset. A station reads them with ``StationLink.read_programming_timing(ecu)`` (vendor
  DID 0xF1A0, see :mod:`hw.protocol`; ``None`` when the ECU does not report them); the
  simulated car's timing model is configured with the same type.
* :func:`estimate_programming_seconds` turns the figures and the sizes of the segments to
  write into the time the ECU needs: every segment erased, written and checked, one reset.
  The time the bytes spend on the wire is added when the link's throughput is given.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

KIB = 1024


class ProgrammingTiming(BaseModel):
    """What an ECU says it needs to erase, write, check and restart (milliseconds)."""

    model_config = ConfigDict(frozen=True)

    erase_ms_per_kib: float = Field(ge=0)
    write_ms_per_kib: float = Field(ge=0)  # programming the flash cells, after the transfer
    check_ms: float = Field(ge=0)  # one check-memory routine (CRC over a segment)
    reset_ms: float = Field(ge=0)  # silent after ECUReset until it answers again

    def scaled(self, factor: float) -> ProgrammingTiming:
        """Every figure times ``factor`` (the simulator runs faster than a real car)."""
        if factor < 0:
            raise ValueError("timing scale must be >= 0")
        return ProgrammingTiming(
            erase_ms_per_kib=self.erase_ms_per_kib * factor,
            write_ms_per_kib=self.write_ms_per_kib * factor,
            check_ms=self.check_ms * factor,
            reset_ms=self.reset_ms * factor,
        )


def estimate_programming_seconds(
    timing: ProgrammingTiming,
    segment_lengths: Sequence[int],
    *,
    transfer_bytes_per_second: float | None = None,
) -> float:
    """Seconds to program segments of ``segment_lengths`` bytes into an ECU with ``timing``:
    per segment an erase, the writes and a check, then one reset. With
    ``transfer_bytes_per_second`` (the link's throughput) the transfer itself is added: an ECU
    answers a block only after writing it, so wire time and write time add up."""
    if any(length < 0 for length in segment_lengths):
        raise ValueError("segment lengths must be >= 0")
    kib = sum(segment_lengths) / KIB
    ms = (
        kib * (timing.erase_ms_per_kib + timing.write_ms_per_kib)
        + timing.check_ms * len(segment_lengths)
        + timing.reset_ms
    )
    seconds = ms / 1000
    if transfer_bytes_per_second is not None:
        if transfer_bytes_per_second <= 0:
            raise ValueError("transfer_bytes_per_second must be > 0")
        seconds += sum(segment_lengths) / transfer_bytes_per_second
    return seconds
