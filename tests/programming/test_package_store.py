"""The portal verifies a package once: the API and the portal worker share the verification,
until a file of the package changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import storage.packages
from domain.programming import PackageInvalid
from hw.sim.demo_package import build_demo_package
from storage.packages import PackageStore


def test_one_verification_serves_every_process_until_a_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_demo_package(tmp_path / "pkg-1", image_size_per_ecu=4096, package_id="pkg-1")
    first = PackageStore(tmp_path).verified_manifest("pkg-1")  # e.g. the API
    assert (tmp_path / ".verified" / "pkg-1.json").is_file()

    def no_second_verification(directory: object) -> object:
        raise AssertionError("verified again although no file changed")

    with monkeypatch.context() as patch:
        patch.setattr(storage.packages, "load_package", no_second_verification)
        # Another process (the portal worker) with its own store on the same folder.
        assert PackageStore(tmp_path).verified_manifest("pkg-1") == first
        assert [m.package_id for m in PackageStore(tmp_path).manifests()] == ["pkg-1"]

    # A segment rewritten with other bytes of the same size: verified again, and refused.
    segment = next(p for p in sorted((tmp_path / "pkg-1").iterdir()) if p.suffix == ".bin")
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF
    stat = segment.stat()
    segment.write_bytes(bytes(data))
    os.utime(segment, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    with pytest.raises(PackageInvalid, match=r"CRC32|SHA-256|sha256|crc32"):
        PackageStore(tmp_path).verified_manifest("pkg-1")
