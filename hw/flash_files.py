"""Flash package directories: load + verify completely, store and archive them.

A package directory holds ``manifest.json`` (:class:`domain.flash_package.FlashPackageManifest`)
and the segment files it names. A package's id is its folder's name: the manifest's
``package_id`` must be that name. :func:`load_package` reads everything and raises
:class:`FlashPackageError` listing *all* problems (``"ECU DME segment 0: CRC32 mismatch
..."``) before anything touches a car.

Command line::

    python -m hw.flash_files verify DIR
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from pydantic import ValidationError

from domain.flash_package import (
    EcuPackage,
    FlashPackageManifest,
    PackageCheck,
    PackageProblem,
    is_package_id,
    verify_images,
)
from domain.programming import (
    PackageExists,
    PackageHasTooManyFiles,
    PackageInvalid,
    PackageUnpacksTooLarge,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

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
    return PackageProblem(ecu=None, check=PackageCheck.MANIFEST, message=f"package: {message}")


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
                        check=PackageCheck.FILE,
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


def _package_id_problem(root: Path, manifest: FlashPackageManifest) -> PackageProblem | None:
    """A package has one id everywhere: the name of its folder, which the portal lists, a
    session names and a station fetches. A manifest naming another id is refused, so no
    list can offer an id that a session would not find."""
    folder_name = root.resolve().name
    if manifest.package_id == folder_name:
        return None
    return _manifest_problem(
        f"package_id {manifest.package_id!r} is not the name of its folder {folder_name!r} "
        "(a package's id is its folder's name)"
    )


def load_package(directory: str | os.PathLike[str], *, verify: bool = True) -> FlashPackage:
    """Read manifest and segment files; with ``verify`` raise on any problem, including a
    manifest whose ``package_id`` is not the folder's name."""
    root = Path(directory)
    manifest = read_manifest(root)
    images, problems = _read_images(root, manifest)
    if verify:
        found = verify_images(manifest, images)
        # verify_images reports ECUs with unreadable files as "segment images missing";
        # the file problems above already say which file, keep only those
        missing = {p.ecu for p in problems}
        problems += [p for p in found if not (p.check is PackageCheck.FILE and p.ecu in missing)]
    id_problem = _package_id_problem(root, manifest)
    if id_problem is not None:
        problems.insert(0, id_problem)
    if problems:
        raise FlashPackageError(problems)
    return FlashPackage(root=root, manifest=manifest, images=images)


# --------------------------------------------------------------------------- demo package


PackageStamp = list[tuple[str, int, int, int]]


def package_stamp(directory: Path) -> PackageStamp:
    """What identifies a package folder's files as they are now: name, size, modification
    time and inode of each. Any rewrite of a file changes it; a verification is valid for one
    stamp only."""
    stamp = []
    for path in sorted(directory.iterdir()):
        st = path.stat()
        stamp.append((path.name, st.st_size, st.st_mtime_ns, st.st_ino))
    return stamp


@dataclass(frozen=True)
class ArchiveBounds:
    """What a package archive may unpack to: bytes of its files together, and entries."""

    max_unpacked_bytes: int
    max_files: int


def store_package_archive(
    root: Path, archive: bytes | Path, bounds: ArchiveBounds
) -> FlashPackageManifest:
    """Verify a gzipped tar of a package (its bytes or its file) and store it as
    ``root/<package_id>``.

    Everything is checked in a staging folder first (the archive may hold plain files only,
    within ``bounds``, every checksum, structure and dependency); the package then appears whole
    or not at all. The identical package again is a no-op; another with the same id is
    ``PackageExists``. Used by the portal's upload and by stations fetching a package from the
    portal.
    """
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".upload-") as staging:
        extracted = Path(staging) / ".extracted"  # not a package id: those start with a letter
        extracted.mkdir()
        with archive.open("rb") if isinstance(archive, Path) else io.BytesIO(archive) as packed:
            _extract_plain_files(packed, extracted, bounds)
        try:
            package_id = read_manifest(extracted).package_id
        except FlashPackageError as error:
            raise _package_invalid(error.problems) from error
        if not is_package_id(package_id):
            raise PackageInvalid(f"package_id {package_id!r} is not a plain name")
        # verified under its id's name, as it will be stored (a package's id is its folder's)
        folder = Path(staging) / package_id
        extracted.rename(folder)
        problems = verify_package_dir(folder)
        if problems:
            raise _package_invalid(problems)
        manifest = read_manifest(folder)
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


def _package_invalid(problems: Sequence[PackageProblem]) -> PackageInvalid:
    return PackageInvalid(
        "; ".join(problem.message for problem in problems),
        problems=[problem.model_dump() for problem in problems],
    )


COPY_CHUNK_BYTES = 1024 * 1024
# Unpacked bytes that are not a file's: a header and padding per entry, long names, the end.
TAR_OVERHEAD_PER_ENTRY = 4096
TAR_OVERHEAD = 64 * 1024


class _UnpackedBytes(io.RawIOBase):
    """The gzip stream's unpacked bytes, refused past `limit`: the bound holds whatever the
    tar's headers say (a long name or an extended header of gigabytes is read whole by
    tarfile), and the memory it costs is a chunk."""

    def __init__(self, unzipped: io.BufferedIOBase, limit: int, max_unpacked_bytes: int) -> None:
        self._unzipped = unzipped
        self._left = limit
        self._max_unpacked_bytes = max_unpacked_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._unzipped.read(min(len(view), self._left + 1))
        self._left -= len(data)
        if self._left < 0:
            raise _unpacks_too_large(self._max_unpacked_bytes)
        view[: len(data)] = data
        return len(data)


def _unpacks_too_large(max_unpacked_bytes: int) -> PackageUnpacksTooLarge:
    return PackageUnpacksTooLarge(
        f"the package's files may hold at most {max_unpacked_bytes} bytes unpacked",
        max_unpacked_bytes=max_unpacked_bytes,
    )


def _extract_plain_files(packed: BinaryIO, folder: Path, bounds: ArchiveBounds) -> None:
    """Regular files only, at the top or in one top-level folder: nothing can leave `folder`.

    Read as a stream, one entry at a time: an entry past `bounds.max_files`, or a file whose
    size (from its header) would take the files past `bounds.max_unpacked_bytes`, is refused
    before its bytes are unpacked, and every file is copied in chunks."""
    limit = (
        bounds.max_unpacked_bytes + (bounds.max_files + 1) * TAR_OVERHEAD_PER_ENTRY + TAR_OVERHEAD
    )
    unpacked = 0
    try:
        with (
            gzip.GzipFile(fileobj=packed, mode="rb") as unzipped,
            _UnpackedBytes(unzipped, limit, bounds.max_unpacked_bytes) as counted,
            tarfile.open(fileobj=counted, mode="r|", bufsize=COPY_CHUNK_BYTES) as tar,
        ):
            for entries, member in enumerate(tar, start=1):
                if entries > bounds.max_files:
                    raise PackageHasTooManyFiles(
                        f"the archive may hold at most {bounds.max_files} entries",
                        max_files=bounds.max_files,
                    )
                if member.isdir():
                    continue
                path = PurePosixPath(member.name)
                if (
                    not member.isfile()
                    or member.issparse()
                    or path.is_absolute()
                    or ".." in path.parts
                ):
                    raise PackageInvalid(f"the archive may hold only plain files: {member.name!r}")
                if len(path.parts) > 2:
                    raise PackageInvalid(f"{member.name!r} is nested too deep")
                unpacked += member.size
                if unpacked > bounds.max_unpacked_bytes:
                    raise _unpacks_too_large(bounds.max_unpacked_bytes)
                source = tar.extractfile(member)
                assert source is not None
                with (folder / path.name).open("wb") as out:
                    shutil.copyfileobj(source, out, COPY_CHUNK_BYTES)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise PackageInvalid(f"not a gzipped tar archive: {error}") from error


def package_archive(folder: Path) -> bytes:
    """The package in `folder` as the gzipped tar that :func:`store_package_archive` takes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for path in sorted(folder.iterdir()):
            if path.is_file():
                tar.add(path, arcname=path.name)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw.flash_files")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="verify a package directory")
    check.add_argument("directory")
    args = parser.parse_args(argv)
    problems = verify_package_dir(args.directory)
    for problem in problems:
        print(problem.message)
    if not problems:
        print(json.dumps({"ok": True}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
