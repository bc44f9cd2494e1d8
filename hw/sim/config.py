"""Configuration of the simulated vehicle (ECUs, memory layout, timings).

Timing model: each flashable ECU has a :class:`~domain.programming_timing.ProgrammingTiming`
(``EcuConfig.timing``, default :data:`DEFAULT_ECU_TIMING`, figures of a real ECU: a 1 MiB
image takes about half a minute, a 16 MiB one about six minutes). The car applies it scaled by
``VehicleConfig.timing_scale``: 0 (the default) turns it off, 1 is real time, 0.01 a hundred
times faster. With it on, erase, each TransferData block, check memory and the restart after
ECUReset take that long, and the ECU answers ResponsePending (0x78) every
``pending_interval`` while it works longer than P2server. The ECU reports the figures it
applies (scaled) in DID 0xF1A0. ``erase_time``/``erase_time_per_mib`` stay as a base erase
time that applies with the model off too.

The same layout is used by :func:`hw.flash_files.build_demo_package`, so a demo package
always fits the simulated car: per flashable ECU one program unit (SWFL) at the start of
its flash window and one coding unit (CAFD) at ``flash_start + CODING_OFFSET``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from domain.flash_package import ProcessClass, SoftwareUnit, SoftwareVersion
from domain.programming_timing import ProgrammingTiming
from hw.protocol import VEHICLE_ECUS, EcuInfo, ecu_by_name
from hw.security import secret_for

DEFAULT_VIN = "WBA5R1C50LFH00001"
# 32 MiB per flashable ECU, room for the largest real program images (16 MiB and more). Each
# ECU has its own address space, so windows may overlap in number between ECUs. Memory is only
# allocated for what is erased, so a large window costs nothing until it is programmed.
FLASH_WINDOW = 0x0200_0000
CODING_OFFSET = FLASH_WINDOW - 0x0001_0000  # coding region: last 64 KiB of the window
CODING_MAX = FLASH_WINDOW - CODING_OFFSET
INITIAL_IMAGE_SIZE = 512  # bytes per unit in a factory-new simulated car


@dataclass(frozen=True)
class EcuLayout:
    """Where an ECU keeps which unit; shared by the simulator and the demo package builder."""

    name: str
    hardware_id: str
    flash_start: int
    program_sgbm: int
    coding_sgbm: int
    max_block_length: int  # maxNumberOfBlockLength (includes SID and block counter)

    @property
    def program_address(self) -> int:
        return self.flash_start

    @property
    def coding_address(self) -> int:
        return self.flash_start + CODING_OFFSET

    def program_unit(self, version: SoftwareVersion) -> SoftwareUnit:
        return SoftwareUnit(
            process_class=ProcessClass.SWFL, sgbm_id=self.program_sgbm, version=version
        )

    def coding_unit(self, version: SoftwareVersion) -> SoftwareUnit:
        return SoftwareUnit(
            process_class=ProcessClass.CAFD, sgbm_id=self.coding_sgbm, version=version
        )


FLASH_LAYOUT: dict[str, EcuLayout] = {
    "DME": EcuLayout("DME", "HW-DME-B48-02", 0x0080_0000, 0x0000_A1B2, 0x0000_C1D0, 0x0FFF),
    "EGS": EcuLayout("EGS", "HW-EGS-8HP-51", 0x0100_0000, 0x0000_B2C3, 0x0000_C2D1, 0x0802),
    "BDC": EcuLayout("BDC", "HW-BDC-G30-11", 0x0180_0000, 0x0000_C3D4, 0x0000_C3D2, 0x0402),
    "KOMBI": EcuLayout("KOMBI", "HW-KOMBI-6WB-03", 0x0200_0000, 0x0000_D4E5, 0x0000_C4D3, 0x0202),
}
GATEWAY_HARDWARE_ID = "HW-ZGW-FEM-01"
# A flash ECU's figures: NOR sectors erase at about 10 ms per KiB, programming about 12 ms per
# KiB, a CRC over the segment 2.5 s, a restart 1.5 s. 1 MiB: ~27 s, 16 MiB: ~6 min.
DEFAULT_ECU_TIMING = ProgrammingTiming(
    erase_ms_per_kib=10.0, write_ms_per_kib=12.0, check_ms=2500.0, reset_ms=1500.0
)
INITIAL_VERSION = SoftwareVersion(major=1, minor=0, patch=0)


@dataclass
class EcuConfig:
    info: EcuInfo
    hardware_id: str
    serial_number: str
    secret: int
    max_block_length: int = 0x0802
    flash_start: int = 0
    flash_size: int = 0  # 0: not programmable
    erase_time: float = 0.02  # seconds per erase request ...
    erase_time_per_mib: float = 0.05  # ... plus this per MiB erased
    initial_software: list[tuple[int, SoftwareUnit, int]] = field(default_factory=list)
    service_items: bool = False  # holds the CBS items DID (instrument cluster)
    # the timing model (see the module doc); None: no model and no DID 0xF1A0
    timing: ProgrammingTiming | None = None
    # erase and RequestDownload need a fingerprint written in the programming session (0x22)
    require_fingerprint: bool = True
    tester_identity: bool = True  # holds 0xF198 (tester serial) and 0xF199 (programming date)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def flashable(self) -> bool:
        return self.flash_size > 0


@dataclass
class VehicleConfig:
    vin: str = DEFAULT_VIN
    ecus: list[EcuConfig] = field(default_factory=list)
    battery_mv: int = 12_600
    min_programming_mv: int = 12_000  # below: NRC 0x93 voltageTooLow for programming
    s3_timeout: float = 5.0  # non-default session falls back to default without requests
    max_key_attempts: int = 3
    lockout_time: float = 10.0  # NRC 0x37 requiredTimeDelayNotExpired during this time
    reset_time: float = 0.05  # ECU is silent this long after ECUReset
    pending_interval: float = 1.0  # ResponsePending repetition while an ECU is busy
    p2_server_ms: int = 50
    p2_star_server_ms: int = 5000
    timing_scale: float = 0.0  # the ECUs' timing model: 0 off, 1 real time, 0.01 100x faster
    rng_seed: int | None = None  # security seeds; None = os.urandom

    def ecu(self, name: str) -> EcuConfig:
        for cfg in self.ecus:
            if cfg.name == name:
                return cfg
        raise KeyError(name)

    def replace(self, **changes: Any) -> VehicleConfig:
        return dataclasses.replace(self, **changes)


def default_vehicle_config(**overrides: Any) -> VehicleConfig:
    """Gateway + DME, EGS, BDC, KOMBI with software 1.0.0 in memory."""
    ecus: list[EcuConfig] = []
    for info in VEHICLE_ECUS:
        layout = FLASH_LAYOUT.get(info.name)
        if layout is None:
            ecus.append(
                EcuConfig(
                    info=info,
                    hardware_id=GATEWAY_HARDWARE_ID,
                    serial_number=f"SN{info.doip_address:04X}0001",
                    secret=secret_for(info.name),
                )
            )
            continue
        ecus.append(
            EcuConfig(
                info=info,
                hardware_id=layout.hardware_id,
                serial_number=f"SN{info.doip_address:04X}0001",
                secret=secret_for(info.name),
                max_block_length=layout.max_block_length,
                flash_start=layout.flash_start,
                flash_size=FLASH_WINDOW,
                initial_software=[
                    (
                        layout.program_address,
                        layout.program_unit(INITIAL_VERSION),
                        INITIAL_IMAGE_SIZE,
                    ),
                    (
                        layout.coding_address,
                        layout.coding_unit(INITIAL_VERSION),
                        INITIAL_IMAGE_SIZE,
                    ),
                ],
                service_items=(info.name == "KOMBI"),
                timing=DEFAULT_ECU_TIMING,
            )
        )
    config = VehicleConfig(ecus=ecus)
    return dataclasses.replace(config, **overrides) if overrides else config


def tune_ecu(config: VehicleConfig, name: str, **changes: Any) -> VehicleConfig:
    """Copy of ``config`` with ECU ``name`` changed (e.g. ``max_block_length=0x82``)."""
    ecu_by_name(name, [c.info for c in config.ecus])
    return dataclasses.replace(
        config,
        ecus=[dataclasses.replace(c, **changes) if c.name == name else c for c in config.ecus],
    )
