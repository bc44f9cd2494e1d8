"""Flash packages on the portal side: verified before a session plans anything with them."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel
from temporalio import activity

from domain.flash_package import PACKAGE_ID_PATTERN, FlashPackageManifest
from domain.programming import PackageInvalid, PackageNotFound
from hw.flash_files import FlashPackageError, load_package
from workflows.errors import domain_errors_as_application_errors


def verified_manifest(packages_dir: Path, package_id: str) -> FlashPackageManifest:
    """The package's manifest after every checksum, the structure and the dependencies were
    verified; refusals name the ECU and the check."""
    directory = packages_dir / package_id
    if (
        not re.fullmatch(PACKAGE_ID_PATTERN, package_id)
        or not (directory / "manifest.json").is_file()
    ):
        raise PackageNotFound(f"no flash package {package_id}", field="package_id")
    try:
        return load_package(directory).manifest
    except FlashPackageError as error:
        raise PackageInvalid(
            f"package {package_id} refused: "
            + "; ".join(problem.message for problem in error.problems),
            field="package_id",
            problems=[problem.model_dump() for problem in error.problems],
        ) from error


class ReadPackageInput(BaseModel):
    package_id: str


class PackageActivities:
    def __init__(self, packages_dir: Path) -> None:
        self.packages_dir = packages_dir

    @activity.defn
    def read_verified_manifest(self, request: ReadPackageInput) -> FlashPackageManifest:
        """The verified manifest, for the workflow's plan; refusals end the session."""
        with domain_errors_as_application_errors():
            return verified_manifest(self.packages_dir, request.package_id)
