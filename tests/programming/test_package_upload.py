"""Administrators add flash packages; nothing unverified is stored."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.accounts import Role
from hw.sim.demo_package import build_demo_package
from settings import Settings
from testkit.factories import create_workshop, sign_in


def _archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _package_files(tmp_path: Path, package_id: str) -> dict[str, bytes]:
    folder = tmp_path / package_id
    build_demo_package(folder, image_size_per_ecu=4096, package_id=package_id)
    return {f"{package_id}/{p.name}": p.read_bytes() for p in folder.iterdir()}


async def test_upload_verifies_then_stores_and_lists(
    api_client: httpx.AsyncClient,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    admin = await sign_in(session_factory, Role.ADMINISTRATOR)
    owner = await sign_in(
        session_factory, Role.WORKSHOP_OWNER, await create_workshop(session_factory)
    )
    files = _package_files(tmp_path, "uploaded-2.0.0")
    headers = {**admin.headers, "Content-Type": "application/gzip"}

    refused = await api_client.post(
        "/packages",
        content=_archive(files),
        headers={**owner.headers, "Content-Type": "application/gzip"},
    )
    assert refused.status_code == 403

    corrupt = dict(files)
    name = next(n for n in corrupt if n.endswith(".bin") and "EGS" in n.upper())
    corrupt[name] = bytes([corrupt[name][0] ^ 0xFF]) + corrupt[name][1:]
    bad = await api_client.post("/packages", content=_archive(corrupt), headers=headers)
    assert bad.status_code == 422, bad.text
    assert bad.json()["type"] == "/problems/package-invalid"
    assert any(p["ecu"] == "EGS" for p in bad.json()["problems"])

    escape = await api_client.post(
        "/packages", content=_archive({**files, "../evil.bin": b"x"}), headers=headers
    )
    assert escape.status_code == 422
    assert not (settings.packages_dir.parent / "evil.bin").exists()
    assert not (settings.packages_dir / "uploaded-2.0.0").exists()  # nothing half-stored

    stored = await api_client.post("/packages", content=_archive(files), headers=headers)
    assert stored.status_code == 201, stored.text
    assert stored.json()["ecus"] == ["DME", "EGS", "BDC", "KOMBI"]
    again = await api_client.post("/packages", content=_archive(files), headers=headers)
    assert again.status_code == 201  # the identical package: nothing changes
    listed = await api_client.get("/packages", headers=owner.headers)
    assert [p["package_id"] for p in listed.json()] == ["uploaded-2.0.0"]
