"""The KeyReader driver against the simulated reader, which is a real pyusb backend."""

import json
import zlib
from importlib import resources
from typing import Any

import pytest
import usb.core
import usb.util

from domain.key_data_block import CorruptKeyData, KeyDataErrorReason, build_key_data
from domain.vin import validate_vin
from hw.keyreader import (
    EP_BULK_IN,
    KEYREADER_PRODUCT_ID,
    KEYREADER_VENDOR_ID,
    STATUS_BUSY,
    KeyRead,
    KeyReaderNotFound,
    KeyReadFailed,
    NoKeyPresent,
    list_readers,
    read_key,
)
from hw.sim.keyreader_backend import (
    DEMO_VEHICLES_RESOURCE,
    SimulatedKeyReader,
    SimulatedKeyReaderBackend,
    demo_key_blob,
    demo_key_data,
    demo_vehicle,
    load_demo_vehicles,
)

SEDAN = "WBA8E5105FK731548"
MINI = "WMWXR310XL2K40716"
X5 = "5UXCR6506KL218734"


@pytest.fixture
def backend() -> SimulatedKeyReaderBackend:
    sim = SimulatedKeyReaderBackend()
    sim.insert_key(demo_key_blob(SEDAN))
    return sim


# --------------------------------------------------------------------------- the sim is pyusb


def test_sim_is_found_by_pyusb(backend: SimulatedKeyReaderBackend) -> None:
    dev = usb.core.find(
        backend=backend, idVendor=KEYREADER_VENDOR_ID, idProduct=KEYREADER_PRODUCT_ID
    )
    assert dev is not None
    assert dev.serial_number == "SIMKR-0001"
    assert dev.product == "KeyReader (simulated)"
    assert dev.manufacturer == "AOS Workflows"
    assert dev.langids == (0x0409,)
    text = str(dev)  # walks every descriptor pyusb knows about
    assert "ENDPOINT 0x81: Bulk IN" in text
    assert "ENDPOINT 0x1: Bulk OUT" in text
    usb.util.dispose_resources(dev)


def test_sim_descriptors_through_pyusb(backend: SimulatedKeyReaderBackend) -> None:
    dev = usb.core.find(backend=backend, idVendor=KEYREADER_VENDOR_ID)
    (cfg,) = dev.configurations()
    assert cfg.bConfigurationValue == 1
    (intf,) = cfg.interfaces()
    assert intf.bInterfaceClass == 0xFF
    assert [ep.bEndpointAddress for ep in intf.endpoints()] == [0x81, 0x01]
    with pytest.raises(usb.core.USBError, match="Configuration not set"):
        dev.get_active_configuration()
    dev.set_configuration()
    assert dev.get_active_configuration().bConfigurationValue == 1
    usb.util.dispose_resources(dev)


def test_other_ids_are_not_found(backend: SimulatedKeyReaderBackend) -> None:
    assert usb.core.find(backend=backend, idVendor=0x046D) is None


def test_bulk_read_without_a_request_times_out(backend: SimulatedKeyReaderBackend) -> None:
    dev = usb.core.find(backend=backend, idVendor=KEYREADER_VENDOR_ID)
    dev.set_configuration()
    with pytest.raises(usb.core.USBTimeoutError):
        dev.read(EP_BULK_IN, 64, 10)
    usb.util.dispose_resources(dev)


def test_unknown_vendor_request_stalls(backend: SimulatedKeyReaderBackend) -> None:
    dev = usb.core.find(backend=backend, idVendor=KEYREADER_VENDOR_ID)
    dev.set_configuration()
    with pytest.raises(usb.core.USBError, match="Pipe error"):
        dev.ctrl_transfer(0xC1, 0x7F, 0, 0, 4)
    usb.util.dispose_resources(dev)


# --------------------------------------------------------------------------- reading keys


def test_reads_a_demo_key(backend: SimulatedKeyReaderBackend) -> None:
    result = read_key(backend)
    assert result.key == demo_key_data(SEDAN)
    assert result.key.vin == SEDAN
    assert result.key.mileage_km == 194_826
    assert result.raw == demo_key_blob(SEDAN)
    assert result.reader.serial_number == "SIMKR-0001"
    assert result.reader.vendor_id == KEYREADER_VENDOR_ID
    assert result.reader.label == "KeyReader (simulated) #SIMKR-0001"
    assert result.read_at.tzinfo is not None
    # the reader beeped once, the interface was released and nothing is left queued
    assert backend.reader.beeps == 1
    assert backend.reader.claimed_by == {}
    assert not backend.reader.pending


def test_every_demo_vehicle_reads_back(backend: SimulatedKeyReaderBackend) -> None:
    for vehicle in load_demo_vehicles():
        backend.insert_key(demo_key_blob(vehicle.vin))
        assert read_key(backend).key == vehicle.key_data()
    assert backend.reader.beeps == len(load_demo_vehicles())


def test_beep_can_be_skipped(backend: SimulatedKeyReaderBackend) -> None:
    read_key(backend, beep=False)
    assert backend.reader.beeps == 0


def test_key_read_survives_a_json_round_trip(backend: SimulatedKeyReaderBackend) -> None:
    result = read_key(backend)
    assert KeyRead.model_validate_json(result.model_dump_json()) == result


def test_no_key_present(backend: SimulatedKeyReaderBackend) -> None:
    backend.remove_key()
    with pytest.raises(NoKeyPresent) as info:
        read_key(backend)
    assert info.value.reason == "no_key"
    assert info.value.details() == {"code": "NoKeyPresent", "reason": "no_key", "transient": False}
    assert backend.reader.beeps == 0
    assert backend.reader.claimed_by == {}


def test_corrupt_block_propagates_and_the_next_read_works(
    backend: SimulatedKeyReaderBackend,
) -> None:
    backend.corrupt_next_read()
    with pytest.raises(CorruptKeyData) as info:
        read_key(backend)
    assert info.value.reason is KeyDataErrorReason.BAD_CHECKSUM
    assert backend.reader.beeps == 0
    assert read_key(backend).key.vin == SEDAN


def test_corrupt_content_with_valid_crc(backend: SimulatedKeyReaderBackend) -> None:
    block = bytearray(demo_key_blob(SEDAN))
    block[2] = 9  # a future format version
    body = bytes(block[:-4])
    backend.insert_key(body + zlib.crc32(body).to_bytes(4, "big"))
    with pytest.raises(CorruptKeyData) as info:
        read_key(backend)
    assert info.value.reason is KeyDataErrorReason.UNKNOWN_VERSION


def test_short_transfer(backend: SimulatedKeyReaderBackend) -> None:
    backend.truncate_next_read()
    with pytest.raises(KeyReadFailed) as info:
        read_key(backend)
    assert info.value.reason == "short_transfer"
    assert not info.value.transient
    assert not backend.reader.pending
    assert read_key(backend).key.vin == SEDAN


def test_transponder_error_is_transient(backend: SimulatedKeyReaderBackend) -> None:
    backend.fail_next_read()
    with pytest.raises(KeyReadFailed) as info:
        read_key(backend)
    assert info.value.reason == "transponder_error"
    assert info.value.transient


def test_busy_reader(backend: SimulatedKeyReaderBackend) -> None:
    backend.fail_next_read(STATUS_BUSY)
    with pytest.raises(KeyReadFailed) as info:
        read_key(backend)
    assert info.value.reason == "busy"


def test_interface_claimed_by_another_program(backend: SimulatedKeyReaderBackend) -> None:
    other = backend.open_device(backend.reader)
    backend.set_configuration(other, 1)
    backend.claim_interface(other, 0)
    with pytest.raises(KeyReadFailed) as info:
        read_key(backend)
    assert info.value.reason == "busy"
    backend.close_device(other)
    assert read_key(backend).key.vin == SEDAN


def test_unsupported_protocol_version(backend: SimulatedKeyReaderBackend) -> None:
    backend.reader.protocol_version = 2
    with pytest.raises(KeyReadFailed) as info:
        read_key(backend)
    assert info.value.reason == "unsupported_protocol"


class _StallingBackend(SimulatedKeyReaderBackend):
    """Sends nothing on bulk IN: every read times out."""

    def bulk_read(self, dev_handle: Any, ep: int, intf: int, buff: Any, timeout: int) -> int:
        raise usb.core.USBTimeoutError("Operation timed out", -7, 110)


def test_timeout_discards_the_queued_block() -> None:
    sim = _StallingBackend()
    sim.insert_key(demo_key_blob(SEDAN))
    with pytest.raises(KeyReadFailed) as info:
        read_key(sim, timeout_ms=5)
    assert info.value.reason == "timeout"
    assert info.value.transient
    assert not sim.reader.pending  # DISCARD was sent


class _UnpluggedMidRead(SimulatedKeyReaderBackend):
    """The cable is pulled after the first packet."""

    def bulk_read(self, dev_handle: Any, ep: int, intf: int, buff: Any, timeout: int) -> int:
        count = super().bulk_read(dev_handle, ep, intf, buff, timeout)
        self.unplug()
        return count


def test_unplugged_during_the_transfer() -> None:
    sim = _UnpluggedMidRead()
    sim.insert_key(demo_key_blob(SEDAN))
    with pytest.raises(KeyReadFailed) as info:
        read_key(sim)
    assert info.value.reason == "disconnected"
    assert info.value.transient
    with pytest.raises(KeyReaderNotFound):
        read_key(sim)


# --------------------------------------------------------------------------- finding readers


def test_no_reader_connected(backend: SimulatedKeyReaderBackend) -> None:
    backend.unplug()
    with pytest.raises(KeyReaderNotFound) as info:
        read_key(backend)
    assert info.value.reason == "not_connected"
    assert "1209:4b52" in str(info.value)


def test_reader_with_other_ids_is_not_ours() -> None:
    sim = SimulatedKeyReaderBackend(SimulatedKeyReader(vendor_id=0x1234, product_id=0x5678))
    sim.insert_key(demo_key_blob(SEDAN))
    with pytest.raises(KeyReaderNotFound):
        read_key(sim)
    assert read_key(sim, vendor_id=0x1234, product_id=0x5678).key.vin == SEDAN


def test_select_reader_by_serial_number() -> None:
    first = SimulatedKeyReader(serial_number="KR-A", address=4)
    second = SimulatedKeyReader(serial_number="KR-B", address=5)
    first.insert_key(demo_key_blob(MINI))
    second.insert_key(demo_key_blob(X5))
    sim = SimulatedKeyReaderBackend(first, second)

    assert read_key(sim, "KR-B").key.vin == X5
    assert read_key(sim, serial="KR-A").key.vin == MINI
    assert read_key(sim).reader.serial_number == "KR-A"  # first found without a serial
    assert (first.beeps, second.beeps) == (2, 1)
    assert [r.serial_number for r in list_readers(sim)] == ["KR-A", "KR-B"]

    with pytest.raises(KeyReaderNotFound) as info:
        read_key(sim, "KR-C")
    assert info.value.reason == "serial_not_found"
    assert "KR-A" in str(info.value) and "KR-B" in str(info.value)


def test_list_readers_empty_when_unplugged(backend: SimulatedKeyReaderBackend) -> None:
    assert [r.serial_number for r in list_readers(backend)] == ["SIMKR-0001"]
    backend.unplug()
    assert list_readers(backend) == []


# --------------------------------------------------------------------------- demo data


def test_demo_vehicles_file() -> None:
    package, path = DEMO_VEHICLES_RESOURCE
    document = json.loads(resources.files(package).joinpath(path).read_text(encoding="utf-8"))
    assert 6 <= len(document["vehicles"]) <= 8

    vehicles = load_demo_vehicles()
    vins = [v.vin for v in vehicles]
    assert len(set(vins)) == len(vins)
    for vin in vins:  # every demo VIN carries a correct check digit
        assert validate_vin(vin, require_check_digit=True) == vin
    assert {v.brand for v in vehicles} == {"BMW", "MINI", "BMW Motorrad", "Rolls-Royce"}
    for vehicle in vehicles:
        assert vehicle.cbs
        assert vehicle.key_written_on >= vehicle.production_date
    actions = [a for v in vehicles for a in v.technical_actions]
    assert {a.kind for a in actions} == {"recall", "campaign"}
    assert {a.status for a in actions} == {"open", "done"}


def test_demo_key_blob_round_trips() -> None:
    for vehicle in load_demo_vehicles():
        blob = demo_key_blob(vehicle.vin)
        assert build_key_data(vehicle.key_data()) == blob


def test_demo_vehicle_lookup() -> None:
    assert demo_vehicle(SEDAN.lower()).model == "320d EfficientDynamics Edition"
    with pytest.raises(LookupError, match="WBA8E5100FK731548"):
        demo_vehicle("WBA8E5100FK731548")


def test_no_usb_backend_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_backend(*args: Any, **kwargs: Any) -> None:
        raise usb.core.NoBackendError("No backend available")

    monkeypatch.setattr(usb.core, "find", no_backend)
    with pytest.raises(KeyReaderNotFound) as info:
        read_key()
    assert info.value.reason == "no_backend"
