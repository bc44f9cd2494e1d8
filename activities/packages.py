"""Flash packages on the portal side: verified before a session plans anything with them."""

from __future__ import annotations

from contracts import programming as contract
from contracts.errors import domain_errors_as_application_errors
from contracts.programming import ReadPackageInput
from contracts.stubs import implements
from domain.flash_package import FlashPackageManifest
from storage.packages import PackageStore


class PackageActivities:
    def __init__(self, packages: PackageStore) -> None:
        self.packages = packages

    @implements(contract.read_verified_manifest)
    def read_verified_manifest(self, request: ReadPackageInput) -> FlashPackageManifest:
        """The verified manifest, for the workflow's plan; refusals end the session."""
        with domain_errors_as_application_errors():
            return self.packages.verified_manifest(request.package_id)
