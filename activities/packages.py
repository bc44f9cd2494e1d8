"""Flash packages on the portal side: verified before a session plans anything with them."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel
from temporalio import activity

from domain.flash_package import FlashPackageManifest
from domain.programming import PackageInvalid, PackageNotFound
from hw.flash_files import FlashPackageError, load_package
from workflows.errors import domain_errors_as_application_errors


class ReadPackageInput(BaseModel):
    package_id: str


class PackageActivities:
    def __init__(self, packages_dir: Path) -> None:
        self.packages_dir = packages_dir

    @activity.defn
    def read_verified_manifest(self, request: ReadPackageInput) -> FlashPackageManifest:
        """The manifest, after every checksum and dependency was verified; refusals name the
        ECU and the check."""
        directory = self.packages_dir / request.package_id
        with domain_errors_as_application_errors():
            if not (directory / "manifest.json").is_file():
                raise PackageNotFound(f"no flash package {request.package_id}", field="package_id")
            try:
                return load_package(directory).manifest
            except FlashPackageError as error:
                raise PackageInvalid(
                    f"package {request.package_id} refused: "
                    + "; ".join(problem.message for problem in error.problems),
                    field="package_id",
                    problems=[problem.model_dump() for problem in error.problems],
                ) from error
