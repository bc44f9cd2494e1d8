"""The portal's flash package store: one verified package per folder under AOS_DATA_DIR/packages.

Used by the API (list, upload, hand a package to a station) and by the portal worker (the
manifest a session plans with). Every package that leaves the store was verified first.

Verifying hashes every byte (~50 ms per 17 MB), and a session used to pay it twice, in the API
and in the portal worker. The store keeps the verified manifest in `.verified/<id>.json`
next to the packages, stamped with the files' names, sizes, modification times and inodes
(`hw.flash_files.package_stamp`): every process sharing the folder reuses one verification
until a file of the package changes, and then verifies again.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from domain.flash_package import FlashPackageManifest, is_package_id
from domain.programming import PackageInvalid, PackageNotFound
from hw.flash_files import (
    MANIFEST_NAME,
    ArchiveBounds,
    FlashPackageError,
    load_package,
    package_archive,
    package_stamp,
    read_manifest,
    store_package_archive,
)


class PackageStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def verified_manifest(self, package_id: str) -> FlashPackageManifest:
        """The package's manifest after every checksum, the structure and the dependencies
        were verified (once per state of its files); refusals name the ECU and the check."""
        directory = self._folder(package_id)
        stamp = package_stamp(directory)
        record = self.root / VERIFIED_FOLDER / f"{package_id}.json"
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            cached = json.loads(record.read_text())
            if [tuple(entry) for entry in cached["stamp"]] == stamp:
                return FlashPackageManifest.model_validate(cached["manifest"])
        try:
            manifest = load_package(directory).manifest
        except FlashPackageError as error:
            raise PackageInvalid(
                f"package {package_id} refused: "
                + "; ".join(problem.message for problem in error.problems),
                field="package_id",
                problems=[problem.model_dump() for problem in error.problems],
            ) from error
        _write_whole(
            record, json.dumps({"stamp": stamp, "manifest": manifest.model_dump(mode="json")})
        )
        return manifest

    def manifests(self) -> list[FlashPackageManifest]:
        """The packages on offer, by id (their folder's name); unusable ones, such as one whose
        manifest names another id, are left out (starting a session with one names why)."""
        found = []
        for manifest_file in sorted(self.root.glob(f"*/{MANIFEST_NAME}")):
            folder_name = manifest_file.parent.name
            try:
                manifest = read_manifest(manifest_file.parent)
            except FlashPackageError:
                continue
            if manifest.package_id == folder_name and is_package_id(folder_name):
                found.append(manifest)
        return found

    def store_archive(
        self, archive: Path, *, max_unpacked_bytes: int, max_files: int
    ) -> FlashPackageManifest:
        """Verify a gzipped tar (a file) and store it whole, or refuse it naming every problem
        or the bound it passes (its files' bytes once unpacked, its entries)."""
        bounds = ArchiveBounds(max_unpacked_bytes=max_unpacked_bytes, max_files=max_files)
        return store_package_archive(self.root, archive, bounds)

    def upload_file(self) -> Path:
        """A new empty file beside the packages (on their disk) for an upload to arrive in;
        the caller removes it."""
        self.root.mkdir(parents=True, exist_ok=True)
        # A dot name is no package id: the store never lists it.
        handle, name = tempfile.mkstemp(dir=self.root, prefix=".upload-", suffix=".tar.gz")
        os.close(handle)
        return Path(name)

    def archive(self, package_id: str) -> bytes:
        """The verified package as the gzipped tar a station fetches."""
        self.verified_manifest(package_id)
        return package_archive(self._folder(package_id))

    def _folder(self, package_id: str) -> Path:
        directory = self.root / package_id
        if not is_package_id(package_id) or not (directory / MANIFEST_NAME).is_file():
            raise PackageNotFound(f"no flash package {package_id}", field="package_id")
        return directory


VERIFIED_FOLDER = ".verified"  # not a package id: those start with a letter or digit


def _write_whole(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".part") as out:
        out.write(text)
    os.replace(out.name, path)
