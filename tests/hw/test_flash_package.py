"""Flash package model, verification, loading and the demo builder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from domain.flash_package import (
    FlashPackageManifest,
    crc32,
    parse_image_header,
)
from hw.flash_files import (
    MANIFEST_NAME,
    FlashPackage,
    FlashPackageError,
    load_package,
    verify_package_dir,
)
from hw.sim.demo_package import build_demo_package

ROOT = Path(__file__).resolve().parents[2]


def _copy(demo_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / demo_dir.name  # a package's id is its folder's name
    shutil.copytree(demo_dir, target)
    return target


def test_demo_package_is_consistent(demo_package: FlashPackage) -> None:
    manifest = demo_package.manifest
    assert manifest.ecu_names == ["DME", "EGS", "BDC", "KOMBI"]
    for pkg in manifest.ecus:
        assert [str(u.version) for u in pkg.software_units] == ["2.1.0", "2.1.0"]
        for seg, data in zip(pkg.segments, demo_package.images[pkg.ecu], strict=True):
            assert len(data) == seg.length and crc32(data) == seg.crc32
            assert parse_image_header(data) in pkg.software_units
    assert str(manifest.ecu("EGS").dependencies[0]) == (
        "SWFL_0000B2C3 requires DME SWFL_0000A1B2 >= 2.1.0"
    )
    # JSON form: hex addresses and CRCs, readable versions
    raw = json.loads((demo_package.root / MANIFEST_NAME).read_text())
    seg0 = raw["ecus"][0]["segments"][0]
    assert seg0["address"] == "0x00800000" and seg0["crc32"].startswith("0x")
    assert raw["ecus"][0]["software_units"][0] == {
        "process_class": "SWFL",
        "sgbm_id": "0000A1B2",
        "version": "2.1.0",
    }
    assert FlashPackageManifest.from_json(manifest.to_json()) == manifest


def test_demo_package_is_deterministic(tmp_path: Path) -> None:
    a = build_demo_package(tmp_path / "a", image_size_per_ecu=4096, seed=5)
    b = build_demo_package(tmp_path / "b", image_size_per_ecu=4096, seed=5)
    c = build_demo_package(tmp_path / "c", image_size_per_ecu=4096, seed=6)
    assert a.ecus == b.ecus and a.ecus[0].segments[0].crc32 != c.ecus[0].segments[0].crc32
    assert (a.package_id, b.package_id) == ("a", "b")  # a package's id is its folder's name


def test_corrupt_segment_is_refused_naming_ecu_and_check(demo_dir: Path, tmp_path: Path) -> None:
    pkg_dir = _copy(demo_dir, tmp_path)
    manifest = json.loads((pkg_dir / MANIFEST_NAME).read_text())
    egs_file = pkg_dir / manifest["ecus"][1]["segments"][1]["file"]
    data = bytearray(egs_file.read_bytes())
    data[100] ^= 0x01
    egs_file.write_bytes(bytes(data))
    with pytest.raises(FlashPackageError) as info:
        load_package(pkg_dir)
    problems = info.value.problems
    assert [(p.ecu, p.segment, p.check) for p in problems] == [
        ("EGS", 1, "crc32"),
        ("EGS", 1, "sha256"),
    ]
    assert problems[0].message.startswith("ECU EGS segment 1: CRC32 mismatch (manifest 0x")
    assert "ECU EGS segment 1: CRC32 mismatch" in str(info.value)
    assert info.value.code == "FlashPackageInvalid"


def test_every_problem_is_reported(demo_dir: Path, tmp_path: Path) -> None:
    pkg_dir = _copy(demo_dir, tmp_path)
    manifest = json.loads((pkg_dir / MANIFEST_NAME).read_text())
    (pkg_dir / manifest["ecus"][0]["segments"][0]["file"]).unlink()  # DME file missing
    kombi = pkg_dir / manifest["ecus"][3]["segments"][0]["file"]
    kombi.write_bytes(kombi.read_bytes()[:-1])  # KOMBI truncated
    bdc = manifest["ecus"][2]
    bdc["segments"][1]["address"] = bdc["segments"][0]["address"]  # BDC overlap
    (pkg_dir / MANIFEST_NAME).write_text(json.dumps(manifest))
    found = {(p.ecu, p.segment, p.check) for p in verify_package_dir(pkg_dir)}
    assert ("DME", 0, "file") in found
    assert ("KOMBI", 0, "length") in found and ("KOMBI", 0, "crc32") in found
    assert ("BDC", 1, "structure") in found


def test_invalid_manifest_names_the_field(demo_dir: Path, tmp_path: Path) -> None:
    pkg_dir = _copy(demo_dir, tmp_path)
    manifest = json.loads((pkg_dir / MANIFEST_NAME).read_text())
    manifest["ecus"][0]["segments"][0]["sha256"] = "xyz"
    manifest["ecus"][0]["segments"][0]["file"] = "../../etc/passwd"
    (pkg_dir / MANIFEST_NAME).write_text(json.dumps(manifest))
    messages = [p.message for p in verify_package_dir(pkg_dir)]
    assert any("ecus.0.segments.0.sha256" in m for m in messages)
    assert any("ecus.0.segments.0.file" in m and "plain file name" in m for m in messages)


def test_build_demo_command(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hw.sim.demo_package",
            str(tmp_path / "p"),
            "--size",
            "2048",
            "--ecus",
            "DME,KOMBI",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "2 ECUs" in out.stdout
    assert load_package(tmp_path / "p").manifest.ecu_names == ["DME", "KOMBI"]
    check = subprocess.run(
        [sys.executable, "-m", "hw.flash_files", "verify", str(tmp_path / "p")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0
