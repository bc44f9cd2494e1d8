"""StationLink: the one object a station worker uses to talk to the car.

    with open_station_link("doip://192.168.0.10:13400", trace_path=Path("s.blf")) as link:
        vin = link.read_vin()
        ...

Every method either returns a decoded value or raises a :class:`hw.errors.VehicleLinkError`
subclass (``code`` = Temporal error type, ``transient`` = retryable). Methods are
blocking; call them from a (thread-pool) Temporal activity. A keep-alive thread sends
TesterPresent (suppress positive response) to every ECU left in a non-default session that has
been idle for ``LinkTimeouts.keepalive`` seconds.

Several threads may share one link, one thread per ECU ("lanes"): every method that names an
ECU may run at the same time as those of other threads for *other* ECUs. Over DoIP their
requests are on the wire at once (each ECU has its own lock, one reader thread hands each ECU
its own answers); over CAN they take turns, one request on the bus at a time. Requests to the
same ECU from two threads are serialised per request, but a multi-request step (a download, a
reset and its wait) is not atomic against another thread on the same ECU: give each ECU one
lane. ``close`` ends every lane's link; call it when all lanes are done.

Before an erase or download the ECU wants a fingerprint written in its current programming
session (NRC 0x22 otherwise): ``write_fingerprint`` once per ECU and link; the link writes it
again whenever it has to re-enter the session. A new link (a retry after a crash) has written
none: write it again before resuming.

Programming session and security access follow the rules :mod:`hw.station_link.sessions`
states. The link is put together from its concerns: :mod:`~hw.station_link.transports` (CAN, DoIP,
simulated car), :mod:`~hw.station_link.base` (one UDS client per ECU, the lock, keep-alive,
close), :mod:`~hw.station_link.sessions` (session and security access, what the link holds,
resets), :mod:`~hw.station_link.diagnostics` (identification reads, service items) and
:mod:`~hw.station_link.programming` (fingerprint, erase, download, checks).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import can

from hw.errors import LinkDisconnected
from hw.station_link.diagnostics import Diagnostics
from hw.station_link.programming import Programming
from hw.station_link.transports import open_transport
from hw.trace import FrameTrace
from hw.uds_client import LinkTimeouts
from hw.vehicle_url import parse_vehicle_url

__all__ = ["StationLink", "connect_station_link", "open_station_link"]


class StationLink(Diagnostics, Programming):
    """Tester-side vehicle link (see the package doc). Create with :func:`open_station_link`."""


def connect_station_link(
    vehicle_url: str,
    trace_path: Path | None = None,
    *,
    timeouts: LinkTimeouts | None = None,
    trace_mode: Literal["process", "inline"] = "process",
) -> StationLink:
    """Open the link to the vehicle at ``vehicle_url``; the caller must ``close()`` it.

    ``sim://`` starts (or, with ``?name=``, reuses) an in-process simulated vehicle and
    connects over a fresh virtual CAN channel; ``can://`` opens python-can + can-isotp;
    ``doip://`` connects with doipclient. ``trace_path`` (``.asc``/``.blf``) records every
    frame of the session; a trace that cannot be written fails here (``OSError``).
    Opening failures raise :class:`hw.errors.LinkDisconnected`; a malformed URL raises
    ``ValueError``.
    """
    url = parse_vehicle_url(vehicle_url)
    timeouts = timeouts or LinkTimeouts()
    trace = FrameTrace(trace_path, mode=trace_mode) if trace_path is not None else None
    cleanup: list[Callable[[], None]] = []

    def release() -> None:
        for fn in cleanup:
            fn()

    try:
        transport = open_transport(url, trace, timeouts, cleanup)
    except BaseException as exc:
        release()
        if trace is not None:
            trace.close()
        if isinstance(exc, OSError | can.CanError):
            raise LinkDisconnected(f"cannot open {url}: {exc}") from exc
        raise
    return StationLink(url, transport, timeouts=timeouts, trace=trace, on_close=release)


@contextlib.contextmanager
def open_station_link(
    vehicle_url: str,
    trace_path: Path | None = None,
    *,
    timeouts: LinkTimeouts | None = None,
    trace_mode: Literal["process", "inline"] = "process",
) -> Iterator[StationLink]:
    """:func:`connect_station_link` as a context manager (closes link and trace)."""
    link = connect_station_link(vehicle_url, trace_path, timeouts=timeouts, trace_mode=trace_mode)
    try:
        yield link
    finally:
        link.close()
