"""The programming sequence of one ECU on a :class:`hw.station_link.StationLink`.

Reference for a station activity that programs one ECU (one heartbeating activity per ECU;
several ECUs of a DoIP car may run at once, one thread each, on the session's one link)::

    timing = link.read_programming_timing(pkg.ecu)   # None: use the package's figures
    prepare_ecu(link, pkg, fingerprint)          # hardware check, session, unlock, fingerprint
    for i, seg in enumerate(pkg.segments):       # from the heartbeat's segment on
        program_segment(link, pkg.ecu, seg, data[i],
                        start_block_index=hb.next_block_index, block_size=hb.block_size,
                        on_progress=heartbeat)
    finish_ecu(link, pkg.ecu)                    # dependency check + reset

Session and security are established once per ECU and link (``prepare_ecu``); a segment
sends no session change, seed or key while the link holds the ECU in the unlocked
programming session (see :class:`hw.station_link.StationLink`: reset, new link, S3 risk or a
0x7F/0x7E/0x33 answer make it enter and unlock again, and write the fingerprint again). A
retried ``program_segment`` with ``start_block_index > 0`` does not erase again. On a new link
(a retry after a crash) run ``prepare_ecu`` again before it: the ECU refuses erase and
download (NRC 0x22) in a programming session without a fingerprint, and a new link has written
none.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

from domain.flash_package import EcuPackage, SegmentSpec
from domain.programming import DownloadProgress
from hw.protocol import Fingerprint
from hw.station_link import StationLink
from hw.station_link.programming import DownloadResult


def ensure_programming(link: StationLink, ecu: str) -> None:
    """Programming session and security unlocked; no request at all while ``link`` already
    holds ``ecu`` so (:meth:`StationLink.ensure_programming`)."""
    link.ensure_programming(ecu)


def prepare_ecu(link: StationLink, pkg: EcuPackage, fingerprint: Fingerprint) -> None:
    link.expect_hardware(pkg.ecu, pkg.target_hardware_id)
    ensure_programming(link, pkg.ecu)
    link.write_fingerprint(pkg.ecu, fingerprint)


def program_segment(
    link: StationLink,
    ecu: str,
    segment: SegmentSpec,
    data: bytes,
    *,
    start_block_index: int = 0,
    block_size: int | None = None,
    on_progress: Callable[[DownloadProgress], None] | None = None,
) -> DownloadResult:
    """Erase (fresh start only), download, check memory of one segment."""
    ensure_programming(link, ecu)
    if start_block_index == 0:
        link.erase(ecu, segment.address, segment.length)
    result = link.download(
        ecu,
        segment.address,
        data,
        start_block_index=start_block_index,
        block_size=block_size,
        on_progress=on_progress,
    )
    link.check_memory(ecu, segment.address, segment.length, segment.crc32)
    return result


def finish_ecu(
    link: StationLink,
    ecu: str,
    timed: Callable[[str], AbstractContextManager[object]] = lambda _step: nullcontext(),
) -> None:
    """The dependency check, then the reset; `timed(step)` wraps each ("dependencies",
    "reset"), for a caller that reports how long each took."""
    with timed("dependencies"):
        link.check_dependencies(ecu)
    with timed("reset"):
        link.reset(ecu)


def flash_ecu(
    link: StationLink,
    pkg: EcuPackage,
    images: Sequence[bytes],
    *,
    fingerprint: Fingerprint,
    on_progress: Callable[[int, DownloadProgress], None] | None = None,
) -> list[DownloadResult]:
    """Whole sequence for one ECU in one call (tests, benchmarks, demos)."""
    prepare_ecu(link, pkg, fingerprint)
    results = []
    for index, (segment, data) in enumerate(zip(pkg.segments, images, strict=True)):
        callback = None if on_progress is None else functools.partial(on_progress, index)
        results.append(program_segment(link, pkg.ecu, segment, data, on_progress=callback))
    finish_ecu(link, pkg.ecu)
    return results
