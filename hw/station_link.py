"""StationLink: the one object a station worker uses to talk to the car.

    with open_station_link("doip://192.168.0.10:13400", trace_path=Path("s.blf")) as link:
        vin = link.read_vin()
        ...

Every method either returns a decoded value or raises a :class:`hw.errors.VehicleLinkError`
subclass (``code`` = Temporal error type, ``transient`` = retryable). Methods are
blocking; call them from a (thread-pool) Temporal activity. One request is on the wire at
a time; a keep-alive thread sends TesterPresent (suppress positive response) to every ECU
left in a non-default session that has been idle for ``LinkTimeouts.keepalive`` seconds.

Programming session and security access (ISO 14229-1: every session change, also to the
active session, locks security again; reset and S3 expiry return to default, locked): the
link remembers per ECU that *it* put the ECU into the programming session and unlocked it
(:meth:`StationLink.ensure_programming`). It enters and unlocks again only for a reason it
observed:

* a reset or session change it sent (``reset``, ``change_session``, ...);
* a new link (the state belongs to the link object: a reconnect or a resume after a crash
  starts from scratch);
* S3 risk: no request and no TesterPresent to the ECU for about ``LinkTimeouts.s3``
  (keep-alive off or starved);
* a negative response 0x7F/0x7E (session) or 0x33 (security) to a programming request
  (fingerprint, erase, RequestDownload, check memory, dependencies) while the link held the
  ECU: it re-establishes session and security once and repeats the request once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TypeVar

import can

from domain.flash_package import SoftwareUnit
from domain.programming import DownloadProgress
from hw import protocol as P
from hw.can_transport import IsoTpBus, IsoTpConnection, open_can_bus
from hw.doip_transport import DoipEcuConnection, DoipLink
from hw.errors import (
    BusTimeout,
    DependencyCheckFailed,
    InvalidResponse,
    LinkDisconnected,
    MemoryCheckFailed,
    ProgrammingFailure,
    RequestSequenceError,
    VehicleLinkError,
    VinMismatch,
    WrongHardware,
)
from hw.protocol import EcuInfo, Session
from hw.security import key_for_ecu
from hw.trace import FrameTrace
from hw.uds_client import LinkTimeouts, UdsClient
from hw.vehicle_url import VehicleUrl, parse_vehicle_url

log = logging.getLogger(__name__)

T = TypeVar("T")

# negative responses that say "not (unlocked) in this session": 0x7F
# serviceNotSupportedInActiveSession, 0x7E subFunctionNotSupportedInActiveSession,
# 0x33 securityAccessDenied
_SESSION_NRCS = frozenset({0x7E, 0x7F, 0x33})
# an ECU idle for this share of S3 may already have dropped its session (margin for the way
# of the next request to the ECU)
_S3_RISK = 0.9

__all__ = [
    "DownloadProgress",
    "DownloadResult",
    "LinkTimeouts",
    "StationLink",
    "connect_station_link",
    "open_station_link",
]


@dataclass(frozen=True)
class DownloadResult:
    bytes_sent: int  # bytes transferred by this call (resume: only the remainder)
    blocks_sent: int
    block_size: int
    block_retries: int  # blocks re-sent with the same counter after a timeout
    start_block_index: int


class _Transport(Protocol):
    def connection(self, ecu: EcuInfo) -> IsoTpConnection | DoipEcuConnection: ...

    def close(self) -> None: ...


class _CanTransport:
    def __init__(self, interface: str, channel: str, fd: bool, trace: FrameTrace | None) -> None:
        self.bus = IsoTpBus(open_can_bus(interface, channel, fd=fd), fd=fd, trace=trace)

    def connection(self, ecu: EcuInfo) -> IsoTpConnection:
        stack = self.bus.open_stack(txid=ecu.can_request_id, rxid=ecu.can_response_id)
        return IsoTpConnection(stack, name=f"can-{ecu.name}")

    def close(self) -> None:
        self.bus.close()


class _DoipTransport:
    def __init__(self, url: VehicleUrl, trace: FrameTrace | None, timeouts: LinkTimeouts) -> None:
        assert url.host is not None and url.port is not None
        gateway = P.ecu_by_name(P.GATEWAY).doip_address
        self._timeouts = timeouts
        self.link = DoipLink(
            url.host,
            url.port,
            tester_address=url.tester_address,
            gateway_address=gateway,
            trace=trace,
            connect_timeout=timeouts.connect,
        )

    def connection(self, ecu: EcuInfo) -> DoipEcuConnection:
        return self.link.connection(ecu.name, ecu.doip_address, ack_timeout=self._timeouts.p2)

    def close(self) -> None:
        self.link.close()


class StationLink:
    """Tester-side vehicle link (see module doc). Create with :func:`open_station_link`."""

    def __init__(
        self,
        url: VehicleUrl,
        transport: _Transport,
        *,
        timeouts: LinkTimeouts,
        trace: FrameTrace | None = None,
        ecus: Sequence[EcuInfo] = P.VEHICLE_ECUS,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.timeouts = timeouts
        self.trace = trace
        self._transport = transport
        self._ecus = tuple(ecus)
        self._lock = threading.RLock()
        self._clients: dict[str, UdsClient] = {}
        # what this link did and saw, per ECU (no entry: unknown)
        self._sessions: dict[str, Session] = {}
        self._unlocked: dict[str, int] = {}  # security level unlocked on this link
        self._block_sizes: dict[str, int] = {}
        self._on_close = on_close
        self._closed = False
        self._stop = threading.Event()
        self._keepalive: threading.Thread | None = None
        if timeouts.keepalive > 0:
            self._keepalive = threading.Thread(
                target=self._keepalive_loop, name="tester-present", daemon=True
            )
            self._keepalive.start()

    # ------------------------------------------------------------------ ECUs / plumbing

    def ecu(self, name: str) -> EcuInfo:
        return P.ecu_by_name(name, self._ecus)

    def uds(self, ecu: str) -> UdsClient:
        """The raw UDS client of ``ecu`` (same lock, same typed errors) for requests the
        link has no method for."""
        return self._client(ecu)

    def _client(self, ecu: str) -> UdsClient:
        with self._lock:
            if self._closed:
                raise RuntimeError("station link is closed")
            client = self._clients.get(ecu)
            if client is None:
                info = self.ecu(ecu)
                client = UdsClient(
                    self._transport.connection(info),
                    ecu=ecu,
                    timeouts=self.timeouts,
                    lock=self._lock,
                    # each exchange reaches the trace writer before the next one starts,
                    # so a killed station loses nothing of what the car saw
                    after_request=self.trace.flush if self.trace is not None else None,
                )
                client.open()
                self._clients[ecu] = client
            return client

    def _keepalive_loop(self) -> None:
        period = self.timeouts.keepalive
        while not self._stop.wait(min(0.25, period / 4)):
            for name, session in list(self._sessions.items()):
                if session == Session.DEFAULT:
                    continue
                client = self._clients.get(name)
                if client is None:
                    continue
                # under the client's send guard: no request of this ECU starts meanwhile, so
                # the TesterPresent is on the wire and in the trace before the next request
                with client.send_guard:
                    if client.in_flight or time.monotonic() - client.last_activity < period:
                        continue
                    try:
                        client.send_nowait(b"\x3e\x80")
                        client.last_activity = time.monotonic()
                    except VehicleLinkError as exc:
                        log.debug("keep-alive to %s failed: %s", name, exc)
                    except Exception:
                        log.exception("keep-alive to %s failed", name)

    def close(self) -> None:
        if self._closed:
            return
        self._stop.set()
        if self._keepalive is not None:
            self._keepalive.join(timeout=2)
        with self._lock:
            self._closed = True
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()
        try:
            self._transport.close()
        finally:
            if self.trace is not None:
                self.trace.close()
            if self._on_close is not None:
                self._on_close()

    def __enter__(self) -> StationLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ identification

    def read_did(self, ecu: str, did: int) -> bytes:
        """Raw ReadDataByIdentifier."""
        return self._client(ecu).read_did(did)

    def _decode(self, ecu: str, what: str, fn: Callable[[], object]) -> object:
        try:
            return fn()
        except P.ProtocolDecodeError as exc:
            raise InvalidResponse(f"{what}: {exc}", ecu=ecu) from exc

    def read_vin(self, ecu: str = P.GATEWAY) -> str:
        raw = self.read_did(ecu, P.DID_VIN)
        return str(self._decode(ecu, "VIN", lambda: P.decode_vin(raw)))

    def verify_vin(self, expected: str, ecu: str = P.GATEWAY) -> str:
        """Read the VIN and raise :class:`VinMismatch` if it is not ``expected``."""
        vin = self.read_vin(ecu)
        if vin != expected:
            raise VinMismatch(f"connected to {vin}, session belongs to {expected}", ecu=ecu)
        return vin

    def read_battery_voltage(self, ecu: str = P.GATEWAY) -> float:
        """Supply voltage in volts (DID 0xDAD0, millivolts on the wire)."""
        raw = self.read_did(ecu, P.DID_BATTERY_VOLTAGE)
        mv = self._decode(ecu, "battery voltage", lambda: P.decode_voltage_mv(raw))
        assert isinstance(mv, int)
        return mv / 1000.0

    def read_software_list(self, ecu: str) -> list[SoftwareUnit]:
        raw = self.read_did(ecu, P.DID_SOFTWARE_LIST)
        units = self._decode(ecu, "software list", lambda: P.decode_software_list(raw))
        assert isinstance(units, list)
        return units

    def read_hardware_id(self, ecu: str) -> str:
        raw = self.read_did(ecu, P.DID_HARDWARE_NUMBER)
        return str(self._decode(ecu, "hardware number", lambda: P.decode_ascii(raw)))

    def expect_hardware(self, ecu: str, target_hardware_id: str) -> None:
        """Raise :class:`WrongHardware` unless the ECU reports ``target_hardware_id``."""
        actual = self.read_hardware_id(ecu)
        if actual != target_hardware_id:
            raise WrongHardware(
                f"package targets {target_hardware_id}, ECU reports {actual}", ecu=ecu
            )

    def read_active_session(self, ecu: str) -> Session:
        raw = self.read_did(ecu, P.DID_ACTIVE_SESSION)
        try:
            session = Session(raw[0])
        except (IndexError, ValueError) as exc:
            raise InvalidResponse(f"active session: {raw.hex()}", ecu=ecu) from exc
        if self._sessions.get(ecu) != session:
            self._unlocked.pop(ecu, None)  # the session changed behind our back: locked
        self._sessions[ecu] = session
        return session

    def read_fingerprint(self, ecu: str) -> P.Fingerprint | None:
        """The last programming fingerprint, None if the ECU was never programmed."""
        raw = self.read_did(ecu, P.DID_FINGERPRINT)
        if raw == bytes(len(raw)):
            return None
        fp = self._decode(ecu, "fingerprint", lambda: P.Fingerprint.decode(raw))
        assert isinstance(fp, P.Fingerprint)
        return fp

    # ------------------------------------------------------------------ sessions / security

    def change_session(self, ecu: str, session: Session) -> None:
        """DiagnosticSessionControl. Any change (also to the active session) locks security."""
        try:
            self._client(ecu).change_session(int(session))
        except VehicleLinkError as exc:
            if exc.nrc is None:  # no answer: the ECU may or may not have switched
                self._forget(ecu)
            raise
        self._sessions[ecu] = session
        self._unlocked.pop(ecu, None)

    def enter_default_session(self, ecu: str) -> None:
        self.change_session(ecu, Session.DEFAULT)

    def enter_programming_session(self, ecu: str) -> None:
        """Default -> extended -> programming; from extended or programming straight to
        programming. Always sends the session change: under ISO 14229-1 re-entering the
        programming session locks security access again (unlock afterwards)."""
        current = self.read_active_session(ecu)
        if current == Session.DEFAULT:
            self.change_session(ecu, Session.EXTENDED)
        self.change_session(ecu, Session.PROGRAMMING)

    def unlock(self, ecu: str, level: P.SecurityLevel = P.SecurityLevel.PROGRAMMING) -> None:
        """Security access seed/key; no key when the ECU answers the zero seed (already
        unlocked)."""
        client = self._client(ecu)
        try:
            seed = client.request_seed(int(level))
            if seed != bytes(len(seed)):
                client.send_key(int(level), key_for_ecu(ecu, seed, int(level)))
        except VehicleLinkError as exc:
            self._unlocked.pop(ecu, None)
            if exc.nrc in (0x7E, 0x7F):
                self._sessions.pop(ecu, None)
            raise
        self._unlocked[ecu] = int(level)

    def _forget(self, ecu: str) -> None:
        self._sessions.pop(ecu, None)
        self._unlocked.pop(ecu, None)

    def _s3_risk(self, ecu: str) -> bool:
        """Nothing (request or TesterPresent) went to ``ecu`` for about S3."""
        client = self._clients.get(ecu)
        return (
            client is None or time.monotonic() - client.last_activity > _S3_RISK * self.timeouts.s3
        )

    def _believes_programming(self, ecu: str) -> bool:
        return (
            self._sessions.get(ecu) == Session.PROGRAMMING
            and self._unlocked.get(ecu) == P.SecurityLevel.PROGRAMMING
        )

    def holds_programming(self, ecu: str) -> bool:
        """Whether this link put ``ecu`` into the programming session and unlocked it, and
        has seen no reason since to think it lost either (see the module doc)."""
        return self._believes_programming(ecu) and not self._s3_risk(ecu)

    def ensure_programming(self, ecu: str) -> bool:
        """Programming session and security unlocked, once per ECU on this link: a no-op
        while :meth:`holds_programming`. Returns whether requests were sent."""
        with self._lock:
            if self.holds_programming(ecu):
                return False
            if self._sessions.get(ecu, Session.DEFAULT) != Session.DEFAULT and self._s3_risk(ecu):
                self._forget(ecu)  # may have fallen back to default: ask the ECU
            self._establish_programming(ecu)
            return True

    def _establish_programming(self, ecu: str) -> None:
        known = self._sessions.get(ecu)
        if known == Session.PROGRAMMING:
            pass  # this link entered it (no unlock yet): unlocking is enough
        elif known == Session.EXTENDED:
            self.change_session(ecu, Session.PROGRAMMING)
        elif known == Session.DEFAULT:  # e.g. after our reset: no need to ask
            self.change_session(ecu, Session.EXTENDED)
            self.change_session(ecu, Session.PROGRAMMING)
        else:  # unknown (new link, NRC, S3 risk): from scratch, re-entering a programming
            # session someone else left (locks, drops a stale download)
            self.enter_programming_session(ecu)
        self.unlock(ecu, P.SecurityLevel.PROGRAMMING)

    def _programming_request(self, ecu: str, request: Callable[[], T], *, repeat: bool) -> T:
        """Run a request that needs the unlocked programming session. A 0x7F/0x7E/0x33 answer
        shows the ECU lost session or security: forget what the link believed and, when it
        held the ECU and ``repeat``, re-establish both once and repeat the request once."""
        with self._lock:
            held = self._believes_programming(ecu)
            try:
                return request()
            except VehicleLinkError as exc:
                if exc.nrc not in _SESSION_NRCS:
                    raise
                self._forget(ecu)
                if not (held and repeat):
                    raise
                log.warning("%s: %s; re-entering programming session and unlocking", ecu, exc)
            self._establish_programming(ecu)
            return request()

    # ------------------------------------------------------------------ programming

    def write_fingerprint(self, ecu: str, fingerprint: P.Fingerprint) -> None:
        """Programming session + unlock required."""
        client = self._client(ecu)
        payload = fingerprint.encode()
        self._programming_request(
            ecu, lambda: client.write_did(P.DID_FINGERPRINT, payload), repeat=True
        )

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
            if exc.nrc in _SESSION_NRCS:  # the ECU lost session/security and the download:
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

    def reset(self, ecu: str, *, wait_ready: bool = True) -> None:
        """Hard reset; by default waits until the ECU answers again."""
        try:
            self._client(ecu).ecu_reset(int(P.ResetType.HARD))
        except VehicleLinkError:
            self._forget(ecu)
            raise
        self._sessions[ecu] = Session.DEFAULT  # and locked
        self._unlocked.pop(ecu, None)
        if wait_ready:
            self.wait_ready(ecu)

    def wait_ready(self, ecu: str, timeout: float | None = None) -> None:
        client = self._client(ecu)
        deadline = time.monotonic() + (
            timeout if timeout is not None else self.timeouts.reset_ready
        )
        probe_timeout = min(self.timeouts.probe, self.timeouts.p2)
        # Grace before the first probe: the ECU that has just answered the reset request may
        # not have gone down yet, and its answer would be taken for "back up".
        time.sleep(0.02)
        while True:
            asked = time.monotonic()
            if client.probe(probe_timeout):
                return
            if time.monotonic() > deadline:
                raise BusTimeout("ECU did not come back after reset", ecu=ecu)
            # A probe that timed out has already waited; probing again at once finds the ECU
            # up to 10 ms sooner per reset (one per ECU of a session). Only a probe refused at
            # once (busy, pending) pauses, so that the loop never spins.
            if time.monotonic() - asked < probe_timeout:
                time.sleep(0.01)

    # ------------------------------------------------------------------ service items

    def read_service_items(self) -> list[P.ServiceItem]:
        raw = self.read_did(P.INSTRUMENT_CLUSTER, P.DID_SERVICE_ITEMS)
        items = self._decode(
            P.INSTRUMENT_CLUSTER, "service items", lambda: P.decode_service_items(raw)
        )
        assert isinstance(items, list)
        return items

    def write_service_items(self, items: Sequence[P.ServiceItem]) -> None:
        """Write the CBS items into the instrument cluster (switches a default session to
        extended; the cluster returns to default by itself after S3 or on reset)."""
        payload = P.encode_service_items(items)
        if self.read_active_session(P.INSTRUMENT_CLUSTER) == Session.DEFAULT:
            self.change_session(P.INSTRUMENT_CLUSTER, Session.EXTENDED)
        self._client(P.INSTRUMENT_CLUSTER).write_did(P.DID_SERVICE_ITEMS, payload)


class SimulatedCars(Protocol):
    """What opens ``sim://`` links: the simulator, wired in by the dev and test entry points
    (``hw.sim.station.install``), never by production code."""

    def attach(self, url: VehicleUrl, cleanup: list[Callable[[], None]]) -> str:
        """Attach the car named in ``url`` (a fresh one without a name) to a new virtual CAN
        channel; its name. Everything to undo on close goes into ``cleanup``."""
        ...


_simulated_cars: SimulatedCars | None = None


def install_simulated_cars(cars: SimulatedCars) -> None:
    """Let ``sim://`` URLs reach simulated cars (called by the dev and test entry points)."""
    global _simulated_cars
    _simulated_cars = cars


def _open_transport(
    url: VehicleUrl,
    trace: FrameTrace | None,
    timeouts: LinkTimeouts,
    cleanup: list[Callable[[], None]],
) -> _Transport:
    if url.scheme == "sim":
        if _simulated_cars is None:
            raise LinkDisconnected(
                f"cannot open {url}: no simulator here (only `worker.py dev`, a station started "
                "with --vehicle sim:// and the tests wire it in)"
            )
        channel = _simulated_cars.attach(url, cleanup)
        return _CanTransport("virtual", channel, url.fd, trace)
    if url.scheme == "can":
        assert url.interface is not None and url.channel is not None
        return _CanTransport(url.interface, url.channel, url.fd, trace)
    return _DoipTransport(url, trace, timeouts)


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
        transport = _open_transport(url, trace, timeouts, cleanup)
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
