"""A simulated KeyReader that is a real pyusb backend.

Pass it to :func:`usb.core.find` (or to :func:`hw.keyreader.read_key` as
``backend=``): pyusb builds its ``Device``/``Configuration``/``Interface``/
``Endpoint`` objects from the descriptors here and sends every transfer through
the :class:`usb.backend.IBackend` methods, exactly as with libusb. The driver
code is therefore the same in tests, in the demo station and in production.

The simulated reader implements the protocol documented in :mod:`hw.keyreader`
and answers the standard string-descriptor requests (manufacturer, product,
serial number). Tests steer it with :meth:`SimulatedKeyReader.insert_key`,
``remove_key``, ``corrupt_next_read``, ``truncate_next_read``,
``fail_next_read`` and ``unplug``/``plug``; the backend offers the same methods
for its first reader.

Demo data: :func:`load_demo_vehicles` reads ``domain/data/demo_vehicles.json``
(the domain package ships the file, this module does the I/O) and
:func:`demo_key_blob` builds the key block of one of those vehicles.
"""

from __future__ import annotations

import array
import errno
import struct
import threading
from dataclasses import dataclass, field

import usb.backend
import usb.core
import usb.util

from domain.demo_vehicles import (
    DEMO_VEHICLES_RESOURCE,
    DemoCbsItem,
    DemoTechnicalAction,
    DemoTeleservices,
    DemoVehicle,
    demo_key_blob,
    demo_key_data,
    demo_vehicle,
    load_demo_vehicles,
)
from domain.key_data_block import (
    CRC_SIZE,
    HEADER_SIZE,
    MAX_BLOCK_SIZE,
)
from hw.keyreader import (
    BM_VENDOR_IN,
    CMD_BEEP,
    CMD_DISCARD,
    EP_BULK_IN,
    EP_BULK_OUT,
    INFO_FORMAT,
    KEYREADER_CONFIGURATION,
    KEYREADER_INTERFACE,
    KEYREADER_PRODUCT_ID,
    KEYREADER_VENDOR_ID,
    PACKET_SIZE,
    PROTOCOL_VERSION,
    READ_BLOCK_FORMAT,
    REQ_GET_INFO,
    REQ_READ_BLOCK,
    STATUS_NO_KEY,
    STATUS_OK,
    STATUS_TRANSPONDER_ERROR,
)

__all__ = [
    "DEMO_VEHICLES_RESOURCE",
    "DemoCbsItem",
    "DemoTechnicalAction",
    "DemoTeleservices",
    "DemoVehicle",
    "SimulatedKeyReader",
    "SimulatedKeyReaderBackend",
    "demo_key_blob",
    "demo_key_data",
    "demo_vehicle",
    "get_backend",
    "load_demo_vehicles",
]

# libusb error codes, so the errors look like the ones the libusb1 backend raises
_LIBUSB_ERROR_IO = -1
_LIBUSB_ERROR_INVALID_PARAM = -2
_LIBUSB_ERROR_NO_DEVICE = -4
_LIBUSB_ERROR_NOT_FOUND = -5
_LIBUSB_ERROR_BUSY = -6
_LIBUSB_ERROR_TIMEOUT = -7
_LIBUSB_ERROR_PIPE = -9

_LANGID_EN_US = 0x0409
_STRING_MANUFACTURER = 1
_STRING_PRODUCT = 2
_STRING_SERIAL = 3
_GET_DESCRIPTOR = 0x06
_GET_STATUS = 0x00

_BM_STANDARD_DEVICE_IN = usb.util.build_request_type(
    usb.util.CTRL_IN, usb.util.CTRL_TYPE_STANDARD, usb.util.CTRL_RECIPIENT_DEVICE
)


def _no_device() -> usb.core.USBError:
    return usb.core.USBError(
        "No such device (it may have been disconnected)", _LIBUSB_ERROR_NO_DEVICE, errno.ENODEV
    )


def _stall(what: str) -> usb.core.USBError:
    return usb.core.USBError(f"Pipe error ({what})", _LIBUSB_ERROR_PIPE, errno.EPIPE)


def _timeout() -> usb.core.USBTimeoutError:
    return usb.core.USBTimeoutError("Operation timed out", _LIBUSB_ERROR_TIMEOUT, errno.ETIMEDOUT)


# --------------------------------------------------------------------------- descriptors


# Field names are the USB descriptor names, which is how pyusb reads them.


@dataclass(frozen=True)
class _DeviceDescriptor:
    idVendor: int  # USB descriptor field names, as pyusb reads them
    idProduct: int
    bus: int
    address: int
    port_number: int
    bLength: int = 18
    bDescriptorType: int = usb.util.DESC_TYPE_DEVICE
    bcdUSB: int = 0x0200
    bDeviceClass: int = 0x00  # class given per interface
    bDeviceSubClass: int = 0x00
    bDeviceProtocol: int = 0x00
    bMaxPacketSize0: int = 64
    bcdDevice: int = 0x0100
    iManufacturer: int = _STRING_MANUFACTURER
    iProduct: int = _STRING_PRODUCT
    iSerialNumber: int = _STRING_SERIAL
    bNumConfigurations: int = 1
    port_numbers: tuple[int, ...] = ()
    speed: int = usb.util.SPEED_FULL


@dataclass(frozen=True)
class _ConfigurationDescriptor:
    bLength: int = 9
    bDescriptorType: int = usb.util.DESC_TYPE_CONFIG
    wTotalLength: int = 9 + 9 + 7 + 7
    bNumInterfaces: int = 1
    bConfigurationValue: int = KEYREADER_CONFIGURATION
    iConfiguration: int = 0
    bmAttributes: int = 0x80  # bus powered
    bMaxPower: int = 50  # 100 mA
    extra_descriptors: tuple[int, ...] = ()


@dataclass(frozen=True)
class _InterfaceDescriptor:
    bLength: int = 9
    bDescriptorType: int = usb.util.DESC_TYPE_INTERFACE
    bInterfaceNumber: int = KEYREADER_INTERFACE
    bAlternateSetting: int = 0
    bNumEndpoints: int = 2
    bInterfaceClass: int = 0xFF  # vendor specific
    bInterfaceSubClass: int = 0x00
    bInterfaceProtocol: int = 0x00
    iInterface: int = 0
    extra_descriptors: tuple[int, ...] = ()


@dataclass(frozen=True)
class _EndpointDescriptor:
    bEndpointAddress: int
    bmAttributes: int = usb.util.ENDPOINT_TYPE_BULK
    bLength: int = 7
    bDescriptorType: int = usb.util.DESC_TYPE_ENDPOINT
    wMaxPacketSize: int = PACKET_SIZE
    bInterval: int = 0
    bRefresh: int = 0
    bSynchAddress: int = 0
    extra_descriptors: tuple[int, ...] = ()


_CONFIGURATION = _ConfigurationDescriptor()
_INTERFACE = _InterfaceDescriptor()
_ENDPOINTS = (
    _EndpointDescriptor(bEndpointAddress=EP_BULK_IN),
    _EndpointDescriptor(bEndpointAddress=EP_BULK_OUT),
)


# --------------------------------------------------------------------------- device


@dataclass(eq=False)
class SimulatedKeyReader:
    """One simulated reader: its identity, the key lying in it and fault injection."""

    serial_number: str = "SIMKR-0001"
    manufacturer: str = "AOS Workflows"
    product: str = "KeyReader (simulated)"
    vendor_id: int = KEYREADER_VENDOR_ID
    product_id: int = KEYREADER_PRODUCT_ID
    protocol_version: int = PROTOCOL_VERSION
    firmware: tuple[int, int] = (1, 0)
    bus: int = 1
    address: int = 4
    connected: bool = True
    key_blob: bytes | None = None
    beeps: int = 0
    """Number of beeps the host asked for (one per successful read)."""
    blocks_served: int = 0
    """Number of ``READ_BLOCK`` requests answered with OK."""
    configuration: int = 0
    claimed_by: dict[int, object] = field(default_factory=dict)
    pending: bytearray = field(default_factory=bytearray)
    _corrupt_next: bool = False
    _truncate_next: bool = False
    _fail_next: int | None = None

    # ---- steering from tests and the demo station
    def insert_key(self, blob: bytes) -> None:
        """Lay a key in the reader; ``blob`` is served as it is (see ``build_key_data``)."""
        self.key_blob = bytes(blob)

    def remove_key(self) -> None:
        """Take the key out of the reader."""
        self.key_blob = None

    def corrupt_next_read(self) -> None:
        """Flip one byte inside the body of the next block served (its CRC fails)."""
        self._corrupt_next = True

    def truncate_next_read(self) -> None:
        """Announce the full length on the next read but send 10 bytes less."""
        self._truncate_next = True

    def fail_next_read(self, status: int = STATUS_TRANSPONDER_ERROR) -> None:
        """Answer the next ``READ_BLOCK`` with this status (transponder error, busy)."""
        self._fail_next = status

    def unplug(self) -> None:
        """Disconnect: the device disappears and open handles fail with ENODEV."""
        self.connected = False
        self.configuration = 0
        self.claimed_by.clear()
        self.pending.clear()

    def plug(self) -> None:
        """Connect again (unconfigured, as after any plug-in)."""
        self.connected = True

    # ---- descriptors
    def device_descriptor(self) -> _DeviceDescriptor:
        return _DeviceDescriptor(
            idVendor=self.vendor_id,
            idProduct=self.product_id,
            bus=self.bus,
            address=self.address,
            port_number=self.address,
            port_numbers=(self.address,),
        )

    def string(self, index: int) -> str | None:
        return {
            _STRING_MANUFACTURER: self.manufacturer,
            _STRING_PRODUCT: self.product,
            _STRING_SERIAL: self.serial_number,
        }.get(index)

    # ---- protocol
    def info(self) -> bytes:
        return INFO_FORMAT.pack(
            self.protocol_version,
            self.firmware[0],
            self.firmware[1],
            1 if self.key_blob is not None else 0,
            MAX_BLOCK_SIZE,
        )

    def read_block(self) -> bytes:
        self.pending.clear()
        if self._fail_next is not None:
            status, self._fail_next = self._fail_next, None
            return READ_BLOCK_FORMAT.pack(status, 0)
        if self.key_blob is None:
            return READ_BLOCK_FORMAT.pack(STATUS_NO_KEY, 0)
        block = bytearray(self.key_blob)
        if self._corrupt_next:
            self._corrupt_next = False
            body = len(block) - HEADER_SIZE - CRC_SIZE
            index = HEADER_SIZE + body // 2 if body > 0 else len(block) - 1
            block[index] ^= 0xFF
        length = len(block)
        if self._truncate_next:
            self._truncate_next = False
            del block[max(0, length - 10) :]
        self.pending += block
        self.blocks_served += 1
        return READ_BLOCK_FORMAT.pack(STATUS_OK, length)

    def command(self, data: bytes) -> None:
        if len(data) != 2:
            raise _stall(f"command of {len(data)} bytes")
        command, argument = data
        if command == CMD_BEEP:
            self.beeps += argument
        elif command == CMD_DISCARD:
            self.pending.clear()
        else:
            raise _stall(f"unknown command 0x{command:02x}")


@dataclass(eq=False)
class _Handle:
    reader: SimulatedKeyReader
    closed: bool = False


# --------------------------------------------------------------------------- backend


class SimulatedKeyReaderBackend(usb.backend.IBackend):
    """A pyusb backend with one or more :class:`SimulatedKeyReader` devices on its bus.

    ``insert_key``, ``remove_key``, ``corrupt_next_read`` and the other steering
    methods act on the first reader (:attr:`reader`).
    """

    def __init__(self, *readers: SimulatedKeyReader) -> None:
        self._lock = threading.RLock()
        self.readers: list[SimulatedKeyReader] = list(readers) or [SimulatedKeyReader()]

    @property
    def reader(self) -> SimulatedKeyReader:
        return self.readers[0]

    def add_reader(self, reader: SimulatedKeyReader) -> SimulatedKeyReader:
        with self._lock:
            self.readers.append(reader)
        return reader

    # ---- steering the first reader
    def insert_key(self, blob: bytes) -> None:
        with self._lock:
            self.reader.insert_key(blob)

    def remove_key(self) -> None:
        with self._lock:
            self.reader.remove_key()

    def corrupt_next_read(self) -> None:
        with self._lock:
            self.reader.corrupt_next_read()

    def truncate_next_read(self) -> None:
        with self._lock:
            self.reader.truncate_next_read()

    def fail_next_read(self, status: int = STATUS_TRANSPONDER_ERROR) -> None:
        with self._lock:
            self.reader.fail_next_read(status)

    def unplug(self) -> None:
        with self._lock:
            self.reader.unplug()

    def plug(self) -> None:
        with self._lock:
            self.reader.plug()

    # ---- helpers
    @staticmethod
    def _live(handle: _Handle) -> SimulatedKeyReader:
        if handle.closed or not handle.reader.connected:
            raise _no_device()
        return handle.reader

    @staticmethod
    def _require_claim(reader: SimulatedKeyReader, handle: _Handle, intf: int) -> None:
        if reader.configuration != KEYREADER_CONFIGURATION:
            raise _stall("device not configured")
        if reader.claimed_by.get(intf) is not handle:
            raise usb.core.USBError(
                f"Entity not found (interface {intf} not claimed)",
                _LIBUSB_ERROR_NOT_FOUND,
                errno.ENOENT,
            )

    # ---- enumeration and descriptors
    def enumerate_devices(self) -> list[SimulatedKeyReader]:
        with self._lock:
            return [r for r in self.readers if r.connected]

    def get_parent(self, dev: SimulatedKeyReader) -> None:
        return None

    def get_device_descriptor(self, dev: SimulatedKeyReader) -> _DeviceDescriptor:
        return dev.device_descriptor()

    def get_configuration_descriptor(
        self, dev: SimulatedKeyReader, config: int
    ) -> _ConfigurationDescriptor:
        if config != 0:
            raise IndexError(f"Invalid configuration index {config}")
        return _CONFIGURATION

    def get_interface_descriptor(
        self, dev: SimulatedKeyReader, intf: int, alt: int, config: int
    ) -> _InterfaceDescriptor:
        if config != 0:
            raise IndexError(f"Invalid configuration index {config}")
        if intf != 0:
            raise IndexError(f"Invalid interface index {intf}")
        if alt != 0:
            raise IndexError(f"Invalid alternate setting index {alt}")
        return _INTERFACE

    def get_endpoint_descriptor(
        self, dev: SimulatedKeyReader, ep: int, intf: int, alt: int, config: int
    ) -> _EndpointDescriptor:
        self.get_interface_descriptor(dev, intf, alt, config)
        if not 0 <= ep < len(_ENDPOINTS):
            raise IndexError(f"Invalid endpoint index {ep}")
        return _ENDPOINTS[ep]

    # ---- device handle
    def open_device(self, dev: SimulatedKeyReader) -> _Handle:
        with self._lock:
            if not dev.connected:
                raise _no_device()
            return _Handle(dev)

    def close_device(self, dev_handle: _Handle) -> None:
        with self._lock:
            reader = dev_handle.reader
            for intf, owner in list(reader.claimed_by.items()):
                if owner is dev_handle:
                    del reader.claimed_by[intf]
            dev_handle.closed = True

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        with self._lock:
            reader = self._live(dev_handle)
            if config_value not in (0, KEYREADER_CONFIGURATION):
                raise usb.core.USBError("Entity not found", _LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)
            if any(owner is not dev_handle for owner in reader.claimed_by.values()):
                raise usb.core.USBError("Resource busy", _LIBUSB_ERROR_BUSY, errno.EBUSY)
            reader.configuration = config_value
            reader.pending.clear()

    def get_configuration(self, dev_handle: _Handle) -> int:
        with self._lock:
            return self._live(dev_handle).configuration

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        with self._lock:
            reader = self._live(dev_handle)
            self._require_claim(reader, dev_handle, intf)
            if altsetting != 0:
                raise usb.core.USBError("Entity not found", _LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        with self._lock:
            reader = self._live(dev_handle)
            if intf != KEYREADER_INTERFACE:
                raise usb.core.USBError("Entity not found", _LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)
            owner = reader.claimed_by.get(intf)
            if owner is not None and owner is not dev_handle:
                raise usb.core.USBError("Resource busy", _LIBUSB_ERROR_BUSY, errno.EBUSY)
            reader.claimed_by[intf] = dev_handle

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        with self._lock:
            reader = self._live(dev_handle)
            if reader.claimed_by.get(intf) is not dev_handle:
                raise usb.core.USBError("Entity not found", _LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)
            del reader.claimed_by[intf]

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        self._live(dev_handle)
        return False

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        self._live(dev_handle)
        raise usb.core.USBError("Entity not found", _LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)

    def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        self._live(dev_handle)
        raise usb.core.USBError("Entity not found", _LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)

    def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
        with self._lock:
            self._live(dev_handle)

    def reset_device(self, dev_handle: _Handle) -> None:
        with self._lock:
            reader = self._live(dev_handle)
            reader.configuration = 0
            reader.claimed_by.clear()
            reader.pending.clear()

    # ---- transfers
    def ctrl_transfer(
        self,
        dev_handle: _Handle,
        bmRequestType: int,  # pyusb's parameter names
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array.array[int],
        timeout: int,
    ) -> int:
        with self._lock:
            reader = self._live(dev_handle)
            if bmRequestType == _BM_STANDARD_DEVICE_IN:
                reply = self._standard_in(reader, bRequest, wValue, wIndex)
            elif bmRequestType == BM_VENDOR_IN and wIndex == KEYREADER_INTERFACE:
                if reader.configuration != KEYREADER_CONFIGURATION:
                    raise _stall("device not configured")
                if bRequest == REQ_GET_INFO:
                    reply = reader.info()
                elif bRequest == REQ_READ_BLOCK:
                    self._require_claim(reader, dev_handle, KEYREADER_INTERFACE)
                    reply = reader.read_block()
                else:
                    raise _stall(f"unknown vendor request 0x{bRequest:02x}")
            else:
                raise _stall(f"unsupported request type 0x{bmRequestType:02x}")
            count = min(len(data), len(reply))
            data[:count] = array.array("B", reply[:count])
            return count

    @staticmethod
    def _standard_in(reader: SimulatedKeyReader, request: int, value: int, index: int) -> bytes:
        if request == _GET_STATUS:
            return b"\x00\x00"
        if request != _GET_DESCRIPTOR or value >> 8 != usb.util.DESC_TYPE_STRING:
            raise _stall(f"standard request 0x{request:02x} value 0x{value:04x}")
        string_index = value & 0xFF
        if string_index == 0:
            return bytes((4, usb.util.DESC_TYPE_STRING)) + struct.pack("<H", _LANGID_EN_US)
        text = reader.string(string_index)
        if text is None or index != _LANGID_EN_US:
            raise _stall(f"string descriptor {string_index} language 0x{index:04x}")
        encoded = text.encode("utf-16-le")[:252]
        return bytes((2 + len(encoded), usb.util.DESC_TYPE_STRING)) + encoded

    def bulk_read(
        self, dev_handle: _Handle, ep: int, intf: int, buff: array.array[int], timeout: int
    ) -> int:
        with self._lock:
            reader = self._live(dev_handle)
            self._require_claim(reader, dev_handle, intf)
            if ep != EP_BULK_IN:
                raise _stall(f"endpoint 0x{ep:02x} is not an IN endpoint")
            if not reader.pending:
                raise _timeout()  # nothing to send: the host would wait until its timeout
            count = min(len(buff), PACKET_SIZE, len(reader.pending))
            buff[:count] = array.array("B", reader.pending[:count])
            del reader.pending[:count]
            return count

    def bulk_write(
        self, dev_handle: _Handle, ep: int, intf: int, data: array.array[int], timeout: int
    ) -> int:
        with self._lock:
            reader = self._live(dev_handle)
            self._require_claim(reader, dev_handle, intf)
            if ep != EP_BULK_OUT:
                raise _stall(f"endpoint 0x{ep:02x} is not an OUT endpoint")
            reader.command(data.tobytes())
            return len(data)


def get_backend() -> SimulatedKeyReaderBackend:
    """pyusb's backend-module convention: a fresh backend with one simulated reader."""
    return SimulatedKeyReaderBackend()
