"""Flash packages on the station: fetched from the portal when missing, verified before use."""

from __future__ import annotations

import threading
from pathlib import Path

from hw.flash_files import MANIFEST_NAME, FlashPackage, PackageStamp, load_package, package_stamp
from station.portal_files import PortalFiles


class VerifiedPackages:
    """Flash packages verified once per worker and kept in memory for the session's steps.

    Every step of a session needs the package; reading and hashing it again in each one is
    wasted work. A package is verified again when any of its files changes (size or
    modification time), and one altered on disk is then refused. Either way the car only
    receives bytes that passed verification: the cached ones are the verified ones.
    """

    KEEP = 4  # packages held at once; a station flashes one car at a time

    def __init__(self, root: Path, portal: PortalFiles | None = None) -> None:
        self.root = root
        self.portal = portal  # where a package missing here is fetched from
        self._lock = threading.Lock()
        self._verified: dict[str, tuple[PackageStamp, FlashPackage]] = {}

    def get(self, package_id: str) -> FlashPackage:
        directory = self.root / package_id
        if self.portal is not None and not (directory / MANIFEST_NAME).is_file():
            self.portal.fetch_package(package_id, self.root)
        stamp = package_stamp(directory)
        with self._lock:
            known = self._verified.get(package_id)
        if known is not None and known[0] == stamp:
            return known[1]
        package = load_package(directory)  # raises FlashPackageError naming every problem
        with self._lock:
            self._verified[package_id] = (stamp, package)
            while len(self._verified) > self.KEEP:
                self._verified.pop(next(iter(self._verified)))
        return package
