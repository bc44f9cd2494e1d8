"""Demo flash packages for the simulated car, laid out as its ECUs' flash windows.

Command line::

    python -m hw.sim.demo_package DIR [--size BYTES] [--version 2.0.0] [--seed N]
                                      [--ecus DME,EGS,BDC,KOMBI]

The package's id is the name of DIR (``.data/packages/demo-2.0.0`` is ``demo-2.0.0``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
from collections.abc import Sequence
from pathlib import Path

from domain.flash_package import (
    IMAGE_HEADER_SIZE,
    Dependency,
    EcuPackage,
    FlashPackageManifest,
    SegmentSpec,
    SoftwareUnit,
    SoftwareVersion,
    crc32,
    encode_image_header,
)
from hw.flash_files import MANIFEST_NAME
from hw.sim.config import CODING_MAX, CODING_OFFSET, FLASH_LAYOUT

# The console shows it translated (console/data_texts.py marks it for the catalogues).
DEMO_PACKAGE_DESCRIPTION = "demo package for the simulated vehicle"


def _image(unit: SoftwareUnit, size: int, seed: int, ecu: str) -> bytes:
    rnd = random.Random(f"demo-{seed}-{ecu}-{unit}")
    return encode_image_header(unit) + rnd.randbytes(size - IMAGE_HEADER_SIZE)


def build_demo_package(
    directory: str | os.PathLike[str],
    *,
    image_size_per_ecu: int = 32 * 1024,
    version: str = "2.0.0",
    seed: int = 0,
    ecus: Sequence[str] = ("DME", "EGS", "BDC", "KOMBI"),
    package_id: str | None = None,
) -> FlashPackageManifest:
    """Write a valid package for the simulated car into ``directory``.

    Per ECU: the program unit (SWFL, ``image_size_per_ecu`` bytes at the start of the
    ECU's flash window) and the coding unit (CAFD, 1/8 of that, at least 256 bytes),
    version ``version``, deterministic pseudo-random content (``seed``). Dependencies:
    EGS program requires DME program >= version, KOMBI program requires BDC program >=
    version (only when both ECUs are in the package).

    The package's id is the folder's name; ``package_id``, when given, must be that name.
    """
    if not IMAGE_HEADER_SIZE * 2 <= image_size_per_ecu <= CODING_OFFSET:
        raise ValueError(f"image_size_per_ecu must be {IMAGE_HEADER_SIZE * 2}..{CODING_OFFSET}")
    unknown = [e for e in ecus if e not in FLASH_LAYOUT]
    if unknown:
        raise ValueError(f"not flashable in the simulated car: {', '.join(unknown)}")
    root = Path(directory)
    folder_name = root.resolve().name
    if package_id is not None and package_id != folder_name:
        raise ValueError(f"package_id {package_id!r}: a package's id is its folder's name")
    root.mkdir(parents=True, exist_ok=True)
    ver = SoftwareVersion.of(version)
    coding_size = min(CODING_MAX, max(256, image_size_per_ecu // 8))
    packages: list[EcuPackage] = []
    for name in ecus:
        layout = FLASH_LAYOUT[name]
        program = layout.program_unit(ver)
        coding = layout.coding_unit(ver)
        segments: list[SegmentSpec] = []
        for index, (unit, address, size) in enumerate(
            [
                (program, layout.program_address, image_size_per_ecu),
                (coding, layout.coding_address, coding_size),
            ]
        ):
            data = _image(unit, size, seed, name)
            file_name = f"{name}_{index}_{unit}.bin"
            (root / file_name).write_bytes(data)
            segments.append(
                SegmentSpec(
                    address=address,
                    length=len(data),
                    file=file_name,
                    crc32=crc32(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                )
            )
        packages.append(
            EcuPackage(
                ecu=name,
                target_hardware_id=layout.hardware_id,
                software_units=[program, coding],
                segments=segments,
            )
        )
    by_name = {p.ecu: p for p in packages}
    for dependent, required in (("EGS", "DME"), ("KOMBI", "BDC")):
        if dependent in by_name and required in by_name:
            by_name[dependent].dependencies.append(
                Dependency(
                    unit=by_name[dependent].software_units[0].ref,
                    requires_ecu=required,
                    requires=by_name[required].software_units[0].ref,
                    min_version=ver,
                )
            )
    manifest = FlashPackageManifest(
        package_id=folder_name,
        description=DEMO_PACKAGE_DESCRIPTION,
        ecus=packages,
    )
    (root / MANIFEST_NAME).write_text(manifest.to_json() + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw.sim.demo_package")
    parser.add_argument("directory", help="the package's folder; its name is the package's id")
    parser.add_argument("--size", type=int, default=32 * 1024, help="program image bytes per ECU")
    parser.add_argument("--version", default="2.0.0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ecus", default="DME,EGS,BDC,KOMBI")
    args = parser.parse_args(argv)
    manifest = build_demo_package(
        args.directory,
        image_size_per_ecu=args.size,
        version=args.version,
        seed=args.seed,
        ecus=[e.strip() for e in args.ecus.split(",") if e.strip()],
    )
    total = sum(p.total_bytes for p in manifest.ecus)
    print(f"wrote {manifest.package_id}: {len(manifest.ecus)} ECUs, {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
