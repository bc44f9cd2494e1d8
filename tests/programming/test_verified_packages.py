"""The station verifies a package once and again only after it changed on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hw.flash_files import FlashPackageError
from hw.sim.demo_package import build_demo_package
from station.packages import VerifiedPackages


def test_verified_once_and_again_after_a_change(tmp_path: Path) -> None:
    manifest = build_demo_package(tmp_path / "pkg", image_size_per_ecu=4096, package_id="pkg")
    packages = VerifiedPackages(tmp_path)
    first = packages.get("pkg")
    assert packages.get("pkg") is first  # the second step of a session reads nothing again

    image = tmp_path / "pkg" / manifest.ecu("DME").segments[0].file
    data = bytearray(image.read_bytes())
    data[200] ^= 0xFF
    image.write_bytes(bytes(data))
    later = image.stat().st_mtime_ns + 1_000_000_000
    os.utime(image, ns=(later, later))  # altered a second later, as on a real station
    with pytest.raises(FlashPackageError) as refused:
        packages.get("pkg")
    assert any(problem.ecu == "DME" for problem in refused.value.problems)


def test_a_package_whose_manifest_names_another_id_is_refused(tmp_path: Path) -> None:
    """A package's id is its folder's name on the station too: a session naming `renamed`
    never flashes the package whose manifest says it is `pkg`."""
    build_demo_package(tmp_path / "pkg", image_size_per_ecu=4096)
    (tmp_path / "pkg").rename(tmp_path / "renamed")
    with pytest.raises(FlashPackageError) as refused:
        VerifiedPackages(tmp_path).get("renamed")
    assert [problem.check for problem in refused.value.problems] == ["manifest"]
    assert "'pkg' is not the name of its folder 'renamed'" in refused.value.problems[0].message
