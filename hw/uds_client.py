"""udsoncan ``Client`` wrapper for one ECU: typed errors, link-wide lock, timing.

Exchanges are serialised by the lock the station link gives each client: the ECU's own over
DoIP (ECUs in parallel), the bus's over CAN (one request on the bus at a time); the keep-alive
thread orders itself by :attr:`UdsClient.send_guard`. Errors leave as :mod:`hw.errors`:

* negative response ``7F sid nrc``   -> :func:`hw.errors.negative_response_error`
* no response in P2 / P2*            -> BusTimeout (or ResponsePending if the ECU had
                                        answered 0x78 before going silent)
* ResponsePending longer than ``LinkTimeouts.pending_limit`` -> ResponsePending
* malformed / unexpected response    -> InvalidResponse
* socket / bus gone                  -> LinkDisconnected
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import can
import isotp
from udsoncan import DidCodec, MemoryLocation, services
from udsoncan.client import Client
from udsoncan.configs import default_client_config
from udsoncan.connections import BaseConnection
from udsoncan.exceptions import (
    ConfigError,
    InvalidResponseException,
    NegativeResponseException,
    TimeoutException,
    UnexpectedResponseException,
)

from hw.errors import (
    BusTimeout,
    EcuBusy,
    InvalidResponse,
    LateResponse,
    LinkDisconnected,
    ResponsePending,
    VehicleLinkError,
    negative_response_error,
)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class LinkTimeouts:
    """Tester timing. Defaults suit real vehicles; tests shorten them."""

    p2: float = 1.0  # first response after a request
    p2_star: float = 5.0  # next response after each ResponsePending (0x78)
    request: float = 600.0  # overall cap for one request, ResponsePending included
    pending_limit: float = 300.0  # ResponsePending for longer -> ResponsePending error
    block_retries: int = 2  # re-send a TransferData block (same counter) after a timeout
    # TesterPresent (3E 80) to an ECU in a non-default session idle this long; 0 = off. ISO
    # 14229-2 S3client (2 s), well under half of S3server.
    keepalive: float = 2.0
    # S3server the tester assumes (ISO 14229-2 default 5 s): an ECU idle about this long
    # (no request, no TesterPresent) may have fallen back to the default session, locked.
    s3: float = 5.0
    reset_ready: float = 5.0  # how long to wait for an ECU to answer again after reset
    # TesterPresent probes while an ECU restarts: P2server_max (ISO 14229-2 default 50 ms),
    # so the first answer after the restart is seen within one probe, not one full p2.
    probe: float = 0.05
    connect: float = 5.0  # DoIP TCP connect


class RawCodec(DidCodec):
    """DID payloads as raw bytes; decoding is done by :mod:`hw.protocol`."""

    def encode(self, *did_value: Any) -> bytes:
        return bytes(did_value[0])

    def decode(self, did_payload: bytes) -> Any:
        return bytes(did_payload)

    def __len__(self) -> int:
        raise DidCodec.ReadAllRemainingData


class _InStepConnection:
    """The connection as udsoncan's `Client` sees it, minus the late answers of requests that
    ran out of time.

    An ECU that answers after P2 (loaded, or restarting while probed) puts its answer ahead of
    the next request's own. An answer to another service than the one asked, while a request
    that timed out still owes one (`owed`), is that late answer: it stays in the frame log and
    is passed over, and the request goes on waiting for its own. Without a timeout behind it,
    such an answer is the ECU's error and reaches udsoncan as before.
    """

    def __init__(self, connection: BaseConnection) -> None:
        self._connection = connection
        self.owed = 0
        self._asked: int | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def send(self, payload: bytes) -> None:
        self._asked = payload[0] if payload else None
        self._connection.send(payload)

    def wait_frame(self, timeout: float | None = None, exception: bool = False) -> bytes | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.001)
            frame = self._connection.wait_frame(timeout=remaining, exception=exception)
            if not frame or not self.owed or _service_answered(frame) in (None, self._asked):
                return frame
            if not (frame[0] == 0x7F and frame[2:3] == b"\x78"):  # pending: the answer follows
                self.owed -= 1


def _service_answered(frame: bytes) -> int | None:
    """The request service a UDS answer belongs to (`7F sid nrc` or `sid + 0x40 ...`)."""
    if frame[0] == 0x7F:
        return frame[1] if len(frame) > 1 else None
    return frame[0] - 0x40 if frame[0] >= 0x40 else None


class UdsClient:
    """UDS requests to one ECU; every method raises :class:`hw.errors.VehicleLinkError`."""

    def __init__(
        self,
        connection: BaseConnection,
        *,
        ecu: str,
        timeouts: LinkTimeouts,
        lock: threading.RLock,
        after_request: Callable[[], None] | None = None,
    ) -> None:
        self.ecu = ecu
        self._after_request = after_request
        self.timeouts = timeouts
        self._lock = lock
        self._request_started = 0.0
        self._pending_seen = False
        self._timed_out = False  # a request on this link ran out of time
        self.last_activity = 0.0
        self.in_flight = False  # a request is waiting for its answer (keep-alive skips)
        # Orders the keep-alive against requests of this client: a TesterPresent is either
        # completely sent (and traced) before a request starts, or not sent at all.
        self.send_guard = threading.Lock()
        config = dict(default_client_config)
        config.update(
            {
                "exception_on_negative_response": True,
                "exception_on_invalid_response": True,
                "exception_on_unexpected_response": True,
                "data_identifiers": {"default": RawCodec()},
                "server_address_format": 32,
                "server_memorysize_format": 32,
                "request_timeout": timeouts.request,
                "p2_timeout": timeouts.p2,
                "p2_star_timeout": timeouts.p2_star,
                "use_server_timing": False,
                "nrc78_callback": self._on_pending,
            }
        )
        self._in_step = _InStepConnection(connection)
        self._client = Client(self._in_step, config=config)  # type: ignore[arg-type]
        self._connection = connection

    # ------------------------------------------------------------------ plumbing

    def open(self) -> None:
        self._call(0x00, self._client.open)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead link must not raise
            self._client.close()

    def _on_pending(self) -> None:
        self._pending_seen = True
        if time.monotonic() - self._request_started > self.timeouts.pending_limit:
            raise ResponsePending(
                f"ResponsePending for more than {self.timeouts.pending_limit:.0f} s",
                ecu=self.ecu,
            )

    def _call(self, service: int, fn: Callable[[], T]) -> T:
        """One request and its answer, with udsoncan's errors mapped to `hw.errors`."""
        with self._lock:
            with self.send_guard:
                self.in_flight = True
            self._request_started = self.last_activity = time.monotonic()
            self._pending_seen = False
            try:
                return fn()
            except VehicleLinkError:
                raise
            except NegativeResponseException as exc:
                raise negative_response_error(
                    int(exc.response.code or 0), ecu=self.ecu, service=service
                ) from exc
            except TimeoutException as exc:
                self._timed_out = True  # its answer may still come, ahead of the next one's
                self._in_step.owed += 1
                if self._pending_seen:
                    raise ResponsePending(
                        f"ECU went silent after ResponsePending ({exc})",
                        ecu=self.ecu,
                        service=service,
                    ) from exc
                raise BusTimeout(str(exc), ecu=self.ecu, service=service) from exc
            except UnexpectedResponseException as exc:
                if self._timed_out or _answers_another_service(exc, service):
                    # The answer of an earlier request that ran out of time (a loaded ECU or
                    # tester): not a wrong ECU, a link out of step.
                    raise LateResponse(str(exc), ecu=self.ecu, service=service) from exc
                raise InvalidResponse(str(exc), ecu=self.ecu, service=service) from exc
            except InvalidResponseException as exc:
                raise InvalidResponse(str(exc), ecu=self.ecu, service=service) from exc
            except ConfigError as exc:
                raise InvalidResponse(str(exc), ecu=self.ecu, service=service) from exc
            except (OSError, can.CanError, isotp.IsoTpError) as exc:
                raise LinkDisconnected(repr(exc), ecu=self.ecu, service=service) from exc
            finally:
                self.last_activity = time.monotonic()
                self.in_flight = False
                if self._after_request is not None:
                    self._after_request()

    # ------------------------------------------------------------------ services

    def change_session(self, session: int) -> None:
        self._call(0x10, lambda: self._client.change_session(session))

    def _answer(self, response: R | None, service: int) -> R:
        if response is None:
            raise InvalidResponse("no response payload", ecu=self.ecu, service=service)
        return response

    def request_seed(self, level: int) -> bytes:
        response = self._answer(self._call(0x27, lambda: self._client.request_seed(level)), 0x27)
        return bytes(response.service_data.seed)

    def send_key(self, level: int, key: bytes) -> None:
        self._call(0x27, lambda: self._client.send_key(level + 1, key))

    def read_did(self, did: int) -> bytes:
        response = self._answer(
            self._call(0x22, lambda: self._client.read_data_by_identifier(did)), 0x22
        )
        return bytes(response.service_data.values[did])

    def write_did(self, did: int, data: bytes) -> None:
        self._call(0x2E, lambda: self._client.write_data_by_identifier(did, data))

    def start_routine(self, routine_id: int, data: bytes = b"") -> bytes:
        response = self._answer(
            self._call(0x31, lambda: self._client.start_routine(routine_id, data or None)), 0x31
        )
        return bytes(response.service_data.routine_status_record or b"")

    def request_download(self, address: int, size: int) -> int:
        """RequestDownload; returns maxNumberOfBlockLength (includes SID and counter)."""
        location = MemoryLocation(address, size, address_format=32, memorysize_format=32)
        response = self._answer(
            self._call(0x34, lambda: self._client.request_download(location)), 0x34
        )
        return int(response.service_data.max_length)

    def transfer_data(self, counter: int, data: bytes) -> None:
        self._call(0x36, lambda: self._client.transfer_data(counter, data))

    def transfer_exit(self) -> None:
        self._call(0x37, lambda: self._client.request_transfer_exit())

    def ecu_reset(self, reset_type: int) -> None:
        self._call(0x11, lambda: self._client.ecu_reset(reset_type))

    def probe(self, timeout: float) -> bool:
        """TesterPresent with a short timeout: True when the ECU answers positively."""
        request = services.TesterPresent.make_request()
        try:
            self._call(0x3E, lambda: self._client.send_request(request, timeout=cast(int, timeout)))
        except (BusTimeout, EcuBusy, ResponsePending):
            return False
        return True

    def send_nowait(self, payload: bytes) -> None:
        """Send a request without waiting (keep-alive); does not take the link lock (call it
        holding :attr:`send_guard`, with no request in flight)."""
        sender = getattr(self._connection, "send_nowait", None)
        if sender is None:
            return
        try:
            sender(payload)
        except VehicleLinkError:
            raise
        except (OSError, can.CanError) as exc:
            raise LinkDisconnected(repr(exc), ecu=self.ecu) from exc


def _answers_another_service(error: UnexpectedResponseException, service: int) -> bool:
    """Whether an unexpected response is the positive answer to another service."""
    answered = error.response.service
    return answered is not None and answered.request_id() != service
