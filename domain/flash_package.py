"""Flash packages: manifest model and pure verification helpers (no I/O).

A flash package is a directory with ``manifest.json`` (:class:`FlashPackageManifest`) and
one binary file per segment. Per ECU it names the target hardware, the software units it
installs (process class, SGBM id, version), the memory segments (address, length, file,
CRC32, SHA-256) and dependencies ("unit X requires unit Y >= version").

Software unit image header
--------------------------
Every segment starts with a 16-byte header naming the software unit it belongs to; the
ECU derives its software list (DID 0xF101) from the headers of its valid segments, so
what the car reports is what is really in its memory::

    offset size  field
    0      4     magic b"SWE1"
    4      1     process class code (PROCESS_CLASS_CODES)
    5      4     SGBM id, big endian
    9      3     version major, minor, patch
    12     4     reserved, zero

All verification helpers return a list of :class:`PackageProblem` (empty = fine) with
messages such as ``"ECU DME segment 0: CRC32 mismatch (manifest 0x1234ABCD, file 0x...)"``.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

MANIFEST_FORMAT_VERSION = 1
# A package id names a folder of the package store: a plain name, never "." or "..".
PACKAGE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


def is_package_id(text: str) -> bool:
    """Whether `text` is a package id (the one rule; the API declares the same pattern)."""
    return re.fullmatch(PACKAGE_ID_PATTERN, text) is not None


class ProcessClass(StrEnum):
    """Software unit kinds (BMW-style process classes)."""

    BTLD = "BTLD"  # boot loader
    SWFL = "SWFL"  # program (software flash)
    SWFK = "SWFK"  # program extension
    CAFD = "CAFD"  # coding data


PROCESS_CLASS_CODES: Mapping[ProcessClass, int] = {
    ProcessClass.BTLD: 0x06,
    ProcessClass.SWFL: 0x08,
    ProcessClass.SWFK: 0x0C,
    ProcessClass.CAFD: 0x0D,
}
PROCESS_CLASS_BY_CODE: Mapping[int, ProcessClass] = {v: k for k, v in PROCESS_CLASS_CODES.items()}


def _parse_int(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            return int(text, 0)
        except ValueError as exc:
            raise ValueError(f"not an integer: {value!r}") from exc
    return value


def _hex32(value: int) -> str:
    return f"0x{value:08X}"


HexInt = Annotated[
    int,
    BeforeValidator(_parse_int),
    Field(ge=0, le=0xFFFFFFFF),
    PlainSerializer(_hex32, return_type=str, when_used="json"),
]
"""Unsigned 32-bit integer; accepts ints or "0x..." strings, written as "0x0000ABCD"."""


def _parse_sgbm(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"(0x)?[0-9A-Fa-f]{1,8}", text):
            raise ValueError(f"SGBM id must be up to 8 hex digits, got {value!r}")
        return int(text, 16)
    return value


SgbmId = Annotated[
    int,
    BeforeValidator(_parse_sgbm),
    Field(ge=0, le=0xFFFFFFFF),
    PlainSerializer(lambda v: f"{v:08X}", return_type=str, when_used="json"),
]
"""SGBM id: 32-bit, written as 8 hex digits ("0000A1B2")."""


class SoftwareVersion(BaseModel):
    """major.minor.patch, each 0..255; JSON form "1.2.3"."""

    model_config = ConfigDict(frozen=True)

    major: int = Field(ge=0, le=255)
    minor: int = Field(ge=0, le=255)
    patch: int = Field(ge=0, le=255)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = re.fullmatch(r"\s*(\d+)\.(\d+)\.(\d+)\s*", value)
            if not match:
                raise ValueError(f"version must look like 1.2.3, got {value!r}")
            return {"major": match[1], "minor": match[2], "patch": match[3]}
        if isinstance(value, tuple | list) and len(value) == 3:
            return {"major": value[0], "minor": value[1], "patch": value[2]}
        return value

    @classmethod
    def of(cls, text: str) -> SoftwareVersion:
        return cls.model_validate(text)

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def __lt__(self, other: SoftwareVersion) -> bool:
        return self.as_tuple() < other.as_tuple()

    def __le__(self, other: SoftwareVersion) -> bool:
        return self.as_tuple() <= other.as_tuple()

    def __gt__(self, other: SoftwareVersion) -> bool:
        return self.as_tuple() > other.as_tuple()

    def __ge__(self, other: SoftwareVersion) -> bool:
        return self.as_tuple() >= other.as_tuple()


def _version_json(v: SoftwareVersion) -> str:
    return str(v)


VersionField = Annotated[SoftwareVersion, PlainSerializer(_version_json, return_type=str)]


class UnitRef(BaseModel):
    """Identifies a software unit regardless of version."""

    model_config = ConfigDict(frozen=True)

    process_class: ProcessClass
    sgbm_id: SgbmId

    def __str__(self) -> str:
        return f"{self.process_class}_{self.sgbm_id:08X}"


class SoftwareUnit(BaseModel):
    """One installed/installable software unit, e.g. ``SWFL_0000A1B2_002_000_001``."""

    model_config = ConfigDict(frozen=True)

    process_class: ProcessClass
    sgbm_id: SgbmId
    version: VersionField

    @property
    def ref(self) -> UnitRef:
        return UnitRef(process_class=self.process_class, sgbm_id=self.sgbm_id)

    def __str__(self) -> str:
        v = self.version
        return f"{self.process_class}_{self.sgbm_id:08X}_{v.major:03d}_{v.minor:03d}_{v.patch:03d}"

    @classmethod
    def parse(cls, text: str) -> SoftwareUnit:
        """Parse ``SWFL_0000A1B2_002_000_001``."""
        match = re.fullmatch(r"([A-Z]{4})_([0-9A-Fa-f]{8})_(\d{3})_(\d{3})_(\d{3})", text.strip())
        if not match:
            raise ValueError(f"not a software unit name: {text!r}")
        return cls(
            process_class=ProcessClass(match[1]),
            sgbm_id=int(match[2], 16),
            version=SoftwareVersion(major=int(match[3]), minor=int(match[4]), patch=int(match[5])),
        )


class SegmentSpec(BaseModel):
    """One contiguous memory segment written by the package."""

    address: HexInt
    length: int = Field(gt=0, le=0xFFFFFFFF)
    file: str = Field(min_length=1)
    crc32: HexInt
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("sha256", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("file")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if "/" in value or "\\" in value or value in (".", "..") or value.startswith("."):
            raise ValueError(f"segment file must be a plain file name, got {value!r}")
        return value

    @property
    def end(self) -> int:
        return self.address + self.length


class Dependency(BaseModel):
    """``unit`` (of this ECU) requires ``requires`` on ``requires_ecu`` at ``min_version``+."""

    unit: UnitRef
    requires_ecu: str
    requires: UnitRef
    min_version: VersionField

    def __str__(self) -> str:
        return f"{self.unit} requires {self.requires_ecu} {self.requires} >= {self.min_version}"


class EcuPackage(BaseModel):
    ecu: str = Field(min_length=1)
    target_hardware_id: str = Field(min_length=1)
    software_units: list[SoftwareUnit] = Field(min_length=1)
    segments: list[SegmentSpec] = Field(min_length=1)
    dependencies: list[Dependency] = Field(default_factory=list)

    def unit(self, ref: UnitRef) -> SoftwareUnit | None:
        for unit in self.software_units:
            if unit.ref == ref:
                return unit
        return None

    @property
    def total_bytes(self) -> int:
        return sum(s.length for s in self.segments)


class FlashPackageManifest(BaseModel):
    format_version: int = MANIFEST_FORMAT_VERSION
    package_id: str = Field(min_length=1)
    description: str = ""
    ecus: list[EcuPackage] = Field(min_length=1)

    @field_validator("format_version")
    @classmethod
    def _known_format(cls, value: int) -> int:
        if value != MANIFEST_FORMAT_VERSION:
            raise ValueError(f"unsupported manifest format_version {value}")
        return value

    def ecu(self, name: str) -> EcuPackage:
        for pkg in self.ecus:
            if pkg.ecu == name:
                return pkg
        raise KeyError(name)

    @property
    def ecu_names(self) -> list[str]:
        return [pkg.ecu for pkg in self.ecus]

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        return cls.model_validate_json(text)


class PackageCheck(StrEnum):
    """What a package problem failed."""

    MANIFEST = "manifest"
    STRUCTURE = "structure"
    FILE = "file"
    LENGTH = "length"
    CRC32 = "crc32"
    SHA256 = "sha256"
    IMAGE_HEADER = "image_header"
    DEPENDENCY = "dependency"


class PackageProblem(BaseModel):
    """One named problem found by a verification helper."""

    model_config = ConfigDict(frozen=True)

    ecu: str | None
    check: PackageCheck
    message: str
    segment: int | None = None

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------- image header

IMAGE_HEADER_MAGIC = b"SWE1"
IMAGE_HEADER = struct.Struct(">4sBI3B4x")
IMAGE_HEADER_SIZE = IMAGE_HEADER.size  # 16


def encode_image_header(unit: SoftwareUnit) -> bytes:
    v = unit.version
    return IMAGE_HEADER.pack(
        IMAGE_HEADER_MAGIC,
        PROCESS_CLASS_CODES[unit.process_class],
        unit.sgbm_id,
        v.major,
        v.minor,
        v.patch,
    )


def parse_image_header(data: bytes | bytearray | memoryview) -> SoftwareUnit | None:
    """The unit named by a segment's header, or None if there is no valid header."""
    if len(data) < IMAGE_HEADER_SIZE:
        return None
    magic, code, sgbm, major, minor, patch = IMAGE_HEADER.unpack_from(data)
    if magic != IMAGE_HEADER_MAGIC or code not in PROCESS_CLASS_BY_CODE:
        return None
    return SoftwareUnit(
        process_class=PROCESS_CLASS_BY_CODE[code],
        sgbm_id=sgbm,
        version=SoftwareVersion(major=major, minor=minor, patch=patch),
    )


def crc32(data: bytes | bytearray | memoryview) -> int:
    """CRC-32 (IEEE 802.3, as zlib.crc32) used by manifest and check-memory routine."""
    return zlib.crc32(data) & 0xFFFFFFFF


# --------------------------------------------------------------------------- verification


def _p(
    ecu: str | None, check: PackageCheck, message: str, segment: int | None = None
) -> PackageProblem:
    where = f"ECU {ecu}" if ecu else "package"
    if segment is not None:
        where += f" segment {segment}"
    return PackageProblem(ecu=ecu, check=check, message=f"{where}: {message}", segment=segment)


def verify_structure(manifest: FlashPackageManifest) -> list[PackageProblem]:
    """Consistency of the manifest itself (no file contents needed)."""
    problems: list[PackageProblem] = []
    seen: set[str] = set()
    files: dict[str, str] = {}
    for pkg in manifest.ecus:
        if pkg.ecu in seen:
            problems.append(_p(pkg.ecu, PackageCheck.STRUCTURE, "ECU listed twice"))
        seen.add(pkg.ecu)
        refs = [u.ref for u in pkg.software_units]
        if len(set(refs)) != len(refs):
            problems.append(_p(pkg.ecu, PackageCheck.STRUCTURE, "software unit listed twice"))
        ordered = sorted(enumerate(pkg.segments), key=lambda item: item[1].address)
        for (i_a, a), (i_b, b) in itertools.pairwise(ordered):
            if b.address < a.end:
                problems.append(
                    _p(pkg.ecu, PackageCheck.STRUCTURE, f"overlaps segment {i_a}", segment=i_b)
                )
        for index, seg in enumerate(pkg.segments):
            if seg.length < IMAGE_HEADER_SIZE:
                problems.append(
                    _p(
                        pkg.ecu,
                        PackageCheck.STRUCTURE,
                        "shorter than the image header",
                        segment=index,
                    )
                )
            if seg.file in files:
                problems.append(
                    _p(
                        pkg.ecu,
                        PackageCheck.STRUCTURE,
                        f"file {seg.file} also used by {files[seg.file]}",
                        segment=index,
                    )
                )
            files[seg.file] = f"ECU {pkg.ecu} segment {index}"
        for dep in pkg.dependencies:
            if pkg.unit(dep.unit) is None:
                problems.append(
                    _p(
                        pkg.ecu,
                        PackageCheck.DEPENDENCY,
                        f"dependency names unit {dep.unit} not in this ECU",
                    )
                )
    return problems


def verify_segment(pkg: EcuPackage, index: int, data: bytes) -> list[PackageProblem]:
    """Length, CRC32, SHA-256 and image header of one segment's bytes."""
    seg = pkg.segments[index]
    problems: list[PackageProblem] = []
    if len(data) != seg.length:
        problems.append(
            _p(
                pkg.ecu,
                PackageCheck.LENGTH,
                f"length mismatch (manifest {seg.length}, file {len(data)} bytes)",
                index,
            )
        )
    actual_crc = crc32(data)
    if actual_crc != seg.crc32:
        problems.append(
            _p(
                pkg.ecu,
                PackageCheck.CRC32,
                f"CRC32 mismatch (manifest 0x{seg.crc32:08X}, file 0x{actual_crc:08X})",
                index,
            )
        )
    actual_sha = hashlib.sha256(data).hexdigest()
    if actual_sha != seg.sha256:
        problems.append(_p(pkg.ecu, PackageCheck.SHA256, "SHA-256 mismatch", index))
    unit = parse_image_header(data)
    if unit is None:
        problems.append(
            _p(pkg.ecu, PackageCheck.IMAGE_HEADER, "no valid software unit header", index)
        )
    elif unit not in pkg.software_units:
        problems.append(
            _p(
                pkg.ecu,
                PackageCheck.IMAGE_HEADER,
                f"header names {unit}, not a unit of this package",
                index,
            )
        )
    return problems


def verify_images(
    manifest: FlashPackageManifest, images: Mapping[str, Sequence[bytes]]
) -> list[PackageProblem]:
    """Structure plus every segment's bytes; every unit must be carried by a segment."""
    problems = verify_structure(manifest)
    for pkg in manifest.ecus:
        data = images.get(pkg.ecu)
        if data is None or len(data) != len(pkg.segments):
            problems.append(_p(pkg.ecu, PackageCheck.FILE, "segment images missing"))
            continue
        carried: set[SoftwareUnit] = set()
        for index, blob in enumerate(data):
            problems.extend(verify_segment(pkg, index, blob))
            unit = parse_image_header(blob)
            if unit is not None:
                carried.add(unit)
        for unit in pkg.software_units:
            if unit not in carried:
                problems.append(
                    _p(pkg.ecu, PackageCheck.IMAGE_HEADER, f"no segment carries unit {unit}")
                )
    return problems
