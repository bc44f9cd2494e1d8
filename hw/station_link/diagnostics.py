"""Reading a car over a station link: VIN, battery voltage, software list, hardware number,
programming fingerprint, the ECU's programming timing figures; and the condition-based-service items of the instrument cluster."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from domain.flash_package import SoftwareUnit
from domain.programming_timing import ProgrammingTiming
from hw import protocol as P
from hw.errors import InvalidResponse, RequestOutOfRange, VinMismatch, WrongHardware
from hw.protocol import Session
from hw.station_link.sessions import SessionControl


class Diagnostics(SessionControl):
    """The identification reads and the service items of a station link."""

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

    def read_fingerprint(self, ecu: str) -> P.Fingerprint | None:
        """The last programming fingerprint, None if the ECU was never programmed."""
        raw = self.read_did(ecu, P.DID_FINGERPRINT)
        if raw == bytes(len(raw)):
            return None
        fp = self._decode(ecu, "fingerprint", lambda: P.Fingerprint.decode(raw))
        assert isinstance(fp, P.Fingerprint)
        return fp

    def read_programming_timing(self, ecu: str) -> ProgrammingTiming | None:
        """The ECU's own erase/write/check/reset figures (vendor DID 0xF1A0), for
        :func:`domain.programming_timing.estimate_programming_seconds`; None when the ECU
        does not report them (NRC 0x31). Any session."""
        try:
            raw = self.read_did(ecu, P.DID_PROGRAMMING_TIMING)
        except RequestOutOfRange:
            return None
        timing = self._decode(ecu, "programming timing", lambda: P.decode_programming_timing(raw))
        assert isinstance(timing, ProgrammingTiming)
        return timing

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
