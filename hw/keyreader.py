"""KeyReader driver: reads the data block of a vehicle key over USB (pyusb).

The same code runs against a real reader (libusb found by pyusb) and against
:class:`hw.sim.keyreader_backend.SimulatedKeyReaderBackend`, which is a real pyusb
backend passed as ``backend=``.

USB protocol of the reader (protocol version 1)
===============================================

Device ``KEYREADER_VENDOR_ID:KEYREADER_PRODUCT_ID``, configuration 1, interface 0
(class 0xFF, vendor specific) with two bulk endpoints of 64-byte packets:
``0x81`` (IN, key data) and ``0x01`` (OUT, commands). String descriptors:
manufacturer, product and serial number (the reader's identity). Multi-byte
fields of the USB protocol are little-endian (USB convention); the key block
itself is big-endian (see :mod:`domain.key_data_block`).

Vendor control requests, recipient interface, ``wIndex`` = 0:

``GET_INFO`` (0x01), IN, 8 bytes
    ``protocol_version`` u8, ``firmware_major`` u8, ``firmware_minor`` u8,
    ``key_state`` u8 (0 no key, 1 key present), ``max_block`` u16, 2 reserved.
``READ_BLOCK`` (0x02), IN, 4 bytes
    ``status`` u8, reserved u8, ``length`` u16. Status 0 (OK): the reader has
    read the key and queues ``length`` bytes on bulk IN ``0x81``, sent as 64-byte
    packets, the last one possibly short. 1: no key in the reader. 2: a key is
    there but its transponder could not be read. 3: the reader is busy.
    Each ``READ_BLOCK`` replaces whatever was still queued.

Commands on bulk OUT ``0x01``, 2 bytes ``[command, argument]``:

``BEEP`` (0x01, argument = number of beeps)
    the acoustic signal that tells the technician the key was read; the driver
    sends it only after the block parsed correctly.
``DISCARD`` (0x02, argument 0)
    drop any data still queued on bulk IN (sent after an aborted transfer).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import struct
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

import usb.core
import usb.util
from pydantic import BaseModel, ConfigDict

from domain.key_data import KeyData
from domain.key_data_block import MAX_BLOCK_SIZE, parse_key_data

__all__ = [
    "CMD_BEEP",
    "CMD_DISCARD",
    "DEFAULT_TIMEOUT_MS",
    "EP_BULK_IN",
    "EP_BULK_OUT",
    "KEYREADER_CONFIGURATION",
    "KEYREADER_INTERFACE",
    "KEYREADER_PRODUCT_ID",
    "KEYREADER_VENDOR_ID",
    "PACKET_SIZE",
    "PROTOCOL_VERSION",
    "REQ_GET_INFO",
    "REQ_READ_BLOCK",
    "STATUS_BUSY",
    "STATUS_NO_KEY",
    "STATUS_OK",
    "STATUS_TRANSPONDER_ERROR",
    "KeyRead",
    "KeyReadFailed",
    "KeyReaderError",
    "KeyReaderNotFound",
    "NoKeyPresent",
    "ReaderIdentity",
    "list_readers",
    "read_key",
]

_log = logging.getLogger(__name__)

# Our reader's ids. 0x1209 is the pid.codes vendor id for open hardware; the
# product id is this project's placeholder until a reader model is allocated one.
KEYREADER_VENDOR_ID: Final = 0x1209
KEYREADER_PRODUCT_ID: Final = 0x4B52  # "KR"
KEYREADER_CONFIGURATION: Final = 1
KEYREADER_INTERFACE: Final = 0
EP_BULK_IN: Final = 0x81
EP_BULK_OUT: Final = 0x01
PACKET_SIZE: Final = 64
PROTOCOL_VERSION: Final = 1
DEFAULT_TIMEOUT_MS: Final = 1000

REQ_GET_INFO: Final = 0x01
REQ_READ_BLOCK: Final = 0x02
BM_VENDOR_IN: Final = usb.util.build_request_type(
    usb.util.CTRL_IN, usb.util.CTRL_TYPE_VENDOR, usb.util.CTRL_RECIPIENT_INTERFACE
)
BM_VENDOR_OUT: Final = usb.util.build_request_type(
    usb.util.CTRL_OUT, usb.util.CTRL_TYPE_VENDOR, usb.util.CTRL_RECIPIENT_INTERFACE
)

INFO_FORMAT: Final = struct.Struct("<BBBBH2x")
READ_BLOCK_FORMAT: Final = struct.Struct("<BxH")

STATUS_OK: Final = 0x00
STATUS_NO_KEY: Final = 0x01
STATUS_TRANSPONDER_ERROR: Final = 0x02
STATUS_BUSY: Final = 0x03

CMD_BEEP: Final = 0x01
CMD_DISCARD: Final = 0x02

# KeyReadFailed reasons worth retrying automatically (the next attempt may work).
_TRANSIENT_REASONS = frozenset({"timeout", "disconnected", "busy", "transponder_error"})


# --------------------------------------------------------------------------- errors


class KeyReaderError(Exception):
    """Base class of the driver's errors.

    Like :mod:`hw.errors`: ``code`` is a stable string for the Temporal
    ``ApplicationError`` type, ``transient`` tells whether trying the same read
    again later can succeed; ``reason`` refines the code.
    """

    code: ClassVar[str] = "KeyReaderError"

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message

    @property
    def transient(self) -> bool:
        return False

    def details(self) -> dict[str, Any]:
        """JSON-friendly details (for ``ApplicationError(details=...)``)."""
        return {"code": self.code, "reason": self.reason, "transient": self.transient}


class KeyReaderNotFound(KeyReaderError):
    """No reader with our ids (and the requested serial number) is connected.

    Reasons: ``not_connected``, ``serial_not_found``, ``no_backend`` (no libusb).
    Not transient: someone has to plug the reader in.
    """

    code: ClassVar[str] = "KeyReaderNotFound"


class NoKeyPresent(KeyReaderError):
    """The reader answered, but no key lies in it. Reason: ``no_key``.

    Not transient: someone has to lay the key in the reader.
    """

    code: ClassVar[str] = "NoKeyPresent"

    def __init__(self, message: str = "no key in the reader"):
        super().__init__("no_key", message)


class KeyReadFailed(KeyReaderError):
    """The reader was found but the key could not be read.

    Reasons: ``timeout``, ``disconnected``, ``busy`` (reader busy or claimed by
    another program), ``access_denied``, ``transponder_error``,
    ``unsupported_protocol``, ``protocol`` (the reader broke the protocol),
    ``short_transfer``, ``overrun``, ``usb_error``. ``transient`` is true for
    ``timeout``, ``disconnected``, ``busy`` and ``transponder_error``.
    """

    code: ClassVar[str] = "KeyReadFailed"

    @property
    def transient(self) -> bool:
        return self.reason in _TRANSIENT_REASONS


# --------------------------------------------------------------------------- results


class ReaderIdentity(BaseModel):
    """Which reader read the key (KaSIO's "KeyReader" column)."""

    model_config = ConfigDict(frozen=True)

    vendor_id: int
    product_id: int
    serial_number: str | None = None
    manufacturer: str | None = None
    product: str | None = None
    bus: int | None = None
    address: int | None = None

    @property
    def label(self) -> str:
        name = self.product or f"{self.vendor_id:04x}:{self.product_id:04x}"
        return f"{name} #{self.serial_number}" if self.serial_number else name


class KeyRead(BaseModel):
    """The result of reading one key: parsed data, reader identity and the raw block."""

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    key: KeyData
    reader: ReaderIdentity
    raw: bytes
    read_at: datetime


# --------------------------------------------------------------------------- helpers


def _usb_failure(exc: usb.core.USBError, doing: str) -> KeyReadFailed:
    """Translate a pyusb error into a :class:`KeyReadFailed` with a reason."""
    if isinstance(exc, usb.core.USBTimeoutError) or exc.errno == errno.ETIMEDOUT:
        reason = "timeout"
    elif exc.errno == errno.ENODEV:
        reason = "disconnected"
    elif exc.errno == errno.EBUSY:
        reason = "busy"
    elif exc.errno == errno.EACCES:
        reason = "access_denied"
    elif exc.errno == errno.EPIPE:
        reason = "protocol"
    else:
        reason = "usb_error"
    return KeyReadFailed(reason, f"KeyReader {doing} failed: {exc}")


def _string(dev: Any, attribute: str) -> str | None:
    try:
        value = getattr(dev, attribute)
    except (usb.core.USBError, ValueError, NotImplementedError):
        return None
    return value if isinstance(value, str) else None


def _identity(dev: Any) -> ReaderIdentity:
    return ReaderIdentity(
        vendor_id=int(dev.idVendor),
        product_id=int(dev.idProduct),
        serial_number=_string(dev, "serial_number"),
        manufacturer=_string(dev, "manufacturer"),
        product=_string(dev, "product"),
        bus=dev.bus,
        address=dev.address,
    )


def _find_devices(backend: Any, vendor_id: int, product_id: int) -> list[Any]:
    try:
        return list(
            usb.core.find(find_all=True, backend=backend, idVendor=vendor_id, idProduct=product_id)
        )
    except usb.core.NoBackendError as exc:
        raise KeyReaderNotFound(
            "no_backend", f"no USB backend available (is libusb installed?): {exc}"
        ) from None


def list_readers(
    backend: Any = None,
    *,
    vendor_id: int = KEYREADER_VENDOR_ID,
    product_id: int = KEYREADER_PRODUCT_ID,
) -> list[ReaderIdentity]:
    """The identities of all connected readers. Raises :class:`KeyReaderNotFound`
    only when there is no USB backend at all."""
    identities = []
    for dev in _find_devices(backend, vendor_id, product_id):
        try:
            identities.append(_identity(dev))
        finally:
            usb.util.dispose_resources(dev)
    return identities


def _select_device(
    backend: Any, serial: str | None, vendor_id: int, product_id: int
) -> tuple[Any, ReaderIdentity]:
    devices = _find_devices(backend, vendor_id, product_id)
    if not devices:
        raise KeyReaderNotFound(
            "not_connected",
            f"no KeyReader ({vendor_id:04x}:{product_id:04x}) is connected",
        )
    seen: list[str] = []
    for dev in devices:
        identity = _identity(dev)
        if serial is None or identity.serial_number == serial:
            for other in devices:
                if other is not dev:
                    usb.util.dispose_resources(other)
            return dev, identity
        seen.append(identity.serial_number or "?")
        usb.util.dispose_resources(dev)
    raise KeyReaderNotFound(
        "serial_not_found",
        f"no KeyReader with serial number {serial!r} is connected (found: {', '.join(seen)})",
    )


def _prepare(dev: Any) -> None:
    """Select configuration 1 and claim the interface."""
    try:
        active = dev.get_active_configuration().bConfigurationValue
    except usb.core.USBError:
        active = None
    try:
        if active != KEYREADER_CONFIGURATION:
            dev.set_configuration(KEYREADER_CONFIGURATION)
        try:
            if dev.is_kernel_driver_active(KEYREADER_INTERFACE):
                dev.detach_kernel_driver(KEYREADER_INTERFACE)
        except (NotImplementedError, usb.core.USBError):
            pass  # not supported on this platform/backend, or no driver bound
        usb.util.claim_interface(dev, KEYREADER_INTERFACE)
    except usb.core.USBError as exc:
        raise _usb_failure(exc, "set-up") from exc


def _vendor_request(
    dev: Any, request: int, name: str, answer: struct.Struct, timeout_ms: int
) -> tuple[Any, ...]:
    """Ask the reader one vendor request and unpack its fixed-size answer; a USB failure or an
    answer of another size is a :class:`KeyReadFailed`."""
    try:
        reply = dev.ctrl_transfer(
            BM_VENDOR_IN, request, 0, KEYREADER_INTERFACE, answer.size, timeout_ms
        )
    except usb.core.USBError as exc:
        raise _usb_failure(exc, name) from exc
    if len(reply) != answer.size:
        raise KeyReadFailed(
            "protocol", f"KeyReader {name} returned {len(reply)} bytes, expected {answer.size}"
        )
    return answer.unpack(bytes(reply))


def _check_info(dev: Any, timeout_ms: int) -> None:
    version, fw_major, fw_minor, _key_state, _max_block = _vendor_request(
        dev, REQ_GET_INFO, "GET_INFO", INFO_FORMAT, timeout_ms
    )
    if version != PROTOCOL_VERSION:
        raise KeyReadFailed(
            "unsupported_protocol",
            f"KeyReader speaks protocol version {version} (firmware {fw_major}.{fw_minor}); "
            f"this driver supports version {PROTOCOL_VERSION}",
        )


def _request_block(dev: Any, timeout_ms: int) -> int:
    status, length = _vendor_request(
        dev, REQ_READ_BLOCK, "READ_BLOCK", READ_BLOCK_FORMAT, timeout_ms
    )
    if status == STATUS_NO_KEY:
        raise NoKeyPresent()
    if status == STATUS_TRANSPONDER_ERROR:
        raise KeyReadFailed("transponder_error", "the key's transponder could not be read")
    if status == STATUS_BUSY:
        raise KeyReadFailed("busy", "the KeyReader is busy")
    if status != STATUS_OK:
        raise KeyReadFailed("protocol", f"KeyReader READ_BLOCK returned unknown status {status}")
    if not 0 < length <= MAX_BLOCK_SIZE:
        raise KeyReadFailed(
            "protocol",
            f"KeyReader announced a block of {length} bytes (1 to {MAX_BLOCK_SIZE} allowed)",
        )
    return int(length)


def _receive(dev: Any, length: int, timeout_ms: int) -> bytes:
    block = bytearray()
    while len(block) < length:
        try:
            chunk = dev.read(EP_BULK_IN, PACKET_SIZE, timeout_ms)
        except usb.core.USBError as exc:
            raise _usb_failure(exc, f"bulk read at byte {len(block)} of {length}") from exc
        block += bytes(chunk)
        if len(block) > length:
            raise KeyReadFailed(
                "overrun", f"KeyReader sent {len(block)} bytes, more than the {length} announced"
            )
        if len(chunk) < PACKET_SIZE and len(block) < length:
            raise KeyReadFailed(
                "short_transfer",
                f"KeyReader ended the transfer after {len(block)} of {length} bytes",
            )
    return bytes(block)


def _command(dev: Any, command: int, argument: int, timeout_ms: int) -> None:
    dev.write(EP_BULK_OUT, bytes((command, argument)), timeout_ms)


def _discard_quietly(dev: Any, timeout_ms: int) -> None:
    try:
        _command(dev, CMD_DISCARD, 0, timeout_ms)
    except usb.core.USBError as exc:
        _log.debug("KeyReader DISCARD failed: %s", exc)


# --------------------------------------------------------------------------- API


def read_key(
    backend: Any = None,
    serial: str | None = None,
    *,
    vendor_id: int = KEYREADER_VENDOR_ID,
    product_id: int = KEYREADER_PRODUCT_ID,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    beep: bool = True,
) -> KeyRead:
    """Read and parse the key lying in a KeyReader.

    ``backend`` goes to :func:`usb.core.find` (``None``: libusb/OpenUSB as found
    by pyusb); ``serial`` selects one reader when several are connected (``None``:
    the first found). Blocking; call it from a thread in async code.

    Raises :class:`KeyReaderNotFound`, :class:`NoKeyPresent`, :class:`KeyReadFailed`,
    and :class:`domain.key_data_block.CorruptKeyData` when the block does not parse.
    """
    dev, identity = _select_device(backend, serial, vendor_id, product_id)
    try:
        _prepare(dev)
        _check_info(dev, timeout_ms)
        length = _request_block(dev, timeout_ms)
        try:
            raw = _receive(dev, length, timeout_ms)
        except KeyReadFailed as exc:
            if exc.reason != "disconnected":
                _discard_quietly(dev, timeout_ms)
            raise
        key = parse_key_data(raw)  # CorruptKeyData propagates as it is
        if beep:
            try:
                _command(dev, CMD_BEEP, 1, timeout_ms)
            except usb.core.USBError as exc:  # the data is read; the beep is a courtesy
                _log.warning("KeyReader %s did not beep: %s", identity.label, exc)
        return KeyRead(key=key, reader=identity, raw=raw, read_at=datetime.now(UTC))
    finally:
        with contextlib.suppress(usb.core.USBError):  # unplugged: nothing left to release
            usb.util.release_interface(dev, KEYREADER_INTERFACE)
        usb.util.dispose_resources(dev)
