"""A package upload is bounded while it streams in and while it is unpacked: its bytes as sent,
its files' bytes once unpacked, and its entries. Each bound refuses with its own problem type,
before the rest is read, and the OpenAPI states them."""

from __future__ import annotations

import io
import tarfile
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.accounts import Role
from hw.sim.demo_package import build_demo_package
from portal_app import create_app
from settings import Settings
from testkit.factories import SignedIn, sign_in
from testkit.serving import running_api

MiB = 1024 * 1024


class Zeros(io.RawIOBase):
    """`size` zero bytes, read in chunks: a member of any size without holding it."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def archive_of(members: list[tuple[tarfile.TarInfo, io.RawIOBase | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=9) as tar:
        for info, data in members:
            tar.addfile(info, io.BufferedReader(data, MiB) if data is not None else None)
    return buffer.getvalue()


def zeros_member(name: str, size: int) -> tuple[tarfile.TarInfo, io.RawIOBase]:
    info = tarfile.TarInfo(name)
    info.size = size
    return info, Zeros(size)


def package_archive(tmp_path: Path, package_id: str = "bounded-1.0.0") -> tuple[bytes, int]:
    """A valid package as a gzipped tar, and how many entries it holds."""
    folder = tmp_path / package_id
    build_demo_package(folder, image_size_per_ecu=4096, package_id=package_id)
    buffer = io.BytesIO()
    files = sorted(folder.iterdir())
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in files:
            tar.add(path, arcname=f"{package_id}/{path.name}")
    return buffer.getvalue(), len(files)


class CountedBody:
    """A request body sent in chunks, counting what the server has taken of it."""

    def __init__(self, chunks: int, chunk: bytes) -> None:
        self.chunks, self.chunk, self.taken = chunks, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.taken += len(self.chunk)
            yield self.chunk


def problem_of(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return response.status_code, response.json()["type"]


ApiWith = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def api_with(settings: Settings, dev_env: WorkflowEnvironment) -> ApiWith:
    """`async with api_with(package_max_files=3) as api:` the API with those bounds."""

    @asynccontextmanager
    async def serve(**bounds: int) -> AsyncIterator[httpx.AsyncClient]:
        bounded = settings.model_copy(update=bounds)
        async with running_api(create_app(bounded, temporal=dev_env.client)) as client:
            yield client

    return serve


@pytest.fixture
async def admin(session_factory: async_sessionmaker[AsyncSession]) -> SignedIn:
    return await sign_in(session_factory, Role.ADMINISTRATOR)


def gzip_headers(admin: SignedIn) -> dict[str, str]:
    return {**admin.headers, "Content-Type": "application/gzip"}


def leftovers(settings: Settings) -> list[str]:
    """What an upload left beside the packages (nothing, once it is answered)."""
    root = settings.packages_dir
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


async def test_an_upload_past_its_bound_is_refused_before_it_is_read(
    api_with: ApiWith, admin: SignedIn, settings: Settings, tmp_path: Path
) -> None:
    archive, _ = package_archive(tmp_path)
    headers = gzip_headers(admin)
    async with api_with(package_max_upload_bytes=len(archive) - 1) as api:
        too_large = await api.post("/packages", content=archive, headers=headers)
        assert problem_of(too_large) == (413, "/problems/package-too-large")
        assert too_large.json()["max_bytes"] == len(archive) - 1

    async with api_with(package_max_upload_bytes=MiB) as api:
        # Its Content-Length says it is too large: not a byte of it is read.
        declared = CountedBody(64, bytes(64 * 1024))
        refused = await api.post(
            "/packages", content=declared, headers={**headers, "Content-Length": str(4 * MiB)}
        )
        assert problem_of(refused) == (413, "/problems/package-too-large")
        assert declared.taken == 0
        # Sent without a length: read up to the bound and the chunk that passes it, no more.
        chunked = CountedBody(64, bytes(64 * 1024))
        refused = await api.post("/packages", content=chunked, headers=headers)
        assert problem_of(refused) == (413, "/problems/package-too-large")
        assert chunked.taken == MiB + 64 * 1024
        assert leftovers(settings) == []

    async with api_with(package_max_upload_bytes=len(archive)) as api:
        exactly = await api.post("/packages", content=archive, headers=headers)
        assert exactly.status_code == 201, exactly.text
    assert leftovers(settings) == ["bounded-1.0.0"]


async def peak_memory_of(
    call: Callable[[], Awaitable[httpx.Response]],
) -> tuple[httpx.Response, int]:
    """The answer of `call`, and the most memory Python held above its start meanwhile (the
    request runs in this process, its unpacking in a worker thread)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        answer = await call()
        return answer, tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """1 GiB of zeros in one file: about 1 MiB gzipped."""
    return archive_of([zeros_member("bomb-1.0.0/segment.bin", 1024 * MiB)])


async def test_a_gzip_bomb_is_refused_with_memory_bounded(
    api_with: ApiWith, admin: SignedIn, settings: Settings, gzip_bomb: bytes
) -> None:
    headers = gzip_headers(admin)
    async with api_with() as api:  # the default bounds: 256 MiB unpacked
        assert len(gzip_bomb) < 2 * MiB
        refused, peak = await peak_memory_of(
            lambda: api.post("/packages", content=gzip_bomb, headers=headers)
        )
        assert problem_of(refused) == (413, "/problems/package-unpacks-too-large")
        assert refused.json()["max_unpacked_bytes"] == settings.package_max_unpacked_bytes
        assert peak < 16 * MiB, peak

    async with api_with(package_max_unpacked_bytes=8 * MiB) as api:
        # Files each within the bound, together past it: refused at the file that passes it.
        several = archive_of([zeros_member(f"bomb-1.0.0/{n}.bin", 3 * MiB) for n in range(3)])
        refused = await api.post("/packages", content=several, headers=headers)
        assert problem_of(refused) == (413, "/problems/package-unpacks-too-large")
        # The bytes an entry's extended header unpacks to count too: tarfile reads such a
        # header whole, so without the bound this one would take 64 MiB (and more to parse).
        info = tarfile.TarInfo("bomb-1.0.0/manifest.json")
        info.pax_headers = {"comment": "x" * (64 * MiB)}
        header_bomb = archive_of([(info, Zeros(0))])
        refused, peak = await peak_memory_of(
            lambda: api.post("/packages", content=header_bomb, headers=headers)
        )
        assert problem_of(refused) == (413, "/problems/package-unpacks-too-large")
        assert peak < 32 * MiB, peak
    assert leftovers(settings) == []


async def test_an_archive_with_too_many_entries_is_refused(
    api_with: ApiWith, admin: SignedIn, settings: Settings, tmp_path: Path
) -> None:
    archive, entries = package_archive(tmp_path)
    headers = gzip_headers(admin)
    async with api_with(package_max_files=entries - 1) as api:
        refused = await api.post("/packages", content=archive, headers=headers)
        assert problem_of(refused) == (413, "/problems/package-has-too-many-files")
        assert refused.json()["max_files"] == entries - 1
        # Folders count as entries too: a million empty ones cost as much to list.
        folders: list[tuple[tarfile.TarInfo, io.RawIOBase | None]] = []
        for n in range(entries + 1):
            folder = tarfile.TarInfo(f"d{n}")
            folder.type = tarfile.DIRTYPE
            folders.append((folder, None))
        refused = await api.post("/packages", content=archive_of(folders), headers=headers)
        assert problem_of(refused) == (413, "/problems/package-has-too-many-files")
    assert leftovers(settings) == []
    async with api_with(package_max_files=entries) as api:
        stored = await api.post("/packages", content=archive, headers=headers)
        assert stored.status_code == 201, stored.text


async def test_links_and_paths_out_of_the_package_are_refused(
    api_with: ApiWith, admin: SignedIn, settings: Settings
) -> None:
    link = tarfile.TarInfo("p/segment.bin")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("p/other.bin")
    hard.type, hard.linkname = tarfile.LNKTYPE, "p/segment.bin"
    async with api_with() as api:
        for member in (link, hard, zeros_member("/tmp/absolute.bin", 1)[0]):
            data = Zeros(member.size) if member.isfile() else None
            refused = await api.post(
                "/packages", content=archive_of([(member, data)]), headers=gzip_headers(admin)
            )
            assert problem_of(refused) == (422, "/problems/package-invalid"), member.name
    assert leftovers(settings) == []


async def test_the_openapi_declares_the_package_bounds(api_with: ApiWith) -> None:
    bounds = {
        "package_max_upload_bytes": 5 * MiB,
        "package_max_unpacked_bytes": 7 * MiB,
        "package_max_files": 11,
    }
    async with api_with(**bounds) as api:
        schema = (await api.get("/openapi.json")).json()
    upload = schema["paths"]["/packages"]["post"]
    body = upload["requestBody"]
    assert (body["x-max-bytes"], body["x-max-unpacked-bytes"], body["x-max-entries"]) == (
        5 * MiB,
        7 * MiB,
        11,
    )
    assert f"at most {5 * MiB} bytes" in body["description"]
    examples = {
        status: set(upload["responses"][status]["content"]["application/problem+json"]["examples"])
        for status in ("409", "413", "422")
    }
    assert examples["413"] == {
        "package-too-large",
        "package-unpacks-too-large",
        "package-has-too-many-files",
    }
    assert "package-exists" in examples["409"]
    assert "package-invalid" in examples["422"]
