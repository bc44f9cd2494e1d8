"""The portal's flash package store: one verified package per folder under AOS_DATA_DIR/packages.

Used by the API (list, upload, hand a package to a station) and by the portal worker (the
manifest a session plans with). Every package that leaves the store was verified first.
"""

from __future__ import annotations

from pathlib import Path

from domain.flash_package import FlashPackageManifest, is_package_id
from domain.programming import PackageInvalid, PackageNotFound
from hw.flash_files import (
    MANIFEST_NAME,
    FlashPackageError,
    load_package,
    package_archive,
    read_manifest,
    store_package_archive,
)


class PackageStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def verified_manifest(self, package_id: str) -> FlashPackageManifest:
        """The package's manifest after every checksum, the structure and the dependencies
        were verified; refusals name the ECU and the check."""
        directory = self._folder(package_id)
        try:
            return load_package(directory).manifest
        except FlashPackageError as error:
            raise PackageInvalid(
                f"package {package_id} refused: "
                + "; ".join(problem.message for problem in error.problems),
                field="package_id",
                problems=[problem.model_dump() for problem in error.problems],
            ) from error

    def manifests(self) -> list[FlashPackageManifest]:
        """The packages on offer; unusable ones are left out (starting with one names why)."""
        found = []
        for manifest_file in sorted(self.root.glob(f"*/{MANIFEST_NAME}")):
            try:
                found.append(read_manifest(manifest_file.parent))
            except FlashPackageError:
                continue
        return found

    def store_archive(self, archive: bytes) -> FlashPackageManifest:
        """Verify a gzipped tar and store it whole, or refuse it naming every problem."""
        return store_package_archive(self.root, archive)

    def archive(self, package_id: str) -> bytes:
        """The verified package as the gzipped tar a station fetches."""
        self.verified_manifest(package_id)
        return package_archive(self._folder(package_id))

    def _folder(self, package_id: str) -> Path:
        directory = self.root / package_id
        if not is_package_id(package_id) or not (directory / MANIFEST_NAME).is_file():
            raise PackageNotFound(f"no flash package {package_id}", field="package_id")
        return directory
