"""Flash package directories: load + verify completely, and build demo packages.

A package directory holds ``manifest.json`` (:class:`domain.flash_package.FlashPackageManifest`)
and the segment files it names. :func:`load_package` reads everything and raises
:class:`FlashPackageError` listing *all* problems (``"ECU DME segment 0: CRC32 mismatch
..."``) before anything touches a car.

Command line::

    python -m hw.flash_files build-demo DIR [--size BYTES] [--version 2.0.0] [--seed N]
                                            [--ecus DME,EGS,BDC,KOMBI]
    python -m hw.flash_files verify DIR
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import re
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pydantic import ValidationError

from domain.flash_package import (
    IMAGE_HEADER_SIZE,
    PACKAGE_ID_PATTERN,
    Dependency,
    EcuPackage,
    FlashPackageManifest,
    PackageProblem,
    SegmentSpec,
    SoftwareUnit,
    SoftwareVersion,
    crc32,
    encode_image_header,
    verify_images,
)
from domain.programming import PackageExists, PackageInvalid
from hw.sim.config import CODING_MAX, CODING_OFFSET, FLASH_LAYOUT

MANIFEST_NAME = "manifest.json"


class FlashPackageError(ValueError):
    """The package cannot be used; ``problems`` names every finding."""

    code = "FlashPackageInvalid"
    transient = False

    def __init__(self, problems: Sequence[PackageProblem]) -> None:
        self.problems = list(problems)
        super().__init__("flash package invalid:\n" + "\n".join(p.message for p in problems))


@dataclass(frozen=True)
class FlashPackage:
    root: Path
    manifest: FlashPackageManifest
    images: dict[str, list[bytes]]  # ECU name -> segment bytes, in manifest order

    def ecu(self, name: str) -> EcuPackage:
        return self.manifest.ecu(name)

    def segment_data(self, ecu: str, index: int) -> bytes:
        return self.images[ecu][index]


def _manifest_problem(message: str) -> PackageProblem:
    return PackageProblem(ecu=None, check="manifest", message=f"package: {message}")


def read_manifest(directory: str | os.PathLike[str]) -> FlashPackageManifest:
    path = Path(directory) / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlashPackageError([_manifest_problem(f"cannot read {MANIFEST_NAME}: {exc}")]) from exc
    try:
        return FlashPackageManifest.from_json(text)
    except ValidationError as exc:
        problems = [
            _manifest_problem(
                f"{MANIFEST_NAME} {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            )
            for err in exc.errors()
        ]
        raise FlashPackageError(problems) from exc


def _read_images(
    root: Path, manifest: FlashPackageManifest
) -> tuple[dict[str, list[bytes]], list[PackageProblem]]:
    images: dict[str, list[bytes]] = {}
    problems: list[PackageProblem] = []
    for pkg in manifest.ecus:
        blobs: list[bytes] = []
        for index, seg in enumerate(pkg.segments):
            try:
                blobs.append((root / seg.file).read_bytes())
            except OSError as exc:
                problems.append(
                    PackageProblem(
                        ecu=pkg.ecu,
                        check="file",
                        segment=index,
                        message=f"ECU {pkg.ecu} segment {index}: cannot read {seg.file} "
                        f"({exc.strerror or exc})",
                    )
                )
        if len(blobs) == len(pkg.segments):
            images[pkg.ecu] = blobs
    return images, problems


def verify_package_dir(directory: str | os.PathLike[str]) -> list[PackageProblem]:
    """All problems of a package directory (empty list: the package is fine)."""
    try:
        load_package(directory)
    except FlashPackageError as exc:
        return exc.problems
    return []


def load_package(directory: str | os.PathLike[str], *, verify: bool = True) -> FlashPackage:
    """Read manifest and segment files; with ``verify`` raise on any problem."""
    root = Path(directory)
    manifest = read_manifest(root)
    images, problems = _read_images(root, manifest)
    if verify:
        found = verify_images(manifest, images)
        # verify_images reports ECUs with unreadable files as "segment images missing";
        # the file problems above already say which file, keep only those
        missing = {p.ecu for p in problems}
        problems += [p for p in found if not (p.check == "file" and p.ecu in missing)]
    if problems:
        raise FlashPackageError(problems)
    return FlashPackage(root=root, manifest=manifest, images=images)


# --------------------------------------------------------------------------- demo package


def _image(unit: SoftwareUnit, size: int, seed: int, ecu: str) -> bytes:
    rnd = random.Random(f"demo-{seed}-{ecu}-{unit}")
    return encode_image_header(unit) + rnd.randbytes(size - IMAGE_HEADER_SIZE)


def store_package_archive(root: Path, archive: bytes) -> FlashPackageManifest:
    """Verify a gzipped tar of a package and store it as ``root/<package_id>``.

    Everything is checked in a staging folder first (the archive may hold plain files only,
    every checksum, structure and dependency); the package then appears whole or not at all.
    The identical package again is a no-op; another with the same id is ``PackageExists``.
    Used by the portal's upload and by stations fetching a package from the portal.
    """
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".upload-") as staging:
        folder = Path(staging) / "package"
        folder.mkdir()
        _extract_plain_files(archive, folder)
        problems = verify_package_dir(folder)
        if problems:
            raise PackageInvalid(
                "; ".join(problem.message for problem in problems),
                problems=[problem.model_dump() for problem in problems],
            )
        manifest = read_manifest(folder)
        if not re.fullmatch(PACKAGE_ID_PATTERN, manifest.package_id):
            raise PackageInvalid(f"package_id {manifest.package_id!r} is not a plain name")
        target = root / manifest.package_id
        if target.exists():
            if read_manifest(target) != manifest:
                raise PackageExists(
                    f"package {manifest.package_id} exists with other content; "
                    "give the new one another package_id",
                    field="package_id",
                )
        else:
            folder.rename(target)  # atomic: a package is there whole or not at all
    return manifest


def _extract_plain_files(archive: bytes, folder: Path) -> None:
    """Regular files only, at the top or in one top-level folder: nothing can leave `folder`."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar.getmembers():
                if member.isdir():
                    continue
                path = PurePosixPath(member.name)
                if not member.isfile() or path.is_absolute() or ".." in path.parts:
                    raise PackageInvalid(f"the archive may hold only plain files: {member.name!r}")
                if len(path.parts) > 2:
                    raise PackageInvalid(f"{member.name!r} is nested too deep")
                source = tar.extractfile(member)
                assert source is not None
                (folder / path.name).write_bytes(source.read())
    except (tarfile.TarError, OSError, EOFError) as error:
        raise PackageInvalid(f"not a gzipped tar archive: {error}") from error


def package_archive(folder: Path) -> bytes:
    """The package in `folder` as the gzipped tar that :func:`store_package_archive` takes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for path in sorted(folder.iterdir()):
            if path.is_file():
                tar.add(path, arcname=path.name)
    return buffer.getvalue()


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
    """
    if not IMAGE_HEADER_SIZE * 2 <= image_size_per_ecu <= CODING_OFFSET:
        raise ValueError(f"image_size_per_ecu must be {IMAGE_HEADER_SIZE * 2}..{CODING_OFFSET}")
    unknown = [e for e in ecus if e not in FLASH_LAYOUT]
    if unknown:
        raise ValueError(f"not flashable in the simulated car: {', '.join(unknown)}")
    root = Path(directory)
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
        package_id=package_id or f"demo-{version}-{seed}",
        description="demo package for the simulated vehicle",
        ecus=packages,
    )
    (root / MANIFEST_NAME).write_text(manifest.to_json() + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw.flash_files")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("build-demo", help="write a demo package for the simulated car")
    demo.add_argument("directory")
    demo.add_argument("--size", type=int, default=32 * 1024, help="program image bytes per ECU")
    demo.add_argument("--version", default="2.0.0")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--ecus", default="DME,EGS,BDC,KOMBI")
    check = sub.add_parser("verify", help="verify a package directory")
    check.add_argument("directory")
    args = parser.parse_args(argv)
    if args.command == "build-demo":
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
    problems = verify_package_dir(args.directory)
    for problem in problems:
        print(problem.message)
    if not problems:
        print(json.dumps({"ok": True}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
